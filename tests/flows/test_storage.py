"""Unit tests of flows/storage.py: atomic writes, the one Parquet writer and its schema checks, raw copies."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from flows import storage
from transforms.schemas import Column, TableSpec

SPEC = TableSpec("t", (Column("a", pl.Int64, description="an a"), Column("b", pl.String, nullable=True)),
                 version=3, description="a table")


def test_atomic_path_replaces_only_on_success(tmp_path: Path) -> None:
    """A failing block leaves the old file and no temporary; a good one replaces it."""
    target = tmp_path / "out" / "f.txt"
    storage.write_bytes_atomic(target, b"old")
    with pytest.raises(RuntimeError), storage.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("crash")
    assert target.read_bytes() == b"old"
    assert os.listdir(target.parent) == ["f.txt"]
    storage.write_bytes_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == storage.FILE_MODE  # not mkstemp's 0600


def test_write_parquet_keeps_declared_types_nullability_and_metadata(tmp_path: Path) -> None:
    """Int32 values that fit become Int64; the file says the table, its version and each column's meaning."""
    frame = pl.DataFrame({"b": ["x", None], "a": pl.Series([1, 2], dtype=pl.Int32)})
    assert storage.write_parquet(frame, SPEC, tmp_path / "t.parquet") == 2
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.column_names == ["a", "b"]
    assert (table.schema.field("a").nullable, table.schema.field("b").nullable) == (False, True)
    assert table.schema.field("a").metadata == {b"description": b"an a"}
    assert table.schema.metadata[b"schema_version"] == b"3"
    assert pl.read_parquet(tmp_path / "t.parquet")["a"].to_list() == [1, 2]


@pytest.mark.parametrize(("frame", "problem"), [
    (pl.DataFrame({"a": ["1"], "b": ["x"]}), "t.a is String, declared Int64"),  # digits in text are not a number
    (pl.DataFrame({"a": [1.5], "b": ["x"]}), "t.a is Float64 with values that would change as Int64"),
    (pl.DataFrame({"a": [None, 1], "b": ["x", "y"]}, schema={"a": pl.Int64, "b": pl.String}),
     "t.a: 1 nulls in a non-null column"),
])
def test_write_parquet_refuses_what_does_not_fit_and_writes_nothing(tmp_path: Path, frame: pl.DataFrame,
                                                                    problem: str) -> None:
    with pytest.raises(storage.SchemaViolation, match=problem):
        storage.write_parquet(frame, SPEC, tmp_path / "t.parquet")
    assert not (tmp_path / "t.parquet").exists()


def test_content_hash_depends_on_values_and_types_not_excluded_columns() -> None:
    base = pl.DataFrame({"a": [1, 2], "release_id": ["r1", "r1"]})
    same = pl.DataFrame({"a": [1, 2], "release_id": ["r2", "r2"]})
    assert storage.content_hash(base, exclude=("release_id",)) == storage.content_hash(same, exclude=("release_id",))
    assert storage.content_hash(base) != storage.content_hash(same)
    assert storage.content_hash(base.with_columns(pl.col("a").cast(pl.Int32)), exclude=("release_id",)) != \
        storage.content_hash(base, exclude=("release_id",))


def test_store_raw_keeps_a_read_only_copy_keyed_by_content(tmp_path: Path) -> None:
    """The copy holds the bundle's files, read-only; storing again (another name) returns the kept copy."""
    bundle = tmp_path / "landing" / "b1"
    bundle.mkdir(parents=True)
    (bundle / "units.csv").write_text("unit_id\nU1\n")
    target = tmp_path / "raw" / "ab" / "abcdef"
    kept = storage.store_raw(bundle, target)
    assert kept == target / "b1" and (kept / "units.csv").read_text() == "unit_id\nU1\n"
    assert stat.S_IMODE((kept / "units.csv").stat().st_mode) & 0o222 == 0
    other = tmp_path / "landing" / "b2"
    other.mkdir()
    assert storage.store_raw(other, target) == kept
    assert storage.stored_refusals(kept) == []
    storage.remove_tree(tmp_path / "raw")
    assert not (tmp_path / "raw").exists()


def test_store_raw_records_a_refused_link_beside_the_copy(tmp_path: Path) -> None:
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "units.csv").write_text("x\n")
    (bundle / "secret.csv").symlink_to("/etc/passwd")
    kept = storage.store_raw(bundle, tmp_path / "raw" / "x")
    assert sorted(p.name for p in kept.iterdir()) == ["units.csv"]
    assert [(r.name, r.rule) for r in storage.stored_refusals(kept)] == [("secret.csv", "symlink")]


def test_show_folder_switches_in_exactly_the_files(tmp_path: Path) -> None:
    """The folder holds exactly the named hard links; showing the same files again changes nothing."""
    store, staging, folder = tmp_path / "store", tmp_path / "staging", tmp_path / "t" / "cycle=2024"
    store.mkdir()
    (store / "r1.parquet").write_bytes(b"1")
    (store / "r2.parquet").write_bytes(b"2")
    assert storage.show_folder(folder, {"part-r1.parquet": store / "r1.parquet"}, staging)
    assert os.listdir(folder) == ["part-r1.parquet"]
    assert not storage.show_folder(folder, {"part-r1.parquet": store / "r1.parquet"}, staging)
    assert storage.show_folder(folder, {"part-r2.parquet": store / "r2.parquet"}, staging)
    assert os.listdir(folder) == ["part-r2.parquet"] and (folder / "part-r2.parquet").read_bytes() == b"2"
    assert os.listdir(staging) == []  # nothing left behind


def test_remove_temporaries_deletes_only_crash_leftovers(tmp_path: Path) -> None:
    (tmp_path / ".2024.parquet.abc.tmp").write_text("x")
    (tmp_path / ".dir.tmp").mkdir()
    (tmp_path / "2024.parquet").write_text("keep")
    (tmp_path / ".hidden").write_text("keep")
    assert storage.remove_temporaries(tmp_path) == 2
    assert sorted(os.listdir(tmp_path)) == [".hidden", "2024.parquet"]
    assert storage.remove_temporaries(tmp_path / "missing") == 0


def test_ensure_writable_names_a_file_in_the_way(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(storage.WarehouseError, match="is a file, not a folder"):
        storage.ensure_writable(tmp_path / "file" / "warehouse")
    storage.ensure_writable(tmp_path / "new" / "warehouse")  # creatable: fine


def test_one_line_and_os_reason() -> None:
    assert storage.one_line("a\n  b\tc") == "a b c"
    assert storage.os_reason(OSError(28, "No space left on device")) == "No space left on device"
    assert storage.os_reason(OSError("odd")) == "odd"
