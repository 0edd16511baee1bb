"""The Ombudsman's compliance assessment beside PEKPPP: score, opinion category, zone, rank, disagreement.

Frames in (the feed's kept rows: body_code, unit_id, unit_name, the four dimensions and/or the final
score, each a 2-decimal value; the bodies' reference; the cycle's body roll-ups), frames out: the
`compliance_scores` rows. Dimension scores and weights both have 2 decimals, so with both in
hundredths `score = Σ w_i·d_i / 100` is an exact integer over 10^6 and is rounded half-up once
(`rounding.half_up_cents`). Every figure (weights, bounds, labels, zones, what counts as a
disagreement) comes from the cycle's `[ombudsman]` section.
"""

from __future__ import annotations

import polars as pl

from transforms import bodies
from transforms.methodology import COMPLIANCE_DIMENSIONS, Methodology, Ombudsman
from transforms.region_scores import region_level
from transforms.rounding import band_of, cents_text, cents_to_value, competition_rank, half_up_cents, published_cents

SCORE_DENOMINATOR = 100 * 100 * 100
"""Σ weight·dimension, both in hundredths, over this is the score in units (a weight is a percent)."""
SOURCE_DIMENSIONS, SOURCE_GIVEN = "dimensions", "given"
SUBJECT_BODY, SUBJECT_UNIT = "body", "unit"


def dimension_cents(dimension: str) -> pl.Expr:
    """A dimension's hundredths, recovered exactly from its 2-decimal value (the reader allows no more)."""
    return published_cents(pl.col(dimension))


def has_dimensions() -> pl.Expr:
    """All four dimension scores are given."""
    return pl.all_horizontal(pl.col(d).is_not_null() for d in COMPLIANCE_DIMENSIONS)


def computed_cents(ombudsman: Ombudsman) -> pl.Expr:
    """The score from the four dimensions in hundredths, exact then half-up once; null without them or weights."""
    if ombudsman.weights is None:
        return pl.lit(None, dtype=pl.Int64)
    weighted = pl.sum_horizontal(pl.lit(weight, pl.Int64) * dimension_cents(dimension)
                                 for dimension, weight in ombudsman.weights)
    return pl.when(has_dimensions()).then(half_up_cents(weighted, pl.lit(SCORE_DENOMINATOR, pl.Int64)))


def score_mismatch(frame: pl.DataFrame, methodology: Methodology) -> pl.Series:
    """Per row: the message when a given final score disagrees with its dimensions (both values named), else null.

    Used by validation (a row issue) before the rows are kept; rows without both are never flagged.
    """
    if methodology.ombudsman is None or methodology.ombudsman.weights is None or frame.height == 0:
        return pl.Series("mismatch", [None] * frame.height, dtype=pl.String)
    computed = computed_cents(methodology.ombudsman)
    given = published_cents(pl.col("score"))
    return frame.select(
        pl.when(computed.is_not_null() & given.is_not_null() & (computed != given))
        .then(pl.concat_str([pl.lit("score "), cents_text(given), pl.lit(" is given, but its dimensions "
                             "(input, proses, output, pengaduan) give "), cents_text(computed),
                             pl.lit(f" under cycle {methodology.cycle}'s weights")]))
        .alias("mismatch")
    ).to_series()


def score_cents(ombudsman: Ombudsman) -> pl.Expr:
    """The row's score in hundredths: computed from the dimensions where they and weights are given, else the
    given final score (validation has set aside rows where the two disagree)."""
    return pl.coalesce(computed_cents(ombudsman), published_cents(pl.col("score")))


def _opinion(ombudsman: Ombudsman, field: str) -> pl.Expr:
    """Category code or label of the score; null for a scheme of zones without letters (2021)."""
    value = band_of(pl.col("score_cents"), ombudsman.opinions, field)
    return pl.when(value != "").then(value)


def disagreement(ombudsman: Ombudsman) -> pl.Expr:
    """Why a body's two verdicts disagree (its PEKPPP predicate with its Ombudsman zone), or null.

    Needs `predicate`, `predicate_label` (the body's roll-up) and `zone`; rules from `[ombudsman] disagreements`.
    """
    said = pl.concat_str([pl.lit("predikat PEKPPP "), pl.col("predicate"), pl.lit(" ("), pl.col("predicate_label"),
                          pl.lit("), zona Ombudsman "), pl.col("zone")])
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    for rule in reversed(ombudsman.disagreements):
        expr = pl.when(pl.col("predicate").is_in(list(rule.predicates)) & (pl.col("zone") == rule.zone)) \
            .then(said).otherwise(expr)
    return expr


COMPLIANCE_ROW_SCHEMA = pl.Schema({
    "body_code": pl.String, "unit_id": pl.String, "unit_name": pl.String,
    **{d: pl.Float64 for d in COMPLIANCE_DIMENSIONS}, "score": pl.Float64, "submission_id": pl.String,
})
"""The kept feed rows this transform reads."""


def compliance_scores(rows: pl.LazyFrame, regions: pl.LazyFrame, body_rows: pl.LazyFrame,
                      methodology: Methodology) -> pl.LazyFrame:
    """One row per assessed body (and unit, where the feed names one): dimensions, score, category, zone, rank.

    `rows` are the feed's accepted rows; `regions` the bodies' reference (region_code, name); `body_rows` the
    cycle's `region_scores` (region_code, predicate, predicate_label). Ranks are competition ranks on the
    published score within the body's level (provinsi, kabupaten, kota, kl), bodies and units apart. Empty
    when the cycle has no `[ombudsman]`.
    """
    ombudsman = methodology.ombudsman
    if ombudsman is None:
        return pl.LazyFrame(schema=OUTPUT_COLUMNS)
    scored = (
        rows.with_columns(score_cents=score_cents(ombudsman),
                          score_source=pl.when(computed_cents(ombudsman).is_not_null()).then(pl.lit(SOURCE_DIMENSIONS))
                          .otherwise(pl.lit(SOURCE_GIVEN)))
        .rename({"body_code": "region_code"})
        .join(regions.select("region_code", pl.col("name").alias("region_name")), on="region_code", how="left")
        .join(body_rows.select("region_code", "predicate", "predicate_label"), on="region_code", how="left")
        .with_columns(
            cycle=pl.lit(methodology.cycle),
            province_code=bodies.province_of(pl.col("region_code")),
            level=region_level(pl.col("region_code")),
            subject=pl.when(pl.col("unit_id").is_null()).then(pl.lit(SUBJECT_BODY)).otherwise(pl.lit(SUBJECT_UNIT)),
            score=cents_to_value(pl.col("score_cents")),
            category=_opinion(ombudsman, "code"),
            category_label=_opinion(ombudsman, "label"),
            zone=band_of(pl.col("score_cents"), ombudsman.opinions, "zone"),
            **{d: cents_to_value(dimension_cents(d)) for d in COMPLIANCE_DIMENSIONS},
        )
        .with_columns(rank=competition_rank(pl.col("score_cents")).over("level", "subject"),
                      disagreement=pl.when(pl.col("subject") == SUBJECT_BODY).then(disagreement(ombudsman)))
    )
    return scored.select(*OUTPUT_COLUMNS).sort("region_code", "unit_id", nulls_last=False)


OUTPUT_COLUMNS: dict[str, pl.DataType] = {
    "cycle": pl.String(), "region_code": pl.String(), "region_name": pl.String(), "province_code": pl.String(),
    "level": pl.String(), "subject": pl.String(), "unit_id": pl.String(), "unit_name": pl.String(),
    **{d: pl.Float64() for d in COMPLIANCE_DIMENSIONS}, "score": pl.Float64(), "score_source": pl.String(),
    "category": pl.String(), "category_label": pl.String(), "zone": pl.String(), "rank": pl.Int64(),
    "disagreement": pl.String(), "submission_id": pl.String(),
}
"""compliance_scores before its release id (declared with descriptions in `schemas.COMPLIANCE_SCORES`)."""


def side_by_side(regions: pl.LazyFrame, scores: pl.LazyFrame) -> pl.LazyFrame:
    """Each body with both verdicts (the pages' scatter and disagreement list): its PEKPPP roll-up (IPP,
    predicate) and the Ombudsman's body row (score, category, zone, disagreement); bodies assessed by both."""
    ombudsman = scores.filter(pl.col("subject") == SUBJECT_BODY).select(
        "region_code", compliance_name=pl.col("region_name"), compliance_level=pl.col("level"),
        compliance_score=pl.col("score"), compliance_category=pl.col("category"),
        compliance_label=pl.col("category_label"), compliance_zone=pl.col("zone"),
        compliance_rank=pl.col("rank"), disagreement=pl.col("disagreement"))
    return (regions.select("region_code", "region_name", "level", "ipp", "predicate", "predicate_label")
            .join(ombudsman, on="region_code", how="inner")
            .filter(pl.col("ipp").is_not_null())
            .sort("region_code"))
