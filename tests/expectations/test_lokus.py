"""The lokus rule (issue 19): a unit outside its tier's lokus is a row issue naming the lokus; the bundle goes on."""

from __future__ import annotations

import polars as pl
import pytest

from expectations import suites
from expectations.runner import validate_bundles, validate_tables
from tests.expectations.test_suites import typed
from transforms.methodology import Methodology


@pytest.fixture(scope="module", autouse=True)
def _great_expectations() -> None:
    suites.warm_up()


def bundle(m: Methodology, body: str, types: list[str]) -> dict[str, pl.DataFrame]:
    """One unit per type (every indicator scored 4 by one evaluator), no survey."""
    units = [{"unit_id": f"U{n}", "unit_name": f"Unit {n}", "unit_type": t, "region_code": body}
             for n, t in enumerate(types, start=1)]
    evaluations = [{"unit_id": u["unit_id"], "indicator_code": c, "score": 4, "evaluator_id": "E1"}
                   for u in units for c in m.indicator_codes]
    return {"units": typed("units", units, m, row_numbers=list(range(2, 2 + len(units)))),
            "evaluations": typed("evaluations", evaluations, m, row_numbers=list(range(2, 2 + len(evaluations))))}


def test_a_kota_unit_outside_the_lokus_is_set_aside_and_named(methodology_2023: Methodology) -> None:
    # 2023 kab/kota lokus: RSUD, KECAMATAN, DINSOS. Two of five units are outside: 40 % of the units table,
    # far above max_bad_row_share (5 %), yet the bundle goes on: the lokus is the ministry's choice.
    m = methodology_2023
    outcome = validate_tables(bundle(m, "35.78", ["RSUD", "SAMSAT", "KECAMATAN", "DPMPTSP", "DINSOS"]), m, "35.78")
    assert not outcome.rejected
    lokus = outcome.issues.filter(pl.col("rule") == "unit_type_lokus")
    assert lokus.select("table", "row", "column", "value", "severity").rows() == [
        ("units", 3, "unit_type", "SAMSAT", "row"), ("units", 5, "unit_type", "DPMPTSP", "row")]
    assert lokus["message"][0] == (
        "Row 3 of units has unit_type 'SAMSAT', which is not in the lokus of cycle 2023 for a kabupaten/kota: "
        "RSUD, KECAMATAN, DINSOS. The unit is not scored this cycle (the rest of the bundle is used); remove it, "
        "or correct its unit_type if it is wrong.")
    assert outcome.clean["units"]["unit_id"].to_list() == ["U1", "U3", "U5"]
    # the set-aside units' evaluations are no problem of their own (their unit is listed)
    assert set(outcome.issues["rule"]) == {"unit_type_lokus"}


def test_a_kl_sends_its_own_lokus_and_a_region_type_is_outside_it(methodology_2023: Methodology) -> None:
    m = methodology_2023
    kl, province = validate_bundles([("027", bundle(m, "027", ["UPT_KL", "UPT_KL", "RSUD"])),
                                     ("35", bundle(m, "35", ["SAMSAT", "UPT_KL"]))], m)
    assert [(r["row"], r["value"]) for r in kl.issues.iter_rows(named=True)] == [(4, "RSUD")]
    assert "for a ministry or agency (K/L): UPT_KL." in kl.issues["message"].item()
    assert kl.clean["units"]["unit_id"].to_list() == ["U1", "U2"]
    assert [(r["row"], r["value"]) for r in province.issues.iter_rows(named=True)] == [(3, "UPT_KL")]
    assert "for a province: SAMSAT, RSUD, DINSOS." in province.issues["message"].item()


def test_an_unknown_type_is_reported_once_by_unit_type_allowed(methodology_2023: Methodology) -> None:
    m = methodology_2023
    outcome = validate_tables(bundle(m, "35.78", ["RSUD", "BANK"]), m, "35.78")
    # (one bad unit of two also passes the bad-row share: a type outside the cycle's list is a bad row)
    assert outcome.issues.filter(pl.col("table") == "units", pl.col("row").is_not_null()) \
        .select("value", "rule").rows() == [("BANK", "unit_type_allowed")]


def test_a_kl_may_only_send_its_own_units(methodology_2023: Methodology) -> None:
    m = methodology_2023
    tables = bundle(m, "027", ["UPT_KL", "UPT_KL"])
    tables["units"] = tables["units"].with_columns(region_code=pl.Series(["027", "054"]))
    outcome = validate_tables(tables, m, "027")
    assert outcome.rejected
    assert outcome.issues.filter(pl.col("rule") == "region_ownership").select("row", "value").rows() == [(3, "054")]
