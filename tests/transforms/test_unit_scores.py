"""Unit tests of transforms/unit_scores.py: exact IPP per unit and aspect, statuses, evaluators, ranks.

The worked example of DOMAIN.md by hand: aspect sums Σ w_i·s_i are a 416, b 430, c 373, d 410, e 390,
f 250, so IPP = (24·416 + 25·430 + 18·373 + 11·410 + 10·390 + 12·250) / 10000 = 38858 / 10000.
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl
import pytest

from transforms import unit_scores
from transforms.methodology import Methodology

GOLDEN = {"a": [5, 4, 3, 4, 5, 5, 3, 4, 2], "b": [4, 5, 4, 3, 5], "c": [5, 4, 4, 3, 2, 4], "d": [4, 3, 4, 5],
          "e": [5, 4, 4, 3], "f": [3, 2]}
SCHEMA = {"region_code": pl.String, "unit_id": pl.String, "indicator_code": pl.String, "score": pl.Int64,
          "evaluator_id": pl.String}



def indicator_scores(evaluations: pl.LazyFrame, m: Methodology) -> pl.LazyFrame:
    """Per unit and indicator from evaluation rows, as scoring composes it (totals, then the cycle's scores)."""
    return unit_scores.indicator_scores_of(unit_scores.indicator_totals(evaluations), m)

def evaluations(m: Methodology, scores: dict[str, list[int]] | int, *, unit: str = "U1", evaluator: str | None = "E1",
                skip: tuple[str, ...] = ()) -> pl.DataFrame:
    """One evaluator's sheet for a unit: per aspect a list of scores, or one score everywhere."""
    rows = []
    for aspect in m.aspects:
        given = [scores] * len(aspect.indicators) if isinstance(scores, int) else scores[aspect.code]
        for indicator, score in zip(aspect.indicators, given, strict=True):
            if indicator.code not in skip:
                rows.append({"region_code": "35.78", "unit_id": unit, "indicator_code": indicator.code,
                             "score": score, "evaluator_id": evaluator})
    return pl.DataFrame(rows, schema=SCHEMA)


def ipp_rows(m: Methodology, frame: pl.DataFrame) -> pl.DataFrame:
    aspects = unit_scores.aspect_scores(indicator_scores(frame.lazy(), m), m)
    return unit_scores.unit_ipp(aspects, m).collect().sort("unit_id")


def test_evaluator_denominator_is_lcm_of_1_to_max_evaluators(methodology_2024: Methodology) -> None:
    """2024 allows 12 evaluators: lcm(1..12) = 2^3·3^2·5·7·11 = 27720."""
    assert methodology_2024.max_evaluators == 12
    assert unit_scores.evaluator_denominator(methodology_2024) == 27720


def test_indicator_weights_carry_both_weights(methodology_2024: Methodology) -> None:
    """30 indicators; 1.a.Ak weighs 17 in aspect a (24), 29.f.B 50 in aspect f (12) (DOMAIN.md)."""
    weights = unit_scores.indicator_weights(methodology_2024).collect()
    assert weights.height == 30
    by_code = {r["indicator_code"]: r for r in weights.iter_rows(named=True)}
    assert (by_code["1.a.Ak"]["indicator_weight"], by_code["1.a.Ak"]["aspect_weight"]) == (17, 24)
    assert (by_code["29.f.B"]["aspect_code"], by_code["29.f.B"]["indicator_weight"]) == ("f", 50)
    assert weights.group_by("aspect_code").agg(pl.col("indicator_weight").sum())["indicator_weight"].to_list() \
        == [100] * 6


def test_indicator_totals_sum_and_count_non_null_scores() -> None:
    """Two evaluators give 4 and 5 (sum 9, n 2); a null score is no score at all."""
    frame = pl.DataFrame([
        {"region_code": "35.78", "unit_id": "U1", "indicator_code": "1.a.Ak", "score": 4, "evaluator_id": "E1"},
        {"region_code": "35.78", "unit_id": "U1", "indicator_code": "1.a.Ak", "score": 5, "evaluator_id": "E2"},
        {"region_code": "35.78", "unit_id": "U1", "indicator_code": "2.a.P", "score": None, "evaluator_id": "E1"},
    ], schema=SCHEMA)
    totals = unit_scores.indicator_totals(frame.lazy()).collect()
    assert totals.select("indicator_code", "score_sum", "n_scores").rows() == [("1.a.Ak", 9, 2)]


def test_indicator_scores_scale_means_exactly_and_flag_too_many_evaluators(methodology_2024: Methodology) -> None:
    """scaled = sum·D/n: 9 over 2 evaluators is 9·13860; 13 evaluators do not divide 27720 (flagged); a code
    outside the cycle's indicators is dropped."""
    totals = pl.LazyFrame({"region_code": ["35.78"] * 3, "unit_id": ["U1", "U2", "U1"],
                           "indicator_code": ["1.a.Ak", "1.a.Ak", "99.z.X"], "score_sum": [9, 52, 5],
                           "n_scores": [2, 13, 1]})
    out = unit_scores.indicator_scores_of(totals, methodology_2024).collect().sort("unit_id")
    assert out["indicator_code"].to_list() == ["1.a.Ak", "1.a.Ak"]
    assert out.row(0, named=True)["scaled"] == 9 * 13860
    assert out["divisible"].to_list() == [True, False]


def test_aspect_scores_of_the_worked_example(methodology_2024: Methodology) -> None:
    """a 416/100 = 4.16, b 4.30, c 3.73, d 4.10, e 3.90, f 2.50 (DOMAIN.md)."""
    frame = evaluations(methodology_2024, GOLDEN)
    aspects = unit_scores.aspect_scores(indicator_scores(frame.lazy(), methodology_2024),
                                        methodology_2024).collect()
    assert dict(zip(aspects["aspect_code"], aspects["aspect_cents"], strict=True)) == \
        {"a": 416, "b": 430, "c": 373, "d": 410, "e": 390, "f": 250}
    assert aspects["complete"].all()


def test_aspect_missing_an_indicator_has_no_score(methodology_2024: Methodology) -> None:
    """Aspect f with only 29.f.B scored: 1 of 2 indicators, incomplete, no score; the others stand."""
    frame = evaluations(methodology_2024, 4, skip=("30.f.B",))
    aspects = unit_scores.aspect_scores(indicator_scores(frame.lazy(), methodology_2024),
                                        methodology_2024).collect()
    f = aspects.filter(pl.col("aspect_code") == "f").row(0, named=True)
    assert (f["n_scored"], f["complete"], f["score"]) == (1, False, None)
    assert aspects.filter(pl.col("aspect_code") == "a")["score"].item() == 4.0


def test_unit_ipp_of_the_worked_example_is_exact(methodology_2024: Methodology) -> None:
    """IPP = 38858/10000 exactly (num/den in integers), published 3.89, predicate B, zone hijau."""
    row = ipp_rows(methodology_2024, evaluations(methodology_2024, GOLDEN)).row(0, named=True)
    assert Fraction(row["ipp_num"], row["ipp_den"]) == Fraction(38858, 10000)
    assert row["ipp_den"] == 100 * 100 * 27720
    assert (row["ipp_cents"], row["ipp"], row["predicate"], row["zone"]) == (389, 3.89, "B", "hijau")
    assert (row["status"], row["n_indicators_scored"]) == ("scored", 30)


def test_two_evaluators_halves_stay_exact(methodology_2024: Methodology) -> None:
    """All 4s and all 5s average to 4.5 everywhere: exactly 4.50 -> A- (below the 4.51 of A)."""
    frame = pl.concat([evaluations(methodology_2024, 4, evaluator="E1"),
                       evaluations(methodology_2024, 5, evaluator="E2")])
    row = ipp_rows(methodology_2024, frame).row(0, named=True)
    assert Fraction(row["ipp_num"], row["ipp_den"]) == Fraction(9, 2)
    assert (row["ipp"], row["predicate"]) == (4.5, "A-")


def test_incomplete_unit_has_status_but_no_ipp(methodology_2024: Methodology) -> None:
    """29 of 30 indicators scored: status incomplete, no IPP or predicate."""
    row = ipp_rows(methodology_2024, evaluations(methodology_2024, 5, skip=("1.a.Ak",))).row(0, named=True)
    assert (row["status"], row["n_indicators_scored"]) == ("incomplete", 29)
    assert (row["ipp_num"], row["ipp"], row["predicate"]) == (None, None, None)


def test_more_evaluators_than_the_limit_is_flagged_not_rounded(methodology_2024: Methodology) -> None:
    """13 evaluators (max 12): 13 does not divide D, so the unit is too_many_evaluators with no IPP."""
    frame = pl.concat([evaluations(methodology_2024, 4, evaluator=f"E{k}") for k in range(13)])
    row = ipp_rows(methodology_2024, frame).row(0, named=True)
    assert (row["status"], row["ipp"]) == ("too_many_evaluators", None)


@pytest.mark.parametrize(("cents", "predicate", "label"), [(451, "A", "Pelayanan Prima"), (450, "A-", "Sangat Baik"),
                                                            (101, "E", "Sangat Buruk")])
def test_predicate_columns(methodology_2024: Methodology, cents: int, predicate: str, label: str) -> None:
    """Code and label of a rounded IPP by the cycle's bands."""
    out = pl.select(**unit_scores.predicate_columns(pl.lit(cents), methodology_2024)).row(0, named=True)
    assert (out["predicate"], out["predicate_label"]) == (predicate, label)


def test_evaluator_counts_treat_a_missing_id_as_one_anonymous_evaluator() -> None:
    """E1, E2, E1 again and two null ids: three distinct evaluators (E1, E2, anonymous)."""
    frame = pl.DataFrame({"region_code": ["35.78"] * 5, "unit_id": ["U1"] * 5,
                          "evaluator_id": ["E1", "E2", "E1", None, None]})
    out = unit_scores.evaluator_counts(frame.lazy()).collect()
    assert out["n_evaluators"].to_list() == [3]


def test_rank_in_type_ranks_within_each_unit_type() -> None:
    """RSUD 450, 450, 300 -> 1, 1, 3; DINSOS 200 -> 1 on its own; an unscored unit gets no rank."""
    units = pl.LazyFrame({"unit_id": ["a", "b", "c", "d", "e"],
                          "unit_type": ["RSUD", "RSUD", "RSUD", "DINSOS", "DINSOS"],
                          "ipp_cents": [450, 450, 300, 200, None]})
    out = unit_scores.rank_in_type(units).collect()
    assert out["rank_in_type"].to_list() == [1, 1, 3, 1, None]
