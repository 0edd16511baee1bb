"""Per-cycle locks in the warehouse, so two runs never ingest or publish the same cycle at once.

The deployment's concurrency limit keeps scheduled runs in line, but an operator's `pekppp run` on the
same warehouse is not a deployment run. Each cycle's work therefore holds an exclusive `flock` on
`<warehouse>/_locks/<cycle>.lock`. The kernel drops the lock when its process dies, so a crashed run
never leaves a stale lock behind; the file itself stays (deleting a lock file races with waiters) and
holds a note of who has it, for the error a waiting run prints.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from flows.settings import setting
from flows.storage import WarehouseError

LOCKS_DIR = "_locks"
LOCK_WAIT_ENV = "PEKPPP_LOCK_WAIT_SECONDS"
DEFAULT_LOCK_WAIT_SECONDS = 300.0
_POLL_SECONDS = 0.2
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


class CycleLocked(WarehouseError):
    """Another run held the cycle's lock for longer than this run was willing to wait."""


def lock_path(warehouse: Path, cycle: str) -> Path:
    return warehouse / LOCKS_DIR / f"{cycle}.lock"


def lock_wait_seconds() -> float:
    """How long a run waits for a cycle another run is working on (env PEKPPP_LOCK_WAIT_SECONDS)."""
    text = setting(LOCK_WAIT_ENV)
    if not text:
        return DEFAULT_LOCK_WAIT_SECONDS
    try:
        return max(0.0, float(text))
    except ValueError:
        raise WarehouseError(f"{LOCK_WAIT_ENV}={text!r} is not a number of seconds; set e.g. 300") from None


def lock_holder(path: Path) -> str:
    """The note the holder wrote ("pid 1234 on host since ..."), or "unknown" while it is being written."""
    try:
        return path.read_text(encoding="utf-8").strip() or "holder unknown"
    except OSError:
        return "holder unknown"


def _try_lock(fd: int, path: Path) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in _BUSY:
            return False
        raise WarehouseError(f"cannot lock {path}: {err.strerror}; the warehouse must be on a filesystem "
                             "with working flock (a local disk or NFSv4)") from err
    return True


@contextlib.contextmanager
def cycle_lock(warehouse: Path, cycle: str, *, wait_seconds: float | None = None,
               on_wait: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the cycle's lock for the block; wait up to `wait_seconds` for another holder to finish.

    `on_wait(holder)` is called once when the lock is busy, so the run can say what it waits for.
    Raises `CycleLocked` (one line: cycle, lock file, holder) when the wait runs out.
    """
    wait = lock_wait_seconds() if wait_seconds is None else wait_seconds
    path = lock_path(warehouse, cycle)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait
        told = False
        while not _try_lock(fd, path):
            if time.monotonic() >= deadline:
                raise CycleLocked(f"cycle {cycle} is being processed by another run ({lock_holder(path)}); "
                                  f"lock {path} still held after waiting {wait:g} s; let that run finish and "
                                  "run again")
            if on_wait is not None and not told:
                on_wait(lock_holder(path))
                told = True
            time.sleep(min(_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        note = f"pid {os.getpid()} on {socket.gethostname()} since {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC\n"
        with contextlib.suppress(OSError):  # the note is a courtesy: a full disk must not fail here, unexplained
            os.ftruncate(fd, 0)
            os.pwrite(fd, note.encode(), 0)
        try:
            yield path
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)  # the note goes before the lock does
    finally:
        os.close(fd)  # closing the descriptor releases the flock
