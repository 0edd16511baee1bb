"""Bundles for the reader tests, made in tmp_path: table files, folders, zips, workbooks, and issue rows to compare."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zipfile
from pathlib import Path

import polars as pl
import xlsxwriter

from transforms.methodology import Methodology

REGION = "35.78"
UNITS_CSV = ("unit_id,unit_name,unit_type,region_code,annual_service_users\n"
             "01,Dinas Penanaman Modal,DPMPTSP,35.78,1200\n"
             "02,RSUD Dr. Soetomo,RSUD,35.78,\n")
EVALUATIONS_CSV = "unit_id,indicator_code,score\n01,1.a.Ak,4\n02,1.a.Ak,3\n"


def issue_rows(issues: pl.DataFrame) -> list[tuple[object, ...]]:
    return list(issues.select("table", "row", "column", "value", "rule").iter_rows())


def critical(issues: pl.DataFrame) -> list[tuple[object, ...]]:
    return issue_rows(issues.filter(pl.col("severity") == "critical"))


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", newline="")
    else:
        path.write_bytes(content)
    return path


def bundle(folder: Path, **files: str | bytes) -> Path:
    """A bundle folder with valid units.csv and evaluations.csv; `units__xlsx=...` adds a file (`__` = `.`),
    an empty string leaves that file out."""
    contents: dict[str, str | bytes] = {"units.csv": UNITS_CSV, "evaluations.csv": EVALUATIONS_CSV}
    for name, content in files.items():
        contents[name.replace("__", ".")] = content
    for name, content in contents.items():
        if content != "":
            write(folder / name, content)
    return folder


def zipped(path: Path, members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def folder_members(folder: Path, top: str = "") -> dict[str, bytes]:
    return {f"{top}{p.relative_to(folder).as_posix()}": p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def small_limits(methodology: Methodology, **changes: int) -> Methodology:
    limits = dataclasses.replace(methodology.limits, **changes)
    return dataclasses.replace(methodology, limits=limits)


def xlsx(path: Path, sheets: dict[str, list[list[object]]], first_row: int = 0) -> Path:
    """A workbook whose sheets hold the given rows (header first), starting at sheet row `first_row` + 1."""
    path.parent.mkdir(parents=True, exist_ok=True)
    workbook = xlsxwriter.Workbook(str(path))
    date_format = workbook.add_format({"num_format": "yyyy-mm-dd"})
    for name, rows in sheets.items():
        sheet = workbook.add_worksheet(name)
        for r, values in enumerate(rows):
            for c, value in enumerate(values):
                if isinstance(value, dt.date):
                    sheet.write_datetime(first_row + r, c, dt.datetime.combine(value, dt.time()), date_format)
                elif value is not None:
                    sheet.write(first_row + r, c, value)
    workbook.close()
    return path
