"""The submissions ledger: every bundle ever received, its status, and where its kept rows are.

One Parquet file per cycle under `<warehouse>/_ledger/`, replaced atomically, so a crash mid-ingest
leaves the previous, consistent ledger. A bundle's accepted rows and issues are stored beside it
before its ledger row is written: a ledger row always points at complete files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from flows.settings import Places
from flows.storage import crash_point, write_frame
from transforms.cycle import UNIT_TOTALS_VERSION, UnitTotals, unit_totals
from transforms.schemas import ISSUE_SCHEMA
from transforms.submissions import resolve_superseded
from transforms.unit_scores import UNIT_KEY

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

TOTALS_SOURCES = ("evaluations", "skm_responses")
"""The kept tables a submission's per-unit sums are computed from."""
STAMP = "source_stamp"


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
        crash_point("ingest:recorded")
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
        """The stored issues of these (submission id, region code) pairs, with both columns, in that order.

        One scan over all the files (a national cycle has ~550); files of another layout are read one
        by one instead.
        """
        located = []
        for sid, region in submissions:
            path = self.issues_path(sid, region)
            if not path.exists():
                path = self.root / "issues" / f"{sid}.parquet"  # warehouses written before issues were per region
            if path.exists():
                located.append((str(path), sid, region))
        if not located:
            return pl.DataFrame(schema={**ISSUE_SCHEMA, "submission_id": pl.String, "region_code": pl.String})
        owners = pl.DataFrame(located, schema=["_path", "submission_id", "region_code"], orient="row")
        paths = list(dict.fromkeys(p for p, _, _ in located))  # an old-layout file can serve two regions
        try:
            scanned = pl.scan_parquet(paths, include_file_paths="_path").collect()
        except pl.exceptions.PolarsError:  # files whose columns differ (older writers): one at a time
            scanned = pl.concat([pl.read_parquet(p).with_columns(_path=pl.lit(p)) for p in paths],
                                how="vertical_relaxed")
        # each pair in turn, its file's rows in file order
        return (owners.join(scanned, on="_path", how="inner", maintain_order="left_right")
                .select(*(c for c in scanned.columns if c != "_path"), "submission_id", "region_code"))

    def accepted_table(self, submission_ids: list[str], table: str, schema: pl.Schema) -> pl.LazyFrame:
        """The kept rows of one table over the given submissions, lazily; empty when none has it."""
        paths = [self.accepted_dir(s) / f"{table}.parquet" for s in submission_ids]
        paths = [p for p in paths if p.exists()]
        if not paths:
            return pl.LazyFrame(schema=schema)
        return pl.scan_parquet(paths, missing_columns="insert", extra_columns="ignore").select(list(schema))

    def totals_path(self, element_codes: Sequence[str]) -> Path:
        """The cycle's kept per-unit sums: one file per totals version and list of survey elements."""
        elements = hashlib.sha256("\x1f".join(element_codes).encode()).hexdigest()[:12]
        return self.root / f"totals-v{UNIT_TOTALS_VERSION}-{elements}.parquet"

    def stamps(self, submission_ids: list[str]) -> pl.DataFrame:
        """Which kept rows each submission's sums come from: inode, size and mtime of its kept tables.

        Kept tables are only ever replaced by a rename (`write_frame`), which changes all three; so a
        rerun that keeps a submission's rows again gets its sums computed again.
        """
        def stamp(sid: str) -> str:
            parts = []
            for table in TOTALS_SOURCES:
                path = self.accepted_dir(sid) / f"{table}.parquet"
                info = path.stat() if path.exists() else None
                parts.append(f"{info.st_ino}:{info.st_size}:{info.st_mtime_ns}" if info else "-")
            return "|".join(parts)

        return pl.DataFrame({"submission_id": submission_ids, STAMP: [stamp(s) for s in submission_ids]},
                            schema={"submission_id": pl.String, STAMP: pl.String})

    def unit_totals(self, submission_ids: list[str], schemas: dict[str, pl.Schema],
                    element_codes: Sequence[str], *, keep: bool = True) -> UnitTotals:
        """The per-unit sums of these submissions' kept evaluation and survey rows.

        Kept for the cycle in one file (`totals_path`) with each submission's stamp (`stamps`): the
        sums of submissions not in it, or kept from other rows, are computed from their rows (in one
        pass) and the file is written again; a run with one new bundle aggregates that bundle alone.
        `schemas` are the kept tables' schemas; with `keep=False` (reports) nothing is written.
        """
        path = self.totals_path(element_codes)
        stamps = self.stamps(submission_ids)
        stored = pl.read_parquet(path) if path.exists() else None
        kept = None
        if stored is not None:  # part 2 holds one row per submission, with its stamp
            valid = stored.filter(pl.col("_part") == 2).join(stamps, on=["submission_id", STAMP], how="semi")
            kept = stored.filter(pl.col("submission_id").is_in(valid["submission_id"].implode()))
        have = set() if kept is None else set(kept["submission_id"].unique().to_list())
        missing = [sid for sid in submission_ids if sid not in have]
        frames = [] if kept is None else [kept]
        if missing:
            by = ["submission_id"]
            sums = unit_totals(self.accepted_table(missing, "evaluations", schemas["evaluations"]),
                               self.accepted_table(missing, "skm_responses", schemas["skm_responses"]),
                               element_codes, by)
            unit_level = sums.evaluators.join(sums.elements, on=[*by, *UNIT_KEY], how="full", coalesce=True)
            indicators, units = pl.collect_all([sums.indicators, unit_level])
            done = stamps.filter(pl.col("submission_id").is_in(missing))
            fresh = pl.concat([indicators.with_columns(_part=pl.lit(0, pl.Int8)),
                               units.with_columns(_part=pl.lit(1, pl.Int8)),
                               done.with_columns(_part=pl.lit(2, pl.Int8))], how="diagonal")
            frames.append(fresh.sort("submission_id", "_part", *UNIT_KEY, "indicator_code", nulls_last=True))
        frame = pl.concat(frames, how="diagonal_relaxed") if frames else None
        if keep and frame is not None and (missing or stored is None or kept is None or kept.height != stored.height):
            # both parts are in (submission, part, unit, indicator) order: a stable sort by submission
            # merges them into the same file whatever order the submissions arrived in
            frame = frame.sort("submission_id", maintain_order=True)
            write_frame(frame, path)  # only the submissions asked for: superseded ones' sums go
        if frame is None:
            return unit_totals(pl.LazyFrame(schema=schemas["evaluations"]),
                               pl.LazyFrame(schema=schemas["skm_responses"]), element_codes)
        lazy = frame.lazy()
        return UnitTotals(
            indicators=lazy.filter(pl.col("_part") == 0).select(*UNIT_KEY, "indicator_code", "score_sum",
                                                                 "n_scores"),
            evaluators=lazy.filter((pl.col("_part") == 1) & pl.col("n_evaluators").is_not_null())
            .select(*UNIT_KEY, "n_evaluators"),
            elements=lazy.filter((pl.col("_part") == 1) & pl.col("n_respondents").is_not_null())
            .select(*UNIT_KEY, "n_respondents", *(f"{e}__{k}" for k in ("sum", "n") for e in element_codes)),
        )

    def known_by_stat(self) -> dict[tuple[str, int, int], str]:
        """(landing path, size, mtime) → submission id, so unchanged bundles are not hashed again."""
        entries = self.load()
        return {(r["landing_path"], r["size"], r["mtime_ns"]): r["submission_id"]
                for r in entries.select("landing_path", "size", "mtime_ns", "submission_id").iter_rows(named=True)}
