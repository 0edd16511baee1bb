"""The `pekppp` command line: demo, generate, run, rerun, validate, roster, report.

Errors reach the user as one line (what, where, what to do) and a non-zero exit, never a traceback.
Heavy imports (Prefect, Great Expectations) happen inside the commands that need them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

EXIT_OK, EXIT_REJECTED, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
TASK_RUNNER_HELP = "threads, threads:N or dask://host:port (default $PEKPPP_TASK_RUNNER or threads)"


class UsageError(Exception):
    """Arguments that cannot be used; exit code 2."""


def _prepare_prefect() -> None:
    """Prefect's embedded mode needs a home and patience; set both unless the operator did."""
    os.environ.setdefault("PREFECT_HOME", str(Path(tempfile.gettempdir()) / "pekppp-prefect"))
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")  # no internet to send it to
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
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
                      f"award {c['award']}): {s['diff']}")
        else:
            print(f"  nothing new: no release published; readers still see {s['current_release'] or 'no release yet'}")
        for r in s["rejections"][:10]:
            print(f"  not used: {r['region']}/{r['bundle']} [{r['status']}] {r['reason']}")
        if len(s["rejections"]) > 10:
            print(f"  ... and {len(s['rejections']) - 10} more (table validation_issues)")
    print(f"outputs: {warehouse}/<table>/cycle=<C>/  (releases: {warehouse}/_releases/)")


def cmd_generate(args: argparse.Namespace) -> int:
    from flows.generate import generate_cycle
    from flows.settings import load_methodology

    methodology = load_methodology(args.cycle)
    out = Path(args.out)

    def progress(done: int, total: int) -> None:
        print(f"\rgenerating {args.cycle}: region {done}/{total}", end="", file=sys.stderr, flush=True)

    summary = generate_cycle(args.cycle, out, regions=args.regions, units=args.units, respondents=args.respondents,
                             seed=args.seed, bad_rate=args.bad_rate, methodology=methodology,
                             national=args.national, progress=progress)
    print(file=sys.stderr)
    print(summary)
    return EXIT_OK


def _start_server_while_warming_up() -> None:
    """Start Prefect's local server on a thread while this one imports Great Expectations.

    Both take seconds and neither needs the other: the server is a subprocess that the main process
    only polls until it answers, GE's import is Python work here. Without this, a new process paid
    them one after the other (~7 s server, then ~5 s GE at the first validation). The server object
    is the one Prefect's client uses in local mode (one per process), so the flow finds it running;
    if starting it failed, the flow's client starts it again and reports the error itself. Nothing
    to overlap when the operator points PREFECT_API_URL at a running server: GE is then imported at
    the first validation, as before, so a run with nothing new does not import it at all.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_ENABLED

    if PREFECT_API_URL.value() or not PREFECT_SERVER_EPHEMERAL_ENABLED.value():
        return
    from expectations.runner import warm_up

    def start() -> None:
        with contextlib.suppress(Exception):  # the flow's client retries and reports (see above)
            SubprocessASGIServer().start()

    starting = threading.Thread(target=start, name="pekppp-prefect-server-start")
    starting.start()
    try:
        warm_up()
    finally:
        starting.join()


def _run_flow(args: argparse.Namespace, flow_name: str) -> int:
    """Run `nightly` or `rerun-cycle` on Prefect's local mode and print what it did."""
    _prepare_prefect()
    from flows import nightly as flows_module

    _start_server_while_warming_up()
    places = _places(args)
    flow = flows_module.nightly if flow_name == "nightly" else flows_module.rerun_cycle
    try:
        summaries = flow(cycle=args.cycle, landing=str(places.landing), warehouse=str(places.warehouse),
                         task_runner=args.task_runner)
    except flows_module.TaskRunnerError as err:
        raise UsageError(str(err)) from err
    _print_summaries(summaries, places.warehouse)
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    return _run_flow(args, "nightly")


def cmd_rerun(args: argparse.Namespace) -> int:
    return _run_flow(args, "rerun-cycle")


def _infer_cycle_region(path: Path, cycle: str | None, region: str | None) -> tuple[str, str]:
    """Take cycle and region from `<cycle>/<region>/<bundle>` when not given."""
    parts = path.resolve().parts
    cycle = cycle or (parts[-3] if len(parts) >= 3 else None)
    region = region or (parts[-2] if len(parts) >= 2 else None)
    if not cycle or not region:
        raise UsageError("cannot tell the cycle and region from the path; pass --cycle and --region")
    return cycle, region


def cmd_validate(args: argparse.Namespace) -> int:
    from flows.ingest import check_bundle
    from flows.settings import load_methodology

    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path} does not exist; give a bundle folder or .zip")
    cycle, region = _infer_cycle_region(path, args.cycle, args.region)
    methodology = load_methodology(cycle)
    checked = check_bundle(path, methodology, region)
    for row in checked.issues.iter_rows(named=True):
        where = row["table"] + (f" row {row['row']}" if row["row"] is not None else "") + \
            (f" column {row['column']}" if row["column"] else "")
        value = f" value {row['value']!r}" if row["value"] is not None else ""
        print(f"{row['severity']:8} {where}:{value} [{row['rule']}] {row['message']}")
    if checked.issues.height:
        from expectations.report import bundle_report_markdown
        from flows.ingest import region_name

        print()
        print(bundle_report_markdown(checked.issues, cycle=cycle, region_code=region, region_name=region_name(region),
                                     bundle=path.name, submission_id="(not submitted)",
                                     status="rejected" if checked.rejected else "accepted", reason=checked.reason))
    verdict = "REJECTED: " + (checked.reason or "") if checked.rejected else "ACCEPTED"
    print(f"{path} (cycle {cycle}, region {region}): {verdict}; {checked.issues.height} issue(s)")
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
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    _prepare_prefect()
    from flows.demo import run_demo

    _start_server_while_warming_up()
    places = _places(args)
    summaries, database = run_demo(places)
    _print_summaries(summaries, places.warehouse)
    print(f"DuckDB: {database} (one view per table; e.g. duckdb {database} "
          "\"select cycle, predicate, count(*) from unit_scores group by all\")")
    print(f"reports: {places.reports}/<cycle>/laporan_<cycle>.html, region cards in wilayah/, rosters beside them")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pekppp", description="PEKPPP public-service evaluation pipeline")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--landing", help="landing zone (default data/landing or $PEKPPP_LANDING)")
    common.add_argument("--warehouse", help="warehouse (default data/warehouse or $PEKPPP_WAREHOUSE)")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("demo", parents=[common], help="generate a synthetic cycle, run the nightly flow, summarise")

    gen = sub.add_parser("generate", parents=[common], help="write synthetic submissions")
    gen.add_argument("--cycle", required=True)
    gen.add_argument("--out", required=True)
    gen.add_argument("--regions", type=int, default=6)
    gen.add_argument("--units", type=int, default=8, help="units per region")
    gen.add_argument("--respondents", type=int, default=30, help="survey respondents per unit (about)")
    gen.add_argument("--seed", type=int, default=2024)
    gen.add_argument("--bad-rate", type=float, default=0.0)
    gen.add_argument("--national", action="store_true", help="every province and kabupaten/kota")

    run = sub.add_parser("run", parents=[common], help="the nightly job, once")
    run.add_argument("--cycle")
    run.add_argument("--task-runner", help=TASK_RUNNER_HELP)

    rerun = sub.add_parser("rerun", parents=[common], help="recompute a past cycle from its kept bundles")
    rerun.add_argument("--cycle", required=True)
    rerun.add_argument("--task-runner", help=TASK_RUNNER_HELP)

    val = sub.add_parser("validate", parents=[common], help="check one bundle offline")
    val.add_argument("path")
    val.add_argument("--cycle")
    val.add_argument("--region")

    roster = sub.add_parser("roster", parents=[common], help="export a cycle's award roster")
    roster.add_argument("--cycle", required=True)
    roster.add_argument("--format", choices=["csv", "xlsx", "html"], default="csv")
    roster.add_argument("--out")

    report = sub.add_parser("report", parents=[common], help="write a cycle's report and region cards (HTML)")
    report.add_argument("--cycle", required=True)
    return parser


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "demo": cmd_demo, "generate": cmd_generate, "run": cmd_run, "rerun": cmd_rerun, "validate": cmd_validate,
    "roster": cmd_roster, "report": cmd_report,
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
        if os.environ.get("PEKPPP_DEBUG"):
            raise
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
