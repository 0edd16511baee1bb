"""Kill the publishing process and read the warehouse: readers must only ever see whole releases.

A small helper module (PUBLISHER, written to a temp folder) publishes a cycle in a child process,
forked from a multiprocessing forkserver that imported the pipeline once: a run starts in
milliseconds, and no Polars thread pool exists when it forks. The child is killed with SIGKILL at
named steps (PEKPPP_TEST_CRASH_AT, see flows/storage.crash_point) or after k milliseconds while it
publishes in a loop. After each kill every table of every cycle is read with pyarrow datasets,
DuckDB and Polars and must be wholly one release, the one the cycle's pointer names, exactly as its
manifest describes (rows, content hash). A last, undisturbed publish must then leave the warehouse
clean. A third test reads continuously while another process publishes again and again.
"""

from __future__ import annotations

import collections
import importlib
import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.process import BaseProcess
from pathlib import Path

import duckdb
import pytest
from test_publish import READERS, fresh_places, ledger_template, read_with

from flows.publish import (
    POINTER,
    RELEASES_KEPT,
    STAGING,
    current_release_id,
    diff_path,
    manifest_path,
    new_release_id,
    publish,
    release_dirs,
    release_manifest,
    store_root,
    table_content_hash,
    table_link,
)
from flows.settings import PROJECT_ROOT, Places, load_methodology
from flows.storage import CRASH_ENV
from transforms.schemas import OUTPUT_TABLES

pytestmark = pytest.mark.slow

TABLES = list(OUTPUT_TABLES)
START_2023 = 1_700_000_000
START_2024 = 1_800_000_000

PUBLISHER = f"""
# The publishing process of tests/flows/test_publish_kill.py (written by it into a temp folder).
import os
import shutil
from datetime import UTC, datetime

from flows.publish import publish
from flows.settings import load_methodology


def publisher_main(places, cycle, start, count, variants, crash_at, out):
    # `count` releases of `cycle` dated start, start+1s, ...; appends each release id to `out`.
    if crash_at:
        os.environ["{CRASH_ENV}"] = crash_at
    methodology = load_methodology(cycle)
    for n in range(count):
        if variants:  # switch the ledger between states, atomically, so releases differ in content
            ledger = places.ledger / (cycle + ".parquet")
            shutil.copyfile(variants[n % len(variants)], ledger.with_suffix(".swap"))
            os.replace(ledger.with_suffix(".swap"), ledger)
        release = publish(places, methodology, now=datetime.fromtimestamp(start + n, UTC))
        with out.open("a") as ids:
            ids.write(release.release_id + "\\n")
"""


def release_at(seconds: float, cycle: str = "2024") -> str:
    return new_release_id(cycle, datetime.fromtimestamp(seconds, UTC))


@dataclass(frozen=True)
class Publishers:
    context: multiprocessing.context.ForkServerContext
    main: Callable[..., None]


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Publishers]:
    """A forkserver that has imported the pipeline and the publisher helper, once.

    Python 3.11's forkserver ignores the parent's sys.path: the helper's folder reaches it through
    PYTHONPATH, set only while the server starts.
    """
    folder = tmp_path_factory.mktemp("publisher")
    (folder / "pekppp_publisher.py").write_text(PUBLISHER)
    sys.path.insert(0, str(folder))
    helper = importlib.import_module("pekppp_publisher")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["flows.publish", "pekppp_publisher"])
    saved = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), str(PROJECT_ROOT), saved]))
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        if saved is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = saved
    yield Publishers(context, helper.publisher_main)
    sys.path.remove(str(folder))


def start_publisher(publishers: Publishers, places: Places, cycle: str, start: float, count: int, *,
                    crash_at: str | None = None, variants: tuple[Path, ...] = ()) -> tuple[BaseProcess, Path]:
    out = places.warehouse.parent / f"published-{start:.0f}.txt"
    out.touch()
    process = publishers.context.Process(target=publishers.main, daemon=True,
                                         args=(places, cycle, start, count, variants, crash_at, out))
    process.start()
    return process, out


def shown_releases(places: Places, cycle: str) -> dict[str, str]:
    """The release each visible table's folder shows (its one file names it); real folders only."""
    shown = {}
    for table in TABLES:
        folder = table_link(places, table, cycle)
        if not folder.exists():
            continue
        assert folder.is_dir() and not folder.is_symlink(), folder
        (name,) = os.listdir(folder)  # exactly one file: never two releases, never a temporary
        assert name.startswith("part-") and name.endswith(".parquet"), (table, name)
        shown[table] = name.removeprefix("part-").removesuffix(".parquet")
    return shown


def check_whole(places: Places, cycle: str) -> tuple[str | None, list[str]]:
    """Read every table of the cycle with every reader: each visible table must be wholly one published
    release, exactly as its manifest says, and nothing else may sit in the folders readers scan. A kill
    between the pointer's switch and the last table's exchange may leave tables on the previous release
    (`follows_pointer` tells); the next run finishes them. Returns the pointer's release and the tables
    visible."""
    release_id = current_release_id(places, cycle)
    shown = shown_releases(places, cycle)
    visible = [t for t in TABLES if t in shown]
    if visible:
        assert release_id is not None
    for table, shown_id in shown.items():
        manifest = release_manifest(places, cycle, shown_id)
        assert manifest is not None, f"release {shown_id} is visible without a manifest"
        assert shown_id == release_id or manifest_path(places, cycle, shown_id).exists(), (table, shown_id)
        spec = OUTPUT_TABLES[table]
        expected = manifest["tables"][table]
        for reader in READERS:
            frame = read_with(reader, places.warehouse, table, cycle)
            assert set(frame["release_id"]) <= {shown_id}, (table, reader)
            assert frame.height == expected["rows"], (table, reader)
            assert table_content_hash(frame, spec) == expected["content_sha256"], (table, reader)
    for table in TABLES:  # only the partition links, never a temporary, in a table's folder
        folder = places.warehouse / table
        names = sorted(os.listdir(folder)) if folder.is_dir() else []
        assert all(n.startswith("cycle=") and not n.endswith(".tmp") for n in names), (table, names)
    return release_id, visible


def follows_pointer(places: Places, cycle: str) -> bool:
    """Every visible table shows the release the pointer names."""
    return set(shown_releases(places, cycle).values()) <= {current_release_id(places, cycle)}


def assert_clean(places: Places, cycle: str) -> None:
    """After an undisturbed publish: no temporaries, no unpublished stores, manifests for what was shown."""
    warehouse_files = [p for p in places.warehouse.rglob("*") if "_ledger" not in p.parts]
    assert not [p for p in warehouse_files if p.name.endswith(".tmp")]
    assert not list((store_root(places, cycle) / STAGING).iterdir())
    stores = release_dirs(places, cycle)
    assert 1 <= len(stores) <= RELEASES_KEPT
    assert all(manifest_path(places, cycle, s.name).exists() for s in stores)
    release_id = current_release_id(places, cycle)
    assert os.readlink(store_root(places, cycle) / POINTER) == release_id
    manifest = release_manifest(places, cycle, release_id)  # type: ignore[arg-type]
    assert manifest is not None and manifest_path(places, cycle, release_id).exists()  # type: ignore[arg-type]
    if manifest["diff_against"]:
        assert diff_path(places, cycle, release_id).exists()  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ledger_template(tmp_path_factory)


@pytest.fixture()
def with_2023(template: Path, tmp_path: Path) -> Places:
    """A warehouse where cycle 2023 is published and 2024 is ledgered but not yet published."""
    places = fresh_places(template, tmp_path)
    publish(places, load_methodology("2023"), now=datetime.fromtimestamp(START_2023, UTC))
    return places


def kill_at(publishers: Publishers, places: Places, step: str, start: float) -> None:
    process, _ = start_publisher(publishers, places, "2024", start, 1, crash_at=step)
    process.join(timeout=60)
    assert process.exitcode == -signal.SIGKILL, f"{step} was not reached (exit {process.exitcode})"


# Each run i publishes release N(i) (dated START_2024 + i) and is killed at step i; the warehouse carries
# over from run to run, so later runs also recover from earlier kills. Expected: what readers see after.
CRASH_PLAN: list[tuple[str, str, list[str]]] = [
    # first publish of the cycle: the pointer is set before any table folder links through it
    ("publish:switched", "N0", []),
    ("show:award_roster/cycle=2024", "N0", TABLES[:5]),  # the next run's recovery shows tables one by one
    ("publish:locked", "N0", TABLES[:5]),
    ("publish:recovered", "N0", TABLES),
    # killed while staging: readers keep the previous release; the half store is removed next time
    ("atomic:part-{N4}.parquet", "N0", TABLES),  # a table's temporary file written, not renamed
    ("publish:staged:unit_scores", "N0", TABLES),
    ("publish:staged:validation_issues", "N0", TABLES),
    ("atomic:_diff.parquet", "N0", TABLES),
    ("atomic:_manifest.json", "N0", TABLES),
    ("publish:staged", "N0", TABLES),  # complete, manifest staged, but never switched to
    ("link:2024/current", "N0", TABLES),  # the new pointer made in .staging, not renamed
    # killed after the switch: the new release, whole; its records are finished by the next run
    ("publish:switched", "N11", TABLES),
    ("atomic:{N11}.json", "N11", TABLES),  # recovery of N11 itself killed
    ("publish:linked", "N13", TABLES),
    ("atomic:{N14}.json", "N14", TABLES),  # manifest copy written, not renamed
    ("atomic:{N15}.diff.parquet", "N15", TABLES),  # the next run first records N14 fully
    ("publish:recovered", "N15", TABLES),  # only recovery of N15: its diff and current.json
    ("atomic:current.json", "N17", TABLES),
    ("publish:recorded", "N18", TABLES),
    ("prune:{N0}", "N19", TABLES),  # housekeeping after a publish
]


LAGGING_STEPS = {"publish:switched", "show:award_roster/cycle=2024"}


def test_killed_at_every_step_readers_see_whole_releases(with_2023: Places, processes: Publishers) -> None:
    places = with_2023
    shown_2023 = check_whole(places, "2023")
    names = {f"N{i}": release_at(START_2024 + i) for i in range(len(CRASH_PLAN))}
    for i, (step, expected, tables) in enumerate(CRASH_PLAN):
        kill_at(processes, places, step.format(**names), START_2024 + i)
        release_id, visible = check_whole(places, "2024")
        assert (release_id, visible) == (names[expected], tables), (i, step)
        # Tables lag the pointer only when the kill fell between its switch and their exchanges.
        assert follows_pointer(places, "2024") or step in LAGGING_STEPS, (i, step, shown_releases(places, "2024"))
        assert check_whole(places, "2023") == shown_2023
    final = publish(places, load_methodology("2024"), now=datetime.fromtimestamp(START_2024 + 100, UTC))
    assert check_whole(places, "2024") == (final.release_id, TABLES)
    assert final.diff_against == names["N19"] and final.changes["changed"] == 0  # type: ignore[index]
    assert_clean(places, "2024")
    recorded = sorted(p.stem for p in (places.releases / "2024").glob("2024-*.json"))
    assert recorded == sorted([names[n] for n in ("N0", "N11", "N13", "N14", "N15", "N17", "N18", "N19")]
                              + [final.release_id])  # exactly the releases that were ever shown


def kill_phase(places: Places, cycle: str) -> str:
    """Where a kill landed, judged from what it left."""
    shown = current_release_id(places, cycle)
    if shown and not manifest_path(places, cycle, shown).exists():
        return "after the switch, before the manifest was recorded"
    if any(s.name > (shown or "") and not manifest_path(places, cycle, s.name).exists()
           for s in release_dirs(places, cycle)):
        return "while staging a release"
    if list((places.releases / cycle).glob(".*.tmp")):
        return "while recording"
    return "while scoring, pruning or between publishes"


def test_killed_after_k_milliseconds_readers_see_whole_releases(with_2023: Places, template: Path,
                                                               processes: Publishers) -> None:
    places = with_2023
    publish(places, load_methodology("2024"), now=datetime.fromtimestamp(START_2024, UTC))
    variants = (template / "ledger-2024-B.parquet", template / "ledger-2024-A.parquet")
    phases: collections.Counter[str] = collections.Counter()
    published = 0
    for i, delay_ms in enumerate(range(20, 1300, 107)):
        before = current_release_id(places, "2024")
        start = START_2024 + 1000 * (i + 1)
        process, out = start_publisher(processes, places, "2024", start, 200, variants=variants)
        time.sleep(delay_ms / 1000)
        process.kill()
        process.join(timeout=60)
        assert process.exitcode == -signal.SIGKILL
        published += len(out.read_text().split())
        phases[kill_phase(places, "2024")] += 1
        release_id, visible = check_whole(places, "2024")
        assert visible == TABLES
        assert release_id == before or release_id in {release_at(start + n) for n in range(200)}, (delay_ms, release_id)
        assert check_whole(places, "2023")[1] == TABLES
    final = publish(places, load_methodology("2024"), now=datetime.fromtimestamp(START_2024 + 99_000, UTC))
    assert check_whole(places, "2024") == (final.release_id, TABLES) and follows_pointer(places, "2024")
    assert_clean(places, "2024")
    print(f"\n{sum(phases.values())} kills, {published} releases completed by the killed processes: {dict(phases)}")


def vanished(err: Exception) -> bool:
    """The one failure a reader may meet while a release is switched: a file it listed is gone by the
    time it opens it (file names are unique per release). A retry reads the new release."""
    return isinstance(err, FileNotFoundError) or (isinstance(err, duckdb.IOException)
                                                   and "No such file or directory" in str(err))


def test_a_reader_never_sees_a_half_release_while_another_process_publishes(with_2023: Places, template: Path,
                                                                          processes: Publishers) -> None:
    places = with_2023
    publish(places, load_methodology("2024"), now=datetime.fromtimestamp(START_2024, UTC))
    variants = (template / "ledger-2024-B.parquet", template / "ledger-2024-A.parquet")
    count = 12
    process, _ = start_publisher(processes, places, "2024", START_2024 + 10, count, variants=variants)
    reads, retries, releases, unit_rows = 0, collections.Counter(), set(), set()
    try:
        while process.is_alive():
            for reader in READERS:
                for table in ("unit_scores", "submissions", "validation_issues"):
                    try:
                        frame = read_with(reader, places.warehouse, table, "2024")
                    except Exception as err:
                        if not vanished(err):
                            raise
                        retries[reader] += 1
                        continue
                    shown = set(frame["release_id"])
                    assert len(shown) == 1, (reader, table, shown)
                    release_id = shown.pop()
                    manifest = release_manifest(places, "2024", release_id)
                    assert manifest is not None, release_id
                    assert frame.height == manifest["tables"][table]["rows"], (reader, table, release_id)
                    assert table_content_hash(frame, OUTPUT_TABLES[table]) == \
                        manifest["tables"][table]["content_sha256"], (reader, table, release_id)
                    reads += 1
                    releases.add(release_id)
                    if table == "unit_scores":
                        unit_rows.add(frame.height)
    finally:
        process.join(timeout=60)
    assert process.exitcode == 0
    assert len(releases) >= 3 and len(unit_rows) == 2  # both ledger states were seen, each whole
    assert sum(retries.values()) < reads / 20
    check_whole(places, "2024")
    assert_clean(places, "2024")
    print(f"\n{reads} whole reads of {len(releases)} of {count + 1} releases; "
          f"retried after a switch: {dict(retries) or 0}")
