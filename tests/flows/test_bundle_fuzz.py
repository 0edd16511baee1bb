"""Seeded fuzzing of whole uploads: zips with odd entry names and contents, and workbooks with mutated XML.

Whatever a region sends, the verdict is a frame or a rejection in one clear line, never an exception the
reader did not expect (which reaches the region as "could not be read (SomeError: ...)"). Seeded, so a
run is repeatable; the same fuzzers ran with thousands of examples when the cases they pinned were fixed
(a compressed stream's header, a column titled `*`, an XML part declaring an unknown encoding).
"""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path

import pytest
import xlsxwriter

from flows.ingest import check_bundle
from flows.intake.tables import UnreadableFile, read_raw
from transforms.methodology import Methodology

pytestmark = pytest.mark.slow

REGION = "35.78"
UNITS = b"unit_id,unit_name,unit_type,region_code,annual_service_users\n01,Dinas,DINAS,35.78,10\n"
EVALUATIONS = b"unit_id,indicator_code,score,evaluator_id\n01,1.a.Ak,4,E1\n"
ENTRY_NAMES = ["units.csv", "Units.CSV", "evaluations.csv", "EVALUATIONS.csv", "a/units.csv", "a\\units.csv",
               "./units.csv", "\u00fcnits.csv", "units .csv", " units.csv", "units.csv.", "units.xlsx", "units.json",
               "units.jsonl", "units.parquet", "__MACOSX/units.csv", ".units.csv", "a/b/c/d/e/f/evaluations.csv",
               "a//units.csv", "aux.csv", "units.csv" * 30, "x" * 300 + ".csv", "skm_responses.csv",
               "f03_responses.csv", "compliance.csv", "*.csv", "^units$.csv"]
CONTENTS = [UNITS, EVALUATIONS, b"", b"\x00\x01", b"PK\x03\x04", b"[]", b"{}", b"x\x01\x95", b"\x1f\x8b\x08",
            "\u00fc,\u00e9\n1,2\n".encode("cp1252"), b"unit_id,*,^.*$\n01,a,b\n"]
UNEXPECTED = re.compile(r"could not be read \(\w+(Error|Exception)")


def _zip(rng: random.Random) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for _ in range(rng.randint(1, 5)):
            archive.writestr(zipfile.ZipInfo(rng.choice(ENTRY_NAMES)), rng.choice(CONTENTS))
    return out.getvalue()


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_zips_with_odd_entries_get_a_verdict_in_one_clear_line(tmp_path: Path, methodology_2024: Methodology) -> None:
    rng = random.Random(2024)
    for n in range(150):
        path = tmp_path / f"bundle{n}.zip"
        path.write_bytes(_zip(rng))
        checked = check_bundle(path, methodology_2024, REGION)
        unexpected = [m for m in checked.issues["message"].to_list() if m and UNEXPECTED.search(m)]
        assert unexpected == [], (n, unexpected)
        assert "\n" not in (checked.reason or ""), (n, checked.reason)


def _workbook() -> dict[str, bytes]:
    book = io.BytesIO()
    workbook = xlsxwriter.Workbook(book)
    sheet = workbook.add_worksheet("units")
    for row, values in enumerate([["unit_id", "unit_name", "unit_type", "region_code", "annual_service_users"],
                                  ["01", "Dinas", "DINAS", REGION, 10], ["02", "RSUD", "RSUD", REGION, 20]]):
        for col, value in enumerate(values):
            sheet.write(row, col, value)
    workbook.close()
    with zipfile.ZipFile(io.BytesIO(book.getvalue())) as archive:
        return {info.filename: archive.read(info) for info in archive.infolist()}


INSERTS = [b"<", b">", b'"', b"&", b"999999999", b"-1", b'<c r="XFD1048576"><v>1</v></c>', b'<row r="0">', b"\x00",
           b'encoding="zTF-8"', b"<!DOCTYPE x [<!ENTITY a \"aaaa\">]>"]


def _mutated(parts: dict[str, bytes], rng: random.Random) -> bytes:
    changed = dict(parts)
    name = rng.choice(sorted(k for k in parts if k.endswith(".xml")))
    data = bytearray(changed[name])
    for _ in range(rng.randint(1, 5)):
        at, op = rng.randrange(len(data)), rng.random()
        if op < 0.4:
            data[at] = rng.randrange(256)
        elif op < 0.7:
            del data[at:at + rng.randint(1, 20)]
        else:
            data[at:at] = rng.choice(INSERTS)
    changed[name] = bytes(data)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for member, content in changed.items():
            archive.writestr(member, content)
    return out.getvalue()


def test_workbooks_with_mutated_xml_give_a_frame_or_one_clear_line(tmp_path: Path) -> None:
    rng, parts = random.Random(27), _workbook()
    for n in range(80):
        path = tmp_path / f"units{n}.xlsx"
        path.write_bytes(_mutated(parts, rng))
        try:
            read_raw(path, "units")
        except UnreadableFile as err:
            assert err.message and "\n" not in err.message, (n, err.message)
