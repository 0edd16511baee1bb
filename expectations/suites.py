"""The suites and Great Expectations: each table's suite loaded and checked, the GE context, and GE's calls.

great_expectations is imported lazily, on first use (the import costs ~10 s), so importing this module does not
import it. The context, data asset and suites are built once per process (`warm_up` builds them ahead); a
table is handed to GE as pandas with dtypes its pandas engine computes vectorised (`as_pandas`) and validated
part by part of its suite (`suite_parts`), one thread at a time. Results use the COMPLETE format so every failing
row's index comes back (GE caps only the value lists, at 200); value samples, counters and the index query
string are switched off. expectations/runner.py turns the results into issues.
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from transforms.methodology import Methodology
from transforms.schemas import FEED_TABLES, INPUT_TABLES, SEVERITY_CRITICAL, SEVERITY_ROW, TableSpec

if TYPE_CHECKING:
    import pandas as pd
    from great_expectations.core import ExpectationSuite
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_validation_result import ExpectationValidationResult

SUITE_DIR = Path(__file__).resolve().parent

RESULT_FORMAT: dict[str, Any] = {
    "result_format": "COMPLETE",  # every failing row's index, never a sample
    "partial_unexpected_count": 0,  # no samples nor value counters: values come back from Polars
    "exclude_unexpected_values": True,
    "return_unexpected_index_query": False,  # would be a string spelling out every failing index
}

_EQUALITY_ONLY = frozenset({"expect_column_values_to_not_be_null", "expect_compound_columns_to_be_unique"})
"""Rules that only ask whether a value is there and whether it repeats (see `as_pandas`)."""
_PANDAS_SAFE_DATES = (date(1700, 1, 1), date(2200, 12, 31))  # inside pandas' datetime64[ns] range
_GX_LOCK = threading.Lock()
"""GE keeps the batch being validated in a cache on the shared execution engine under a fixed id
(datasource-asset), so two threads validating at once would read each other's frames: one at a time."""


class SuiteError(RuntimeError):
    """A suite file disagrees with the code or the cycle's methodology: a developer must fix the suite."""


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
        key = (meta["rule"], tuple(columns_of(expectation.get("kwargs", {}))))
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
    checked = {c for e in suite["expectations"] for c in columns_of(e["kwargs"])}
    undeclared = sorted(c for c in checked - set(spec.names) if not c.startswith("_"))  # "_": bookkeeping
    if undeclared:
        raise SuiteError(f"expectations/{table}.json checks column(s) {undeclared} that the declared {table} "
                         f"table (with this cycle's survey elements) does not have: update the suite")
    unchecked = [c for c in spec.required_names if c not in checked]
    if unchecked:
        raise SuiteError(f"expectations/{table}.json has no row rule for required column(s) {unchecked}")


def columns_of(kwargs: dict[str, Any]) -> list[str]:
    """The columns an expectation looks at (none for table-level ones), bookkeeping columns included."""
    if "column" in kwargs:
        return [kwargs["column"]]
    if "column_A" in kwargs:
        return [kwargs["column_A"], kwargs["column_B"]]
    return list(kwargs.get("column_list", []))


# ---------------------------------------------------------------- the GE context


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


def gx_context() -> _Gx:
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
        groups.setdefault(tuple(columns_of(expectation["kwargs"])), []).append(
            {**expectation, "id": _part_id(suite["name"], number)})
    base = {k: v for k, v in suite.items() if k not in ("expectations", "id", "name")}
    return [(columns, {**base, "name": f"{suite['name']}[{', '.join(columns) or 'table'}]",
                       "expectations": expectations})
            for columns, expectations in groups.items()]


def warm_up() -> None:
    """Import GE and build the context now (e.g. before timing, or at worker start)."""
    gx_context()


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


# ---------------------------------------------------------------- GE's calls and the frames it is given


def ge_validate(gx_objects: _Gx, data: pd.DataFrame, suite: ExpectationSuite,
                 ge_params: dict[str, Any]) -> Any:
    """One GE `batch.validate` call of `suite` over `data` (one thread at a time, see `_GX_LOCK`)."""
    with _GX_LOCK:
        ge_batch = gx_objects.batch_definition.get_batch(batch_parameters={"dataframe": data})
        return ge_batch.validate(suite, result_format=RESULT_FORMAT, expectation_parameters=ge_params)


def validate_parts(gx_objects: _Gx, data: pd.DataFrame, parts: list[tuple[tuple[str, ...], ExpectationSuite]],
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
        results.extend(ge_validate(gx_objects, frame, part, ge_params).results)
    position = {_part_id(suite["name"], n): n for n in range(len(suite["expectations"]))}
    return sorted(results, key=lambda r: position[str(r.expectation_config.id)])


def _pair_columns(suite: dict[str, Any]) -> list[tuple[str, str]]:
    """The column pairs the suite compares (GE compares them with ==)."""
    return [(e["kwargs"]["column_A"], e["kwargs"]["column_B"]) for e in suite["expectations"]
            if "column_A" in e["kwargs"]]


def as_pandas(frame: pl.DataFrame, suite: dict[str, Any]) -> pd.DataFrame:
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

    wanted = {c for e in suite["expectations"] for c in columns_of(e["kwargs"])}
    valued = {c for e in suite["expectations"] if e["type"] not in _EQUALITY_ONLY
              for c in columns_of(e["kwargs"])}
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


__all__ = ["SUITE_DIR", "SuiteError", "check_suite_matches", "load_suite", "suite_parameters", "suite_parts", "warm_up"]
