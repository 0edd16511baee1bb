"""F-03, the citizen form: each unit's mean answer and its blend with F-02 into the IPP, exactly.

F03 = sum of the unit's F-03 answers / their count (on the cycle's score range, 0–5), and
IPP = (f02_weight·IPP_F02 + f03_weight·F03) / 100 (`[f03]` of the methodology). With IPP_F02 = N / Dp
(Dp = 100·100·D, see `transforms.unit_scores`) and F03 = S / n the blend is the exact fraction

    (f02_weight·N·n + f03_weight·S·Dp) / (100·Dp·n)

computed in Int128 (the methodology refuses a file whose bound could pass it, see
`methodology_parser._f03`) and rounded half-up once. Each unit then has its own denominator, so roll-ups
of blended units take the exact mean of fractions (`rounding.half_up_cents_of_mean`), never a mean
of rounded values. Only used when the cycle turns F-03 on: with it off no code here runs.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.methodology import Methodology
from transforms.rounding import cents_to_value, half_up_cents
from transforms.unit_scores import STATUS_SCORED, UNIT_KEY, evaluator_denominator, predicate_columns

STATUS_NO_F03 = "no_f03"
"""A unit fully scored on F-02 but with no F-03 answer, in a cycle whose `without_f03` is `not_scored`."""

F03_COLUMNS = ("ipp_f02", "ipp_f02_exact", "f03", "f03_sum", "n_f03_answers", "n_f03_respondents")
"""Columns unit_scores carries only in a cycle with F-03 on (see `transforms.schemas.UNIT_SCORES`)."""


def f03_totals(responses: pl.LazyFrame, by: Sequence[str] = ()) -> pl.LazyFrame:
    """Per unit (and `by`): sum and count of its F-03 answers (non-null) and how many respondents gave them."""
    return (responses.filter(pl.col("score").is_not_null())
            .group_by([*by, *UNIT_KEY])
            .agg(f03_sum=pl.col("score").cast(pl.Int64).sum(), n_f03_answers=pl.len().cast(pl.Int64),
                 n_f03_respondents=pl.col("respondent_id").n_unique().cast(pl.Int64)))


def blended_ipp(ipp: pl.LazyFrame, totals: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """`unit_scores.unit_ipp` rows with the F-03 blend: ipp_num / ipp_den become the blend's exact fraction.

    A unit not scored on F-02 (incomplete, too many evaluators) stays as it is. A scored unit without
    F-03 answers gets status `no_f03` and no IPP (`without_f03 = "not_scored"`), or keeps its F-02 IPP
    (`"f02_only"`; its `n_f03_answers` = 0 says so). The F-02 values stay beside it (`ipp_f02`,
    `ipp_f02_exact`), and the unit's F-03 mean rounded once (`f03`).
    """
    f02_weight, f03_weight = methodology.f03_weights
    dp = 100 * 100 * evaluator_denominator(methodology)
    n, s = pl.col("n_f03_answers").cast(pl.Int128), pl.col("f03_sum").cast(pl.Int128)
    f02_num = pl.col("ipp_num").cast(pl.Int128)
    scored = pl.col("status") == STATUS_SCORED
    answered = pl.col("n_f03_answers") > 0
    keep_f02 = methodology.f03_without == "f02_only"
    return (
        ipp.join(totals.select(*UNIT_KEY, "f03_sum", "n_f03_answers", "n_f03_respondents"), on=UNIT_KEY,
                 how="left")
        .with_columns(pl.col("f03_sum", "n_f03_answers", "n_f03_respondents").fill_null(0))
        .with_columns(
            ipp_f02=pl.col("ipp"),
            ipp_f02_exact=pl.col("ipp_exact"),
            f03=cents_to_value(pl.when(answered).then(half_up_cents(pl.col("f03_sum"), pl.col("n_f03_answers")))),
            ipp_num=pl.when(scored & answered).then(f02_weight * f02_num * n + f03_weight * s * dp)
            .when(scored & pl.lit(keep_f02)).then(f02_num),
            ipp_den=pl.when(scored & answered).then(100 * dp * n).otherwise(pl.lit(dp, dtype=pl.Int128)),
            status=pl.when(scored & ~answered & pl.lit(not keep_f02)).then(pl.lit(STATUS_NO_F03))
            .otherwise(pl.col("status")),
        )
        .with_columns(ipp_cents=half_up_cents(pl.col("ipp_num"), pl.col("ipp_den")))
        .with_columns(
            ipp=cents_to_value(pl.col("ipp_cents")),
            ipp_exact=pl.col("ipp_num").cast(pl.Float64) / pl.col("ipp_den").cast(pl.Float64),
            **predicate_columns(pl.col("ipp_cents"), methodology),
        )
    )
