"""Unit tests of flows/intake/xlsx_child.py (named test_intake_xlsx_child: test module names are unique across
folders): an Excel sheet read in a child process, handed back as text cells in an Arrow file.

Each test starts one short child process (~0.2 s); no kill loops.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow.ipc as ipc
import pytest
import xlsxwriter

from flows.intake import xlsx_child

MEMORY = 2 * 2**30


def workbook(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    book = xlsxwriter.Workbook(str(path))
    for name, rows in sheets.items():
        sheet = book.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
    book.close()
    return path


def cells(found: xlsx_child.SheetCells) -> list[list[str | None]]:
    with ipc.open_file(found.arrow_file) as reader:
        table = reader.read_all()
    return [list(row.values()) for row in table.to_pylist()]


def test_the_sheet_named_like_the_table_is_read_as_text(tmp_path: Path) -> None:
    """Sheet ' Units ' matches table units (case and spaces aside) though it is not first; the number 5 comes
    back as text, the header as the first row (the reader is told there is none)."""
    path = workbook(tmp_path / "b.xlsx", {"notes": [["x"]], " Units ": [["unit_id", "score"], ["U1", 5]]})
    found = xlsx_child.read_sheet(path, "units", MEMORY, 60, tmp_path)
    assert found is not None and found.sheet == " Units "
    assert found.arrow_file.parent == tmp_path
    assert cells(found) == [["unit_id", "score"], ["U1", "5"]]


def test_the_first_sheet_when_none_is_named_like_the_table(tmp_path: Path) -> None:
    path = workbook(tmp_path / "b.xlsx", {"Sheet1": [["a"]], "Sheet2": [["b"]]})
    found = xlsx_child.read_sheet(path, "units", MEMORY, 60, tmp_path)
    assert found is not None and (found.sheet, cells(found)) == ("Sheet1", [["a"]])


def test_a_damaged_workbook_is_reported_as_damaged(tmp_path: Path) -> None:
    (tmp_path / "b.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(xlsx_child.XlsxReadFailed) as failed:
        xlsx_child.read_sheet(tmp_path / "b.xlsx", "units", MEMORY, 60, tmp_path)
    assert failed.value.damaged is True


def test_a_reader_over_its_time_is_stopped(tmp_path: Path) -> None:
    """No Python starts in 1 ms: the run is cut at the timeout, not damaged."""
    path = workbook(tmp_path / "b.xlsx", {"units": [["a"]]})
    with pytest.raises(xlsx_child.XlsxReadFailed, match=r"took longer than 0\.001 s") as failed:
        xlsx_child.read_sheet(path, "units", MEMORY, 0.001, tmp_path)
    assert failed.value.damaged is False
