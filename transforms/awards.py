"""Award rosters from the cycle's award rules: by predicate, top N per unit type, regions, most improved.

Every rule, threshold and label comes from the methodology; each roster row carries a `reason` a
committee member can read. Ranks are competition ranks ("1224") on the published 2-decimal value.
"""

from __future__ import annotations

import polars as pl

from transforms.methodology import Award, Methodology
from transforms.rounding import cents_text, cents_to_value, competition_rank

ROSTER_COLUMNS = ["cycle", "award", "award_label", "rank", "subject", "region_code", "unit_id", "name",
                  "unit_type", "score", "predicate", "reason"]


def eligibility(methodology: Methodology) -> pl.Expr:
    """A unit may be honoured when scored and, if the cycle asks, its survey sample is met."""
    eligible = pl.col("status") == "scored"
    if methodology.require_survey_sample:
        eligible = eligible & pl.col("sample_met").fill_null(True)
    return eligible.fill_null(False)


def eligibility_note(methodology: Methodology) -> pl.Expr:
    """Plain words for why a unit is eligible, used in roster reasons."""
    parts = [pl.lit(f"all {len(methodology.indicators)} indicators scored")]
    if methodology.require_survey_sample:
        parts.append(
            pl.when(pl.col("sample_required").is_null()).then(pl.lit("no survey population declared"))
            .otherwise(pl.format("survey sample met ({} of {} required)", pl.col("n_respondents"),
                                 pl.col("sample_required")))
        )
    return pl.concat_str(parts, separator="; ")


def _at_least(methodology: Methodology, code: str) -> list[str]:
    """The predicate codes at or above `code` (bands are listed best first)."""
    cut = methodology.predicate_rank(code)
    return [b.code for b in methodology.predicates[: cut + 1]]


def _unit_rows(units: pl.LazyFrame, award: Award, methodology: Methodology, rank: pl.Expr, score: pl.Expr,
               reason: pl.Expr) -> pl.LazyFrame:
    return units.select(
        cycle=pl.lit(methodology.cycle),
        award=pl.lit(award.code),
        award_label=pl.lit(award.label),
        rank=rank,
        subject=pl.lit("unit"),
        region_code=pl.col("region_code"),
        unit_id=pl.col("unit_id"),
        name=pl.col("unit_name"),
        unit_type=pl.col("unit_type"),
        score=score,
        predicate=pl.col("predicate"),
        reason=reason,
    )


def _predicate_award(units: pl.LazyFrame, award: Award, methodology: Methodology) -> pl.LazyFrame:
    chosen = units.filter(pl.col("eligible") & pl.col("predicate").is_in(list(award.predicates)))
    reason = pl.format("predicate {} ({}) with IPP {}; {}", pl.col("predicate"), pl.col("predicate_label"),
                       cents_text(pl.col("ipp_cents")), eligibility_note(methodology))
    return _unit_rows(chosen, award, methodology, competition_rank(pl.col("ipp_cents")), pl.col("ipp"), reason)


def _top_n_per_type(units: pl.LazyFrame, award: Award, methodology: Methodology) -> pl.LazyFrame:
    allowed = _at_least(methodology, award.min_predicate) if award.min_predicate else None
    pool = units.filter(pl.col("eligible") & (pl.col("predicate").is_in(allowed) if allowed else True))
    ranked = pool.with_columns(award_rank=competition_rank(pl.col("ipp_cents")).over("unit_type"))
    chosen = ranked.filter(pl.col("award_rank") <= award.top_n)
    reason = pl.format("rank {} of eligible {} units with IPP {} ({}); {}", pl.col("award_rank"),
                       pl.col("unit_type"), cents_text(pl.col("ipp_cents")), pl.col("predicate"),
                       eligibility_note(methodology))
    return _unit_rows(chosen, award, methodology, pl.col("award_rank"), pl.col("ipp"), reason)


def _most_improved(units: pl.LazyFrame, previous: pl.LazyFrame | None, award: Award,
                   methodology: Methodology) -> pl.LazyFrame | None:
    """Gain over the previous cycle, both computed under this cycle's methodology."""
    if previous is None:
        return None
    allowed = _at_least(methodology, award.min_predicate) if award.min_predicate else None
    gains = (
        units.filter(pl.col("eligible") & (pl.col("predicate").is_in(allowed) if allowed else True))
        .join(previous.select("region_code", "unit_id", "previous_ipp_cents"), on=["region_code", "unit_id"])
        .filter(pl.col("previous_ipp_cents").is_not_null())
        .with_columns(gain_cents=pl.col("ipp_cents") - pl.col("previous_ipp_cents"))
        .filter(pl.col("gain_cents") > 0)
        .with_columns(award_rank=competition_rank(pl.col("gain_cents")))
        .filter(pl.col("award_rank") <= award.top_n)
    )
    reason = pl.format("IPP rose by {} from {} (previous cycle recomputed under {} methodology) to {} ({}); {}",
                       cents_text(pl.col("gain_cents")), cents_text(pl.col("previous_ipp_cents")),
                       pl.lit(methodology.cycle), cents_text(pl.col("ipp_cents")), pl.col("predicate"),
                       eligibility_note(methodology))
    return _unit_rows(gains, award, methodology, pl.col("award_rank"), cents_to_value(pl.col("gain_cents")),
                      reason)


def _region_award(regions: pl.LazyFrame, award: Award, methodology: Methodology) -> pl.LazyFrame:
    chosen = regions.filter(pl.col("predicate").is_in(list(award.predicates)))
    return chosen.select(
        cycle=pl.lit(methodology.cycle),
        award=pl.lit(award.code),
        award_label=pl.lit(award.label),
        rank=pl.col("rank"),
        subject=pl.lit("region"),
        region_code=pl.col("region_code"),
        unit_id=pl.lit(None, dtype=pl.String),
        name=pl.col("region_name"),
        unit_type=pl.lit(None, dtype=pl.String),
        score=pl.col("ipp"),
        predicate=pl.col("predicate"),
        reason=pl.format("roll-up IPP {} ({}) over {} scored units; rank {} among {} regions",
                         cents_text(pl.col("ipp_cents")), pl.col("predicate_label"), pl.col("n_units_scored"),
                         pl.col("rank"),
                         pl.when(pl.col("level") == "provinsi").then(pl.lit("provinsi"))
                         .otherwise(pl.lit("kabupaten/kota"))),
    )


def award_roster(units: pl.LazyFrame, regions: pl.LazyFrame, methodology: Methodology,
                 previous: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """All awards of the cycle, one row per award and recipient, in a stable order."""
    parts: list[pl.LazyFrame] = []
    for award in methodology.awards:
        if award.subject == "region":
            parts.append(_region_award(regions, award, methodology))
        elif award.rule == "predicate":
            parts.append(_predicate_award(units, award, methodology))
        elif award.rule == "top_n_per_type":
            parts.append(_top_n_per_type(units, award, methodology))
        elif award.rule == "most_improved":
            improved = _most_improved(units, previous, award, methodology)
            if improved is not None:
                parts.append(improved)
    order = {a.code: n for n, a in enumerate(methodology.awards)}
    if not parts:
        return pl.LazyFrame(schema={c: pl.String for c in ROSTER_COLUMNS}).with_columns(
            rank=pl.lit(None, dtype=pl.Int64), score=pl.lit(None, dtype=pl.Float64))
    return (
        pl.concat([p.with_columns(pl.col("rank").cast(pl.Int64)) for p in parts], how="vertical_relaxed")
        .with_columns(_award_order=pl.col("award").replace_strict(order, return_dtype=pl.Int64))
        .sort(["_award_order", "unit_type", "rank", "region_code", "unit_id"], nulls_last=True)
        .drop("_award_order")
    )
