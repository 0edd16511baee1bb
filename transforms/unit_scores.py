"""IPP per unit and per aspect (evaluator form F-02), exact, by the cycle's methodology.

IPP = Σ_aspect W_a/100 · Σ_i w_i/100 · s_i with s_i the mean of the unit's evaluators' scores.
All weights and scores are integers, so with D = lcm(1..max_evaluators) every term is an integer
over the common denominator 100·100·D: the sums are exact and rounding happens once, half-up.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import reduce

import polars as pl

from transforms.methodology import Methodology
from transforms.rounding import band_of, cents_to_value, competition_rank, half_up_cents

UNIT_KEY = ["region_code", "unit_id"]
STATUS_SCORED = "scored"
STATUS_INCOMPLETE = "incomplete"
STATUS_TOO_MANY_EVALUATORS = "too_many_evaluators"


def evaluator_denominator(methodology: Methodology) -> int:
    """lcm(1..max_evaluators): a common denominator for every possible evaluator mean."""
    return reduce(math.lcm, range(1, methodology.max_evaluators + 1), 1)


def indicator_weights(methodology: Methodology) -> pl.LazyFrame:
    """One row per indicator with its aspect and both weights, from the methodology."""
    return pl.LazyFrame(
        {
            "indicator_code": [i.code for i in methodology.indicators],
            "aspect_code": [i.aspect for i in methodology.indicators],
            "indicator_weight": [i.weight for i in methodology.indicators],
            "aspect_weight": [a.weight for a in methodology.aspects for _ in a.indicators],
        },
        schema={"indicator_code": pl.String, "aspect_code": pl.String, "indicator_weight": pl.Int64,
                "aspect_weight": pl.Int64},
    )


def indicator_totals(evaluations: pl.LazyFrame, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Per unit (and `by`) and indicator code: sum and count of the evaluators' (non-null) scores.

    Needs no methodology, so it can be computed once per submission and kept (see `transforms.cycle`).
    """
    return (evaluations.filter(pl.col("score").is_not_null())
            .group_by([*by, *UNIT_KEY, "indicator_code"])
            .agg(score_sum=pl.col("score").cast(pl.Int64).sum(), n_scores=pl.len().cast(pl.Int64)))


def indicator_scores_of(totals: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Per unit and indicator, from `indicator_totals`: the cycle's indicators with weights and `scaled`.

    Only the cycle's indicators count; `scaled` = score_sum · (D / n) is exact because n divides D
    whenever n <= max_evaluators (larger n is flagged, not silently rounded).
    """
    d = evaluator_denominator(methodology)
    return (
        totals.join(indicator_weights(methodology), on="indicator_code", how="inner")
        .with_columns(
            divisible=(pl.lit(d) % pl.col("n_scores")) == 0,
            scaled=pl.col("score_sum") * (pl.lit(d) // pl.col("n_scores")),
        )
    )


def aspect_scores(indicators: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Per unit and aspect: exact numerator over 100·D and the half-up score; null unless complete."""
    d = evaluator_denominator(methodology)
    expected = pl.LazyFrame({
        "aspect_code": [a.code for a in methodology.aspects],
        "aspect_name": [a.name for a in methodology.aspects],
        "weight": [a.weight for a in methodology.aspects],
        "n_expected": [len(a.indicators) for a in methodology.aspects],
    }, schema={"aspect_code": pl.String, "aspect_name": pl.String, "weight": pl.Int64, "n_expected": pl.Int64})
    units = indicators.select(UNIT_KEY).unique()
    per_aspect = indicators.group_by([*UNIT_KEY, "aspect_code"]).agg(
        aspect_num=(pl.col("indicator_weight") * pl.col("scaled")).sum(),
        n_scored=pl.len().cast(pl.Int64),
        all_divisible=pl.col("divisible").all(),
    )
    complete = (pl.col("n_scored") == pl.col("n_expected")) & pl.col("all_divisible")
    return (
        units.join(expected, how="cross")
        .join(per_aspect, on=[*UNIT_KEY, "aspect_code"], how="left")
        .with_columns(pl.col("n_scored").fill_null(0), pl.col("all_divisible").fill_null(True))
        .with_columns(
            aspect_cents=pl.when(complete).then(half_up_cents(pl.col("aspect_num"), pl.lit(100 * d))),
            complete=complete,
        )
        .with_columns(score=cents_to_value(pl.col("aspect_cents")))
    )


def unit_ipp(aspects: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Per unit: exact IPP numerator over 100·100·D, rounded hundredths, status, predicate."""
    d = evaluator_denominator(methodology)
    denominator = 100 * 100 * d
    return (
        aspects.group_by(UNIT_KEY)
        .agg(
            ipp_num=(pl.col("weight") * pl.col("aspect_num").fill_null(0)).sum().cast(pl.Int64),
            complete=pl.col("complete").all(),
            divisible=pl.col("all_divisible").all(),
            n_indicators_scored=pl.col("n_scored").sum(),
        )
        .with_columns(
            status=pl.when(~pl.col("divisible")).then(pl.lit(STATUS_TOO_MANY_EVALUATORS))
            .when(~pl.col("complete")).then(pl.lit(STATUS_INCOMPLETE))
            .otherwise(pl.lit(STATUS_SCORED)),
            ipp_den=pl.lit(denominator, dtype=pl.Int64),
        )
        .with_columns(
            ipp_num=pl.when(pl.col("status") == STATUS_SCORED).then(pl.col("ipp_num")),
        )
        .with_columns(ipp_cents=half_up_cents(pl.col("ipp_num"), pl.col("ipp_den")))
        .with_columns(
            ipp=cents_to_value(pl.col("ipp_cents")),
            ipp_exact=pl.col("ipp_num").cast(pl.Float64) / pl.col("ipp_den").cast(pl.Float64),
            **predicate_columns(pl.col("ipp_cents"), methodology),
        )
        .drop("complete", "divisible")
    )


def predicate_columns(cents: pl.Expr, methodology: Methodology) -> dict[str, pl.Expr]:
    """Predicate code, label and zone of a rounded IPP (hundredths)."""
    return {
        "predicate": band_of(cents, methodology.predicates, "code"),
        "predicate_label": band_of(cents, methodology.predicates, "label"),
        "zone": band_of(cents, methodology.predicates, "zone"),
    }


def evaluator_counts(evaluations: pl.LazyFrame, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Distinct evaluators per unit (null evaluator ids count as one anonymous evaluator)."""
    return evaluations.group_by([*by, *UNIT_KEY]).agg(
        n_evaluators=pl.col("evaluator_id").fill_null("").n_unique().cast(pl.Int64))


def rank_in_type(units: pl.LazyFrame) -> pl.LazyFrame:
    """National competition rank of each scored unit within its unit type."""
    return units.with_columns(rank_in_type=competition_rank(pl.col("ipp_cents")).over("unit_type"))
