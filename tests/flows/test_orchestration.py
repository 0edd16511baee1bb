"""Orchestration: deployments load, runs are incremental and say so, tasks retry only I/O, the cycle lock
holds across processes, and the Dask task runner publishes exactly what the default thread pool does.

The first group needs no Prefect server; the second runs the real flows on Prefect's local mode, once
over a small generated open cycle (2024) and closed cycle (2023).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml
from prefect import Flow
from prefect.flows import load_flow_from_entrypoint
from prefect.utilities.callables import parameter_schema

import flows.chunked_ingest as chunked_ingest_module
import flows.nightly as nightly_module
from flows.generate import generate_cycle
from flows.ingest import discover
from flows.locks import CycleLocked, cycle_lock, lock_path
from flows.nightly import (
    NOTHING_NEW,
    PUBLISHED,
    IngestFailed,
    nightly,
    open_cycles,
    rerun_cycle,
)
from flows.operations import last_run, status_lines
from flows.settings import PROJECT_ROOT, Places, load_methodology
from transforms.schemas import OUTPUT_TABLES

PREFECT_YAML = PROJECT_ROOT / "prefect.yaml"


def deployments() -> dict[str, dict]:
    return {d["name"]: d for d in yaml.safe_load(PREFECT_YAML.read_text())["deployments"]}


# ---------------------------------------------------------------- without a server


def test_every_prefect_yaml_entrypoint_imports_as_a_flow() -> None:
    names = {}
    for name, deployment in deployments().items():
        path, _, function = deployment["entrypoint"].partition(":")
        assert (PROJECT_ROOT / path).is_file(), deployment["entrypoint"]
        loaded = load_flow_from_entrypoint(f"{PROJECT_ROOT / path}:{function}")
        assert isinstance(loaded, Flow), name
        names[name] = loaded.name
    # operators address deployments as <flow>/<deployment>: nightly/nightly, rerun-cycle/rerun-cycle
    assert names == {"nightly": "nightly", "rerun-cycle": "rerun-cycle"}


def test_nightly_runs_at_1am_jakarta_one_run_at_a_time_on_a_process_pool() -> None:
    found = deployments()
    nightly_deployment = found["nightly"]
    assert [(s["cron"], s["timezone"], s.get("active", True)) for s in nightly_deployment["schedules"]] == \
        [("0 1 * * *", "Asia/Jakarta", True)]
    for deployment in found.values():
        assert deployment["concurrency_limit"]["limit"] == 1, deployment["name"]
        assert deployment["work_pool"]["name"] == "pekppp-process", deployment["name"]
    assert "schedules" not in found["rerun-cycle"]


def test_rerun_cycle_requires_a_string_cycle() -> None:
    schema = parameter_schema(rerun_cycle.fn).model_dump()
    assert schema["required"] == ["cycle"]
    assert schema["properties"]["cycle"]["type"] == "string"
    assert "cycle" not in deployments()["rerun-cycle"].get("parameters", {})  # no silent default cycle
    assert not parameter_schema(nightly.fn).model_dump().get("required")  # the schedule passes nothing


HOLDER = """
import sys, time
from pathlib import Path
from flows.locks import cycle_lock
with cycle_lock(Path(sys.argv[1]), sys.argv[2], wait_seconds=float(sys.argv[3])):
    with open(sys.argv[4], "a") as log:
        log.write(f"in {time.monotonic()}\\n")
    print("held", flush=True)
    if sys.argv[5] == "stdin":
        sys.stdin.read()  # hold until the parent closes our stdin
    else:
        time.sleep(float(sys.argv[5]))
    with open(sys.argv[4], "a") as log:
        log.write(f"out {time.monotonic()}\\n")
"""


def start_holder(warehouse: Path, log: Path, hold: str = "stdin", wait: float = 0,
                 cycle: str = "2024") -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", HOLDER, str(warehouse), cycle, str(wait), str(log), hold],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=PROJECT_ROOT)


def test_two_processes_cannot_hold_a_cycle_lock_at_once(tmp_path: Path) -> None:
    log = tmp_path / "holders.log"
    holders = [start_holder(tmp_path, log, hold="0.4", wait=60) for _ in range(3)]
    for holder in holders:
        assert holder.wait(timeout=60) == 0
    events = [line.split() for line in log.read_text().splitlines()]
    assert [kind for kind, _ in events] == ["in", "out"] * 3  # never two "in" without an "out" between
    stamps = [float(t) for _, t in events]
    assert stamps == sorted(stamps)


def test_a_busy_cycle_lock_names_its_holder_and_frees_when_the_holder_ends(tmp_path: Path) -> None:
    holder = start_holder(tmp_path, tmp_path / "log")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        waited: list[str] = []
        with pytest.raises(CycleLocked) as busy, cycle_lock(tmp_path, "2024", wait_seconds=0.5, on_wait=waited.append):
            pytest.fail("the lock was taken while another process held it")
        message = str(busy.value)
        assert "\n" not in message
        assert f"pid {holder.pid}" in message and str(lock_path(tmp_path, "2024")) in message
        assert waited and f"pid {holder.pid}" in waited[0]
        with cycle_lock(tmp_path, "2023", wait_seconds=0):  # other cycles are not blocked
            pass
        threading.Timer(1.0, holder.stdin.close).start()  # type: ignore[union-attr]
        started = time.monotonic()
        with cycle_lock(tmp_path, "2024", wait_seconds=30):  # waits for the holder, then gets it
            assert time.monotonic() - started >= 0.5
            assert f"pid {os.getpid()}" in lock_path(tmp_path, "2024").read_text()
    finally:
        holder.kill()
        holder.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    holder = start_holder(tmp_path, tmp_path / "log")
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    with cycle_lock(tmp_path, "2024", wait_seconds=0):
        pass


# ---------------------------------------------------------------- real flows on Prefect's local mode


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An open cycle (2024, with bad bundles) and a closed one (2023) in one landing zone."""
    root = tmp_path_factory.mktemp("landing")
    generate_cycle("2024", root, regions=4, units=3, respondents=30, seed=11, bad_rate=0.25,
                   methodology=load_methodology("2024"))
    generate_cycle("2023", root, regions=2, units=2, respondents=20, seed=12, methodology=load_methodology("2023"))
    return root


def run(flow_fn, tmp: Path, landing: Path, **kwargs) -> tuple[list[dict], object]:  # type: ignore[no-untyped-def]
    state = flow_fn(landing=str(landing), warehouse=str(tmp / "warehouse"), return_state=True, **kwargs)
    return state.result(), state


def latest_artifact(key: str):  # type: ignore[no-untyped-def]
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
                                      sort=ArtifactSort.CREATED_DESC, limit=1)
    assert found, key
    return found[0]


def manifest_of(warehouse: Path, cycle: str) -> dict:
    current = json.loads((warehouse / "_releases" / cycle / "current.json").read_text())
    return json.loads((warehouse / "_releases" / cycle / current["manifest"]).read_text())


@pytest.mark.slow
def test_nightly_runs_open_cycles_only_and_says_when_nothing_is_new(prefect_local, landing: Path,
                                                                    tmp_path: Path) -> None:
    assert open_cycles() == ["2024"]
    summaries, state = run(nightly, tmp_path, landing)
    assert [s["cycle"] for s in summaries] == ["2024"]
    first = summaries[0]
    assert first["outcome"] == PUBLISHED and first["release_id"] and first["current_release"] == first["release_id"]
    assert f"published release {first['release_id']}" in first["message"]
    assert not (tmp_path / "warehouse" / "_ledger" / "2023.parquet").exists()  # closed: not run unless asked

    not_used = latest_artifact("nightly-not-used-2024")  # one key per cycle
    assert not_used.flow_run_id == state.state_details.flow_run_id
    rows = json.loads(not_used.data)
    assert [r["status"] for r in rows] == ["rejected"] * first["rejected"] and first["rejected"] >= 1
    assert all(r["reason"] for r in rows)
    assert all(isinstance(r["n_issues"], int) and r["n_issues"] >= 1 for r in rows)  # numbers, not text
    for r in rows:  # each rejected bundle links to its officer's report, which exists
        assert Path(urlparse(r["officer_report"]).path).is_file(), r
    summary = latest_artifact("nightly-summary-2024").data
    assert first["message"] in summary
    links = dict(re.findall(r"\[([^\]]+)\]\((file://[^)]+)\)", summary))
    assert Path(urlparse(links[Path(first["manifest"]).name]).path) == Path(first["manifest"])
    assert Path(urlparse(links["laporan_2024.html"]).path).is_file()
    assert sum(name == "report.html" for name in re.findall(r"\[(report\.html)\]", summary)) == first["rejected"]
    report_link = re.search(r"\((file://[^)]+)\)", latest_artifact("nightly-report-2024").data)
    assert report_link and Path(urlparse(report_link.group(1)).path).name == "laporan_2024.html"
    assert float(latest_artifact("ingest-2024-progress").data) == 100.0
    record = last_run(Places.from_env(landing, tmp_path / "warehouse"), "2024")
    assert record and (record["kind"], record["outcome"], record["release_id"]) == \
        ("nightly", PUBLISHED, first["release_id"])

    again, _ = run(nightly, tmp_path, landing)
    second = again[0]
    assert (second["outcome"], second["bundles_new"], second["release_id"]) == (NOTHING_NEW, 0, None)
    assert second["current_release"] == first["release_id"]
    assert "nothing new" in second["message"] and "no release published" in second["message"]
    assert f"readers still see release {first['release_id']}" in second["message"]
    assert json.loads(latest_artifact("nightly-not-used-2024").data) == []

    closed, _ = run(nightly, tmp_path, landing, cycle="2023")  # a closed cycle when asked
    assert closed[0]["cycle"] == "2023" and closed[0]["outcome"] == PUBLISHED and closed[0]["accepted"] == 2


@pytest.mark.slow
def test_entries_outside_region_folders_are_named_in_the_summary_and_artifacts(prefect_local, landing: Path,
                                                                               tmp_path: Path) -> None:
    """What an office uploaded beside the region folders is never read, and the run says so where people look:
    the summary (and `pekppp run`'s output), the not-used table and the Markdown summary."""
    import shutil

    copy = tmp_path / "landing"
    shutil.copytree(landing, copy)
    (copy / "2024" / "catatan|penting.txt").write_text("not a bundle")
    (copy / "2024" / "_draft").mkdir()
    summaries, _ = run(nightly, tmp_path, copy, cycle="2024")
    strays = {Path(s["entry"]).name: s["why"] for s in summaries[0]["strays"]}
    assert set(strays) == {"catatan|penting.txt", "_draft"}
    assert "bundles go under 2024/<region_code>/" in strays["catatan|penting.txt"]
    rows = [r for r in json.loads(latest_artifact("nightly-not-used-2024").data)
            if r["status"] == "not in a region folder"]
    assert {Path(r["bundle"]).name: r["reason"] for r in rows} == strays
    markdown = latest_artifact("nightly-summary-2024").data
    assert "## Not under a region folder" in markdown and "catatan\\|penting.txt" in markdown


@pytest.mark.slow
def test_ingest_retries_io_failures_and_not_bugs(prefect_local, landing: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = chunked_ingest_module.open_bundle
    calls: dict[str, int] = {}
    failure: list[BaseException] = []

    def flaky_ingest(bundle, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls[bundle.name] = calls.get(bundle.name, 0) + 1
        if failure and (calls[bundle.name] == 1 or not isinstance(failure[0], OSError)):
            raise failure[0]
        return real_open(bundle, *args, **kwargs)

    monkeypatch.setattr(chunked_ingest_module, "open_bundle", flaky_ingest)
    monkeypatch.setattr(chunked_ingest_module, "BUNDLE_RETRY_DELAYS", [0, 0])

    failure[:] = [TypeError("a bug")]
    with pytest.raises(IngestFailed, match="TypeError: a bug") as failed:
        run(nightly, tmp_path, landing, cycle="2024")
    assert "\n" not in str(failed.value) and "nothing was published" in str(failed.value)
    assert calls and set(calls.values()) == {1}  # a bug is not retried
    assert not (tmp_path / "warehouse" / "_releases" / "2024").exists()

    calls.clear()
    failure[:] = [OSError(5, "Input/output error")]
    summaries, _ = run(nightly, tmp_path, landing, cycle="2024")
    assert set(calls.values()) == {2}  # each bundle failed once on I/O, then succeeded on retry
    assert summaries[0]["outcome"] == PUBLISHED and summaries[0]["bundles_new"] == len(calls)


@pytest.mark.slow
def test_a_bug_in_one_report_fails_that_bundle_alone(landing: Path, tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # a chunk's reports are rendered in one batch; when the batch fails, each is rendered alone
    import logging

    import flows.ingest as ingest_module
    from flows.ledger import Ledger

    real_batch = ingest_module.batch_report_pages
    bundles = discover(landing, "2024")
    broken = bundles[0].name

    def batch_with_a_bug(pages):  # type: ignore[no-untyped-def]
        if any(meta["bundle"] == broken for _issues, meta in pages):
            raise TypeError("a bug in one report")
        return real_batch(pages)

    monkeypatch.setattr(ingest_module, "batch_report_pages", batch_with_a_bug)
    monkeypatch.setattr(chunked_ingest_module, "get_run_logger", lambda: logging.getLogger("test"))
    places, methodology = Places.from_env(landing, tmp_path / "warehouse"), load_methodology("2024")
    work = [(n, b, s) for n, (b, s) in enumerate(chunked_ingest_module.new_bundles(bundles, Ledger(places, "2024"),
                                                                                    methodology))]
    kept, failures = chunked_ingest_module.ingest_chunk_task.fn(work, methodology, places, cycle="2024", chunk=0,
                                                                n=len(work))
    assert [(position, str(err)) for position, err in failures] == [(0, "a bug in one report")]
    assert [position for position, _ in kept] == list(range(1, len(work)))
    for _, result in kept:
        entry = result.entry
        assert (places.reports / "2024" / entry.region_code / entry.submission_id / "report.html").is_file()


@pytest.mark.slow
def test_a_locked_cycle_fails_the_run_in_one_line_after_the_other_cycles(prefect_local, landing: Path,
                                                                        tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    warehouse = tmp_path / "warehouse"
    monkeypatch.setattr(nightly_module, "open_cycles", lambda: ["2023", "2024"])
    monkeypatch.setenv("PEKPPP_LOCK_WAIT_SECONDS", "1")
    holder = start_holder(warehouse, tmp_path / "log", cycle="2023")
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        with pytest.raises(CycleLocked) as locked:
            run(nightly, tmp_path, landing)
        message = str(locked.value)
        assert "\n" not in message and message.startswith("cycle 2023 is being processed by another run")
        assert f"pid {holder.pid}" in message and str(lock_path(warehouse, "2023")) in message
        assert not (warehouse / "_ledger" / "2023.parquet").exists()
        assert (warehouse / "_releases" / "2024" / "current.json").exists()  # the other cycle went ahead
        assert "**FAILED**: cycle 2023 is being processed" in latest_artifact("nightly-summary-2023").data
    finally:
        holder.kill()
        holder.wait()
    summaries, _ = run(nightly, tmp_path, landing, cycle="2023")
    assert summaries[0]["outcome"] == PUBLISHED


@pytest.mark.slow
def test_rerun_of_a_cycle_never_ingested_fails_in_one_line_naming_what_to_run(prefect_local, landing: Path,
                                                                              tmp_path: Path) -> None:
    state = rerun_cycle(cycle="2023", landing=str(landing), warehouse=str(tmp_path / "warehouse"),
                        return_state=True)
    assert state.is_failed()
    message = state.message
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("cycle 2023 has no stored submissions to re-run")
    assert """prefect deployment run nightly/nightly --params '{"cycle": "2023"}'""" in message
    assert "pekppp run --cycle 2023" in message
    record = last_run(Places.from_env(landing, tmp_path / "warehouse"), "2023")
    assert record and (record["kind"], record["outcome"], record["message"]) == ("rerun", "failed", message)


@pytest.mark.slow
def test_status_tells_release_last_run_waiting_and_counts(prefect_local, landing: Path, tmp_path: Path) -> None:
    places = Places.from_env(landing, tmp_path / "warehouse")
    before = "\n".join(status_lines(places, "2024", with_server=False))
    waiting = len(discover(landing, "2024"))
    assert waiting >= 4
    assert "release   none published yet" in before and "last run  none recorded" in before
    assert f"bundles   {waiting} waiting in the landing zone; 0 received" in before

    summaries, _ = run(nightly, tmp_path, landing, cycle="2024")
    s = summaries[0]
    after = "\n".join(status_lines(places, "2024", with_server=False))
    manifest = manifest_of(places.warehouse, "2024")
    assert f"release   {s['release_id']}, published {manifest['created_at']}, {s['units']} units" in after
    assert "last run  nightly" in after and f": PUBLISHED: {s['message']}" in after
    assert (f"bundles   0 waiting in the landing zone; {s['bundles_new']} received: {s['accepted']} accepted, "
            f"{s['rejected']} rejected, {s['late']} late") in after
    assert "next nightly: no Prefect server configured" in next_line(places)
    assert "GAP" not in after
    ledger = places.ledger / "2024.parquet"  # as a run killed before its publish leaves it: one bundle more
    import polars as pl

    entries = pl.read_parquet(ledger)
    entries.vstack(entries.head(1).with_columns(submission_id=pl.lit("f" * 64), status=pl.lit("rejected"))) \
        .write_parquet(ledger)
    gap = "\n".join(status_lines(places, "2024", with_server=False))
    assert "GAP       release" in gap and "the next run publishes a repair release" in gap


def next_line(places: Places) -> str:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings(updates={PREFECT_API_URL: None}):
        return status_lines(places, "2024")[-1]


@pytest.mark.slow
def test_dask_runner_publishes_the_same_tables_as_the_thread_pool(prefect_local, landing: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from distributed import Client, LocalCluster, get_task_stream

    monkeypatch.setenv("PEKPPP_INGEST_CHUNK_MB", "0.000001")  # one bundle per chunk, so both workers get some

    threads, _ = run(nightly, tmp_path / "threads", landing, cycle="2024")
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client, get_task_stream(client=client) as stream:
        address = cluster.scheduler_address.replace("tcp://", "dask://")
        on_dask, _ = run(nightly, tmp_path / "dask", landing, cycle="2024", task_runner=address)
    assert len({task["worker"] for task in stream.data}) == 2  # both worker processes ingested bundles
    # one ingest-chunk task per chunk of one bundle each: all ran on Dask
    assert len(stream.data) == threads[0]["bundles_new"]
    assert on_dask[0]["release_id"] != threads[0]["release_id"]
    ignore = {"release_id", "manifest", "current_release", "message", "diff", "diff_against", "changes"}
    assert {k: v for k, v in on_dask[0].items() if k not in ignore} == \
        {k: v for k, v in threads[0].items() if k not in ignore}
    by_threads, by_dask = manifest_of(tmp_path / "threads" / "warehouse", "2024"), \
        manifest_of(tmp_path / "dask" / "warehouse", "2024")
    assert set(by_dask["tables"]) == set(OUTPUT_TABLES)
    for table in OUTPUT_TABLES:
        assert by_dask["tables"][table]["content_sha256"] == by_threads["tables"][table]["content_sha256"], table
    assert by_dask["submissions_used"] == by_threads["submissions_used"]


@pytest.mark.slow
def test_worker_processes_publish_the_same_tables_as_the_threads(prefect_local, landing: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """PEKPPP_INGEST_PROCESSES: every chunk goes to a real spawned worker process, the release is the same."""
    import flows.chunk_pool as chunk_pool_module

    monkeypatch.setenv("PEKPPP_INGEST_CHUNK_MB", "0.000001")  # one bundle per chunk
    threads, _ = run(nightly, tmp_path / "threads", landing, cycle="2024")
    seen: dict[str, object] = {"submitted": 0, "workers": set()}

    class Watched(chunk_pool_module.ProcessPoolExecutor):  # the real pool, counting what reaches it
        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def, override]
            seen["submitted"] = int(seen["submitted"]) + 1  # type: ignore[call-overload]
            return super().submit(fn, *args, **kwargs)

        def shutdown(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            seen["workers"] = set(self._processes or ())  # type: ignore[attr-defined]
            return super().shutdown(*args, **kwargs)

    monkeypatch.setattr(chunk_pool_module, "ProcessPoolExecutor", Watched)
    monkeypatch.setenv("PEKPPP_INGEST_PROCESSES", "2")
    in_processes, _ = run(nightly, tmp_path / "processes", landing, cycle="2024")
    assert seen["submitted"] == threads[0]["bundles_new"] >= 2  # every chunk went to the pool
    workers = seen["workers"]
    assert isinstance(workers, set) and len(workers) == 2 and os.getpid() not in workers
    ignore = {"release_id", "manifest", "current_release", "message", "diff", "diff_against", "changes"}
    assert {k: v for k, v in in_processes[0].items() if k not in ignore} == \
        {k: v for k, v in threads[0].items() if k not in ignore}
    by_threads, by_processes = manifest_of(tmp_path / "threads" / "warehouse", "2024"), \
        manifest_of(tmp_path / "processes" / "warehouse", "2024")
    for table in OUTPUT_TABLES:
        assert by_processes["tables"][table]["content_sha256"] == by_threads["tables"][table]["content_sha256"], table

