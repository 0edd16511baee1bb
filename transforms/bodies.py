"""Evaluated bodies: regions (Kemendagri codes) and ministries/agencies (K/L, kode Bagian Anggaran).

A body's code says its tier: `35` a province, `35.78` a kabupaten/kota, `027` a K/L (3 digits, the
budget-section code). The tier picks the cycle's lokus (the unit types it is evaluated on); the level
(`provinsi`, `kabupaten`, `kota`, `kl`) is the category it is ranked in. Lokus coverage says, per body
and lokus unit type, whether the body sent and got scored a unit of that type.
"""

from __future__ import annotations

import polars as pl

from transforms.methodology import LOKUS_TIERS, Methodology

KL_CODE_PATTERN = r"^\d{3}$"
"""A K/L's kode Bagian Anggaran: three digits, leading zeros kept (`027`)."""
REGION_CODE_PATTERN = r"^\d{2}(\.\d{2})?$"
"""A province (`35`) or kabupaten/kota (`35.78`) Kemendagri code."""
LEVEL_KL = "kl"
TIER_PROVINSI, TIER_KAB_KOTA, TIER_KL = LOKUS_TIERS


def is_kl(code: pl.Expr) -> pl.Expr:
    return code.str.contains(KL_CODE_PATTERN)


def body_tier_of(code: str) -> str:
    """The lokus tier of one body code (used per bundle): provinsi, kabupaten_kota or kl."""
    if code.isdigit() and len(code) == 3:
        return TIER_KL
    return TIER_PROVINSI if len(code) == 2 else TIER_KAB_KOTA


def body_tier(code: pl.Expr) -> pl.Expr:
    return (pl.when(is_kl(code)).then(pl.lit(TIER_KL))
            .when(code.str.len_chars() == 2).then(pl.lit(TIER_PROVINSI))
            .otherwise(pl.lit(TIER_KAB_KOTA)))


def province_of(code: pl.Expr) -> pl.Expr:
    """The province a region belongs to; null for a K/L (it sits under no province)."""
    return pl.when(is_kl(code)).then(pl.lit(None, dtype=pl.String)).otherwise(code.str.slice(0, 2))


def lokus_table(methodology: Methodology) -> pl.LazyFrame:
    """tier, unit_type: the unit types each tier is evaluated on (empty without a [lokus] section)."""
    pairs = [(tier, unit_type) for tier, types in (methodology.lokus or ()) for unit_type in types]
    return pl.LazyFrame({"tier": [p[0] for p in pairs], "unit_type": [p[1] for p in pairs]},
                        schema={"tier": pl.String, "unit_type": pl.String})


def lokus_coverage(units: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """One row per body (with accepted units) and lokus unit type of its tier: units sent, scored, covered.

    `units` are scored unit rows (region_code, unit_type, ipp_num). A type the body sent no unit of
    is listed with 0 units: the body is missing it. Empty when the methodology has no [lokus].
    """
    if methodology.lokus is None:
        return pl.LazyFrame(schema={"region_code": pl.String, "tier": pl.String, "unit_type": pl.String,
                                    "n_units": pl.Int64, "n_units_scored": pl.Int64, "covered": pl.Boolean,
                                    "cycle": pl.String})
    bodies = units.select("region_code").unique().with_columns(tier=body_tier(pl.col("region_code")))
    counts = units.group_by("region_code", "unit_type").agg(
        n_units=pl.len().cast(pl.Int64), n_units_scored=pl.col("ipp_num").is_not_null().sum().cast(pl.Int64))
    return (
        bodies.join(lokus_table(methodology), on="tier", how="inner")
        .join(counts, on=["region_code", "unit_type"], how="left")
        .with_columns(pl.col("n_units", "n_units_scored").fill_null(0))
        .with_columns(covered=pl.col("n_units_scored") > 0, cycle=pl.lit(methodology.cycle))
        .sort("region_code", "unit_type")
    )


def lokus_counts(coverage: pl.LazyFrame) -> pl.LazyFrame:
    """Per body: its lokus slots (units of each lokus type, a missing type counting as one unscored slot),
    how many of them are scored, and the lokus types it did not send (comma-separated, null when none)."""
    missing = pl.col("unit_type").filter(pl.col("n_units") == 0)
    return coverage.group_by("region_code").agg(
        n_lokus_units=pl.max_horizontal(pl.col("n_units"), pl.lit(1)).sum().cast(pl.Int64),
        n_lokus_scored=pl.col("n_units_scored").sum().cast(pl.Int64),
        lokus_missing=missing.sort().str.join(", "),
    ).with_columns(lokus_missing=pl.when(pl.col("lokus_missing") != "").then(pl.col("lokus_missing")))
