"""Unit tests of flows/intake/limits.py (named test_intake_limits: test module names are unique across folders).

Size checks before a reader allocates (XLSX extent and strings, Parquet footer) and after (the frame).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from flows.intake import limits
from flows.settings import IntakeLimits

LIMITS = IntakeLimits()


def workbook(path: Path, cells: dict[tuple[int, int], str]) -> Path:
    """An XLSX whose one sheet holds text at (row, column), 0-based as xlsxwriter counts."""
    book = xlsxwriter.Workbook(str(path))
    sheet = book.add_worksheet("units")
    for (row, column), text in cells.items():
        sheet.write_string(row, column, text)
    book.close()
    return path


def test_file_size_limit_is_inclusive(tmp_path: Path) -> None:
    (tmp_path / "t.csv").write_bytes(b"x" * 10)
    limits.check_file_size(tmp_path / "t.csv", dataclasses.replace(LIMITS, table_max_bytes=10))
    with pytest.raises(limits.LimitExceeded, match=r"t\.csv is 10 bytes, more than the 9 allowed.*TABLE_MAX_BYTES"):
        limits.check_file_size(tmp_path / "t.csv", dataclasses.replace(LIMITS, table_max_bytes=9))


def test_xlsx_extent_counts_the_bounding_box(tmp_path: Path) -> None:
    """Cells at A1 and C4 span 4 rows x 3 columns = 12 cells: within 12, over 11."""
    path = workbook(tmp_path / "u.xlsx", {(0, 0): "a", (3, 2): "b"})
    limits.check_xlsx(path, dataclasses.replace(LIMITS, xlsx_max_cells=12))
    with pytest.raises(limits.LimitExceeded, match=r"(declares|spans) 12 cells.*PEKPPP_XLSX_MAX_CELLS"):
        limits.check_xlsx(path, dataclasses.replace(LIMITS, xlsx_max_cells=11))


def test_one_far_cell_is_refused_before_reading(tmp_path: Path) -> None:
    """A cell at row 100,000 of column Z makes a box of 100,000 x 26 = 2.6 M cells (default limit 20 M): fine;
    with a limit of 1 M it is refused."""
    path = workbook(tmp_path / "u.xlsx", {(0, 0): "a", (99_999, 25): "far"})
    limits.check_xlsx(path, LIMITS)
    with pytest.raises(limits.LimitExceeded, match="2600000 cells"):
        limits.check_xlsx(path, dataclasses.replace(LIMITS, xlsx_max_cells=1_000_000))


def test_xlsx_rows_columns_and_long_strings(tmp_path: Path) -> None:
    """Rows count the header (3 rows = 2 data rows), columns the width; a shared string of 50 characters
    breaks a cell limit of 49."""
    path = workbook(tmp_path / "u.xlsx", {(0, 0): "h", (2, 1): "x" * 50})
    limits.check_xlsx(path, dataclasses.replace(LIMITS, table_max_rows=2, table_max_columns=2, cell_max_chars=50))
    with pytest.raises(limits.LimitExceeded, match="has 3 rows, more than the 1 allowed"):
        limits.check_xlsx(path, dataclasses.replace(LIMITS, table_max_rows=1))
    with pytest.raises(limits.LimitExceeded, match="has 2 columns, more than the 1 allowed"):
        limits.check_xlsx(path, dataclasses.replace(LIMITS, table_max_columns=1))
    with pytest.raises(limits.LimitExceeded, match=r"text of 50 characters.*PEKPPP_CELL_MAX_CHARS"):
        limits.check_xlsx(path, dataclasses.replace(LIMITS, cell_max_chars=49))


def test_a_file_that_is_not_a_zip_is_left_to_the_reader(tmp_path: Path) -> None:
    (tmp_path / "u.xlsx").write_bytes(b"not a zip")
    limits.check_xlsx(tmp_path / "u.xlsx", dataclasses.replace(LIMITS, xlsx_max_cells=1))


def test_parquet_footer_rows_and_columns(tmp_path: Path) -> None:
    pl.DataFrame({"a": range(5), "b": range(5)}).write_parquet(tmp_path / "t.parquet")
    limits.check_parquet(tmp_path / "t.parquet", dataclasses.replace(LIMITS, table_max_rows=5, table_max_columns=2))
    with pytest.raises(limits.LimitExceeded, match="has 5 rows, more than the 4 allowed"):
        limits.check_parquet(tmp_path / "t.parquet", dataclasses.replace(LIMITS, table_max_rows=4))
    with pytest.raises(limits.LimitExceeded, match="has 2 columns, more than the 1 allowed"):
        limits.check_parquet(tmp_path / "t.parquet", dataclasses.replace(LIMITS, table_max_columns=1))
    (tmp_path / "bad.parquet").write_bytes(b"PAR1junk")
    limits.check_parquet(tmp_path / "bad.parquet", LIMITS)  # damaged: the reader says so


def test_check_frame_rows_columns_and_the_longest_cell(tmp_path: Path) -> None:
    """The row column does not count; the longest cell is named by its source row (the `_row` value) and
    counted in characters, not bytes ('é' x 30 is 30 characters, 60 bytes)."""
    frame = pl.DataFrame({"_row": [2, 3], "name": ["ok", "é" * 30]})
    path = tmp_path / "units.csv"
    limits.check_frame(frame, path, dataclasses.replace(LIMITS, table_max_rows=2, table_max_columns=1,
                                                        cell_max_chars=30), row_column="_row")
    with pytest.raises(limits.LimitExceeded, match=r"units\.csv row 3 column 'name' holds 30 characters"):
        limits.check_frame(frame, path, dataclasses.replace(LIMITS, cell_max_chars=29), row_column="_row")
    with pytest.raises(limits.LimitExceeded, match="has 2 rows, more than the 1 allowed"):
        limits.check_frame(frame, path, dataclasses.replace(LIMITS, table_max_rows=1), row_column="_row")
