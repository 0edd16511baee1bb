"""Validate bundles' typed tables with the Great Expectations suites and turn the results into issues.

Input: per bundle, its region and the reader's typed Polars frames (spec columns plus `_row`, the
source row as the region sees it, and `_bad`, true when the reader already failed to parse the row).
Output per bundle: a `Validation` with the clean frames, one issue row per problem (ISSUE_SCHEMA), and
whether the bundle is rejected. `validate_bundles` checks many bundles of a cycle together, one GE
call per table for all of them (`validate_tables` is the one-bundle case); bookkeeping columns keep
keys and references per bundle, so each verdict equals validating that bundle alone.

How the pieces split:

- Row and table rules live in the suite JSON files beside this module (one per input table), each
  expectation carrying `meta.severity` (`critical` rejects the bundle, `row` sets the row aside),
  `meta.rule` and `meta.message` (a template for the region officer). Cycle-dependent values are
  suite parameters filled from the cycle's `Methodology`, so each cycle is checked against its own lists.
- Aggregate checks are computed here with Polars, as `warning` issues that never reject: completeness
  (`incomplete_unit`: every indicator scored for every unit) and survey sample size
  (`sample_too_small`: respondents per unit against the Krejcie-Morgan table). They are not GE
  expectations because they compare groups of rows across tables (units x indicators, units x
  respondents) against methodology tables; GE's per-table batch model would need a pre-aggregated
  frame per check, and its results would point at no source row, while here each warning lands on
  the unit's row in `units`. The bad-row share (`bad_row_share`, critical) is likewise computed here:
  it needs the union of the reader's bad rows and every row-severity failure.

Row-level details: GE's uniqueness rules flag every occurrence of a duplicate (we cannot tell which
copy is right), so all copies are set aside; a `not_null` failure on a row the reader already set
aside is not reported again (the reader nulls what it cannot parse and reports it itself).

Performance: great_expectations is imported lazily (the import costs ~10 s); the context, data asset
and suites are built once per process; each table of a batch of bundles is stacked and converted to
pandas once, with dtypes GE's pandas engine computes vectorised (see `_to_pandas`), and validated with
ONE `batch.validate` call (GE's fixed cost, ~0.1 s per call and table, is paid per batch).
Results use the COMPLETE format so every failing row's index comes back (GE caps only the value
lists, at 200); value samples, counters and the index query string are switched off, and values are
read back from the Polars frame by position. About 2-3.5 s per million survey rows (`validate_speed`).
"""

from __future__ import annotations

import json
import string
import threading
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from transforms.bodies import body_tier_of
from transforms.methodology import Methodology
from transforms.schemas import (
    BAD,
    FEED_TABLES,
    INPUT_TABLES,
    ISSUE_COLUMNS,
    ISSUE_SCHEMA,
    ROW,
    SEVERITIES,
    SEVERITY_CRITICAL,
    SEVERITY_ROW,
    SEVERITY_WARNING,
    TableSpec,
    input_specs,
)
from transforms.skm_scores import required_sample

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

SUITE_DIR = Path(__file__).resolve().parent

RULE_BAD_ROW_SHARE = "bad_row_share"
RULE_INCOMPLETE_UNIT = "incomplete_unit"
RULE_SAMPLE_TOO_SMALL = "sample_too_small"
RULE_UNIT_TYPE_LOKUS = "unit_type_lokus"
LOKUS_MESSAGE = ("Row {row} of units has unit_type '{value}', which is not in the lokus of cycle {cycle} for "
                 "{tier_label}: {lokus}. The unit is not scored this cycle (the rest of the bundle is used); "
                 "remove it, or correct its unit_type if it is wrong.")
TIER_LABELS = {"provinsi": "a province", "kabupaten_kota": "a kabupaten/kota", "kl": "a ministry or agency (K/L)"}

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",  # every failing row's index, never a sample
    "partial_unexpected_count": 0,  # no samples nor value counters: values come back from Polars
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,  # would be a string spelling out every failing index
}

_NOT_NULL = "expect_column_values_to_not_be_null"
_EQUALITY_ONLY = frozenset({"expect_column_values_to_not_be_null", "expect_compound_columns_to_be_unique"})
"""Rules that only ask whether a value is there and whether it repeats (see `_to_pandas`)."""
_MISSING_TEXT = "(empty)"
_LISTED_MISSING_INDICATORS = 5  # how many missing indicator codes a completeness warning spells out
_PANDAS_SAFE_DATES = (date(1700, 1, 1), date(2200, 12, 31))  # inside pandas' datetime64[ns] range
_GX_LOCK = threading.Lock()
"""GE keeps the batch being validated in a cache on the shared execution engine under a fixed id
(datasource-asset), so two threads validating at once would read each other's frames: one at a time."""


class SuiteError(RuntimeError):
    """A suite file disagrees with the code or the cycle's methodology: a developer must fix the suite."""


@dataclass(frozen=True)
class Validation:
    """The outcome of validating one bundle.

    `clean` holds each table without its bad rows (reader's `_bad` rows and rows failing a row rule);
    `issues` has one row per problem in ISSUE_SCHEMA; `rejected` is true when any issue is critical,
    and `reason` is then one line naming what, where and what to do. `ge_results` holds GE's own
    ExpectationSuiteValidationResult per table, only when asked for (`keep_results=True`).
    """

    clean: dict[str, pl.DataFrame]
    issues: pl.DataFrame
    rejected: bool
    reason: str | None
    ge_results: dict[str, Any] = dataclass_field(default_factory=dict)


# ---------------------------------------------------------------- suites and the GE context


def load_suite(table: str) -> dict[str, Any]:
    """The suite of an input table as written in `expectations/<table>.json` (a plain mapping)."""
    path = SUITE_DIR / f"{table}.json"
    try:
        suite: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise SuiteError(f"{path}: cannot read the suite ({err})") from err
    seen: set[tuple[str, tuple[str, ...]]] = set()
    for n, expectation in enumerate(suite.get("expectations", [])):
        meta = expectation.get("meta", {})
        if meta.get("severity") not in (SEVERITY_CRITICAL, SEVERITY_ROW) or not meta.get("rule") \
                or not meta.get("message"):
            raise SuiteError(f"{path}: expectation {n} ({expectation.get('type')}) needs meta severity "
                             f"(critical or row), rule and message")
        key = (meta["rule"], tuple(_columns_of(expectation.get("kwargs", {}))))
        if key in seen:  # results are matched back to the suite by rule and columns
            raise SuiteError(f"{path}: two expectations with rule {key[0]!r} on columns {list(key[1])}")
        seen.add(key)
    return suite


def check_suite_matches(table: str, spec: TableSpec) -> None:
    """Refuse to validate with a suite whose columns drift from the declared spec.

    The suite may look only at declared columns, and every required column needs a row rule. The
    survey's element columns come from the cycle's methodology; a cycle with another element list
    needs its suite updated, which must fail loudly rather than leave elements unchecked. (Whether a
    table and its required columns are there at all is the reader's check: missing_table, missing_column.)
    """
    suite = load_suite(table)
    checked = {c for e in suite["expectations"] for c in _columns_of(e["kwargs"])}
    undeclared = sorted(c for c in checked - set(spec.names) if not c.startswith("_"))  # "_": bookkeeping
    if undeclared:
        raise SuiteError(f"expectations/{table}.json checks column(s) {undeclared} that the declared {table} "
                         f"table (with this cycle's survey elements) does not have: update the suite")
    unchecked = [c for c in spec.required_names if c not in checked]
    if unchecked:
        raise SuiteError(f"expectations/{table}.json has no row rule for required column(s) {unchecked}")


@dataclass(frozen=True)
class _Gx:
    """The per-process GE objects: one ephemeral context, one pandas asset, the loaded suites.

    `suites` holds each table's suite whole (validated in one call when GE's own result object is kept,
    on request); `parts` the same suite split by the columns its expectations look at (see
    `suite_parts`), each part validated on a frame of only its columns.
    """

    batch_definition: BatchDefinition
    suites: dict[str, ExpectationSuite]
    parts: dict[str, list[tuple[tuple[str, ...], ExpectationSuite]]]


_GX_BUILD_LOCK = threading.Lock()


def _gx() -> _Gx:
    """The per-process GE objects, built on first use (one thread builds them, others wait)."""
    with _GX_BUILD_LOCK:
        return _build_gx()


@lru_cache(maxsize=1)
def _build_gx() -> _Gx:
    """Build the in-memory GE context once per process; nothing is written to disk."""
    import great_expectations as gx
    from great_expectations.core import ExpectationSuite
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )
    from great_expectations.execution_engine import pandas_execution_engine

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False),  # GE's tqdm bars would flood the logs
        analytics_enabled=False,
    )
    # GE md5-fingerprints every pandas batch under 1 GB into its batch markers (metadata only: batch
    # ids and GE's batch cache do not use it), twice per validate call, ~0.4 s per million rows each
    # time. A zero threshold skips it; GE reads the module global at call time.
    pandas_execution_engine.HASH_THRESHOLD = 0
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("pekppp").add_dataframe_asset("submission_table")
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_table")
    tables = (*INPUT_TABLES, *FEED_TABLES)
    suites = {table: ExpectationSuite(**load_suite(table)) for table in tables}
    parts = {table: [(columns, ExpectationSuite(**part)) for columns, part in suite_parts(load_suite(table))]
             for table in tables}
    return _Gx(batch_definition, suites, parts)


def _part_id(suite_name: str, number: int) -> str:
    """A stable expectation id (a UUID, as GE wants) naming the expectation's position in its suite."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"pekppp:{suite_name}:{number}"))


def suite_parts(suite: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The suite split into sub-suites by the columns their expectations look at, in suite order.

    Why: GE's pandas engine drops null rows of the whole batch frame before each column rule
    (`df[df[column].notnull()]`), copying every column of it once per rule and metric; on a frame of
    only the rule's own columns that copy is one column. Validating each part on its own columns gives
    the same per-expectation results ~4x faster on the survey table (table-level expectations, which
    look at no column, form the part validated on the whole frame). Each part keeps the suite's name
    with the columns appended, and its expectations unchanged (meta, ids, parameters).
    """
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for number, expectation in enumerate(suite["expectations"]):
        groups.setdefault(tuple(_columns_of(expectation["kwargs"])), []).append(
            {**expectation, "id": _part_id(suite["name"], number)})
    base = {k: v for k, v in suite.items() if k not in ("expectations", "id", "name")}
    return [(columns, {**base, "name": f"{suite['name']}[{', '.join(columns) or 'table'}]",
                       "expectations": expectations})
            for columns, expectations in groups.items()]


def warm_up() -> None:
    """Import GE and build the context now (e.g. before timing, or at worker start)."""
    _gx()


def suite_parameters(methodology: Methodology, region_code: str | None = None) -> dict[str, Any]:
    """The values the suites' `$PARAMETER`s and messages refer to: the cycle's, and the bundle's region.

    GE gets the cycle's values only (one call covers many bundles); `region_code` is for messages.
    """
    survey = methodology.survey
    params: dict[str, Any] = {
        "cycle": methodology.cycle,
        "unit_types": list(methodology.unit_types),
        "indicator_codes": methodology.indicator_codes,
        "score_min": methodology.score_min,
        "score_max": methodology.score_max,
        "answer_min": survey.answer_min,
        "answer_max": survey.answer_max,
        # datetimes, not dates: GE compares them with the datetime64[ns] column vectorised
        "window_start": datetime.combine(survey.window_start, datetime.min.time()),
        "window_end": datetime.combine(survey.window_end, datetime.min.time()),
    }
    if region_code is not None:
        params["region_code"] = region_code
    return params


# ---------------------------------------------------------------- issues


def _columns_of(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation looks at (none for table-level ones), bookkeeping columns included."""
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list", []))


def _reported(columns: list[str]) -> list[str]:
    """The columns a region officer is told about: the runner's bookkeeping columns (`_...`) left out."""
    return [c for c in columns if not c.startswith("_")]


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


def _issue_frame(rows: pl.DataFrame, *, table: str, column: str | None, rule: str, severity: str,
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


def _single_issue(*, table: str, row: int | None, column: str | None, value: str | None, rule: str,
                  severity: str, message: str) -> pl.DataFrame:
    return pl.DataFrame([{"table": table, "row": row, "column": column, "value": value, "rule": rule,
                          "severity": severity, "message": message}], schema=ISSUE_SCHEMA)


def key_columns(results: Sequence[ExpectationValidationResult]) -> set[str]:
    """The columns the suite requires filled in (a `not_null` rule): the keys other rules depend on."""
    return {result.expectation_config.kwargs["column"] for result in results
            if result.expectation_config.type == _NOT_NULL}


def _raised(result: ExpectationValidationResult) -> str | None:
    """GE's exception message when the expectation could not run (GE catches it per expectation)."""
    info = result.exception_info or {}
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for nested in info.values():  # keyed by metric id when a metric failed
        if isinstance(nested, dict) and nested.get("raised_exception"):
            return str(nested.get("exception_message"))
    return None


def _failing_indexes(results: list[ExpectationValidationResult]) -> list[np.ndarray]:
    """Per result, the batch positions GE reported failing, sorted (built once per batch, not per bundle;
    numpy, since each Polars Series call is a small query, and a batch has hundreds of bundles)."""
    return [np.sort(np.asarray(result.result.get("unexpected_index_list") or [], dtype=np.int64))
            for result in results]


def _table_issues(table: str, frame: pl.DataFrame, span: tuple[int, int],
                  results: list[ExpectationValidationResult], params: dict[str, Any],
                  failing: list[np.ndarray] | None = None) -> tuple[pl.DataFrame, pl.Series]:
    """One bundle's issue rows from GE's results over a batch, and the positions of its rows failing a row rule.

    `frame` is the bundle's table and `span` (start, height) where its rows sit in the validated batch:
    failing indexes inside the span are the bundle's, shifted to positions in `frame`. Table-level
    results hold for every bundle of the batch alike (batches only join tables of the same columns).
    `failing` is `_failing_indexes(results)` when the caller has it already.
    """
    if failing is None:
        failing = _failing_indexes(results)
    start, height = span
    # a required column the table lacks is the reader's missing_column (reported there, once): the row
    # rules on it cannot run and are left out here
    missing = {c for result in results for c in _columns_of(result.expectation_config.kwargs)} - set(frame.columns)
    keys = key_columns(results)

    frames: list[pl.DataFrame] = []
    row_failures: list[pl.Series] = []
    for result, indexes in zip(results, failing, strict=True):
        config = result.expectation_config
        meta, kwargs = config.meta, config.kwargs
        columns = _columns_of(kwargs)
        shown = _reported(columns)
        fixed = {"table": table, "rule": meta["rule"], "severity": meta["severity"],
                 "template": meta["message"], "params": params}
        error = _raised(result)
        if error is not None:
            if missing & set(columns):
                continue  # the missing column is reported once, by the reader (missing_column)
            raise SuiteError(f"{table}: {config.type} on {columns} could not run: {error}")
        first, end = np.searchsorted(indexes, [start, start + height])
        if first == end:
            continue
        positions = pl.Series("position", indexes[first:end] - start)
        if config.type == _NOT_NULL:
            # the reader nulls what it cannot parse and reports it; do not report that cell twice
            positions = positions.filter(~frame[BAD].gather(positions))
        elif blank := [c for c in columns if c in keys and c in frame.columns]:
            # one issue per cause: a row whose key is missing has its not_null issue (or the reader's
            # type issue), so a rule depending on that key (unique, ownership) skips it
            positions = positions.filter(~frame.select(pl.any_horizontal(pl.col(c).is_null() for c in blank))
                                         .to_series().gather(positions))
            if positions.is_empty():
                continue
        value = (pl.col(shown[0]).cast(pl.String) if len(shown) == 1 else
                 pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in shown], separator=" / "))
        failing = frame.select(pl.col(ROW).gather(positions).alias("row"),
                               value.gather(positions).alias("value"))
        frames.append(_issue_frame(failing, column=", ".join(shown), **fixed))
        if meta["severity"] == SEVERITY_ROW:
            row_failures.append(positions)
    issues = pl.concat(frames) if frames else pl.DataFrame(schema=ISSUE_SCHEMA)
    failures = pl.concat(row_failures).unique() if row_failures else pl.Series("position", [], pl.Int64)
    return issues, failures


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


def _share_issue(table: str, n_bad: int, n_rows: int, methodology: Methodology) -> pl.DataFrame:
    limit = methodology.limits.max_bad_row_share
    return _single_issue(
        table=table, row=None, column=None, value=f"{n_bad}/{n_rows}", rule=RULE_BAD_ROW_SHARE,
        severity=SEVERITY_CRITICAL,
        message=(f"{n_bad} of {n_rows} rows of {table} ({n_bad / n_rows * 100:.1f}%) have problems, more than "
                 f"cycle {methodology.cycle}'s limit of {limit * 100:.4g}%. Correct the rows listed in the "
                 f"issues and send the bundle again."),
    )


# ---------------------------------------------------------------- the entry point


def _prepared(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Spec dtypes (an all-empty column may come as Null), optional columns the region left out added as
    nulls (so rules over them run), and `_bad` defaulted to false."""
    if ROW not in frame.columns:
        raise ValueError(f"{spec.name}: the reader's frame has no {ROW} column")
    absent = [c for c in spec.columns if not c.required and c.name not in frame.columns]
    frame = frame.with_columns(
        *(pl.col(c.name).cast(c.dtype) for c in spec.columns if c.name in frame.columns),
        *(pl.lit(None, c.dtype).alias(c.name) for c in absent),
    )
    if BAD not in frame.columns:
        frame = frame.with_columns(pl.lit(False).alias(BAD))
    return frame.with_columns(pl.col(BAD).fill_null(False))


def _pair_columns(suite: dict[str, Any]) -> list[tuple[str, str]]:
    """The column pairs the suite compares (GE compares them with ==)."""
    return [(e["kwargs"]["column_A"], e["kwargs"]["column_B"]) for e in suite["expectations"]
            if "column_A" in e["kwargs"]]


def _to_pandas(frame: pl.DataFrame, suite: dict[str, Any]) -> pd.DataFrame:
    """The columns the suite looks at, as pandas with dtypes GE's pandas engine handles fast.

    - numbers become float64 (null -> NaN): GE's between-rule is vectorised only for numpy int64 and
      float64; on Int8/nullable/Arrow integers it calls a Python function per value (~1 s per column
      and million rows);
    - dates become datetime64[ns], for the same reason; dates beyond the ns range (typos like 3024)
      are clipped to a bound that is still outside any survey window, the issue's value text is read
      from the untouched Polars frame;
    - repeated codes (unit_id, unit_type, ...) become categoricals, so GE's isin, duplicated and its
      per-rule row filtering work on integer codes; near-unique text (respondent_id) stays pandas'
      Arrow-backed string; the two columns of a compared pair share one category list (pandas compares
      categoricals only then), so the comparison is one of integer codes too;
    - text only tested for presence and uniqueness (respondent_id, unit_name: `_EQUALITY_ONLY` rules)
      becomes its dense rank as float64 (null stays NaN): equal texts get equal numbers, so GE's null
      and duplicate checks give the same rows, and pandas hashes numbers ~5x faster than Arrow strings.
    The default RangeIndex is kept: GE reports failing rows by index, which is then a position in
    `frame`, mapped back to `_row` there.
    """
    import pandas as pd

    wanted = {c for e in suite["expectations"] for c in _columns_of(e["kwargs"])}
    valued = {c for e in suite["expectations"] if e["type"] not in _EQUALITY_ONLY
              for c in _columns_of(e["kwargs"])}
    shared: dict[str, pl.DataType] = {}
    for a, b in _pair_columns(suite):
        if a in frame.columns and b in frame.columns:
            categories = pl.concat([frame.get_column(a), frame.get_column(b)]).drop_nulls().unique().sort()
            shared[a] = shared[b] = pl.Enum(categories)
    columns: dict[str, pd.Series] = {}
    for name in (c for c in frame.columns if c in wanted):
        series = frame.get_column(name)
        if name in shared:
            series = series.cast(shared[name])
        elif series.dtype == pl.String and name not in valued:
            series = series.rank("dense").cast(pl.Float64)
        elif series.dtype == pl.String:
            if series.n_unique() * 2 < series.len():
                series = series.cast(pl.Categorical)
        elif series.dtype == pl.Date:
            series = series.clip(_PANDAS_SAFE_DATES[0], _PANDAS_SAFE_DATES[1]).cast(pl.Datetime("ns"))
        elif series.dtype.is_numeric():
            series = series.cast(pl.Float64)
        columns[name] = series.to_pandas()
    return pd.DataFrame(columns, copy=False)


def _order(issues: pl.DataFrame, first: Sequence[str] = ()) -> pl.DataFrame:
    """By table (contract order), then source row (table-level problems first), column and rule.

    `first` names columns to order by before those (the bundle, when many bundles' issues are ordered
    together); the sort is stable, so issues equal on every key keep their order.
    """
    rank = {t: n for n, t in enumerate(INPUT_TABLES)}
    return (issues.with_columns(_table_rank=pl.col("table").replace_strict(rank, default=len(rank),
                                                                            return_dtype=pl.Int64))
            .sort(*first, "_table_rank", "row", "column", "rule", nulls_last=False, maintain_order=True)
            .drop("_table_rank"))


BUNDLE, BUNDLE_REGION, LISTED_UNIT = "_bundle", "_bundle_region", "_listed_unit_id"


def _listed_ids(units: pl.DataFrame | None) -> pl.Series | None:
    """The unit ids a bundle's units table lists, or None when it lists none."""
    if units is None or "unit_id" not in units.columns:
        return None
    ids = units.get_column("unit_id").drop_nulls().unique()
    return ids if ids.len() else None


def _bookkept(frame: pl.DataFrame, table: str, number: int, region_code: str,
              listed_units: pl.Series | None) -> pl.DataFrame:
    """The table with the suites' bookkeeping columns: which bundle, its region, and the unit lookup.

    `_listed_unit_id` is the row's unit_id when the bundle's units table lists it; without a units
    table (or its unit_id column) nothing can be looked up, the lookup then passes (the bundle is
    rejected for the missing table or column, reported once, not once per row).
    """
    extra = [pl.lit(number, pl.Int32).alias(BUNDLE), pl.lit(region_code, pl.String).alias(BUNDLE_REGION)]
    if table != "units" and "unit_id" in frame.columns:
        unit_id = pl.col("unit_id")
        extra.append((unit_id if listed_units is None else
                      pl.when(unit_id.is_in(listed_units.implode())).then(unit_id)).alias(LISTED_UNIT))
    return frame.with_columns(extra)


def _batches(frames: dict[int, pl.DataFrame], wanted: set[str], *, alone: bool) -> list[list[int]]:
    """Bundles whose table can be validated in one GE call: same suite columns present, all empty or none.

    Then GE's table-level results (required columns, row count) mean the same for each bundle of the
    batch as for the bundle alone. `alone` puts every bundle in its own batch (when GE's results are kept).
    """
    batches: dict[Any, list[int]] = {}
    for number, frame in frames.items():
        key = number if alone else (tuple(c for c in frame.columns if c in wanted), frame.height == 0)
        batches.setdefault(key, []).append(number)
    return list(batches.values())


def validate_bundles(bundles: Sequence[tuple[str, Mapping[str, pl.DataFrame]]], methodology: Methodology, *,
                     keep_results: bool = False) -> list[Validation]:
    """Check many bundles of one cycle against the cycle's suites: one GE call per table and batch.

    `bundles` are (region_code, typed tables) pairs; the result is one Validation per bundle, in order,
    each exactly what validating that bundle alone gives. GE's fixed cost per call (~0.1 s per table,
    building its metric graph) is paid once per batch instead of once per bundle; the suites' keys and
    references are per bundle through bookkeeping columns (see `_bookkept`).
    Referential integrity is checked against every unit_id the units table lists (even units set
    aside for another reason), so a unit's own problem is reported once, on its own row.
    With `keep_results`, every bundle is validated alone and GE's result object of each table is kept
    on its Validation (`ge_results`, by table), for tests and tools that want GE's own view.
    """
    specs = input_specs(methodology.survey.element_codes)
    for table in INPUT_TABLES:
        check_suite_matches(table, specs[table])
    gx_objects = _gx()
    ge_params = suite_parameters(methodology)
    n = len(bundles)
    issue_frames: list[list[pl.DataFrame]] = [[] for _ in range(n)]
    prepared: list[dict[str, pl.DataFrame]] = []
    for _region, tables in bundles:
        # a required table not given is the reader's missing_table (it rejects the bundle); the tables given
        # are validated all the same, so one upload learns every problem
        prepared.append({t: _prepared(tables[t], specs[t]) for t in INPUT_TABLES if t in tables})
    # the unit ids each bundle lists; None when it lists none (no units table, no unit_id column, or the
    # column blank throughout: the reader or not_null says so once, and unit_known then has nothing to judge)
    listed = [_listed_ids(frames.get("units")) for frames in prepared]

    clean: list[dict[str, pl.DataFrame]] = [{} for _ in range(n)]
    ge_results: list[dict[str, Any]] = [{} for _ in range(n)]
    for table in INPUT_TABLES:
        suite = load_suite(table)
        wanted = {c for e in suite["expectations"] for c in _columns_of(e["kwargs"])}
        frames = {number: _bookkept(tables[table], table, number, bundles[number][0], listed[number])
                  for number, tables in enumerate(prepared) if table in tables}
        for batch in _batches(frames, wanted, alone=keep_results):
            order = [c for c in frames[batch[0]].columns if c in wanted]
            stacked = pl.concat([frames[number].select(order) for number in batch], rechunk=True)
            data = _to_pandas(stacked, suite)
            del stacked
            if keep_results:
                outcome = _ge_validate(gx_objects, data, gx_objects.suites[table], ge_params)
                results = list(outcome.results)
            else:
                results = _validate_parts(gx_objects, data, gx_objects.parts[table], ge_params, suite)
            failing = _failing_indexes(results)
            start = 0
            for number in batch:
                frame = frames[number]
                if keep_results:
                    ge_results[number][table] = outcome
                params = suite_parameters(methodology, bundles[number][0])
                issues, failures = _table_issues(table, frame, (start, frame.height), results, params, failing)
                start += frame.height
                if issues.height:
                    issue_frames[number].append(issues)
                kept = prepared[number][table]
                outside = outside_lokus(kept, methodology, bundles[number][0]) if table == "units" else None
                if outside is not None:
                    issue_frames[number].append(lokus_issues(kept, outside, methodology, params))
                    kept = kept.filter(~outside)  # set aside, not counted as bad rows: the bundle goes on
                    failures = _shifted(failures, outside)
                reader_bad = kept.get_column(BAD)
                if failures.is_empty() and not reader_bad.any():
                    clean[number][table] = kept  # the common case: nothing to set aside
                    continue
                failed = np.zeros(kept.height, dtype=bool)
                failed[failures.to_numpy()] = True
                bad = reader_bad | pl.Series(failed)
                n_bad = int(bad.sum())
                if kept.height and n_bad / kept.height > methodology.limits.max_bad_row_share:
                    issue_frames[number].append(_share_issue(table, n_bad, kept.height, methodology))
                clean[number][table] = kept.filter(~bad)
    return _verdicts(clean, issue_frames, _aggregate_issues(clean, methodology), methodology, ge_results)


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
    return _issue_frame(rows, table="units", column="unit_type", rule=RULE_UNIT_TYPE_LOKUS, severity=SEVERITY_ROW,
                        template=LOKUS_MESSAGE, params=lokus_params)


def _shifted(failures: pl.Series, removed: pl.Series) -> pl.Series:
    """Failing row positions in a table, as positions in the table without the `removed` rows."""
    if failures.is_empty():
        return failures
    kept_before = (~removed).cast(pl.Int64).cum_sum() - 1  # new position of each kept row
    keep = ~removed.gather(failures)
    return kept_before.gather(failures.filter(keep)).alias(failures.name)


def _columns_frame(frame: pl.DataFrame, columns: list[str]) -> pl.DataFrame:
    """Some columns of a frame without a query (a `select` per bundle costs a Polars query each)."""
    return pl.DataFrame([frame.get_column(c) for c in columns])


def _stacked(clean: list[dict[str, pl.DataFrame]], numbers: list[int], table: str,
             columns: list[str]) -> pl.DataFrame:
    """One table of several bundles under each other, with the bundle's number in `_bundle`."""
    frames = [_columns_frame(clean[k][table], columns) for k in numbers]
    stacked = pl.concat(frames, how="vertical") if frames else pl.DataFrame()
    return stacked.with_columns(pl.Series(BUNDLE, np.repeat(numbers, [f.height for f in frames]), pl.Int32))


def _aggregate_issues(clean: list[dict[str, pl.DataFrame]], methodology: Methodology) -> pl.DataFrame:
    """Completeness and sample warnings of every bundle at once (issue columns plus `_bundle`).

    They need the key columns; a bundle lacking a table or column is already rejected for it and gets
    no aggregate warnings, as before. A bundle without a survey has no respondents at all.
    """
    def has(frame: pl.DataFrame | None, columns: set[str]) -> bool:
        return frame is not None and columns <= set(frame.columns)

    found: list[pl.DataFrame] = []
    with_units = [k for k, tables in enumerate(clean) if has(tables.get("units"), {"unit_id"})]
    complete = [k for k in with_units if has(clean[k].get("evaluations"), {"unit_id", "indicator_code", "score"})]
    if complete:
        found.append(completeness_issues(
            _stacked(clean, complete, "units", [ROW, "unit_id"]),
            _stacked(clean, complete, "evaluations", ["unit_id", "indicator_code", "score"]),
            methodology, by=[BUNDLE]))
    sampled = [k for k in with_units if "skm_responses" not in clean[k]
               or has(clean[k]["skm_responses"], {"unit_id", "respondent_id"})]
    if sampled:
        surveyed = [k for k in sampled if "skm_responses" in clean[k]]
        found.append(sample_issues(
            _stacked(clean, sampled, "units", [ROW, "unit_id", "annual_service_users"]),
            _stacked(clean, surveyed, "skm_responses", ["unit_id", "respondent_id"]) if surveyed else None,
            methodology, by=[BUNDLE]))
    return (pl.concat([f.select(BUNDLE, *ISSUE_COLUMNS) for f in found]) if found
            else pl.DataFrame(schema={BUNDLE: pl.Int32, **ISSUE_SCHEMA}))


def _ge_validate(gx_objects: _Gx, data: pd.DataFrame, suite: ExpectationSuite,
                 ge_params: dict[str, Any]) -> Any:
    """One GE `batch.validate` call of `suite` over `data` (one thread at a time, see `_GX_LOCK`)."""
    with _GX_LOCK:
        ge_batch = gx_objects.batch_definition.get_batch(batch_parameters={"dataframe": data})
        return ge_batch.validate(suite, result_format=RESULT_FORMAT, expectation_parameters=ge_params)


def _validate_parts(gx_objects: _Gx, data: pd.DataFrame, parts: list[tuple[tuple[str, ...], ExpectationSuite]],
                    ge_params: dict[str, Any], suite: dict[str, Any]) -> list[ExpectationValidationResult]:
    """Every expectation's result, in suite order, each part validated on a frame of only its columns.

    A part whose column is missing from the batch is validated on the whole frame, so GE reports the
    missing column on each of its expectations exactly as when the suite runs whole.
    """
    import pandas as pd

    results: list[ExpectationValidationResult] = []
    for columns, part in parts:
        frame = (pd.DataFrame({c: data[c] for c in columns}, copy=False)
                 if columns and set(columns) <= set(data.columns) else data)
        results.extend(_ge_validate(gx_objects, frame, part, ge_params).results)
    position = {_part_id(suite["name"], n): n for n in range(len(suite["expectations"]))}
    return sorted(results, key=lambda r: position[str(r.expectation_config.id)])


def _verdicts(clean: list[dict[str, pl.DataFrame]], issue_frames: list[list[pl.DataFrame]],
              aggregates: pl.DataFrame, methodology: Methodology,
              ge_results: list[dict[str, Any]]) -> list[Validation]:
    """Every bundle's issues in order, and whether it is rejected (any critical issue), in a few queries.

    The issues of all bundles are ordered together, by bundle first, so each bundle's list is what
    ordering it alone gives (`_order`: a stable sort, and each bundle's issues keep their own order:
    row rules and table rules, then completeness, then sample warnings).
    """
    own = [f for frames in issue_frames for f in frames]
    numbers = np.repeat(np.arange(len(issue_frames)), [sum(f.height for f in frames) for frames in issue_frames])
    everything = pl.concat([
        (pl.concat(own, how="vertical") if own else pl.DataFrame(schema=ISSUE_SCHEMA))
        .with_columns(pl.Series(BUNDLE, numbers, pl.Int32)).select(BUNDLE, *ISSUE_COLUMNS),
        aggregates,
    ])
    ordered = _order(everything, first=[BUNDLE])
    by_bundle = ordered.partition_by(BUNDLE, as_dict=True, include_key=False, maintain_order=True)
    critical = (ordered.filter(pl.col("severity") == SEVERITY_CRITICAL)
                .group_by(BUNDLE, maintain_order=True).agg(pl.len().alias("n"), pl.first("message")))
    verdicts = {number: (n, message) for number, n, message in critical.iter_rows()}
    empty = pl.DataFrame(schema=ISSUE_SCHEMA)
    out: list[Validation] = []
    for number in range(len(issue_frames)):
        n_critical, reason = verdicts.get(number, (0, None))
        if n_critical > 1:
            reason = f"{reason} ({n_critical - 1} more problem(s) reject this bundle; see the issue list.)"
        out.append(Validation(clean=clean[number], issues=by_bundle.get((number,), empty), rejected=n_critical > 0,
                              reason=reason, ge_results=ge_results[number]))
    return out


def validate_tables(tables: Mapping[str, pl.DataFrame], methodology: Methodology, region_code: str, *,
                    keep_results: bool = False) -> Validation:
    """Check one bundle's typed tables against the cycle's suites; set bad rows aside; decide rejection."""
    return validate_bundles([(region_code, tables)], methodology, keep_results=keep_results)[0]


# ---------------------------------------------------------------- speed


__all__ = [
    "SEVERITIES", "SuiteError", "Validation", "completeness_issues", "load_suite",
    "sample_issues", "suite_parameters", "validate_tables", "warm_up",
]
