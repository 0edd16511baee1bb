"""Robustness figures for the committee's pages (issue 23): roster marks and rank intervals with near-ties.

Frames in, frames out, from the release's `unit_robustness` and `region_robustness` (transforms/robustness.py).
"""

from __future__ import annotations

import polars as pl

from transforms.methodology import Methodology
from transforms.robustness import modelled_region_awards, modelled_unit_awards
from transforms.rounding import share_percent

DRIVER_LABELS = {"evaluators": "penilai (evaluator)", "survey": "survei (responden)", "weights": "bobot aspek",
                 "combined": "gabungan sumber"}
"""How the roster names the source driving an award's instability (Indonesian, for the committee)."""
NOT_ROBUST = "tidak kokoh"


def roster_marks(view: pl.LazyFrame, units: pl.LazyFrame | None, regions: pl.LazyFrame | None,
                 methodology: Methodology) -> pl.LazyFrame:
    """The roster with `robustness`: for each award row, the share of draws holding it, and "tidak kokoh"
    (not robust) with the source driving it when below the methodology's threshold; null where the award
    is not modelled (most improved) or the release has no robustness table."""
    settings = methodology.robustness
    if settings is None or units is None or regions is None:
        return view.with_columns(robustness=pl.lit(None, dtype=pl.String))
    facts = pl.concat([
        units.select("region_code", "unit_id", "draws", "award_probabilities"),
        regions.select("region_code", pl.lit(None, dtype=pl.String).alias("unit_id"), "draws", "award_probabilities"),
    ])
    modelled = [a.code for a in (*modelled_unit_awards(methodology), *modelled_region_awards(methodology))]

    def field(name: str) -> pl.Expr:
        expr = pl.lit(None, dtype=pl.String)
        for code in modelled:
            expr = pl.when(pl.col("award") == code).then(
                pl.col("award_probabilities").str.json_path_match(f"$.{code}.{name}")).otherwise(expr)
        return expr

    p = field("p").cast(pl.Float64)
    driver = field("driver").replace_strict(DRIVER_LABELS, default=pl.lit("gabungan sumber"), return_dtype=pl.String)
    share = pl.format("{}% dari {} simulasi", share_percent(p, pl.col("draws")), pl.col("draws"))
    mark = (pl.when(p.is_null()).then(pl.lit(None, dtype=pl.String))
            .when(p < settings.threshold).then(pl.format("{}: bertahan pada {}; penyebab utama: {}", pl.lit(NOT_ROBUST),
                                                         share, driver))
            .otherwise(pl.format("kokoh: bertahan pada {}", share)))
    return (view.with_row_index("_robust_row")
            .join(facts, on=["region_code", "unit_id"], how="left", nulls_equal=True)
            .with_columns(robustness=mark)
            .sort("_robust_row").drop("_robust_row", "draws", "award_probabilities"))


def top_intervals(robust: pl.LazyFrame, group: str, rank: str, top: int) -> pl.LazyFrame:
    """The best `top` published ranks of each group with their intervals, and whether each is a near-tie:
    its interval overlaps the next one's in the group (the two could swap places in some draws), the
    first one left out included: neighbours are compared before the cut."""
    key = ["region_code", *(["unit_id"] if "unit_id" in robust.collect_schema().names() else [])]
    return (robust.filter(pl.col(rank).is_not_null())
            .sort([group, rank, *key])  # a total order: tied ranks of one body's units drew in any order
            .with_columns(
                _next_low=pl.col("rank_low").shift(-1).over(group),
                _previous_high=pl.col("rank_high").shift(1).over(group),
                _next_rank=pl.col(rank).shift(-1).over(group),
                _previous_rank=pl.col(rank).shift(1).over(group))
            .with_columns(near_tie=(
                ((pl.col("_next_low") <= pl.col("rank_high")) & (pl.col("_next_rank") > pl.col(rank))).fill_null(False)
                | ((pl.col("_previous_high") >= pl.col("rank_low")) & (pl.col("_previous_rank") < pl.col(rank)))
                .fill_null(False)))
            .filter(pl.col(rank) <= top)
            .drop("_next_low", "_previous_high", "_next_rank", "_previous_rank"))
