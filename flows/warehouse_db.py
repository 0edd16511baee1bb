"""The warehouse as a database: an embedded DuckDB file with one view per output table over its Parquet.

Each view reads `<warehouse>/<table>/*/*.parquet` (hive-partitioned, `cycle` typed VARCHAR) when it
is queried, so new releases and cycles show up without reloading; reload after the declared schemas
change. The views hold the warehouse's path *relative to the database file's folder*, and DuckDB
resolves relative paths against its working directory (or `file_search_path`): open the file from its
own folder, or with `connect` here, and the database and warehouse can be copied or moved together to
any place or machine. The file is built under a temporary name and renamed into place, so a reader
never opens a half-built database.
"""

from __future__ import annotations

import os
from pathlib import Path

import duckdb
import polars as pl

from flows.storage import WarehouseError, atomic_path, one_line
from transforms.schemas import OUTPUT_TABLES, TableSpec

PARTITION_KEY = "cycle"
DUCKDB_TYPES: dict[type[pl.DataType], str] = {
    pl.String: "VARCHAR", pl.Int64: "BIGINT", pl.Int32: "INTEGER", pl.Int8: "TINYINT", pl.Float64: "DOUBLE",
    pl.Boolean: "BOOLEAN", pl.Date: "DATE",
}


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _duckdb_type(dtype: pl.DataType | type[pl.DataType]) -> str:
    if isinstance(dtype, pl.Datetime):
        return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
    return DUCKDB_TYPES[dtype.base_type()]  # type: ignore[index]


def parquet_source(warehouse: Path, table: str, base: Path) -> str:
    """The DuckDB table function reading every cycle of one table, by a path relative to `base`."""
    pattern = _literal(os.path.relpath(warehouse.resolve() / table, base.resolve()) + "/*/*.parquet")
    return (f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{'{PARTITION_KEY}': 'VARCHAR'}}, "
            "union_by_name = true)")


def view_sql(warehouse: Path, spec: TableSpec, base: Path) -> str:
    """CREATE VIEW for one table: over its files, or empty with the declared columns before any publish."""
    if any((warehouse / spec.name).glob("*/*.parquet")):
        return f"CREATE OR REPLACE VIEW {spec.name} AS SELECT * FROM {parquet_source(warehouse, spec.name, base)}"
    ordered = sorted(spec.columns, key=lambda c: c.name == PARTITION_KEY)  # as from the files: cycle last
    columns = ", ".join(f"CAST(NULL AS {_duckdb_type(c.dtype)}) AS \"{c.name}\"" for c in ordered)
    return f"CREATE OR REPLACE VIEW {spec.name} AS SELECT {columns} WHERE false"


JOINED_VIEWS = {
    # issue 20: each body's two yearly verdicts side by side, PEKPPP's roll-up and the Ombudsman's compliance;
    # a full join, so a body assessed by only one of them is listed too
    "body_verdicts": """
        SELECT coalesce(r.cycle, c.cycle) AS cycle, coalesce(r.region_code, c.region_code) AS region_code,
               coalesce(r.region_name, c.region_name) AS region_name, coalesce(r.level, c.level) AS level,
               r.n_units_scored, r.ipp, r.predicate, r.predicate_label, r.rank AS pekppp_rank,
               c.input, c.proses, c.output, c.pengaduan, c.score AS compliance_score,
               c.category AS compliance_category, c.category_label AS compliance_label, c.zone AS compliance_zone,
               c.rank AS compliance_rank, c.disagreement, coalesce(r.release_id, c.release_id) AS release_id
        FROM region_scores r
        FULL OUTER JOIN (SELECT * FROM compliance_scores WHERE subject = 'body') c
          ON r.cycle = c.cycle AND r.region_code = c.region_code""",
}
"""Views joining the table views (defined after them); `SELECT * FROM body_verdicts WHERE disagreement IS NOT NULL`
lists the bodies whose verdicts disagree."""


def load_duckdb(warehouse: Path, db_path: Path) -> dict[str, int]:
    """(Re)build `db_path` with a view per output table over `warehouse`, then the joined views (JOINED_VIEWS);
    returns rows per output table."""
    if not warehouse.is_dir():
        raise WarehouseError(f"warehouse {warehouse} does not exist; run `pekppp run` (or `pekppp demo`) first")
    counts: dict[str, int] = {}
    try:
        with atomic_path(db_path) as tmp:
            tmp.unlink()  # DuckDB creates its own file; an empty one is not a database
            connection = duckdb.connect(str(tmp))
            try:
                connection.execute(f"SET file_search_path = {_literal(str(db_path.parent.resolve()))}")
                for spec in OUTPUT_TABLES.values():
                    connection.execute(view_sql(warehouse, spec, db_path.parent))
                    counts[spec.name] = connection.execute(f"SELECT count(*) FROM {spec.name}").fetchall()[0][0]
                for name, query in JOINED_VIEWS.items():
                    connection.execute(f"CREATE OR REPLACE VIEW {name} AS {query}")
            finally:
                connection.close()
    except duckdb.Error as err:
        raise WarehouseError(f"cannot load {warehouse} into {db_path}: {one_line(err)}") from err
    except OSError as err:
        raise WarehouseError(f"cannot write {db_path}: {err.strerror or one_line(err)}") from err
    return counts


def connect(db_path: Path) -> duckdb.DuckDBPyConnection:
    """Open the database read-only with its views' relative paths resolved from the file's own folder."""
    if not db_path.is_file():
        raise WarehouseError(f"no DuckDB file {db_path}; build it with `make warehouse-db` (or `pekppp demo`)")
    connection = duckdb.connect(str(db_path), read_only=True)
    connection.execute(f"SET file_search_path = {_literal(str(db_path.parent.resolve()))}")
    return connection
