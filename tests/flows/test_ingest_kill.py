"""SIGKILL at every step of ingest and publish, then one plain `nightly` run: ledger and release agree.

A child process ingests new bundles and publishes in the order `process-cycle` does (keep the raw
copy, read, validate, keep rows, record the ledger, publish), without Prefect so it starts fast, and
kills itself at a named step (PEKPPP_TEST_CRASH_AT, flows/storage.crash_point). The real `nightly`
flow then runs once on Prefect's local mode. After it: every bundle is in `submissions` exactly
once, readers see every accepted bundle's units, and no temporary file or staging folder is left.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flows.generate import generate_cycle
from flows.ledger import Ledger
from flows.nightly import nightly
from flows.publish import current_release, release_gap
from flows.settings import PROJECT_ROOT, Places, load_methodology
from flows.storage import CRASH_ENV

pytestmark = pytest.mark.slow

CYCLE = "2024"
STEPS = ["raw:copied", "ingest:raw", "ingest:kept", "ingest:recorded", f"atomic:{CYCLE}.parquet",
         "publish:locked", "publish:recovered", "publish:staged", "publish:switched", "publish:linked",
         "publish:recorded"]

CHILD = """
import sys
from pathlib import Path
from flows.ingest import discover, ingest_bundles, prepare_cycle
from flows.ledger import Ledger
from flows.publish import publish
from flows.settings import Places, load_methodology

places = Places(landing=Path(sys.argv[1]), warehouse=Path(sys.argv[2]))
methodology = load_methodology(sys.argv[3])
prepare_cycle(places, methodology.cycle)
ledger = Ledger(places, methodology.cycle)
known = ledger.known_by_stat()
work = [(b, None) for b in discover(places.landing, methodology.cycle)
        if (str(b.path), b.size, b.mtime_ns) not in known]
results = ingest_bundles(work, methodology, places, ledger)
ledger.record([r.entry for r in results])
publish(places, methodology)
"""


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Places:
    """A published cycle of two regions, and two more bundles (one bad) waiting in the landing zone."""
    root = tmp_path_factory.mktemp("kill-baseline")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    generate_cycle(CYCLE, root / "generated", regions=4, units=2, respondents=10, seed=5, bad_rate=0.25,
                   methodology=load_methodology(CYCLE))
    regions = sorted((root / "generated" / CYCLE).iterdir())
    for region in regions[:2]:
        shutil.copytree(region, places.landing / CYCLE / region.name)
    assert child(places, None).returncode == 0
    for region in regions[2:]:
        shutil.copytree(region, places.landing / CYCLE / region.name)
    return places


def child(places: Places, step: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    if step:
        env[CRASH_ENV] = step
    return subprocess.run([sys.executable, "-c", CHILD, str(places.landing), str(places.warehouse), CYCLE],
                          cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=600)


def copy_of(places: Places, root: Path) -> Places:
    copied = Places(landing=root / "landing", warehouse=root / "warehouse")
    shutil.copytree(places.landing, copied.landing, symlinks=True)
    shutil.copytree(places.warehouse, copied.warehouse, symlinks=True)
    return copied


def leftovers(warehouse: Path) -> list[str]:
    found = [str(p) for p in warehouse.rglob("*.tmp")]
    found += [str(p) for staging in warehouse.rglob(".staging") for p in staging.rglob("*") if not p.is_dir()]
    return found


def landed_bundles(places: Places) -> set[tuple[str, str]]:
    return {(region.name, bundle.name) for region in (places.landing / CYCLE).iterdir() for bundle in region.iterdir()}


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_at_any_step_is_repaired_by_one_plain_run(prefect_local, baseline: Places, tmp_path: Path,
                                                         step: str) -> None:
    places = copy_of(baseline, tmp_path)
    killed = child(places, step)
    assert killed.returncode == -signal.SIGKILL, (step, killed.stderr[-2000:])

    summaries = nightly(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))

    assert release_gap(places, CYCLE) is None, step
    release = current_release(places, CYCLE)
    assert release is not None
    submissions = pl.read_parquet(places.warehouse / "submissions" / f"cycle={CYCLE}" / "*.parquet")
    assert submissions.height == submissions.select("region_code", "bundle").n_unique(), step
    assert set(submissions.select("region_code", "bundle").iter_rows()) == landed_bundles(places), step
    ledger = Ledger(places, CYCLE).load()
    accepted = set(ledger.filter(pl.col("status") == "accepted")["submission_id"].to_list())
    units = pl.read_parquet(places.warehouse / "unit_scores" / f"cycle={CYCLE}" / "*.parquet")
    assert set(units["submission_id"].unique().to_list()) == accepted, step
    assert leftovers(places.warehouse) == [], step
    if step.startswith("publish:") and step not in ("publish:switched", "publish:linked", "publish:recorded"):
        assert "repair" in summaries[0]["message"], summaries[0]["message"]


def test_one_bundle_failing_on_io_does_not_keep_the_others_from_readers(prefect_local, baseline: Places,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """As root no file can be made unreadable, so one bundle's open fails with a real OSError raised in its
    place (EIO), every time: its neighbours are still recorded and published, and the run fails naming it."""
    import flows.chunked_ingest as chunked_ingest_module
    from flows.nightly import IngestFailed

    places = copy_of(baseline, tmp_path)
    real_open = chunked_ingest_module.open_bundle
    doomed = sorted(landed_bundles(places))[-1]

    def open_or_fail(bundle, *args, **kwargs):  # type: ignore[no-untyped-def]
        if (bundle.region_code, bundle.name) == doomed:
            raise OSError(5, "Input/output error", str(bundle.path))
        return real_open(bundle, *args, **kwargs)

    monkeypatch.setattr(chunked_ingest_module, "open_bundle", open_or_fail)
    monkeypatch.setattr(chunked_ingest_module, "BUNDLE_RETRY_DELAYS", [0, 0])
    with pytest.raises(IngestFailed) as failed:
        nightly(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))
    message = str(failed.value)
    assert f"{doomed[0]}/{doomed[1]}" in message and "Input/output error" in message
    assert "published in release" in message
    submissions = pl.read_parquet(places.warehouse / "submissions" / f"cycle={CYCLE}" / "*.parquet")
    assert set(submissions.select("region_code", "bundle").iter_rows()) == landed_bundles(places) - {doomed}
    monkeypatch.setattr(chunked_ingest_module, "open_bundle", real_open)
    nightly(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))  # the next run takes it
    submissions = pl.read_parquet(places.warehouse / "submissions" / f"cycle={CYCLE}" / "*.parquet")
    assert set(submissions.select("region_code", "bundle").iter_rows()) == landed_bundles(places)
