"""The Prefect flows: `nightly` (ingest what is new in every open cycle, publish) and `rerun_cycle`.

Thin orchestration: tasks read, call a transform or the validator, write. Deployments are declared
in prefect.yaml; without a server the same flows run on Prefect's embedded local mode.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from flows.ingest import IngestResult, LandedBundle, discover, ingest_bundle
from flows.ledger import Ledger
from flows.publish import Release, publish
from flows.readers import bundle_fingerprint
from flows.settings import Places, known_cycles, load_methodology
from transforms.methodology import Methodology, MethodologyError
from transforms.submissions import ACCEPTED, LATE, REJECTED


@dataclass
class CycleSummary:
    """What one run did to one cycle; printed by the CLI and attached to the run as an artifact."""

    cycle: str
    bundles_seen: int = 0
    bundles_new: int = 0
    accepted: int = 0
    rejected: int = 0
    late: int = 0
    regions: int = 0
    units: int = 0
    units_scored: int = 0
    national_ipp: float | None = None
    national_predicate: str | None = None
    release_id: str | None = None
    manifest: str | None = None
    rejections: list[dict[str, str]] = field(default_factory=list)


@task(name="discover-bundles", retries=2, retry_delay_seconds=2)
def discover_bundles(landing: Path, cycle: str) -> list[LandedBundle]:
    return discover(landing, cycle)


@task(name="ingest-bundle", retries=2, retry_delay_seconds=2, retry_condition_fn=None)
def ingest_task(bundle: LandedBundle, methodology: Methodology, places: Places,
                submission_id: str | None = None) -> IngestResult:
    return ingest_bundle(bundle, methodology, places, Ledger(places, methodology.cycle), submission_id)


@task(name="publish-cycle", retries=1, retry_delay_seconds=2)
def publish_task(places: Places, methodology: Methodology) -> Release:
    return publish(places, methodology)


def open_cycles() -> list[str]:
    """Cycles whose methodology says open: the nightly job's default work."""
    return [c for c in known_cycles() if load_methodology(c).is_open]


def new_bundles(bundles: list[LandedBundle], ledger: Ledger,
                methodology: Methodology) -> list[tuple[LandedBundle, str]]:
    """Bundles whose bytes the ledger has not seen, with their submission id.

    Unchanged bundles are recognised by path, size and mtime without re-hashing; anything else is
    hashed, and identical bytes already ledgered (same region) are a no-op.
    """
    by_stat = ledger.known_by_stat()
    entries = ledger.load()
    seen = set(zip(entries["region_code"].to_list(), entries["submission_id"].to_list(), strict=True))
    fresh = []
    for bundle in bundles:
        if (str(bundle.path), bundle.size, bundle.mtime_ns) in by_stat:
            continue
        submission_id, _ = bundle_fingerprint(bundle.path, methodology.limits)
        if (bundle.region_code, submission_id) not in seen:
            fresh.append((bundle, submission_id))
            seen.add((bundle.region_code, submission_id))
    return fresh


def summarise(summary: CycleSummary, results: list[IngestResult], release: Release | None) -> CycleSummary:
    for result in results:
        status = result.entry.status
        summary.accepted += status == ACCEPTED
        summary.rejected += status == REJECTED
        summary.late += status == LATE
        if status != ACCEPTED:
            summary.rejections.append({"region": result.entry.region_code, "bundle": result.entry.bundle,
                                       "status": status, "reason": result.entry.reason or ""})
    if release is not None:
        units = release.tables["unit_scores"]
        national = release.tables["national_scores"].row(0, named=True)
        summary.regions = units["region_code"].n_unique()
        summary.units = units.height
        summary.units_scored = units.filter(pl.col("status") == "scored").height
        summary.national_ipp = national["ipp"]
        summary.national_predicate = national["predicate"]
        summary.release_id = release.release_id
        summary.manifest = str(release.manifest)
    return summary


def run_markdown(summaries: list[CycleSummary], places: Places) -> str:
    lines = ["# pekppp run", "", f"Warehouse: `{places.warehouse}`", "",
             "| cycle | new bundles | accepted | rejected | late | units scored | national IPP | release |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summaries:
        ipp = f"{s.national_ipp:.2f} ({s.national_predicate})" if s.national_ipp is not None else "-"
        lines.append(f"| {s.cycle} | {s.bundles_new} | {s.accepted} | {s.rejected} | {s.late} | "
                     f"{s.units_scored}/{s.units} | {ipp} | {s.release_id or 'none (nothing new)'} |")
    rejected = [r | {"cycle": s.cycle} for s in summaries for r in s.rejections]
    if rejected:
        lines += ["", "## Not used", "", "| cycle | region | bundle | status | reason |", "|---|---|---|---|---|"]
        lines += [f"| {r['cycle']} | {r['region']} | {r['bundle']} | {r['status']} | {r['reason']} |"
                  for r in rejected]
    return "\n".join(lines)


def process_cycle(places: Places, cycle: str, *, rerun: bool = False) -> CycleSummary:
    """Ingest a cycle's new bundles (or re-read every kept one on a re-run) and publish when needed."""
    logger = get_run_logger()
    methodology = load_methodology(cycle)
    ledger = Ledger(places, cycle)
    summary = CycleSummary(cycle=cycle)
    if rerun:
        entries = ledger.load()
        if entries.is_empty():
            raise MethodologyError(f"cycle {cycle} has no stored submissions to re-run; run `pekppp run` first")
        work = [(LandedBundle(cycle, r["region_code"], Path(r["raw_path"]), r["size"], r["mtime_ns"]),
                 r["submission_id"]) for r in entries.iter_rows(named=True)]
        summary.bundles_seen = len(work)
    else:
        bundles = discover_bundles(places.landing, cycle)
        summary.bundles_seen = len(bundles)
        work = new_bundles(bundles, ledger, methodology)
    summary.bundles_new = len(work)
    logger.info("cycle %s: %d bundles, %d to ingest", cycle, summary.bundles_seen, len(work))
    results = []
    for done, (bundle, submission_id) in enumerate(work, start=1):
        results.append(ingest_task(bundle, methodology, places, submission_id))
        logger.info("cycle %s: ingested %d/%d (%s/%s: %s)", cycle, done, len(work), bundle.region_code,
                    bundle.name, results[-1].entry.status)
    if rerun:
        # A re-run reads the raw copies; the ledger keeps each bundle's original landing path and name.
        originals = {r["submission_id"]: r for r in ledger.load().iter_rows(named=True)}
        results = [replace(r, entry=replace(r.entry, landing_path=originals[r.entry.submission_id]["landing_path"],
                                            bundle=originals[r.entry.submission_id]["bundle"]))
                   for r in results]
    ledger.record([r.entry for r in results])
    release = None
    if results or rerun:
        release = publish_task(places, methodology)
        logger.info("cycle %s: published release %s", cycle, release.release_id)
    else:
        logger.info("cycle %s: nothing new, no new release", cycle)
    return summarise(summary, results, release)


@flow(name="nightly", log_prints=True)
def nightly(cycle: str | None = None, landing: str | None = None, warehouse: str | None = None) -> list[dict]:
    """Ingest new submissions of every open cycle (or of `cycle`), validate, score and publish."""
    places = Places.from_env(landing, warehouse)
    cycles = [cycle] if cycle else open_cycles()
    summaries = [process_cycle(places, c) for c in cycles]
    create_markdown_artifact(key="nightly-summary", markdown=run_markdown(summaries, places),
                             description="What the nightly run ingested and published")
    return [asdict(s) for s in summaries]


@flow(name="rerun-cycle", log_prints=True)
def rerun_cycle(cycle: str, landing: str | None = None, warehouse: str | None = None) -> list[dict]:
    """Recompute a past cycle from its kept raw bundles under its own methodology; publish a new release."""
    places = Places.from_env(landing, warehouse)
    summary = process_cycle(places, cycle, rerun=True)
    create_markdown_artifact(key="rerun-summary", markdown=run_markdown([summary], places),
                             description=f"Re-run of cycle {cycle}")
    return [asdict(summary)]
