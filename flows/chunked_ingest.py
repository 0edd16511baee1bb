"""The nightly's ingest of many bundles: which are new, cut into chunks, one `ingest-chunk` task per chunk.

A chunk task opens (keep the raw bytes, read), validates (Great Expectations once per table for all the
chunk's bundles: GE's fixed cost of ~0.1 s per call and table is paid per chunk, not per bundle) and
keeps (accepted rows, issues, region reports). Tasks work on chunks rather than single bundles because
Prefect's bookkeeping per task run costs more than a small bundle's work, and a task returns only ledger
entries: Prefect keeps every task result of a run in memory, so frames must not travel between tasks.
Inside a chunk each bundle has its own I/O retries, its own failure and its own log line.

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
from typing import Any, TypeVar

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.chunk_pool import chunk_pool, pool_size, portable
from flows.ingest import (
    IngestResult,
    LandedBundle,
    OpenedBundle,
    keep_checked,
    open_bundle,
    report_pages,
    validate_opened,
)
from flows.intake.bundles import bundle_fingerprint
from flows.ledger import Ledger
from flows.settings import Places, setting
from transforms.messages import one_line
from transforms.methodology import Methodology
from transforms.submissions import ACCEPTED

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


class TaskRunnerError(ValueError):
    """The task runner asked for (parameter or PEKPPP_TASK_RUNNER) cannot be used."""


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


# ---------------------------------------------------------------- one chunk


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


# ---------------------------------------------------------------- what to ingest, in which chunks


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
