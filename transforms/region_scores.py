"""Roll-ups: region (pemda) and national IPP and IKM from the units' exact values, predicates, ranks, counts.

Every unit IPP shares the denominator 100·100·D, so a mean (or a weighted mean with integer
weights) of unit IPPs is again an exact rational, rounded half-up once. Only scored units count.
With F-03 on each blended unit has its own denominator: the mean of their exact fractions is taken
with Python integers on the aggregated rows (`rounding.half_up_cents_of_mean`), still rounded once.
IKM roll-ups average the surveyed units' unrounded IKMs and round once (never a mean of rounded IKMs).
"""

from __future__ import annotations

import polars as pl

from transforms import bodies, skm_scores
from transforms.methodology import Methodology
from transforms.rounding import band_of, cents_to_value, competition_rank, half_up_cents, half_up_cents_of_mean


def rollup_label(methodology: Methodology) -> str:
    """How the roll-up was made, recorded beside every rolled-up value."""
    if methodology.rollup_method == "weighted":
        return f"weighted:{methodology.rollup_weight_column}"
    return "mean"


def _rollup_weight(methodology: Methodology) -> pl.Expr:
    if methodology.rollup_method == "weighted":
        return pl.col(methodology.rollup_weight_column).cast(pl.Int64).fill_null(0)
    return pl.lit(1, dtype=pl.Int64)


def _rolled(methodology: Methodology, *, grouped: bool = True) -> list[pl.Expr]:
    """Aggregations giving the exact roll-up numerator and denominator over scored units."""
    scored = pl.col("ipp_num").is_not_null()
    weight = pl.when(scored).then(_rollup_weight(methodology)).otherwise(0)
    if methodology.f03_enabled:  # one denominator per unit: the exact parts, for half_up_cents_of_mean
        def parts(values: pl.Expr, name: str) -> pl.Expr:
            kept = values.filter(scored)
            return (kept if grouped else kept.implode()).alias(name)

        return [
            pl.len().cast(pl.Int64).alias("n_units"),
            scored.sum().cast(pl.Int64).alias("n_units_scored"),
            parts(pl.col("ipp_num").cast(pl.Int128), "rollup_nums"),
            parts(pl.col("ipp_den").cast(pl.Int128), "rollup_dens"),
            parts(weight.cast(pl.Int64), "rollup_weights"),
        ]
    return [
        pl.len().cast(pl.Int64).alias("n_units"),
        scored.sum().cast(pl.Int64).alias("n_units_scored"),
        (pl.col("ipp_num").cast(pl.Int128) * weight).sum().alias("rollup_num"),
        (pl.col("ipp_den").cast(pl.Int128) * weight).sum().alias("rollup_den"),
    ]


_F03_PARTS = ("rollup_nums", "rollup_dens", "rollup_weights")


def _rolled_ipp(methodology: Methodology) -> dict[str, pl.Expr]:
    if methodology.f03_enabled:
        parts = pl.struct(nums=pl.col("rollup_nums"), dens=pl.col("rollup_dens"), weights=pl.col("rollup_weights"))
        return {"ipp_cents": parts.map_batches(half_up_cents_of_mean, return_dtype=pl.Int64)}
    cents = pl.when(pl.col("rollup_den") > 0).then(half_up_cents(pl.col("rollup_num"), pl.col("rollup_den")))
    return {"ipp_cents": cents}


def region_level(code: pl.Expr) -> pl.Expr:
    """kl for a 3-digit K/L code; provinsi for a 2-digit code; kabupaten for suffix 01–69, kota for 71–99."""
    suffix = code.str.slice(3, 2).cast(pl.Int64, strict=False)
    return (pl.when(bodies.is_kl(code)).then(pl.lit(bodies.LEVEL_KL))
            .when(code.str.len_chars() == 2).then(pl.lit("provinsi"))
            .when(suffix < 70).then(pl.lit("kabupaten"))
            .otherwise(pl.lit("kota")))


def region_scores(units: pl.LazyFrame, regions: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """One row per region with units: roll-up IPP and IKM, predicate, and rank within its category.

    The ministry publishes ranks per category: K/L, provinsi, kabupaten and kota are each ranked from
    1. The category is published beside the rank. With a [lokus], each body's lokus coverage is counted
    (`n_lokus_units`, `n_lokus_scored`, `lokus_missing`; see `bodies.lokus_counts`); without one, every
    unit sent is a lokus unit.
    """
    if methodology.lokus is None:
        lokus = pl.LazyFrame(schema={"region_code": pl.String, "n_lokus_units": pl.Int64,
                                     "n_lokus_scored": pl.Int64, "lokus_missing": pl.String})
    else:
        lokus = bodies.lokus_counts(bodies.lokus_coverage(units, methodology))
    return (
        skm_scores.with_ikm_parts(units)
        .group_by("region_code").agg(*_rolled(methodology), *skm_scores.rolled_ikm(grouped=True))
        .with_columns(**_rolled_ipp(methodology), ikm_cents=skm_scores.rolled_ikm_cents(methodology))
        .join(regions.select("region_code", pl.col("name").alias("region_name")), on="region_code", how="left")
        .join(lokus, on="region_code", how="left")
        .with_columns(
            n_lokus_units=pl.col("n_lokus_units").fill_null(pl.col("n_units")) if methodology.lokus is None
            else pl.col("n_lokus_units").fill_null(0),
            n_lokus_scored=pl.col("n_lokus_scored").fill_null(pl.col("n_units_scored")) if methodology.lokus is None
            else pl.col("n_lokus_scored").fill_null(0),
            province_code=bodies.province_of(pl.col("region_code")),
            level=region_level(pl.col("region_code")),
            ipp=cents_to_value(pl.col("ipp_cents")),
            ikm=cents_to_value(pl.col("ikm_cents")),
            predicate=band_of(pl.col("ipp_cents"), methodology.predicates, "code"),
            predicate_label=band_of(pl.col("ipp_cents"), methodology.predicates, "label"),
            rollup_method=pl.lit(rollup_label(methodology)),
            cycle=pl.lit(methodology.cycle),
        )
        .with_columns(category=rank_category(pl.col("level")))
        .with_columns(rank=competition_rank(pl.col("ipp_cents")).over("category"))
        .drop("ikm_nums", "ikm_dens", *_F03_PARTS if methodology.f03_enabled else ())
        .sort("region_code")
    )


def rank_category(level: pl.Expr) -> pl.Expr:
    """The category a body is ranked in: its level (provinsi, kabupaten, kota; kl for ministries)."""
    return level


def predicate_counts_json(methodology: Methodology) -> pl.Expr:
    """Units per predicate as a JSON object {code: n} in band order (a fixed column for any band list)."""
    parts = [
        pl.format('"{}": {}', pl.lit(band.code), (pl.col("predicate") == band.code).sum())
        for band in methodology.predicates
    ]
    return pl.concat_str([pl.lit("{"), pl.concat_str(parts, separator=", "), pl.lit("}")])


def national_scores(units: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """One row for the cycle: national IPP and IKM over all units' exact values (each rounded once), counts."""
    return (
        skm_scores.with_ikm_parts(units).select(
            *_rolled(methodology, grouped=False),
            pl.col("region_code").n_unique().cast(pl.Int64).alias("n_regions"),
            predicate_counts_json(methodology).alias("predicate_counts"),
            *skm_scores.rolled_ikm(grouped=False),
        )
        .with_columns(**_rolled_ipp(methodology), ikm_cents=skm_scores.rolled_ikm_cents(methodology))
        .with_columns(
            cycle=pl.lit(methodology.cycle),
            ipp=cents_to_value(pl.col("ipp_cents")),
            predicate=band_of(pl.col("ipp_cents"), methodology.predicates, "code"),
            predicate_label=band_of(pl.col("ipp_cents"), methodology.predicates, "label"),
            ikm=cents_to_value(pl.col("ikm_cents")),
            rollup_method=pl.lit(rollup_label(methodology)),
        )
        .drop("ikm_nums", "ikm_dens", *_F03_PARTS if methodology.f03_enabled else ())
    )
