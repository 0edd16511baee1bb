"""Releases: the publish of a cycle, its manifest and diff, the declared schemas at write time, bad cases,
and the DuckDB client; read back with pyarrow datasets, DuckDB and Polars as a warehouse would.

No Prefect: small cycles are generated and ingested once per session with the ingest functions
(`discover`, `ingest_bundle`, `Ledger.record`); each test publishes into its own copy of those ledgers.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

import flows.publish as publish_module
import flows.storage as storage
from flows import warehouse_db
from flows.cli import main
from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle
from flows.ledger import Ledger
from flows.publish import (
    POINTER,
    RELEASES_KEPT,
    RETIRED,
    current_release,
    current_release_id,
    cycle_inputs,
    input_schemas,
    part_name,
    previous_cycle_of,
    publish,
    release_dirs,
    release_manifest,
    store_root,
    table_content_hash,
    table_link,
)
from flows.settings import Places, load_methodology, methodology_dir
from flows.storage import SchemaViolation, WarehouseError, arrow_table, write_frame, write_parquet
from flows.warehouse_db import load_duckdb
from transforms.cycle import score_cycle
from transforms.methodology import MethodologyError
from transforms.release_diff import RELEASE_DIFF, change_counts, unit_changes
from transforms.schemas import OUTPUT_TABLES, UNIT_SCORES, Column, TableSpec
from transforms.submissions import ACCEPTED
from transforms.unit_scores import indicator_totals

PUBLISHED_WITHOUT_F03 = {name: dataclasses.replace(spec, columns=tuple(c for c in spec.columns if not c.only_with))
                         for name, spec in OUTPUT_TABLES.items()}
"""The tables as the shipped cycles (no F-03 blend) publish them: the `only_with="f03"` columns left out."""

CYCLES = ("2023", "2024")
T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
T0_ID = "2024-20250106T010000000000Z"

# ---------------------------------------------------------------- shared ledgers (built once per session)

_TEMPLATE: dict[str, Path] = {}


def ledger_template(factory: pytest.TempPathFactory) -> Path:
    """Generated and ingested cycles 2023 and 2024 (ledgers only, nothing published), built once.

    Beside the warehouse: `ledger-2024-A.parquet` (every bundle) and `ledger-2024-B.parquet` (one
    accepted region fewer), the two states the publish tests switch between.
    """
    if "root" in _TEMPLATE:
        return _TEMPLATE["root"]
    root = factory.mktemp("ledgers")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    for cycle, regions, bad_rate in (("2023", 3, 0.0), ("2024", 4, 0.25)):
        methodology = load_methodology(cycle)
        generate_cycle(cycle, places.landing, regions=regions, units=4, respondents=25, seed=11, bad_rate=bad_rate,
                       methodology=methodology)
        ledger = Ledger(places, cycle)
        ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in discover(places.landing, cycle)])
    ledger = Ledger(places, "2024")
    entries = ledger.load()
    accepted = entries.filter(pl.col("status") == ACCEPTED)
    assert accepted.height >= 3
    shutil.copyfile(ledger.path, root / "ledger-2024-A.parquet")
    entries.filter(pl.col("submission_id") != accepted["submission_id"][0]).write_parquet(
        root / "ledger-2024-B.parquet")
    _TEMPLATE["root"] = root
    return root


def fresh_places(template: Path, target: Path) -> Places:
    """A warehouse holding a copy of the template's ledgers and nothing published."""
    places = Places(landing=template / "landing", warehouse=target / "warehouse")
    shutil.copytree(template / "warehouse" / "_ledger", places.ledger)
    return places


def use_ledger(places: Places, template: Path, variant: str) -> None:
    shutil.copyfile(template / f"ledger-2024-{variant}.parquet", places.ledger / "2024.parquet")


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ledger_template(tmp_path_factory)


@pytest.fixture()
def places(template: Path, tmp_path: Path) -> Places:
    return fresh_places(template, tmp_path)


@pytest.fixture()
def published(places: Places) -> Places:
    """Both cycles published once (2024 at T0)."""
    publish(places, load_methodology("2023"), now=T0 - timedelta(days=1))
    publish(places, load_methodology("2024"), now=T0)
    return places


# ---------------------------------------------------------------- readers

def published_file(places: Places, table: str, cycle: str = "2024") -> Path:
    (path,) = table_link(places, table, cycle).glob("*.parquet")
    return path


def partition_schema() -> ds.Partitioning:
    return ds.partitioning(pa.schema([("cycle", pa.string())]), flavor="hive")


def read_with(reader: str, warehouse: Path, table: str, cycle: str) -> pl.DataFrame:
    """One cycle of a table as a warehouse reader sees it, with `cycle` as text."""
    if reader == "pyarrow":
        dataset = ds.dataset(warehouse / table, format="parquet", partitioning=partition_schema())
        return pl.from_arrow(dataset.to_table(filter=ds.field("cycle") == cycle))  # type: ignore[return-value]
    if reader == "duckdb":
        return duckdb.sql(f"select * from read_parquet('{warehouse}/{table}/*/*.parquet', hive_partitioning=true, "
                          f"hive_types={{'cycle': 'VARCHAR'}}) where cycle = '{cycle}'").pl()
    return (pl.scan_parquet(f"{warehouse}/{table}/*/*.parquet", hive_partitioning=True,
                            hive_schema={"cycle": pl.String})
            .filter(pl.col("cycle") == cycle).collect())


READERS = ("pyarrow", "duckdb", "polars")


def assert_readers_see(places: Places, cycle: str, release_id: str) -> None:
    """Every reader sees every table of the cycle wholly as `release_id`, as its manifest describes."""
    manifest = release_manifest(places, cycle, release_id)
    assert manifest is not None, release_id
    for table, spec in OUTPUT_TABLES.items():
        expected = manifest["tables"][table]
        for reader in READERS:
            frame = read_with(reader, places.warehouse, table, cycle)
            assert frame.height == expected["rows"], (table, reader)
            assert set(frame["release_id"].to_list()) <= {release_id}, (table, reader)
            assert table_content_hash(frame, spec) == expected["content_sha256"], (table, reader)


# ---------------------------------------------------------------- layout, manifest, readers

def test_first_publish_layout_and_manifest(places: Places) -> None:
    methodology = load_methodology("2024")
    release = publish(places, methodology, now=T0)
    manifest = json.loads(release.manifest.read_text())
    assert release.manifest == places.releases / "2024" / f"{release.release_id}.json"
    assert manifest["release_id"] == release.release_id == T0_ID
    assert manifest["cycle"] == "2024"
    assert datetime.fromisoformat(manifest["created_at"]) == T0
    assert manifest["methodology"] == {"file": "2024.toml", "sha256": methodology.sha256}
    assert re.fullmatch(r"git:[0-9a-f]{12}(\+dirty)?|pekppp==.+", manifest["code_version"])
    entries = Ledger(places, "2024").load()
    assert {s["submission_id"] for s in manifest["submissions_used"]} == \
        set(entries.filter(pl.col("status") == ACCEPTED)["submission_id"])
    for table, spec in OUTPUT_TABLES.items():
        recorded = manifest["tables"][table]
        assert recorded["rows"] == release.row_counts[table] == release.tables[table].height
        assert recorded["content_sha256"] == release.content_hashes[table]
        assert recorded["schema_version"] == spec.version
        assert recorded["path"] == f"{table}/cycle=2024"
        link = table_link(places, table, "2024")
        assert link.is_dir() and not link.is_symlink()  # a real folder: `**` globs and copies work
        assert [p.name for p in link.iterdir()] == [part_name(release.release_id)]
        assert recorded["file"] == f"_store/2024/{release.release_id}/{table}/{part_name(release.release_id)}"
        assert (places.warehouse / recorded["file"]).samefile(link / part_name(release.release_id))
    assert manifest["diff_against"] is None and manifest["changes"] is None and release.diff is None
    assert os.readlink(store_root(places, "2024") / POINTER) == release.release_id
    assert json.loads((places.releases / "2024" / "current.json").read_text()) == \
        {"release_id": release.release_id, "manifest": release.manifest.name}
    assert current_release(places, "2024") == manifest
    assert_readers_see(places, "2024", release.release_id)


def test_published_files_are_readable_by_other_accounts(published: Places) -> None:
    part = published_file(published, "unit_scores")
    assert part.stat().st_mode & 0o777 == storage.FILE_MODE == 0o666 & ~storage._UMASK
    assert (published.releases / "2024" / "current.json").stat().st_mode & 0o777 == storage.FILE_MODE


def test_two_cycles_side_by_side_for_every_reader(published: Places) -> None:
    for cycle in CYCLES:
        assert_readers_see(published, cycle, current_release_id(published, cycle))  # type: ignore[arg-type]
    for table, spec in PUBLISHED_WITHOUT_F03.items():
        dataset = ds.dataset(published.warehouse / table, format="parquet", partitioning=partition_schema())
        expected = arrow_table(pl.DataFrame(schema=spec.polars_schema), spec, drop=("cycle",)).schema
        assert dataset.schema.remove_metadata().equals(
            expected.append(pa.field("cycle", pa.string())).remove_metadata()), table


# ---------------------------------------------------------------- re-runs and diffs

def test_rerun_with_unchanged_inputs_gives_identical_hashes_and_an_empty_diff(published: Places) -> None:
    first = current_release(published, "2024")
    release = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    assert release.diff_against == first["release_id"]  # type: ignore[index]
    assert release.changes == dict.fromkeys(
        ("added", "removed", "changed", "ipp", "predicate", "rank_in_type", "eligibility", "award", "robustness",
         "regions_changed", "region_rank", "compliance_changed"), 0)
    assert release.diff is not None and release.diff.is_empty()
    assert release.content_hashes == {t: v["content_sha256"] for t, v in first["tables"].items()}  # type: ignore[index]
    stored = pl.read_parquet(release.diff_path)  # type: ignore[arg-type]
    assert stored.columns == RELEASE_DIFF.names and stored.height == 0
    manifest = json.loads(release.manifest.read_text())
    assert manifest["diff"] == f"{release.release_id}.diff.parquet" and manifest["changes"] == release.changes
    assert_readers_see(published, "2024", release.release_id)


def test_diff_lists_units_removed_and_added_between_releases(published: Places, template: Path) -> None:
    methodology = load_methodology("2024")
    first = current_release(published, "2024")
    full = pl.read_parquet(published_file(published, "unit_scores"))
    use_ledger(published, template, "B")
    dropped = publish(published, methodology, now=T0 + timedelta(hours=1))
    kept = dropped.tables["unit_scores"]
    gone = full.join(kept, on=["region_code", "unit_id"], how="anti")
    assert gone.height > 0
    assert dropped.changes["removed"] == gone.height and dropped.changes["added"] == 0  # type: ignore[index]
    removed = dropped.diff.filter((pl.col("change") == "removed") & (pl.col("subject") == "unit"))  # type: ignore[union-attr]
    assert sorted(removed["unit_id"]) == sorted(gone["unit_id"])
    assert removed["ipp_after"].null_count() == removed.height
    use_ledger(published, template, "A")
    back = publish(published, methodology, now=T0 + timedelta(hours=2))
    assert back.changes["added"] == gone.height and back.changes["removed"] == 0  # type: ignore[index]
    assert back.content_hashes == {t: v["content_sha256"] for t, v in first["tables"].items()}  # type: ignore[index]
    assert json.loads(back.manifest.read_text())["changes"] == back.changes


def test_diff_after_a_methodology_correction_shows_changed_scores(published: Places, tmp_path: Path) -> None:
    corrected = tmp_path / "methodology"
    corrected.mkdir()
    text = (methodology_dir() / "2024.toml").read_text()
    text = re.sub(r"(?m)^weight = 24$", "weight = 34", text, count=1)
    text = re.sub(r"(?m)^weight = 25$", "weight = 15", text, count=1)
    (corrected / "2024.toml").write_text(text)
    before = pl.read_parquet(published_file(published, "unit_scores"))
    release = publish(published, load_methodology("2024", corrected), now=T0 + timedelta(hours=1))
    after = release.tables["unit_scores"]
    moved = before.join(after, on=["region_code", "unit_id"], suffix="_new").filter(
        pl.col("ipp").ne_missing(pl.col("ipp_new")))
    assert moved.height > 0
    assert release.changes["ipp"] == moved.height and release.changes["added"] == release.changes["removed"] == 0  # type: ignore[index]
    diff = release.diff
    assert diff is not None and set(diff["change"]) == {"changed"}
    units_moved = diff.filter(pl.col("ipp_changed") & (pl.col("subject") == "unit"))
    assert units_moved.select("unit_id", "ipp_before", "ipp_after").sort("unit_id").equals(
        moved.select("unit_id", pl.col("ipp").alias("ipp_before"), pl.col("ipp_new").alias("ipp_after"))
        .sort("unit_id"))
    manifest = json.loads(release.manifest.read_text())
    assert manifest["methodology"]["sha256"] == load_methodology("2024", corrected).sha256


def _units(rows: list[tuple[str, float | None, str | None, int | None]]) -> pl.LazyFrame:
    return pl.LazyFrame({"region_code": ["35"] * len(rows), "unit_id": [r[0] for r in rows],
                         "unit_name": [f"Unit {r[0]}" for r in rows], "unit_type": ["RSUD"] * len(rows),
                         "ipp": [r[1] for r in rows], "predicate": [r[2] for r in rows],
                         "rank_in_type": pl.Series([r[3] for r in rows], dtype=pl.UInt32)})


def _roster(rows: list[tuple[str, str]]) -> pl.LazyFrame:
    return pl.LazyFrame({"award": [r[1] for r in rows], "subject": ["unit"] * len(rows),
                         "region_code": ["35"] * len(rows), "unit_id": [r[0] for r in rows]},
                        schema={"award": pl.String, "subject": pl.String, "region_code": pl.String,
                                "unit_id": pl.String})


def test_release_diff_compares_each_field_null_safely() -> None:
    before = _units([("a", 4.10, "A-", 1), ("b", 3.50, "B", 2), ("c", None, None, None), ("d", 2.0, "C", 3),
                     ("e", 3.0, "B-", 4)])
    after = _units([("a", 4.10, "A-", 1), ("b", 3.60, "B", 2), ("c", None, None, None), ("e", 3.0, "B-", 3),
                    ("f", 1.0, "E", 5)])
    diff = unit_changes(before, _roster([("a", "TOP"), ("b", "TOP")]), after, _roster([("a", "TOP"), ("a", "BEST")]),
                        release_id="R2", previous_release_id="R1").collect()
    by_unit = {r["unit_id"]: r for r in diff.iter_rows(named=True)}
    assert sorted(by_unit) == ["a", "b", "d", "e", "f"]  # c: unchanged nulls are not a change
    assert by_unit["a"]["award_changed"] and by_unit["a"]["awards_after"] == "BEST,TOP"
    assert not by_unit["a"]["ipp_changed"]
    assert by_unit["b"]["ipp_changed"] and not by_unit["b"]["predicate_changed"] and by_unit["b"]["award_changed"]
    assert by_unit["d"]["change"] == "removed" and by_unit["f"]["change"] == "added"
    assert by_unit["e"]["rank_changed"] and not by_unit["e"]["ipp_changed"]
    assert change_counts(diff) == {"added": 1, "removed": 1, "changed": 3, "ipp": 1, "predicate": 0,
                                   "rank_in_type": 1, "eligibility": 0, "award": 2, "robustness": 0,
                                   "regions_changed": 0, "region_rank": 0, "compliance_changed": 0}
    assert diff.columns == RELEASE_DIFF.names and set(diff["previous_release_id"]) == {"R1"}
    arrow_table(diff, RELEASE_DIFF)  # fits its declared schema


# ---------------------------------------------------------------- keeping releases, recovery, migration

def test_only_the_newest_stores_are_kept_and_every_manifest_stays(published: Places) -> None:
    methodology = load_methodology("2024")
    ids = [publish(published, methodology, now=T0 + timedelta(hours=h)).release_id for h in range(1, 6)]
    assert [p.name for p in release_dirs(published, "2024")] == ids[-RELEASES_KEPT:]
    manifests = sorted(p.stem for p in (published.releases / "2024").glob("2024-*.json"))
    assert manifests == [T0_ID, *ids]
    assert len(list((published.releases / "2024").glob("*.diff.parquet"))) == 5
    # A release dated earlier than the kept ones (clock set back) still becomes and stays current.
    late = publish(published, methodology, now=T0 - timedelta(days=30))
    assert current_release_id(published, "2024") == late.release_id
    assert late.release_id in [p.name for p in release_dirs(published, "2024")]
    assert_readers_see(published, "2024", late.release_id)


def test_a_switched_out_folder_stays_listable_until_the_next_switch(published: Places) -> None:
    """A reader that resolved `<table>/cycle=C` just before a switch and lists it just after must find the old
    release's files, not an empty folder (deleting them at once let a reader read an empty cycle: seen under load
    in test_publish_kill). The swapped-out folders wait under _store/C/.retired until the next switch."""
    root = store_root(published, "2024")
    before = published_file(published, "unit_scores")
    old_dir = os.open(before.parent, os.O_RDONLY)  # the folder as a reader resolved it before the switch
    try:
        second = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
        assert published_file(published, "unit_scores").name == part_name(second.release_id)
        assert os.listdir(old_dir) == [before.name]  # still listable, with the old release's file
        retired = sorted((root / RETIRED).iterdir())
        assert {p.name.split(".cycle=")[0] for p in retired} == {n for n in OUTPUT_TABLES
                                                                  if (root / second.release_id / n).is_dir()}
        assert all([f.name for f in p.iterdir()] == [part_name(T0_ID)] for p in retired)
        third = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=2))
        assert os.listdir(old_dir) == []  # two switches later the first folder is gone
        assert all([f.name for f in p.iterdir()] == [part_name(second.release_id)]
                   for p in (root / RETIRED).iterdir())
        assert_readers_see(published, "2024", third.release_id)
    finally:
        os.close(old_dir)


def test_next_publish_clears_what_a_crash_left(published: Places) -> None:
    root = store_root(published, "2024")
    orphan = root / "2024-20250106T020000000000Z"
    (orphan / "unit_scores").mkdir(parents=True)
    (orphan / "unit_scores" / ".part-0.parquet.x1.tmp").write_bytes(b"half")
    (root / ".current.abc.tmp").symlink_to(orphan.name)
    (published.releases / "2024" / ".current.json.y2.tmp").write_text("{")
    done = publish_module.recover(published, "2024")
    assert any("unpublished release" in line for line in done)
    assert not orphan.exists() and not list(root.glob(".*.tmp"))
    assert not list((published.releases / "2024").glob(".*"))
    assert_readers_see(published, "2024", current_release_id(published, "2024"))  # type: ignore[arg-type]


def test_duckdb_recursive_glob_and_copies_of_one_table_read_the_same(published: Places, tmp_path: Path) -> None:
    """What a warehouse engineer does first: DuckDB's `**` idiom, and copying one table elsewhere."""
    manifests = {c: current_release(published, c) for c in CYCLES}
    found = dict(duckdb.sql(f"select cycle::varchar, count(*) from read_parquet('{published.warehouse}/unit_scores/"
                            "**/*.parquet', hive_partitioning = true) group by all").fetchall())
    assert found == {c: m["tables"]["unit_scores"]["rows"] for c, m in manifests.items()}  # type: ignore[index]
    source = published.warehouse / "unit_scores"
    copies = {"cp -r": ["cp", "-r", str(source), str(tmp_path / "cp" / "unit_scores")]}
    (tmp_path / "cp").mkdir()
    (tmp_path / "rsync").mkdir()
    if shutil.which("rsync"):
        copies["rsync -a"] = ["rsync", "-a", f"{source}/", str(tmp_path / "rsync" / "unit_scores")]
    for command in copies.values():
        subprocess.run(command, check=True)
    (tmp_path / "tar").mkdir()
    subprocess.run(f"tar -C {published.warehouse} -cf - unit_scores | tar -C {tmp_path / 'tar'} -xf -", shell=True,
                   check=True)
    for copy in ("cp", "rsync", "tar"):
        if not (tmp_path / copy / "unit_scores").exists():
            continue
        for cycle in CYCLES:
            for reader in READERS:
                frame = read_with(reader, tmp_path / copy, "unit_scores", cycle)
                assert table_content_hash(frame, UNIT_SCORES) == \
                    manifests[cycle]["tables"]["unit_scores"]["content_sha256"], (copy, reader)  # type: ignore[index]


def test_a_warehouse_with_one_link_per_release_is_moved_to_the_pointer(published: Places) -> None:
    """Warehouses published before the pointer linked each table straight to a release, switching a
    hidden temporary link in the table folder, which DuckDB and Polars globs pick up."""
    release_id = current_release_id(published, "2024")
    root = store_root(published, "2024")
    (root / POINTER).unlink()
    for table in OUTPUT_TABLES:
        link = table_link(published, table, "2024")
        shutil.rmtree(link)
        link.symlink_to(f"../_store/2024/{release_id}/{table}")
    stale = published.warehouse / "unit_scores" / ".cycle=2024.4242.tmp"
    stale.symlink_to(f"../_store/2024/{release_id}/unit_scores")
    with pytest.raises(duckdb.Error):
        read_with("duckdb", published.warehouse, "unit_scores", "2024")
    assert current_release_id(published, "2024") == release_id  # from current.json
    release = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    assert not stale.is_symlink()
    assert release.diff_against == release_id and release.changes["changed"] == 0  # type: ignore[index]
    for table in OUTPUT_TABLES:  # links of the old layouts became real folders
        assert not table_link(published, table, "2024").is_symlink()
    assert_readers_see(published, "2024", release.release_id)


# ---------------------------------------------------------------- schemas at write time, Parquet files

def _unit_frame() -> pl.DataFrame:
    rows = 3
    values = {c.name: pl.Series(c.name, [None] * rows, dtype=c.dtype) for c in UNIT_SCORES.columns}
    for c in UNIT_SCORES.columns:
        if not c.nullable:
            sample = {pl.String: "x", pl.Int64: 1, pl.Boolean: True, pl.Float64: 1.0}[c.dtype]  # type: ignore[index]
            values[c.name] = pl.Series(c.name, [sample] * rows, dtype=c.dtype)
    return pl.DataFrame(list(values.values()))


@pytest.mark.parametrize(("column", "values", "message"), [
    ("ipp", pl.Series(["3.50", "4.00", "1.25"]), "unit_scores.ipp is String, declared Float64"),
    ("n_respondents", pl.Series([1.0, 2.5, 3.0]), "n_respondents is Float64 with values that would change"),
    ("eligible", pl.Series([1, 0, 1]), "unit_scores.eligible is Int64, declared Boolean"),
    ("n_evaluators", pl.Series([1, 2, 2**40]), "n_evaluators is Int64 with values out of range"),
    ("unit_id", pl.Series(["a", None, "c"]), "unit_scores.unit_id: 1 nulls in a non-null column"),
])
def test_a_table_off_its_schema_raises_before_anything_is_written(tmp_path: Path, column: str, values: pl.Series,
                                                                  message: str) -> None:
    frame = _unit_frame()
    if column == "n_evaluators":
        frame = frame.with_columns(pl.col("n_evaluators").cast(pl.Int64))
        spec = TableSpec("unit_scores", tuple(Column(c.name, pl.Int32 if c.name == column else c.dtype, c.required,
                                                     c.nullable, c.description) for c in UNIT_SCORES.columns))
    else:
        spec = UNIT_SCORES
    frame = frame.with_columns(values.alias(column))
    target = tmp_path / "unit_scores" / "part-0.parquet"
    with pytest.raises(SchemaViolation, match=re.escape(message)) as raised:
        write_parquet(frame, spec, target)
    assert "\n" not in str(raised.value)
    assert not (tmp_path / "unit_scores").exists()


def test_lossless_types_are_accepted(tmp_path: Path) -> None:
    frame = _unit_frame().with_columns(pl.col("rank_in_type").cast(pl.UInt32), pl.col("n_respondents").cast(pl.Int32),
                                       pl.lit(None).alias("ikm"))
    assert write_parquet(frame, UNIT_SCORES, tmp_path / "part-0.parquet", drop=("cycle",)) == 3


def test_publish_checks_every_table_before_writing_any(published: Places, monkeypatch: pytest.MonkeyPatch) -> None:
    before = current_release_id(published, "2024")
    stores = [p.name for p in release_dirs(published, "2024")]
    real = publish_module.release_tables

    def with_a_null_in_the_last_table(*args, **kwargs):  # type: ignore[no-untyped-def]
        tables = real(*args, **kwargs)
        issues = tables["validation_issues"]
        tables["validation_issues"] = pl.concat([issues, issues.head(1).with_columns(rule=pl.lit(None, pl.String))])
        return tables

    monkeypatch.setattr(publish_module, "release_tables", with_a_null_in_the_last_table)
    with pytest.raises(SchemaViolation, match=r"^validation_issues\.rule: 1 nulls in a non-null column"):
        publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    assert [p.name for p in release_dirs(published, "2024")] == stores
    assert current_release_id(published, "2024") == before
    assert_readers_see(published, "2024", before)  # type: ignore[arg-type]


def test_parquet_files_are_zstd_with_statistics_descriptions_and_no_cycle(published: Places) -> None:
    for table, spec in PUBLISHED_WITHOUT_F03.items():
        path = published_file(published, table)
        parquet = pq.ParquetFile(path)
        schema = parquet.schema_arrow
        assert "cycle" not in schema.names, table
        assert schema.names == [n for n in spec.names if n != "cycle"], table
        assert schema.metadata[b"table"] == table.encode()
        assert schema.metadata[b"schema_version"] == str(spec.version).encode()
        for column in spec.columns:
            if column.name != "cycle":
                field = schema.field(column.name)
                assert field.metadata[b"description"] == column.description.encode(), (table, column.name)
                assert field.nullable == column.nullable, (table, column.name)
        meta = parquet.metadata
        assert meta.num_rows == release_manifest(published, "2024", current_release_id(
            published, "2024"))["tables"][table]["rows"]  # type: ignore[index, arg-type]
        assert meta.num_row_groups == 1  # small tables: one row group, not one per batch
        for group in range(meta.num_row_groups):
            for col in range(meta.num_columns):
                chunk = meta.row_group(group).column(col)
                assert chunk.compression == "ZSTD", (table, chunk.path_in_schema)
                if meta.num_rows:  # an empty table (compliance_scores of a cycle without a feed) has none to set
                    assert chunk.is_stats_set and chunk.statistics.has_null_count, (table, chunk.path_in_schema)


def test_large_tables_are_cut_into_bounded_row_groups(tmp_path: Path) -> None:
    spec = TableSpec("big", (Column("key", pl.Int64, description="Key"),
                             Column("label", pl.String, nullable=True, description="Label")))
    rows = storage.PARQUET_ROW_GROUP_ROWS * 2 + 1000
    frame = pl.DataFrame({"key": range(rows), "label": ["x", None] * (rows // 2)})
    path = tmp_path / "big.parquet"
    assert write_parquet(frame, spec, path) == rows
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == 3
    assert all(meta.row_group(i).num_rows <= storage.PARQUET_ROW_GROUP_ROWS for i in range(3))
    stats = meta.row_group(0).column(0).statistics
    assert (stats.min, stats.max) == (0, storage.PARQUET_ROW_GROUP_ROWS - 1)


# ---------------------------------------------------------------- bad cases: one line, previous release intact

def _one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def test_a_cycle_with_no_stored_submissions_is_refused(published: Places) -> None:
    shutil.rmtree(published.ledger / "2023")
    (published.ledger / "2023.parquet").unlink()
    before = current_release_id(published, "2023")
    with pytest.raises(WarehouseError) as raised:
        publish(published, load_methodology("2023"), now=T0)
    assert "cycle 2023 has no stored submissions" in _one_line(raised)
    assert current_release_id(published, "2023") == before
    assert_readers_see(published, "2023", before)  # type: ignore[arg-type]


def test_a_release_without_scores_never_silently_replaces_one_with_scores(published: Places, tmp_path: Path) -> None:
    ledger = Ledger(published, "2024")
    entries = ledger.load()
    ledger.save(entries.with_columns(status=pl.lit("rejected"), reason=pl.lit("every bundle withdrawn")))
    before = current_release_id(published, "2024")
    with pytest.raises(publish_module.EmptyReleaseRefused) as refused:
        publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    line = _one_line(refused)
    assert f"where release {before} holds" in line and "--allow-empty" in line and "0 of" in line
    assert current_release_id(published, "2024") == before
    assert_readers_see(published, "2024", before)  # type: ignore[arg-type]
    forced = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=2), allow_empty=True)
    assert publish_module.scored_units(forced.tables["unit_scores"]) == 0
    assert current_release_id(published, "2024") == forced.release_id
    # A first release may hold no score: the regions' rejections must be published to be seen.
    fresh = Places(landing=published.landing, warehouse=tmp_path / "first")
    shutil.copytree(published.ledger / "2024", fresh.ledger / "2024")
    shutil.copyfile(ledger.path, fresh.ledger / ledger.path.name)
    first = publish(fresh, load_methodology("2024"), now=T0)
    assert first.row_counts["submissions"] == entries.height


def test_missing_kept_rows_are_refused_not_silently_skipped(published: Places) -> None:
    accepted = Ledger(published, "2024").load().filter(pl.col("status") == ACCEPTED)["submission_id"][0]
    (Ledger(published, "2024").accepted_dir(accepted) / "evaluations.parquet").unlink()
    before = current_release_id(published, "2024")
    with pytest.raises(WarehouseError) as raised:
        publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    assert f"(first: {accepted}); run `pekppp rerun --cycle 2024`" in _one_line(raised)
    assert_readers_see(published, "2024", before)  # type: ignore[arg-type]


def test_a_missing_or_changed_methodology_is_refused(published: Places, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MethodologyError) as raised:
        load_methodology("2031")
    assert "no methodology for cycle '2031'" in _one_line(raised)
    directory = tmp_path / "methodology"
    shutil.copytree(methodology_dir(), directory)
    monkeypatch.setenv("PEKPPP_METHODOLOGY", str(directory))  # read when called, not at import
    methodology = load_methodology("2024", directory)
    before = current_release_id(published, "2024")
    (directory / "2024.toml").write_text((directory / "2024.toml").read_text() + "\n# edited\n")
    with pytest.raises(MethodologyError) as raised:
        publish(published, methodology, now=T0 + timedelta(hours=1))
    assert "changed while cycle 2024 was being computed" in _one_line(raised)
    (directory / "2024.toml").unlink()
    with pytest.raises(MethodologyError) as raised:
        publish(published, methodology, now=T0 + timedelta(hours=1))
    assert "no methodology for cycle '2024'" in _one_line(raised)
    assert current_release_id(published, "2024") == before
    assert_readers_see(published, "2024", before)  # type: ignore[arg-type]


def test_a_warehouse_under_a_regular_file_is_refused_even_for_root(tmp_path: Path, template: Path) -> None:
    """chmod does not stop root; a path below a regular file fails for everyone (ENOTDIR)."""
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    places = Places(landing=template / "landing", warehouse=blocker / "warehouse")
    with pytest.raises(WarehouseError) as raised:
        publish(places, load_methodology("2024"), now=T0)
    assert f"{blocker} is a file, not a folder" in _one_line(raised)
    with pytest.raises(OSError, match="Not a directory"):  # what the OS itself says, as root too
        (places.warehouse / "_store").mkdir(parents=True)


def test_a_busy_cycle_is_refused_after_waiting(published: Places) -> None:
    lock = store_root(published, "2024") / publish_module.LOCK
    fd = os.open(lock, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(WarehouseError) as raised:
            publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1), lock_timeout=0.2)
        assert "publishing cycle 2024 is busy" in _one_line(raised)
    finally:
        os.close(fd)
    assert len(release_dirs(published, "2024")) == 1


def _fail_on(monkeypatch: pytest.MonkeyPatch, module: object, name: str, when) -> list[str]:  # type: ignore[no-untyped-def]
    """Make `module.name` raise ENOSPC for calls where `when(*args)` is true; returns the failed targets."""
    real = getattr(module, name)
    failed: list[str] = []

    def full(*args, **kwargs):  # type: ignore[no-untyped-def]
        if when(*args):
            failed.append(str(args[1]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(args[1]))
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, full)
    return failed


@pytest.mark.parametrize("failing", ["third table", "manifest", "pointer switch"])
def test_disk_full_while_staging_leaves_the_previous_release(published: Places, monkeypatch: pytest.MonkeyPatch,
                                                             failing: str) -> None:
    before = current_release_id(published, "2024")
    if failing == "third table":
        calls = iter(range(100))
        failed = _fail_on(monkeypatch, storage.pq, "write_table", lambda *a: next(calls) == 2)
    elif failing == "manifest":
        failed = _fail_on(monkeypatch, storage.os, "replace", lambda src, dst: str(dst).endswith("_manifest.json"))
    else:
        failed = _fail_on(monkeypatch, storage.os, "replace", lambda src, dst: Path(dst).name == POINTER)
    with pytest.raises(WarehouseError) as raised:
        publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    assert failed
    assert "No space left on device" in _one_line(raised)
    assert f"readers still see {before}" in str(raised.value)
    monkeypatch.undo()
    assert [p.name for p in release_dirs(published, "2024")] == [before]  # the half release is gone
    assert not list(store_root(published, "2024").rglob("*.tmp"))
    assert_readers_see(published, "2024", before)  # type: ignore[arg-type]
    after = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=2))
    assert_readers_see(published, "2024", after.release_id)


def test_disk_full_after_the_switch_is_reported_and_finished_next_time(published: Places,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fail_on(monkeypatch, storage.os, "replace", lambda src, dst: Path(dst).name == "current.json")
    with pytest.raises(WarehouseError) as raised:
        publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    switched = os.readlink(store_root(published, "2024") / POINTER)
    assert f"release {switched} of cycle 2024 is published, but recording it failed" in _one_line(raised)
    monkeypatch.undo()
    assert_readers_see(published, "2024", switched)
    stale = json.loads((published.releases / "2024" / "current.json").read_text())["release_id"]
    assert stale != switched
    publish_module.recover(published, "2024")
    assert json.loads((published.releases / "2024" / "current.json").read_text())["release_id"] == switched


# ---------------------------------------------------------------- the DuckDB client

def test_load_duckdb_builds_views_matching_the_manifests(published: Places, tmp_path: Path) -> None:
    db_path = tmp_path / "db" / "warehouse.duckdb"
    counts = load_duckdb(published.warehouse, db_path)
    manifests = {c: current_release(published, c) for c in CYCLES}
    assert counts == {t: sum(m["tables"][t]["rows"] for m in manifests.values()) for t in OUTPUT_TABLES}  # type: ignore[index]
    types = {pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN"}
    with warehouse_db.connect(db_path) as con:
        for table, spec in PUBLISHED_WITHOUT_F03.items():
            described = {name: kind for name, kind, *_ in con.execute(f"DESCRIBE {table}").fetchall()}
            assert list(described) == [*(n for n in spec.names if n != "cycle"), "cycle"], table
            for column in spec.columns:
                expected = types.get(column.dtype, "TIMESTAMP WITH TIME ZONE")  # type: ignore[call-overload]
                assert described[column.name] == expected, (table, column.name)
            per_cycle = dict(con.execute(f"SELECT cycle, count(*) FROM {table} GROUP BY cycle").fetchall())
            assert per_cycle == {c: m["tables"][table]["rows"] for c, m in manifests.items()  # type: ignore[index]
                                 if m["tables"][table]["rows"]}, table  # type: ignore[index]
            frame = con.sql(f"SELECT * FROM {table} WHERE cycle = '2024'").pl()
            assert table_content_hash(frame, spec) == manifests["2024"]["tables"][table]["content_sha256"]  # type: ignore[index]
    assert sorted(p.name for p in db_path.parent.iterdir()) == ["warehouse.duckdb"]
    # Refreshing replaces the file; new releases show through the same views without a reload.
    release = publish(published, load_methodology("2024"), now=T0 + timedelta(hours=1))
    with warehouse_db.connect(db_path) as con:
        assert con.execute("SELECT DISTINCT release_id FROM unit_scores WHERE cycle = '2024'").fetchall() == \
            [(release.release_id,)]
    assert load_duckdb(published.warehouse, db_path) == counts


def test_the_duckdb_file_moves_with_its_warehouse(published: Places, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "site"
    shutil.copytree(published.warehouse, home / "warehouse", symlinks=True)
    db_path = home / "warehouse.duckdb"
    counts = load_duckdb(home / "warehouse", db_path)
    moved = tmp_path / "elsewhere" / "copy"
    shutil.copytree(home, moved, symlinks=True)
    shutil.rmtree(home)  # the original place is gone: the copy must not point at it
    with warehouse_db.connect(moved / "warehouse.duckdb") as con:
        assert {t: con.execute(f"SELECT count(*) FROM {t}").fetchall()[0][0] for t in OUTPUT_TABLES} == counts
        sql = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'unit_scores'").fetchall()[0][0]
    assert str(tmp_path) not in sql and "'warehouse/unit_scores/*/*.parquet'" in sql
    with pytest.raises(WarehouseError, match="make warehouse-db"):
        warehouse_db.connect(tmp_path / "none.duckdb")
    # The README's first query, as an operator types it (no DuckDB CLI needed):
    query = "select cycle, count(*) as units from unit_scores group by all order by all"
    assert main(["sql", query, "--db", str(moved / "warehouse.duckdb")]) == 0
    out = capsys.readouterr().out
    for cycle in CYCLES:
        units = current_release(published, cycle)["tables"]["unit_scores"]["rows"]  # type: ignore[index]
        assert re.search(rf"{cycle}\s*┆\s*{units}\b", out), out


def test_load_duckdb_on_an_empty_or_missing_warehouse(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert load_duckdb(tmp_path / "empty", tmp_path / "w.duckdb") == dict.fromkeys(OUTPUT_TABLES, 0)
    with duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True) as con:
        assert con.execute("DESCRIBE unit_scores").fetchall()[-1][:2] == ("cycle", "VARCHAR")
    with pytest.raises(WarehouseError, match="does not exist"):
        load_duckdb(tmp_path / "nowhere", tmp_path / "x.duckdb")


# ---------------------------------------------------------------- kept per-unit sums


def _accepted_ids(places: Places, cycle: str = "2024") -> list[str]:
    return Ledger(places, cycle).load().filter(pl.col("status") == ACCEPTED)["submission_id"].to_list()


def test_scores_from_the_kept_unit_totals_equal_scores_from_the_rows(places: Places) -> None:
    methodology = load_methodology("2024")
    previous_cycle, previous_ids = previous_cycle_of(places, "2024")
    inputs = cycle_inputs(places, methodology, _accepted_ids(places), previous_ids, previous_cycle)
    assert inputs.totals is not None and previous_ids
    assert Ledger(places, "2024").totals_path(methodology.survey.element_codes).exists()
    assert not list((places.ledger / "2023").glob("totals-*")), "a previous cycle's ledger is only read"
    from_totals = score_cycle(inputs, methodology)
    from_rows = score_cycle(dataclasses.replace(inputs, totals=None), methodology)
    assert from_totals["unit_scores"]["status"].to_list().count("scored") > 0
    for name, frame in from_rows.items():
        assert_frame_equal(from_totals[name], frame)


def test_kept_unit_totals_follow_the_submissions_and_their_rows(places: Places) -> None:
    methodology = load_methodology("2024")
    ledger, schemas, elements = Ledger(places, "2024"), input_schemas(methodology), methodology.survey.element_codes
    ids = sorted(_accepted_ids(places))
    path = ledger.totals_path(elements)
    ledger.unit_totals(ids[1:], schemas, elements)
    ledger.unit_totals(ids, schemas, elements)  # one submission more: added to what was kept
    stepwise = pl.read_parquet(path)
    path.unlink()
    ledger.unit_totals(ids, schemas, elements)
    assert_frame_equal(stepwise, pl.read_parquet(path))  # the same file whatever order they came in
    ledger.unit_totals(ids[:1], schemas, elements)
    assert pl.read_parquet(path)["submission_id"].unique().to_list() == ids[:1]  # superseded ones' sums go

    # a rerun keeps a submission's rows again (here with every score one lower): its sums are redone
    kept = ledger.accepted_dir(ids[0]) / "evaluations.parquet"
    lowered = pl.read_parquet(kept).with_columns(pl.col("score") - 1)
    write_frame(lowered, kept)
    totals = ledger.unit_totals(ids[:1], schemas, elements).indicators.collect()
    expected = indicator_totals(lowered.lazy()).collect()
    assert_frame_equal(totals, expected.select(totals.columns), check_row_order=False)
    assert totals["score_sum"].sum() == lowered["score"].sum()


def test_stored_issues_come_per_pair_in_order_also_from_the_old_layout(places: Places) -> None:
    ledger = Ledger(places, "2024")
    pairs = list(ledger.load().select("submission_id", "region_code").unique(maintain_order=True).iter_rows())
    one_by_one = pl.concat([pl.read_parquet(ledger.issues_path(sid, region)).with_columns(
        submission_id=pl.lit(sid), region_code=pl.lit(region)) for sid, region in pairs])
    assert one_by_one.height > 0
    assert_frame_equal(ledger.issues(pairs), one_by_one)
    # a warehouse from before issues were per region: one file per submission, read for each region asking
    sid, region = next((s, r) for s, r in pairs if pl.read_parquet(ledger.issues_path(s, r)).height)
    old = ledger.root / "issues" / f"{sid}.parquet"
    ledger.issues_path(sid, region).rename(old)
    issues = ledger.issues([(sid, region), (sid, "99.99"), ("unknown", region)])
    rows = pl.read_parquet(old).height
    assert issues["region_code"].to_list() == [region] * rows + ["99.99"] * rows
    assert issues.drop("region_code").head(rows).equals(issues.drop("region_code").tail(rows))


def test_robustness_tables_are_published_with_the_release(published: Places) -> None:
    """Issue 23: one unit_robustness row per scored unit, one region_robustness row per region with a
    scored unit, rank intervals holding the published ranks, in the manifest (the re-run test above
    shows the same seed gives the same content hashes)."""
    manifest = current_release(published, "2024")
    assert {"unit_robustness", "region_robustness"} <= set(manifest["tables"])  # type: ignore[index]
    units = pl.read_parquet(published_file(published, "unit_scores"))
    robust = pl.read_parquet(published_file(published, "unit_robustness"))
    scored = units.filter(pl.col("status") == "scored")
    assert robust.height == scored.height > 0
    assert robust["draws"].unique().to_list() == [load_methodology("2024").robustness.draws]  # type: ignore[union-attr]
    joined = robust.join(scored.select("unit_id", "region_code", "rank_in_type", "predicate"),
                         on=["region_code", "unit_id"], suffix="_published")
    assert joined.height == robust.height
    assert (joined["predicate"] == joined["predicate_published"]).all()
    assert ((joined["rank_low"] <= joined["rank_in_type"]) & (joined["rank_in_type"] <= joined["rank_high"])).all()
    assert robust["p_predicate"].is_between(0, 1).all()
    regions = pl.read_parquet(published_file(published, "region_scores")).filter(pl.col("n_units_scored") > 0)
    assert pl.read_parquet(published_file(published, "region_robustness")).height == regions.height
