"""The `pekppp` command line: demo, generate, run, rerun, validate, roster, report, status, alerts.

Errors reach the user as one line (what, where, what to do) and a non-zero exit, never a traceback.
Heavy imports (Prefect, Great Expectations) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
EXAMPLES_SHOWN = 5  # problem rows printed per rule by `pekppp validate` (all with --all)
TASK_RUNNER_HELP = "threads, threads:N or dask://host:port (default $PEKPPP_TASK_RUNNER or threads)"


class UsageError(Exception):
    """Arguments that cannot be used; exit code 2."""


def _prepare_prefect() -> None:
    """Prefect's embedded mode needs a home and patience; set both unless the operator did."""
    from flows.settings import prefect_defaults

    prefect_defaults(Path(tempfile.gettempdir()) / "pekppp-prefect")
    # One line per error, not Prefect's traceback; the logs still reach the API.
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")


def _places(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from flows.settings import Places
    return Places.from_env(args.landing, args.warehouse)


def _print_summaries(summaries: list[dict], warehouse: Path) -> None:
    for s in summaries:
        ipp = f"{s['national_ipp']:.2f} ({s['national_predicate']})" if s["national_ipp"] is not None else "-"
        print(f"cycle {s['cycle']}: {s['bundles_seen']} bundles seen, {s['bundles_new']} new: "
              f"{s['accepted']} accepted, {s['rejected']} rejected, {s['late']} late")
        if s["release_id"]:
            print(f"  regions {s['regions']}, units {s['units']} ({s['units_scored']} scored), national IPP {ipp}")
            print(f"  release {s['release_id']}: {s['manifest']}")
            if s.get("changes") is not None:
                c = s["changes"]
                print(f"  vs {s['diff_against']}: {c['added']} units added, {c['removed']} removed, "
                      f"{c['changed']} changed (IPP {c['ipp']}, predicate {c['predicate']}, rank {c['rank_in_type']}, "
                      f"eligibility {c.get('eligibility', 0)}, award {c['award']}, "
                      f"not robust {c.get('robustness', 0)}), "
                      f"{c.get('regions_changed', 0)} regions changed: {s['diff']}")
        else:
            print(f"  nothing new: no release published; readers still see {s['current_release'] or 'no release yet'}")
        for r in s["rejections"][:10]:
            print(f"  not used: {r['region']}/{' '.join(r['bundle'].split())} [{r['status']}] {r['reason']}")
        if len(s["rejections"]) > 10:
            print(f"  ... and {len(s['rejections']) - 10} more (table validation_issues)")
        for stray in s.get("strays", []):
            print(f"  not read: {' '.join(stray['entry'].split())}: {stray['why']}")
    print(f"outputs: {warehouse}/<table>/cycle=<C>/  (releases: {warehouse}/_releases/)")


def cmd_generate(args: argparse.Namespace) -> int:
    from flows.generate import generate_cycle
    from flows.settings import load_methodology

    methodology = load_methodology(args.cycle)
    out = Path(args.out) if args.out else _places(args).landing
    live = sys.stderr.isatty()
    shown = {"line": False, "step": 0}

    def progress(done: int, total: int) -> None:
        """One line rewritten in place on a terminal; a line per tenth (and the last) in a log."""
        if live:
            print(f"\rgenerating {args.cycle}: region {done}/{total}", end="", file=sys.stderr, flush=True)
            shown["line"] = True
        elif done == total or done * 10 // total > shown["step"]:
            shown["step"] = done * 10 // total
            print(f"generating {args.cycle}: region {done}/{total}", file=sys.stderr, flush=True)

    try:
        summary = generate_cycle(args.cycle, out, regions=args.regions, units=args.units,
                                 respondents=args.respondents, seed=args.seed, bad_rate=args.bad_rate,
                                 methodology=methodology, national=args.national, kl=args.kl,
                                 trend=args.trend, f03=args.f03, ombudsman=args.ombudsman, progress=progress)
    except ValueError as err:
        raise UsageError(str(err)) from err
    finally:
        if shown["line"]:
            print(file=sys.stderr)  # end the rewritten line before anything else is printed
    print(summary)
    return EXIT_OK


class LocalServer:
    """Prefect's local API server for one command, started the way Prefect's local mode starts it.

    Prefect's own launcher (`SubprocessASGIServer`) lives in `prefect.server.api.server`, whose import
    costs ~2.5 s before the server process even starts; here the same command (uvicorn on Prefect's
    app factory, ephemeral: no UI, no background services) is spawned right after Prefect's settings
    are read, so the server starts while this process imports the flows and Great Expectations.
    Its output goes to `<PREFECT_HOME>/pekppp-server.log`; it is stopped when the command ends.
    """

    def __init__(self, settings: Any) -> None:
        import prefect

        self.timeout = float(settings.server.ephemeral.startup_timeout_seconds)
        self.home = Path(settings.home).expanduser()
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_path = self.home / "pekppp-server.log"
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        env = {**os.environ, "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1",
               "PREFECT__SERVER_FINAL": "1", **settings.to_environment_variables(exclude_unset=True)}
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parent.parent),
                 "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port",
                 str(self.port), "--log-level", "error", "--lifespan", "on"],
                env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait_ready(self) -> None:
        """Return once the API answers; a server that exits or stays silent past the timeout is an error."""
        deadline = time.monotonic() + self.timeout
        while True:
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = self.log_path.read_text(errors="replace").strip().splitlines()[-3:]
                raise RuntimeError(f"Prefect's local server did not start on port {self.port} (see "
                                   f"{self.log_path}: {' | '.join(tail) or 'no output'})")
            time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@contextlib.contextmanager
def local_prefect(*, warm_up_ge: bool = True) -> Iterator[None]:
    """Prefect for a command: the operator's server if one is configured, else a local one for the command.

    The local server (see `LocalServer`) starts first; meanwhile this process imports the flows and
    builds GE's context (`warm_up_ge`), then waits until the server answers. Both take seconds and
    neither needs the other: a new process used to pay them one after the other. With a configured
    server (PREFECT_API_URL, in the environment or a Prefect profile) nothing starts here and GE is
    imported at the first validation, so a run with nothing new does not import it at all.
    """
    from prefect.settings import get_current_settings, temporary_settings

    settings = get_current_settings()
    if settings.api.url or not settings.server.ephemeral.enabled:
        yield
        return
    server = LocalServer(settings)
    try:
        import flows.nightly  # noqa: F401  (the flows, Prefect's client: imported while the server starts)

        if warm_up_ge:
            from expectations.suites import warm_up

            warm_up()
        server.wait_ready()
        with temporary_settings(updates=local_run_settings(server.api_url)):
            try:
                yield
            finally:
                _drain_api_logs()
    finally:
        server.stop()


def local_run_settings(api_url: str) -> dict[Any, Any]:
    """Prefect's settings for the runs of a command with its own local server (`local_prefect`).

    The server's address, and no flow-run heartbeats: they let a lasting server find crashed runs, while
    this one stops with the command, and each flow run's end waited up to a second for the heartbeat
    thread's sleep (1.7 s of a one-bundle nightly).
    """
    from prefect.settings import PREFECT_API_URL, PREFECT_FLOWS_HEARTBEAT_FREQUENCY

    return {PREFECT_API_URL: api_url, PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}


def _drain_api_logs() -> None:
    """Send the run's queued log lines to the server before it stops (else Prefect's log worker, flushing
    at exit, prints '--- Error logging to API ---' on stderr: the server is gone)."""
    from prefect.logging.handlers import APILogWorker

    with contextlib.suppress(Exception):
        APILogWorker.drain_all(timeout=5)


def _run_flow(args: argparse.Namespace, flow_name: str) -> int:
    """Run `nightly` or `rerun-cycle` on Prefect's local mode and print what it did."""
    _prepare_prefect()
    with local_prefect():
        from flows import nightly as flows_module
        from flows.chunked_ingest import TaskRunnerError

        places = _places(args)
        flow = flows_module.nightly if flow_name == "nightly" else flows_module.rerun_cycle
        try:
            summaries = flow(cycle=args.cycle, landing=str(places.landing), warehouse=str(places.warehouse),
                             task_runner=args.task_runner, allow_empty=args.allow_empty)
        except TaskRunnerError as err:
            raise UsageError(str(err)) from err
    _print_summaries(summaries, places.warehouse)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    return _run_flow(args, "nightly")


def cmd_rerun(args: argparse.Namespace) -> int:
    from flows.nightly import rerun_refusal
    from flows.settings import load_methodology

    load_methodology(args.cycle)
    refusal = rerun_refusal(_places(args), args.cycle)  # before any server starts; the flow says the same
    if refusal:
        raise UsageError(refusal)
    return _run_flow(args, "rerun-cycle")


def cmd_load_warehouse(args: argparse.Namespace) -> int:
    from flows.warehouse_load import DSN_ENV, configured_dsn, describe, load_release

    dsn = configured_dsn(args.dsn)
    if not dsn:
        raise UsageError(f"give --dsn postgresql://user@host/db (or set {DSN_ENV})")
    print(describe(load_release(_places(args), args.cycle, dsn), dsn))
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    from flows.delta_feed import read_as_of

    frame = read_as_of(_places(args), args.table, args.cycle, args.release)
    out = Path(args.out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise UsageError(f"--out {out}: give a .parquet or .csv file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() == ".csv":
        frame.write_csv(out)
    else:
        frame.write_parquet(out)
    release = frame["release_id"][0] if frame.height else args.release or "-"
    print(f"{args.table} of cycle {args.cycle} as of release {release}: {frame.height} rows -> {out}")
    return EXIT_OK


def cmd_sql(args: argparse.Namespace) -> int:
    import duckdb
    import polars as pl

    from flows.warehouse_db import connect

    database = Path(args.db) if args.db else _places(args).warehouse.with_suffix(".duckdb")
    with connect(database) as connection:
        try:
            result = connection.sql(args.query)
        except duckdb.Error as err:
            raise UsageError(" ".join(str(err).split())) from err
        if result is None:
            return EXIT_OK
        with pl.Config(tbl_rows=args.rows, tbl_cols=-1, fmt_str_lengths=60, tbl_width_chars=200):
            print(result.pl())
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from flows.operations import status_lines

    os.environ.setdefault("DO_NOT_TRACK", "1")
    print("\n".join(status_lines(_places(args), args.cycle)))
    return EXIT_OK


def cmd_alerts(args: argparse.Namespace) -> int:
    from prefect.settings import get_current_settings

    from flows.operations import OperationsError, apply_automations, save_webhook_block

    os.environ.setdefault("DO_NOT_TRACK", "1")
    if not get_current_settings().api.url:
        raise UsageError("alerts live on a Prefect server: set PREFECT_API_URL (e.g. http://127.0.0.1:4200/api)")
    try:
        reference = save_webhook_block(args.webhook, args.block) if args.webhook else args.block
        names = apply_automations(reference)
    except OperationsError as err:
        raise UsageError(str(err)) from err
    print(f"alerts applied on {get_current_settings().api.url}: {'; '.join(names)}")
    return EXIT_OK


def _infer_cycle_region(path: Path, cycle: str | None, region: str | None) -> tuple[str, str]:
    """Take cycle and region from `<cycle>/<region>/<bundle>` when not given."""
    parts = path.resolve().parts
    cycle = cycle or (parts[-3] if len(parts) >= 3 else None)
    region = region or (parts[-2] if len(parts) >= 2 else None)
    if not cycle or not region:
        raise UsageError("cannot tell the cycle and region from the path; pass --cycle and --region")
    return cycle, region


def validate_report_dir(path: Path, cycle: str, region: str) -> Path:
    """Where `pekppp validate` writes the officer's pages when --report-dir is not given: a temp folder
    per bundle (never beside the bundle: that may be the landing zone, which is only ever read)."""
    return Path(tempfile.gettempdir()) / "pekppp-validate" / cycle / region / path.name


def cmd_validate(args: argparse.Namespace) -> int:
    from expectations.report import bundle_report_pages, bundle_report_text
    from flows.ingest import check_bundle, region_name
    from flows.intake.bundles import bundle_fingerprint
    from flows.settings import load_methodology
    from flows.storage import write_pages
    from transforms.submissions import ACCEPTED, REJECTED

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a bundle folder or .zip")
    cycle, region = _infer_cycle_region(path, args.cycle, args.region)
    methodology = load_methodology(cycle)
    checked = check_bundle(path, methodology, region)
    try:
        submission_id = bundle_fingerprint(path, methodology.limits)[0]
    except OSError:
        submission_id = "(not submitted)"
    meta = {"cycle": cycle, "region_code": region, "region_name": region_name(region), "bundle": path.name,
            "submission_id": submission_id, "status": REJECTED if checked.rejected else ACCEPTED,
            "reason": checked.reason, "lang": args.lang}
    folder = Path(args.report_dir) if args.report_dir else validate_report_dir(path, cycle, region)
    try:
        written = write_pages(folder, bundle_report_pages(checked.issues, **meta))
    except OSError as err:
        raise UsageError(f"cannot write the report into {folder} ({err.strerror or err}); "
                         "give a writable --report-dir") from err
    print(bundle_report_text(checked.issues, **meta, examples=None if args.all else EXAMPLES_SHOWN), end="")
    print()
    print(f"laporan (report): {written['html']}")
    print(f"                  {written['markdown']}")
    return EXIT_REJECTED if checked.rejected else EXIT_OK


def cmd_roster(args: argparse.Namespace) -> int:
    from flows.rosters import export_roster

    places = _places(args)
    out = export_roster(places, args.cycle, args.format, Path(args.out) if args.out else None)
    print(f"award roster of cycle {args.cycle}: {out}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    from flows.reports import report_command

    places = _places(args)
    written = report_command(places, args.cycle)
    print(f"cycle report {args.cycle}: {written[0]}")
    print(f"  region cards: {len(written) - 1} in {written[0].parent / 'wilayah'}")
    if args.pdf:
        from flows.reports import print_pdf
        from flows.rosters import export_roster

        print(f"  PDF: {print_pdf(written[0])}")
        print(f"  PDF: {export_roster(places, args.cycle, 'pdf')}")
    if args.screenshot:
        from flows.reports import screenshot

        for page in written[:2]:  # the cycle report and the first region card
            print(f"  PNG: {screenshot(page)}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    _prepare_prefect()
    with local_prefect():
        from flows.demo import run_demo

        places = _places(args)
        summaries, database = run_demo(places)
    _print_summaries(summaries, places.warehouse)
    print(f"DuckDB: {database} (one view per table): uv run pekppp sql "
          "\"select cycle, predicate, count(*) from unit_scores group by all order by all\"")
    print(f"reports: {places.reports}/<cycle>/laporan_<cycle>.html, region cards in wilayah/, rosters beside them")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pekppp", description="PEKPPP public-service evaluation pipeline")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--landing", help="landing zone (default data/landing or $PEKPPP_LANDING)")
    common.add_argument("--warehouse", help="warehouse (default data/warehouse or $PEKPPP_WAREHOUSE)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", parents=[common], help="generate a synthetic cycle, run the nightly flow, summarise")

    gen = sub.add_parser(
        "generate", parents=[common], help="write synthetic submissions",
        description="Write synthetic bundles, one per region, as <out>/<cycle>/<region_code>/<bundle>/ with realistic "
                    "names, codes, scores and survey answers, following the cycle's methodology. The same options "
                    "and seed write the same bytes. Feed them to the pipeline with `pekppp run --landing <out>`.")
    gen.add_argument("--cycle", required=True, help="the cycle, e.g. 2024 (its methodology file must exist)")
    gen.add_argument("--out", help="the folder to write into, a landing zone (default: --landing, $PEKPPP_LANDING "
                                   "or data/landing)")
    gen.add_argument("--regions", type=int, default=6, help="regions (provinces and kabupaten/kota), default 6")
    gen.add_argument("--units", type=int, default=8, help="service units per region, default 8")
    gen.add_argument("--respondents", type=int, default=30,
                     help="survey respondents per unit (about; varies per unit), default 30")
    gen.add_argument("--seed", type=int, default=2024, help="random seed, default 2024")
    gen.add_argument("--bad-rate", type=float, default=0.0,
                     help="share 0..1 of deliberately bad bundles (rejected as a whole); in the other bundles "
                          "about a fifth of that share of rows is bad (set aside). Default 0: all good")
    gen.add_argument("--trend", type=float, default=0.0,
                     help="sd 0..1 of each region's yearly change of quality from 2023 on, as a share of the score "
                          "range (the demo uses 0.06: some regions improve, some fall). Default 0: cycles alike")
    gen.add_argument("--national", action="store_true",
                     help="every province and kabupaten/kota (546 regions; --regions is ignored)")
    gen.add_argument("--kl", type=int, default=0,
                     help="ministries and agencies (K/L) from the K/L reference list, each with its units under "
                          "its 3-digit kode Bagian Anggaran, default 0")
    gen.add_argument("--f03", type=int, default=0,
                     help="citizen form (F-03) respondents per unit (about), each answering 10 items, written as "
                          "f03_responses; used only by a cycle whose methodology turns [f03] on. Default 0: none")
    gen.add_argument("--ombudsman", action="store_true",
                     help="also write an Ombudsman compliance feed assessing every generated body "
                          "(<cycle>/_ombudsman/<bundle>/compliance.csv; three bad rows with --bad-rate)")

    run = sub.add_parser("run", parents=[common], help="the nightly job, once")
    run.add_argument("--cycle")
    run.add_argument("--task-runner", help=TASK_RUNNER_HELP)
    run.add_argument("--allow-empty", action="store_true",
                     help="publish even a release with no scored unit over one that has some")

    rerun = sub.add_parser("rerun", parents=[common], help="recompute a past cycle from its kept bundles")
    rerun.add_argument("--cycle", required=True)
    rerun.add_argument("--task-runner", help=TASK_RUNNER_HELP)
    rerun.add_argument("--allow-empty", action="store_true",
                       help="publish even a release with no scored unit over one that has some")

    val = sub.add_parser("validate", parents=[common], help="check one bundle offline")
    val.add_argument("path", help="the bundle: a folder or .zip, ideally as <cycle>/<region_code>/<bundle>")
    val.add_argument("--cycle", help="the cycle (default: the folder two levels above the bundle)")
    val.add_argument("--region", help="the region code (default: the folder holding the bundle)")
    val.add_argument("--report-dir", help="where report.html and report.md are written (default: a folder "
                                          "under the system's temp folder, printed at the end)")
    val.add_argument("--lang", choices=["id", "en"], default="id",
                     help="id: Bahasa Indonesia first with the English message beside it (default); en: English only")
    val.add_argument("--all", action="store_true",
                     help=f"print every problem row (default: the first {EXAMPLES_SHOWN} of each rule)")

    roster = sub.add_parser("roster", parents=[common], help="export a cycle's award roster")
    roster.add_argument("--cycle", required=True)
    roster.add_argument("--format", choices=["csv", "xlsx", "html", "pdf"], default="csv",
                        help="csv (Excel in an Indonesian locale), xlsx (recommended for Excel: codes stay text, "
                             "printable with page numbers), html, or pdf (A4, with headless Chromium)")
    roster.add_argument("--out")

    report = sub.add_parser("report", parents=[common], help="write a cycle's report and region cards (HTML)")
    report.add_argument("--cycle", required=True)
    report.add_argument("--pdf", action="store_true",
                        help="also print the cycle report and the award roster as A4 PDF (headless Chromium)")
    report.add_argument("--screenshot", action="store_true",
                        help="also a PNG of the cycle report and of the first region card (headless Chromium)")

    status = sub.add_parser("status", parents=[common],
                            help="per cycle: current release, last run, bundles waiting, rejected/late, next run")
    status.add_argument("--cycle")

    load = sub.add_parser("load-warehouse", parents=[common],
                          help="load a cycle's current release into PostgreSQL (schema pekppp)")
    load.add_argument("--cycle", required=True)
    load.add_argument("--dsn", help="postgresql://user@host:port/database (default $PEKPPP_WAREHOUSE_DSN)")

    export = sub.add_parser("export", parents=[common],
                            help="one table of a cycle as a past (or the newest) release published it")
    export.add_argument("--table", required=True)
    export.add_argument("--cycle", required=True)
    export.add_argument("--release", help="release id (default: the newest); see _releases/<cycle>/")
    export.add_argument("--out", required=True, help="a .parquet or .csv file")

    sql = sub.add_parser("sql", parents=[common], help="a SQL query on the warehouse's DuckDB views")
    sql.add_argument("query")
    sql.add_argument("--db", help="the DuckDB file (default <warehouse>.duckdb, as `pekppp demo` writes it)")
    sql.add_argument("--rows", type=int, default=40, help="rows to print (default 40)")

    alerts = sub.add_parser("alerts", help="notify on failed or missing nightly runs (Prefect automations)")
    alerts.add_argument("--webhook", help="URL a Custom Webhook block POSTs {subject, body, text} to (created or "
                                          "overwritten); without it an existing block is used")
    alerts.add_argument("--block", help="the notification block, <block-type-slug>/<name> (default "
                                        "$PEKPPP_ALERT_BLOCK or custom-webhook/pekppp-alerts)")
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo, "generate": cmd_generate, "run": cmd_run, "rerun": cmd_rerun, "validate": cmd_validate,
    "roster": cmd_roster, "report": cmd_report, "status": cmd_status, "alerts": cmd_alerts,
    "load-warehouse": cmd_load_warehouse, "export": cmd_export, "sql": cmd_sql,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; maps every failure to one line and an exit code."""
    from flows.rosters import RosterError
    from flows.storage import WarehouseError
    from transforms.methodology import MethodologyError

    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return int(exit_.code or 0) and EXIT_USAGE
    try:
        return COMMANDS[args.command](args)
    except UsageError as err:
        print(f"pekppp {args.command}: {err}", file=sys.stderr)
        return EXIT_USAGE
    except (MethodologyError, WarehouseError, RosterError) as err:
        print(f"pekppp {args.command}: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"pekppp {args.command}: interrupted; outputs already published are intact", file=sys.stderr)
        return 130
    except Exception as err:  # the promise: one line, never a traceback
        print(f"pekppp {args.command}: unexpected {type(err).__name__}: {err} "
              "(set PEKPPP_DEBUG=1 for details; please report it)", file=sys.stderr)
        from flows.settings import setting

        if setting("PEKPPP_DEBUG"):
            raise
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
