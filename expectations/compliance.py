"""Validate the Ombudsman's compliance feed: its GE suite (`compliance.json`) and the checks across columns.

A feed is validated like a region's bundle (typed frame from the reader, GE rules with row-level issues,
`Validation` out), with three differences that follow from what it is: the reference is every body code
(regions and K/L) rather than a bundle's own units; the runner also checks, in Polars, that each row has
the four dimensions or the final score and that a given score agrees with its dimensions under the cycle's
`[ombudsman]` weights (the issue names both values); and no bad-row share rejects it, since each row is a
separate body's verdict: bad rows are set aside, the good ones kept. A cycle without `[ombudsman]` cannot
score a feed, so its feed is rejected whole, saying so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import polars as pl

from expectations.checks import single_issue
from expectations.runner import BUNDLE, Validation, prepared_frame, table_issues
from expectations.suites import as_pandas, check_suite_matches, ge_validate, gx_context, load_suite, validate_parts
from transforms.compliance import has_dimensions, score_mismatch
from transforms.methodology import COMPLIANCE_DIMENSIONS, Methodology
from transforms.schemas import BAD, COMPLIANCE, ISSUE_SCHEMA, ROW, SEVERITY_CRITICAL, SEVERITY_ROW

TABLE = COMPLIANCE.name
UNIT_KEY = "_unit_key"
RULE_NO_METHOD = "no_ombudsman_method"
RULE_COLUMNS = "compliance_columns"
RULE_INCOMPLETE = "compliance_incomplete"
RULE_MISMATCH = "score_mismatch"


def feed_parameters(methodology: Methodology, body_codes: Sequence[str]) -> dict[str, Any]:
    """The suite's parameters: every known body code, and the cycle for messages."""
    return {"cycle": methodology.cycle, "body_codes": list(body_codes)}


def _critical(rule: str, message: str, column: str | None = None) -> pl.DataFrame:
    return single_issue(table=TABLE, row=None, column=column, value=None, rule=rule, severity=SEVERITY_CRITICAL,
                         message=message)


def _row_issues(frame: pl.DataFrame, mask: pl.Series, *, rule: str, column: str | None, value: pl.Expr,
                message: pl.Expr) -> pl.DataFrame:
    """Row issues for the rows of `frame` where `mask` holds."""
    return frame.filter(mask).select(
        pl.lit(TABLE).alias("table"), pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit(column, pl.String).alias("column"),
        value.cast(pl.String).alias("value"), pl.lit(rule).alias("rule"), pl.lit(SEVERITY_ROW).alias("severity"),
        message.alias("message"))


def _cross_column_issues(frame: pl.DataFrame, methodology: Methodology) -> tuple[pl.DataFrame, pl.Series]:
    """Rows with neither the four dimensions (combinable under the cycle's weights) nor a score, and rows
    whose given score disagrees with its dimensions; (issues, the rows to set aside)."""
    weights = methodology.ombudsman is not None and methodology.ombudsman.weights is not None
    usable = frame.select((has_dimensions() & pl.lit(weights)) | pl.col("score").is_not_null()).to_series()
    # a row the reader or a rule already faulted is reported there; this check looks at the rest
    incomplete = ~usable & ~frame.get_column(BAD)
    need = ("the four dimension scores (input, proses, output, pengaduan) or the final score" if weights else
            f"the final score (cycle {methodology.cycle}'s [ombudsman] has no dimension weights to combine them)")
    issues = [_row_issues(frame, incomplete, rule=RULE_INCOMPLETE, column=None,
                          value=pl.col("body_code"),
                          message=pl.concat_str([pl.lit("Row "), pl.col(ROW).cast(pl.String),
                                                 pl.lit(f" of compliance has not {need}; fill them in. The row is "
                                                        "not used.")]))]
    mismatch = score_mismatch(frame, methodology)
    flagged = mismatch.is_not_null() & ~frame.get_column(BAD)
    issues.append(_row_issues(frame.with_columns(mismatch.alias("_mismatch")), flagged, rule=RULE_MISMATCH,
                              column="score", value=pl.col("score").round(2),
                              message=pl.concat_str([pl.lit("Row "), pl.col(ROW).cast(pl.String), pl.lit(": "),
                                                     pl.col("_mismatch"), pl.lit(". Correct the score or the "
                                                                                 "dimensions; the row is not used.")])))
    return pl.concat(issues), incomplete | flagged


def validate_feed(tables: Mapping[str, pl.DataFrame], methodology: Methodology, body_codes: Sequence[str], *,
                  keep_results: bool = False) -> Validation:
    """Check one feed's typed `compliance` table; set bad rows aside; reject only what cannot be trusted whole."""
    if methodology.ombudsman is None:
        message = (f"cycle {methodology.cycle}'s methodology has no [ombudsman] section, so its compliance feed "
                   "cannot be scored; add the section (weights, opinions, disagreements) and run the cycle again")
        return Validation({}, _critical(RULE_NO_METHOD, message), True, message)
    absent = [c for c in COMPLIANCE.required_names if TABLE not in tables or c not in tables[TABLE].columns]
    if absent:  # the reader rejected the feed for it (missing_table, missing_column): reported there, once
        return Validation({}, pl.DataFrame(schema=ISSUE_SCHEMA), True,
                          f"the feed lacks its compliance table or column(s) {', '.join(absent)}")
    check_suite_matches(TABLE, COMPLIANCE)
    frame = prepared_frame(tables[TABLE], COMPLIANCE)
    issues: list[pl.DataFrame] = []
    # the reader gives every contract column (absent ones empty): a table whose dimension and score columns are
    # all empty holds no verdict at all, and is refused whole rather than as one row issue per row
    columns = (*COMPLIANCE_DIMENSIONS, "score")
    if frame.height and frame.select(pl.all_horizontal(pl.col(c).is_null().all() for c in columns)).item():
        message = ("The compliance table holds neither the four dimension scores (input, proses, output, pengaduan) "
                   "nor a final score in any row. Add those columns and their values and send the feed again.")
        issues.append(_critical(RULE_COLUMNS, message))
    suite = load_suite(TABLE)
    gx_objects = gx_context()
    params = feed_parameters(methodology, body_codes)
    bookkept = frame.with_columns(pl.lit(0, pl.Int32).alias(BUNDLE),
                                  pl.col("unit_id").fill_null("").alias(UNIT_KEY))
    data = as_pandas(bookkept, suite)
    ge_results: dict[str, Any] = {}
    if keep_results:
        outcome = ge_validate(gx_objects, data, gx_objects.suites[TABLE], params)
        results = list(outcome.results)
        ge_results[TABLE] = outcome
    else:
        results = validate_parts(gx_objects, data, gx_objects.parts[TABLE], params, suite)
    found, failures = table_issues(TABLE, bookkept, (0, bookkept.height), results, params)
    issues.append(found)
    failed = np.zeros(frame.height, dtype=bool)
    failed[failures.to_numpy()] = True
    faulted = frame.with_columns((pl.col(BAD) | pl.Series(failed)).alias(BAD))
    cross, cross_bad = _cross_column_issues(faulted, methodology)
    issues.append(cross)
    every = pl.concat([i.select(list(ISSUE_SCHEMA)) for i in issues if i.height], how="vertical") if any(
        i.height for i in issues) else pl.DataFrame(schema=ISSUE_SCHEMA)
    every = every.sort("row", "column", "rule", nulls_last=False, maintain_order=True)
    critical = every.filter(pl.col("severity") == SEVERITY_CRITICAL)
    if critical.height:
        reason = critical.item(0, "message")
        if critical.height > 1:
            reason = f"{reason} ({critical.height - 1} more problem(s) reject this feed; see the issue list.)"
        return Validation({}, every, True, reason, ge_results)
    kept = faulted.filter(~pl.col(BAD) & ~cross_bad).drop(BAD)
    return Validation({TABLE: kept}, every, False, None, ge_results)

