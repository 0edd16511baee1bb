"""Unit tests of transforms/methodology.py: the typed object's helpers (parse_methodology's checks:
test_methodology_parser.py).

Each test starts from the shipped 2024 file as a mapping and changes one thing, so the error is about
that thing alone.
"""

from __future__ import annotations

import copy
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from transforms.methodology import MethodologyError
from transforms.methodology_parser import parse_methodology

SHIPPED = tomllib.loads((Path(__file__).resolve().parents[2] / "data/methodology/2024.toml").read_text("utf-8"))


def raw() -> dict[str, Any]:
    return copy.deepcopy(SHIPPED)


@pytest.mark.parametrize(("mode", "weight"), [("exact", (1, 9)), ("0.111", (111, 1000)), ("0.11", (11, 100))])
def test_element_weight_per_mode(mode: str, weight: tuple[int, int]) -> None:
    """IKM element weight: exact 1/9 for nine elements, or the legacy 0.111 and 0.11 (DOMAIN.md)."""
    mapping = raw()
    mapping["survey"]["weight_mode"] = mode
    assert parse_methodology(mapping, cycle="2024").survey.element_weight() == weight



def test_predicate_rank_counts_from_the_best() -> None:
    m = parse_methodology(raw(), cycle="2024")
    assert (m.predicate_rank("A"), m.predicate_rank("A-"), m.predicate_rank("F")) == (0, 1, 8)
    with pytest.raises(MethodologyError, match="unknown predicate 'Z'"):
        m.predicate_rank("Z")



def test_is_late_only_after_a_closed_cycle_closes() -> None:
    """Open: never late. Closed at T: a bundle at T is in time, one a second later is late."""
    closes = datetime(2025, 3, 31, 16, 59, 59, tzinfo=UTC)
    assert not parse_methodology(raw(), cycle="2024").is_late(closes + timedelta(days=400))
    mapping = raw()
    mapping["cycle"].update(status="closed", closes_at=closes)
    m = parse_methodology(mapping, cycle="2024")
    assert not m.is_late(closes) and m.is_late(closes + timedelta(seconds=1))



def test_lokus_of_each_tier() -> None:
    """2024 provinces: DINSOS, RSUD, SAMSAT; without [lokus] every tier takes every type (None)."""
    assert parse_methodology(raw(), cycle="2024").lokus_of("provinsi") == ("DINSOS", "RSUD", "SAMSAT")
    mapping = raw()
    del mapping["lokus"]
    assert parse_methodology(mapping, cycle="2024").lokus_of("kl") is None
