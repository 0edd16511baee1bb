"""The chunk worker processes (flows/chunk_pool.py): how many, and that they die with the run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.chunk_pool import PROCESSES_ENV, pool_size, portable
from flows.settings import PROJECT_ROOT, SettingError


def test_no_worker_processes_unless_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(PROCESSES_ENV, raising=False)
    assert pool_size(9) == 0
    monkeypatch.setenv(PROCESSES_ENV, "0")
    assert pool_size(9) == 0


def test_worker_processes_only_for_two_chunks_or_more(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROCESSES_ENV, "3")
    assert pool_size(1) == 0  # one chunk: its task's thread does it, no process start to pay
    assert pool_size(2) == 2  # never more processes than chunks
    assert pool_size(9) == 3
    monkeypatch.setenv(PROCESSES_ENV, " Auto ")
    cores = os.cpu_count() or 1
    assert pool_size(9) == (min(cores, 9) if cores >= 2 else 0)
    monkeypatch.setenv(PROCESSES_ENV, "1")
    assert pool_size(9) == 0  # one process would only add its start to one thread's work


@pytest.mark.parametrize("value", ["two", "-1", "1.5"])
def test_a_bad_process_count_is_refused_in_one_line(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(PROCESSES_ENV, value)
    with pytest.raises(SettingError, match=f"{PROCESSES_ENV}=.* must be auto or a whole number"):
        pool_size(9)


class Unpicklable(Exception):
    def __init__(self, what: str, code: int) -> None:  # two required arguments: pickle cannot rebuild it
        super().__init__(f"{what} ({code})")


def test_an_error_that_cannot_travel_between_processes_keeps_its_name_and_message() -> None:
    error = portable(Unpicklable("disk gone", 5))
    assert isinstance(error, RuntimeError) and str(error) == "Unpicklable: disk gone (5)"
    io_error = OSError(5, "Input/output error")
    assert portable(io_error) is io_error


_HOLDER = """
import os, sys, time
from pathlib import Path

from flows.chunk_pool import chunk_pool


def working(folder: str) -> None:  # a chunk's work that has begun, past the worker's start
    (Path(folder) / str(os.getpid())).touch()
    time.sleep(120)


if __name__ == "__main__":
    with chunk_pool(2) as pool:
        pool.submit(working, sys.argv[1])
        pool.submit(working, sys.argv[1])
        time.sleep(120)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return not (status.exists() and status.read_text().split(") ", 1)[1].startswith("Z"))


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="dying with the parent is Linux's prctl")
def test_workers_die_with_a_killed_run(tmp_path: Path) -> None:
    """A run killed mid-chunk (the kernel, an operator) leaves no worker writing behind it."""
    script, working = tmp_path / "holder.py", tmp_path / "working"
    script.write_text(_HOLDER, encoding="utf-8")
    working.mkdir()
    holder = subprocess.Popen([sys.executable, str(script), str(working)], cwd=PROJECT_ROOT,
                              env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    try:
        deadline = time.monotonic() + 120  # each worker imports GE before it works
        while len(list(working.iterdir())) < 2 and time.monotonic() < deadline and holder.poll() is None:
            time.sleep(0.2)
        pids = [int(p.name) for p in working.iterdir()]
        assert len(pids) == 2 and holder.pid not in pids and all(_alive(p) for p in pids)
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 15
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "a worker outlived its killed run"
    finally:
        holder.kill()
