"""Unit tests of flows/ledger.py: ledger rows, kept rows and issues per submission, kept per-unit sums."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from flows.ledger import Entry, Ledger
from flows.settings import Places
from transforms.schemas import ISSUE_SCHEMA

ELEMENTS = ["persyaratan", "biaya"]
SCHEMAS = {
    "evaluations": pl.Schema({"submission_id": pl.String, "region_code": pl.String, "unit_id": pl.String,
                              "indicator_code": pl.String, "score": pl.Int64, "evaluator_id": pl.String}),
    "skm_responses": pl.Schema({"submission_id": pl.String, "region_code": pl.String, "unit_id": pl.String,
                                "persyaratan": pl.Int8, "biaya": pl.Int8}),
}
"""The kept tables as ingest stamps them (`ingest.with_owner` adds submission_id)."""


def ledger(tmp_path: Path) -> Ledger:
    return Ledger(Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse"), "2024")


def entry(sid: str, hour: int, status: str = "accepted", region: str = "35.78") -> Entry:
    return Entry(cycle="2024", region_code=region, submission_id=sid, bundle=f"{sid}.zip",
                 landing_path=f"/landing/2024/{region}/{sid}.zip", size=100 + hour, mtime_ns=hour,
                 received_at=datetime(2024, 5, 1, hour, tzinfo=UTC), status=status, reason=None, n_issues=0,
                 raw_path=f"/raw/{sid}")


def test_an_empty_ledger_has_the_schema(tmp_path: Path) -> None:
    assert ledger(tmp_path).load().height == 0
    assert "superseded_by" in ledger(tmp_path).load().columns


def test_record_adds_replaces_and_resolves_superseded(tmp_path: Path) -> None:
    """s1 then s2 of one region: s1 is superseded by s2. Recording s2 again as rejected replaces its row
    (not a second one) and s1 counts again."""
    book = ledger(tmp_path)
    book.record([entry("s1", 8)])
    rows = book.record([entry("s2", 9)])
    assert dict(zip(rows["submission_id"], rows["status"], strict=True)) == {"s1": "superseded", "s2": "accepted"}
    rows = book.record([entry("s2", 9, status="rejected")])
    assert rows.height == 2
    assert dict(zip(rows["submission_id"], rows["status"], strict=True)) == {"s1": "accepted", "s2": "rejected"}
    assert book.known_by_stat()[("/landing/2024/35.78/s1.zip", 108, 8)] == "s1"


def test_kept_rows_and_issues_per_submission_and_region(tmp_path: Path) -> None:
    """Rows are read back over submissions (missing tables give nothing); issues are per region: the same
    submission id for two regions keeps two lists, read back in the order asked for."""
    book = ledger(tmp_path)
    units = pl.DataFrame({"unit_id": ["U1"], "region_code": ["35.78"]})
    issue = pl.DataFrame([{"table": "units", "row": 2, "column": "unit_id", "value": None, "rule": "not_null",
                           "severity": "row", "message": "m"}], schema=ISSUE_SCHEMA)
    book.keep_rows("s1", {"units": units}, issue, region_code="35.78")
    book.keep_rows("s1", {}, issue.with_columns(rule=pl.lit("other")), region_code="35.01")
    schema = pl.Schema({"unit_id": pl.String, "region_code": pl.String})
    assert book.accepted_table(["s1", "s9"], "units", schema).collect().rows() == [("U1", "35.78")]
    assert book.accepted_table(["s9"], "units", schema).collect().height == 0
    found = book.issues([("s1", "35.01"), ("s1", "35.78"), ("s9", "35.78")])
    assert found.select("rule", "submission_id", "region_code").rows() == [("other", "s1", "35.01"),
                                                                          ("not_null", "s1", "35.78")]


def keep_unit(book: Ledger, sid: str, unit: str, score: int) -> None:
    evaluations = pl.DataFrame({"submission_id": sid, "region_code": "35.78", "unit_id": unit,
                                "indicator_code": "1.a.Ak", "score": [score, score + 1], "evaluator_id": ["E1", "E2"]},
                               schema=SCHEMAS["evaluations"])
    survey = pl.DataFrame({"submission_id": [sid], "region_code": ["35.78"], "unit_id": [unit], "persyaratan": [4],
                           "biaya": [None]}, schema=SCHEMAS["skm_responses"])
    book.keep_rows(sid, {"evaluations": evaluations, "skm_responses": survey}, pl.DataFrame(schema=ISSUE_SCHEMA),
                   region_code="35.78")


def test_unit_totals_are_kept_and_recomputed_only_for_changed_rows(tmp_path: Path) -> None:
    """Sums by hand: U1 3 + 4 = 7 over 2 scores, 2 evaluators; one respondent, biaya unanswered. Kept in one
    file; asked again nothing is rewritten; s1's rows kept again (a rerun) are summed again."""
    book = ledger(tmp_path)
    keep_unit(book, "s1", "U1", 3)
    keep_unit(book, "s2", "U2", 1)
    totals = book.unit_totals(["s1", "s2"], SCHEMAS, ELEMENTS)
    indicators = totals.indicators.collect().sort("unit_id")
    assert indicators.select("unit_id", "score_sum", "n_scores").rows() == [("U1", 7, 2), ("U2", 3, 2)]
    assert totals.evaluators.collect().sort("unit_id")["n_evaluators"].to_list() == [2, 2]
    element = totals.elements.collect().sort("unit_id").row(0, named=True)
    assert (element["n_respondents"], element["persyaratan__sum"], element["biaya__n"]) == (1, 4, 0)
    path = book.totals_path(ELEMENTS)
    written = path.stat().st_mtime_ns, path.stat().st_ino
    book.unit_totals(["s1", "s2"], SCHEMAS, ELEMENTS)
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == written
    keep_unit(book, "s1", "U1", 4)  # new rows for s1: 4 + 5
    again = book.unit_totals(["s1", "s2"], SCHEMAS, ELEMENTS).indicators.collect().sort("unit_id")
    assert again["score_sum"].to_list() == [9, 3]


def test_unit_totals_of_no_submission_are_empty(tmp_path: Path) -> None:
    totals = ledger(tmp_path).unit_totals([], SCHEMAS, ELEMENTS, keep=False)
    assert totals.indicators.collect().height == 0 and totals.elements.collect().height == 0


def test_totals_file_depends_on_the_element_list(tmp_path: Path) -> None:
    book = ledger(tmp_path)
    assert book.totals_path(["a", "b"]) != book.totals_path(["b", "a"])
    assert book.totals_path(["a"]).parent == tmp_path / "warehouse" / "_ledger" / "2024"
