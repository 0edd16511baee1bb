"""One cycle's scores from its accepted submissions: the wiring of the index transforms.

Frames in (units, evaluations, survey responses of every accepted bundle, keyed by region_code and
unit_id), frames out: the scored output tables, before a release id is stamped on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from transforms import awards, bodies, compliance, f03_scores, region_scores, skm_scores, unit_scores
from transforms.methodology import Methodology
from transforms.unit_scores import UNIT_KEY

UNIT_TOTALS_VERSION = 1
"""Bump when `unit_totals` changes what it computes: totals kept under another version are recomputed."""


@dataclass(frozen=True)
class UnitTotals:
    """The per-unit sums every score is made from: all that scoring reads the evaluation and survey rows for.

    Each is a function of one unit's rows and needs no methodology (bar which columns are survey
    elements), so the ledger keeps them per submission and a run with one new bundle aggregates only
    that bundle's rows.
    """

    indicators: pl.LazyFrame
    """UNIT_KEY, indicator_code, score_sum, n_scores (non-null scores)."""
    evaluators: pl.LazyFrame
    """UNIT_KEY, n_evaluators (distinct evaluator ids over all evaluation rows)."""
    elements: pl.LazyFrame
    """UNIT_KEY, n_respondents, <element>__sum and <element>__n per element code."""


def unit_totals(evaluations: pl.LazyFrame, responses: pl.LazyFrame, element_codes: Sequence[str],
                by: Sequence[str] = ()) -> UnitTotals:
    """The per-unit sums of these evaluation and survey rows (lazy); `by` adds group keys before the unit's."""
    return UnitTotals(indicators=unit_scores.indicator_totals(evaluations, by),
                      evaluators=unit_scores.evaluator_counts(evaluations, by),
                      elements=skm_scores.element_totals_of(responses, element_codes, by))


@dataclass(frozen=True)
class CycleInputs:
    """Accepted rows of a cycle, all regions together (lazy).

    `totals`, when given, are the per-unit sums of `evaluations` and `responses` (kept per
    submission by the ledger) and are used instead of aggregating those rows again; likewise
    `previous_indicator_totals` for `previous_evaluations`. `f03_responses` (and the previous
    cycle's) are the F-03 rows, read only when the methodology blends F-03.
    """

    units: pl.LazyFrame
    evaluations: pl.LazyFrame
    responses: pl.LazyFrame
    regions: pl.LazyFrame
    previous_evaluations: pl.LazyFrame | None = None
    totals: UnitTotals | None = None
    previous_indicator_totals: pl.LazyFrame | None = None
    f03_responses: pl.LazyFrame | None = None
    previous_f03_responses: pl.LazyFrame | None = None
    compliance: pl.LazyFrame | None = None
    """The Ombudsman feed's accepted rows (`compliance.COMPLIANCE_ROW_SCHEMA`); None: the cycle has no feed."""

    def unit_totals(self, methodology: Methodology) -> UnitTotals:
        return self.totals or unit_totals(self.evaluations, self.responses, methodology.survey.element_codes)

    def previous_totals(self) -> pl.LazyFrame | None:
        """Last cycle's indicator totals, or None without a previous cycle."""
        if self.previous_indicator_totals is not None:
            return self.previous_indicator_totals
        if self.previous_evaluations is not None:
            return unit_scores.indicator_totals(self.previous_evaluations)
        return None


F03_SCHEMA = pl.Schema({"region_code": pl.String, "unit_id": pl.String, "respondent_id": pl.String,
                        "score": pl.Int64})
"""The F-03 columns scoring reads (an absent F-03 table is an empty frame of these)."""


def unit_ipp_of(totals: pl.LazyFrame, f03_responses: pl.LazyFrame | None, methodology: Methodology
                ) -> tuple[pl.LazyFrame, pl.LazyFrame]:
    """(unit IPP rows, aspect rows) from indicator totals; blended with F-03 when the cycle turns it on."""
    indicators = unit_scores.indicator_scores_of(totals, methodology)
    aspects = unit_scores.aspect_scores(indicators, methodology)
    ipp = unit_scores.unit_ipp(aspects, methodology)
    if methodology.f03_enabled:
        rows = f03_responses if f03_responses is not None else pl.LazyFrame(schema=F03_SCHEMA)
        ipp = f03_scores.blended_ipp(ipp, f03_scores.f03_totals(rows), methodology)
    return ipp, aspects


def previous_ipp(previous_totals: pl.LazyFrame, methodology: Methodology,
                 previous_f03: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """Last cycle's unit IPPs recomputed under *this* cycle's methodology (for fair improvement).

    With F-03 on, last cycle's F-03 rows are blended in by the same rule; a cycle that did not blend
    kept none, so its units count as having no F-03 answer (`without_f03` decides).
    """
    ipp, _ = unit_ipp_of(previous_totals, previous_f03, methodology)
    return ipp.select(*UNIT_KEY, previous_ipp_cents=pl.col("ipp_cents"))


def score_units(inputs: CycleInputs, methodology: Methodology) -> tuple[pl.LazyFrame, pl.LazyFrame,
                                                                     pl.LazyFrame]:
    """Unit rows (IPP, IKM, sample, eligibility, rank), aspect rows and survey element rows."""
    sums = inputs.unit_totals(methodology)
    ipp, aspects = unit_ipp_of(sums.indicators, inputs.f03_responses, methodology)
    totals = sums.elements
    ikm = skm_scores.unit_ikm(totals, methodology)
    sample = skm_scores.required_sample(inputs.units, methodology).drop("annual_service_users")
    units = (
        inputs.units
        .join(ipp, on=UNIT_KEY, how="left")
        .join(sums.evaluators, on=UNIT_KEY, how="left")
        .join(ikm, on=UNIT_KEY, how="left")
        .join(sample, on=UNIT_KEY, how="left")
        .with_columns(
            cycle=pl.lit(methodology.cycle),
            province_code=bodies.province_of(pl.col("region_code")),
            # A unit no evaluator scored at all is as incomplete as one missing an indicator.
            status=pl.col("status").fill_null(unit_scores.STATUS_INCOMPLETE),
            n_respondents=pl.col("n_respondents").fill_null(0),
            n_evaluators=pl.col("n_evaluators").fill_null(0),
            n_indicators_scored=pl.col("n_indicators_scored").fill_null(0),
            ipp_den=pl.col("ipp_den").fill_null(unit_scores.evaluator_denominator(methodology) * 100 * 100),
        )
        .with_columns(sample_met=awards.sample_met(), **awards.ineligible_reasons(methodology))
        .with_columns(eligible=pl.col("ineligible_reason").is_null())
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
    previous_totals = inputs.previous_totals()
    previous = (None if previous_totals is None else
                previous_ipp(previous_totals, methodology, inputs.previous_f03_responses))
    roster = awards.award_roster(scored, regions, methodology, previous)
    coverage = bodies.lokus_coverage(scored, methodology)
    region_frame, national_frame, roster_frame, coverage_frame = pl.collect_all([regions, national, roster,
                                                                                 coverage])
    feed = inputs.compliance if inputs.compliance is not None else pl.LazyFrame(
        schema=compliance.COMPLIANCE_ROW_SCHEMA)
    compliance_frame = compliance.compliance_scores(feed, inputs.regions, region_frame.lazy(), methodology).collect()
    return {"unit_scores": unit_frame, "aspect_scores": aspect_frame, "skm_scores": element_frame,
            "region_scores": region_frame, "national_scores": national_frame, "award_roster": roster_frame,
            "lokus_coverage": coverage_frame, "compliance_scores": compliance_frame}
