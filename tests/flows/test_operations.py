"""Unit tests of flows/operations.py's parts that need no Prefect server: the overdue setting, each cycle's
last run, and `pekppp status` read from the warehouse alone."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from flows import operations
from flows.settings import Places


def places(tmp_path: Path) -> Places:
    return Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")


def test_overdue_after_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    """Default 26 h; 0.5 h is taken; under 10 s (Prefect's floor) and text are refused naming the setting."""
    monkeypatch.delenv(operations.OVERDUE_ENV, raising=False)
    assert operations.overdue_after() == timedelta(hours=26)
    monkeypatch.setenv(operations.OVERDUE_ENV, "0.5")
    assert operations.overdue_after() == timedelta(minutes=30)
    monkeypatch.setenv(operations.OVERDUE_ENV, "0.001")  # 3.6 s
    with pytest.raises(operations.OperationsError, match="at least 10 seconds"):
        operations.overdue_after()
    monkeypatch.setenv(operations.OVERDUE_ENV, "daily")
    with pytest.raises(operations.OperationsError, match="PEKPPP_NIGHTLY_OVERDUE_HOURS='daily' is not a number"):
        operations.overdue_after()


def test_last_run_reads_the_cycles_record(tmp_path: Path) -> None:
    where = places(tmp_path)
    assert operations.last_run(where, "2024") is None
    operations.runs_dir(where).mkdir(parents=True)
    record = {"cycle": "2024", "kind": "nightly", "outcome": "completed", "message": "ok", "ended_at": "t"}
    (operations.runs_dir(where) / "2024.json").write_text(json.dumps(record))
    assert operations.last_run(where, "2024") == record


def test_status_cycles_are_open_ones_and_those_with_data(tmp_path: Path) -> None:
    """2024 is open; closed 2023 is listed only once it has a landing folder (or a ledger)."""
    where = places(tmp_path)
    assert operations.status_cycles(where, None) == ["2024"]
    (where.landing / "2023").mkdir(parents=True)
    assert operations.status_cycles(where, None) == ["2023", "2024"]
    assert operations.status_cycles(where, "2023") == ["2023"]


def test_status_lines_of_a_fresh_warehouse(tmp_path: Path) -> None:
    """Nothing published, no run, one bundle waiting in the landing zone, nothing received."""
    where = places(tmp_path)
    bundle = where.landing / "2024" / "35.78" / "b"
    bundle.mkdir(parents=True)
    (bundle / "units.csv").write_text("unit_id\n")
    status = operations.cycle_status(where, "2024")
    assert (status.is_open, status.release_id, status.waiting, status.received, status.gap) == \
        (True, None, 1, 0, None)
    lines = operations.status_lines(where, "2024", with_server=False)
    assert lines[3:] == ["cycle 2024 [open]", "  release   none published yet", "  last run  none recorded",
                         "  bundles   1 waiting in the landing zone; 0 received: 0 accepted, 0 rejected, 0 late, "
                         "0 superseded"]
