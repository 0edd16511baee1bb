"""Opening a bundle (flows/intake/bundles.py): zips read like their folder, submission ids, unsafe zips refused.

Every file is made here in tmp_path; each test checks the exact issue rows (table, row, column, value, rule).
"""

from __future__ import annotations

import os
import stat
import tempfile
import zipfile
from pathlib import Path

import polars as pl
import pytest

from flows.intake.bundles import UnsafeBundle, bundle_fingerprint, open_bundle
from flows.readers import read_bundle
from tests.flows.bundle_files import (
    EVALUATIONS_CSV,
    REGION,
    UNITS_CSV,
    bundle,
    critical,
    folder_members,
    small_limits,
    write,
    zipped,
)
from transforms.methodology import Methodology

# ---------------------------------------------------------------- zips and submission ids


def test_zip_of_folder_and_flat_zip_read_like_the_folder(tmp_path: Path, methodology_2024: Methodology) -> None:
    folder = bundle(tmp_path / "b")
    as_folder = read_bundle(folder, methodology_2024, REGION)
    top = zipped(tmp_path / "top.zip", folder_members(folder, top="kab_x/"))
    flat = zipped(tmp_path / "flat.zip", {**folder_members(folder), "__MACOSX/._units.csv": b"junk"})
    for path in (top, flat):
        read = read_bundle(path, methodology_2024, REGION)
        assert not read.rejected
        assert read.submission_id == as_folder.submission_id == bundle_fingerprint(path)[0]
        assert read.files == as_folder.files
        assert read.tables["units"].equals(as_folder.tables["units"])
    assert len(as_folder.submission_id) == 64
    assert [f["name"] for f in as_folder.files] == ["evaluations.csv", "units.csv"]


def test_any_changed_byte_changes_the_id(tmp_path: Path) -> None:
    first = bundle_fingerprint(bundle(tmp_path / "a"))[0]
    same = bundle_fingerprint(bundle(tmp_path / "b"))[0]
    changed = bundle_fingerprint(bundle(tmp_path / "c", evaluations__csv=EVALUATIONS_CSV.replace("4", "5")))[0]
    renamed = bundle_fingerprint(bundle(tmp_path / "d", units__csv="", Units__csv=UNITS_CSV))[0]
    assert first == same
    assert len({first, changed, renamed}) == 3


def test_open_bundle_removes_its_temp_dir(tmp_path: Path, methodology_2024: Methodology) -> None:
    path = zipped(tmp_path / "b.zip", folder_members(bundle(tmp_path / "b")))
    with open_bundle(path, methodology_2024.limits) as folder:
        assert sorted(p.name for p in folder.iterdir()) == ["evaluations.csv", "units.csv"]
    assert not folder.exists()


@pytest.mark.parametrize(("member", "rule"), [
    ("../escaped.csv", "zip_slip"),
    ("b/../../escaped.csv", "zip_slip"),
    ("..\\escaped.csv", "zip_slip"),
    ("/tmp/escaped.csv", "zip_absolute_path"),
    ("C:/escaped.csv", "zip_absolute_path"),
])
def test_zip_entries_leaving_the_folder(tmp_path: Path, methodology_2024: Methodology, member: str,
                                        rule: str) -> None:
    path = zipped(tmp_path / "up" / "b.zip", {**folder_members(bundle(tmp_path / "b")), member: b"x"})
    read = read_bundle(path, methodology_2024, REGION)
    assert critical(read.issues) == [("bundle", None, None, member, rule)]
    assert read.tables == {}
    for place in (tmp_path, tmp_path / "up", Path(tempfile.gettempdir())):
        assert not (place / "escaped.csv").exists()
    # an unopened zip is identified by its own bytes
    assert read.submission_id == read.files[0]["sha256"] and read.files[0]["name"] == "b.zip"


def test_zip_symlink_entry(tmp_path: Path, methodology_2024: Methodology) -> None:
    path = tmp_path / "b.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in folder_members(bundle(tmp_path / "b")).items():
            archive.writestr(name, data)
        link = zipfile.ZipInfo("skm_responses.csv")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(UnsafeBundle) as err, open_bundle(path, methodology_2024.limits):
        pass
    assert [(i["rule"], i["value"]) for i in err.value.issues] == [("zip_symlink", "skm_responses.csv")]


def test_folder_with_symlink_is_refused(tmp_path: Path, methodology_2024: Methodology) -> None:
    folder = bundle(tmp_path / "b", evaluations__csv="")
    os.symlink(write(tmp_path / "elsewhere.csv", EVALUATIONS_CSV), folder / "evaluations.csv")
    read = read_bundle(folder, methodology_2024, REGION)
    assert critical(read.issues) == [("bundle", None, None, "evaluations.csv", "symlink")]


def test_zip_with_too_many_files(tmp_path: Path, methodology_2024: Methodology) -> None:
    members = {**folder_members(bundle(tmp_path / "b")), **{f"evidence/{n}.txt": b"x" for n in range(5)}}
    read = read_bundle(zipped(tmp_path / "b.zip", members), small_limits(methodology_2024, zip_max_files=4),
                       REGION)
    assert critical(read.issues) == [("bundle", None, None, "7 entries", "zip_too_many_files")]


def test_zip_bomb_by_ratio_and_by_total_size(tmp_path: Path, methodology_2024: Methodology) -> None:
    members = {**folder_members(bundle(tmp_path / "b")), "evidence.txt": bytes(3 << 20)}
    path = zipped(tmp_path / "b.zip", members)
    tight = small_limits(methodology_2024, zip_max_ratio=100, zip_max_bytes=1 << 20)
    read = read_bundle(path, tight, REGION)
    assert critical(read.issues) == [("bundle", None, None, "evidence.txt", "zip_bomb"),
                                     ("bundle", None, None, f"{sum(map(len, members.values()))} bytes",
                                      "zip_too_large")]
    assert read.submission_id == read.files[0]["sha256"]


def test_small_entries_are_not_judged_on_ratio(tmp_path: Path, methodology_2024: Methodology) -> None:
    # Excel's CSV export of formatted empty rows (";;;;") packs far beyond any ratio, harmlessly
    header = ";".join(["unit_id", "respondent_id", "survey_date", *methodology_2024.survey.element_codes])
    members = {**folder_members(bundle(tmp_path / "b")),
               "skm_responses.csv": header.encode() + b"\r\n;;;;;;;;;;;" * 50_000}
    read = read_bundle(zipped(tmp_path / "b.zip", members), methodology_2024, REGION)
    assert critical(read.issues) == []
    assert not read.rejected
    # The optional survey sheet left empty is a warning, not a rejection.
    warnings = read.issues.filter(pl.col("severity") == "warning")
    assert warnings.select("table", "rule").rows() == [("skm_responses", "empty_table")]


def test_zip_entry_lying_about_its_size(tmp_path: Path, methodology_2024: Methodology) -> None:
    path = zipped(tmp_path / "b.zip", {**folder_members(bundle(tmp_path / "b")), "notes.txt": b"y" * 5000})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # local and central headers
        start = data.find(signature, data.find(b"notes.txt") - 80 if signature == b"PK\x03\x04" else 0)
        while start != -1:
            name_at = start + (30 if signature == b"PK\x03\x04" else 46)
            if data[name_at:name_at + 9] == b"notes.txt":
                data[start + offset:start + offset + 4] = (10).to_bytes(4, "little")
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))
    read = read_bundle(path, methodology_2024, REGION)
    assert critical(read.issues) == [("bundle", None, None, "b.zip", "unreadable")]


def test_not_a_zip_and_not_a_bundle(tmp_path: Path, methodology_2024: Methodology) -> None:
    broken = read_bundle(write(tmp_path / "b.zip", b"this is not a zip"), methodology_2024, REGION)
    assert critical(broken.issues) == [("bundle", None, None, "b.zip", "unreadable")]
    loose = read_bundle(write(tmp_path / "units.csv", UNITS_CSV), methodology_2024, REGION)
    assert critical(loose.issues) == [("bundle", None, None, "units.csv", "not_a_bundle")]
    gone = read_bundle(tmp_path / "gone.zip", methodology_2024, REGION)
    assert critical(gone.issues) == [("bundle", None, None, "gone.zip", "unreadable")]
    assert gone.files == []
