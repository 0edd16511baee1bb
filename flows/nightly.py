"""The Prefect flows: `nightly` (ingest what is new in every open cycle, publish) and `rerun_cycle`.

Thin orchestration: tasks read, call a transform or the validator, write. Deployments are declared
in prefect.yaml; without a server the same flows run on Prefect's embedded local mode.

Shape of a run: `nightly` (or `rerun-cycle`) runs one `process-cycle` subflow per cycle. The subflow
holds the cycle's lock (flows/locks.py), finds the work and ingests it in chunks of bundles on the
chosen task runner, one `ingest-chunk` task per chunk (flows/chunked_ingest.py: open, validate, keep;
the task runners and the retries of one bundle's I/O are there too). Then the subflow records the
ledger once in its own process and publishes when something changed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_link_artifact, create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Failed, State

from expectations.report import REPORT_HTML
from flows.chunked_ingest import (
    RETRY_DELAYS_SECONDS,
    artifact_key,
    ingest_all,
    is_io_failure,
    new_bundles,
    task_runner_for,
)
from flows.delta_feed import write_release
from flows.ingest import IngestResult, LandedBundle, discover, landing_strays, prepare_cycle
from flows.ledger import Ledger
from flows.locks import cycle_lock
from flows.operations import record_run
from flows.publish import Release, current_release, publish, reconcile
from flows.settings import Places, known_cycles, load_methodology
from flows.storage import WarehouseError, ensure_writable
from flows.warehouse_load import LoadError, configured_dsn, describe, load_release
from transforms.messages import one_line
from transforms.methodology import Methodology, MethodologyError
from transforms.submissions import ACCEPTED, LATE, REJECTED

PUBLISHED, NOTHING_NEW = "published", "nothing new"
CycleFailure = tuple[str, BaseException]


class EngineEcho(logging.Filter):
    """Keep Prefect's engine from printing a run's failure a second time, as a traceback.

    When a deployment's run fails, Prefect's engine logs "Engine execution exited with unexpected
    exception" with the traceback of re-raising the run's final state. That state was already logged:
    an error raised in the flow by "Encountered exception during execution" (with its traceback), and a
    Failed state this module returns on purpose (an operator's mistake) by its one-line message. The
    echo keeps its line and loses the traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == "Engine execution exited with unexpected exception" and record.exc_info:
            error = record.exc_info[1]
            record.msg, record.args = "Flow run failed: %s", (" ".join(str(error).split()),)
            record.exc_info, record.exc_text = None, None
        return True


logging.getLogger("prefect.flow_runs").addFilter(EngineEcho())


class IngestFailed(WarehouseError):
    """Some bundles failed to ingest (I/O after its retries, or a bug); nothing was published."""


@dataclass
class CycleSummary:
    """What one run did to one cycle; printed by the CLI and attached to the run as artifacts."""

    cycle: str
    rerun: bool = False
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
    outcome: str = NOTHING_NEW
    current_release: str | None = None
    """The release readers see after this run (the new one, or the earlier one when nothing changed)."""
    strays: list[dict[str, str]] = field(default_factory=list)
    """Landing entries not under a region folder (`entry`, `why`): never read, named so the office can act."""
    diff_against: str | None = None
    """The release the new one replaced; `changes` counts units added/removed/changed, `diff` is the file."""
    changes: dict[str, int] | None = None
    diff: str | None = None
    message: str = ""
    rejections: list[dict[str, Any]] = field(default_factory=list)
    warehouse_load: str | None = None
    """What loading the new release into PostgreSQL did (when PEKPPP_WAREHOUSE_DSN is set)."""


# ---------------------------------------------------------------- tasks


@task(name="discover-bundles", task_run_name="discover {cycle}", retries=2, retry_delay_seconds=RETRY_DELAYS_SECONDS,
      retry_condition_fn=is_io_failure, cache_policy=NO_CACHE)
def discover_bundles(landing: Path, cycle: str) -> list[LandedBundle]:
    return discover(landing, cycle)


@task(name="publish-cycle", task_run_name="publish {methodology.cycle}", retries=1,
      retry_delay_seconds=RETRY_DELAYS_SECONDS[:1], retry_condition_fn=is_io_failure, cache_policy=NO_CACHE)
def publish_task(places: Places, methodology: Methodology, allow_empty: bool = False) -> Release:
    return publish(places, methodology, allow_empty=allow_empty)


@task(name="delta-commit", task_run_name="delta {cycle}", cache_policy=NO_CACHE)
def delta_task(places: Places, cycle: str) -> int:
    """Commit the current release to the Delta tables that do not hold it yet; returns the commits made."""
    commits = [c for c in write_release(places, cycle) if c.version is not None]
    if commits:
        get_run_logger().info("cycle %s: release committed to %d Delta table(s)", cycle, len(commits))
    return len(commits)


@task(name="load-warehouse", task_run_name="load {cycle} into PostgreSQL", cache_policy=NO_CACHE)
def load_warehouse_task(places: Places, cycle: str, dsn: str) -> str:
    """Feed the new release to PostgreSQL; a failure fails the run (the release itself stays published)."""
    try:
        result = load_release(places, cycle, dsn)
    except LoadError as err:
        raise LoadError(f"{err}; the release is published, load it with `pekppp load-warehouse --cycle {cycle}`") \
            from err
    line = describe(result, dsn)
    get_run_logger().info("%s", line)
    return line


@task(name="write-reports", task_run_name="reports {cycle}", cache_policy=NO_CACHE)
def reports_task(places: Places, cycle: str) -> list[str]:
    """The cycle report, region cards and award rosters of the release just published.

    Reports follow the release; a failure here is logged and does not undo the publish.
    """
    from flows.reports import report_command
    from flows.rosters import export_rosters

    try:
        written = report_command(places, cycle)
        written += export_rosters(places, cycle, ("csv", "xlsx", "html"))  # the release read once for all three
    except Exception as err:  # the release stands; people get the pages on the next run or `pekppp report`
        get_run_logger().warning("cycle %s: reports not written (%s: %s)", cycle, type(err).__name__, err)
        return []
    return [str(p) for p in written]


# ---------------------------------------------------------------- what to do


def open_cycles() -> list[str]:
    """Cycles whose methodology says open: the nightly job's default work."""
    return [c for c in known_cycles() if load_methodology(c).is_open]


def landing_cycles(places: Places) -> list[str]:
    """Cycle folders present in the landing zone."""
    if not places.landing.is_dir():
        return []
    return sorted(p.name for p in places.landing.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def rerun_refusal(places: Places, cycle: str) -> str | None:
    """Why `cycle` cannot be re-run (nothing of it was ever ingested), with what to run instead."""
    if not Ledger(places, cycle).load().is_empty():
        return None
    return (f"cycle {cycle} has no stored submissions to re-run; ingest its bundles first: "
            f"prefect deployment run nightly/nightly --params '{{\"cycle\": \"{cycle}\"}}' "
            f"(without a server: pekppp run --cycle {cycle})")


def stored_bundles(ledger: Ledger) -> list[tuple[LandedBundle, str]]:
    """Every bundle a cycle ever received, as its kept raw copy: a re-run's work."""
    entries = ledger.load()
    if entries.is_empty():
        raise MethodologyError(f"cycle {ledger.cycle} has no stored submissions to re-run; run `pekppp run` first")
    return [(LandedBundle(ledger.cycle, r["region_code"], Path(r["raw_path"]), r["size"], r["mtime_ns"],
                          sent_as=r["bundle"]), r["submission_id"]) for r in entries.iter_rows(named=True)]


# ---------------------------------------------------------------- summaries and artifacts


def summarise(summary: CycleSummary, results: list[IngestResult], release: Release | None) -> CycleSummary:
    for result in results:
        status = result.entry.status
        summary.accepted += status == ACCEPTED
        summary.rejected += status == REJECTED
        summary.late += status == LATE
        if status != ACCEPTED:
            summary.rejections.append({"region": result.entry.region_code, "bundle": result.entry.bundle,
                                       "submission_id": result.entry.submission_id, "status": status,
                                       "reason": result.entry.reason or "",
                                       "n_issues": int(result.entry.n_issues)})
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
        summary.outcome = PUBLISHED
        summary.current_release = release.release_id
        summary.diff_against = release.diff_against
        summary.changes = release.changes
        summary.diff = str(release.diff_path) if release.diff_path else None
    summary.message = outcome_line(summary)
    return summary


def outcome_line(s: CycleSummary) -> str:
    """One line an operator can read at a glance: what came in, and whether a release was published."""
    if s.outcome == PUBLISHED:
        source = (f"re-read {s.bundles_new} stored bundle(s)" if s.rerun else
                  f"{s.bundles_new} new bundle(s) of {s.bundles_seen}")
        changed = (f" (vs {s.diff_against}: {s.changes['added']} units added, {s.changes['removed']} removed, "
                   f"{s.changes['changed']} changed)" if s.changes is not None else "")
        return (f"cycle {s.cycle}: {source} ({s.accepted} accepted, {s.rejected} rejected, {s.late} late); "
                f"published release {s.release_id}{changed}")
    readers = f"readers still see release {s.current_release}" if s.current_release else "no release exists yet"
    return (f"cycle {s.cycle}: nothing new ({s.bundles_seen} bundle(s) in the landing zone, all ingested before); "
            f"no release published; {readers}")


def file_link(path: Path) -> str:
    """A link an operator can open on the machine that holds the warehouse."""
    return path.resolve().as_uri()


def officer_report(places: Places, cycle: str, rejection: dict[str, Any]) -> Path:
    """The region officer's page of one bundle (written for every bundle the run kept)."""
    return places.reports / cycle / rejection["region"] / rejection["submission_id"] / REPORT_HTML


def cycle_markdown(kind: str, summary: CycleSummary | None, cycle: str, places: Places,
                   failure: BaseException | None = None) -> str:
    """One cycle's summary for the run's artifacts: the outcome, its numbers and links to act on."""
    lines = [f"# pekppp {kind}: cycle {cycle}", ""]
    if failure is not None or summary is None:
        lines += [f"**FAILED**: {' '.join(str(failure).split())}", "",
                  f"Nothing was published for cycle {cycle}; readers still see the previous release. "
                  "Fix the cause and run again (`pekppp status` shows the cycle's state)."]
        return "\n".join(lines)
    lines += [summary.message, "",
              "| new bundles | accepted | rejected | late | regions | units scored | national IPP | release |",
              "|---:|---:|---:|---:|---:|---:|---:|---|"]
    ipp = f"{summary.national_ipp:.2f} ({summary.national_predicate})" if summary.national_ipp is not None else "-"
    lines.append(f"| {summary.bundles_new} | {summary.accepted} | {summary.rejected} | {summary.late} | "
                 f"{summary.regions} | {summary.units_scored}/{summary.units} | {ipp} | "
                 f"{summary.release_id or f'none (current {summary.current_release or chr(45)})'} |")
    links = []
    report = places.reports / cycle / f"laporan_{cycle}.html"
    if summary.manifest:
        links.append(f"- release manifest: [{Path(summary.manifest).name}]({file_link(Path(summary.manifest))})")
    if summary.diff:
        diff = Path(summary.diff)
        links.append(f"- changes against {summary.diff_against}: [{diff.name}]({file_link(diff)})")
    if report.exists():
        links.append(f"- cycle report: [{report.name}]({file_link(report)})")
    if links:
        lines += ["", "## Links", "", *links]
    if summary.rejections:
        lines += ["", "## Not used (also in the table artifact and `validation_issues`)", "",
                  "| region | bundle | status | issues | reason | officer report |", "|---|---|---|---:|---|---|"]
        for r in summary.rejections:
            page = officer_report(places, cycle, r)
            link = f"[report.html]({file_link(page)})" if page.exists() else "-"
            reason = _cell(r["reason"])
            lines.append(f"| {r['region']} | {_cell(r['bundle'])} | {r['status']} | {r['n_issues']} | {reason} | "
                         f"{link} |")
    if summary.strays:
        lines += ["", f"## Not under a region folder (never read; bundles go under {cycle}/<region_code>/)", "",
                  "| entry | why |", "|---|---|"]
        lines += [f"| {_cell(s['entry'])} | {_cell(s['why'])} |" for s in summary.strays]
    return "\n".join(lines)


def _cell(text: object) -> str:
    """Text for a Markdown table cell: one line, its bars escaped."""
    return one_line(text).replace("|", "\\|")


def not_used_rows(summary: CycleSummary, places: Places) -> list[dict[str, Any]]:
    """The rejected and late bundles of a cycle, one typed row each (n_issues a number)."""
    return [{"cycle": summary.cycle, "region": r["region"], "bundle": r["bundle"],
             "submission_id": r["submission_id"], "status": r["status"], "reason": r["reason"],
             "n_issues": int(r["n_issues"]), "officer_report": file_link(officer_report(places, summary.cycle, r))}
            for r in summary.rejections] + [
        {"cycle": summary.cycle, "region": "", "bundle": s["entry"], "submission_id": "",
         "status": "not in a region folder", "reason": s["why"], "n_issues": 0, "officer_report": ""}
        for s in summary.strays]


def publish_artifacts(kind: str, summaries: list[CycleSummary], places: Places,
                      failures: Sequence[CycleFailure]) -> None:
    """Per cycle: `<kind>-summary-<C>` (Markdown with links), `<kind>-not-used-<C>` (table), and links
    `<kind>-report-<C>` / `<kind>-manifest-<C>` when a release was published."""
    for summary in summaries:
        cycle = summary.cycle
        create_markdown_artifact(key=artifact_key(kind, "summary", cycle),
                                 markdown=cycle_markdown(kind, summary, cycle, places),
                                 description=f"What the {kind} run did to cycle {cycle}")
        create_table_artifact(key=artifact_key(kind, "not-used", cycle), table=not_used_rows(summary, places),
                              description=f"Bundles of cycle {cycle} the {kind} run rejected or recorded late")
        report = places.reports / cycle / f"laporan_{cycle}.html"
        if summary.release_id and report.exists():
            create_link_artifact(key=artifact_key(kind, "report", cycle), link=file_link(report),
                                 link_text=f"laporan {cycle}", description=f"Cycle report of {cycle}")
        if summary.release_id and summary.manifest:
            create_link_artifact(key=artifact_key(kind, "manifest", cycle), link=file_link(Path(summary.manifest)),
                                 link_text=f"release {summary.release_id}",
                                 description=f"Manifest of the release of {cycle} this run published")
    for cycle, err in failures:
        create_markdown_artifact(key=artifact_key(kind, "summary", cycle),
                                 markdown=cycle_markdown(kind, None, cycle, places, err),
                                 description=f"The {kind} run failed on cycle {cycle}")


# ---------------------------------------------------------------- flows


def _cycle_run_name() -> str:
    from prefect.runtime import flow_run

    parameters = flow_run.parameters
    return f"{'rerun' if parameters.get('rerun') else 'ingest'}-{parameters.get('cycle')}"


@flow(name="process-cycle", flow_run_name=_cycle_run_name, log_prints=True)
def process_cycle(cycle: str, landing: str, warehouse: str, rerun: bool = False,
                  allow_empty: bool = False) -> CycleSummary:
    """One cycle under its lock: ingest new bundles (or every kept one on a re-run), record, publish."""
    logger = get_run_logger()
    places = Places.from_env(landing, warehouse)
    methodology = load_methodology(cycle)

    def waiting(holder: str) -> None:
        logger.warning("cycle %s: another run is working on it (%s); waiting for its lock", cycle, holder)

    ensure_writable(places.warehouse)  # a warehouse that cannot be written: one line, before its lock is made
    with cycle_lock(places.warehouse, cycle, on_wait=waiting):
        ledger = Ledger(places, cycle)
        leftovers = prepare_cycle(places, cycle)  # a read-only warehouse fails here, in one line
        if leftovers:
            logger.warning("cycle %s: removed %d leftover(s) of an interrupted run", cycle, leftovers)
        before = current_release(places, cycle)
        summary = CycleSummary(cycle=cycle, rerun=rerun,
                               current_release=str(before["release_id"]) if before else None)
        if rerun:
            work = stored_bundles(ledger)
            summary.bundles_seen = len(work)
        else:
            bundles = discover_bundles(places.landing, cycle)
            for stray, why in landing_strays(places.landing, cycle):
                logger.warning("cycle %s: %s is not used: %s", cycle, one_line(stray), why)
                summary.strays.append({"entry": stray, "why": why})
            summary.bundles_seen = len(bundles)
            work = new_bundles(bundles, ledger, methodology)
        summary.bundles_new = len(work)
        logger.info("cycle %s (%s): %d bundle(s) %s, %d to ingest", cycle, "open" if methodology.is_open else "closed",
                    summary.bundles_seen, "stored" if rerun else "in the landing zone", len(work))
        results, failures = ingest_all(work, methodology, places)
        if rerun:
            # A re-run reads the raw copies; the ledger keeps each bundle's original landing path and name
            # (per region: the same bytes sent by two regions share one raw copy and one submission id).
            originals = {(r["region_code"], r["submission_id"]): r for r in ledger.load().iter_rows(named=True)}
            kept_as = {key: {k: row[k] for k in ("landing_path", "bundle")} for key, row in originals.items()}
            results = [replace(r, entry=replace(r.entry, **kept_as[(r.entry.region_code, r.entry.submission_id)]))
                       for r in results]
        ledger.record([r.entry for r in results])
        names = ", ".join(f"{b.region_code}/{one_line(b.name)} ({type(e).__name__}: {one_line(e)})"
                          for b, e in failures[:3])
        if failures and rerun:
            raise IngestFailed(f"cycle {cycle}: {len(failures)} of {len(work)} bundle(s) failed to ingest: {names}; "
                               f"the {len(results)} others are recorded, nothing was published; fix the cause and "
                               "run again (the failed ones count as new)")
        repair = None
        if not results and not rerun:  # nothing new: does the release readers see cover the ledger?
            finished, repair = reconcile(places, cycle)
            for line in finished:
                logger.warning("cycle %s: %s (left by an interrupted publish)", cycle, line)
            if repair:
                logger.warning("cycle %s: repair publish: %s", cycle, repair)
        release = publish_task(places, methodology, allow_empty) if results or rerun or repair else None
        if release is not None:
            reports_task(places, cycle)
        if release is not None or before is not None:  # idempotent: completes a commit a killed run left undone
            delta_task(places, cycle)
        dsn = configured_dsn()
        loaded = load_warehouse_task(places, cycle, dsn) if release is not None and dsn else None
        if failures:  # the others are published: one upload's I/O failure blocks nobody
            published = f"published in release {release.release_id}" if release else "recorded, nothing was published"
            raise IngestFailed(f"cycle {cycle}: {len(failures)} of {len(work)} bundle(s) failed to ingest: {names}; "
                               f"the {len(results)} others are {published}; fix the cause and run again (the "
                               "failed ones count as new)")
        summary = summarise(summary, results, release)
        summary.warehouse_load = loaded
        if repair:
            summary.message += f"; repair: {repair}"
        logger.info("%s", summary.message)
        return summary


def run_cycles(cycles: list[str], places: Places, *, rerun: bool, task_runner: str | None,
               allow_empty: bool = False) -> tuple[list[CycleSummary], list[CycleFailure]]:
    """One `process-cycle` subflow per cycle; a failing cycle does not stop the others."""
    runner = task_runner_for(task_runner)  # a bad spec fails before any cycle starts
    summaries: list[CycleSummary] = []
    failures: list[CycleFailure] = []
    kind = "rerun" if rerun else "nightly"
    for cycle in cycles:
        started = datetime.now(UTC)
        subflow = process_cycle.with_options(task_runner=runner)
        state = subflow(cycle=cycle, landing=str(places.landing), warehouse=str(places.warehouse), rerun=rerun,
                        allow_empty=allow_empty, return_state=True)
        try:
            summary = state.result()
        except Exception as err:
            failures.append((cycle, err))
            get_run_logger().error("cycle %s failed: %s", cycle, err)
            _record_run(places, cycle, kind=kind, outcome="failed", message=" ".join(str(err).split()),
                        started_at=started)
            continue
        summaries.append(summary)
        _record_run(places, cycle, kind=kind, outcome=summary.outcome, message=summary.message, started_at=started,
                    release_id=summary.release_id)
    return summaries, failures


def _record_run(places: Places, cycle: str, **record: Any) -> None:
    """Keep the cycle's last run for `pekppp status`; a warehouse that cannot take it does not fail the run."""
    try:
        record_run(places, cycle, **record)
    except OSError as err:
        get_run_logger().warning("cycle %s: last run not recorded (%s)", cycle, err)


def raise_failures(failures: list[CycleFailure]) -> None:
    """Fail the run after the other cycles were done: with the cycle's own error when only one failed."""
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        raise WarehouseError(f"{len(failures)} cycles failed: " +
                             "; ".join(f"{cycle}: {err}" for cycle, err in failures))


@flow(name="nightly", log_prints=True)
def nightly(cycle: str | None = None, landing: str | None = None, warehouse: str | None = None,
            task_runner: str | None = None, allow_empty: bool = False) -> list[dict]:
    """Ingest new submissions of every open cycle (or of `cycle`), validate, score and publish.

    Args:
        cycle: only this cycle (open or closed); empty for every open cycle of the methodology files.
        landing: the landing zone (default env PEKPPP_LANDING or data/landing).
        warehouse: the warehouse (default env PEKPPP_WAREHOUSE or data/warehouse).
        task_runner: threads, threads:N or dask://host:port (default env PEKPPP_TASK_RUNNER or threads).
        allow_empty: publish even when the new release holds no scored unit where the current one does.
    """
    logger = get_run_logger()
    places = Places.from_env(landing, warehouse)
    known = known_cycles()
    if cycle:
        load_methodology(cycle)  # a cycle without methodology is an error, before any work
        cycles = [cycle]
    else:
        cycles = open_cycles()
        closed = [c for c in known if c not in cycles]
        logger.info("open cycles: %s; closed cycles are run only when asked (cycle=...): %s",
                    ", ".join(cycles) or "none", ", ".join(closed) or "none")
    unknown = [c for c in landing_cycles(places) if c not in known]
    if unknown:
        logger.warning("landing zone has folder(s) %s with no methodology file; they are not processed "
                       "(add data/methodology/<cycle>.toml)", ", ".join(unknown))
    summaries, failures = run_cycles(cycles, places, rerun=False, task_runner=task_runner, allow_empty=allow_empty)
    publish_artifacts("nightly", summaries, places, failures)
    raise_failures(failures)
    return [asdict(s) for s in summaries]


@flow(name="rerun-cycle", log_prints=True)
def rerun_cycle(cycle: str, landing: str | None = None, warehouse: str | None = None,
                task_runner: str | None = None, allow_empty: bool = False) -> list[dict] | State:
    """Recompute a past cycle from its kept raw bundles under its own methodology; publish a new release.

    Args:
        cycle: the cycle to recompute, e.g. 2023.
        landing: the landing zone (default env PEKPPP_LANDING or data/landing).
        warehouse: the warehouse (default env PEKPPP_WAREHOUSE or data/warehouse).
        task_runner: threads, threads:N or dask://host:port (default env PEKPPP_TASK_RUNNER or threads).
        allow_empty: publish even when the new release holds no scored unit where the current one does.
    """
    places = Places.from_env(landing, warehouse)
    load_methodology(cycle)
    refusal = rerun_refusal(places, cycle)
    if refusal:  # an operator's mistake, not a crash: one line, no traceback
        get_run_logger().error("%s", refusal)
        _record_run(places, cycle, kind="rerun", outcome="failed", message=refusal, started_at=datetime.now(UTC))
        return Failed(message=refusal)
    summaries, failures = run_cycles([cycle], places, rerun=True, task_runner=task_runner, allow_empty=allow_empty)
    publish_artifacts("rerun", summaries, places, failures)
    raise_failures(failures)
    return [asdict(s) for s in summaries]
