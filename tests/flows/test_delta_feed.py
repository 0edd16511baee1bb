"""Releases as Delta Lake tables: one commit per table and release, history, time travel, repair, readers.

Real Delta tables on disk (delta-rs, as the pipeline writes them), read back by delta-rs, Polars and
DuckDB-free pyarrow; compared with the release's own Parquet files.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from deltalake import DeltaTable

import flows.delta_feed as delta_feed
from flows.cli import EXIT_OK, main
from flows.delta_feed import RELEASE_KEY, DeltaFeedError, read_as_of, release_versions, write_release
from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle
from flows.ledger import Ledger
from flows.publish import current_release, publish
from flows.settings import Places, load_methodology
from transforms.schemas import OUTPUT_TABLES

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> Places:
    """2023 and 2024 ingested; 2024 published twice (the second after one more bundle), 2023 once."""
    root = tmp_path_factory.mktemp("delta")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    for cycle, regions in (("2023", 2), ("2024", 3)):
        methodology = load_methodology(cycle)
        generate_cycle(cycle, places.landing, regions=regions, units=3, respondents=25, seed=9, bad_rate=0.2,
                       methodology=methodology)
        ledger = Ledger(places, cycle)
        bundles = discover(places.landing, cycle)
        first = bundles if cycle == "2023" else bundles[:-1]
        ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in first])
        publish(places, methodology, now=T0)
        write_release(places, cycle)
        if cycle == "2024":
            ledger.record([ingest_bundle(bundles[-1], methodology, places, ledger).entry])
            publish(places, methodology, now=T0 + timedelta(hours=1))
            write_release(places, cycle)
    return places


def uri(places: Places, table: str) -> str:
    return str(places.warehouse / "_delta" / table)


def published(places: Places, cycle: str, release_id: str, table: str) -> pl.DataFrame:
    manifest = current_release(places, cycle)
    assert manifest is not None
    path = places.warehouse / f"_store/{cycle}/{release_id}/{table}/part-{release_id}.parquet"
    return pl.read_parquet(path)


def test_each_release_is_one_commit_per_table_with_its_id(places: Places) -> None:
    for table in OUTPUT_TABLES:
        history = DeltaTable(uri(places, table)).history()
        ours = [c for c in history if RELEASE_KEY in c]
        assert len(ours) == 3, table  # 2023 once, 2024 twice
        assert all(c["operation"] == "WRITE" and c["operationParameters"]["mode"] == "Overwrite" for c in ours)
        assert {c["pekppp.cycle"] for c in ours} == {"2023", "2024"}
        assert all(len(c["pekppp.manifest_sha256"]) == 64 for c in ours)
    versions = release_versions(uri(places, "unit_scores"), "2024")
    assert len(versions) == 2 and len(set(versions.values())) == 2


def test_any_past_release_reads_back_as_it_was_published(places: Places) -> None:
    versions = release_versions(uri(places, "unit_scores"), "2024")
    old, new = sorted(versions, key=versions.get)  # type: ignore[arg-type]
    for release_id in (old, new):
        for table in ("unit_scores", "region_scores", "validation_issues", "national_scores"):
            delta = read_as_of(places, table, "2024", release_id)
            files = published(places, "2024", release_id, table)
            assert delta.height == files.height, (table, release_id)
            assert set(delta["release_id"].unique().to_list()) <= {release_id}
            assert delta["cycle"].dtype == pl.String and set(delta["cycle"].to_list()) <= {"2024"}
        units = read_as_of(places, "unit_scores", "2024", release_id).sort("unit_id")
        expected = published(places, "2024", release_id, "unit_scores").sort("unit_id")
        assert units["unit_id"].to_list() == expected["unit_id"].to_list()
        assert [None if v is None else float(v) for v in units["ipp"].to_list()] == expected["ipp"].to_list()
    # the newer release has one more submission than the older one
    assert read_as_of(places, "submissions", "2024", old).height + 1 == read_as_of(places, "submissions", "2024").height
    issues = read_as_of(places, "validation_issues", "2024")
    assert {"table_name", "row_number", "column_name"} <= set(issues.columns)
    ipp = next(f for f in DeltaTable(uri(places, "unit_scores")).schema().fields if f.name == "ipp")
    assert str(ipp.type) == 'PrimitiveType("decimal(3,2)")'


def test_the_newest_state_is_every_cycle_once_for_any_delta_reader(places: Places) -> None:
    current = pl.read_delta(uri(places, "unit_scores"))
    for cycle in ("2023", "2024"):
        manifest = current_release(places, cycle)
        assert manifest is not None
        rows = current.filter(pl.col("cycle") == cycle)
        assert rows.height == manifest["tables"]["unit_scores"]["rows"]
        assert rows["release_id"].unique().to_list() == [manifest["release_id"]]


def test_writing_again_commits_nothing_and_a_half_done_write_is_completed(
        places: Places, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {t: DeltaTable(uri(places, t)).version() for t in OUTPUT_TABLES}
    assert all(c.version is None for c in write_release(places, "2024"))
    assert {t: DeltaTable(uri(places, t)).version() for t in OUTPUT_TABLES} == before

    newest = publish(places, load_methodology("2024"), now=T0 + timedelta(hours=2))
    import deltalake  # write_release imports it when called: patch the package's function

    calls: list[str] = []
    original = deltalake.write_deltalake

    def failing(table_uri: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(table_uri)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(table_uri, *args, **kwargs)

    monkeypatch.setattr(deltalake, "write_deltalake", failing)
    with pytest.raises(DeltaFeedError) as failed:
        write_release(places, "2024")
    assert "\n" not in str(failed.value) and "No space left on device" in str(failed.value)
    monkeypatch.setattr(deltalake, "write_deltalake", original)
    done = write_release(places, "2024")
    committed = [c.table for c in done if c.version is not None]
    assert committed == list(OUTPUT_TABLES)[2:]  # the first two already held it: not written twice
    for table in OUTPUT_TABLES:
        assert delta_feed.latest_release(uri(places, table), "2024") == newest.release_id


def test_export_reads_a_cycle_as_of_a_release(places: Places, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    versions = release_versions(uri(places, "region_scores"), "2024")
    old = min(versions, key=versions.get)  # type: ignore[arg-type]
    out = tmp_path / "old.parquet"
    assert main(["export", "--table", "region_scores", "--cycle", "2024", "--release", old, "--out", str(out),
                 "--warehouse", str(places.warehouse)]) == EXIT_OK
    assert f"as of release {old}" in capsys.readouterr().out
    assert pl.read_parquet(out)["release_id"].unique().to_list() == [old]
    assert main(["export", "--table", "region_scores", "--cycle", "2024", "--release", "nope", "--out", str(out),
                 "--warehouse", str(places.warehouse)]) != EXIT_OK
    assert "release nope of cycle 2024 is not in" in capsys.readouterr().err
