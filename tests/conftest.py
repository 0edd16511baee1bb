"""Shared fixtures: the shipped methodologies and a Prefect home per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Prefect's embedded local mode needs a home of its own and patience on a small machine.
os.environ.setdefault("PREFECT_HOME", tempfile.mkdtemp(prefix="pekppp-prefect-"))
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

from flows.settings import load_methodology
from transforms.methodology import Methodology


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
