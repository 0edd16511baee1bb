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
    assert "ACCEPTED" in capsys.readouterr().out


def test_validate_rejects_a_bundle_without_evaluations(landing: Path, tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    source = bundles(landing)[0]
    broken = tmp_path / "2024" / source.parent.name / source.name
    shutil.copytree(source, broken)
    (broken / "evaluations.csv").unlink()
    assert main(["validate", str(broken)]) == EXIT_REJECTED
    out = capsys.readouterr().out
    assert "REJECTED" in out and "missing_table" in out and "evaluations" in out


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
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.cli import local_prefect

    configured = "http://127.0.0.1:9/api"
    with temporary_settings(updates={PREFECT_API_URL: configured}), local_prefect(warm_up_ge=False):
        assert PREFECT_API_URL.value() == configured


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
