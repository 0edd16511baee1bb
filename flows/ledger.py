"""The submissions ledger: every bundle ever received, its status, and where its kept rows are.

One Parquet file per cycle under `<warehouse>/_ledger/`, replaced atomically, so a crash mid-ingest
leaves the previous, consistent ledger. A bundle's accepted rows and issues are stored beside it
before its ledger row is written: a ledger row always points at complete files.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from flows.settings import Places
from flows.storage import write_frame
from transforms.schemas import ISSUE_SCHEMA
from transforms.submissions import resolve_superseded

LEDGER_SCHEMA = pl.Schema({
    "cycle": pl.String,
    "region_code": pl.String,
    "submission_id": pl.String,
    "bundle": pl.String,
    "landing_path": pl.String,
    "size": pl.Int64,
    "mtime_ns": pl.Int64,
    "received_at": pl.Datetime("us", "UTC"),
    "processed_at": pl.Datetime("us", "UTC"),
    "status": pl.String,
    "reason": pl.String,
    "superseded_by": pl.String,
    "n_issues": pl.Int64,
    "raw_path": pl.String,
})


@dataclass(frozen=True)
class Entry:
    """One bundle's ledger row, as the ingest of that bundle decided it."""

    cycle: str
    region_code: str
    submission_id: str
    bundle: str
    landing_path: str
    size: int
    mtime_ns: int
    received_at: datetime
    status: str
    reason: str | None
    n_issues: int
    raw_path: str

    def row(self) -> dict[str, object]:
        return {**self.__dict__, "processed_at": datetime.now(UTC), "superseded_by": None}


class Ledger:
    """Read and update one cycle's ledger and the per-submission files it points at."""

    def __init__(self, places: Places, cycle: str) -> None:
        self.places = places
        self.cycle = cycle
        self.root = places.ledger / cycle
        self.path = places.ledger / f"{cycle}.parquet"

    def load(self) -> pl.DataFrame:
        if not self.path.exists():
            return pl.DataFrame(schema=LEDGER_SCHEMA)
        return pl.read_parquet(self.path).cast(LEDGER_SCHEMA)  # type: ignore[arg-type]

    def save(self, entries: pl.DataFrame) -> None:
        write_frame(resolve_superseded(entries.cast(LEDGER_SCHEMA)), self.path)  # type: ignore[arg-type]

    def record(self, new_entries: list[Entry]) -> pl.DataFrame:
        """Add entries (replacing any for the same submission) and re-decide which bundles count."""
        current = self.load()
        if not new_entries:
            return current
        fresh = pl.DataFrame([e.row() for e in new_entries], schema=LEDGER_SCHEMA)
        ids = fresh.select("region_code", "submission_id")
        merged = pl.concat([current.join(ids, on=["region_code", "submission_id"], how="anti"), fresh])
        self.save(merged)
        return self.load()

    def accepted_dir(self, submission_id: str) -> Path:
        return self.root / "accepted" / submission_id

    def issues_path(self, submission_id: str, region_code: str) -> Path:
        """Issues are per region and submission: the same bytes sent for two regions get two verdicts."""
        return self.root / "issues" / region_code / f"{submission_id}.parquet"

    def keep_rows(self, submission_id: str, tables: dict[str, pl.DataFrame], issues: pl.DataFrame, *,
                  region_code: str) -> None:
        """Store a bundle's accepted rows per table and its issues (before its ledger row).

        Accepted rows are per submission alone: their units must belong to the bundle's region, so the
        same bytes can be accepted for one region only.
        """
        for name, frame in tables.items():
            write_frame(frame, self.accepted_dir(submission_id) / f"{name}.parquet")
        write_frame(issues.select(list(ISSUE_SCHEMA)), self.issues_path(submission_id, region_code))

    def issues(self, submissions: list[tuple[str, str]]) -> pl.DataFrame:
        """The stored issues of these (submission id, region code) pairs, with both columns."""
        frames = []
        for sid, region in submissions:
            path = self.issues_path(sid, region)
            if not path.exists():
                path = self.root / "issues" / f"{sid}.parquet"  # warehouses written before issues were per region
            if path.exists():
                frames.append(pl.read_parquet(path).with_columns(submission_id=pl.lit(sid), region_code=pl.lit(region)))
        if not frames:
            return pl.DataFrame(schema={**ISSUE_SCHEMA, "submission_id": pl.String, "region_code": pl.String})
        return pl.concat(frames, how="vertical_relaxed")

    def accepted_table(self, submission_ids: list[str], table: str, schema: pl.Schema) -> pl.LazyFrame:
        """The kept rows of one table over the given submissions, lazily; empty when none has it."""
        paths = [self.accepted_dir(s) / f"{table}.parquet" for s in submission_ids]
        paths = [p for p in paths if p.exists()]
        if not paths:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(paths, missing_columns="insert", extra_columns="ignore").select(list(schema))

    def known_by_stat(self) -> dict[tuple[str, int, int], str]:
        """(landing path, size, mtime) → submission id, so unchanged bundles are not hashed again."""
        entries = self.load()
        return {(r["landing_path"], r["size"], r["mtime_ns"]): r["submission_id"]
                for r in entries.select("landing_path", "size", "mtime_ns", "submission_id").iter_rows(named=True)}
