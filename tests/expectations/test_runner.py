"""Unit tests of expectations/runner.py: one batched Great Expectations run (GE's import costs ~10 s)."""

from __future__ import annotations

import polars as pl

from expectations import runner
from tests.expectations.test_checks import evaluations, units
from transforms.methodology import Methodology


def test_validate_bundles_batches_bundles_with_separate_verdicts(methodology_2024: Methodology) -> None:
    """One GE call for two bundles. 35.78's 11th unit, of type BANK, is set aside (row rule at source row 12);
    1 bad row of 11 is 9.1%, within 2024's 10%, so the bundle is accepted (one of 2 would be 50%: rejected).
    35.01's units claim region 35.78: region_ownership rejects that bundle alone."""
    m = methodology_2024
    good = {"units": units([*((f"U{k}", "RSUD", None) for k in range(1, 11)), ("U11", "BANK", None)]),
            "evaluations": pl.concat([evaluations(m, f"U{k}") for k in range(1, 12)])}
    foreign = {"units": units([("U9", "RSUD", None)], region="35.78"), "evaluations": evaluations(m, "U9")}
    first, second = runner.validate_bundles([("35.78", good), ("35.01", foreign)], m)
    assert not first.rejected
    assert first.issues.filter(pl.col("rule") == "unit_type_allowed").select("row", "value").rows() == [(12, "BANK")]
    assert first.clean["units"]["unit_id"].to_list() == [f"U{k}" for k in range(1, 11)]
    assert second.rejected and "region_ownership" in second.issues["rule"].to_list()
    assert second.reason
