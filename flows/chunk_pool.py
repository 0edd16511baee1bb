"""Worker processes for the ingest chunks: both cores validate (a GE context per process).

GE validates one batch at a time per process (the validator serialises `batch.validate` under a
process-wide lock), so two chunks in two threads share one core for validation. When a run has two
chunks or more on the default thread runner, each `ingest-chunk` task (still a Prefect task run in a
thread: its retries, logs and place in the UI stay) hands the chunk's work to a pool of worker
processes started for the run, as each Dask worker has its own process. Workers are spawned (a fork
of a process running Prefect's threads could inherit a held lock), import GE once when they start,
and die with the run: a run killed mid-chunk leaves no orphan writing behind it (Linux).

`PEKPPP_INGEST_PROCESSES`: `0` (default) keeps every chunk in its task's thread; `auto` uses one
process per core, a number N uses N processes, when a run has two chunks or more. Off by default
because on this project's 2-core machine it measured no gain: one chunk in one thread already keeps
~1.2 cores busy (Polars' own threads), so the national nightly took 47.6 s with two worker processes
against 45.4 s with two threads (README, Performance), with 0.6 GB more memory for the process tree.
On a machine with more cores, where GE's lock would bound the threads, processes are the way to
scale within one machine (Dask across machines).
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
from collections.abc import Iterator
from concurrent.futures import Executor, ProcessPoolExecutor

from flows.settings import SettingError, setting

PROCESSES_ENV = "PEKPPP_INGEST_PROCESSES"
_PR_SET_PDEATHSIG = 1


def pool_size(chunks: int) -> int:
    """Worker processes for a run of `chunks` chunks: 0 means each chunk stays in its task's thread."""
    raw = (setting(PROCESSES_ENV) or "0").strip().lower()
    if raw == "auto":
        wanted = os.cpu_count() or 1
    elif raw.isdigit():
        wanted = int(raw)
    else:
        raise SettingError(f"{PROCESSES_ENV}={raw!r} must be auto or a whole number of processes (0: none)")
    if chunks < 2 or wanted < 2:
        return 0
    return min(wanted, chunks)


def _start_worker() -> None:
    """In each worker: die with the run (Linux), then import GE and build its context once."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    from expectations.suites import warm_up

    with contextlib.suppress(Exception):  # should it fail, the first validation builds it and says why
        warm_up()


@contextlib.contextmanager
def chunk_pool(size: int) -> Iterator[Executor | None]:
    """A pool of `size` spawned worker processes for the run's chunks, or None for size 0."""
    if size <= 0:
        yield None
        return
    pool = ProcessPoolExecutor(max_workers=size, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_start_worker)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def portable(error: BaseException) -> BaseException:
    """`error` if it survives a trip between processes, else a RuntimeError saying what it was."""
    try:
        pickle.loads(pickle.dumps(error))
    except Exception:
        return RuntimeError(f"{type(error).__name__}: {error}")
    return error
