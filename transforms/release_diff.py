"""What a new release of a cycle changed for units: IPP, predicate, rank in type, awards; units added or removed.

Pure Polars: the unit_scores and award_roster of two releases in, one row per unit that differs out.
A re-run with unchanged inputs gives an empty frame.
"""

from __future__ import annotations

import polars as pl

from transforms.schemas import Column, TableSpec
from transforms.unit_scores import UNIT_KEY

ADDED, REMOVED, CHANGED = "added", "removed", "changed"
COMPARED = ("ipp", "predicate", "rank_in_type", "awards")
"""Unit fields compared; `awards` is the unit's award codes from the roster, sorted and comma-joined."""


def _column(name: str, dtype: pl.DataType | type[pl.DataType], description: str, nullable: bool = False) -> Column:
    return Column(name, dtype, True, nullable, description)


RELEASE_DIFF = TableSpec("release_diff", (
    _column("region_code", pl.String, "Owning region"),
    _column("unit_id", pl.String, "Unit"),
    _column("unit_name", pl.String, "Unit name (from the newer release when the unit is in both)"),
    _column("unit_type", pl.String, "Unit type"),
    _column("change", pl.String, "added (only in the new release), removed (only in the old) or changed"),
    _column("ipp_before", pl.Float64, "Published IPP in the previous release", nullable=True),
    _column("ipp_after", pl.Float64, "Published IPP in this release", nullable=True),
    _column("predicate_before", pl.String, "Predicate in the previous release", nullable=True),
    _column("predicate_after", pl.String, "Predicate in this release", nullable=True),
    _column("rank_in_type_before", pl.Int64, "Rank within unit type in the previous release", nullable=True),
    _column("rank_in_type_after", pl.Int64, "Rank within unit type in this release", nullable=True),
    _column("awards_before", pl.String, "Award codes of the unit in the previous release, comma-joined",
            nullable=True),
    _column("awards_after", pl.String, "Award codes of the unit in this release, comma-joined", nullable=True),
    _column("ipp_changed", pl.Boolean, "IPP differs (or the unit is only on one side)"),
    _column("predicate_changed", pl.Boolean, "Predicate differs"),
    _column("rank_changed", pl.Boolean, "Rank within unit type differs"),
    _column("award_changed", pl.Boolean, "Set of awards differs"),
    _column("release_id", pl.String, "This release"),
    _column("previous_release_id", pl.String, "The release compared against"),
), description="Units whose published results changed between two releases of a cycle")


def unit_awards(roster: pl.LazyFrame) -> pl.LazyFrame:
    """Each awarded unit's award codes, sorted and comma-joined; units without an award are absent."""
    return (roster.filter(pl.col("subject") == "unit")
            .group_by(UNIT_KEY)
            .agg(awards=pl.col("award").unique().sort().str.join(",")))


def _side(units: pl.LazyFrame, roster: pl.LazyFrame, side: str) -> pl.LazyFrame:
    """One release's compared fields per unit, suffixed `_before` or `_after`, with a presence flag."""
    fields = units.select(*UNIT_KEY, "unit_name", "unit_type", "ipp", "predicate",
                          pl.col("rank_in_type").cast(pl.Int64))
    named = fields.join(unit_awards(roster), on=UNIT_KEY, how="left").with_columns(present=pl.lit(True))
    return named.rename({c: f"{c}_{side}" for c in ("unit_name", "unit_type", "present", *COMPARED)})


def _differs(field: str) -> pl.Expr:
    return pl.col(f"{field}_before").ne_missing(pl.col(f"{field}_after"))


def _change() -> pl.Expr:
    return (pl.when(pl.col("present_before").is_null()).then(pl.lit(ADDED))
            .when(pl.col("present_after").is_null()).then(pl.lit(REMOVED))
            .otherwise(pl.lit(CHANGED)))


def unit_changes(previous_units: pl.LazyFrame, previous_roster: pl.LazyFrame, units: pl.LazyFrame,
                 roster: pl.LazyFrame, *, release_id: str, previous_release_id: str) -> pl.LazyFrame:
    """One row per unit added, removed, or whose IPP, predicate, rank in type or awards changed."""
    before = _side(previous_units, previous_roster, "before")
    after = _side(units, roster, "after")
    flags = {"ipp_changed": _differs("ipp"), "predicate_changed": _differs("predicate"),
             "rank_changed": _differs("rank_in_type"), "award_changed": _differs("awards")}
    return (
        before.join(after, on=UNIT_KEY, how="full", coalesce=True)
        .with_columns(change=_change(), unit_name=pl.coalesce("unit_name_after", "unit_name_before"),
                      unit_type=pl.coalesce("unit_type_after", "unit_type_before"), **flags)
        .filter((pl.col("change") != CHANGED) | pl.any_horizontal(*flags))
        .with_columns(release_id=pl.lit(release_id), previous_release_id=pl.lit(previous_release_id))
        .select(RELEASE_DIFF.names)
        .sort(UNIT_KEY)
    )


def change_counts(diff: pl.DataFrame) -> dict[str, int]:
    """The manifest's summary: units added, removed, changed, and changed units per field."""
    changed = pl.col("change") == CHANGED
    counts = diff.select(
        added=(pl.col("change") == ADDED).sum(),
        removed=(pl.col("change") == REMOVED).sum(),
        changed=changed.sum(),
        ipp=(changed & pl.col("ipp_changed")).sum(),
        predicate=(changed & pl.col("predicate_changed")).sum(),
        rank_in_type=(changed & pl.col("rank_changed")).sum(),
        award=(changed & pl.col("award_changed")).sum(),
    )
    return {name: int(value or 0) for name, value in counts.row(0, named=True).items()}
