"""What a new release of a cycle changed for units: IPP, predicate, rank in type, eligibility, awards; units
added or removed; and why, in words.

Pure Polars: the unit_scores and award_roster of two releases in, one row per unit that differs out.
A re-run with unchanged inputs gives an empty frame. A correction of the methodology (or of the code)
never changes a past cycle silently: re-running it publishes a release whose diff lists every unit
whose eligibility or rank moved, with the rule now failed or met. Releases made before a compared
column existed (`ineligible_reason`) compare as null there.
"""

from __future__ import annotations

import polars as pl

from transforms.rounding import cents_text, published_cents
from transforms.schemas import Column, TableSpec
from transforms.unit_scores import UNIT_KEY

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
COMPARED = ("ipp", "predicate", "rank_in_type", "eligible", "awards")
"""Unit fields compared; `awards` is the unit's award codes from the roster, sorted and comma-joined."""


def _column(name: str, dtype: pl.DataType | type[pl.DataType], description: str, nullable: bool = False) -> Column:
    return Column(name, dtype, True, nullable, description)


RELEASE_DIFF = TableSpec("release_diff", (
    _column("subject", pl.String, "unit, region (a body: its roll-up, rank within category and awards), or "
            "compliance (a row of compliance_scores: the Ombudsman's verdict on a body or unit)"),
    _column("region_code", pl.String, "Owning region (the region itself for region rows)"),
    _column("unit_id", pl.String, "Unit (null for region rows)", nullable=True),
    _column("unit_name", pl.String, "Unit or region name (from the newer release when in both)"),
    _column("unit_type", pl.String, "Unit type (null for region rows)", nullable=True),
    _column("change", pl.String, "added (only in the new release), removed (only in the old) or changed"),
    _column("ipp_before", pl.Float64, "Published IPP in the previous release", nullable=True),
    _column("ipp_after", pl.Float64, "Published IPP in this release", nullable=True),
    _column("predicate_before", pl.String, "Predicate in the previous release", nullable=True),
    _column("predicate_after", pl.String, "Predicate in this release", nullable=True),
    _column("rank_in_type_before", pl.Int64, "Rank within unit type in the previous release", nullable=True),
    _column("rank_in_type_after", pl.Int64, "Rank within unit type in this release", nullable=True),
    _column("category_before", pl.String, "Region rows: the category ranked in (kabupaten/kota where a release "
            "ranked them together)", nullable=True),
    _column("category_after", pl.String, "Region rows: the category ranked in now", nullable=True),
    _column("rank_before", pl.Int64, "Region rows: rank within the category in the previous release (compliance "
            "rows: the compliance rank within the level)", nullable=True),
    _column("rank_after", pl.Int64, "Region rows: rank within the category in this release (compliance rows: "
            "likewise)", nullable=True),
    _column("compliance_score_before", pl.Float64, "Compliance rows: the Ombudsman score in the previous release",
            nullable=True),
    _column("compliance_score_after", pl.Float64, "Compliance rows: the Ombudsman score in this release",
            nullable=True),
    _column("zone_before", pl.String, "Compliance rows: opinion category and zone before (e.g. 'B hijau')",
            nullable=True),
    _column("zone_after", pl.String, "Compliance rows: opinion category and zone now", nullable=True),
    _column("eligible_before", pl.Boolean, "Award eligibility in the previous release", nullable=True),
    _column("eligible_after", pl.Boolean, "Award eligibility in this release", nullable=True),
    _column("ineligible_reason_before", pl.String, "Why the unit was not eligible in the previous release, in "
            "English like the rest of the diff (null when eligible, or when that release did not record why)",
            nullable=True),
    _column("ineligible_reason_after", pl.String, "Why the unit is not eligible in this release (null when eligible)",
            nullable=True),
    _column("awards_before", pl.String, "Award codes of the unit in the previous release, comma-joined",
            nullable=True),
    _column("awards_after", pl.String, "Award codes of the unit in this release, comma-joined", nullable=True),
    _column("not_robust_before", pl.String, "Awards held but not robust (unit_robustness.awards_not_robust) in the "
            "previous release", nullable=True),
    _column("not_robust_after", pl.String, "Awards held but not robust in this release", nullable=True),
    _column("ipp_changed", pl.Boolean, "IPP differs (or the unit is only on one side)"),
    _column("predicate_changed", pl.Boolean, "Predicate differs"),
    _column("rank_changed", pl.Boolean, "Rank differs (units: within unit type; regions: rank or category)"),
    _column("eligibility_changed", pl.Boolean, "Award eligibility differs (units)"),
    _column("award_changed", pl.Boolean, "Set of awards differs"),
    _column("robustness_changed", pl.Boolean, "The awards marked not robust ('tidak kokoh') differ"),
    _column("compliance_changed", pl.Boolean, "Compliance rows: score, category, zone or rank differs"),
    _column("reason", pl.String, "What changed and why, in words: each changed field before -> after, and for "
            "eligibility the rule the unit now fails (or that it now meets every rule)"),
    _column("release_id", pl.String, "This release"),
    _column("previous_release_id", pl.String, "The release compared against"),
), version=4, description="Units whose published results changed between two releases of a cycle")


def unit_awards(roster: pl.LazyFrame) -> pl.LazyFrame:
    """Each awarded unit's award codes, sorted and comma-joined; units without an award are absent."""
    return (roster.filter(pl.col("subject") == "unit")
            .group_by(UNIT_KEY)
            .agg(awards=pl.col("award").unique().sort().str.join(",")))


OPTIONAL = {"eligible": pl.Boolean, "ineligible_reason": pl.String}
"""Unit fields an older release may lack (compared as null there)."""


def _not_robust(robustness: pl.LazyFrame | None) -> pl.LazyFrame:
    """Each unit's awards marked not robust (null when none, or when the release had no robustness table)."""
    if robustness is None:
        return pl.LazyFrame(schema={"region_code": pl.String, "unit_id": pl.String, "not_robust": pl.String})
    return robustness.select(*UNIT_KEY, not_robust=pl.col("awards_not_robust").cast(pl.String))


def _side(units: pl.LazyFrame, roster: pl.LazyFrame, side: str,
          robustness: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One release's compared fields per unit, suffixed `_before` or `_after`, with a presence flag."""
    names = units.collect_schema().names()
    if "ineligible_reason_en" in names:  # the diff speaks English: releases before unit_scores v3 held English here
        units = units.with_columns(ineligible_reason=pl.col("ineligible_reason_en"))
    fields = units.select(*UNIT_KEY, "unit_name", "unit_type", "ipp", "predicate",
                          pl.col("rank_in_type").cast(pl.Int64),
                          *(pl.col(c).cast(t) if c in names else pl.lit(None, dtype=t).alias(c)
                            for c, t in OPTIONAL.items()))
    named = (fields.join(unit_awards(roster), on=UNIT_KEY, how="left")
             .join(_not_robust(robustness), on=UNIT_KEY, how="left").with_columns(present=pl.lit(True)))
    return named.rename({c: f"{c}_{side}" for c in ("unit_name", "unit_type", "present", "ineligible_reason",
                                                    "not_robust", *COMPARED)})


def _differs(field: str) -> pl.Expr:
    return pl.col(f"{field}_before").ne_missing(pl.col(f"{field}_after"))


def _text(field: str, side: str) -> pl.Expr:
    value = pl.col(f"{field}_{side}")
    if field == "ipp":
        value = cents_text(published_cents(value))
    return value.cast(pl.String).fill_null("none")


def _moved(field: str, label: str) -> pl.Expr:
    return pl.when(_differs(field)).then(pl.format("{}: {} -> {}", pl.lit(label), _text(field, "before"),
                                                   _text(field, "after")))


def _eligibility_words() -> pl.Expr:
    """Why eligibility moved: the rule now failed, or that every rule is now met (with what failed before)."""
    lost = pl.col("eligible_before").fill_null(False) & ~pl.col("eligible_after").fill_null(True)
    gained = ~pl.col("eligible_before").fill_null(True) & pl.col("eligible_after").fill_null(False)
    before_why = pl.when(pl.col("ineligible_reason_before").is_not_null()).then(
        pl.format(" (was: {})", pl.col("ineligible_reason_before"))).otherwise(pl.lit(""))
    return (pl.when(lost).then(pl.format("eligibility: eligible -> not eligible: {}",
                                         pl.col("ineligible_reason_after").fill_null("no reason recorded")))
            .when(gained).then(pl.format("eligibility: not eligible -> eligible: meets every eligibility rule now{}",
                                         before_why)))


def _reason() -> pl.Expr:
    """Every change of the unit in words, `; `-joined."""
    rank_only = _differs("rank_in_type") & ~_differs("ipp")
    parts = [
        pl.when(pl.col("change") == ADDED).then(pl.lit("unit added: only in this release")),
        pl.when(pl.col("change") == REMOVED).then(pl.lit("unit removed: only in the previous release")),
        pl.when(pl.col("change") == CHANGED).then(pl.concat_str([
            _moved("ipp", "IPP"), _moved("predicate", "predicate"),
            pl.concat_str([_moved("rank_in_type", "rank in type"), pl.when(rank_only).then(
                pl.lit(" (IPP unchanged: other units of its type moved)")).otherwise(pl.lit(""))]),
            pl.when(pl.col("eligibility_changed")).then(_eligibility_words()),
            _moved("awards", "awards"),
            pl.when(pl.col("robustness_changed")).then(_moved("not_robust", "awards not robust (tidak kokoh)")),
        ], separator="; ", ignore_nulls=True)),
    ]
    return pl.coalesce(parts)


def _change() -> pl.Expr:
    return (pl.when(pl.col("present_before").is_null()).then(pl.lit(ADDED))
            .when(pl.col("present_after").is_null()).then(pl.lit(REMOVED))
            .otherwise(pl.lit(CHANGED)))


KAB_KOTA_TOGETHER = "kabupaten/kota"
"""The category of a kabupaten or kota in releases made before they were ranked apart."""


def _region_side(regions: pl.LazyFrame, roster: pl.LazyFrame, side: str) -> pl.LazyFrame:
    """One release's compared region fields, suffixed; a release without `category` ranked kab/kota together."""
    names = regions.collect_schema().names()
    category = (pl.col("category") if "category" in names else
                pl.when(pl.col("level") == "provinsi").then(pl.lit("provinsi")).otherwise(pl.lit(KAB_KOTA_TOGETHER)))
    awards = (roster.filter(pl.col("subject") == "region").group_by("region_code")
              .agg(awards=pl.col("award").unique().sort().str.join(",")))
    fields = regions.select("region_code", unit_name=pl.col("region_name").fill_null(pl.col("region_code")),
                            ipp=pl.col("ipp"), predicate=pl.col("predicate"), category=category.cast(pl.String),
                            rank=pl.col("rank").cast(pl.Int64))
    named = fields.join(awards, on="region_code", how="left").with_columns(present=pl.lit(True))
    return named.rename({c: f"{c}_{side}" for c in ("unit_name", "present", "ipp", "predicate", "category", "rank",
                                                    "awards")})


def region_changes(previous_regions: pl.LazyFrame, previous_roster: pl.LazyFrame, regions: pl.LazyFrame,
                   roster: pl.LazyFrame) -> pl.LazyFrame:
    """One row per region added, removed, or whose roll-up IPP, predicate, rank, category or awards changed."""
    flags = {"ipp_changed": _differs("ipp"), "predicate_changed": _differs("predicate"),
             "rank_changed": _differs("rank") | _differs("category"), "eligibility_changed": pl.lit(False),
             "award_changed": _differs("awards"), "robustness_changed": pl.lit(False)}
    moved_rank = pl.when(flags["rank_changed"]).then(pl.format(
        "rank: {} among {} -> {} among {}", _text("rank", "before"), _text("category", "before"),
        _text("rank", "after"), _text("category", "after")))
    return (
        _region_side(previous_regions, previous_roster, "before")
        .join(_region_side(regions, roster, "after"), on="region_code", how="full", coalesce=True)
        .with_columns(change=_change(), subject=pl.lit("region"), unit_id=pl.lit(None, dtype=pl.String),
                      compliance_changed=pl.lit(False),
                      unit_type=pl.lit(None, dtype=pl.String),
                      unit_name=pl.coalesce("unit_name_after", "unit_name_before"), **flags)
        .filter((pl.col("change") != CHANGED) | pl.any_horizontal(*flags))
        .with_columns(reason=pl.coalesce(
            pl.when(pl.col("change") == ADDED).then(pl.lit("region added: only in this release")),
            pl.when(pl.col("change") == REMOVED).then(pl.lit("region removed: only in the previous release")),
            pl.concat_str([_moved("ipp", "IPP"), _moved("predicate", "predicate"), moved_rank,
                           _moved("awards", "awards")], separator="; ", ignore_nulls=True)))
    )


COMPLIANCE_KEY = ["region_code", "unit_id"]


def _compliance_side(scores: pl.LazyFrame, side: str) -> pl.LazyFrame:
    """One release's compared compliance fields, suffixed (the opinion and zone as one text: 'A hijau')."""
    verdict = pl.concat_str([pl.col("category"), pl.col("zone")], separator=" ", ignore_nulls=True)
    fields = scores.select(*COMPLIANCE_KEY, unit_name=pl.coalesce("unit_name", "region_name", "region_code"),
                           compliance_score=pl.col("score"), zone=verdict, rank=pl.col("rank").cast(pl.Int64),
                           present=pl.lit(True))
    return fields.rename({c: f"{c}_{side}" for c in ("unit_name", "compliance_score", "zone", "rank", "present")})


def compliance_changes(previous: pl.LazyFrame, current: pl.LazyFrame) -> pl.LazyFrame:
    """One row per compliance verdict (body or unit) added, removed, or whose score, opinion, zone or rank moved."""
    changed = _differs("compliance_score") | _differs("zone") | _differs("rank")
    label = pl.when(pl.col("unit_id").is_null()).then(pl.lit("compliance of the body")).otherwise(
        pl.lit("compliance of the unit"))
    score_text = {side: cents_text(published_cents(pl.col(f"compliance_score_{side}"))).fill_null("none")
                  for side in ("before", "after")}
    return (
        _compliance_side(previous, "before")
        .join(_compliance_side(current, "after"), on=COMPLIANCE_KEY, how="full", coalesce=True, nulls_equal=True)
        .with_columns(change=_change(), subject=pl.lit("compliance"), unit_type=pl.lit(None, dtype=pl.String),
                      unit_name=pl.coalesce("unit_name_after", "unit_name_before"), compliance_changed=changed,
                      **dict.fromkeys(("ipp_changed", "predicate_changed", "rank_changed", "eligibility_changed",
                                       "award_changed", "robustness_changed"), pl.lit(False)))
        .filter((pl.col("change") != CHANGED) | pl.col("compliance_changed"))
        .with_columns(compliance_changed=pl.lit(True), reason=pl.coalesce(
            pl.when(pl.col("change") == ADDED).then(pl.format("{} added: only in this release", label)),
            pl.when(pl.col("change") == REMOVED).then(pl.format("{} removed: only in the previous release", label)),
            pl.concat_str([
                pl.when(_differs("compliance_score")).then(pl.format("Ombudsman score: {} -> {}", score_text["before"],
                                                                     score_text["after"])),
                _moved("zone", "Ombudsman opinion"), _moved("rank", "compliance rank")],
                separator="; ", ignore_nulls=True)))
    )


def unit_changes(previous_units: pl.LazyFrame, previous_roster: pl.LazyFrame, units: pl.LazyFrame,
                 roster: pl.LazyFrame, *, release_id: str, previous_release_id: str,
                 previous_regions: pl.LazyFrame | None = None, regions: pl.LazyFrame | None = None,
                 previous_robustness: pl.LazyFrame | None = None,
                 robustness: pl.LazyFrame | None = None, previous_compliance: pl.LazyFrame | None = None,
                 compliance: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """One row per unit added, removed, or whose IPP, predicate, rank in type, eligibility, awards or awards
    marked not robust changed; with both releases' region_scores, also one row per region that changed
    (`subject` = region); with both releases' compliance_scores, one row per compliance verdict that changed
    (`subject` = compliance). Robustness is compared only when both releases have it."""
    compare_robustness = previous_robustness is not None and robustness is not None
    before = _side(previous_units, previous_roster, "before", previous_robustness if compare_robustness else None)
    after = _side(units, roster, "after", robustness if compare_robustness else None)
    flags = {"ipp_changed": _differs("ipp"), "predicate_changed": _differs("predicate"),
             "rank_changed": _differs("rank_in_type"), "eligibility_changed": _differs("eligible"),
             "award_changed": _differs("awards"),
             "robustness_changed": _differs("not_robust") if compare_robustness else pl.lit(False)}
    units_changed = (
        before.join(after, on=UNIT_KEY, how="full", coalesce=True)
        .with_columns(change=_change(), unit_name=pl.coalesce("unit_name_after", "unit_name_before"),
                      unit_type=pl.coalesce("unit_type_after", "unit_type_before"), **flags)
        .filter((pl.col("change") != CHANGED) | pl.any_horizontal(*flags))
        .with_columns(reason=_reason(), subject=pl.lit("unit"), compliance_changed=pl.lit(False))
    )
    parts = [units_changed]
    if previous_regions is not None and regions is not None:
        parts.append(region_changes(previous_regions, previous_roster, regions, roster))
    if previous_compliance is not None and compliance is not None:
        parts.append(compliance_changes(previous_compliance, compliance))
    return (
        pl.concat([p.select([pl.col(c).cast(d) if c in p.collect_schema().names() else pl.lit(None, dtype=d).alias(c)
                             for c, d in RELEASE_DIFF.polars_schema.items()
                             if c not in ("release_id", "previous_release_id")]) for p in parts])
        .with_columns(release_id=pl.lit(release_id), previous_release_id=pl.lit(previous_release_id))
        .select(RELEASE_DIFF.names)
        .sort(["subject", *UNIT_KEY], descending=[True, False, False], nulls_last=True)
    )


def change_counts(diff: pl.DataFrame) -> dict[str, int]:
    """The manifest's summary: units added, removed, changed, and changed units per field; regions changed;
    compliance verdicts changed (added, removed or moved)."""
    changed = pl.col("change") == CHANGED
    regions = diff.filter(pl.col("subject") == "region")
    compliance = diff.filter(pl.col("subject") == "compliance").height
    diff = diff.filter(pl.col("subject") == "unit")
    counts = diff.select(
        added=(pl.col("change") == ADDED).sum(),
        removed=(pl.col("change") == REMOVED).sum(),
        changed=changed.sum(),
        ipp=(changed & pl.col("ipp_changed")).sum(),
        predicate=(changed & pl.col("predicate_changed")).sum(),
        rank_in_type=(changed & pl.col("rank_changed")).sum(),
        eligibility=(changed & pl.col("eligibility_changed")).sum(),
        award=(changed & pl.col("award_changed")).sum(),
        robustness=(changed & pl.col("robustness_changed")).sum(),
    )
    return {**{name: int(value or 0) for name, value in counts.row(0, named=True).items()},
            "regions_changed": regions.height, "region_rank": int(regions["rank_changed"].sum() or 0),
            "compliance_changed": compliance}
