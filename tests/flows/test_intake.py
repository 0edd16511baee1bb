"""The ingest edge: nothing outside a bundle is read, and the raw store is keyed by content alone.

Real links, FIFOs and hard links are made in tmp_path; a host file outside the bundle holds a unique
marker that must never appear under the warehouse.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from flows.ingest import check_bundle, discover, ingest_bundle, landing_strays, prepare_cycle
from flows.intake.bundles import bundle_fingerprint
from flows.intake.entries import inspect_bundle
from flows.ledger import Ledger
from flows.readers import read_bundle
from flows.settings import IntakeLimits, Places, SettingError, intake_limits, load_methodology
from flows.storage import store_raw, stored_bundle, stored_refusals
from transforms.methodology import Methodology

REGION = "35.78"
OTHER_REGION = "35.15"
MARKER = "HOST-SECRET-7f3a9c2e"
UNITS_CSV = ("unit_id,unit_name,unit_type,region_code,annual_service_users\n"
             "01,Dinas Penanaman Modal,DPMPTSP,35.78,1200\n")
EVALUATIONS_CSV = "unit_id,indicator_code,score\n01,1.a.Ak,4\n"


@pytest.fixture(scope="module")
def methodology() -> Methodology:
    return load_methodology("2024")


def host_file(tmp_path: Path) -> Path:
    path = tmp_path / "host" / "secret.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"unit_id,unit_name,unit_type,region_code\n01,{MARKER},DPMPTSP,35.78\n")
    return path


def good_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "units.csv").write_text(UNITS_CSV)
    (folder / "evaluations.csv").write_text(EVALUATIONS_CSV)
    return folder


def marker_anywhere(root: Path) -> list[str]:
    """Files under `root` holding the marker, Parquet read through (its pages are compressed)."""
    found = []
    for path in root.rglob("*"):
        if path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        if MARKER.encode() in data or (path.suffix == ".parquet" and MARKER in str(pl.read_parquet(path).rows())):
            found.append(str(path))
    return found


def test_a_symlinked_table_is_refused_named_and_never_copied(tmp_path: Path, methodology: Methodology) -> None:
    folder = good_bundle(tmp_path / "b")
    (folder / "units.csv").unlink()
    os.symlink(host_file(tmp_path), folder / "units.csv")
    entries = inspect_bundle(folder)
    assert [(r.name, r.rule) for r in entries.refused] == [("units.csv", "symlink")]
    raw = store_raw(folder, tmp_path / "warehouse" / "_raw" / "ab" / "abc")
    assert not (raw / "units.csv").exists() and (raw / "evaluations.csv").exists()
    assert [r.rule for r in stored_refusals(raw)] == ["symlink"]
    read = read_bundle(raw, methodology, REGION, name="b", refused=stored_refusals(raw))
    assert read.rejected and "symbolic link 'units.csv'" in (read.reason or "")
    assert marker_anywhere(tmp_path / "warehouse") == []


def test_a_symlinked_folder_inside_a_bundle_is_not_entered(tmp_path: Path) -> None:
    folder = good_bundle(tmp_path / "b")
    host_file(tmp_path)
    os.symlink(tmp_path / "host", folder / "extra")
    raw = store_raw(folder, tmp_path / "warehouse" / "_raw" / "ab" / "abc")
    assert not (raw / "extra").exists()
    assert [(r.name, r.rule) for r in stored_refusals(raw)] == [("extra", "symlink")]
    assert marker_anywhere(tmp_path / "warehouse") == []


def test_a_fifo_is_refused_without_being_opened(tmp_path: Path, methodology: Methodology) -> None:
    folder = good_bundle(tmp_path / "b")
    os.mkfifo(folder / "skm_responses.csv")
    started = time.monotonic()
    submission_id, _ = bundle_fingerprint(folder, methodology.limits)
    raw = store_raw(folder, tmp_path / "raw" / submission_id)
    checked = check_bundle(folder, methodology, REGION)
    assert time.monotonic() - started < 30  # opening the FIFO would block forever
    assert checked.rejected and "skm_responses.csv' in the bundle is a named pipe" in (checked.reason or "")
    assert [r.rule for r in stored_refusals(raw)] == ["special_file"]


def test_a_hard_link_to_a_host_file_is_refused_one_inside_the_bundle_is_not(tmp_path: Path) -> None:
    folder = good_bundle(tmp_path / "b")
    os.link(host_file(tmp_path), folder / "skm_responses.csv")
    assert [(r.name, r.rule) for r in inspect_bundle(folder).refused] == [("skm_responses.csv", "hard_link")]
    raw = store_raw(folder, tmp_path / "warehouse" / "raw")
    assert not (raw / "skm_responses.csv").exists()
    assert marker_anywhere(tmp_path / "warehouse") == []

    inside = good_bundle(tmp_path / "c")
    (inside / "copies").mkdir()
    os.link(inside / "units.csv", inside / "copies" / "units.csv")
    assert inspect_bundle(inside).refused == ()


def test_hard_links_are_allowed_when_the_setting_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = good_bundle(tmp_path / "b")
    os.link(host_file(tmp_path), folder / "skm_responses.csv")
    monkeypatch.setenv("PEKPPP_REFUSE_HARD_LINKS", "0")
    assert inspect_bundle(folder).refused == ()


def test_a_bundle_that_is_itself_a_link_or_fifo_is_refused(tmp_path: Path, methodology: Methodology) -> None:
    region = tmp_path / "landing" / "2024" / REGION
    region.mkdir(parents=True)
    os.symlink(good_bundle(tmp_path / "elsewhere"), region / "linked")
    os.symlink(tmp_path / "elsewhere.zip", region / "linked.zip")
    os.mkfifo(region / "pipe.zip")
    found = {b.name: b for b in discover(tmp_path / "landing", "2024")}
    assert set(found) == {"linked", "linked.zip", "pipe.zip"}
    for name in found:
        read = read_bundle(found[name].path, methodology, REGION)
        assert read.rejected, name
    assert "symbolic link 'linked'" in read_bundle(found["linked"].path, methodology, REGION).reason


def test_too_many_entries_or_bytes_refuse_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = good_bundle(tmp_path / "b")
    for n in range(5):
        (folder / f"evidence{n}.txt").write_text("x" * 1000)
    monkeypatch.setenv("PEKPPP_BUNDLE_MAX_FILES", "4")
    assert [r.rule for r in inspect_bundle(folder).refused] == ["bundle_too_many_files"]
    monkeypatch.setenv("PEKPPP_BUNDLE_MAX_FILES", "100")
    monkeypatch.setenv("PEKPPP_BUNDLE_MAX_BYTES", "2000")
    assert [r.rule for r in inspect_bundle(folder).refused] == ["bundle_too_large"]
    raw = store_raw(folder, tmp_path / "raw")
    assert list(raw.iterdir()) == []  # nothing of an oversized bundle is kept


def test_settings_are_read_when_called_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    assert intake_limits() == IntakeLimits()
    monkeypatch.setenv("PEKPPP_XLSX_MAX_CELLS", "12_000")
    assert intake_limits().xlsx_max_cells == 12_000
    monkeypatch.setenv("PEKPPP_XLSX_MAX_CELLS", "lots")
    with pytest.raises(SettingError, match="PEKPPP_XLSX_MAX_CELLS"):
        intake_limits()


def test_the_raw_store_is_keyed_by_content_alone(tmp_path: Path) -> None:
    first = good_bundle(tmp_path / "A" / "upload-a")
    second = tmp_path / "B" / "genuine"
    shutil.copytree(first, second)
    target = tmp_path / "raw" / "ab" / "abc"
    kept = store_raw(first, target)
    assert store_raw(second, target) == kept == stored_bundle(target)
    assert [p.name for p in target.iterdir()] == ["upload-a"]


def test_same_bytes_from_another_region_first_do_not_push_out_the_genuine_bundle(
        tmp_path: Path, methodology: Methodology) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    genuine = good_bundle(places.landing / "2024" / REGION / "units-2024")
    shutil.copytree(genuine, places.landing / "2024" / OTHER_REGION / "someone-elses")
    ledger = Ledger(places, "2024")
    by_region = {b.region_code: b for b in discover(places.landing, "2024")}
    hostile = ingest_bundle(by_region[OTHER_REGION], methodology, places, ledger)
    own = ingest_bundle(by_region[REGION], methodology, places, ledger)
    ledger.record([hostile.entry, own.entry])
    assert hostile.entry.status == "rejected" and hostile.entry.submission_id == own.entry.submission_id
    assert own.entry.status == "accepted", own.entry.reason
    entries = ledger.load().sort("region_code")
    assert entries.select("region_code", "bundle").rows() == [(OTHER_REGION, "someone-elses"), (REGION, "units-2024")]
    assert len(list((places.raw / own.entry.submission_id[:2]).iterdir())) == 1


def test_validate_and_the_raw_copy_give_one_verdict_for_a_symlink(tmp_path: Path, methodology: Methodology) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    folder = good_bundle(places.landing / "2024" / REGION / "b")
    (folder / "units.csv").unlink()
    os.symlink(host_file(tmp_path), folder / "units.csv")
    offline = check_bundle(folder, methodology, REGION)
    [landed] = discover(places.landing, "2024")
    run = ingest_bundle(landed, methodology, places, Ledger(places, "2024"))
    assert offline.rejected and run.entry.status == "rejected"
    assert offline.reason == run.entry.reason
    assert marker_anywhere(places.warehouse) == []


def test_strays_in_the_landing_zone_are_listed_with_a_reason(tmp_path: Path) -> None:
    root = tmp_path / "landing" / "2024"
    (root / "_64").mkdir(parents=True)
    (root / "_ombudsman").mkdir()
    (root / "stray_upload.rar").write_bytes(b"Rar!")
    os.symlink(tmp_path, root / "35")
    (root / REGION).mkdir()
    (root / REGION / "notes.rar").write_bytes(b"Rar!")
    strays = dict(landing_strays(tmp_path / "landing", "2024"))
    assert set(strays) == {str(root / "_64"), str(root / "stray_upload.rar"), str(root / "35")}
    assert "symbolic link" in strays[str(root / "35")]
    assert [b.name for b in discover(tmp_path / "landing", "2024")] == ["notes.rar"]


def test_prepare_cycle_removes_a_killed_runs_leftovers(tmp_path: Path) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    staging = places.raw / ".staging" / "2024" / ".abc.x.tmp"
    staging.mkdir(parents=True)
    (places.ledger / "2024" / "accepted" / "s1").mkdir(parents=True)
    (places.ledger / "2024" / "accepted" / "s1" / ".units.parquet.x.tmp").write_text("")
    (places.ledger / ".2024.parquet.y.tmp").write_text("")
    assert prepare_cycle(places, "2024") == 3
    assert not staging.exists() and not list(places.ledger.rglob("*.tmp"))


def test_a_fifo_never_blocks_a_thread(tmp_path: Path) -> None:
    folder = good_bundle(tmp_path / "b")
    (folder / "units.csv").unlink()
    os.mkfifo(folder / "units.csv")
    done = threading.Event()

    def work() -> None:
        store_raw(folder, tmp_path / "raw")
        done.set()

    threading.Thread(target=work, daemon=True).start()
    assert done.wait(20)
