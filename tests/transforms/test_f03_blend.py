"""F-03 blend golden cases computed by hand: IPP = (75·F02 + 25·F03) / 100, exact, rounded half-up once."""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from tests.transforms.test_indices_golden import GOLDEN_ASPECTS, evaluations_for, uniform
from transforms.cycle import CycleInputs, score_cycle
from transforms.f03_scores import F03_COLUMNS, STATUS_NO_F03
from transforms.methodology import Methodology
from transforms.rounding import fraction_sum, half_up_cents_of_mean

REGION = "35.78"


@pytest.fixture()
def blended(methodology_2024: Methodology) -> Methodology:
    """2024's methodology with the blend on (75/25, units without F-03 answers not scored): a test setting."""
    return dataclasses.replace(methodology_2024, f03_enabled=True, f03_without="not_scored")


def f03_rows(unit_id: str, answers: list[int], per_respondent: int = 5) -> list[dict[str, object]]:
    """F-03 rows of one unit: the answers in order, `per_respondent` items per respondent."""
    return [{"region_code": REGION, "unit_id": unit_id, "respondent_id": f"R{n // per_respondent}",
             "score": score} for n, score in enumerate(answers)]


def score(methodology: Methodology, f02: dict[str, dict[str, list[int]]],
          f03: list[dict[str, object]], incomplete: tuple[str, ...] = ()) -> dict[str, pl.DataFrame]:
    """Score a cycle of one region (kota) holding the units of `f02` (unit id -> scores by aspect);
    units in `incomplete` lose their last indicator's score."""
    units = pl.DataFrame({"region_code": [REGION] * len(f02), "unit_id": list(f02),
                          "unit_name": list(f02), "unit_type": ["RSUD"] * len(f02),
                          "annual_service_users": [None] * len(f02), "submission_id": ["s"] * len(f02)},
                         schema_overrides={"annual_service_users": pl.Int64})
    evaluations = pl.concat([evaluations_for(methodology, scores, unit_id=unit, region_code=REGION)
                             .head(-1 if unit in incomplete else 10**6) for unit, scores in f02.items()])
    responses = pl.DataFrame(schema={"region_code": pl.String, "unit_id": pl.String, "respondent_id": pl.String,
                                     **{e: pl.Int8 for e in methodology.survey.element_codes}})
    regions = pl.DataFrame({"region_code": [REGION], "name": ["Kota Surabaya"], "province_code": ["35"],
                            "level": ["kota"]})
    answers = pl.DataFrame(f03, schema={"region_code": pl.String, "unit_id": pl.String, "respondent_id": pl.String,
                                        "score": pl.Int64})
    return score_cycle(CycleInputs(units.lazy(), evaluations.lazy(), responses.lazy(), regions.lazy(),
                                   f03_responses=answers.lazy()), methodology)


def test_golden_blend_of_the_worked_example(blended: Methodology) -> None:
    """DOMAIN's worked example (IPP_F02 = 3.8858) with five F-03 answers 4, 3, 3, 4, 3: F03 = 17/5 = 3.40.

    IPP = 0.75·3.8858 + 0.25·3.4 = 2.91435 + 0.85 = 3.76435 -> 3.76 -> B (3.51 <= 3.76 < 4.01).
    F-02 alone stays beside it: 3.89 (B); the F-03 mean is published as 3.40.
    """
    unit = score(blended, {"U1": GOLDEN_ASPECTS}, f03_rows("U1", [4, 3, 3, 4, 3]))["unit_scores"].row(0, named=True)
    assert unit["ipp_exact"] == pytest.approx(3.76435, abs=1e-12)
    assert (unit["ipp"], unit["predicate"], unit["status"]) == (3.76, "B", "scored")
    assert (unit["ipp_f02"], unit["f03"], unit["f03_sum"], unit["n_f03_answers"], unit["n_f03_respondents"]) == \
        (3.89, 3.40, 17, 5, 1)
    assert unit["ipp_f02_exact"] == pytest.approx(3.8858, abs=1e-12)


def test_half_up_boundary_of_the_blend(blended: Methodology) -> None:
    """F-02 all 4s (4.00) and 50 F-03 answers, 49 fours and one 5: F03 = 201/50 = 4.02.

    IPP = 0.75·4 + 0.25·4.02 = 3 + 1.005 = 4.005 exactly -> half-up 4.01 -> A- (its lower bound);
    rounding down (or float drift below 4.005) would give 4.00 -> B.
    """
    unit = score(blended, {"U1": uniform(blended, 4)}, f03_rows("U1", [4] * 49 + [5]))["unit_scores"]
    assert unit["ipp"].to_list() == [4.01]
    assert unit["predicate"].to_list() == ["A-"]
    assert unit["f03"].to_list() == [4.02]


def test_roll_up_is_the_exact_mean_not_the_mean_of_rounded_values(blended: Methodology) -> None:
    """Two units, F-02 all 4s, F-03 counts 13 and 11 (different denominators).

    U1: 4 of 13 F-03 points (4 answers of 1, nine of 0): F03 = 4/13, IPP = 3 + 1/13 = 3.076923 -> 3.08.
    U2: 3 of 11 (three 1s, eight 0s): F03 = 3/11, IPP = 3 + 3/44 = 3.068182 -> 3.07.
    Region and nation: (3 + 1/13 + 3 + 3/44) / 2 = 3 + 83/1144 = 3.072552 -> 3.07 (B-);
    the mean of the rounded values would be (3.08 + 3.07) / 2 = 3.075 -> 3.08.
    """
    out = score(blended, {"U1": uniform(blended, 4), "U2": uniform(blended, 4)},
                f03_rows("U1", [1] * 4 + [0] * 9) + f03_rows("U2", [1] * 3 + [0] * 8))
    assert out["unit_scores"]["ipp"].to_list() == [3.08, 3.07]
    assert out["region_scores"]["ipp"].to_list() == [3.07]
    assert out["region_scores"]["predicate"].to_list() == ["B-"]
    assert out["national_scores"]["ipp"].to_list() == [3.07]


def test_a_unit_without_f03_answers_is_not_scored_or_keeps_f02(blended: Methodology) -> None:
    """`without_f03 = "not_scored"`: U2 (no F-03 answer) gets status no_f03, no IPP, rank or award, and a
    reason naming the switch; the region rolls up U1 alone. `"f02_only"`: U2 keeps its F-02 IPP 5.00."""
    f02 = {"U1": uniform(blended, 4), "U2": uniform(blended, 5)}
    out = score(blended, f02, f03_rows("U1", [4] * 10))
    units = out["unit_scores"]
    assert units["status"].to_list() == ["scored", STATUS_NO_F03]
    assert units["ipp"].to_list() == [4.0, None] and units["rank_in_type"].to_list() == [1, None]
    assert units["ipp_f02"].to_list() == [4.0, 5.0] and units["n_f03_answers"].to_list() == [10, 0]
    assert 'without_f03 = "not_scored"' in units["ineligible_reason"][1]
    assert "require_complete" not in units["ineligible_reason"][1]
    assert out["region_scores"]["ipp"].to_list() == [4.0] and out["region_scores"]["n_units_scored"].to_list() == [1]

    kept = score(dataclasses.replace(blended, f03_without="f02_only"), f02, f03_rows("U1", [4] * 10))
    assert kept["unit_scores"]["status"].to_list() == ["scored", "scored"]
    assert kept["unit_scores"]["ipp"].to_list() == [4.0, 5.0]
    assert kept["region_scores"]["ipp"].to_list() == [4.5]


def test_with_f03_off_every_output_is_unchanged(methodology_2024: Methodology) -> None:
    """F-03 rows given to a cycle that does not blend change nothing, and no F-03 column appears."""
    f02 = {"U1": GOLDEN_ASPECTS, "U2": uniform(methodology_2024, 5)}
    with_rows = score(methodology_2024, f02, f03_rows("U1", [0] * 20))
    without = score(methodology_2024, f02, [])
    for name, frame in without.items():
        assert with_rows[name].equals(frame), name
    assert not set(F03_COLUMNS) & set(with_rows["unit_scores"].columns)
    assert with_rows["unit_scores"]["ipp"].to_list() == [3.89, 5.0]


def test_an_incomplete_unit_stays_incomplete_with_f03(blended: Methodology) -> None:
    """F-03 answers never give an IPP to a unit whose F-02 is incomplete."""
    out = score(blended, {"U1": uniform(blended, 4), "U2": uniform(blended, 4)},
                f03_rows("U1", [5] * 5) + f03_rows("U2", [5] * 5), incomplete=("U2",))
    assert out["unit_scores"]["status"].to_list() == ["scored", "incomplete"]
    assert out["unit_scores"]["ipp"].to_list() == [4.25, None]  # 3 + 0.25·5
    assert "29 of 30 indicators scored (require_complete)" in out["unit_scores"]["ineligible_reason_en"][1]
    assert "29 dari 30 indikator dinilai (require_complete)" in out["unit_scores"]["ineligible_reason"][1]


def test_exact_mean_of_fractions_by_hand() -> None:
    """1/3 and 1/6 with weights 1 and 2: (1/3 + 2/6) / 3 = 2/9 = 0.2222 -> 22 hundredths; ties round up."""
    assert fraction_sum([(1, 3), (1, 6)]) in ((3, 6), (1, 2))
    parts = pl.Series("p", [{"nums": [1, 1], "dens": [3, 6], "weights": [1, 2]},
                            {"nums": [1], "dens": [200], "weights": [1]},  # 0.005 -> 1 hundredth
                            {"nums": [], "dens": [], "weights": []}])
    assert half_up_cents_of_mean(parts).to_list() == [22, 1, None]
