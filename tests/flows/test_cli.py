"""The command line: exit codes and one-line errors, on real generated bundles."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import EXIT_ERROR, EXIT_OK, EXIT_REJECTED, EXIT_USAGE, main
from flows.generate import generate_cycle
from flows.settings import PROJECT_ROOT, load_methodology


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli") / "landing"
    generate_cycle("2024", root, regions=2, units=3, respondents=20, seed=3, methodology=load_methodology("2024"))
    return root


def bundles(landing: Path) -> list[Path]:
    return sorted(p for p in (landing / "2024").glob("*/*") if p.is_dir())


def test_validate_accepts_a_good_bundle(landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(bundles(landing)[0])]) == EXIT_OK
    assert capsys.readouterr().out.startswith("DITERIMA")


def test_validate_rejects_a_bundle_without_evaluations(landing: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = bundles(landing)[0]
    broken = tmp_path / "2024" / source.parent.name / source.name
    shutil.copytree(source, broken)
    (broken / "evaluations.csv").unlink()
    assert main(["validate", str(broken), "--report-dir", str(tmp_path / "report")]) == EXIT_REJECTED
    out = capsys.readouterr().out
    assert out.startswith("DITOLAK") and "missing_table" in out and "evaluations" in out


def _spoilt(source: Path, target: Path) -> Path:
    """A copy of a bundle without evaluations, with a bad unit type, one blank survey unit_id on two rows
    of the same respondent id, and seven survey answers out of range."""
    shutil.copytree(source, target)
    (target / "evaluations.csv").unlink()
    units = (target / "units.csv").read_text(encoding="utf-8").splitlines()
    head, first = units[0].split(","), units[1].split(",")
    first[head.index("unit_type")] = "XYZ"
    (target / "units.csv").write_text("\n".join([units[0], ",".join(first), *units[2:]]) + "\n", encoding="utf-8")
    survey = (target / "skm_responses.csv").read_text(encoding="utf-8").splitlines()
    head = survey[0].split(",")
    rows = [line.split(",") for line in survey[1:]]
    for n in (2, 3):  # rows 4 and 5 of the file: no unit, the same respondent
        rows[n][head.index("unit_id")] = ""
        rows[n][head.index("respondent_id")] = "R-9999"
    for n in range(5, 12):  # rows 7..13: an answer of 9
        rows[n][head.index("prosedur")] = "9"
    (target / "skm_responses.csv").write_text("\n".join([survey[0], *(",".join(r) for r in rows)]) + "\n",
                                              encoding="utf-8")
    return target


def test_validate_is_one_round_trip(landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Verdict first with counts; every readable table's problems although a table is missing, grouped by
    table and rule, rows in order, capped; the officer's pages written and named."""
    source = bundles(landing)[0]
    broken = _spoilt(source, tmp_path / "2024" / source.parent.name / source.name)
    report = tmp_path / "laporan"
    assert main(["validate", str(broken), "--report-dir", str(report)]) == EXIT_REJECTED
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("DITOLAK")
    assert "critical" in lines[2] and "row problems" in lines[2]
    # every problem of every table that could be read, though evaluations is missing
    for rule in ("missing_table", "unit_type_allowed", "answer_range", "not_null"):
        assert f"] {rule}" in out, rule
    # the blank unit_id is reported once (not_null), not also as a repeated respondent
    assert "unique_respondent" not in out
    # grouped by table in the contract's order, rows in order, five shown of seven
    assert out.index("units (") < out.index("evaluations (") < out.index("skm_responses (")
    answer = out[out.index("] answer_range"):].splitlines()
    assert answer[1].strip().startswith("Jawaban 9 untuk unsur prosedur")  # Bahasa Indonesia first
    assert answer[2].strip().startswith("EN: Row 7 of skm_responses")  # the English message beside
    assert [line.split()[1] for line in answer[3:8]] == ["7", "8", "9", "10", "11"]
    assert answer[8].strip().startswith("… 2 lagi (more): baris 7-13")
    assert f"laporan (report): {report / 'report.html'}" in out
    html_page = (report / "report.html").read_text(encoding="utf-8")
    assert "DITOLAK" in html_page and "answer_range" in html_page and "unit_type_allowed" in html_page
    assert "answer_range" in (report / "report.md").read_text(encoding="utf-8")

    assert main(["validate", str(broken), "--report-dir", str(report), "--all", "--lang", "en"]) == EXIT_REJECTED
    answer = capsys.readouterr().out.split("] answer_range")[1].splitlines()
    assert answer[1].strip().startswith("Row 7 of skm_responses")  # English alone
    assert [line.split()[1] for line in answer[2:9]] == [str(n) for n in range(7, 14)]
    assert "more" not in answer[9]


def test_validate_writes_its_report_to_a_temp_folder_by_default(landing: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    bundle = bundles(landing)[0]
    assert main(["validate", str(bundle)]) == EXIT_OK
    expected = tmp_path / "pekppp-validate" / "2024" / bundle.parent.name / bundle.name / "report.html"
    assert f"laporan (report): {expected}" in capsys.readouterr().out
    assert expected.is_file()
    assert not any(p.name.startswith("report") for p in bundle.parent.rglob("*"))  # the landing zone untouched


def test_validate_with_region_of_another_bundle_is_rejected(landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = bundles(landing)[:2]
    assert main(["validate", str(first), "--region", second.parent.name]) == EXIT_REJECTED
    assert "region_ownership" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["validate", "/no/such/bundle"], ["validate"], ["frobnicate"]])
def test_unusable_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == EXIT_USAGE


def test_unknown_cycle_is_one_clear_line(landing: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(bundles(landing)[0]), "--cycle", "1999"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "no methodology for cycle '1999'" in err[0]


def test_roster_without_release_is_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roster", "--cycle", "2024", "--warehouse", str(tmp_path / "wh")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no published release" in err[0] and "Traceback" not in err[0]


def test_console_script_runs_from_any_directory(tmp_path: Path) -> None:
    """Methodology and reference data are found beside the code, not in the working directory."""
    script = Path(sys.executable).parent / "pekppp"
    out = tmp_path / "gen"
    done = subprocess.run([str(script), "generate", "--cycle", "2023", "--out", str(out), "--regions", "1",
                           "--units", "2", "--respondents", "5"], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert list((out / "2023").glob("*/*/units.csv"))
    assert tmp_path != PROJECT_ROOT


@pytest.mark.slow
def test_run_in_a_new_process_on_local_mode(landing: Path, tmp_path: Path) -> None:
    """`pekppp run` as cron starts it: its own Prefect server (started while the flows and GE are
    imported), the nightly flow recorded on that server, a release published, the summary printed, and
    the server gone when the command ends."""
    import os

    script = Path(sys.executable).parent / "pekppp"
    warehouse = tmp_path / "wh"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API")}
    env["PREFECT_HOME"] = str(tmp_path / "prefect")
    done = subprocess.run([str(script), "run", "--cycle", "2024", "--landing", str(landing),
                           "--warehouse", str(warehouse)], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert "2 bundles seen, 2 new: 2 accepted" in done.stdout
    assert list((warehouse / "_releases" / "2024").glob("*.json"))
    import sqlite3

    with sqlite3.connect(tmp_path / "prefect" / "prefect.db") as db:
        runs = db.execute("select f.name, r.state_type from flow_run r join flow f on f.id = r.flow_id").fetchall()
    assert ("nightly", "COMPLETED") in runs and ("process-cycle", "COMPLETED") in runs
    assert (tmp_path / "prefect" / "pekppp-server.log").exists()
    assert not _processes_with_env(f"PREFECT_HOME={tmp_path / 'prefect'}"), "the local server outlived the command"


def _processes_with_env(entry: str) -> list[int]:
    """Processes whose environment holds `entry` (Linux /proc; processes we may not read are skipped)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if entry.encode() in environ.read_bytes().split(b"\0"):
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def test_a_configured_prefect_server_is_used_and_none_is_started() -> None:
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    from flows.cli import local_prefect

    configured = "http://127.0.0.1:9/api"
    with temporary_settings(updates={PREFECT_API_URL: configured}), local_prefect(warm_up_ge=False):
        assert PREFECT_API_URL.value() == configured
        assert get_current_settings().flows.heartbeat_frequency == 180  # a lasting server may watch them


@pytest.mark.slow
def test_the_command_s_own_server_gets_no_flow_run_heartbeats(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Heartbeats let a lasting server find crashed runs; a command's own server stops with it, and each flow
    run's end waited up to a second for the heartbeat thread (1.7 s of a one-bundle nightly's 16 s)."""
    from prefect.settings import PREFECT_API_URL, PREFECT_HOME, get_current_settings, temporary_settings

    from flows.cli import local_prefect

    with temporary_settings(updates={PREFECT_API_URL: None, PREFECT_HOME: str(tmp_path / "prefect")}), \
            local_prefect(warm_up_ge=False):
        assert PREFECT_API_URL.value().startswith("http://127.0.0.1:")
        assert get_current_settings().flows.heartbeat_frequency is None
    assert get_current_settings().flows.heartbeat_frequency == 180


def test_rerun_of_a_cycle_never_ingested_is_one_line_naming_what_to_run(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerun", "--cycle", "2023", "--warehouse", str(tmp_path / "wh")]) == EXIT_USAGE
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in captured.err and not captured.out
    assert err[0].startswith("pekppp rerun: cycle 2023 has no stored submissions to re-run")
    assert """prefect deployment run nightly/nightly --params '{"cycle": "2023"}'""" in err[0]


def test_status_without_a_server_names_every_part(landing: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["status", "--landing", str(landing), "--warehouse", str(tmp_path / "wh")]) == EXIT_OK
    out = capsys.readouterr().out
    assert "cycle 2024 [open]" in out and "cycle 2023" not in out  # 2023: closed, nothing of it anywhere
    assert f"bundles   {len(bundles(landing))} waiting in the landing zone; 0 received" in out
    assert "release   none published yet" in out and "last run  none recorded" in out
    assert out.rstrip().splitlines()[-1].startswith("next nightly: no Prefect server configured")


def test_alerts_need_a_server(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    assert main(["alerts", "--webhook", "http://127.0.0.1:9/hook"]) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "set PREFECT_API_URL" in err[0]


def test_generate_refuses_a_size_the_pipeline_would_refuse_before_writing(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["generate", "--cycle", "2024", "--out", str(tmp_path / "big"), "--regions", "40", "--units", "1500",
            "--respondents", "150000"]
    assert main(argv) == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "225,000,000 rows (1,500 units x 150,000 respondents)" in err[0]
    assert "PEKPPP_TABLE_MAX_ROWS" in err[0] and not (tmp_path / "big").exists()


def test_generate_help_explains_every_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["generate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--cycle", "--out", "--regions", "--units", "--respondents", "--seed", "--bad-rate", "--national",
                   "--landing", "--warehouse"):
        assert option in text, option
    assert "default: --landing" in text and "deliberately bad bundles" in text


def test_generate_progress_in_a_log_ends_its_lines(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "flows.cli", "generate", "--cycle", "2024", "--regions", "3",
                           "--units", "2", "--respondents", "5", "--landing", str(tmp_path / "landing")],
                          capture_output=True, text=True, cwd=PROJECT_ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr and done.stderr.splitlines()[-1] == "generating 2024: region 3/3"
    assert (tmp_path / "landing" / "2024").is_dir() and done.stdout.startswith("cycle 2024: 3 bundles in")
