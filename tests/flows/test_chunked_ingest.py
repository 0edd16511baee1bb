"""The nightly's chunked ingest (flows/chunked_ingest.py): task runners, I/O retries, chunks.

Without a Prefect server: the real flow runs that ingest in chunks are in test_orchestration.py,
test_nightly_e2e.py and test_chunk_pool.py.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from prefect.states import Completed, Failed
from prefect.task_runners import ThreadPoolTaskRunner

import flows.nightly as nightly_module
from flows.chunked_ingest import (
    INGEST_THREADS,
    TaskRunnerError,
    in_chunks,
    ingest_chunk_task,
    is_io_failure,
    task_runner_for,
    with_io_retries,
)
from flows.ingest import LandedBundle
from flows.storage import WarehouseError


def test_task_runner_is_a_small_thread_pool_unless_dask_is_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PEKPPP_TASK_RUNNER", raising=False)
    default = task_runner_for(None)
    assert isinstance(default, ThreadPoolTaskRunner) and default._max_workers == INGEST_THREADS <= 4
    assert task_runner_for("threads:2")._max_workers == 2

    from prefect_dask import DaskTaskRunner

    monkeypatch.setenv("PEKPPP_TASK_RUNNER", "dask://127.0.0.1:8786")
    runner = task_runner_for(None)
    assert isinstance(runner, DaskTaskRunner) and runner.address == "tcp://127.0.0.1:8786"
    assert isinstance(task_runner_for("threads"), ThreadPoolTaskRunner)  # the parameter wins over the env
    for bad in ("dask", "threads:0", "spark://x:1"):
        with pytest.raises(TaskRunnerError, match="threads, threads:N or dask://host:port"):
            task_runner_for(bad)


def test_only_io_failures_are_retried() -> None:
    def failed(error: BaseException) -> Failed:
        return Failed(data=error)

    try:
        try:
            raise PermissionError(13, "Permission denied")
        except OSError as err:
            raise WarehouseError("cannot keep the raw copy") from err
    except WarehouseError as wrapped:
        wrapped_io = wrapped
    assert is_io_failure(None, None, failed(OSError(5, "Input/output error")))
    assert is_io_failure(None, None, failed(TimeoutError()))
    assert is_io_failure(None, None, failed(wrapped_io))
    assert not is_io_failure(None, None, failed(TypeError("a bug")))
    assert not is_io_failure(None, None, failed(KeyError("unit_id")))
    try:
        try:
            raise OSError(5, "Input/output error")
        except OSError:
            raise KeyError("a bug while handling it")  # noqa: B904 - an implicit context, on purpose
    except KeyError as bug:
        assert not is_io_failure(None, None, failed(bug))  # only an explicit cause counts
    assert not is_io_failure(None, None, Completed())
    tasks = (ingest_chunk_task, nightly_module.discover_bundles, nightly_module.publish_task)
    for task in tasks:
        assert task.retries >= 1 and task.retry_condition_fn is is_io_failure, task.name


def test_a_bundle_step_retries_io_failures_only() -> None:
    calls: list[int] = []

    def flaky(failures: int, error: Exception) -> Callable[[], str]:
        def step() -> str:
            calls.append(1)
            if len(calls) <= failures:
                raise error
            return "done"
        return step

    assert with_io_retries(flaky(2, OSError(5, "Input/output error")), [0, 0]) == "done" and len(calls) == 3
    calls.clear()
    with pytest.raises(OSError):  # still failing after every retry: the last error comes out
        with_io_retries(flaky(3, OSError(5, "Input/output error")), [0, 0])
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(KeyError):  # a bug is not retried
        with_io_retries(flaky(1, KeyError("unit_id")), [0, 0])
    assert len(calls) == 1
    calls.clear()
    wrapped = WarehouseError("disk gone")
    wrapped.__cause__ = OSError(28, "No space left on device")
    assert with_io_retries(flaky(1, wrapped), [0]) == "done" and len(calls) == 2


def test_chunks_close_at_the_size_limit_and_before_a_repeated_submission(tmp_path: Path) -> None:
    def work(*items: tuple[str, int]) -> list[tuple[LandedBundle, str]]:
        return [(LandedBundle("2024", "35.78", tmp_path / f"b{n}", size, n), sid)
                for n, (sid, size) in enumerate(items)]

    assert in_chunks([], 100) == []
    assert in_chunks(work(("a", 60), ("b", 60), ("c", 10), ("d", 500), ("e", 1)), 100) == [[0, 1], [2, 3], [4]]
    # the same bytes from two regions are never in one chunk, so never kept at once
    assert in_chunks(work(("a", 1), ("b", 1), ("a", 1), ("c", 1), ("a", 1)), 100) == [[0, 1], [2, 3], [4]]
    assert in_chunks(work(("a", 500)), 100) == [[0]]
