"""Loading releases into a real PostgreSQL server (started here: initdb/pg_ctl on a socket in a temp folder).

Checks what a warehouse engineer relies on: warehouse types (numeric(3,2) IPP, jsonb, text codes), plain
column names, every row of the release, one transaction (a load that fails half-way leaves the previous
release whole), idempotence (loading the same release again rewrites no row), a record of the release
loaded, the command line, and the load as a step of the nightly flow when a DSN is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from flows.cli import EXIT_ERROR, EXIT_OK, main
from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle
from flows.ledger import Ledger
from flows.publish import current_release, publish
from flows.settings import Places, load_methodology
from flows.warehouse_load import SCHEMA, LoadError, load_release
from tests.flows.postgres_server import postgres_bin, postgres_server
from transforms.schemas import OUTPUT_TABLES

pytestmark = [pytest.mark.server,
              pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL not installed (.ci/run installs it)")]
T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def connect(dsn: str):  # type: ignore[no-untyped-def]
    import psycopg

    return psycopg.connect(dsn, autocommit=True)


@pytest.fixture()
def places(tmp_path: Path) -> Places:
    """Cycles 2023 and 2024 ingested and published once (each with an Ombudsman feed); the schema emptied."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    for cycle, regions in (("2023", 2), ("2024", 3)):
        methodology = load_methodology(cycle)
        generate_cycle(cycle, places.landing, regions=regions, units=3, respondents=25, seed=7, bad_rate=0.2,
                       methodology=methodology, ombudsman=True)
        ledger = Ledger(places, cycle)
        ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in discover(places.landing, cycle)])
        publish(places, methodology, now=T0)
    return places


@pytest.fixture(autouse=True)
def empty_schema(dsn: str) -> None:
    with connect(dsn) as connection:
        connection.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")


def rows(dsn: str, sql: str, *params: object) -> list[tuple]:
    with connect(dsn) as connection:
        return connection.execute(sql, params).fetchall()


def column_types(dsn: str, table: str) -> dict[str, str]:
    found = rows(dsn, "SELECT column_name, data_type, numeric_precision, numeric_scale FROM information_schema.columns "
                      "WHERE table_schema = %s AND table_name = %s", SCHEMA, table)
    return {name: f"{kind}({precision},{scale})" if kind == "numeric" else kind
            for name, kind, precision, scale in found}


def test_a_release_loads_whole_with_warehouse_types(places: Places, dsn: str) -> None:
    result = load_release(places, "2024", dsn)
    manifest = current_release(places, "2024")
    assert manifest and result.loaded and result.release_id == manifest["release_id"]
    for table in OUTPUT_TABLES:
        (count,) = rows(dsn, f'SELECT count(*) FROM {SCHEMA}."{table}" WHERE cycle = %s', "2024")[0]
        assert count == manifest["tables"][table]["rows"], table
        assert count > 0 or table == "award_roster", table  # a small cycle may have no award winner
        (releases,) = rows(dsn, f'SELECT array_agg(DISTINCT release_id) FROM {SCHEMA}."{table}"')[0]
        assert releases in ([manifest["release_id"]], None), table

    units = column_types(dsn, "unit_scores")
    assert units["ipp"] == "numeric(3,2)" and units["ikm"] == "numeric(5,2)"
    assert units["region_code"] == units["unit_id"] == units["cycle"] == "text"
    compliance = column_types(dsn, "compliance_scores")  # the Ombudsman's 0-100 scale (issue 20)
    assert compliance["score"] == compliance["input"] == "numeric(5,2)"
    assert column_types(dsn, "national_scores")["predicate_counts"] == "jsonb"
    assert column_types(dsn, "unit_robustness")["award_probabilities"] == "jsonb"
    issues = column_types(dsn, "validation_issues")
    assert {"table_name", "row_number", "column_name"} <= set(issues) and not {"table", "row", "column"} & set(issues)
    # The first query a warehouse engineer types, with no quoting:
    assert rows(dsn, f"SELECT table_name, row_number, column_name, rule FROM {SCHEMA}.validation_issues LIMIT 1")

    published = pl.read_parquet(places.warehouse / manifest["tables"]["unit_scores"]["file"])
    expected = {r["unit_id"]: r["ipp"] for r in published.iter_rows(named=True)}
    loaded = dict(rows(dsn, f"SELECT unit_id, ipp FROM {SCHEMA}.unit_scores WHERE cycle = '2024'"))
    assert loaded.keys() == expected.keys()
    assert all(loaded[u] == (None if v is None else Decimal(f"{v:.2f}")) for u, v in expected.items())
    (counts,) = rows(dsn, f"SELECT predicate_counts FROM {SCHEMA}.national_scores WHERE cycle = '2024'")[0]
    predicated = published.filter(pl.col("predicate").is_not_null()).height
    assert isinstance(counts, dict) and sum(counts.values()) == predicated
    assert rows(dsn, f"SELECT cycle, release_id FROM {SCHEMA}.loads") == [("2024", manifest["release_id"])]


def test_loading_the_same_release_again_changes_nothing(places: Places, dsn: str) -> None:
    load_release(places, "2024", dsn)
    before = rows(dsn, f"SELECT xmin::text, unit_id FROM {SCHEMA}.unit_scores ORDER BY unit_id")
    again = load_release(places, "2024", dsn)
    assert not again.loaded
    assert rows(dsn, f"SELECT xmin::text, unit_id FROM {SCHEMA}.unit_scores ORDER BY unit_id") == before
    assert rows(dsn, f"SELECT count(*) FROM {SCHEMA}.load_history") == [(1,)]


def test_a_new_release_replaces_only_its_cycle(places: Places, dsn: str) -> None:
    load_release(places, "2023", dsn)
    load_release(places, "2024", dsn)
    other = rows(dsn, f"SELECT xmin::text, unit_id FROM {SCHEMA}.unit_scores WHERE cycle = '2023' ORDER BY unit_id")
    newer = publish(places, load_methodology("2024"), now=T0 + timedelta(hours=1))
    result = load_release(places, "2024", dsn)
    assert result.loaded and result.release_id == newer.release_id
    assert rows(dsn, f"SELECT DISTINCT release_id FROM {SCHEMA}.unit_scores WHERE cycle = '2024'") == \
        [(newer.release_id,)]
    assert rows(dsn, f"SELECT xmin::text, unit_id FROM {SCHEMA}.unit_scores WHERE cycle = '2023' ORDER BY unit_id") \
        == other
    assert dict(rows(dsn, f"SELECT cycle, release_id FROM {SCHEMA}.loads"))["2024"] == newer.release_id
    assert rows(dsn, f"SELECT count(*) FROM {SCHEMA}.load_history WHERE cycle = '2024'") == [(2,)]


def test_a_load_that_fails_half_way_leaves_the_previous_release_whole(places: Places, dsn: str) -> None:
    first = load_release(places, "2024", dsn)
    before = {t: rows(dsn, f'SELECT count(*), min(release_id) FROM {SCHEMA}."{t}"') for t in OUTPUT_TABLES}
    publish(places, load_methodology("2024"), now=T0 + timedelta(hours=1))
    # The last table copied refuses the new rows: every table copied before it must roll back too.
    last = list(OUTPUT_TABLES)[-1]
    with connect(dsn) as connection:
        connection.execute(f'ALTER TABLE {SCHEMA}."{last}" ADD CONSTRAINT only_first '
                           f"CHECK (release_id = '{first.release_id}')")
    with pytest.raises(LoadError) as failed:
        load_release(places, "2024", dsn)
    assert "\n" not in str(failed.value) and "nothing changed there" in str(failed.value)
    assert {t: rows(dsn, f'SELECT count(*), min(release_id) FROM {SCHEMA}."{t}"') for t in OUTPUT_TABLES} == before
    assert rows(dsn, f"SELECT release_id FROM {SCHEMA}.loads") == [(first.release_id,)]


def test_the_command_loads_and_says_so_in_one_line(places: Places, dsn: str,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["load-warehouse", "--cycle", "2024", "--dsn", dsn, "--warehouse", str(places.warehouse)]
    assert main(argv) == EXIT_OK
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "loaded into" in out[0] and f"schema {SCHEMA}" in out[0]
    assert main(argv) == EXIT_OK
    assert "already loaded" in capsys.readouterr().out
    assert main(["load-warehouse", "--cycle", "2024", "--dsn", "postgresql://nobody@/x?host=/nonexistent",
                 "--warehouse", str(places.warehouse)]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "into PostgreSQL failed" in err[0]


@pytest.mark.slow
def test_the_nightly_flow_loads_each_release_it_publishes(prefect_local: None, tmp_path: Path, dsn: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.nightly import nightly

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_cycle("2024", landing, regions=2, units=2, respondents=20, seed=3, methodology=load_methodology("2024"))
    monkeypatch.setenv("PEKPPP_WAREHOUSE_DSN", dsn)
    summaries = nightly(cycle="2024", landing=str(landing), warehouse=str(warehouse))
    release = summaries[0]["release_id"]
    assert release and rows(dsn, f"SELECT cycle, release_id FROM {SCHEMA}.loads") == [("2024", release)]
    assert f"release {release} loaded into" in summaries[0]["warehouse_load"]
