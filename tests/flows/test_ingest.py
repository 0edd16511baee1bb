"""Unit tests of flows/ingest.py's parts that need no validation run: discovery, strays, region codes,
owners, leftovers, and a late bundle kept but not read (GE is exercised in tests/expectations)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from flows import ingest
from flows.settings import Places
from transforms.methodology import Methodology


def upload(landing: Path, cycle: str, region: str, name: str, mtime_s: int) -> Path:
    """A bundle folder with one file, uploaded (modified) at `mtime_s` seconds after the epoch."""
    bundle = landing / cycle / region / name
    bundle.mkdir(parents=True)
    (bundle / "units.csv").write_text("unit_id\nU1\n")
    for path in (bundle / "units.csv", bundle):
        os.utime(path, (mtime_s, mtime_s))
    return bundle


def test_discover_lists_bundles_oldest_upload_first(tmp_path: Path) -> None:
    """Region folders' visible entries only (no hidden or junk names, no '_' folders but the Ombudsman's feed),
    ordered by upload time."""
    upload(tmp_path, "2024", "35.78", "late", 2_000)
    upload(tmp_path, "2024", "35.01", "early", 1_000)
    upload(tmp_path, "2024", "35.78", ".hidden", 500)
    upload(tmp_path, "2024", "_private", "notes", 500)
    upload(tmp_path, "2024", "_ombudsman", "feed", 1_500)
    (tmp_path / "2024" / "35.78" / "Thumbs.db").write_text("")
    found = ingest.discover(tmp_path, "2024")
    assert [(b.region_code, b.name) for b in found] == [("35.01", "early"), ("_ombudsman", "feed"), ("35.78", "late")]
    assert found[0].received_at == datetime.fromtimestamp(1_000, UTC)
    assert found[0].size == len("unit_id\nU1\n")
    assert ingest.discover(tmp_path, "2023") == []


def test_landing_strays_name_what_is_not_under_a_region_folder(tmp_path: Path) -> None:
    root = tmp_path / "2024"
    (root / "35.78").mkdir(parents=True)
    (root / "stray.zip").write_text("")
    (root / "~tmp").mkdir()
    (root / "elsewhere").symlink_to(tmp_path)
    (root / ".DS_Store").write_text("")
    strays = dict(ingest.landing_strays(tmp_path, "2024"))
    assert set(strays) == {str(root / "stray.zip"), str(root / "~tmp"), str(root / "elsewhere")}
    assert "bundles go under 2024/<region_code>/" in strays[str(root / "stray.zip")]
    assert "not followed" in strays[str(root / "elsewhere")]


@pytest.mark.parametrize(("code", "problem"), [
    ("35.78", None), ("35", None), ("001", None),           # Kota Surabaya, Jawa Timur, MPR (kl.csv)
    ("99.99", "not a province or kabupaten/kota in the reference list"),
    ("003", "not a kode Bagian Anggaran in the K/L reference list"),  # kl.csv skips 003
    ("3578", "is not a Kemendagri region code like 35 or 35.78"),     # undotted codes are refused
])
def test_region_problem(code: str, problem: str | None) -> None:
    found = ingest.region_problem(code)
    assert found is None if problem is None else problem in (found or "")


def test_region_name_from_the_reference() -> None:
    assert ingest.region_name("35") == "Jawa Timur"  # data/reference/provinces.csv
    assert ingest.region_name("99.99") == ""


def test_with_owner_stamps_submission_and_region() -> None:
    """Units already carry region_code; other tables get it from the bundle's folder."""
    tables = {"units": pl.DataFrame({"unit_id": ["U1"], "region_code": ["35.78"]}),
              "evaluations": pl.DataFrame({"unit_id": ["U1"]})}
    stamped = ingest.with_owner(tables, "35.78", "s1")
    assert stamped["units"].columns == ["unit_id", "region_code", "submission_id"]
    assert stamped["evaluations"].row(0, named=True) == {"unit_id": "U1", "submission_id": "s1",
                                                         "region_code": "35.78"}


def test_bundle_issue_is_one_critical_row() -> None:
    issue = ingest.bundle_issue("late", "too late", value="b.zip")
    assert issue.rows() == [("bundle", None, None, "b.zip", "late", "critical", "too late")]


def test_prepare_cycle_removes_a_killed_runs_leftovers(tmp_path: Path) -> None:
    """Half-made raw copies, ledger and report temporaries go; kept files stay."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    staging = ingest.raw_staging(places, "2024")
    (staging / ".abc.tmp").mkdir(parents=True)
    places.ledger.mkdir(parents=True)
    (places.ledger / ".2024.parquet.x.tmp").write_text("")
    (places.ledger / "2024.parquet").write_text("keep")
    report = places.reports / "2024" / "35.78" / "s1"
    report.mkdir(parents=True)
    (report / ".report.html.y.tmp").write_text("")
    (report / "report.html").write_text("keep")
    assert ingest.prepare_cycle(places, "2024") == 3
    assert not staging.exists()
    assert sorted(p.name for p in places.ledger.iterdir()) == ["2024.parquet"]
    assert [p.name for p in report.iterdir()] == ["report.html"]


def test_a_late_bundle_is_kept_but_not_read(tmp_path: Path, methodology_2023: Methodology) -> None:
    """2023 closed at 2024-03-31 23:59:59+07:00; a bundle uploaded in 2025 is kept raw and marked late."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    path = upload(places.landing, "2023", "35.78", "b", int(datetime(2025, 1, 1, tzinfo=UTC).timestamp()))
    opened = ingest.open_bundle(ingest.landed_bundle("2023", "35.78", path), methodology_2023, places)
    assert opened.late is not None and "closed at 2024-03-31 23:59:59+07:00" in opened.late
    assert (opened.read.rejected, opened.read.tables, opened.read.issues["rule"].to_list()) == (True, {}, ["late"])
    assert (opened.raw / "units.csv").read_text() == "unit_id\nU1\n"
    assert opened.raw.is_relative_to(places.raw / opened.submission_id[:2])
