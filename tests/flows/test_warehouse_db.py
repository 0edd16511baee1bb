"""Unit tests of flows/warehouse_db.py: DuckDB views over the warehouse, relative paths, empty tables typed."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from flows import warehouse_db
from transforms.schemas import NATIONAL_SCORES, OUTPUT_TABLES


def publish_national(warehouse: Path, cycle: str, ipp: float) -> None:
    """A minimal national_scores file of one cycle, as the hive layout holds it (cycle from the folder)."""
    folder = warehouse / "national_scores" / f"cycle={cycle}"
    folder.mkdir(parents=True)
    pl.DataFrame({"ipp": [ipp], "n_units": [3]}).write_parquet(folder / "part-r1.parquet")


def test_view_sql_of_a_table_without_files_declares_its_columns(tmp_path: Path) -> None:
    sql = warehouse_db.view_sql(tmp_path, NATIONAL_SCORES, tmp_path)
    assert sql.startswith("CREATE OR REPLACE VIEW national_scores AS SELECT CAST(NULL AS")
    assert sql.endswith("WHERE false")
    assert 'CAST(NULL AS DOUBLE) AS "ipp"' in sql and 'CAST(NULL AS VARCHAR) AS "cycle"' in sql


def test_parquet_source_is_relative_to_the_database_folder(tmp_path: Path) -> None:
    source = warehouse_db.parquet_source(tmp_path / "wh", "unit_scores", tmp_path)
    assert source.startswith("read_parquet('wh/unit_scores/*/*.parquet', hive_partitioning = true")
    assert "{'cycle': 'VARCHAR'}" in source


def test_load_and_query_with_cycle_as_text(tmp_path: Path) -> None:
    """Two cycles of national_scores read back with `cycle` as text; every output table has a view."""
    warehouse = tmp_path / "wh"
    publish_national(warehouse, "2023", 3.79)
    publish_national(warehouse, "2024", 4.02)
    counts = warehouse_db.load_duckdb(warehouse, tmp_path / "w.duckdb")
    assert set(counts) == set(OUTPUT_TABLES)
    assert counts["national_scores"] == 2 and counts["unit_scores"] == 0
    with warehouse_db.connect(tmp_path / "w.duckdb") as db:
        rows = db.execute("SELECT cycle, ipp FROM national_scores ORDER BY cycle").fetchall()
    assert rows == [("2023", 3.79), ("2024", 4.02)]


def test_database_and_warehouse_move_together(tmp_path: Path) -> None:
    """Copied elsewhere with its warehouse, the file still finds the data (paths relative to its folder)."""
    publish_national(tmp_path / "a" / "wh", "2024", 4.02)
    warehouse_db.load_duckdb(tmp_path / "a" / "wh", tmp_path / "a" / "w.duckdb")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    shutil.rmtree(tmp_path / "a")
    with warehouse_db.connect(tmp_path / "b" / "w.duckdb") as db:
        assert db.execute("SELECT ipp FROM national_scores").fetchall() == [(4.02,)]
        with pytest.raises(duckdb.Error):  # read-only
            db.execute("CREATE TABLE x (a INT)")


def test_missing_warehouse_and_missing_file_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(warehouse_db.WarehouseError, match="does not exist; run `pekppp run`"):
        warehouse_db.load_duckdb(tmp_path / "none", tmp_path / "w.duckdb")
    with pytest.raises(warehouse_db.WarehouseError, match="no DuckDB file"):
        warehouse_db.connect(tmp_path / "w.duckdb")
