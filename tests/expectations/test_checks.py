"""Unit tests of expectations/checks.py: messages, the Polars aggregate checks and the lokus, without GE."""

from __future__ import annotations

from datetime import datetime

import polars as pl
import pytest

from expectations import checks
from expectations.suites import SuiteError
from transforms.methodology import Methodology
from transforms.schemas import BAD, ROW


def units(rows: list[tuple[str, str, int | None]], region: str = "35.78") -> pl.DataFrame:
    """(unit_id, unit_type, annual_service_users) rows as the reader types them, source rows from 2."""
    return pl.DataFrame({
        "unit_id": [r[0] for r in rows], "unit_name": [f"Unit {r[0]}" for r in rows],
        "unit_type": [r[1] for r in rows], "region_code": [region] * len(rows),
        "annual_service_users": [r[2] for r in rows], ROW: list(range(2, len(rows) + 2)), BAD: [False] * len(rows),
    }, schema_overrides={"annual_service_users": pl.Int64, ROW: pl.Int64})


def evaluations(m: Methodology, unit: str, skip: int = 0) -> pl.DataFrame:
    """One evaluator's full sheet for `unit` (all 4s), leaving out the last `skip` indicators."""
    codes = m.indicator_codes[: len(m.indicator_codes) - skip]
    return pl.DataFrame({"unit_id": unit, "indicator_code": codes, "score": 4, "evaluator_id": "E1",
                         "evidence": None, ROW: range(2, len(codes) + 2), BAD: False},
                        schema_overrides={"score": pl.Int64, "evidence": pl.String, ROW: pl.Int64})


def test_message_expr_fills_rows_values_and_parameters() -> None:
    """{row} and {value} per issue (missing ones as '-' and '(empty)'), lists comma-joined, day dates as dates."""
    issues = pl.DataFrame({"row": [3, None], "value": ["X", None]}, schema={"row": pl.Int64, "value": pl.String})
    expr = checks.message_expr("{table}.{column} row {row}: {value} not in {unit_types} from {window_start}",
                               table="units", column="unit_type",
                               params={"unit_types": ["RSUD", "MPP"], "window_start": datetime(2024, 1, 1)})
    assert issues.select(expr).to_series().to_list() == [
        "units.unit_type row 3: X not in RSUD, MPP from 2024-01-01",
        "units.unit_type row -: (empty) not in RSUD, MPP from 2024-01-01"]
    with pytest.raises(SuiteError, match="unknown placeholder"):
        checks.message_expr("{nope}", table="t", column=None, params={})


def test_completeness_warns_per_unit_listing_five_missing_codes(methodology_2024: Methodology) -> None:
    """U1 complete: no warning. U2 lacks the last 7 indicators: one warning on its units row (3) listing the
    first five missing codes in methodology order, then '...'."""
    m = methodology_2024
    frame = units([("U1", "RSUD", 10), ("U2", "RSUD", 10)])
    issues = checks.completeness_issues(frame, pl.concat([evaluations(m, "U1"), evaluations(m, "U2", skip=7)]), m)
    assert issues.select("row", "value", "rule", "severity").rows() == [(3, "U2", "incomplete_unit", "warning")]
    assert "has 7 of 30 indicators" in issues["message"][0]
    assert "(24.d.T, 25.e.P, 26.e.P, 27.e.Ak, 28.e.Ak, ...)" in issues["message"][0]


def test_sample_issues_compare_respondents_with_krejcie_morgan(methodology_2024: Methodology) -> None:
    """51 users need 48 (DOMAIN.md): 47 respondents warn (1 more needed); U2 without population is not
    checked; U3 with 10 users and no survey needs 10."""
    frame = units([("U1", "RSUD", 51), ("U2", "RSUD", None), ("U3", "RSUD", 10)])
    responses = pl.DataFrame({"unit_id": ["U1"] * 47, "respondent_id": [f"R{k}" for k in range(47)]})
    issues = checks.sample_issues(frame, responses, methodology_2024)
    assert issues.select("row", "value", "rule").rows() == [(2, "51", "sample_too_small"),
                                                            (4, "10", "sample_too_small")]
    assert "needs at least 48 (Krejcie-Morgan). Collect 1 more" in issues["message"][0]


def test_outside_lokus_and_its_issues(methodology_2024: Methodology) -> None:
    """A kota's SAMSAT is a 2024 unit type but not kab/kota lokus (RSUD, KECAMATAN, DINSOS): one row issue;
    BANK is no unit type at all (unit_type_allowed's); a province may send SAMSAT."""
    frame = units([("U1", "RSUD", 1), ("U2", "SAMSAT", 1), ("U3", "BANK", 1)])
    outside = checks.outside_lokus(frame, methodology_2024, "35.78")
    assert outside is not None and outside.to_list() == [False, True, False]
    issues = checks.lokus_issues(frame, outside, methodology_2024, {"region_code": "35.78", "cycle": "2024"})
    assert issues.select("row", "column", "value", "rule", "severity").rows() == \
        [(3, "unit_type", "SAMSAT", "unit_type_lokus", "row")]
    assert checks.outside_lokus(units([("U2", "SAMSAT", 1)], region="35"), methodology_2024, "35") is None
