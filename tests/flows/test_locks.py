"""Unit tests of flows/locks.py: the per-cycle flock, its wait, its holder note and its setting."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from flows import locks


def test_lock_path_is_per_cycle(tmp_path: Path) -> None:
    assert locks.lock_path(tmp_path, "2024") == tmp_path / "_locks" / "2024.lock"


def test_the_lock_is_exclusive_and_released_after_the_block(tmp_path: Path) -> None:
    """A second holder waiting 0.3 s gives up with CycleLocked naming the cycle and the holder's note; after the
    first block ends the lock is free again and its note is gone."""
    waited: list[str] = []
    with locks.cycle_lock(tmp_path, "2024", wait_seconds=0) as path:
        assert path.read_text().startswith("pid ")
        with (pytest.raises(locks.CycleLocked, match=r"cycle 2024 is being processed by another run \(pid "),
              locks.cycle_lock(tmp_path, "2024", wait_seconds=0.3, on_wait=waited.append)):
            pass
        with locks.cycle_lock(tmp_path, "2023", wait_seconds=0):  # another cycle is not blocked
            pass
    assert len(waited) == 1 and waited[0].startswith("pid ")  # told once what it waits for
    assert locks.lock_holder(path) == "holder unknown"
    with locks.cycle_lock(tmp_path, "2024", wait_seconds=0):
        pass


def test_a_waiting_run_gets_the_lock_when_the_holder_finishes(tmp_path: Path) -> None:
    """The holder releases after 0.3 s; the waiter (up to 5 s) then holds it."""
    held = threading.Event()

    def hold() -> None:
        with locks.cycle_lock(tmp_path, "2024", wait_seconds=0):
            held.set()
            threading.Event().wait(0.3)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(5)
    with locks.cycle_lock(tmp_path, "2024", wait_seconds=5) as path:
        assert path.exists()
    holder.join()


def test_lock_wait_seconds_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default 300 s; a number is taken (negative counts as 0); text is an error naming the setting."""
    monkeypatch.delenv(locks.LOCK_WAIT_ENV, raising=False)
    assert locks.lock_wait_seconds() == 300.0
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "2.5")
    assert locks.lock_wait_seconds() == 2.5
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "-1")
    assert locks.lock_wait_seconds() == 0.0
    monkeypatch.setenv(locks.LOCK_WAIT_ENV, "soon")
    with pytest.raises(locks.WarehouseError, match="PEKPPP_LOCK_WAIT_SECONDS='soon' is not a number"):
        locks.lock_wait_seconds()


def test_lock_holder_of_a_missing_file(tmp_path: Path) -> None:
    assert locks.lock_holder(tmp_path / "nothing.lock") == "holder unknown"
