"""The contenders, each run in a child process by `run.py`: `python -m tests.benchmarks.contenders NAME ...`.

- `pekppp`: the pipeline's stages called directly (no Prefect), timed per stage;
- `nightly`: the real `nightly` flow on Prefect's local mode, then a second run with nothing new;
- `nightly-incremental`: a fresh process running `nightly` after one new bundle landed (as a cron job would);
- `limit`: bare Polars, lazy: read the same CSV files, unit IPP and IKM, one Parquet file;
- `pandas`: the same in plain pandas, as someone without this project would write it;
- `validate-speed`: `tests.benchmarks.ge_speed.validate_speed` on a survey table of the national size;
- `stage-limits`: each of `pekppp`'s stages done by bare Polars (and hashlib, shutil) on the same files.

Stage times come from wrapping the pipeline's own functions where they are looked up (module globals),
so no pipeline file is edited and the flow runs unchanged. Each child writes one JSON result.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Any

STARTED = time.perf_counter()
CYCLE = "2024"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb() -> float:
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * _PAGE / 2**20


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------- stopwatch over the pipeline's functions


class Stopwatch:
    """Per label: inclusive seconds summed over calls (threads add up), calls, first start and last end
    (the label's span on the wall clock), and the peak RSS seen while it was the innermost label."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.peak_mb: dict[str, float] = defaultdict(float)
        self.wrapped: list[str] = []
        self.missing: list[str] = []
        self._stack: list[str] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while not self._done.wait(0.1):
            with self._lock:
                label = self._stack[-1] if self._stack else "(outside stages)"
            self.peak_mb[label] = max(self.peak_mb[label], rss_mb())

    @contextmanager
    def timing(self, label: str) -> Iterator[None]:
        with self._lock:
            self._stack.append(label)
        started = time.perf_counter()
        try:
            yield
        finally:
            ended = time.perf_counter()
            with self._lock:
                self.seconds[label] += ended - started
                self.calls[label] += 1
                self.first[label] = min(self.first.get(label, started), started)
                self.last[label] = max(self.last.get(label, ended), ended)
                if label in self._stack:  # the innermost entry of this label (threads may interleave)
                    del self._stack[len(self._stack) - 1 - self._stack[::-1].index(label)]

    def wrap(self, owner: Any, attribute: str, label: str) -> bool:
        """Replace `owner.attribute` (a module global or a class attribute) by a timed wrapper.

        The pipeline changes while it is benchmarked: a name that is gone is listed in `missing`.
        """
        where = f"{getattr(owner, '__name__', owner)}.{attribute}"
        original = getattr(owner, attribute, None)
        if original is None:
            self.missing.append(where)
            return False
        if getattr(original, "__bench_label__", None):
            return True

        @wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.timing(label):
                return original(*args, **kwargs)

        timed.__bench_label__ = label  # type: ignore[attr-defined]
        setattr(owner, attribute, timed)
        self.wrapped.append(where)
        return True

    def reset(self) -> None:
        with self._lock:
            for table in (self.seconds, self.calls, self.first, self.last, self.peak_mb):
                table.clear()

    def stop(self) -> None:
        self._done.set()

    def snapshot(self) -> dict[str, Any]:
        spans = {k: self.last[k] - self.first[k] for k in self.first}
        return {"seconds": dict(self.seconds), "calls": dict(self.calls), "span": spans,
                "first": dict(self.first), "last": dict(self.last), "peak_mb": dict(self.peak_mb),
                "wrapped": list(self.wrapped), "missing": list(self.missing)}


# (module, attribute alternatives, label): the first attribute present is wrapped
_TIMED: list[tuple[str, tuple[str, ...], str]] = [
    ("flows.ingest", ("discover",), "discover.scan"), ("flows.nightly", ("discover",), "discover.scan"),
    ("flows.chunked_ingest", ("bundle_fingerprint",), "discover.hash"),
    ("flows.ingest", ("open_bundle",), "open"), ("flows.chunked_ingest", ("open_bundle",), "open"),
    ("flows.ingest", ("keep_checked",), "keep"), ("flows.chunked_ingest", ("keep_checked",), "keep"),
    ("flows.ingest", ("report_pages",), "keep.reports"), ("flows.chunked_ingest", ("report_pages",), "keep.reports"),
    ("flows.ingest", ("store_raw",), "read.keep_raw"),
    ("flows.ingest", ("read_bundle",), "read.bundle"),
    ("flows.readers", ("bundle_fingerprint",), "read.rehash"),
    ("flows.readers", ("read_raw",), "read.csv"),
    ("flows.readers", ("parse_table",), "read.parse"),
    ("expectations.runner", ("validate_bundles",), "validate"),
    ("expectations.suites", ("_build_gx",), "ge_import"),
    ("expectations.runner", ("as_pandas",), "validate.to_pandas"),
    ("expectations.suites", ("as_pandas",), "validate.to_pandas"),
    ("expectations.runner", ("table_issues",), "validate.issues"),
    ("expectations.runner", ("completeness_issues",), "validate.aggregates"),
    ("expectations.runner", ("sample_issues",), "validate.aggregates"),
    ("flows.ledger", ("Ledger.keep_rows",), "ledger.keep_rows"),
    ("flows.ledger", ("Ledger.record",), "ledger.record"),
    ("flows.publish", ("publish",), "publish"), ("flows.nightly", ("publish",), "publish"),
    ("flows.publish", ("release_tables",), "compute"),
    ("flows.publish", ("score_cycle",), "compute.score_cycle"),
    ("flows.ledger", ("Ledger.unit_totals",), "compute.totals"),
    ("flows.publish", ("release_robustness",), "compute.robustness"),
    ("flows.ledger", ("Ledger.issues",), "compute.issues"),
    ("flows.publish", ("arrow_table",), "publish.arrow"),
    ("flows.publish", ("table_content_hash", "content_hash"), "publish.hash"),
    ("flows.publish", ("stage", "write_parquet"), "publish.write"),
    ("flows.publish", ("release_diff",), "publish.diff"),
    ("flows.publish", ("manifest_record", "write_manifest"), "publish.manifest"),
    ("flows.publish", ("recover",), "publish.recover"),
    ("flows.publish", ("prune_stores",), "publish.prune"),
    ("flows.reports", ("report_command",), "reports"),
    ("flows.rosters", ("export_roster",), "reports.rosters"),
]


def instrument(watch: Stopwatch) -> None:
    """Time the pipeline's stages where the flow and the ingest code look them up (module globals)."""
    import importlib

    for module_name, alternatives, label in _TIMED:
        module = importlib.import_module(module_name)
        for attribute in alternatives:
            owner, name = module, attribute
            if "." in attribute:
                class_name, name = attribute.split(".")
                owner = getattr(module, class_name)
            if getattr(owner, name, None) is not None:
                watch.wrap(owner, name, label)
                break
        else:
            watch.missing.append(f"{module_name}.{'|'.join(alternatives)}")


def _span(snapshot: dict[str, Any], *labels: str) -> float:
    """Wall seconds from the first start to the last end of any of `labels`."""
    first = [snapshot["first"][k] for k in labels if k in snapshot["first"]]
    last = [snapshot["last"][k] for k in labels if k in snapshot["last"]]
    return max(last) - min(first) if first else 0.0


def stages(snapshot: dict[str, Any]) -> dict[str, float]:
    """Busy seconds per pipeline stage (summed over threads when bundles run in parallel)."""
    s = defaultdict(float, snapshot["seconds"])
    read = s["open"]
    ingest_glue = s["keep"] - s["ledger.keep_rows"] + s["keep.reports"]  # region reports (per chunk), entries
    return {
        "discover": s["discover.scan"] + s["discover.hash"],
        "read": read,
        "validate": s["validate"],
        "ledger": s["ledger.keep_rows"] + s["ledger.record"],
        "compute": s["compute"],
        "compute without robustness": s["compute"] - s["compute.robustness"],
        "publish": s["publish"] - s["compute"],
        "reports per bundle": max(ingest_glue, 0.0),
    }


def phases(snapshot: dict[str, Any]) -> dict[str, float]:
    """Wall seconds per phase of a run (bundles may be ingested in parallel inside `ingest`)."""
    return {
        "discover": _span(snapshot, "discover.scan", "discover.hash"),
        "ingest bundles (open, validate, keep)": _span(snapshot, "open", "validate", "keep"),
        "ledger record": _span(snapshot, "ledger.record"),
        "compute": _span(snapshot, "compute"),
        "publish": _span(snapshot, "publish") - _span(snapshot, "compute"),
        "cycle report, region cards, rosters": _span(snapshot, "reports", "reports.rosters"),
    }


def detail(snapshot: dict[str, Any]) -> dict[str, float]:
    s = defaultdict(float, snapshot["seconds"])
    publish_parts = ("publish.arrow", "publish.hash", "publish.write", "publish.diff", "publish.manifest",
                     "publish.recover", "publish.prune")
    return {
        "discover: list folders": s["discover.scan"],
        "discover: hash new bundles (sha256)": s["discover.hash"],
        "read: raw copy (store_raw)": s["read.keep_raw"],
        "read: hash again (read_bundle)": s["read.rehash"],
        "read: CSV to text frames": s["read.csv"],
        "read: parse_table": s["read.parse"],
        "read: other": s["read.bundle"] - s["read.rehash"] - s["read.csv"] - s["read.parse"],
        "open: late check, wrapping": s["open"] - s["read.keep_raw"] - s["read.bundle"],
        "validate: to pandas": s["validate.to_pandas"],
        "validate: results to issues": s["validate.issues"],
        "validate: completeness + sample (Polars)": s["validate.aggregates"],
        "validate: GE batch.validate and rest": s["validate"] - s["validate.to_pandas"] - s["validate.issues"]
        - s["validate.aggregates"],
        "ledger: accepted rows to Parquet": s["ledger.keep_rows"],
        "ledger: record": s["ledger.record"],
        "keep: region reports (HTML + Markdown)": s["keep.reports"],
        "compute: score_cycle": s["compute.score_cycle"],
        "compute: per-unit sums (kept, or new ones computed)": s["compute.totals"],
        "compute: issues table": s["compute.issues"],
        "compute: robustness (inputs kept or computed, draws)": s["compute.robustness"],
        "compute: other": s["compute"] - s["compute.score_cycle"] - s["compute.totals"] - s["compute.issues"]
        - s["compute.robustness"],
        "publish: to Arrow + schema checks": s["publish.arrow"],
        "publish: content hashes (CSV text)": s["publish.hash"],
        "publish: write Parquet (stage)": s["publish.write"],
        "publish: release diff": s["publish.diff"],
        "publish: manifest": s["publish.manifest"],
        "publish: recover + prune": s["publish.recover"] + s["publish.prune"],
        "publish: other": s["publish"] - s["compute"] - sum(s[k] for k in publish_parts),
    }


# ---------------------------------------------------------------- pekppp, stages called directly


def table_rows(warehouse: Path) -> dict[str, int]:
    """Rows per input table over the accepted rows the ledger kept (what was read and validated)."""
    import polars as pl

    rows = {}
    for table in ("units", "evaluations", "skm_responses"):
        files = sorted(warehouse.glob(f"_ledger/{CYCLE}/accepted/*/{table}.parquet"))
        rows[table] = int(pl.scan_parquet(files).select(pl.len()).collect().item()) if files else 0
    return rows


def run_pekppp(args: argparse.Namespace) -> dict[str, Any]:
    """discover → per chunk: open bundles, validate together, keep → record → publish, without Prefect."""
    imported = time.perf_counter()
    import expectations.suites as suites
    import flows.ingest as ingest
    import flows.publish as publish
    from flows.chunked_ingest import in_chunks, ingest_chunk_bytes, new_bundles
    from flows.ledger import Ledger
    from flows.settings import Places, load_methodology

    imports = time.perf_counter() - imported
    started = time.perf_counter()
    suites.warm_up()
    ge_context = time.perf_counter() - started

    watch = Stopwatch()
    instrument(watch)  # replaces the module attributes used below by timed ones
    places = Places(landing=args.landing, warehouse=args.warehouse)
    methodology = load_methodology(CYCLE)
    ledger = Ledger(places, CYCLE)
    started = time.perf_counter()
    work = new_bundles(ingest.discover(places.landing, CYCLE), ledger, methodology)
    entries = []
    for chunk in in_chunks(work, ingest_chunk_bytes()):  # as the flow does, one chunk after the other
        opened = [ingest.open_bundle(work[n][0], methodology, places, work[n][1]) for n in chunk]
        checked = ingest.validate_opened(opened, methodology)
        pages = ingest.report_pages(list(zip(opened, checked, strict=True)))
        entries += [ingest.keep_checked(o, c, places, ledger, p).entry
                    for o, c, p in zip(opened, checked, pages, strict=True)]
    ledger.record(entries)
    release = publish.publish(places, methodology)
    total = time.perf_counter() - started
    watch.stop()
    snap = watch.snapshot()
    rows = table_rows(places.warehouse)
    return {
        "imports_s": imports, "ge_context_s": ge_context, "pipeline_s": total,
        "stages": stages(snap), "phases": phases(snap), "detail": detail(snap), "raw": snap,
        "bundles": len(work), "accepted": sum(e.status == "accepted" for e in entries), "rows": rows,
        "validate_rows_per_s": sum(rows.values()) / snap["seconds"].get("validate", float("nan")),
        "release": release.release_id, "row_counts": release.row_counts,
        "unit_scores": str(places.warehouse / "unit_scores" / f"cycle={CYCLE}" / "*.parquet"),
        "peak_rss_mb": peak_rss_mb(),
    }


# ---------------------------------------------------------------- the real flow


def _prefect_env(home: Path) -> None:
    os.environ["PREFECT_HOME"] = str(home)
    from flows.settings import prefect_defaults

    prefect_defaults(home)


def _timed_nightly(watch: Stopwatch, places: Any) -> dict[str, Any]:
    from flows.nightly import nightly

    watch.reset()
    started = time.perf_counter()
    summaries = nightly(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))
    seconds = time.perf_counter() - started
    snap = watch.snapshot()
    walls = phases(snap)
    return {"flow_s": seconds, "phases": walls, "stages": stages(snap), "detail": detail(snap), "raw": snap,
            "orchestration_s": seconds - sum(walls.values()),
            "summary": {k: v for k, v in summaries[0].items() if k != "rejections"}}


def run_nightly(args: argparse.Namespace) -> dict[str, Any]:
    """The nightly flow on the whole cycle; again with nothing new; again after one new bundle.

    Prefect starts as `pekppp run` starts it (`flows.cli.local_prefect`): its local server is spawned
    first and this process imports the flows and GE while it starts; `server_start_s` is what is left
    to wait for the server after the imports (the part they do not hide).
    """
    _prefect_env(args.prefect_home)
    from prefect.settings import get_current_settings, temporary_settings

    from flows.cli import LocalServer, _drain_api_logs, local_run_settings

    server = LocalServer(get_current_settings())
    try:
        imported = time.perf_counter()
        import expectations.suites as suites
        import flows.nightly  # noqa: F401  (imports prefect)
        from flows.settings import Places
        from tests.benchmarks.data import add_bundle

        imports = time.perf_counter() - imported
        started = time.perf_counter()
        suites.warm_up()
        ge_context = time.perf_counter() - started
        started = time.perf_counter()
        server.wait_ready()
        server_s = time.perf_counter() - started
        with temporary_settings(updates=local_run_settings(server.api_url)):
            watch = Stopwatch()
            instrument(watch)
            places = Places(landing=args.landing, warehouse=args.warehouse)
            full = _timed_nightly(watch, places)
            peak_full = peak_rss_mb()
            unchanged = _timed_nightly(watch, places)
            warm = None
            if args.extra:
                add_bundle(args.extra, args.landing)
                warm = _timed_nightly(watch, places)
            watch.stop()
            _drain_api_logs()
    finally:
        stopping = time.perf_counter()
        server.stop()
        server_stop = time.perf_counter() - stopping
    rows = table_rows(places.warehouse)
    return {"imports_s": imports, "ge_context_s": ge_context, "server_start_s": server_s,
            "server_stop_s": server_stop, "full": full, "nothing_new": unchanged, "incremental_warm": warm,
            "rows": rows, "peak_rss_mb": peak_full,
            "validate_rows_per_s": sum(rows.values()) / full["raw"]["seconds"].get("validate", float("nan"))}


def run_nightly_incremental(args: argparse.Namespace) -> dict[str, Any]:
    """A new process (as cron starts one) running nightly after one new bundle landed in a full cycle.

    With `--server-url`, the flow reports to that running Prefect server; without, it starts its own
    exactly as `pekppp run` does (`flows.cli.local_prefect`: the server spawned first, the flows and
    GE imported while it starts).
    """
    _prefect_env(args.prefect_home)
    from flows.settings import Places

    places = Places(landing=args.landing, warehouse=args.warehouse)
    started = time.perf_counter()
    ready_s = imports = 0.0
    if args.server_url:
        os.environ["PREFECT_API_URL"] = args.server_url
        import flows.nightly  # noqa: F401

        imports = time.perf_counter() - started
        prefect: Any = contextlib.nullcontext()
    else:
        from flows.cli import local_prefect

        prefect = local_prefect()
    with prefect:
        if not args.server_url:
            ready_s = time.perf_counter() - started
        watch = Stopwatch()
        instrument(watch)
        run = _timed_nightly(watch, places)
        watch.stop()
        stopping = time.perf_counter()
    server_stop = time.perf_counter() - stopping
    ge_context = run["raw"]["seconds"].get("ge_import", 0.0)  # with a running server: inside the run
    return {"imports_s": imports, "server_ready_s": ready_s, "server_start_s": ready_s, "server_stop_s": server_stop,
            "ge_context_s": ge_context, "run": run, "peak_rss_mb": peak_rss_mb(),
            "process_s": time.perf_counter() - STARTED, "server_url": args.server_url}


# ---------------------------------------------------------------- the limit: bare Polars


def _weights() -> dict[str, int]:
    """Indicator code → aspect weight × indicator weight (from the cycle's methodology file)."""
    from flows.settings import load_methodology

    methodology = load_methodology(CYCLE)
    aspect = {a.code: a.weight for a in methodology.aspects}
    return {i.code: aspect[i.aspect] * i.weight for i in methodology.indicators}


def _elements() -> list[str]:
    from flows.settings import load_methodology

    return load_methodology(CYCLE).survey.element_codes


def run_limit(args: argparse.Namespace) -> dict[str, Any]:
    """One lazy query over every bundle's CSV files: unit IPP (weighted), IKM, one Parquet file."""
    import polars as pl

    weights, elements = _weights(), _elements()
    root = args.landing / CYCLE
    started = time.perf_counter()
    weight_frame = pl.LazyFrame({"indicator_code": list(weights), "w": list(weights.values())},
                                schema={"indicator_code": pl.String, "w": pl.Int64})
    units = pl.scan_csv(root / "*/*/units.csv", schema_overrides={"region_code": pl.String},
                        missing_columns="insert", extra_columns="ignore")
    evaluations = pl.scan_csv(root / "*/*/evaluations.csv", schema_overrides={"score": pl.Int64},
                              missing_columns="insert", extra_columns="ignore")
    survey = pl.scan_csv(root / "*/*/skm_responses.csv", schema_overrides=dict.fromkeys(elements, pl.Int8),
                         missing_columns="insert", extra_columns="ignore")
    ipp = (evaluations.group_by("unit_id", "indicator_code").agg(pl.col("score").mean())
           .join(weight_frame, on="indicator_code")
           .group_by("unit_id").agg(ipp=(pl.col("score") * pl.col("w")).sum() / 10_000, n_indicators=pl.len()))
    ikm = (survey.group_by("unit_id").agg(pl.len().alias("n_respondents"), *(pl.col(e).mean() for e in elements))
           .select("unit_id", "n_respondents", ikm=25 * pl.sum_horizontal(elements) / len(elements)))
    result = (units.select("region_code", "unit_id", "unit_type")
              .join(ipp, on="unit_id", how="left").join(ikm, on="unit_id", how="left")
              .with_columns(pl.col("ipp").round(2), pl.col("ikm").round(2)))
    out = args.warehouse / "unit_scores.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    frame = result.collect(engine=args.engine)
    computed = time.perf_counter() - started
    frame.write_parquet(out)
    total = time.perf_counter() - started
    return {"pipeline_s": total, "compute_s": computed, "write_s": total - computed, "units": frame.height,
            "engine": args.engine, "out": str(out), "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- the alternative: plain pandas


def run_pandas(args: argparse.Namespace) -> dict[str, Any]:
    """pd.read_csv per file, concat, groupby: what one writes without this project."""
    import pandas as pd

    weights, elements = _weights(), _elements()
    root = args.landing / CYCLE
    started = time.perf_counter()
    units = pd.concat([pd.read_csv(f, dtype={"region_code": str}) for f in sorted(root.glob("*/*/units.csv"))],
                      ignore_index=True)
    evaluations = pd.concat([pd.read_csv(f) for f in sorted(root.glob("*/*/evaluations.csv"))], ignore_index=True)
    survey = pd.concat([pd.read_csv(f) for f in sorted(root.glob("*/*/skm_responses.csv"))], ignore_index=True)
    read = time.perf_counter() - started
    result = _pandas_scores(units, evaluations, survey, weights, elements)
    computed = time.perf_counter() - started
    out = args.warehouse / "unit_scores.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    total = time.perf_counter() - started
    return {"pipeline_s": total, "read_s": read, "compute_s": computed - read, "write_s": total - computed,
            "units": len(result), "pandas": pd.__version__, "out": str(out), "peak_rss_mb": peak_rss_mb()}


def _pandas_scores(units: Any, evaluations: Any, survey: Any, weights: dict[str, int], elements: list[str]) -> Any:
    """Unit IPP and IKM in plain pandas (the `pandas` contender's computation)."""
    means = evaluations.groupby(["unit_id", "indicator_code"], as_index=False)["score"].mean()
    means["weighted"] = means["score"] * means["indicator_code"].map(weights)
    ipp = (means.groupby("unit_id")["weighted"].sum() / 10_000).rename("ipp")
    nrr = survey.groupby("unit_id")[elements].mean()
    ikm = (25 * nrr.sum(axis=1) / len(elements)).rename("ikm")
    respondents = survey.groupby("unit_id").size().rename("n_respondents")
    result = (units[["region_code", "unit_id", "unit_type"]]
              .merge(ipp, left_on="unit_id", right_index=True, how="left")
              .merge(ikm, left_on="unit_id", right_index=True, how="left")
              .merge(respondents, left_on="unit_id", right_index=True, how="left"))
    result["ipp"] = result["ipp"].round(2)
    result["ikm"] = result["ikm"].round(2)
    return result


def run_pandas_ge(args: argparse.Namespace) -> dict[str, Any]:
    """The fair peer (issue 24): pandas + Great Expectations as a user without this project would write it.

    One ephemeral GE context with a pandas data source; per bundle and table: `pd.read_csv`, the
    project's own suite (same expectations and parameters) validated whole with GE's default result
    format on that bundle's frame, failing rows dropped by the unexpected index list; then the `pandas`
    contender's computation over the accepted rows, one Parquet file. No raw copies, ledger or reports.
    """
    import great_expectations as gx
    import pandas as pd
    from great_expectations.core import ExpectationSuite

    from expectations.suites import load_suite, suite_parameters
    from flows.settings import load_methodology
    from transforms.schemas import INPUT_TABLES

    methodology = load_methodology(CYCLE)
    weights, elements = _weights(), _elements()
    started = time.perf_counter()
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    # an ephemeral context with progress bars off (a user turns them off after the first screenful)
    context = gx.get_context(mode="ephemeral", project_config=DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
        progress_bars=ProgressBarsConfig(globally=False), analytics_enabled=False))
    batch_definition = (context.data_sources.add_pandas("peer").add_dataframe_asset("table")
                        .add_batch_definition_whole_dataframe("whole"))
    suites = {table: ExpectationSuite(**load_suite(table)) for table in INPUT_TABLES}
    context_s = time.perf_counter() - started
    params = {k: v for k, v in suite_parameters(methodology).items() if k != "region_code"}
    dtypes = {"region_code": str, "unit_id": str, "evaluator_id": str, "respondent_id": str}
    kept: dict[str, list[Any]] = {table: [] for table in INPUT_TABLES}
    read_s = validate_s = 0.0
    bundles = rejected = 0
    for bundle in sorted((args.landing / CYCLE).glob("*/*/")):
        region = bundle.parent.name
        bundles += 1
        frames, ok = {}, True
        for table in INPUT_TABLES:
            path = bundle / f"{table}.csv"
            if not path.exists():
                continue
            t = time.perf_counter()
            frame = pd.read_csv(path, dtype=dtypes)
            for date_column in ("survey_date",):
                if date_column in frame.columns:
                    frame[date_column] = pd.to_datetime(frame[date_column], errors="coerce")
            frame["_bundle"], frame["_bundle_region"] = 0, region
            if table != "units" and "unit_id" in frame.columns and "units" in frames:
                frame["_listed_unit_id"] = frame["unit_id"].where(frame["unit_id"].isin(frames["units"]["unit_id"]))
            read_s += time.perf_counter() - t
            t = time.perf_counter()
            result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
                suites[table], result_format={"result_format": "COMPLETE"}, expectation_parameters=params)
            bad: set[int] = set()
            for outcome in result.results:
                if outcome.success:
                    continue
                if outcome.expectation_config.meta.get("severity") == "critical":
                    ok = False
                bad.update(outcome.result.get("unexpected_index_list") or [])
            validate_s += time.perf_counter() - t
            frames[table] = frame.drop(index=[i for i in bad if i in frame.index])
        if not ok:
            rejected += 1
            continue
        for table, frame in frames.items():
            kept[table].append(frame)
    t = time.perf_counter()
    scored = ("units", "evaluations", "skm_responses")  # what the pandas computation takes (F-03 is off in 2024)
    result = _pandas_scores(*(pd.concat(kept[t_], ignore_index=True) for t_ in scored), weights, elements)
    compute_s = time.perf_counter() - t
    out = args.warehouse / "unit_scores.parquet"
    out.parent.mkdir(parents=True, exist_ok=True)
    result.to_parquet(out, index=False)
    total = time.perf_counter() - started
    rows = sum(len(f) for frames_ in kept.values() for f in frames_)
    return {"pipeline_s": total, "ge_context_s": context_s, "read_s": read_s, "validate_s": validate_s,
            "compute_s": compute_s, "bundles": bundles, "rejected": rejected, "units": len(result),
            "validate_rows_per_s": rows / validate_s if validate_s else None, "out": str(out),
            "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- GE validation speed


def run_validate_speed(args: argparse.Namespace) -> dict[str, Any]:
    from flows.settings import load_methodology
    from tests.benchmarks.ge_speed import validate_speed

    report = validate_speed(args.rows, load_methodology(CYCLE))
    return {"rows": report.rows, "seconds": report.seconds, "rows_per_s": report.rows_per_second,
            "issues": report.issues, "peak_rss_mb": report.peak_rss_mb}


# ---------------------------------------------------------------- robustness (issue 23)


def _cycle_frames(root: Path, elements: list[str]) -> tuple[Any, Any, Any]:
    """Units, evaluations and survey rows of every bundle's CSV files, typed (no checks: the engine's input)."""
    import polars as pl

    region = pl.col("region_code")
    same = {"missing_columns": "insert", "extra_columns": "ignore"}
    units = pl.scan_csv(root / "*/*/units.csv", schema_overrides={"region_code": pl.String,
                                                                   "annual_service_users": pl.Int64}, **same)
    owner = units.select("unit_id", region)
    evaluations = (pl.scan_csv(root / "*/*/evaluations.csv", schema_overrides={"score": pl.Int64}, **same)
                   .select("unit_id", "indicator_code", "score", "evaluator_id").join(owner, on="unit_id"))
    survey = (pl.scan_csv(root / "*/*/skm_responses.csv", schema_overrides=dict.fromkeys(elements, pl.Int8), **same)
              .select("unit_id", "respondent_id", *elements).join(owner, on="unit_id"))
    return pl.collect_all([units.with_columns(submission_id=pl.lit("bench")), evaluations, survey])


def run_robustness(args: argparse.Namespace) -> dict[str, Any]:
    """The uncertainty engine on the whole cycle: the cycle scored first (not timed), then the draws.

    Timed: `robustness_inputs` (evaluator sheets, survey spread: one pass over the rows) and `robustness`
    (the draws and the two tables), with the cycle's own [robustness] settings (or --draws).
    """
    import dataclasses

    import polars as pl

    from flows.settings import load_methodology, regions_reference
    from transforms.cycle import CycleInputs, score_cycle
    from transforms.robustness import robustness, robustness_inputs

    methodology = load_methodology(CYCLE)
    settings = methodology.robustness
    assert settings is not None, "the cycle's methodology has no [robustness] settings"
    if args.draws:
        settings = dataclasses.replace(settings, draws=args.draws)
    started = time.perf_counter()
    units, evaluations, survey = _cycle_frames(args.landing / CYCLE, methodology.survey.element_codes)
    read_s = time.perf_counter() - started
    tables = score_cycle(CycleInputs(units=units.lazy(), evaluations=evaluations.lazy(), responses=survey.lazy(),
                                     regions=regions_reference().lazy()), methodology)
    scored_s = time.perf_counter() - started - read_s
    before_mb = rss_mb()
    peak_before_mb = peak_rss_mb()
    engine_started = time.perf_counter()
    inputs = robustness_inputs(evaluations.lazy(), survey.lazy(), methodology)
    inputs_s = time.perf_counter() - engine_started
    result = robustness(tables["unit_scores"], tables["region_scores"], inputs, methodology, settings)
    engine_s = time.perf_counter() - engine_started
    args.warehouse.mkdir(parents=True, exist_ok=True)
    result.units.write_parquet(args.warehouse / "unit_robustness.parquet")
    result.regions.write_parquet(args.warehouse / "region_robustness.parquet")
    not_robust = result.units.filter(pl.col("awards_not_robust").is_not_null()).height
    return {"draws": settings.draws, "units": result.units.height, "regions": result.regions.height,
            "read_s": read_s, "score_s": scored_s, "inputs_s": inputs_s, "draws_s": engine_s - inputs_s,
            "engine_s": engine_s, "rss_before_engine_mb": before_mb, "peak_before_engine_mb": peak_before_mb,
            "units_with_awards_not_robust": not_robust, "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- each stage's own limit (issue 24)


_SUITE_TABLES = ("units", "evaluations", "skm_responses")


def _suite_failures(expectation: dict[str, Any], params: dict[str, Any]) -> Any:
    """One suite expectation as a Polars boolean expression, true on the rows GE would report."""
    import polars as pl

    kwargs, kind = expectation["kwargs"], expectation["type"]

    def value(v: Any) -> Any:
        return params[v["$PARAMETER"]] if isinstance(v, dict) else v

    if kind == "expect_column_values_to_not_be_null":
        return pl.col(kwargs["column"]).is_null()
    if kind == "expect_column_values_to_be_between":
        column, low, high = pl.col(kwargs["column"]), value(kwargs.get("min_value")), value(kwargs.get("max_value"))
        bad = pl.lit(False)
        if low is not None:
            bad = bad | (column < low)
        if high is not None:
            bad = bad | (column > high)
        return bad.fill_null(False)
    if kind == "expect_column_values_to_be_in_set":
        return (~pl.col(kwargs["column"]).is_in(list(value(kwargs["value_set"])))).fill_null(False)
    if kind == "expect_column_pair_values_to_be_equal":
        a, b = pl.col(kwargs["column_A"]), pl.col(kwargs["column_B"])
        skip = {"both_values_are_missing": a.is_null() & b.is_null(),
                "either_value_is_missing": a.is_null() | b.is_null()}.get(kwargs.get("ignore_row_if"), pl.lit(False))
        return ~skip & a.ne_missing(b)
    if kind == "expect_compound_columns_to_be_unique":
        columns = kwargs["column_list"]
        repeated = pl.struct(columns).is_duplicated()
        if kwargs.get("ignore_row_if") == "any_value_is_missing":
            return repeated & pl.all_horizontal(pl.col(c).is_not_null() for c in columns)
        return repeated
    raise ValueError(f"no Polars form for {kind}")


def run_stage_limits(args: argparse.Namespace) -> dict[str, Any]:
    """Bare Polars (and hashlib, shutil) doing each stage's own I/O on the same files, for `pekppp`'s stages.

    - discover: list the bundle folders and SHA-256 every file;
    - read: copy every file (the untouched raw copy) and read it typed, one `pl.read_csv` per file;
    - validate: the suites' expectations as Polars expressions over the typed frames, with the bundle
      bookkeeping the suites compare to (bundle number, listed unit, the bundle's region) joined in;
    - ledger: the accepted rows written once per table;
    - compute without robustness: unit IPP and IKM and the bodies' means from the frames in memory (the
      `limit`'s scoring; pekppp's predicates, ranks, awards and exact rationals are more than this).
    No issue rows, reports, raw-copy manifests, atomic renames or fsyncs: a floor, not a peer.
    """
    import hashlib
    import shutil

    import polars as pl

    from expectations.suites import suite_parameters
    from flows.settings import load_methodology

    methodology = load_methodology(CYCLE)
    elements = methodology.survey.element_codes
    root = args.landing / CYCLE
    work = args.warehouse / "stage-limits"
    shutil.rmtree(work, ignore_errors=True)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    bundles = sorted(p for p in root.glob("*/*") if p.is_dir())
    files = [f for b in bundles for f in sorted(b.iterdir()) if f.is_file()]
    for f in files:
        digest = hashlib.sha256()
        with f.open("rb") as handle:
            while block := handle.read(1 << 20):
                digest.update(block)
    seconds["discover"] = time.perf_counter() - started

    typed = {"units": {"region_code": pl.String, "annual_service_users": pl.Int64},
             "evaluations": {"score": pl.Int8},
             "skm_responses": {"survey_date": pl.Date, **dict.fromkeys(elements, pl.Int8)}}
    started = time.perf_counter()
    frames: dict[str, list[pl.DataFrame]] = {t: [] for t in _SUITE_TABLES}
    for number, bundle in enumerate(bundles):
        copy = work / "raw" / bundle.parent.name / bundle.name
        copy.mkdir(parents=True)
        for table in _SUITE_TABLES:
            source = bundle / f"{table}.csv"
            shutil.copyfile(source, copy / source.name)
            frame = pl.read_csv(source, schema_overrides=typed[table], infer_schema=False)
            frames[table].append(frame.with_columns(_bundle=pl.lit(number, pl.Int32),
                                                    _bundle_region=pl.lit(bundle.parent.name)))
    tables = {t: pl.concat(f, how="diagonal_relaxed") for t, f in frames.items()}
    seconds["read"] = time.perf_counter() - started
    rows = {t: f.height for t, f in tables.items()}

    started = time.perf_counter()
    params = suite_parameters(methodology)
    listed = tables["units"].select("_bundle", "unit_id", _listed_unit_id=pl.col("unit_id")).lazy()
    queries = []
    for table in _SUITE_TABLES:
        frame = tables[table].lazy()
        if table != "units":
            frame = frame.join(listed, on=["_bundle", "unit_id"], how="left", maintain_order="left")
        suite = json.loads((Path("expectations") / f"{table}.json").read_text())
        failing = [_suite_failures(e, params) for e in suite["expectations"]]
        queries.append(frame.with_row_index("_i").select(
            pl.col("_i").filter(bad).implode().alias(f"e{n}") for n, bad in enumerate(failing)))
    found = pl.collect_all(queries)
    failing_cells = sum(len(c[0]) for f in found for c in f.get_columns())
    seconds["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    (work / "ledger").mkdir(parents=True)
    for table, frame in tables.items():
        frame.write_parquet(work / "ledger" / f"{table}.parquet")
    seconds["ledger"] = time.perf_counter() - started

    started = time.perf_counter()
    weights = _weights()
    weight_frame = pl.LazyFrame({"indicator_code": list(weights), "w": list(weights.values())})
    ipp = (tables["evaluations"].lazy().group_by("unit_id", "indicator_code").agg(pl.col("score").mean())
           .join(weight_frame, on="indicator_code")
           .group_by("unit_id").agg(ipp=(pl.col("score") * pl.col("w")).sum() / 10_000))
    ikm = (tables["skm_responses"].lazy().group_by("unit_id").agg(*(pl.col(e).mean() for e in elements))
           .select("unit_id", ikm=25 * pl.sum_horizontal(elements) / len(elements)))
    scored = (tables["units"].lazy().select("region_code", "unit_id").join(ipp, on="unit_id", how="left")
              .join(ikm, on="unit_id", how="left"))
    units, bodies = pl.collect_all([scored, scored.group_by("region_code").agg(pl.col("ipp", "ikm").mean())])
    seconds["compute without robustness"] = time.perf_counter() - started
    shutil.rmtree(work, ignore_errors=True)
    return {"stages": seconds, "rows": rows, "files": len(files), "bundles": len(bundles),
            "failing_cells": failing_cells, "units": units.height, "bodies": bodies.height,
            "validate_rows_per_s": sum(rows.values()) / seconds["validate"], "peak_rss_mb": peak_rss_mb()}


# ---------------------------------------------------------------- PostgreSQL load


def run_load_warehouse(args: argparse.Namespace) -> dict[str, Any]:
    """Load the nightly contender's current release into a throw-away PostgreSQL, then again (a no-op)."""
    from flows.settings import Places
    from flows.warehouse_load import load_release
    from tests.flows.postgres_server import postgres_server

    places = Places(landing=args.landing, warehouse=args.warehouse)
    with postgres_server() as dsn:
        first = load_release(places, CYCLE, dsn)
        again = load_release(places, CYCLE, dsn)
    return {"load_s": first.seconds, "rows": sum(first.rows.values()), "per_table": first.rows,
            "again_s": again.seconds, "again_loaded": again.loaded, "peak_rss_mb": peak_rss_mb()}


CONTENDERS: dict[str, Callable[[argparse.Namespace], dict[str, Any]]] = {
    "pekppp": run_pekppp, "nightly": run_nightly, "nightly-incremental": run_nightly_incremental,
    "limit": run_limit, "pandas": run_pandas, "pandas-ge": run_pandas_ge, "validate-speed": run_validate_speed,
    "load-warehouse": run_load_warehouse, "robustness": run_robustness, "stage-limits": run_stage_limits,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.benchmarks.contenders")
    parser.add_argument("name", choices=sorted(CONTENDERS))
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--warehouse", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--prefect-home", type=Path)
    parser.add_argument("--extra", type=Path, help="nightly: a new bundle to add for a warm incremental run")
    parser.add_argument("--server-url", help="nightly-incremental: a running Prefect server's API URL")
    parser.add_argument("--rows", type=int, default=0, help="validate-speed: survey rows")
    parser.add_argument("--engine", default="auto", help="limit: Polars engine (auto, in-memory, streaming)")
    parser.add_argument("--draws", type=int, default=0, help="robustness: draws (default: the methodology's)")
    args = parser.parse_args(argv)
    result = CONTENDERS[args.name](args)
    result["process_s"] = time.perf_counter() - STARTED
    args.out.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
