"""Satisfaction survey (SKM, PermenPANRB 14/2017): NRR per element, IKM and mutu per unit, sample size.

NRR_u = sum of answers to element u / respondents who answered u; IKM = scale · Σ_u NRR_u · weight
with the weight of the cycle's `weight_mode` (exact 1/9, legacy 0.111 or 0.11). Elements are keyed
by their code (the column name), never by position.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from transforms.methodology import Methodology
from transforms.rounding import band_of, cents_to_value, display_nrr, half_up_cents_of_float

UNIT_KEY = ["region_code", "unit_id"]


def element_totals_of(responses: pl.LazyFrame, elements: Sequence[str], by: Sequence[str] = ()) -> pl.LazyFrame:
    """Per unit and `by`, wide: respondents, and for each given element column the sum and count of its answers
    (see `transforms.cycle.UnitTotals`)."""
    return responses.group_by([*by, *UNIT_KEY]).agg(
        pl.len().cast(pl.Int64).alias("n_respondents"),
        *(pl.col(e).cast(pl.Int64).sum().alias(f"{e}__sum") for e in elements),
        *(pl.col(e).count().cast(pl.Int64).alias(f"{e}__n") for e in elements),
    )


def skm_scores(totals: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Unit × element rows: NRR (4 decimals, for display) and how many answered."""
    elements = methodology.survey.element_codes
    return (
        totals.select(
            *UNIT_KEY,
            *(pl.struct(element=pl.lit(e), s=pl.col(f"{e}__sum"), n=pl.col(f"{e}__n")).alias(e) for e in elements),
        )
        .unpivot(index=UNIT_KEY, on=elements, value_name="parts")
        .select(
            *UNIT_KEY,
            element=pl.col("parts").struct.field("element"),
            nrr=pl.when(pl.col("parts").struct.field("n") > 0).then(
                display_nrr(pl.col("parts").struct.field("s") / pl.col("parts").struct.field("n"))),
            n_answered=pl.col("parts").struct.field("n"),
        )
    )


def unit_ikm(totals: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Per unit: IKM (hundredths and value) and mutu; null when an element has no answer at all."""
    survey = methodology.survey
    elements = survey.element_codes
    weight_num, weight_den = survey.element_weight()
    factor_num, factor_den = survey.scale * weight_num, weight_den
    nrr_sum = pl.sum_horizontal(pl.col(f"{e}__sum") / pl.col(f"{e}__n") for e in elements)
    exact = pl.struct(
        nums=pl.concat_list(pl.col(f"{e}__sum") for e in elements),
        dens=pl.concat_list(pl.col(f"{e}__n") for e in elements),
        fnum=pl.lit(factor_num, dtype=pl.Int64),
        fden=pl.lit(factor_den, dtype=pl.Int64),
    )
    answered_all = pl.all_horizontal(pl.col(f"{e}__n") > 0 for e in elements)
    return (
        totals.with_columns(
            ikm_cents=pl.when(answered_all).then(
                half_up_cents_of_float(nrr_sum * (factor_num / factor_den), exact)),
            # The unrounded IKM and its exact parts, for roll-ups that average exact values and round once.
            ikm_value=pl.when(answered_all).then(nrr_sum * (factor_num / factor_den)),
            ikm_nums=pl.when(answered_all).then(pl.concat_list(pl.col(f"{e}__sum") for e in elements)),
            ikm_dens=pl.when(answered_all).then(pl.concat_list(pl.col(f"{e}__n") for e in elements)),
        )
        .with_columns(
            ikm=cents_to_value(pl.col("ikm_cents")),
            ikm_mutu=band_of(pl.col("ikm_cents"), survey.mutu, "code"),
            ikm_mutu_label=band_of(pl.col("ikm_cents"), survey.mutu, "label"),
        )
        .select(*UNIT_KEY, "n_respondents", "ikm_cents", "ikm", "ikm_mutu", "ikm_mutu_label", "ikm_value",
                "ikm_nums", "ikm_dens")
    )


def with_ikm_parts(units: pl.LazyFrame) -> pl.LazyFrame:
    """Units as roll-ups read them: without a survey's exact parts (frames not from `unit_ikm`), no IKM."""
    names = units.collect_schema().names()
    missing = {"ikm_value": pl.Float64, "ikm_nums": pl.List(pl.Int64), "ikm_dens": pl.List(pl.Int64)}
    return units.with_columns(pl.lit(None, dtype=dtype).alias(name) for name, dtype in missing.items()
                              if name not in names)


def rolled_ikm(*, grouped: bool) -> list[pl.Expr]:
    """Aggregations for an IKM roll-up over units: the sum of their exact IKMs, how many, and exact parts.

    `grouped`: inside `group_by().agg` (a group's values gather into a list by themselves) or in a
    whole-frame `select` (gathered explicitly into one list).
    """
    surveyed = pl.col("ikm_value").is_not_null()

    def parts(column: str) -> pl.Expr:
        values = pl.col(column).filter(surveyed).explode()
        return (values if grouped else values.implode()).alias(column)

    return [
        pl.col("ikm_value").sum().alias("ikm_value_sum"),
        surveyed.sum().cast(pl.Int64).alias("n_ikm"),
        parts("ikm_nums"),
        parts("ikm_dens"),
    ]


def rolled_ikm_cents(methodology: Methodology) -> pl.Expr:
    """The mean of the units' exact IKMs (after `rolled_ikm`), rounded half-up once; null over no survey.

    Mean = scale·weight/N · Σ_units Σ_u sum_u/n_u: taken in float, a near-tie settled from the exact parts.
    """
    weight_num, weight_den = methodology.survey.element_weight()
    exact = pl.struct(nums=pl.col("ikm_nums"), dens=pl.col("ikm_dens"),
                      fnum=pl.lit(methodology.survey.scale * weight_num, dtype=pl.Int64),
                      fden=pl.lit(weight_den, dtype=pl.Int64) * pl.col("n_ikm"))
    mean = pl.col("ikm_value_sum") / pl.col("n_ikm")
    return pl.when(pl.col("n_ikm") > 0).then(half_up_cents_of_float(mean, exact))


def required_sample(units: pl.LazyFrame, methodology: Methodology, key: list[str] | None = None) -> pl.LazyFrame:
    """Krejcie–Morgan minimum sample for each unit's annual_service_users (next larger N in the table).

    Above the table's largest N the last sample applies; a population smaller than its sample needs
    everyone. Units without a population get null (nothing to check).
    """
    table = pl.LazyFrame(
        {"km_population": [n for n, _ in methodology.survey.sample_table],
         "km_sample": [s for _, s in methodology.survey.sample_table]},
        schema={"km_population": pl.Int64, "km_sample": pl.Int64},
    )
    key = key or UNIT_KEY
    largest_sample = methodology.survey.sample_table[-1][1]
    population = pl.col("annual_service_users")
    return (
        units.select(*key, population.cast(pl.Int64))
        .sort("annual_service_users")
        .join_asof(table, left_on="annual_service_users", right_on="km_population", strategy="forward")
        .with_columns(
            sample_required=pl.when(population.is_not_null()).then(
                pl.min_horizontal(pl.col("km_sample").fill_null(largest_sample), population)),
        )
        .select(*key, "annual_service_users", "sample_required")
    )
