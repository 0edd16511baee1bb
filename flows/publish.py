"""Publish a cycle: score its accepted submissions and make a new release visible all at once.

Layout of one cycle C in the warehouse:

    _store/C/<release_id>/<table>/part-<release_id>.parquet  a release's tables, written before anyone sees them
    _store/C/<release_id>/_manifest.json, _diff.parquet      its manifest and diff, staged beside them
    _store/C/current -> <release_id>                 THE pointer: renaming it publishes a release
    <table>/cycle=C/part-<release_id>.parquet         what readers scan: a real folder, the file a hard link
                                                      to the store's; exchanged whole for the next release
    _releases/C/<release_id>.json, .diff.parquet      manifests and diffs of published releases, never pruned
    _releases/C/current.json                          names the release readers see (mirrors the pointer)

One atomic rename of `_store/C/current` publishes the release (current_release_id, manifests, the
reports and feeds follow it). Then each table's folder `<table>/cycle=C` is exchanged in one atomic
step (`renameat2` RENAME_EXCHANGE) for a folder built beside the store with a hard link to the new
file: each table is at every instant wholly one release, and the tables of a cycle follow the pointer
within milliseconds; a reader wanting several tables of one release compares their `release_id` (as
the reports do) or reads the files the manifest pins. Real folders and files, so `**` globs and copies
of one table work. File names are unique per release, so a reader that listed a file and opens it
after a switch gets "not found" (and retries), never other bytes under that name. Nothing temporary is
ever made under `<table>/` (Polars and DuckDB globs match hidden names). Publishes of a cycle take a
lock, and each starts by finishing what a killed publish left: a release the pointer already shows
gets its table folders, manifest and current.json; half-written stores and stale temporary files are
removed. The stores of the newest RELEASES_KEPT
releases (and always the current one) stay, for readers that pinned a release by its manifest's
`file` paths; manifests stay forever.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import polars as pl
import pyarrow as pa

from flows.ledger import Ledger
from flows.robustness_store import release_robustness
from flows.settings import PROJECT_ROOT, Places, bodies_reference, methodology_path
from flows.storage import (
    WarehouseError,
    arrow_table,
    content_hash,
    crash_point,
    ensure_writable,
    exclusive_lock,
    os_reason,
    remove_temporaries,
    remove_tree,
    show_folder,
    switch_link,
    write_bytes_atomic,
    write_parquet,
    write_table,
)
from transforms.compliance import COMPLIANCE_ROW_SCHEMA
from transforms.cycle import CycleInputs, score_cycle
from transforms.methodology import Methodology, MethodologyError
from transforms.release_diff import RELEASE_DIFF, change_counts, unit_changes
from transforms.schemas import (
    EVALUATIONS,
    F03_RESPONSES,
    F03_TABLE,
    FEED_TABLES,
    ISSUE_SQL_NAMES,
    OMBUDSMAN_FEED,
    OUTPUT_TABLES,
    REQUIRED_TABLES,
    UNITS,
    TableSpec,
    present_columns,
    skm_spec,
)
from transforms.submissions import ACCEPTED
from transforms.unit_scores import STATUS_SCORED

PARTITION_KEY = "cycle"
RELEASES_KEPT = 3
LOCK_TIMEOUT_S = 600.0
POINTER = "current"
STAGED_MANIFEST = "_manifest.json"
STAGED_DIFF = "_diff.parquet"
STAGING = ".staging"
RETIRED = ".retired"
"""Under _store/C: the table folders the last switch swapped out, kept until the next switch (see show_folder)."""
LOCK = ".publish.lock"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Release:
    """A published release: what it holds and, when it replaced an earlier one, what changed for units."""

    release_id: str
    cycle: str
    manifest: Path
    row_counts: dict[str, int]
    content_hashes: dict[str, str]
    tables: dict[str, pl.DataFrame]
    diff_against: str | None = None
    changes: dict[str, int] | None = None
    diff: pl.DataFrame | None = None
    diff_path: Path | None = None


def code_version() -> str:
    """The git commit of the code (`+dirty` with uncommitted changes) when available, else the package version."""
    if (PROJECT_ROOT / ".git").exists():  # never the commit of some repository a wheel happens to sit in
        try:
            def git(*args: str) -> str:
                return subprocess.run(["git", "-C", str(PROJECT_ROOT), *args], capture_output=True, text=True,
                                      timeout=10, check=True).stdout.strip()

            commit = git("rev-parse", "--short=12", "HEAD")
            if commit:
                return f"git:{commit}" + ("+dirty" if git("status", "--porcelain", "--untracked-files=no") else "")
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return f"pekppp=={version('pekppp')}"
    except PackageNotFoundError:
        return "unknown"


def input_schemas(methodology: Methodology) -> dict[str, pl.Schema]:
    """The kept tables' schemas: the declared input columns plus region_code and submission_id."""
    owner = {"region_code": pl.String, "submission_id": pl.String}
    survey = skm_spec(methodology.survey.element_codes)
    return {
        "units": pl.Schema({**UNITS.polars_schema, **owner}),
        "evaluations": pl.Schema({**EVALUATIONS.polars_schema, **owner}),
        "skm_responses": pl.Schema({**survey.polars_schema, **owner}),
        F03_TABLE: pl.Schema({**F03_RESPONSES.polars_schema, **owner}),
    }


def cycle_inputs(places: Places, methodology: Methodology, submission_ids: list[str],
                 previous_ids: list[str] | None = None, previous_cycle: str | None = None,
                 feed_ids: list[str] | None = None) -> CycleInputs:
    """Lazy frames over the kept rows of the submissions that count, with their kept per-unit sums.

    Scoring reads the sums (see `Ledger.unit_totals`), not the evaluation and survey rows again.
    `feed_ids` are the Ombudsman feed's submissions that count (their `compliance` rows).
    """
    ledger = Ledger(places, methodology.cycle)
    schemas = input_schemas(methodology)
    elements = methodology.survey.element_codes
    previous = previous_f03 = f03 = None
    if previous_cycle and previous_ids:  # read, never written: that cycle's ledger is its own run's
        previous = Ledger(places, previous_cycle).accepted_table(previous_ids, "evaluations", schemas["evaluations"])
        if methodology.f03_enabled:  # kept only where that cycle blended F-03 too (else empty: no answers)
            previous_f03 = Ledger(places, previous_cycle).accepted_table(previous_ids, F03_TABLE, schemas[F03_TABLE])
    if methodology.f03_enabled:  # F-03 rows are read only when the cycle blends them
        f03 = ledger.accepted_table(submission_ids, F03_TABLE, schemas[F03_TABLE])
    return CycleInputs(
        units=ledger.accepted_table(submission_ids, "units", schemas["units"]),
        evaluations=ledger.accepted_table(submission_ids, "evaluations", schemas["evaluations"]),
        responses=ledger.accepted_table(submission_ids, "skm_responses", schemas["skm_responses"]),
        regions=bodies_reference().lazy(),
        previous_evaluations=previous,
        totals=ledger.unit_totals(submission_ids, schemas, elements),
        f03_responses=f03,
        previous_f03_responses=previous_f03,
        compliance=ledger.accepted_table(feed_ids, "compliance", COMPLIANCE_ROW_SCHEMA) if feed_ids else None,
    )


def previous_cycle_of(places: Places, cycle: str) -> tuple[str | None, list[str]]:
    """The cycle before this one (by year) and its submissions that counted, if it has a ledger."""
    if not cycle.isdigit():
        return None, []
    previous = str(int(cycle) - 1)
    entries = Ledger(places, previous).load()
    bodies = entries.filter((pl.col("status") == ACCEPTED) & (pl.col("region_code") != OMBUDSMAN_FEED))
    return previous, bodies["submission_id"].to_list()


def release_tables(places: Places, methodology: Methodology, entries: pl.DataFrame,
                   release_id: str) -> dict[str, pl.DataFrame]:
    """Every output table of the cycle for this release, conformed to the declared schemas."""
    ledger = Ledger(places, methodology.cycle)
    accepted = entries.filter(pl.col("status") == ACCEPTED)
    used = accepted.filter(pl.col("region_code") != OMBUDSMAN_FEED)["submission_id"].to_list()
    feed_ids = accepted.filter(pl.col("region_code") == OMBUDSMAN_FEED)["submission_id"].to_list()
    previous_cycle, previous_ids = previous_cycle_of(places, methodology.cycle)
    inputs = cycle_inputs(places, methodology, used, previous_ids, previous_cycle, feed_ids)
    scored = score_cycle(inputs, methodology)
    schemas = input_schemas(methodology)
    scored.update(release_robustness(  # issue 23, kept per submission and reused when unchanged (issue 24)
        ledger, methodology, used, lambda ids: (
            ledger.accepted_table(ids, "evaluations", schemas["evaluations"]),
            ledger.accepted_table(ids, "skm_responses", schemas["skm_responses"]),
            ledger.accepted_table(ids, F03_TABLE, schemas[F03_TABLE]) if methodology.f03_enabled else None),
        scored))
    pairs = entries.select("submission_id", "region_code").unique(maintain_order=True)
    issues = ledger.issues(list(pairs.iter_rows()))
    tables = {
        **scored,
        "submissions": entries.select("cycle", "region_code", "submission_id", "bundle", "received_at", "status",
                                      "reason", "superseded_by", "n_issues"),
        "validation_issues": issues.with_columns(cycle=pl.lit(methodology.cycle))
        .sort(["region_code", "submission_id", "table", "row", "column", "rule"], nulls_last=True)
        .rename(ISSUE_SQL_NAMES),
    }
    return {name: frame.with_columns(release_id=pl.lit(release_id)) for name, frame in tables.items()}


def new_release_id(cycle: str, now: datetime) -> str:
    return f"{cycle}-{now:%Y%m%dT%H%M%S%fZ}"


def part_name(release_id: str) -> str:
    """A table file's name: unique per release, so a path a reader listed never names other bytes later
    (a reader racing a switch gets "file not found" and retries, never another release's bytes)."""
    return f"part-{release_id}.parquet"


def store_root(places: Places, cycle: str) -> Path:
    return places.store(cycle)


def table_link(places: Places, table: str, cycle: str) -> Path:
    """The folder readers scan for one table and cycle: `<warehouse>/<table>/cycle=<C>` (a real folder)."""
    return places.table_folder(table, cycle)


def manifest_path(places: Places, cycle: str, release_id: str) -> Path:
    return places.releases / cycle / f"{release_id}.json"


def diff_path(places: Places, cycle: str, release_id: str) -> Path:
    return places.releases / cycle / f"{release_id}.diff.parquet"


def release_dirs(places: Places, cycle: str) -> list[Path]:
    """The cycle's release stores, oldest first (release ids sort by time)."""
    root = store_root(places, cycle)
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.startswith(f"{cycle}-") and p.is_dir() and not p.is_symlink())


def current_release_id(places: Places, cycle: str) -> str | None:
    """The release readers see: the pointer's target (current.json in a warehouse from before the pointer)."""
    pointer = store_root(places, cycle) / POINTER
    if pointer.is_symlink():
        return Path(os.readlink(pointer)).name
    recorded = places.releases / cycle / "current.json"
    if recorded.exists():
        return str(json.loads(recorded.read_text())["release_id"])
    return None


def release_manifest(places: Places, cycle: str, release_id: str) -> dict | None:
    """A release's manifest: recorded under _releases/, or still staged beside its tables."""
    for path in (manifest_path(places, cycle, release_id), store_root(places, cycle) / release_id / STAGED_MANIFEST):
        if path.exists():
            return json.loads(path.read_text())
    return None


def current_release(places: Places, cycle: str) -> dict | None:
    """The manifest of the release readers currently see, or None before the first publish."""
    release_id = current_release_id(places, cycle)
    return release_manifest(places, cycle, release_id) if release_id else None


def table_content_hash(frame: pl.DataFrame, spec: TableSpec) -> str:
    """The hash a manifest records for a table: its declared columns but `cycle` (the folder) and
    `release_id`, in declared order and types. Any reader can recompute it from what it read."""
    kept = [c for c in present_columns(frame.columns, spec) if c.name not in (PARTITION_KEY, "release_id")]
    return content_hash(frame.select([pl.col(c.name).cast(c.dtype) for c in kept]))


def methodology_file(methodology: Methodology) -> Path:
    """The file the methodology was read from, still there and unchanged; else MethodologyError."""
    source = Path(methodology.source) if methodology.source else None
    path = source if source is not None and source.is_file() else methodology_path(methodology.cycle)
    if methodology.sha256 and hashlib.sha256(path.read_bytes()).hexdigest() != methodology.sha256:
        raise MethodologyError(f"{path} changed while cycle {methodology.cycle} was being computed; re-run so "
                               "the release records the methodology it was computed with")
    return path


def stored_entries(places: Places, cycle: str) -> pl.DataFrame:
    """The cycle's ledger, when there is something to publish and every kept file it points at exists."""
    ledger = Ledger(places, cycle)
    entries = ledger.load()
    if entries.is_empty():
        raise WarehouseError(f"cycle {cycle} has no stored submissions ({ledger.path} is missing or empty): "
                             f"nothing to publish; put bundles under <landing>/{cycle}/<region>/ and run "
                             f"`pekppp run --cycle {cycle}`")
    accepted = entries.filter(pl.col("status") == ACCEPTED).select("submission_id", "region_code").rows()
    missing = [sid for sid, region in accepted
               if not all((ledger.accepted_dir(sid) / f"{t}.parquet").exists()
                          for t in (FEED_TABLES if region == OMBUDSMAN_FEED else REQUIRED_TABLES))]
    if missing:
        raise WarehouseError(f"cycle {cycle}: the kept rows of {len(missing)} accepted submission(s) are missing "
                             f"under {ledger.root / 'accepted'} (first: {missing[0]}); run `pekppp rerun --cycle "
                             f"{cycle}` to read them again from the raw copies")
    return entries


def release_diff(places: Places, cycle: str, previous_id: str | None, tables: dict[str, pa.Table],
                 release_id: str) -> pl.DataFrame | None:
    """Units that changed since the release readers see now; None when there is none to compare with."""
    if previous_id is None:
        return None
    previous = {t: sorted((store_root(places, cycle) / previous_id / t).glob("*.parquet"))
                for t in ("unit_scores", "award_roster", "region_scores")}
    if not all(previous.values()):
        log.warning("release %s of cycle %s has no stored tables left; no diff", previous_id, cycle)
        return None
    robust_before = sorted((store_root(places, cycle) / previous_id / "unit_robustness").glob("*.parquet"))
    # a release published before compliance_scores existed compares as having no verdicts
    compliance_before = sorted((store_root(places, cycle) / previous_id / "compliance_scores").glob("*.parquet"))
    return unit_changes(
        pl.scan_parquet(previous["unit_scores"]), pl.scan_parquet(previous["award_roster"]),
        pl.from_arrow(tables["unit_scores"]).lazy(), pl.from_arrow(tables["award_roster"]).lazy(),  # type: ignore[union-attr]
        release_id=release_id, previous_release_id=previous_id,
        previous_regions=pl.scan_parquet(previous["region_scores"]),
        regions=pl.from_arrow(tables["region_scores"]).lazy(),  # type: ignore[union-attr]
        previous_robustness=pl.scan_parquet(robust_before) if robust_before else None,
        robustness=pl.from_arrow(tables["unit_robustness"]).lazy() if "unit_robustness" in tables  # type: ignore[union-attr]
        else None,
        previous_compliance=pl.scan_parquet(compliance_before) if compliance_before else
        pl.from_arrow(tables["compliance_scores"]).lazy().head(0),  # type: ignore[union-attr]
        compliance=pl.from_arrow(tables["compliance_scores"]).lazy(),  # type: ignore[union-attr]
    ).collect()


def manifest_record(methodology: Methodology, source: Path, release_id: str, now: datetime, entries: pl.DataFrame,
                    counts: dict[str, int], hashes: dict[str, str], diff: pl.DataFrame | None,
                    diff_against: str | None) -> dict:
    """What produced a release: methodology, code, submissions used, per-table rows, hashes, schema versions."""
    used = entries.filter(pl.col("status") == ACCEPTED).sort("region_code")
    return {
        "release_id": release_id,
        "cycle": methodology.cycle,
        "created_at": now.isoformat(),
        "methodology": {"file": source.name, "sha256": methodology.sha256},
        "code_version": code_version(),
        "submissions_used": used.select("region_code", "submission_id", "bundle").to_dicts(),
        "tables": {
            name: {"rows": counts[name], "content_sha256": hashes[name], "schema_version": spec.version,
                   "path": f"{name}/{PARTITION_KEY}={methodology.cycle}",
                   "file": f"_store/{methodology.cycle}/{release_id}/{name}/{part_name(release_id)}"}
            for name, spec in OUTPUT_TABLES.items()
        },
        "inputs_sha256": hashlib.sha256(
            (methodology.sha256 + "".join(sorted(used["submission_id"].to_list()))).encode()).hexdigest(),
        "diff_against": diff_against if diff is not None else None,
        "changes": change_counts(diff) if diff is not None else None,
        "diff": f"{release_id}.diff.parquet" if diff is not None else None,
    }


def stage(store: Path, tables: dict[str, pa.Table], diff: pl.DataFrame | None, manifest: dict) -> None:
    """Write a release's tables, diff and manifest into its new store folder (made by the caller),
    which no reader sees yet."""
    for name, table in tables.items():
        write_table(table, store / name / part_name(store.name))
        crash_point(f"publish:staged:{name}")
    if diff is not None:
        write_parquet(diff, RELEASE_DIFF, store / STAGED_DIFF)
    write_bytes_atomic(store / STAGED_MANIFEST, json.dumps(manifest, indent=2, ensure_ascii=False).encode())


def link_tables(places: Places, cycle: str) -> None:
    """Show the pointer's release in every `<table>/cycle=C` folder (a no-op for folders that already do).

    Also turns the links of warehouses published before real folders (`<table>/cycle=C` -> the pointer)
    into folders, in the same atomic exchange.
    """
    root = store_root(places, cycle)
    release_id = current_release_id(places, cycle)
    if release_id is None or not (root / release_id).is_dir():
        return
    part = part_name(release_id)
    if (root / RETIRED).is_dir():  # the folders the previous switch swapped out: no reader lists them any more
        remove_tree(root / RETIRED)
    for name in OUTPUT_TABLES:
        if not (root / release_id / name / part).exists():
            continue  # a release published before the table existed (compliance_scores, issue 20) has none
        show_folder(table_link(places, name, cycle), {part: root / release_id / name / part}, root / STAGING,
                    retired=root / RETIRED)


def record(places: Places, cycle: str, release_id: str) -> Path:
    """Copy a published release's staged manifest (and diff) to _releases/C/ and name it in current.json."""
    store = store_root(places, cycle) / release_id
    manifest = manifest_path(places, cycle, release_id)
    if not manifest.exists() and (store / STAGED_MANIFEST).exists():
        write_bytes_atomic(manifest, (store / STAGED_MANIFEST).read_bytes())
    diff = diff_path(places, cycle, release_id)
    if not diff.exists() and (store / STAGED_DIFF).exists():
        write_bytes_atomic(diff, (store / STAGED_DIFF).read_bytes())
    pointer = places.releases / cycle / "current.json"
    wanted = {"release_id": release_id, "manifest": manifest.name}
    if not pointer.exists() or json.loads(pointer.read_text()) != wanted:
        write_bytes_atomic(pointer, json.dumps(wanted).encode())
    return manifest


def recover(places: Places, cycle: str) -> list[str]:
    """Finish or clear what a killed publish of the cycle left; call under the cycle's lock.

    Stale temporary files and links go; release stores that were never published (no manifest under
    _releases/ and not the pointer's target) go; a release the pointer already shows gets its links,
    manifest and current.json. Returns what was done, for the log.
    """
    root = store_root(places, cycle)
    done = []
    stale = remove_temporaries(root) + remove_temporaries(places.releases / cycle)
    stale += sum(remove_temporaries(places.warehouse / name, prefix=f".{PARTITION_KEY}={cycle}.")
                 for name in OUTPUT_TABLES)  # links the earlier one-link-per-table switch made in place
    if (root / STAGING).is_dir():
        remove_tree(root / STAGING)
    if stale:
        done.append(f"removed {stale} temporary file(s)")
    current = current_release_id(places, cycle)
    for release in release_dirs(places, cycle):
        if release.name != current and not manifest_path(places, cycle, release.name).exists():
            remove_tree(release)
            done.append(f"removed unpublished release {release.name}")
    if (root / POINTER).is_symlink() and current:
        link_tables(places, cycle)
        if not manifest_path(places, cycle, current).exists():
            done.append(f"recorded release {current}")
        record(places, cycle, current)
    for line in done:
        log.warning("cycle %s: %s (left by an interrupted publish)", cycle, line)
    return done


def release_gap(places: Places, cycle: str) -> str | None:
    """Why the release readers see does not cover the cycle's ledger, or None when it does.

    Covered means: the release uses exactly the submissions the ledger accepts (after superseding),
    and its `submissions` table lists as many bundles as the ledger holds. A ledger written by a run
    killed before its publish finished leaves such a gap; the next run closes it by publishing.
    """
    entries = Ledger(places, cycle).load()
    if entries.is_empty():
        return None
    accepted = set(entries.filter(pl.col("status") == ACCEPTED)["submission_id"].to_list())
    shown = current_release(places, cycle)
    if shown is None:
        return (f"the ledger holds {entries.height} bundle(s) ({len(accepted)} accepted) and no release of cycle "
                f"{cycle} shows them")
    used = {s["submission_id"] for s in shown.get("submissions_used", [])}
    missing, extra = sorted(accepted - used), sorted(used - accepted)
    if missing or extra:
        first = f"first missing: {missing[0]}" if missing else f"first no longer accepted: {extra[0]}"
        return (f"release {shown['release_id']} uses {len(used)} submission(s), the ledger accepts {len(accepted)} "
                f"({len(missing)} not in the release, {len(extra)} no longer accepted; {first})")
    listed = shown.get("tables", {}).get("submissions", {}).get("rows")
    if listed != entries.height:
        return (f"release {shown['release_id']} lists {listed} bundle(s) in `submissions`, the ledger holds "
                f"{entries.height}")
    return None


def reconcile(places: Places, cycle: str, *, lock_timeout: float = LOCK_TIMEOUT_S) -> tuple[list[str], str | None]:
    """Finish what a killed publish left (see `recover`), then say whether a repair publish is needed.

    Returns (what was finished, why the current release does not cover the ledger or None). Call
    under the cycle's lock; takes the publish lock itself.
    """
    root = store_root(places, cycle)
    if not root.is_dir() and Ledger(places, cycle).load().is_empty():
        return [], None
    try:
        with exclusive_lock(root / LOCK, timeout=lock_timeout, what=f"publishing cycle {cycle}"):
            done = recover(places, cycle)
    except OSError as err:
        raise WarehouseError(f"cannot check cycle {cycle}'s release in {places.warehouse}: {os_reason(err)}; "
                             f"readers still see {current_release_id(places, cycle) or 'no release of it'}") from err
    return done, release_gap(places, cycle)


def prune_stores(places: Places, cycle: str, keep: int) -> None:
    """Drop table files of old releases (manifests stay); the newest `keep` and the current one remain."""
    current = current_release_id(places, cycle)
    for old in release_dirs(places, cycle)[:-keep]:
        if old.name == current:
            continue
        crash_point(f"prune:{old.name}")
        try:
            remove_tree(old)
        except OSError as err:  # housekeeping: the release is published; the next publish tries again
            log.warning("could not remove old release %s: %s", old, os_reason(err))


class EmptyReleaseRefused(WarehouseError):
    """A release with no scored unit would replace one with scores; one line saying how to force it."""


def scored_units(frame: pl.DataFrame | pl.LazyFrame) -> int:
    return int(frame.lazy().filter(pl.col("status") == STATUS_SCORED).select(pl.len()).collect().item())


def refuse_empty(places: Places, cycle: str, shown: str | None, units: pl.DataFrame, entries: pl.DataFrame) -> None:
    """Refuse to replace a release holding scored units with one holding none (every bundle rejected, say)."""
    if shown is None or scored_units(units):
        return
    part = store_root(places, cycle) / shown / "unit_scores" / part_name(shown)
    before = scored_units(pl.scan_parquet(part)) if part.exists() else 0
    if before == 0:
        return
    accepted = entries.filter(pl.col("status") == ACCEPTED).height
    raise EmptyReleaseRefused(
        f"cycle {cycle}: the new release would hold no scored unit ({accepted} of {entries.height} bundle(s) "
        f"accepted) where release {shown} holds {before}; not published, readers still see {shown}. If that is "
        f"meant, publish it with `pekppp run --cycle {cycle} --allow-empty` (deployment parameter allow_empty)")


def publish(places: Places, methodology: Methodology, *, now: datetime | None = None,
            lock_timeout: float = LOCK_TIMEOUT_S, allow_empty: bool = False) -> Release:
    """Score the cycle from the ledger and publish all its tables as one new release.

    Fails with one line and the previous release intact: MethodologyError (methodology file gone or
    changed), SchemaViolation (a table not fitting its declared schema, found before anything is
    written), EmptyReleaseRefused (the new release would hold no scored unit where the current one
    holds some, unless `allow_empty`) or WarehouseError (nothing stored, warehouse not writable or
    full, cycle busy).
    """
    now = now or datetime.now(UTC)
    cycle = methodology.cycle
    source = methodology_file(methodology)
    ensure_writable(places.warehouse)
    entries = stored_entries(places, cycle)
    release_id = new_release_id(cycle, now)
    frames = release_tables(places, methodology, entries, release_id)
    tables = {name: arrow_table(frames[name], spec, drop=(PARTITION_KEY,)) for name, spec in OUTPUT_TABLES.items()}
    counts = {name: table.num_rows for name, table in tables.items()}
    hashes = {name: table_content_hash(pl.from_arrow(tables[name]), spec)  # type: ignore[arg-type]
              for name, spec in OUTPUT_TABLES.items()}
    root = store_root(places, cycle)
    store = root / release_id
    shown = current_release_id(places, cycle)
    published = False
    try:
        with exclusive_lock(root / LOCK, timeout=lock_timeout, what=f"publishing cycle {cycle}"):
            crash_point("publish:locked")
            recover(places, cycle)
            crash_point("publish:recovered")
            shown = current_release_id(places, cycle)
            if not allow_empty:
                refuse_empty(places, cycle, shown, frames["unit_scores"], entries)
            diff = release_diff(places, cycle, shown, tables, release_id)
            manifest = manifest_record(methodology, source, release_id, now, entries, counts, hashes, diff, shown)
            if store.exists():
                raise WarehouseError(f"release {release_id} of cycle {cycle} exists already; publish again later")
            store.mkdir(parents=True)
            try:
                stage(store, tables, diff, manifest)
                crash_point("publish:staged")
                switch_link(root / POINTER, store, root / STAGING)  # the moment of publication
            except BaseException:
                if current_release_id(places, cycle) != release_id:  # never published: leave nothing behind
                    with contextlib.suppress(OSError):
                        remove_tree(store)
                raise
            published = True
            crash_point("publish:switched")
            link_tables(places, cycle)
            crash_point("publish:linked")
            recorded = record(places, cycle, release_id)
            crash_point("publish:recorded")
            prune_stores(places, cycle, keep=RELEASES_KEPT)
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        if published:
            raise WarehouseError(f"release {release_id} of cycle {cycle} is published, but recording it failed: "
                                 f"{os_reason(err)}{where}; the next publish of the cycle finishes it") from err
        raise WarehouseError(f"cannot publish cycle {cycle} into {places.warehouse}: {os_reason(err)}{where}; "
                             f"readers still see {shown or 'no release of it (none published yet)'}") from err
    return Release(release_id, cycle, recorded, counts, hashes, frames,
                   diff_against=manifest["diff_against"], changes=manifest["changes"], diff=diff,
                   diff_path=diff_path(places, cycle, release_id) if diff is not None else None)
