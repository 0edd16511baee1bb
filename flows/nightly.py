"""The Prefect flows: `nightly` (ingest what is new in every open cycle, publish) and `rerun_cycle`.

Thin orchestration: tasks read, call a transform or the validator, write. Deployments are declared
in prefect.yaml; without a server the same flows run on Prefect's embedded local mode.

Shape of a run: `nightly` (or `rerun-cycle`) runs one `process-cycle` subflow per cycle. The subflow
holds the cycle's lock (flows/locks.py), finds the work and ingests it in chunks of bundles on the
chosen task runner, one `ingest-chunk` task per chunk: open (keep the raw bytes, read), validate
(Great Expectations once per table for all the chunk's bundles: GE's fixed cost of ~0.1 s per call
and table is paid per chunk, not per bundle), keep (accepted rows, issues, region reports). Tasks
work on chunks rather than single bundles because Prefect's bookkeeping per task run costs more than
a small bundle's work, and a task returns only ledger entries: Prefect keeps every task result of a
run in memory, so frames must not travel between tasks. Inside a chunk each bundle has its own I/O
retries, its own failure and its own log line. Then the subflow records the ledger once in its own
process and publishes when something changed.

Task runners: by default a small thread pool. `PEKPPP_TASK_RUNNER=dask://host:port` (or the flow's
`task_runner` parameter) sends the chunk tasks to a Dask cluster instead; they receive everything they
need as arguments (bundles, methodology, places) and write only their own submissions' files, so any
worker that sees the same warehouse path can run them, each validating with its own GE context.
With `PEKPPP_INGEST_PROCESSES` set, each chunk task (still a task run in a thread) hands its chunk to
a pool of worker processes started for the run (flows/chunk_pool.py), each with its own GE context.
Great Expectations in threads: the validator serialises GE's `batch.validate` with a process-wide
lock (GE caches the batch on its shared execution engine under a fixed id); the GE context is built
once, under its own lock, on a thread started with the chunks so its import overlaps their reading.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.artifacts import (
    create_link_artifact,
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.states import Failed, State
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from expectations.report import REPORT_HTML
from flows.chunk_pool import chunk_pool, pool_size, portable
from flows.delta_feed import write_release
from flows.ingest import (
    IngestResult,
    LandedBundle,
    OpenedBundle,
    discover,
    keep_checked,
    landing_strays,
    open_bundle,
    prepare_cycle,
    report_pages,
    validate_opened,
)
from flows.intake.bundles import bundle_fingerprint
from flows.ledger import Ledger
from flows.locks import cycle_lock
from flows.operations import record_run
from flows.publish import Release, current_release, publish, reconcile
from flows.settings import Places, known_cycles, load_methodology, setting
from flows.storage import WarehouseError, ensure_writable
from flows.warehouse_load import LoadError, configured_dsn, describe, load_release
from transforms.messages import one_line
from transforms.methodology import Methodology, MethodologyError
from transforms.submissions import ACCEPTED, LATE, REJECTED

T = TypeVar("T")
TASK_RUNNER_ENV = "PEKPPP_TASK_RUNNER"
INGEST_THREADS = min(4, os.cpu_count() or 1)
"""Threads of the default runner: bundles are small and GE validation is one at a time per process."""
RETRY_DELAYS_SECONDS = [2, 10]
BUNDLE_RETRY_DELAYS: list[float] = [2, 10]
"""Seconds before each new try of one bundle's step inside a chunk task, when it failed on I/O."""
INGEST_CHUNK_ENV = "PEKPPP_INGEST_CHUNK_MB"
INGEST_CHUNK_MB = 96
"""Landed megabytes validated in one GE call per table (~1 M survey rows): GE's fixed cost is paid per
chunk rather than per bundle, while the memory a chunk needs in pandas stays well under a gigabyte."""

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


class TaskRunnerError(ValueError):
    """The task runner asked for (parameter or PEKPPP_TASK_RUNNER) cannot be used."""


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


# ---------------------------------------------------------------- task runners and retries


def task_runner_for(spec: str | None = None) -> TaskRunner:
    """The task runner for the bundle tasks: `threads`, `threads:N` or `dask://host:port` (also tcp://).

    Without a spec, PEKPPP_TASK_RUNNER decides; without that, a thread pool of INGEST_THREADS.
    """
    spec = (spec or setting(TASK_RUNNER_ENV) or "threads").strip()
    if spec == "threads":
        return ThreadPoolTaskRunner(max_workers=INGEST_THREADS)
    if spec.startswith("threads:") and spec.removeprefix("threads:").isdigit() and int(spec[8:]) > 0:
        return ThreadPoolTaskRunner(max_workers=int(spec[8:]))
    if spec.startswith(("dask://", "tcp://", "tls://")):
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise TaskRunnerError(f"task runner {spec} needs prefect-dask: install the `dask` extra "
                                  "(uv sync --extra dask)") from None
        address = "tcp://" + spec.removeprefix("dask://") if spec.startswith("dask://") else spec
        return DaskTaskRunner(address=address)
    raise TaskRunnerError(f"task runner {spec!r} is not understood; use threads, threads:N or dask://host:port "
                          f"(parameter task_runner or env {TASK_RUNNER_ENV})")


def ingest_chunk_bytes() -> int:
    """The chunk size in bytes: env PEKPPP_INGEST_CHUNK_MB (a positive number), else INGEST_CHUNK_MB."""
    raw = setting(INGEST_CHUNK_ENV)
    try:
        megabytes = float(raw) if raw else INGEST_CHUNK_MB
    except ValueError:
        raise TaskRunnerError(f"{INGEST_CHUNK_ENV}={raw!r} is not a number of megabytes") from None
    if megabytes <= 0:
        raise TaskRunnerError(f"{INGEST_CHUNK_ENV}={raw!r} must be a positive number of megabytes")
    return int(megabytes * 2**20)


def is_io_error(error: BaseException | None) -> bool:
    """An OSError, or an error raised `from` one (WarehouseError): worth another try; a bug is not."""
    for _ in range(10):  # a chain of causes, never a cycle
        if error is None:
            return False
        if isinstance(error, OSError):
            return True
        error = error.__cause__
    return False


def is_io_failure(task: Any, task_run: Any, state: Any) -> bool:
    """Retry condition: only I/O failures retry: an OSError, or an error raised `from` one (WarehouseError).

    A bug (TypeError, KeyError, ...) fails at once instead of three times; what a region sent never
    raises at all (ingest records it as rejected).
    """
    return is_io_error(state.data if isinstance(state.data, BaseException) else None)


# ---------------------------------------------------------------- tasks


@task(name="discover-bundles", task_run_name="discover {cycle}", retries=2, retry_delay_seconds=RETRY_DELAYS_SECONDS,
      retry_condition_fn=is_io_failure, cache_policy=NO_CACHE)
def discover_bundles(landing: Path, cycle: str) -> list[LandedBundle]:
    return discover(landing, cycle)


Failure = tuple[int, BaseException]
"""A bundle (its position in the run's work) that could not be ingested, and why."""


def _logger() -> Any:
    """The run's logger inside a flow or task run, else this module's."""
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


def with_io_retries(step: Callable[[], T], delays: Sequence[float]) -> T:
    """Run one bundle's step, again after each delay while it fails on I/O (see `is_io_error`).

    Per bundle, inside a chunk task: one bundle's flaky read must not redo (or fail) its neighbours.
    Anything else (a bug) is raised at once.
    """
    for delay in delays:
        try:
            return step()
        except Exception as err:
            if not is_io_error(err):
                raise
            _logger().warning("I/O failure, retrying in %s s: %s", delay, err)
            time.sleep(delay)
    return step()


ChunkDone = tuple[list[tuple[int, IngestResult]], list[Failure], int]
"""A chunk's kept bundles (position, result), its failed ones (position, error), and the rows it validated."""


def ingest_chunk(work: list[tuple[int, LandedBundle, str]], methodology: Methodology, places: Places,
                 cycle: str) -> ChunkDone:
    """Open, validate and keep a chunk of bundles, in this thread or in a worker process (flows/chunk_pool.py).

    Open: keep the raw bytes, read. Validate: the cycle's suites over all the chunk's bundles, one GE
    call per table. Keep: accepted rows, issues and region report, each bundle writing only its own
    submission's files. A bundle whose I/O keeps failing after its retries (or that meets a bug) fails
    alone; the others go on. Only the small ledger entries leave: the frames die here.
    """
    opened: list[tuple[int, OpenedBundle]] = []
    failures: list[Failure] = []
    for position, bundle, submission_id in work:
        try:
            opened.append((position, with_io_retries(
                lambda b=bundle, s=submission_id: open_bundle(b, methodology, places, s), BUNDLE_RETRY_DELAYS)))
        except Exception as err:  # I/O that outlived its retries, or a bug: this bundle fails, the others go on
            failures.append((position, portable(err)))
    if not opened:
        return [], failures, 0
    checked = validate_opened([o for _, o in opened], methodology)
    rows = sum(f.height for _, o in opened for f in o.read.tables.values())
    try:
        pages: list[dict[str, tuple[str, bytes]] | None] = list(report_pages(
            [(o, c) for (_, o), c in zip(opened, checked, strict=True)]))
    except Exception:  # a bug in one bundle's report: each is rendered alone below, so that one fails alone
        pages = [None] * len(opened)
    kept: list[tuple[int, IngestResult]] = []
    for (position, bundle_opened), verdict, page in zip(opened, checked, pages, strict=True):
        try:
            kept.append((position, with_io_retries(
                lambda o=bundle_opened, c=verdict, p=page: keep_checked(o, c, places, Ledger(places, cycle), p),
                BUNDLE_RETRY_DELAYS)))
        except Exception as err:  # I/O that outlived its retries, or a bug: this bundle fails, the others go on
            failures.append((position, portable(err)))
    return kept, failures, rows


_pool: Executor | None = None
"""The run's chunk worker processes while `ingest_all` holds them (None: chunks stay in their thread)."""


@task(name="ingest-chunk", task_run_name="ingest {cycle} chunk {chunk} ({n} bundles)", retries=1,
      retry_delay_seconds=RETRY_DELAYS_SECONDS[:1], retry_condition_fn=is_io_failure, cache_policy=NO_CACHE)
def ingest_chunk_task(work: list[tuple[int, LandedBundle, str]], methodology: Methodology, places: Places, *,
                      cycle: str, chunk: int, n: int) -> tuple[list[tuple[int, IngestResult]], list[Failure]]:
    """Ingest a chunk (`ingest_chunk`): in a worker process of the run's pool when it has one, else here.

    Returns each bundle's ledger entry, or why it failed; logs one line per bundle.
    """
    logger = get_run_logger()
    pool = _pool
    if pool is not None:
        kept, failures, rows = pool.submit(ingest_chunk, work, methodology, places, cycle).result()
    else:
        kept, failures, rows = ingest_chunk(work, methodology, places, cycle)
    logger.info("cycle %s chunk %d: %d of %d bundle(s) kept, %d row(s) validated%s", cycle, chunk, len(kept), len(work),
                rows, " in a worker process" if pool is not None else "")
    for _, result in kept:
        entry = result.entry
        if entry.status == ACCEPTED:
            logger.info("%s/%s accepted (%d issue(s))", entry.region_code, one_line(entry.bundle), entry.n_issues)
        else:
            logger.warning("%s/%s %s: %s", entry.region_code, one_line(entry.bundle), entry.status, entry.reason)
    return kept, failures


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


def in_chunks(work: list[tuple[LandedBundle, str]], limit_bytes: int) -> list[list[int]]:
    """Positions of the work in landing order, cut into chunks validated together.

    A chunk closes once its bundles reach `limit_bytes` of landed data (at least one bundle each), or
    before a submission id it already holds: the same bytes sent by two regions share a submission id,
    and so the per-submission files, and must be kept one after the other.
    """
    chunks: list[list[int]] = []
    size, ids = 0, set[str]()
    for position, (bundle, submission_id) in enumerate(work):
        if not chunks or size >= limit_bytes or submission_id in ids:
            chunks.append([])
            size, ids = 0, set()
        chunks[-1].append(position)
        size += bundle.size
        ids.add(submission_id)
    return chunks


def artifact_key(*parts: str) -> str:
    """Artifact keys allow only lowercase letters, digits and dashes."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


# ---------------------------------------------------------------- the chunked ingest


def _uses_threads() -> bool:
    context = FlowRunContext.get()
    return context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner)


def ingest_all(work: list[tuple[LandedBundle, str]], methodology: Methodology,
               places: Places) -> tuple[list[IngestResult], list[tuple[LandedBundle, BaseException]]]:
    """Ingest the work in chunks (`in_chunks`), one `ingest-chunk` task each, on the flow's task runner.

    Chunks run side by side (two threads by default: one reads or writes while the other is in GE;
    on Dask each worker validates its own chunks). A chunk holding a submission id that an earlier
    chunk holds waits for it (`wait_for`), so the same bytes sent by two regions are kept one after
    the other. Results come back in work order, with the bundles that failed.
    """
    global _pool
    if not work:
        return [], []
    logger = get_run_logger()
    chunks = in_chunks(work, ingest_chunk_bytes())
    threads = _uses_threads()
    size = pool_size(len(chunks)) if threads else 0
    warming = _warm_up_beside() if threads and not size else None
    try:
        with chunk_pool(size) as pool:
            if pool is not None:
                logger.info("cycle %s: %d chunks on %d worker processes", methodology.cycle, len(chunks), size)
            _pool = pool
            try:
                return _ingest_chunks(work, chunks, methodology, places, logger)
            finally:
                _pool = None
    finally:
        if warming is not None:
            warming.join()


def _warm_up_beside() -> threading.Thread:
    """Import GE and build its context on a thread while the first chunks are opened and read.

    Validation waits for it (the runner builds the context under a lock, once), so the import (~3 s
    in a new process) overlaps reading instead of coming before it. Should it fail, the first
    validation builds the context again and reports the error there.
    """
    from expectations.suites import warm_up

    def warm() -> None:
        with contextlib.suppress(Exception):
            warm_up()

    thread = threading.Thread(target=warm, name="pekppp-ge-warm-up")
    thread.start()
    return thread


def _ingest_chunks(work: list[tuple[LandedBundle, str]], chunks: list[list[int]], methodology: Methodology,
                   places: Places, logger: Any) -> tuple[list[IngestResult], list[tuple[LandedBundle, BaseException]]]:
    """Submit one `ingest-chunk` task per chunk and collect their results in work order (see ingest_all)."""
    cycle = methodology.cycle
    progress = create_progress_artifact(0.0, key=artifact_key("ingest", cycle, "progress"),
                                        description=f"cycle {cycle}: bundles ingested of {len(work)}")
    futures: list[Any] = []
    holder: dict[str, int] = {}  # submission id -> the last chunk holding it
    for number, chunk in enumerate(chunks):
        earlier = sorted({holder[work[n][1]] for n in chunk if work[n][1] in holder})
        futures.append(ingest_chunk_task.submit(
            [(n, *work[n]) for n in chunk], methodology, places, cycle=cycle, chunk=number, n=len(chunk),
            wait_for=[futures[k] for k in earlier]))
        holder.update((work[n][1], number) for n in chunk)

    results: dict[int, IngestResult] = {}
    failures: list[tuple[LandedBundle, BaseException]] = []
    done = 0
    for number, (chunk, future) in enumerate(zip(chunks, futures, strict=True)):
        try:
            kept, lost = future.result()
        except Exception as err:  # the task itself failed: every bundle of the chunk did
            kept, lost = [], [(n, err) for n in chunk]
        results.update(kept)
        for n, err in lost:
            bundle = work[n][0]
            failures.append((bundle, err))
            logger.error("cycle %s: %s/%s could not be ingested: %s: %s", cycle, bundle.region_code,
                         one_line(bundle.name), type(err).__name__, err)
        done += len(chunk)
        update_progress_artifact(progress, 100.0 * done / len(work))
        logger.info("cycle %s: chunk %d of %d done, %d/%d bundles ingested", cycle, number + 1, len(chunks), done,
                    len(work))
    return [results[n] for n in sorted(results)], failures


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
