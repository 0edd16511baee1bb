"""Validate bundles' typed tables with the Great Expectations suites and turn the results into issues.

Input: per bundle, its region and the reader's typed Polars frames (spec columns plus `_row`, the
source row as the region sees it, and `_bad`, true when the reader already failed to parse the row).
Output per bundle: a `Validation` with the clean frames, one issue row per problem (ISSUE_SCHEMA), and
whether the bundle is rejected. `validate_bundles` checks many bundles of a cycle together, one GE
call per table for all of them (`validate_tables` is the one-bundle case); bookkeeping columns keep
keys and references per bundle, so each verdict equals validating that bundle alone.

How the pieces split:

- Row and table rules live in the suite JSON files beside this module (one per input table, loaded and
  run through GE by expectations/suites.py), each expectation carrying `meta.severity` (`critical`
  rejects the bundle, `row` sets the row aside), `meta.rule` and `meta.message` (a template for the
  region officer). Cycle-dependent values are suite parameters filled from the cycle's `Methodology`,
  so each cycle is checked against its own lists.
- Aggregate checks are computed with Polars (expectations/checks.py), as `warning` issues that never
  reject: completeness (`incomplete_unit`: every indicator scored for every unit) and survey sample size
  (`sample_too_small`: respondents per unit against the Krejcie-Morgan table). They are not GE
  expectations because they compare groups of rows across tables (units x indicators, units x
  respondents) against methodology tables; GE's per-table batch model would need a pre-aggregated
  frame per check, and its results would point at no source row, while here each warning lands on
  the unit's row in `units`. The bad-row share (`bad_row_share`, critical) is likewise computed there:
  it needs the union of the reader's bad rows and every row-severity failure.

Row-level details: GE's uniqueness rules flag every occurrence of a duplicate (we cannot tell which
copy is right), so all copies are set aside; a `not_null` failure on a row the reader already set
aside is not reported again (the reader nulls what it cannot parse and reports it itself).

Performance: great_expectations is imported lazily (the import costs ~10 s); the context, data asset
and suites are built once per process (expectations/suites.py); each table of a batch of bundles is
stacked and converted to pandas once, with dtypes GE's pandas engine computes vectorised (see
`suites.as_pandas`), and validated with ONE `batch.validate` call (GE's fixed cost, ~0.1 s per call
and table, is paid per batch).
Results use the COMPLETE format so every failing row's index comes back (GE caps only the value
lists, at 200); value samples, counters and the index query string are switched off, and values are
read back from the Polars frame by position. About 2-3.5 s per million survey rows (`validate_speed`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from expectations.checks import (
    completeness_issues,
    issue_frame,
    lokus_issues,
    outside_lokus,
    sample_issues,
    share_issue,
)
from expectations.suites import (
    SuiteError,
    as_pandas,
    check_suite_matches,
    columns_of,
    ge_validate,
    gx_context,
    load_suite,
    suite_parameters,
    validate_parts,
)
from transforms.methodology import Methodology
from transforms.schemas import (
    BAD,
    INPUT_TABLES,
    ISSUE_COLUMNS,
    ISSUE_SCHEMA,
    ROW,
    SEVERITY_CRITICAL,
    SEVERITY_ROW,
    TableSpec,
    input_specs,
)

if TYPE_CHECKING:
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

_NOT_NULL = "expect_column_values_to_not_be_null"


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


# ---------------------------------------------------------------- GE's results as issues


def _reported(columns: list[str]) -> list[str]:
    """The columns a region officer is told about: the runner's bookkeeping columns (`_...`) left out."""
    return [c for c in columns if not c.startswith("_")]


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


def table_issues(table: str, frame: pl.DataFrame, span: tuple[int, int],
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
    missing = {c for result in results for c in columns_of(result.expectation_config.kwargs)} - set(frame.columns)
    keys = key_columns(results)

    frames: list[pl.DataFrame] = []
    row_failures: list[pl.Series] = []
    for result, indexes in zip(results, failing, strict=True):
        config = result.expectation_config
        meta, kwargs = config.meta, config.kwargs
        columns = columns_of(kwargs)
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
        frames.append(issue_frame(failing, column=", ".join(shown), **fixed))
        if meta["severity"] == SEVERITY_ROW:
            row_failures.append(positions)
    issues = pl.concat(frames) if frames else pl.DataFrame(schema=ISSUE_SCHEMA)
    failures = pl.concat(row_failures).unique() if row_failures else pl.Series("position", [], pl.Int64)
    return issues, failures


# ---------------------------------------------------------------- the entry point


def prepared_frame(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
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
    gx_objects = gx_context()
    ge_params = suite_parameters(methodology)
    n = len(bundles)
    issue_frames: list[list[pl.DataFrame]] = [[] for _ in range(n)]
    prepared: list[dict[str, pl.DataFrame]] = []
    for _region, tables in bundles:
        # a required table not given is the reader's missing_table (it rejects the bundle); the tables given
        # are validated all the same, so one upload learns every problem
        prepared.append({t: prepared_frame(tables[t], specs[t]) for t in INPUT_TABLES if t in tables})
    # the unit ids each bundle lists; None when it lists none (no units table, no unit_id column, or the
    # column blank throughout: the reader or not_null says so once, and unit_known then has nothing to judge)
    listed = [_listed_ids(frames.get("units")) for frames in prepared]

    clean: list[dict[str, pl.DataFrame]] = [{} for _ in range(n)]
    ge_results: list[dict[str, Any]] = [{} for _ in range(n)]
    for table in INPUT_TABLES:
        suite = load_suite(table)
        wanted = {c for e in suite["expectations"] for c in columns_of(e["kwargs"])}
        frames = {number: _bookkept(tables[table], table, number, bundles[number][0], listed[number])
                  for number, tables in enumerate(prepared) if table in tables}
        for batch in _batches(frames, wanted, alone=keep_results):
            order = [c for c in frames[batch[0]].columns if c in wanted]
            stacked = pl.concat([frames[number].select(order) for number in batch], rechunk=True)
            data = as_pandas(stacked, suite)
            del stacked
            if keep_results:
                outcome = ge_validate(gx_objects, data, gx_objects.suites[table], ge_params)
                results = list(outcome.results)
            else:
                results = validate_parts(gx_objects, data, gx_objects.parts[table], ge_params, suite)
            failing = _failing_indexes(results)
            start = 0
            for number in batch:
                frame = frames[number]
                if keep_results:
                    ge_results[number][table] = outcome
                params = suite_parameters(methodology, bundles[number][0])
                issues, failures = table_issues(table, frame, (start, frame.height), results, params, failing)
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
                    issue_frames[number].append(share_issue(table, n_bad, kept.height, methodology))
                clean[number][table] = kept.filter(~bad)
    return _verdicts(clean, issue_frames, _aggregate_issues(clean, methodology), methodology, ge_results)


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


__all__ = ["Validation", "validate_bundles", "validate_tables"]
