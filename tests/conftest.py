"""Shared fixtures: the shipped methodologies and a Prefect home per test session."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from flows.settings import load_methodology, prefect_defaults
from transforms.methodology import Methodology

# Prefect's embedded local mode needs a home of its own and patience on a small machine (set before any
# test module imports Prefect, which reads its settings at import).
prefect_defaults(os.environ.get("PREFECT_HOME") or tempfile.mkdtemp(prefix="pekppp-prefect-"))


@pytest.fixture(scope="session")
def prefect_local() -> Iterator[None]:
    """One Prefect local server (temporary database) for every test that runs a real flow in this process,
    started on first use and stopped at the end of the session (each start costs 10-20 s here)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(scope="session")
def methodology_2024() -> Methodology:
    return load_methodology("2024")


@pytest.fixture(scope="session")
def methodology_2023() -> Methodology:
    return load_methodology("2023")


@pytest.fixture()
def places(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh landing zone and warehouse."""
    return tmp_path / "landing", tmp_path / "warehouse"
