"""Unit tests of transforms/submissions.py: a region's newest accepted bundle counts, older ones are superseded."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from transforms import submissions


def ledger(rows: list[tuple[str, str, str, int, str]]) -> pl.DataFrame:
    """(region_code, submission_id, bundle, received at hour, status) rows of cycle 2024."""
    return pl.DataFrame({
        "cycle": ["2024"] * len(rows), "region_code": [r[0] for r in rows], "submission_id": [r[1] for r in rows],
        "bundle": [r[2] for r in rows],
        "received_at": [datetime(2024, 5, 1, r[3], tzinfo=UTC) for r in rows], "status": [r[4] for r in rows],
    })


def outcome(frame: pl.DataFrame) -> dict[str, tuple[str, str | None]]:
    resolved = submissions.resolve_superseded(frame)
    return {r["submission_id"]: (r["status"], r["superseded_by"]) for r in resolved.iter_rows(named=True)}


def test_newest_accepted_bundle_of_a_region_wins() -> None:
    """35.78 sent s1 (08h), s2 (10h), s3 (09h): s2 counts, s1 and s3 are superseded by it; a rejected bundle
    (s4, newest of all) stays rejected and supersedes nothing; region 35.01 is decided on its own."""
    frame = ledger([("35.78", "s1", "a.zip", 8, "accepted"), ("35.78", "s2", "b.zip", 10, "accepted"),
                    ("35.78", "s3", "c.zip", 9, "accepted"), ("35.78", "s4", "d.zip", 11, "rejected"),
                    ("35.01", "s5", "a.zip", 7, "accepted")])
    assert outcome(frame) == {"s1": ("superseded", "s2"), "s2": ("accepted", None), "s3": ("superseded", "s2"),
                              "s4": ("rejected", None), "s5": ("accepted", None)}


def test_a_superseded_bundle_comes_back_when_the_newer_one_goes() -> None:
    """The rule is re-decided each time: s1 marked superseded is the newest usable one once s2 is rejected."""
    frame = ledger([("35.78", "s1", "a.zip", 8, "superseded"), ("35.78", "s2", "b.zip", 10, "rejected")])
    assert outcome(frame) == {"s1": ("accepted", None), "s2": ("rejected", None)}


def test_same_second_uploads_are_ordered_by_bundle_name_then_id() -> None:
    """Both at 10h: bundle b.zip sorts after a.zip, so it is the newest whatever the submission ids say;
    late bundles are never candidates."""
    frame = ledger([("35.78", "s9", "a.zip", 10, "accepted"), ("35.78", "s1", "b.zip", 10, "accepted"),
                    ("35.78", "s5", "z.zip", 12, "late")])
    assert outcome(frame) == {"s9": ("superseded", "s1"), "s1": ("accepted", None), "s5": ("late", None)}


def test_output_is_sorted_by_region_then_upload() -> None:
    """Rows come out in (cycle, region, received_at, bundle, id) order, whatever order they came in."""
    frame = ledger([("35.78", "s2", "b.zip", 10, "accepted"), ("35.01", "s3", "c.zip", 9, "accepted"),
                    ("35.78", "s1", "a.zip", 8, "accepted")])
    assert submissions.resolve_superseded(frame)["submission_id"].to_list() == ["s3", "s1", "s2"]
