"""Unit tests of transforms/skm_scores.py: element totals, NRR, IKM per weight mode, roll-ups, sample size.

Golden (DOMAIN.md): 29 respondents, element totals 105, 101, 100, 116, 102, 105, 106, 105, 115 (Σ 955):
exact IKM = 25/9 · 955/29 = 23875/261 = 91.475... -> 91.48; 0.111 -> 91.38; 0.11 -> 90.56.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import polars as pl
import pytest

from transforms import skm_scores
from transforms.methodology import Methodology

GOLDEN_TOTALS = [105, 101, 100, 116, 102, 105, 106, 105, 115]


def totals_frame(m: Methodology, units: dict[str, tuple[list[int], list[int]]]) -> pl.LazyFrame:
    """Wide element totals per unit: (sums, answer counts) per element in the methodology's order."""
    rows = []
    for unit, (sums, counts) in units.items():
        row: dict[str, object] = {"region_code": "35.78", "unit_id": unit, "n_respondents": max(counts)}
        for element, s, n in zip(m.survey.element_codes, sums, counts, strict=True):
            row[f"{element}__sum"], row[f"{element}__n"] = s, n
        rows.append(row)
    return pl.LazyFrame(rows)


def with_mode(m: Methodology, mode: str) -> Methodology:
    return dataclasses.replace(m, survey=dataclasses.replace(m.survey, weight_mode=mode))


def test_element_totals_count_answers_per_element(methodology_2024: Methodology) -> None:
    """Two respondents; one leaves `persyaratan` empty: its sum is 4 over 1 answer, others 2 answers."""
    elements = methodology_2024.survey.element_codes
    responses = pl.LazyFrame([
        {"region_code": "35.78", "unit_id": "U1", **dict.fromkeys(elements, 4)},
        {"region_code": "35.78", "unit_id": "U1", **dict.fromkeys(elements, 3), "persyaratan": None},
    ])
    row = skm_scores.element_totals_of(responses, methodology_2024.survey.element_codes).collect().row(0, named=True)
    assert row["n_respondents"] == 2
    assert (row["persyaratan__sum"], row["persyaratan__n"]) == (4, 1)
    assert (row["sarana__sum"], row["sarana__n"]) == (7, 2)


def test_element_totals_of_keeps_by_groups_apart() -> None:
    """The same unit in two submissions (`by`) gives two rows."""
    responses = pl.LazyFrame({"submission_id": ["s1", "s2", "s2"], "region_code": ["35.78"] * 3,
                              "unit_id": ["U1"] * 3, "x": [1, 2, 3]})
    out = skm_scores.element_totals_of(responses, ["x"], by=["submission_id"]).collect().sort("submission_id")
    assert out.select("submission_id", "n_respondents", "x__sum", "x__n").rows() == [("s1", 1, 1, 1), ("s2", 2, 5, 2)]


def test_skm_scores_nrr_per_element_four_decimals(methodology_2024: Methodology) -> None:
    """NRR of persyaratan = 105/29 = 3.62068... shown as 3.6207; an element nobody answered has no NRR."""
    counts = [29] * 8 + [0]
    rows = skm_scores.skm_scores(totals_frame(methodology_2024, {"U1": (GOLDEN_TOTALS, counts)}),
                                 methodology_2024).collect()
    nrr = dict(zip(rows["element"], rows["nrr"], strict=True))
    assert nrr["persyaratan"] == 3.6207
    assert nrr["sarana"] is None
    assert rows.height == 9


@pytest.mark.parametrize(("mode", "cents", "mutu"), [("exact", 9148, "A"), ("0.111", 9138, "A"), ("0.11", 9056, "A")])
def test_unit_ikm_golden_in_each_weight_mode(methodology_2024: Methodology, mode: str, cents: int, mutu: str) -> None:
    """DOMAIN.md's golden survey in the three weight modes."""
    m = with_mode(methodology_2024, mode)
    row = skm_scores.unit_ikm(totals_frame(m, {"U1": (GOLDEN_TOTALS, [29] * 9)}), m).collect().row(0, named=True)
    assert (row["ikm_cents"], row["ikm"], row["ikm_mutu"]) == (cents, cents / 100, mutu)
    assert row["ikm_mutu_label"] == "Sangat Baik"


def test_unit_ikm_extremes_and_unanswered_element(methodology_2024: Methodology) -> None:
    """All 4s -> 100.00 (A); all 1s -> 25.00 (D, Tidak Baik); an element with no answer -> no IKM."""
    frame = totals_frame(methodology_2024, {"U4": ([40] * 9, [10] * 9), "U1": ([10] * 9, [10] * 9),
                                            "U0": ([40] * 8 + [0], [10] * 8 + [0])})
    rows = {r["unit_id"]: r for r in skm_scores.unit_ikm(frame, methodology_2024).collect().iter_rows(named=True)}
    assert (rows["U4"]["ikm"], rows["U4"]["ikm_mutu"]) == (100.0, "A")
    assert (rows["U1"]["ikm"], rows["U1"]["ikm_mutu"], rows["U1"]["ikm_mutu_label"]) == (25.0, "D", "Tidak Baik")
    assert (rows["U0"]["ikm"], rows["U0"]["ikm_value"], rows["U0"]["ikm_nums"]) == (None, None, None)


def test_with_ikm_parts_adds_null_parts_only_when_missing() -> None:
    """Frames not made by unit_ikm get null parts (no IKM); present parts are left alone."""
    bare = skm_scores.with_ikm_parts(pl.LazyFrame({"unit_id": ["U1"]})).collect()
    assert bare.row(0, named=True) == {"unit_id": "U1", "ikm_value": None, "ikm_nums": None, "ikm_dens": None}
    kept = skm_scores.with_ikm_parts(pl.LazyFrame({"unit_id": ["U1"], "ikm_value": [50.0]})).collect()
    assert kept["ikm_value"].to_list() == [50.0]


def test_rolled_ikm_is_the_mean_of_exact_ikms_rounded_once(methodology_2024: Methodology) -> None:
    """Golden unit (23875/261) and an all-4s unit (100) average to (23875 + 26100)/522 = 95.7375... -> 95.74;
    a unit without survey is not counted."""
    frame = totals_frame(methodology_2024, {"G": (GOLDEN_TOTALS, [29] * 9), "F": ([40] * 9, [10] * 9)})
    units = pl.concat([skm_scores.unit_ikm(frame, methodology_2024),
                       skm_scores.with_ikm_parts(pl.LazyFrame({"region_code": ["35.78"], "unit_id": ["none"]}))],
                      how="diagonal")
    rolled = (units.group_by("region_code").agg(*skm_scores.rolled_ikm(grouped=True))
              .with_columns(ikm_cents=skm_scores.rolled_ikm_cents(methodology_2024)).collect().row(0, named=True))
    expected = (Fraction(23875, 261) + 100) / 2
    assert rolled["n_ikm"] == 2
    assert rolled["ikm_cents"] == int((expected * 200 + 1) // 2) == 9574


def test_rolled_ikm_over_no_survey_is_null(methodology_2024: Methodology) -> None:
    """A whole-frame roll-up of units none of which was surveyed has no IKM."""
    units = skm_scores.with_ikm_parts(pl.LazyFrame({"region_code": ["35.78"], "unit_id": ["U1"]}))
    out = units.select(*skm_scores.rolled_ikm(grouped=False)).with_columns(
        ikm_cents=skm_scores.rolled_ikm_cents(methodology_2024)).collect().row(0, named=True)
    assert (out["n_ikm"], out["ikm_cents"]) == (0, None)


def test_required_sample_takes_the_next_larger_population(methodology_2024: Methodology) -> None:
    """DOMAIN.md checks 51 -> 48, 221 -> 144, 301 -> 175, 2001 -> 327; 100 is its own row (80); above
    1,000,000 the last row (384); 5 users need all 5 (a sample never exceeds its population); no population,
    nothing required."""
    users = {"a": 51, "b": 221, "c": 301, "d": 2001, "e": 100, "f": 2_000_000, "g": 5, "h": None}
    units = pl.LazyFrame({"region_code": ["35.78"] * len(users), "unit_id": list(users),
                          "annual_service_users": list(users.values())},
                         schema_overrides={"annual_service_users": pl.Int64})
    out = skm_scores.required_sample(units, methodology_2024).collect()
    required = dict(zip(out["unit_id"], out["sample_required"], strict=True))
    assert required == {"a": 48, "b": 144, "c": 175, "d": 327, "e": 80, "f": 384, "g": 5, "h": None}
