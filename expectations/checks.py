"""The project's own checks around the suites, in Polars, and the issue rows every check is reported in.

Completeness (`incomplete_unit`), survey sample size (`sample_too_small`) and the bad-row share
(`bad_row_share`) compare groups of rows across tables, or a table's bad rows, against the cycle's
methodology; units outside their body's lokus (`unit_type_lokus`) are set aside. Why these are not GE
expectations: see expectations/runner.py. Issue rows are built once per check (`issue_frame`, with
`message_expr` filling a message template vectorised), the same way for GE's results.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import polars as pl

from expectations.suites import SuiteError
from transforms.bodies import body_tier_of
from transforms.methodology import Methodology
from transforms.schemas import ISSUE_SCHEMA, ROW, SEVERITY_CRITICAL, SEVERITY_ROW, SEVERITY_WARNING
from transforms.skm_scores import required_sample

RULE_BAD_ROW_SHARE = "bad_row_share"
RULE_INCOMPLETE_UNIT = "incomplete_unit"
RULE_SAMPLE_TOO_SMALL = "sample_too_small"
RULE_UNIT_TYPE_LOKUS = "unit_type_lokus"
LOKUS_MESSAGE = ("Row {row} of units has unit_type '{value}', which is not in the lokus of cycle {cycle} for "
                 "{tier_label}: {lokus}. The unit is not scored this cycle (the rest of the bundle is used); "
                 "remove it, or correct its unit_type if it is wrong.")
TIER_LABELS = {"provinsi": "a province", "kabupaten_kota": "a kabupaten/kota", "kl": "a ministry or agency (K/L)"}

_MISSING_TEXT = "(empty)"
_LISTED_MISSING_INDICATORS = 5  # how many missing indicator codes a completeness warning spells out


# ---------------------------------------------------------------- issue rows


def _as_text(value: Any) -> str:
    """A suite parameter as a person reads it: lists comma-separated, day-precise datetimes as dates."""
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    if isinstance(value, datetime) and value.time() == datetime.min.time():
        return value.date().isoformat()
    return str(value)


def message_expr(template: str, *, table: str, column: str | None, params: dict[str, Any]) -> pl.Expr:
    """A message template as a Polars expression over an issue frame with `row` and `value` columns.

    `{row}` and `{value}` vary per failing row; `{table}`, `{column}` and suite parameters are fixed.
    Built once per expectation, so thousands of failing rows cost one vectorised string concat.
    """
    parts: list[pl.Expr] = []
    for literal, field, spec, conversion in string.Formatter().parse(template):
        if literal:
            parts.append(pl.lit(literal))
        if field is None:
            continue
        if spec or conversion:
            raise SuiteError(f"{table}: message placeholder {{{field}}} may not carry a format: {template!r}")
        if field == "row":
            parts.append(pl.col("row").cast(pl.String).fill_null("-"))
        elif field == "value":
            parts.append(pl.col("value").fill_null(_MISSING_TEXT))
        elif field == "table":
            parts.append(pl.lit(table))
        elif field == "column":
            parts.append(pl.lit(column or ""))
        elif field in params:
            parts.append(pl.lit(_as_text(params[field])))
        else:
            raise SuiteError(f"{table}: unknown placeholder {{{field}}} in message {template!r}")
    return pl.concat_str(parts) if parts else pl.lit("")


def issue_frame(rows: pl.DataFrame, *, table: str, column: str | None, rule: str, severity: str,
                 template: str, params: dict[str, Any]) -> pl.DataFrame:
    """Issue rows from a frame of `row` (Int64) and `value` (String), with the fixed fields filled in."""
    return rows.select(
        pl.lit(table).alias("table"),
        pl.col("row").cast(pl.Int64),
        pl.lit(column, pl.String).alias("column"),
        pl.col("value").cast(pl.String),
        pl.lit(rule).alias("rule"),
        pl.lit(severity).alias("severity"),
        message_expr(template, table=table, column=column, params=params).alias("message"),
    )


def single_issue(*, table: str, row: int | None, column: str | None, value: str | None, rule: str,
                  severity: str, message: str) -> pl.DataFrame:
    return pl.DataFrame([{"table": table, "row": row, "column": column, "value": value, "rule": rule,
                          "severity": severity, "message": message}], schema=ISSUE_SCHEMA)


# ---------------------------------------------------------------- aggregate checks (Polars)


def completeness_issues(units: pl.DataFrame, evaluations: pl.DataFrame | None,
                        methodology: Methodology, *, by: Sequence[str] = ()) -> pl.DataFrame:
    """Warn for each unit lacking a score (by any evaluator) for some indicator of the cycle.

    `by` names columns both frames carry that keep groups apart (`_bundle` when many bundles are
    checked at once); they lead the issue columns of the result.
    """
    by = list(by)
    codes = methodology.indicator_codes
    indicators = pl.DataFrame({"indicator_code": codes, "_position": range(len(codes))},
                              schema={"indicator_code": pl.String, "_position": pl.Int64})
    scored = (evaluations.lazy().filter(pl.col("score").is_not_null()).select(*by, "unit_id", "indicator_code")
              .unique() if evaluations is not None else
              pl.LazyFrame(schema={**{c: units.schema[c] for c in by}, "unit_id": pl.String,
                                   "indicator_code": pl.String}))
    missing = (
        units.lazy().filter(pl.col("unit_id").is_not_null()).select(*by, ROW, "unit_id")
        .join(indicators.lazy(), how="cross")
        .join(scored, on=[*by, "unit_id", "indicator_code"], how="anti")
        .sort(*by, ROW, "_position")
        .group_by(*by, ROW, "unit_id", maintain_order=True)
        .agg(n_missing=pl.len(), codes=pl.col("indicator_code"))
        .collect()
    )
    listed = pl.col("codes").list.head(_LISTED_MISSING_INDICATORS).list.join(", ")
    more = pl.when(pl.col("n_missing") > _LISTED_MISSING_INDICATORS).then(pl.lit(", ...")).otherwise(pl.lit(""))
    return missing.select(
        *by,
        pl.lit("units").alias("table"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit("unit_id").alias("column"),
        pl.col("unit_id").alias("value"),
        pl.lit(RULE_INCOMPLETE_UNIT).alias("rule"),
        pl.lit(SEVERITY_WARNING).alias("severity"),
        pl.concat_str(
            pl.lit("Unit "), pl.col("unit_id"), pl.lit(" has "), pl.col("n_missing").cast(pl.String),
            pl.lit(f" of {len(codes)} indicators of cycle {methodology.cycle} without any score ("),
            listed, more,
            pl.lit("). It gets no IPP until every indicator is scored: add the missing scores to evaluations."),
        ).alias("message"),
    )


def sample_issues(units: pl.DataFrame, responses: pl.DataFrame | None, methodology: Methodology, *,
                  by: Sequence[str] = ()) -> pl.DataFrame:
    """Warn for each unit whose survey has fewer respondents than its population needs.

    Lookup takes the next larger N of the cycle's table; above its largest N the last sample applies;
    a population smaller than its sample needs everyone (the sample cannot exceed the population).
    Units without `annual_service_users` have nothing to check. `by`: as in `completeness_issues`.
    """
    by = list(by)
    counts = (responses.lazy().filter(pl.col("unit_id").is_not_null()).group_by(*by, "unit_id")
              .agg(n_respondents=pl.col("respondent_id").n_unique())
              if responses is not None else
              pl.LazyFrame(schema={**{c: units.schema[c] for c in by}, "unit_id": pl.String,
                                   "n_respondents": pl.UInt32}))
    population = pl.col("annual_service_users")
    short = (
        required_sample(units.lazy().filter(population.is_not_null() & pl.col("unit_id").is_not_null()),
                        methodology, key=[*by, ROW, "unit_id"])
        .join(counts, on=[*by, "unit_id"], how="left")
        .with_columns(
            required=pl.col("sample_required"),
            n_respondents=pl.col("n_respondents").fill_null(0).cast(pl.Int64),
        )
        .filter(pl.col("n_respondents") < pl.col("required"))
        .sort(*by, ROW)
        .collect()
    )
    return short.select(
        *by,
        pl.lit("units").alias("table"),
        pl.col(ROW).cast(pl.Int64).alias("row"),
        pl.lit("annual_service_users").alias("column"),
        population.cast(pl.String).alias("value"),
        pl.lit(RULE_SAMPLE_TOO_SMALL).alias("rule"),
        pl.lit(SEVERITY_WARNING).alias("severity"),
        pl.concat_str(
            pl.lit("Unit "), pl.col("unit_id"), pl.lit(" has "), pl.col("n_respondents").cast(pl.String),
            pl.lit(" survey respondents; with "), population.cast(pl.String),
            pl.lit(" yearly service users the survey needs at least "), pl.col("required").cast(pl.String),
            pl.lit(" (Krejcie-Morgan). Collect "),
            (pl.col("required") - pl.col("n_respondents")).cast(pl.String),
            pl.lit(" more responses before the survey window closes."),
        ).alias("message"),
    )


def share_issue(table: str, n_bad: int, n_rows: int, methodology: Methodology) -> pl.DataFrame:
    limit = methodology.limits.max_bad_row_share
    return single_issue(
        table=table, row=None, column=None, value=f"{n_bad}/{n_rows}", rule=RULE_BAD_ROW_SHARE,
        severity=SEVERITY_CRITICAL,
        message=(f"{n_bad} of {n_rows} rows of {table} ({n_bad / n_rows * 100:.1f}%) have problems, more than "
                 f"cycle {methodology.cycle}'s limit of {limit * 100:.4g}%. Correct the rows listed in the "
                 f"issues and send the bundle again."),
    )


# ---------------------------------------------------------------- the lokus


def outside_lokus(units: pl.DataFrame, methodology: Methodology, body_code: str) -> pl.Series | None:
    """Units rows whose type is a unit type of the cycle but not of the lokus of the body's tier.

    None when nothing is outside (or the cycle has no [lokus], or the table has no unit_type column).
    A type that is no unit type of the cycle at all is `unit_type_allowed`'s, reported once there.
    """
    lokus = methodology.lokus_of(body_tier_of(body_code))
    if lokus is None or "unit_type" not in units.columns:
        return None
    unit_type = units.get_column("unit_type")
    outside = (unit_type.is_in(list(methodology.unit_types)) & ~unit_type.is_in(list(lokus))).fill_null(False)
    return outside.alias("outside_lokus") if outside.any() else None


def lokus_issues(units: pl.DataFrame, outside: pl.Series, methodology: Methodology,
                 params: dict[str, Any]) -> pl.DataFrame:
    """One `unit_type_lokus` row issue per unit outside its body's lokus, naming the lokus."""
    tier = body_tier_of(str(params.get("region_code", "")))
    lokus_params = {**params, "lokus": list(methodology.lokus_of(tier) or ()), "tier_label": TIER_LABELS[tier]}
    rows = units.filter(outside).select(pl.col(ROW).cast(pl.Int64).alias("row"),
                                        pl.col("unit_type").cast(pl.String).alias("value"))
    return issue_frame(rows, table="units", column="unit_type", rule=RULE_UNIT_TYPE_LOKUS, severity=SEVERITY_ROW,
                        template=LOKUS_MESSAGE, params=lokus_params)


__all__ = [
    "LOKUS_MESSAGE", "RULE_BAD_ROW_SHARE", "RULE_INCOMPLETE_UNIT", "RULE_SAMPLE_TOO_SMALL", "RULE_UNIT_TYPE_LOKUS",
    "completeness_issues", "lokus_issues", "message_expr", "outside_lokus", "sample_issues",
]
