"""Unit tests of transforms/f03_scores.py: F-03 totals and the exact blend with F-02 (README "Exact numbers").

By hand with weights 75/25: the worked example's F-02 3.8858 with F03 = 17/5 = 3.40 gives
0.75·3.8858 + 0.25·3.40 = 3.76435 -> 3.76 (B); F-02 4.00 with F03 = 201/50 = 4.02 gives exactly 4.005 -> 4.01 (A-).
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import polars as pl

from transforms import f03_scores
from transforms.methodology import Methodology

D = 27720  # lcm(1..12), 2024's evaluator denominator
DP = 100 * 100 * D


def blending(m: Methodology, without: str = "not_scored") -> Methodology:
    return dataclasses.replace(m, f03_enabled=True, f03_weights=(75, 25), f03_without=without)


def f02_rows() -> pl.LazyFrame:
    """unit_ipp-like rows: G the worked example (38858/10000), F exactly 4, N none of F-03, I incomplete."""
    return pl.LazyFrame({
        "region_code": ["35.78"] * 4, "unit_id": ["G", "F", "N", "I"],
        "ipp_num": [38858 * D, 4 * DP, 4 * DP, None], "ipp_den": [DP] * 4,
        "status": ["scored", "scored", "scored", "incomplete"],
        "ipp": [3.89, 4.0, 4.0, None], "ipp_exact": [3.8858, 4.0, 4.0, None],
    }, schema_overrides={"ipp_num": pl.Int64, "ipp_den": pl.Int64})


def answers(unit: str, scores: list[int]) -> list[dict[str, object]]:
    return [{"region_code": "35.78", "unit_id": unit, "respondent_id": f"R{k // 2}", "score": s}
            for k, s in enumerate(scores)]


def responses() -> pl.LazyFrame:
    """G: 5 answers summing 17 (3.40); F: 50 answers summing 201 (4.02); I: some answers; N: none."""
    rows = [*answers("G", [4, 4, 3, 3, 3]), *answers("F", [4] * 49 + [5]), *answers("I", [5, 5])]
    return pl.LazyFrame(rows, schema={"region_code": pl.String, "unit_id": pl.String, "respondent_id": pl.String,
                                      "score": pl.Int64})


def blended(m: Methodology) -> dict[str, dict]:
    out = f03_scores.blended_ipp(f02_rows(), f03_scores.f03_totals(responses()), m).collect()
    return {r["unit_id"]: r for r in out.iter_rows(named=True)}


def test_f03_totals_sum_count_and_respondents() -> None:
    """Null answers are no answers; respondents are counted once each (R0, R1, R2 for G's 5 answers)."""
    blank = {"region_code": "35.78", "unit_id": "G", "respondent_id": "R9", "score": None}
    rows = pl.LazyFrame([*answers("G", [4, 4, 3, 3, 3]), blank])
    row = f03_scores.f03_totals(rows).collect().row(0, named=True)
    assert (row["f03_sum"], row["n_f03_answers"], row["n_f03_respondents"]) == (17, 5, 3)


def test_blend_of_the_worked_example_is_exact(methodology_2024: Methodology) -> None:
    """3.8858 blended with 3.40 is the fraction 3.76435 exactly, published 3.76 B; F-02 values kept beside."""
    g = blended(blending(methodology_2024))["G"]
    assert Fraction(g["ipp_num"], g["ipp_den"]) == Fraction(376435, 100000)
    assert (g["ipp_cents"], g["ipp"], g["predicate"]) == (376, 3.76, "B")
    assert (g["ipp_f02"], g["ipp_f02_exact"], g["f03"]) == (3.89, 3.8858, 3.4)


def test_blend_of_an_exact_half_cent_rounds_up(methodology_2024: Methodology) -> None:
    """4.00 with 201/50 is exactly 4.005: half-up gives 4.01, predicate A- (4.00 alone would be B)."""
    f = blended(blending(methodology_2024))["F"]
    assert Fraction(f["ipp_num"], f["ipp_den"]) == Fraction(4005, 1000)
    assert (f["ipp"], f["predicate"], f["f03"]) == (4.01, "A-", 4.02)


def test_unit_without_f03_is_not_scored_under_not_scored(methodology_2024: Methodology) -> None:
    """`without_f03 = "not_scored"`: status no_f03, no IPP, F-02's IPP kept in ipp_f02."""
    n = blended(blending(methodology_2024, "not_scored"))["N"]
    assert (n["status"], n["ipp"], n["predicate"], n["n_f03_answers"]) == ("no_f03", None, None, 0)
    assert n["ipp_f02"] == 4.0


def test_unit_without_f03_keeps_f02_under_f02_only(methodology_2024: Methodology) -> None:
    """`without_f03 = "f02_only"`: the unit stays scored with its F-02 IPP 4.00 (B)."""
    n = blended(blending(methodology_2024, "f02_only"))["N"]
    assert (n["status"], n["ipp"], n["predicate"], n["n_f03_answers"]) == ("scored", 4.0, "B", 0)
    assert Fraction(n["ipp_num"], n["ipp_den"]) == 4


def test_unit_not_scored_on_f02_stays_as_it_is(methodology_2024: Methodology) -> None:
    """An incomplete unit with F-03 answers is still incomplete and has no IPP; its F-03 mean is shown (5.00)."""
    i = blended(blending(methodology_2024))["I"]
    assert (i["status"], i["ipp"], i["f03"]) == ("incomplete", None, 5.0)
