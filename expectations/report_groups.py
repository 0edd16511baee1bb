"""A bundle's validation issues grouped by check and counted per severity, for the officer's report (Polars).

A group is one check of one column: its count, the message of its first example (lowest source row),
up to `EXAMPLES_PER_GROUP` example rows and every affected row as compact ranges. Groups come in the
order an officer should fix them. Many bundles' issues are grouped and counted in one query each (a
chunk's reports): the per-query cost, not the rows, is what a bundle's report spends most on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from transforms.schemas import INPUT_TABLES, ISSUE_SCHEMA, SEVERITIES, SEVERITY_CRITICAL, SEVERITY_ROW, SEVERITY_WARNING

EXAMPLES_PER_GROUP = 5
ROW_RANGES_SHOWN = 40  # a group's affected rows are listed as ranges ("2-9, 14"); beyond this, "..."

BUNDLE_TABLE = "bundle"  # the reader's issues about the bundle as a whole (unreadable, unsafe zip, ...)


@dataclass(frozen=True)
class Example:
    row: int | None
    column: str | None
    value: str | None


@dataclass(frozen=True)
class IssueGroup:
    """The problems of one check on one table column: how many, how to fix them, where they are."""

    severity: str
    rule: str
    table: str
    column: str | None
    count: int
    message: str
    examples: tuple[Example, ...]  # empty for a table-level problem with no value (e.g. a missing column)
    rows: tuple[str, ...]  # every affected source row as ranges ("2", "5-9"), at most ROW_RANGES_SHOWN
    more_ranges: int  # ranges left out of `rows`


def _rank(column: str, order: tuple[str, ...]) -> pl.Expr:
    return pl.col(column).replace_strict({v: n for n, v in enumerate(order)}, default=len(order),
                                         return_dtype=pl.Int64)


_KEY = ["severity", "rule", "table", "_column_key"]
_BUNDLE = "_bundle"  # which bundle of a batch an issue belongs to (its position in the batch)
_GROUPED_COLUMNS = ("table", "row", "column", "value", "rule", "severity", "message")


def issue_groups(issues: pl.DataFrame) -> list[IssueGroup]:
    """The issues grouped by (severity, table, rule, column), in the order an officer should fix them.

    Severity first (critical, row, warning, then anything else), then the contract's table order
    (bundle-level problems first), then the group's first source row (table-level problems first).
    """
    return batch_issue_groups([issues])[0]


def stacked_issues(issue_frames: Sequence[pl.DataFrame]) -> pl.DataFrame:
    """Many bundles' issues stacked, each row tagged with its bundle's position: one query serves them all."""
    if not issue_frames:
        return pl.DataFrame(schema={**{c: ISSUE_SCHEMA[c] for c in _GROUPED_COLUMNS}, _BUNDLE: pl.Int64})
    return pl.concat([frame.lazy().select(_GROUPED_COLUMNS).with_columns(pl.lit(n, pl.Int64).alias(_BUNDLE))
                      for n, frame in enumerate(issue_frames)], how="vertical_relaxed").collect()


def batch_issue_groups(issue_frames: Sequence[pl.DataFrame]) -> list[list[IssueGroup]]:
    """`issue_groups` of each frame, computed in one Polars query over all of them (a chunk's bundles):
    the per-query cost, not the rows, is what a bundle's report spends most of its time on."""
    return stacked_groups(stacked_issues(issue_frames), len(issue_frames))


def stacked_groups(stacked: pl.DataFrame, n_bundles: int) -> list[list[IssueGroup]]:
    found: list[list[IssueGroup]] = [[] for _ in range(n_bundles)]
    if stacked.is_empty():
        return found
    key = [_BUNDLE, *_KEY]
    keyed = (stacked.with_row_index("_order")
             .with_columns(_column_key=pl.col("column").fill_null(""))
             .sort([*key, "row", "_order"], nulls_last=False))
    groups = (
        keyed.group_by(key, maintain_order=True)
        .agg(
            pl.col("column").first(),
            count=pl.len(),
            message=pl.col("message").first(),
            first_row=pl.col("row").first(),
            example_rows=pl.col("row").head(EXAMPLES_PER_GROUP),
            example_columns=pl.col("column").head(EXAMPLES_PER_GROUP),
            example_values=pl.col("value").head(EXAMPLES_PER_GROUP),
        )
        .join(_row_ranges(keyed, key), on=key, how="left")
        .with_columns(_severity_rank=_rank("severity", SEVERITIES),
                      _table_rank=_rank("table", (BUNDLE_TABLE, *INPUT_TABLES)))
        .sort(_BUNDLE, "_severity_rank", "_table_rank", "first_row", "rule", "_column_key", nulls_last=False)
    )
    for g in groups.iter_rows(named=True):
        found[g[_BUNDLE]].append(IssueGroup(
            severity=g["severity"], rule=g["rule"], table=g["table"], column=g["column"], count=g["count"],
            message=g["message"] or "",
            examples=tuple(Example(r, c, v) for r, c, v in
                           zip(g["example_rows"], g["example_columns"], g["example_values"], strict=True)
                           if r is not None or v is not None),
            rows=tuple(g["ranges"] or ()), more_ranges=max(0, (g["n_ranges"] or 0) - ROW_RANGES_SHOWN),
        ))
    return found


def _row_ranges(keyed: pl.DataFrame, key: list[str]) -> pl.DataFrame:
    """Per group, its distinct source rows as runs of consecutive numbers ("2-9"), first ones only."""
    runs = (
        keyed.filter(pl.col("row").is_not_null()).select(*key, "row").unique().sort(*key, "row")
        .with_columns(_run=(pl.col("row").diff().over(key).fill_null(0) != 1).cum_sum().over(key))
        .group_by(*key, "_run").agg(start=pl.col("row").min(), end=pl.col("row").max())
        .sort(*key, "start")
        .with_columns(text=pl.when(pl.col("start") == pl.col("end")).then(pl.col("start").cast(pl.String))
                      .otherwise(pl.format("{}-{}", "start", "end")))
    )
    return runs.group_by(key, maintain_order=True).agg(ranges=pl.col("text").head(ROW_RANGES_SHOWN),
                                                       n_ranges=pl.len())


@dataclass(frozen=True)
class Counts:
    critical: int
    row: int
    warning: int
    rows_set_aside: int  # distinct source rows with a row-severity problem


def _count_columns() -> dict[str, pl.Expr]:
    severity = pl.col("severity")
    row_level = (severity == SEVERITY_ROW) & pl.col("row").is_not_null()
    return {"critical": (severity == SEVERITY_CRITICAL).sum(), "row": (severity == SEVERITY_ROW).sum(),
            "warning": (severity == SEVERITY_WARNING).sum(),
            "rows_set_aside": pl.struct("table", "row").filter(row_level).n_unique()}


def issue_counts(issues: pl.DataFrame) -> Counts:
    """Issues per severity and the distinct source rows set aside, in one query."""
    counts = issues.select(**_count_columns()).row(0, named=True)
    return Counts(**{k: int(v or 0) for k, v in counts.items()})


def batch_issue_counts(issue_frames: Sequence[pl.DataFrame]) -> list[Counts]:
    """`issue_counts` of each frame, in one query over all of them."""
    return stacked_counts(stacked_issues(issue_frames), len(issue_frames))


def stacked_counts(stacked: pl.DataFrame, n_bundles: int) -> list[Counts]:
    found = [Counts(0, 0, 0, 0) for _ in range(n_bundles)]
    for counts in stacked.group_by(_BUNDLE).agg(**_count_columns()).iter_rows(named=True):
        position = counts.pop(_BUNDLE)
        found[position] = Counts(**{k: int(v or 0) for k, v in counts.items()})
    return found


__all__ = [
    "BUNDLE_TABLE",
    "EXAMPLES_PER_GROUP",
    "ROW_RANGES_SHOWN",
    "Counts",
    "Example",
    "IssueGroup",
    "batch_issue_counts",
    "batch_issue_groups",
    "issue_counts",
    "issue_groups",
    "stacked_counts",
    "stacked_groups",
    "stacked_issues",
]
