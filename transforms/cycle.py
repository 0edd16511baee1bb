"""One cycle's scores from its accepted submissions: the wiring of the index transforms.

Frames in (units, evaluations, survey responses of every accepted bundle, keyed by region_code and
unit_id), frames out: the scored output tables, before a release id is stamped on them.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from transforms import awards, region_scores, skm_scores, unit_scores
from transforms.methodology import Methodology
from transforms.unit_scores import UNIT_KEY


@dataclass(frozen=True)
class CycleInputs:
    """Accepted rows of a cycle, all regions together (lazy)."""

    units: pl.LazyFrame
    evaluations: pl.LazyFrame
    responses: pl.LazyFrame
    regions: pl.LazyFrame
    previous_evaluations: pl.LazyFrame | None = None


def previous_ipp(previous_evaluations: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Last cycle's unit IPPs recomputed under *this* cycle's methodology (for fair improvement)."""
    indicators = unit_scores.indicator_scores(previous_evaluations, methodology)
    aspects = unit_scores.aspect_scores(indicators, methodology)
    return unit_scores.unit_ipp(aspects, methodology).select(
        *UNIT_KEY, previous_ipp_cents=pl.col("ipp_cents"))


def score_units(inputs: CycleInputs, methodology: Methodology) -> tuple[pl.LazyFrame, pl.LazyFrame,
                                                                     pl.LazyFrame]:
    """Unit rows (IPP, IKM, sample, eligibility, rank), aspect rows and survey element rows."""
    indicators = unit_scores.indicator_scores(inputs.evaluations, methodology)
    aspects = unit_scores.aspect_scores(indicators, methodology)
    ipp = unit_scores.unit_ipp(aspects, methodology)
    totals = skm_scores.element_totals(inputs.responses, methodology)
    ikm = skm_scores.unit_ikm(totals, methodology)
    sample = skm_scores.required_sample(inputs.units, methodology)
    units = (
        inputs.units
        .join(ipp, on=UNIT_KEY, how="left")
        .join(unit_scores.evaluator_counts(inputs.evaluations), on=UNIT_KEY, how="left")
        .join(ikm, on=UNIT_KEY, how="left")
        .join(sample, on=UNIT_KEY, how="left")
        .with_columns(
            cycle=pl.lit(methodology.cycle),
            province_code=pl.col("region_code").str.slice(0, 2),
            # A unit no evaluator scored at all is as incomplete as one missing an indicator.
            status=pl.col("status").fill_null(unit_scores.STATUS_INCOMPLETE),
            n_respondents=pl.col("n_respondents").fill_null(0),
            n_evaluators=pl.col("n_evaluators").fill_null(0),
            n_indicators_scored=pl.col("n_indicators_scored").fill_null(0),
            ipp_den=pl.col("ipp_den").fill_null(unit_scores.evaluator_denominator(methodology) * 100 * 100),
        )
        .with_columns(sample_met=pl.when(pl.col("sample_required").is_not_null())
                      .then(pl.col("n_respondents") >= pl.col("sample_required")))
        .with_columns(eligible=awards.eligibility(methodology))
        .pipe(unit_scores.rank_in_type)
    )
    aspect_rows = aspects.join(inputs.units.select(UNIT_KEY), on=UNIT_KEY, how="semi").with_columns(
        cycle=pl.lit(methodology.cycle))
    element_rows = skm_scores.skm_scores(totals, methodology).with_columns(cycle=pl.lit(methodology.cycle))
    return units, aspect_rows, element_rows


def score_cycle(inputs: CycleInputs, methodology: Methodology) -> dict[str, pl.DataFrame]:
    """Every scored output table of the cycle, collected together, in a stable row order."""
    units, aspects, elements = score_units(inputs, methodology)
    # Two steps: the unit rows (which read and aggregate every survey answer) are computed once, then
    # the roll-ups and the roster read them from memory. In one `collect_all` each of those queries
    # computed the unit rows again. Rechunked: the rows come in one chunk per submission, and Polars
    # 2.1 can panic formatting strings over a filtered many-chunk frame ("i < self.len()").
    unit_frame, aspect_frame, element_frame = pl.collect_all([
        units.sort(UNIT_KEY),
        aspects.sort([*UNIT_KEY, "aspect_code"]),
        elements.sort([*UNIT_KEY, "element"]),
    ])
    unit_frame = unit_frame.rechunk()
    scored = unit_frame.lazy()
    regions = region_scores.region_scores(scored, inputs.regions, methodology).cache()
    national = region_scores.national_scores(scored, methodology)
    previous = previous_ipp(inputs.previous_evaluations, methodology) if inputs.previous_evaluations is not None \
        else None
    roster = awards.award_roster(scored, regions, methodology, previous)
    region_frame, national_frame, roster_frame = pl.collect_all([regions, national, roster])
    return {"unit_scores": unit_frame, "aspect_scores": aspect_frame, "skm_scores": element_frame,
            "region_scores": region_frame, "national_scores": national_frame, "award_roster": roster_frame}
