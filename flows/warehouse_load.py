"""Load a cycle's current release into PostgreSQL: schema `pekppp`, one table per output table.

One transaction per load: the cycle's rows of every table are deleted and the release's rows copied
in (COPY, CSV from Polars), and `pekppp.loads` names the release loaded, so a reader sees the old
release or the new one, never a mix. Loading the release already loaded changes nothing. Column types
are what a warehouse keeps: codes as text, IPP as numeric(3,2), IKM numeric(5,2), JSON as jsonb;
columns named after SQL keywords get plain names (`table` -> `table_name`, `row` -> `row_number`,
`column` -> `column_name`). Tables are created on first load and gain new columns when a later release
has them (columns are never dropped: older cycles keep theirs).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import polars as pl

from flows.publish import current_release, manifest_path
from flows.settings import Places, setting
from flows.storage import WarehouseError
from transforms.schemas import ISSUE_SQL_NAMES, OUTPUT_TABLES, TableSpec

DSN_ENV = "PEKPPP_WAREHOUSE_DSN"
SCHEMA = "pekppp"
LOADS = "loads"
"""One row per cycle: the release its tables hold (the record readers and incremental loads key on)."""
LOAD_HISTORY = "load_history"
SQL_NAMES = ISSUE_SQL_NAMES
"""Columns named after SQL keywords in releases of schema 1, and the names they have since (and here)."""
DECIMALS = {"ipp": "numeric(3,2)", "score": "numeric(3,2)", "ikm": "numeric(5,2)", "nrr": "numeric(6,4)"}
"""Float columns that are decimals by definition (rounded half-up before publishing): exact types here.
`score` is an aspect score or an award's IPP (gain), both within ±5.00; see `decimals_of` for tables on 0-100."""
COMPLIANCE_DECIMALS = {name: "numeric(5,2)" for name in ("input", "proses", "output", "pengaduan", "score")}
"""compliance_scores (issue 20): the Ombudsman's dimensions and score are on 0-100 with 2 decimals."""


def decimals_of(table: str) -> dict[str, str]:
    """The decimal columns of one table and their exact types (the Ombudsman's 0-100 scale differs)."""
    return {**DECIMALS, **COMPLIANCE_DECIMALS} if table == "compliance_scores" else DECIMALS

JSON_COLUMNS = {"predicate_counts", "award_probabilities"}
POLARS_TO_SQL: dict[type[pl.DataType], str] = {
    pl.String: "text", pl.Int64: "bigint", pl.Int32: "integer", pl.Boolean: "boolean", pl.Float64: "double precision",
    pl.Date: "date",
}


class LoadError(WarehouseError):
    """The release cannot be loaded (no release, unreachable server, refused rows); one line."""


@dataclass(frozen=True)
class LoadResult:
    cycle: str
    release_id: str
    loaded: bool
    """False when the release was already loaded (nothing changed)."""
    rows: dict[str, int]
    seconds: float


def sql_name(column: str) -> str:
    return SQL_NAMES.get(column, column)


def sql_type(column: str, dtype: pl.DataType | type[pl.DataType], table: str = "") -> str:
    if column in JSON_COLUMNS:
        return "jsonb"
    decimals = decimals_of(table)
    if column in decimals:
        return decimals[column]
    if isinstance(dtype, pl.Datetime) or dtype == pl.Datetime:
        return "timestamptz"
    base = dtype.base_type() if isinstance(dtype, pl.DataType) else dtype
    if base not in POLARS_TO_SQL:
        raise LoadError(f"column {column}: no PostgreSQL type for {dtype}")
    return POLARS_TO_SQL[base]


def quoted(identifier: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", identifier):
        raise LoadError(f"{identifier!r} is not a plain SQL name")
    return f'"{identifier}"'


def table_columns(spec: TableSpec) -> list[tuple[str, str]]:
    """(PostgreSQL name, type) of a table: `cycle` first (the partition key the Parquet files leave out)."""
    columns = [("cycle", "text")]
    columns += [(sql_name(c.name), sql_type(c.name, c.dtype, spec.name)) for c in spec.columns if c.name != "cycle"]
    return columns


def release_frames(places: Places, cycle: str) -> tuple[dict, dict[str, pl.DataFrame]]:
    """The current release's manifest and each table's rows, read from the files the manifest pins."""
    manifest = current_release(places, cycle)
    if manifest is None:
        raise LoadError(f"cycle {cycle} has no published release in {places.warehouse}; run `pekppp run` first")
    frames = {}
    for name in OUTPUT_TABLES:
        if name not in manifest["tables"]:
            continue  # a release published before the table existed (compliance_scores, issue 20)
        path = places.warehouse / manifest["tables"][name]["file"]
        try:
            frame = pl.read_parquet(path)
        except OSError as err:
            raise LoadError(f"cannot read {path} of release {manifest['release_id']}: {err}") from err
        frames[name] = frame.drop("cycle", strict=False).with_columns(pl.lit(cycle).alias("cycle"))
    return manifest, frames


def manifest_sha256(places: Places, cycle: str, release_id: str) -> str:
    path = manifest_path(places, cycle, release_id)
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else ""


def _ensure_tables(cursor: Any) -> None:
    cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    record = ("release_id text NOT NULL, manifest_sha256 text NOT NULL, loaded_at timestamptz NOT NULL, "
              "rows jsonb NOT NULL")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{LOADS} (cycle text PRIMARY KEY, {record})")
    cursor.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{LOAD_HISTORY} (cycle text NOT NULL, {record})")
    for name, spec in OUTPUT_TABLES.items():
        columns = table_columns(spec)
        body = ", ".join(f"{quoted(c)} {t}" for c, t in columns)
        cursor.execute(f"CREATE TABLE IF NOT EXISTS {SCHEMA}.{quoted(name)} ({body})")
        for column, type_ in columns:  # a later schema version's new columns; old cycles get nulls
            cursor.execute(f"ALTER TABLE {SCHEMA}.{quoted(name)} ADD COLUMN IF NOT EXISTS {quoted(column)} {type_}")
        cursor.execute(f"CREATE INDEX IF NOT EXISTS {quoted(name + '_cycle')} ON {SCHEMA}.{quoted(name)} (cycle)")


def _copy(cursor: Any, name: str, frame: pl.DataFrame) -> None:
    """COPY one table's rows: CSV written by Polars (null unquoted, empty text quoted, as PostgreSQL reads it)."""
    columns = [c for c, _ in table_columns(OUTPUT_TABLES[name])]
    frame = frame.rename({k: v for k, v in SQL_NAMES.items() if k in frame.columns})
    optional = {sql_name(c.name) for c in OUTPUT_TABLES[name].columns if c.only_with}
    frame = frame.with_columns(pl.lit(None).alias(c) for c in optional if c not in frame.columns)  # e.g. no F-03
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise LoadError(f"{name}: the release's file lacks column(s) {', '.join(missing)}")
    buffer = io.BytesIO()
    frame.select(columns).write_csv(buffer, include_header=False, datetime_format="%Y-%m-%dT%H:%M:%S%.f%z")
    target = f"{SCHEMA}.{quoted(name)} ({', '.join(quoted(c) for c in columns)})"
    with cursor.copy(f"COPY {target} FROM STDIN WITH (FORMAT csv)") as copy:
        copy.write(buffer.getbuffer())


def load_release(places: Places, cycle: str, dsn: str) -> LoadResult:
    """Load the cycle's current release in one transaction; a no-op when that release is already loaded."""
    import psycopg

    started = time.perf_counter()
    manifest, frames = release_frames(places, cycle)
    release_id = str(manifest["release_id"])
    rows = {name: frame.height for name, frame in frames.items()}
    try:
        with psycopg.connect(dsn, connect_timeout=30) as connection, connection.cursor() as cursor:
            # One loader per cycle at a time; a second waits here, then sees the first one's record.
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"pekppp-load:{cycle}",))
            _ensure_tables(cursor)
            cursor.execute(f"SELECT release_id FROM {SCHEMA}.{LOADS} WHERE cycle = %s", (cycle,))
            loaded = cursor.fetchone()
            if loaded and loaded[0] == release_id:
                connection.commit()  # the DDL above, if any; no row changed
                return LoadResult(cycle, release_id, False, rows, time.perf_counter() - started)
            for name, frame in frames.items():
                cursor.execute(f"DELETE FROM {SCHEMA}.{quoted(name)} WHERE cycle = %s", (cycle,))
                _copy(cursor, name, frame)
            record = (cycle, release_id, manifest_sha256(places, cycle, release_id), datetime.now(UTC),
                      json.dumps(rows))
            cursor.execute(f"INSERT INTO {SCHEMA}.{LOADS} VALUES (%s, %s, %s, %s, %s) ON CONFLICT (cycle) DO UPDATE "
                           "SET release_id = excluded.release_id, manifest_sha256 = excluded.manifest_sha256, "
                           "loaded_at = excluded.loaded_at, rows = excluded.rows", record)
            cursor.execute(f"INSERT INTO {SCHEMA}.{LOAD_HISTORY} VALUES (%s, %s, %s, %s, %s)", record)
            connection.commit()
    except psycopg.Error as err:
        raise LoadError(f"loading release {release_id} of cycle {cycle} into PostgreSQL failed, nothing changed "
                        f"there: {' '.join(str(err).split())}") from err
    return LoadResult(cycle, release_id, True, rows, time.perf_counter() - started)


def configured_dsn(dsn: str | None = None) -> str | None:
    """The PostgreSQL to feed after each publish: the argument, else PEKPPP_WAREHOUSE_DSN, else none."""
    return dsn or setting(DSN_ENV) or None


def describe(result: LoadResult, dsn: str) -> str:
    where = re.sub(r"://([^:@/]+):[^@/]*@", r"://\1:***@", dsn)  # never print a password
    if not result.loaded:
        return f"cycle {result.cycle}: release {result.release_id} is already loaded in {where}; nothing changed"
    total = sum(result.rows.values())
    return (f"cycle {result.cycle}: release {result.release_id} loaded into {where} (schema {SCHEMA}), "
            f"{total:,} rows in {len(result.rows)} tables, {result.seconds:.1f} s")

