"""Integration: prefect.yaml deployed on a real Prefect server and run by a real process worker.

Starts `prefect server start` on a free loopback port with its own PREFECT_HOME, creates the process
work pool, runs `prefect --no-prompt deploy --all` from the repository root, starts a worker, triggers
`nightly` and then `rerun-cycle` over a small generated cycle the way an operator would, and waits for
both to complete. Server and worker are stopped (their whole process groups) whatever happens.

Run with `make test-server` (pytest -m server); it takes a few minutes on a small machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pytest

from flows.generate import generate_cycle
from flows.settings import PROJECT_ROOT, load_methodology
from transforms.schemas import OUTPUT_TABLES

pytestmark = [pytest.mark.server, pytest.mark.slow]

PREFECT = str(Path(sys.executable).with_name("prefect"))
POOL = "pekppp-process"
SERVER_START_TIMEOUT = 240
RUN_TIMEOUT = 600


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"({path.name}: no output)"
    return f"--- {path.name} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@contextlib.contextmanager
def background(command: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A long-running process in its own process group, killed with all its children on exit."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=PROJECT_ROOT, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            yield process
        finally:
            for sig, grace in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, sig)
                try:
                    process.wait(timeout=grace)
                    break
                except subprocess.TimeoutExpired:
                    continue
            with contextlib.suppress(ProcessLookupError):  # children that outlived their leader
                os.killpg(process.pid, signal.SIGKILL)


def prefect(*args: str, env: dict[str, str], timeout: float = 300) -> str:
    done = subprocess.run([PREFECT, *args], env=env, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"prefect {' '.join(args)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done.stdout


def wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited ({server.returncode})\n{tail(log)}"
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            if response.status == 200:
                return
        time.sleep(1)
    pytest.fail(f"prefect server not healthy after {SERVER_START_TIMEOUT} s\n{tail(log)}")


def wait_finished(client, flow_run_id: UUID, logs: list[Path]):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        run = client.read_flow_run(flow_run_id)
        if run.state is not None and run.state.is_final():
            return run
        time.sleep(2)
    pytest.fail(f"flow run {flow_run_id} not finished after {RUN_TIMEOUT} s\n" + "\n".join(tail(p) for p in logs))


def created_run(output: str) -> UUID:
    found = re.search(r"UUID: ([0-9a-f-]{36})", output)
    assert found, output
    return UUID(found.group(1))


def test_deployments_run_on_a_real_server_and_process_worker(tmp_path: Path) -> None:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse"
    generate_cycle("2024", landing, regions=3, units=2, respondents=20, seed=5, bad_rate=0.0,
                   methodology=load_methodology("2024"))
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "PEKPPP_"))}
    env.update(PREFECT_HOME=str(tmp_path / "prefect-home"), PREFECT_API_URL=api,
               PREFECT_SERVER_ANALYTICS_ENABLED="false", PREFECT_UI_ENABLED="false",
               PREFECT_LOGGING_LEVEL="INFO", PREFECT_WORKER_QUERY_SECONDS="2",
               PEKPPP_PROJECT_DIR=str(PROJECT_ROOT))
    server_log, worker_log = tmp_path / "server.log", tmp_path / "worker.log"

    with background([PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)], env,
                    server_log) as server:
        wait_healthy(api, server, server_log)
        prefect("work-pool", "create", POOL, "--type", "process", env=env)
        prefect("--no-prompt", "deploy", "--all", env=env)

        with temporary_settings(updates={PREFECT_API_URL: api}), get_client(sync_client=True) as client:
            nightly = client.read_deployment_by_name("nightly/nightly")
            rerun = client.read_deployment_by_name("rerun-cycle/rerun-cycle")
            schedule = nightly.schedules[0].schedule
            assert (schedule.cron, schedule.timezone) == ("0 1 * * *", "Asia/Jakarta")
            for deployment in (nightly, rerun):  # one run at a time; the next one waits its turn
                assert deployment.global_concurrency_limit.limit == 1, deployment.name
                assert deployment.concurrency_options.collision_strategy.value == "ENQUEUE", deployment.name
            assert nightly.work_pool_name == rerun.work_pool_name == POOL
            assert rerun.parameter_openapi_schema["required"] == ["cycle"]
            assert rerun.parameter_openapi_schema["properties"]["cycle"]["type"] == "string"
            step = nightly.pull_steps[0]["prefect.deployments.steps.set_working_directory"]
            assert step["directory"] == str(PROJECT_ROOT)  # {{ $PEKPPP_PROJECT_DIR }} was filled at deploy time

            with background([PREFECT, "worker", "start", "--pool", POOL], env, worker_log):
                logs = [worker_log, server_log]
                first = created_run(prefect("deployment", "run", "nightly/nightly", "--param", f"landing={landing}",
                                            "--param", f"warehouse={warehouse}", env=env))
                run = wait_finished(client, first, logs)
                assert run.state.is_completed(), f"nightly ended {run.state.name}: {run.state.message}\n" + \
                    "\n".join(tail(p) for p in logs)
                current = json.loads((warehouse / "_releases" / "2024" / "current.json").read_text())
                manifest = json.loads((warehouse / "_releases" / "2024" / current["manifest"]).read_text())
                assert set(manifest["tables"]) == set(OUTPUT_TABLES) and len(manifest["submissions_used"]) == 3
                artifacts = client.read_artifacts(
                    artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[first])))
                assert {"nightly-summary", "nightly-not-used"} <= {a.key for a in artifacts}

                second = created_run(prefect("deployment", "run", "rerun-cycle/rerun-cycle", "--params",
                                             json.dumps({"cycle": "2024", "landing": str(landing),
                                                         "warehouse": str(warehouse)}), env=env))
                run = wait_finished(client, second, logs)
                assert run.state.is_completed(), f"rerun-cycle ended {run.state.name}: {run.state.message}\n" + \
                    "\n".join(tail(p) for p in logs)
                again = json.loads((warehouse / "_releases" / "2024" / "current.json").read_text())
                assert again["release_id"] != current["release_id"]
                rerun_manifest = json.loads((warehouse / "_releases" / "2024" / again["manifest"]).read_text())
                for table in OUTPUT_TABLES:
                    assert rerun_manifest["tables"][table]["content_sha256"] == \
                        manifest["tables"][table]["content_sha256"], table
