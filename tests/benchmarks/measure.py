"""Run one contender in its own process and measure it from outside: wall time, CPU, peak memory.

Peak memory is reported two ways: `ru_maxrss` of the child from `os.wait4` (the largest single
process of its tree, as /usr/bin/time -v reports it) and the peak of the summed RSS of the whole
process tree sampled from /proc (it counts the Prefect server subprocess too). A child past its
time or memory budget is stopped (its own process group, by id) and reported as such.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_PAGE = os.sysconf("SC_PAGE_SIZE")
_SAMPLE_SECONDS = 0.2


@dataclass
class ChildRun:
    """What the parent saw of one child process, plus the JSON the child wrote."""

    name: str
    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    maxrss_mb: float  # largest single process (wait4 ru_maxrss)
    tree_peak_mb: float  # peak of the summed RSS of the child and its descendants (sampled)
    load_before: float
    load_after: float
    load_mean: float  # 1-min load average sampled while the child ran
    stopped: str | None = None  # why the child was stopped, when it was
    result: dict[str, Any] = field(default_factory=dict)
    log: str = ""

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.stopped is None


def _children_of() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    return children


def session_members(session: int) -> list[int]:
    """Processes still in the session our child led (started by it, so ours to stop)."""
    members = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        fields = stat[stat.rindex(b")") + 2:].split()
        if int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as handle:
            return int(handle.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0


def tree_rss_bytes(root: int) -> int:
    """Summed resident memory of `root` and every descendant."""
    children = _children_of()
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(children.get(pid, ()))
    return total


def run_child(name: str, argv: list[str], *, result_path: Path, log_path: Path, env: dict[str, str] | None = None,
              timeout_s: float = 900.0, rss_limit_mb: float = 20_000.0) -> ChildRun:
    """Run `argv` (a Python module invocation) in a new session and measure it."""
    result_path.unlink(missing_ok=True)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()[0]
    with log_path.open("wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        peak = 0
        loads: list[float] = []
        stopped: list[str] = []
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.wait(_SAMPLE_SECONDS):
                rss = tree_rss_bytes(proc.pid)
                peak = max(peak, rss)
                loads.append(os.getloadavg()[0])
                reason = None
                if time.perf_counter() - started > timeout_s:
                    reason = f"stopped after {timeout_s:.0f} s (time budget)"
                elif rss > rss_limit_mb * 2**20:
                    reason = f"stopped at {rss / 2**20:,.0f} MB resident (memory budget)"
                if reason and not stopped:
                    stopped.append(reason)
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)  # the child's own group (it leads it): nothing else

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        done.set()
        sampler.join()
        proc.returncode = os.waitstatus_to_exitcode(status)
    for pid in session_members(proc.pid):  # e.g. a Prefect server the killed or crashed child left behind
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    result = json.loads(result_path.read_text()) if result_path.exists() else {}
    return ChildRun(
        name=name, exit_code=proc.returncode, wall_seconds=wall, cpu_seconds=usage.ru_utime + usage.ru_stime,
        maxrss_mb=usage.ru_maxrss / 1024, tree_peak_mb=max(peak, usage.ru_maxrss * 1024) / 2**20,
        load_before=load_before, load_after=os.getloadavg()[0],
        load_mean=sum(loads) / len(loads) if loads else load_before,
        stopped=stopped[0] if stopped else None, result=result, log=str(log_path),
    )


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
