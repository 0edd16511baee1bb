"""Figures for the documents people read (award roster, cycle report, region cards), from published tables.

Frames in, frames out; no I/O. Means of published 2-decimal values are taken in integer hundredths
and rounded half-up once by `transforms.rounding`; IPP roll-ups (provinces, unit types) start from
each unit's exact numerator, as the published region roll-ups do, so a figure here never disagrees
with the same figure in a published table.
"""

from __future__ import annotations

import polars as pl

from transforms.awards import for_category, uncovered_reason
from transforms.bodies import province_of
from transforms.methodology import Methodology
from transforms.region_scores import rank_category, region_level
from transforms.rounding import (
    CENTS,
    band_of,
    cents_to_value,
    competition_rank,
    half_up_cents,
    half_up_cents_of_mean,
    nearest_integer,
    published_cents,
)
from transforms.submissions import ACCEPTED, LATE, REJECTED, SUPERSEDED
from transforms.unit_scores import STATUS_SCORED, UNIT_KEY, evaluator_denominator, indicator_scores_of

SEVERITY_ORDER = {"critical": 0, "row": 1, "warning": 2}
TIER_PROVINCE = "provinsi"
CATEGORY_ORDER = ("provinsi", "kabupaten", "kota", "kl")
"""The categories bodies are ranked in, in the order documents list them (each ranked from 1)."""
REGION_GROUP_LABELS = {"provinsi": "Pemerintah Provinsi", "kabupaten": "Pemerintah Kabupaten",
                       "kota": "Pemerintah Kota", "kl": "Kementerian/Lembaga"}
BASIS_IPP = "IPP"
BASIS_GAIN = "Kenaikan IPP"


# ---------------------------------------------------------------- exact values

def value_cents(value: pl.Expr) -> pl.Expr:
    """Integer hundredths of a published 2-decimal value (see `rounding.published_cents`)."""
    return published_cents(value)


def mean_of_published(value: pl.Expr) -> pl.Expr:
    """Aggregation: the mean of published 2-decimal values, rounded half-up once (null over no values)."""
    cents = value_cents(value)
    count = cents.count()
    return cents_to_value(pl.when(count > 0).then(half_up_cents(cents.sum(), count * CENTS)))


def ipp_denominator(methodology: Methodology) -> int:
    """The common denominator 100·100·D of every unit IPP of the cycle (see transforms.unit_scores)."""
    return 100 * 100 * evaluator_denominator(methodology)


def ipp_numerator(methodology: Methodology) -> pl.Expr:
    """A scored unit's exact IPP numerator over `ipp_denominator`, recovered from `ipp_exact`.

    `ipp_exact` is num/den as a float; num < 5·den < 2^31, so num is the nearest integer to
    ipp_exact·den (the float's error is below 10⁻⁶ of a unit there).
    """
    return nearest_integer(pl.col("ipp_exact") * ipp_denominator(methodology))


def _predicate_columns(cents: pl.Expr, methodology: Methodology) -> dict[str, pl.Expr]:
    return {
        "predicate": band_of(cents, methodology.predicates, "code"),
        "predicate_label": band_of(cents, methodology.predicates, "label"),
        "zone": band_of(cents, methodology.predicates, "zone"),
    }


def rollup(units: pl.LazyFrame, by: list[str], methodology: Methodology) -> pl.LazyFrame:
    """Roll-up IPP of scored units per `by`, exactly as region roll-ups are made (mean or weighted).

    A weighted cycle needs its weight column (`rollup_weight_column`) on the unit rows.
    """
    if methodology.rollup_method == "weighted":
        column = methodology.rollup_weight_column
        if column not in units.collect_schema().names():
            raise ValueError(f"weighted roll-up needs the units column {column!r} beside unit_scores")
        weight = pl.col(column).cast(pl.Int64).fill_null(0)
    else:
        weight = pl.lit(1, dtype=pl.Int64)
    scored = pl.col("ipp_exact").is_not_null()
    if methodology.f03_enabled:
        return _blended_rollup(units, by, weight, methodology)
    counted = pl.when(scored).then(weight).otherwise(0).cast(pl.Int128)
    return (
        units.with_columns(_num=ipp_numerator(methodology))
        .group_by(by)
        .agg(
            n_units=pl.len().cast(pl.Int64),
            n_units_scored=scored.sum().cast(pl.Int64),
            _num=(pl.col("_num").cast(pl.Int128) * counted).sum(),
            _den=(pl.lit(ipp_denominator(methodology), dtype=pl.Int128) * counted).sum(),
        )
        .with_columns(ipp_cents=pl.when(pl.col("_den") > 0).then(half_up_cents(pl.col("_num"), pl.col("_den"))))
        .with_columns(ipp=cents_to_value(pl.col("ipp_cents")), **_predicate_columns(pl.col("ipp_cents"), methodology))
        .drop("_num", "_den")
    )


def _blended_rollup(units: pl.LazyFrame, by: list[str], weight: pl.Expr, methodology: Methodology) -> pl.LazyFrame:
    """`rollup` in a cycle blending F-03: each unit's exact blend rebuilt from its published integers.

    N from `ipp_f02_exact` as `ipp_numerator` does, S = `f03_sum` and n = `n_f03_answers`; the blend is
    then `f03_scores`' fraction (F-02 alone when n = 0 under `f02_only`), averaged exactly and rounded once.
    """
    f02_weight, f03_weight = methodology.f03_weights
    dp = ipp_denominator(methodology)
    scored = pl.col("ipp_exact").is_not_null()
    f02 = nearest_integer(pl.col("ipp_f02_exact") * dp).cast(pl.Int128)
    n, s = pl.col("n_f03_answers").cast(pl.Int128), pl.col("f03_sum").cast(pl.Int128)
    answered = pl.col("n_f03_answers") > 0
    parts = pl.struct(nums=pl.col("_nums"), dens=pl.col("_dens"), weights=pl.col("_weights"))
    return (
        units.with_columns(
            _num=pl.when(answered).then(f02_weight * f02 * n + f03_weight * s * dp).otherwise(f02),
            _den=pl.when(answered).then(100 * dp * n).otherwise(pl.lit(dp, dtype=pl.Int128)),
        )
        .group_by(by)
        .agg(
            n_units=pl.len().cast(pl.Int64),
            n_units_scored=scored.sum().cast(pl.Int64),
            _nums=pl.col("_num").filter(scored),
            _dens=pl.col("_den").filter(scored),
            _weights=(scored.cast(pl.Int64) * weight).filter(scored),
        )
        .with_columns(ipp_cents=parts.map_batches(half_up_cents_of_mean, return_dtype=pl.Int64))
        .with_columns(ipp=cents_to_value(pl.col("ipp_cents")), **_predicate_columns(pl.col("ipp_cents"), methodology))
        .drop("_nums", "_dens", "_weights")
    )


# ---------------------------------------------------------------- the cycle as a whole

def national_change(national: pl.DataFrame, previous: pl.DataFrame | None) -> pl.DataFrame:
    """The national row with the previous cycle's IPP and predicate and the change (null without one)."""
    current = national.select("ipp", "predicate", "predicate_label", "ikm", "n_regions", "n_units",
                              "n_units_scored", "rollup_method")
    before = pl.DataFrame({"previous_ipp": [None], "previous_predicate": [None]},
                          schema={"previous_ipp": pl.Float64, "previous_predicate": pl.String})
    if previous is not None and not previous.is_empty():
        before = previous.select(previous_ipp=pl.col("ipp"), previous_predicate=pl.col("predicate")).head(1)
    return current.join(before, how="cross").with_columns(
        change=cents_to_value(value_cents(pl.col("ipp")) - value_cents(pl.col("previous_ipp"))))


def predicate_distribution(units: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Scored units per predicate, every band of the cycle listed best first (zero counts included)."""
    bands = pl.LazyFrame({
        "band_order": list(range(len(methodology.predicates))),
        "predicate": [b.code for b in methodology.predicates],
        "predicate_label": [b.label for b in methodology.predicates],
        "zone": [b.zone for b in methodology.predicates],
    }, schema={"band_order": pl.Int64, "predicate": pl.String, "predicate_label": pl.String, "zone": pl.String})
    counts = units.filter(pl.col("predicate").is_not_null()).group_by("predicate").agg(n_units=pl.len())
    return (
        bands.join(counts, on="predicate", how="left")
        .with_columns(pl.col("n_units").fill_null(0).cast(pl.Int64))
        .with_columns(share=pl.col("n_units") / pl.col("n_units").sum().clip(lower_bound=1))
        .sort("band_order")
    )


def status_counts(units: pl.LazyFrame) -> pl.LazyFrame:
    """Units per status (scored, incomplete, ...), scored first."""
    return (units.group_by("status").agg(n_units=pl.len().cast(pl.Int64))
            .sort(pl.col("status") != STATUS_SCORED, "status"))


def type_scores(units: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Roll-up IPP per unit type, best first; types of the cycle without units are left out."""
    order = {t: n for n, t in enumerate(methodology.unit_types)}
    return (
        rollup(units, ["unit_type"], methodology)
        .with_columns(rank=competition_rank(pl.col("ipp_cents")),
                      _order=pl.col("unit_type").replace_strict(order, default=len(order), return_dtype=pl.Int64))
        .sort(["rank", "_order", "unit_type"], nulls_last=True)
        .drop("_order")
    )


def province_scores(units: pl.LazyFrame, reference: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """One row per province: the roll-up of every unit whose province_code is that province.

    This includes the province government's own units and those of its kabupaten/kota, so it is a
    summary of the province as a territory, not the published `region_scores` row of the pemda.
    """
    names = reference.filter(pl.col("level") == TIER_PROVINCE).select(
        province_code=pl.col("region_code"), province_name=pl.col("name"))
    units = units.filter(pl.col("province_code").is_not_null())  # a K/L's units sit under no province
    regions = units.group_by("province_code").agg(n_regions=pl.col("region_code").n_unique().cast(pl.Int64))
    return (
        rollup(units, ["province_code"], methodology)
        .join(regions, on="province_code", how="left")
        .join(names, on="province_code", how="left")
        .with_columns(province_name=pl.col("province_name").fill_null(pl.col("province_code")),
                      rank=competition_rank(pl.col("ipp_cents")))
        .sort(["rank", "province_code"], nulls_last=True)
    )


def aspect_summary(aspects: pl.LazyFrame, methodology: Methodology, by: list[str] | None = None) -> pl.LazyFrame:
    """Mean aspect score per aspect (and per `by`), over units with that aspect complete, in aspect order."""
    by = by or []
    order = pl.LazyFrame({
        "aspect_code": [a.code for a in methodology.aspects],
        "aspect_order": list(range(len(methodology.aspects))),
    }, schema={"aspect_code": pl.String, "aspect_order": pl.Int64})
    return (
        aspects.group_by([*by, "aspect_code"])
        .agg(aspect_name=pl.col("aspect_name").first(), weight=pl.col("weight").first(),
             n_units=pl.col("score").count().cast(pl.Int64), mean=mean_of_published(pl.col("score")))
        .join(order, on="aspect_code", how="left")
        .with_columns(**{k: v for k, v in _predicate_columns(value_cents(pl.col("mean")), methodology).items()
                         if k == "zone"})
        .sort([*by, "aspect_order"])
    )


def ranked_aspects(summary: pl.LazyFrame) -> pl.LazyFrame:
    """Aspects from the strongest to the weakest mean (ties in aspect order)."""
    return summary.sort(["mean", "aspect_order"], descending=[True, False], nulls_last=True)


def indicator_losses(totals: pl.LazyFrame, units: pl.LazyFrame, methodology: Methodology,
                     by: list[str] | None = None) -> pl.LazyFrame:
    """Per indicator (and per `by`): mean score of scored units and the IPP points it costs them.

    A unit's indicator score is the mean of its evaluators (as in the IPP). The cost of an indicator
    is (max − score)·w_i/100·W_a/100 averaged over the units: what the IPP would gain if every unit
    scored the maximum there. Over all indicators the costs add up to max − the mean unit IPP, so
    the largest costs are what pulled the score down most. Exact integers until one half-up rounding.
    `totals` are the units' indicator sums (`unit_scores.indicator_totals` of their evaluation rows).
    """
    by = by or []
    d = evaluator_denominator(methodology)
    scope = [*by] if by else ["_all"]
    scored = units.filter(pl.col("status") == STATUS_SCORED).select(list(dict.fromkeys([*UNIT_KEY, *by])))
    indicators = pl.LazyFrame({
        "indicator_code": [i.code for i in methodology.indicators],
        "indicator_name": [i.name for i in methodology.indicators],
        "indicator_order": list(range(len(methodology.indicators))),
        "aspect_name": [a.name for a in methodology.aspects for _ in a.indicators],
    }, schema={"indicator_code": pl.String, "indicator_name": pl.String, "indicator_order": pl.Int64,
               "aspect_name": pl.String})
    scores = indicator_scores_of(totals, methodology).join(scored, on=UNIT_KEY, how="inner")
    if not by:
        scores = scores.with_columns(_all=pl.lit(True))
    gap = (pl.lit(methodology.score_max * d, dtype=pl.Int128) - pl.col("scaled").cast(pl.Int128))
    return (
        scores.group_by([*scope, "indicator_code"])
        .agg(
            aspect_code=pl.col("aspect_code").first(),
            indicator_weight=pl.col("indicator_weight").first(),
            aspect_weight=pl.col("aspect_weight").first(),
            n_units=pl.len().cast(pl.Int64),
            _scaled=pl.col("scaled").cast(pl.Int128).sum(),
            loss_num=(gap * pl.col("indicator_weight") * pl.col("aspect_weight")).sum(),
        )
        .with_columns(loss_den=pl.lit(100 * 100 * d, dtype=pl.Int128) * pl.col("n_units"))
        .with_columns(
            mean=cents_to_value(half_up_cents(pl.col("_scaled"), pl.lit(d, dtype=pl.Int128) * pl.col("n_units"))),
            weight_in_ipp=cents_to_value(pl.col("indicator_weight") * pl.col("aspect_weight")),
            loss=cents_to_value(half_up_cents(pl.col("loss_num"), pl.col("loss_den"))),
        )
        .join(indicators, on="indicator_code", how="left")
        .drop("_scaled", *([] if by else ["_all"]))
        .sort([*by, "loss_num", "indicator_order"], descending=[*([False] * len(by)), True, False])
    )


# ---------------------------------------------------------------- regions

def category(regions: pl.LazyFrame) -> pl.Expr:
    """The category a published region row is ranked in (releases before the column: from its level)."""
    if "category" in regions.collect_schema().names():
        return pl.col("category").fill_null(rank_category(pl.col("level")))
    return rank_category(pl.col("level"))


def _category_order(column: pl.Expr) -> pl.Expr:
    order = {c: n for n, c in enumerate(CATEGORY_ORDER)}
    return column.replace_strict(order, default=len(order), return_dtype=pl.Int64)


def region_standing(regions: pl.LazyFrame) -> pl.LazyFrame:
    """Published region rows with their category and how many ranked regions share it.

    A release made before ranks were per category ranked kabupaten and kota together: its ranks are
    shown as published, grouped by the category each region belongs to.
    """
    return (regions.with_columns(category=category(regions))
            .with_columns(n_in_category=pl.col("rank").count().over("category").cast(pl.Int64),
                          _order=_category_order(pl.col("category")))
            .sort(["_order", "rank", "region_code"], nulls_last=True)
            .drop("_order"))


def unit_table(units: pl.LazyFrame, aspects: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Unit rows with one column `aspect_<code>` per aspect of the cycle, by unit type then name."""
    per_unit = aspects.group_by(UNIT_KEY).agg(
        pl.col("score").filter(pl.col("aspect_code") == a.code).first().alias(f"aspect_{a.code}")
        for a in methodology.aspects)
    order = {t: n for n, t in enumerate(methodology.unit_types)}
    return (
        units.join(per_unit, on=UNIT_KEY, how="left")
        .with_columns(_order=pl.col("unit_type").replace_strict(order, default=len(order), return_dtype=pl.Int64))
        .sort(["region_code", "_order", "unit_type", "unit_name", "unit_id"])
        .drop("_order")
    )


# ---------------------------------------------------------------- awards

def roster_view(roster: pl.LazyFrame, units: pl.LazyFrame, regions: pl.LazyFrame, reference: pl.LazyFrame,
                methodology: Methodology) -> pl.LazyFrame:
    """The award roster for people: by award (methodology order), then unit type (or region category), ranked.

    `rank_in_group` ranks the award's value within award and group; `rank` is the roster's own rank
    (national within the award, per type for top-N awards, within the category for regions).
    Each row gets its region's and province's names, the recipient's IPP and predicate (also for
    awards ranked on something else, such as the IPP gain), and what the award ranks on.
    """
    award_order = {a.code: n for n, a in enumerate(methodology.awards)}
    basis = {a.code: (BASIS_GAIN if a.rule == "most_improved" else BASIS_IPP) for a in methodology.awards}
    type_order = {t: n for n, t in enumerate(methodology.unit_types)}
    names = reference.select("region_code", region_name=pl.col("name"))
    provinces = reference.filter(pl.col("level") == TIER_PROVINCE).select(
        province_code=pl.col("region_code"), province_name=pl.col("name"))
    unit_facts = units.select(*UNIT_KEY, unit_ipp="ipp", unit_predicate_label="predicate_label")
    region_facts = regions.select("region_code", region_ipp="ipp", region_predicate_label="predicate_label",
                                  region_category=category(regions))
    is_region = pl.col("subject") == "region"
    body_category = pl.col("region_category").fill_null(rank_category(region_level(pl.col("region_code"))))
    if "reason_en" not in roster.collect_schema().names():  # a release made before reasons were bilingual
        roster = roster.with_columns(reason_en=pl.lit(None, pl.String))
    return (
        roster.with_row_index("_row")
        .join(unit_facts, on=UNIT_KEY, how="left")
        .join(region_facts, on="region_code", how="left")
        .join(names, on="region_code", how="left")
        .with_columns(province_code=province_of(pl.col("region_code")))  # none for a K/L (110 is not Aceh)
        .join(provinces, on="province_code", how="left")
        .with_columns(
            region_name=pl.col("region_name").fill_null(pl.col("region_code")),
            group=pl.when(is_region).then(body_category.replace_strict(REGION_GROUP_LABELS, return_dtype=pl.String))
            .otherwise(pl.col("unit_type")),
            ipp=pl.when(is_region).then(pl.col("region_ipp")).otherwise(pl.col("unit_ipp")),
            predicate_label=pl.when(is_region).then(pl.col("region_predicate_label"))
            .otherwise(pl.col("unit_predicate_label")),
            basis=pl.col("award").replace_strict(basis, default=BASIS_IPP, return_dtype=pl.String),
            _award_order=pl.col("award").replace_strict(award_order, default=None, return_dtype=pl.Int64),
            _group_order=pl.when(is_region).then(_category_order(body_category))
            .otherwise(pl.col("unit_type").replace_strict(type_order, default=len(type_order),
                                                          return_dtype=pl.Int64)),
        )
        .with_columns(_award_order=pl.col("_award_order").fill_null(
            len(award_order) + pl.col("_row").min().over("award").cast(pl.Int64)))
        .with_columns(rank_in_group=competition_rank(value_cents(pl.col("score"))).over(["award", "group"]))
        .sort(["_award_order", "_group_order", "group", "rank_in_group", "rank", "name", "region_code", "unit_id"],
              nulls_last=True)
        .select("award", "award_label", "subject", "group", "rank_in_group", "rank", "name", "unit_id", "region_code",
                "region_name", "province_name", "ipp", "predicate", "predicate_label", "basis", "score", "reason",
                "reason_en")
    )


def honoured_predicates(methodology: Methodology) -> list[str]:
    """Predicates some unit award of the cycle can honour (named, or at or above a rule's minimum)."""
    codes: set[str] = set()
    for award in methodology.awards:
        if award.subject != "unit":
            continue
        codes |= set(award.predicates)
        if award.min_predicate:
            codes |= {b.code for b in methodology.predicates[: methodology.predicate_rank(award.min_predicate) + 1]}
    return [b.code for b in methodology.predicates if b.code in codes]


def left_out(units: pl.LazyFrame, reference: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Units whose predicate an award could honour but which are not eligible, with why (for the committee).

    Releases published before `ineligible_reason` existed give no rows (they did not record why).
    """
    names = units.collect_schema().names()
    if "ineligible_reason" not in names:
        return units.head(0).select(*UNIT_KEY, "unit_name", "unit_type", "ipp", "predicate",
                                    region_name=pl.col("region_code"), ineligible_reason=pl.lit(None, pl.String),
                                    ineligible_reason_en=pl.lit(None, pl.String))
    if "ineligible_reason_en" not in names:  # a release made before reasons were bilingual
        units = units.with_columns(ineligible_reason_en=pl.lit(None, pl.String))
    order = {t: n for n, t in enumerate(methodology.unit_types)}
    return (
        units.filter(pl.col("ineligible_reason").is_not_null()
                     & pl.col("predicate").is_in(honoured_predicates(methodology)))
        .join(reference.select("region_code", region_name=pl.col("name")), on="region_code", how="left")
        .with_columns(region_name=pl.col("region_name").fill_null(pl.col("region_code")),
                      _order=pl.col("unit_type").replace_strict(order, default=len(order), return_dtype=pl.Int64))
        .sort(["_order", "unit_type", "ipp", "region_code", "unit_id"], descending=[False, False, True, False, False])
        .select(*UNIT_KEY, "unit_name", "unit_type", "ipp", "predicate", "region_name", "ineligible_reason",
                "ineligible_reason_en")
    )


def regions_left_out(regions: pl.LazyFrame, methodology: Methodology) -> pl.LazyFrame:
    """Regions whose roll-up predicate a region award honours but whose lokus is not covered, with why."""
    regions = regions.with_columns(category=category(regions))
    names = regions.collect_schema().names()
    if "n_lokus_units" not in names:  # a release made before lokus counts: every unit sent was a lokus unit
        regions = regions.with_columns(n_lokus_units=pl.col("n_units"), n_lokus_scored=pl.col("n_units_scored"))
    if "lokus_missing" not in names:
        regions = regions.with_columns(lokus_missing=pl.lit(None, pl.String))
    parts = [
        regions.filter(pl.col("predicate").is_in(list(award.predicates)) & for_category(award))
        .with_columns(award_label=pl.lit(award.label), reason=uncovered_reason(award, "id"),
                      reason_en=uncovered_reason(award, "en"))
        .filter(pl.col("reason").is_not_null())
        .select("award_label", "region_code", "region_name", "category", "ipp", "predicate", "n_units_scored",
                "n_units", "reason", "reason_en")
        for award in methodology.awards if award.subject == "region"
    ]
    if not parts:
        return pl.LazyFrame(schema={"award_label": pl.String, "region_code": pl.String, "region_name": pl.String,
                                    "category": pl.String, "ipp": pl.Float64, "predicate": pl.String,
                                    "n_units_scored": pl.Int64, "n_units": pl.Int64, "reason": pl.String,
                                    "reason_en": pl.String})
    return pl.concat(parts).with_columns(_order=_category_order(pl.col("category"))).sort(
        ["award_label", "_order", "region_code"]).drop("_order")


# ---------------------------------------------------------------- validation feedback

def submissions_by_region(submissions: pl.LazyFrame, issues: pl.LazyFrame, reference: pl.LazyFrame) -> pl.LazyFrame:
    """Per region: bundles received by status and issues by severity; `used` when a bundle counts."""
    bundles = submissions.group_by("region_code").agg(
        n_bundles=pl.len().cast(pl.Int64),
        **{status: (pl.col("status") == status).sum().cast(pl.Int64)
           for status in (ACCEPTED, REJECTED, SUPERSEDED, LATE)},
    )
    problems = issues.group_by("region_code").agg(
        n_issues=pl.len().cast(pl.Int64),
        **{f"n_{s}": (pl.col("severity") == s).sum().cast(pl.Int64) for s in SEVERITY_ORDER},
    )
    counts = ["n_issues", *(f"n_{s}" for s in SEVERITY_ORDER)]
    return (
        bundles.join(problems, on="region_code", how="left")
        .with_columns(pl.col(counts).fill_null(0), used=pl.col(ACCEPTED) > 0)
        .join(reference.select("region_code", region_name=pl.col("name")), on="region_code", how="left")
        .with_columns(region_name=pl.col("region_name").fill_null(pl.col("region_code")))
        .sort("region_code")
    )


def _severity_order() -> pl.Expr:
    return pl.col("severity").replace_strict(SEVERITY_ORDER, default=len(SEVERITY_ORDER), return_dtype=pl.Int64)


def top_issue_rules(issues: pl.LazyFrame, limit: int = 10) -> pl.LazyFrame:
    """The rules broken most often across regions, with the tables and columns involved and an example."""
    return (
        issues.sort(["region_code", "submission_id", "table", "row"], nulls_last=True)
        .group_by(["rule", "severity"])
        .agg(
            n_issues=pl.len().cast(pl.Int64),
            n_regions=pl.col("region_code").n_unique().cast(pl.Int64),
            tables=pl.col("table").unique().sort().str.join(", "),
            columns=pl.col("column").drop_nulls().unique().sort().str.join(", "),
            example=pl.col("message").first(),
        )
        .sort(["n_issues", "rule"], descending=[True, False])
        .head(limit)
    )


def issue_groups(issues: pl.LazyFrame, examples: int = 3) -> pl.LazyFrame:
    """Issues of each bundle grouped by table, rule and severity (most serious, then most frequent, first),
    with the columns involved and the first `examples` rows (row, column, value, message) as structs."""
    keys = ["submission_id", "table", "rule", "severity"]
    return (
        issues.sort(["row", "column"], nulls_last=True)
        .group_by(keys)
        .agg(n_issues=pl.len().cast(pl.Int64),
             columns=pl.col("column").drop_nulls().unique().sort().str.join(", "),
             examples=pl.struct("row", "column", "value", "message").head(examples))
        .with_columns(_severity=_severity_order())
        .sort(["submission_id", "_severity", "n_issues", "table", "rule"],
              descending=[False, False, True, False, False], nulls_last=True)
        .drop("_severity")
    )
