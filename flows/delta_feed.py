"""Every release also as Delta Lake tables: one commit per table and release, history and time travel.

`<warehouse>/_delta/<table>/` (or `PEKPPP_DELTA_URI`/<table>, e.g. `s3://bucket/pekppp`, with
`PEKPPP_DELTA_STORAGE_OPTIONS` as JSON for the object store's credentials) holds each output table,
partitioned by `cycle` (text). Publishing a release replaces the cycle's partition in one Delta commit
per table (`mode=overwrite` with a predicate on the cycle), and the commit carries the release id, the
manifest's hash and the schema version in its metadata, so the table's history is the releases'
history and any past release is readable by its version (`read_as_of`). Delta Lake needs no rename
or symlink that readers depend on: the same tables can live on an object store.

Writing is idempotent: a table whose newest commit for the cycle already carries the release is left
alone, so a run killed half-way is completed by the next one.

Types: decimals by definition (IPP, scores, IKM, NRR) are Delta DECIMALs, JSON stays a string (Delta
has no JSON type), columns named after SQL keywords take plain names as in PostgreSQL.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from flows.settings import Places, setting
from flows.storage import WarehouseError
from flows.warehouse_load import SQL_NAMES, decimals_of, manifest_sha256, release_frames
from transforms.schemas import OUTPUT_TABLES

DELTA_URI_ENV = "PEKPPP_DELTA_URI"
DELTA_OPTIONS_ENV = "PEKPPP_DELTA_STORAGE_OPTIONS"
DELTA_OFF = "off"
RELEASE_KEY = "pekppp.release_id"
CYCLE_KEY = "pekppp.cycle"


class DeltaFeedError(WarehouseError):
    """The Delta tables cannot be written or read; one line."""


@dataclass(frozen=True)
class DeltaCommit:
    table: str
    version: int | None
    """The table's version holding the release (None: the release was already there)."""


def delta_root(places: Places) -> str | None:
    """Where the Delta tables live, or None when the feed is switched off (PEKPPP_DELTA_URI=off)."""
    configured = setting(DELTA_URI_ENV)
    if configured.lower() == DELTA_OFF:
        return None
    return (configured or str(places.delta)).rstrip("/")


def storage_options() -> dict[str, str] | None:
    raw = setting(DELTA_OPTIONS_ENV)
    if not raw:
        return None
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as err:
        raise DeltaFeedError(f"{DELTA_OPTIONS_ENV} is not JSON ({err.msg})") from None
    if not isinstance(options, dict):
        raise DeltaFeedError(f"{DELTA_OPTIONS_ENV} must be a JSON object of strings")
    return {str(k): str(v) for k, v in options.items()}


def delta_arrow(frame: pl.DataFrame, table_name: str = "") -> pa.Table:
    """A release's rows as Delta keeps them: `cycle` first, decimals as DECIMAL, SQL-safe names."""
    frame = frame.select("cycle", *[c for c in frame.columns if c != "cycle"])
    table = frame.rename({k: v for k, v in SQL_NAMES.items() if k in frame.columns}).to_arrow()
    for name, sql in decimals_of(table_name).items():
        if name not in table.column_names:
            continue
        precision, scale = (int(x) for x in sql[sql.index("(") + 1:-1].split(","))
        column = table.column(name)
        decimal = pc.cast(column, pa.decimal128(precision, scale), safe=False)
        drift = pc.max(pc.abs(pc.subtract(pc.cast(decimal, pa.float64()), column))).as_py()
        if drift is not None and drift > 1e-9:  # a value the cast would change, not a published 2-decimal one
            raise DeltaFeedError(f"column {name} holds values that are not {scale}-decimal numbers")
        table = table.set_column(table.column_names.index(name), name, decimal)
    return table.cast(pa.schema([pa.field(f.name, pa.string() if pa.types.is_large_string(f.type)
                                          or pa.types.is_string_view(f.type) else f.type) for f in table.schema]))


def _table(uri: str) -> Any | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(uri, storage_options=storage_options())
    except TableNotFoundError:
        return None


def release_versions(uri: str, cycle: str) -> dict[str, int]:
    """Release id -> the table version that holds it, for one cycle (from the commits' metadata)."""
    table = _table(uri)
    if table is None:
        return {}
    return {c[RELEASE_KEY]: int(c["version"]) for c in reversed(table.history())
            if c.get(CYCLE_KEY) == cycle and RELEASE_KEY in c}


def latest_release(uri: str, cycle: str) -> str | None:
    table = _table(uri)
    if table is None:
        return None
    for commit in table.history():  # newest first
        if commit.get(CYCLE_KEY) == cycle:
            return commit.get(RELEASE_KEY)
    return None


def write_release(places: Places, cycle: str) -> list[DeltaCommit]:
    """Commit the cycle's current release to every Delta table that does not hold it yet."""
    from deltalake import CommitProperties, write_deltalake

    root = delta_root(places)
    if root is None:
        return []
    manifest, frames = release_frames(places, cycle)
    release_id = str(manifest["release_id"])
    commits = []
    for name, frame in frames.items():
        uri = f"{root}/{name}"
        if latest_release(uri, cycle) == release_id:
            commits.append(DeltaCommit(name, None))
            continue
        metadata = {RELEASE_KEY: release_id, CYCLE_KEY: cycle,
                    "pekppp.manifest_sha256": manifest_sha256(places, cycle, release_id),
                    "pekppp.schema_version": str(OUTPUT_TABLES[name].version)}
        try:
            write_deltalake(uri, delta_arrow(frame, name), mode="overwrite", predicate=f"cycle = '{cycle}'",
                            partition_by=["cycle"], schema_mode="merge", storage_options=storage_options(),
                            commit_properties=CommitProperties(custom_metadata=metadata))
        except (OSError, Exception) as err:  # delta-rs raises its own errors for I/O and schema problems
            if isinstance(err, DeltaFeedError):
                raise
            raise DeltaFeedError(f"cannot commit release {release_id} to Delta table {uri}: "
                                 f"{' '.join(str(err).split())[:300]}") from err
        commits.append(DeltaCommit(name, int(_table(uri).version())))  # type: ignore[union-attr]
    return commits


def read_as_of(places: Places, table: str, cycle: str, release_id: str | None = None) -> pl.DataFrame:
    """One cycle of a table as a given release published it (default: the newest in the Delta table)."""
    from deltalake import DeltaTable

    root = delta_root(places)
    if root is None:
        raise DeltaFeedError(f"the Delta feed is off ({DELTA_URI_ENV}=off)")
    if table not in OUTPUT_TABLES:
        raise DeltaFeedError(f"no table {table!r}; tables: {', '.join(OUTPUT_TABLES)}")
    uri = f"{root}/{table}"
    versions = release_versions(uri, cycle)
    if not versions:
        raise DeltaFeedError(f"Delta table {uri} holds no release of cycle {cycle}")
    if release_id is None:
        release_id = latest_release(uri, cycle)
    if release_id not in versions:
        known = ", ".join(sorted(versions)) or "none"
        raise DeltaFeedError(f"release {release_id} of cycle {cycle} is not in {uri} (releases there: {known})")
    delta = DeltaTable(uri, version=versions[release_id], storage_options=storage_options())
    rows = delta.to_pyarrow_table(filters=[("cycle", "=", cycle)])
    return pl.from_arrow(rows)  # type: ignore[return-value]
