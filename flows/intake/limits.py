"""Size checks on one table's file, made before a reader allocates for it, and on what it gave.

Readers in native code allocate from what a file declares: the Excel reader allocates a sheet's
whole bounding box (one cell written at XFD1048576 asks for 512 GiB and aborts the process), and
shared strings are held whole. So an XLSX's parts are streamed first (expat, counting, never
keeping text): unpacked bytes, the sheet's declared and real extent, the longest string. Every
figure is an `IntakeLimits` setting; breaking one raises `LimitExceeded` naming the file, the figure
and the setting, and the bundle is rejected alone.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from xml.parsers import expat

import polars as pl
import pyarrow.parquet as pq

from flows.settings import IntakeLimits

RULE_LIMIT = "limit_exceeded"
_CHUNK = 1 << 20
_CELL_REF = re.compile(r"^([A-Za-z]{1,3})(\d{1,7})$")


class LimitExceeded(Exception):
    """A table's file breaks an intake limit; the message says which, with the setting to change."""


def _setting(name: str) -> str:
    return f"setting PEKPPP_{name.upper()}"


def check_file_size(path: Path, limits: IntakeLimits) -> None:
    size = path.stat().st_size
    if size > limits.table_max_bytes:
        raise LimitExceeded(f"{path.name} is {size} bytes, more than the {limits.table_max_bytes} allowed for one "
                            f"table ({_setting('table_max_bytes')}); split it or contact the evaluation team.")


def _column_number(letters: str) -> int:
    number = 0
    for letter in letters.upper():
        number = number * 26 + ord(letter) - 64
    return number


def _cell(ref: str) -> tuple[int, int] | None:
    """(row, column), 1-based, of an A1 reference; None when it is not one."""
    found = _CELL_REF.match(ref.strip().replace("$", ""))
    return (int(found.group(2)), _column_number(found.group(1))) if found else None


class _SheetExtent:
    """Streams one sheet's XML: declared dimension, bounding box of its cells, cell count."""

    def __init__(self) -> None:
        self.declared: tuple[tuple[int, int], tuple[int, int]] | None = None
        self.low = [0, 0]
        self.high = [0, 0]
        self.cells = 0
        self._row = 0
        self._column = 0

    def start(self, name: str, attrs: dict[str, str]) -> None:
        tag = name.rsplit(":", 1)[-1]
        if tag == "c":
            position = _cell(attrs.get("r", "")) if "r" in attrs else None
            if position is None:
                self._column += 1
                position = (max(self._row, 1), self._column)
            self._column = position[1]
            self._see(position)
        elif tag == "row":
            self._row = int(attrs["r"]) if attrs.get("r", "").isdigit() else self._row + 1
            self._column = 0
        elif tag == "dimension":
            corners = [_cell(part) for part in attrs.get("ref", "").split(":")]
            if corners and all(corners):
                first, last = corners[0], corners[-1]
                self.declared = (first, last)  # type: ignore[assignment]

    def _see(self, position: tuple[int, int]) -> None:
        self.cells += 1
        if self.cells == 1:
            self.low, self.high = list(position), list(position)
            return
        for axis in (0, 1):
            self.low[axis] = min(self.low[axis], position[axis])
            self.high[axis] = max(self.high[axis], position[axis])

    def area(self) -> int:
        if not self.cells:
            return 0
        return (self.high[0] - self.low[0] + 1) * (self.high[1] - self.low[1] + 1)


class _StringLengths:
    """Streams sharedStrings.xml: the number of strings and the longest, without keeping any."""

    def __init__(self) -> None:
        self.count = 0
        self.longest = 0
        self._current = 0
        self._depth = 0

    def start(self, name: str, _attrs: dict[str, str]) -> None:
        if name.rsplit(":", 1)[-1] == "si":
            self.count += 1
            self._current = 0
            self._depth += 1

    def end(self, name: str) -> None:
        if name.rsplit(":", 1)[-1] == "si":
            self._depth -= 1
            self.longest = max(self.longest, self._current)

    def text(self, data: str) -> None:
        if self._depth:
            self._current += len(data)


def _stream(book: zipfile.ZipFile, info: zipfile.ZipInfo, parser: expat.XMLParserType, budget: list[int],
            path: Path, limits: IntakeLimits) -> None:
    with book.open(info) as part:
        while chunk := part.read(_CHUNK):
            budget[0] -= len(chunk)
            if budget[0] < 0:
                raise LimitExceeded(
                    f"{path.name} unpacks to more than {limits.xlsx_max_unpacked_bytes} bytes "
                    f"({_setting('xlsx_max_unpacked_bytes')}); save the sheet again in Excel, or send the table "
                    "as .csv.")
            parser.Parse(chunk, False)
        parser.Parse(b"", True)


def check_xlsx(path: Path, limits: IntakeLimits) -> None:
    """Refuse an XLSX whose sheets or strings would make the Excel reader allocate beyond the limits.

    Streams every worksheet and the shared strings (nothing kept): unpacked bytes (counted, not
    trusted from the zip's headers), each sheet's declared dimension and the bounding box of its
    cells against `xlsx_max_cells`, rows and columns against the table limits, and the longest
    shared string against `cell_max_chars`. A workbook too damaged to stream is left to the reader,
    which says so.
    """
    try:
        book = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError):
        return
    with book:
        infos = book.infolist()
        declared = sum(i.file_size for i in infos)
        if declared > limits.xlsx_max_unpacked_bytes:
            raise LimitExceeded(
                f"{path.name} unpacks to {declared} bytes, more than the {limits.xlsx_max_unpacked_bytes} allowed "
                f"({_setting('xlsx_max_unpacked_bytes')}); save it again in Excel, or send the table as .csv.")
        budget = [limits.xlsx_max_unpacked_bytes]
        for info in infos:
            name = info.filename.lower()
            try:
                if name.startswith("xl/worksheets/") and name.endswith(".xml"):
                    _check_sheet(book, info, budget, path, limits)
                elif name == "xl/sharedstrings.xml":
                    _check_strings(book, info, budget, path, limits)
            except (expat.ExpatError, zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
                return  # damaged: fastexcel reports it as unreadable


def _check_sheet(book: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int], path: Path,
                 limits: IntakeLimits) -> None:
    extent = _SheetExtent()
    parser = expat.ParserCreate(encoding="UTF-8")  # as the reader reads it, whatever is declared
    parser.StartElementHandler = extent.start
    _stream(book, info, parser, budget, path, limits)
    sheet = info.filename.rsplit("/", 1)[-1]
    if extent.declared is not None:
        (top, left), (bottom, right) = extent.declared
        declared_area = (abs(bottom - top) + 1) * (abs(right - left) + 1)
        if declared_area > limits.xlsx_max_cells:
            raise LimitExceeded(
                f"{path.name}: sheet {sheet} declares {declared_area} cells, more than the {limits.xlsx_max_cells} "
                f"allowed ({_setting('xlsx_max_cells')}); delete the empty rows and columns after your data (or copy "
                "the data into a new workbook) and send it again.")
    area = extent.area()
    if area > limits.xlsx_max_cells:
        raise LimitExceeded(
            f"{path.name}: sheet {sheet} spans {area} cells (rows {extent.low[0]}-{extent.high[0]}, columns "
            f"{extent.low[1]}-{extent.high[1]}), more than the {limits.xlsx_max_cells} allowed "
            f"({_setting('xlsx_max_cells')}); delete what is written far from the table and send it again.")
    rows, columns = extent.high[0] - extent.low[0] + 1, extent.high[1] - extent.low[1] + 1
    if extent.cells and rows > limits.table_max_rows + 1:
        raise LimitExceeded(f"{path.name}: sheet {sheet} has {rows} rows, more than the {limits.table_max_rows} "
                            f"allowed ({_setting('table_max_rows')}).")
    if extent.cells and columns > limits.table_max_columns:
        raise LimitExceeded(f"{path.name}: sheet {sheet} has {columns} columns, more than the "
                            f"{limits.table_max_columns} allowed ({_setting('table_max_columns')}).")


def _check_strings(book: zipfile.ZipFile, info: zipfile.ZipInfo, budget: list[int], path: Path,
                   limits: IntakeLimits) -> None:
    lengths = _StringLengths()
    parser = expat.ParserCreate(encoding="UTF-8")  # as the reader reads it, whatever is declared
    parser.StartElementHandler = lengths.start
    parser.EndElementHandler = lengths.end
    parser.CharacterDataHandler = lengths.text
    _stream(book, info, parser, budget, path, limits)
    if lengths.longest > limits.cell_max_chars:
        raise LimitExceeded(
            f"{path.name} holds a text of {lengths.longest} characters, more than the {limits.cell_max_chars} allowed "
            f"in one cell ({_setting('cell_max_chars')}); shorten it and send the file again.")


def check_parquet(path: Path, limits: IntakeLimits) -> None:
    """Rows, columns and unpacked size from the Parquet footer, before any page is read."""
    try:
        meta = pq.read_metadata(path)
    except Exception:  # damaged: the reader reports it as unreadable
        return
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if meta.num_rows > limits.table_max_rows:
        raise LimitExceeded(f"{path.name} has {meta.num_rows} rows, more than the {limits.table_max_rows} allowed "
                            f"({_setting('table_max_rows')}).")
    if meta.num_columns > limits.table_max_columns:
        raise LimitExceeded(f"{path.name} has {meta.num_columns} columns, more than the {limits.table_max_columns} "
                            f"allowed ({_setting('table_max_columns')}).")
    if unpacked > limits.table_max_bytes:
        raise LimitExceeded(f"{path.name} unpacks to {unpacked} bytes, more than the {limits.table_max_bytes} allowed "
                            f"for one table ({_setting('table_max_bytes')}).")


def check_frame(frame: pl.DataFrame, path: Path, limits: IntakeLimits, *, row_column: str) -> None:
    """What a reader gave: rows, columns, and the longest cell (one query over the text columns)."""
    cells = [c for c, dtype in frame.schema.items() if c != row_column and dtype == pl.String]
    if frame.height > limits.table_max_rows:
        raise LimitExceeded(f"{path.name} has {frame.height} rows, more than the {limits.table_max_rows} allowed "
                            f"({_setting('table_max_rows')}); split it or contact the evaluation team.")
    if len(frame.columns) - 1 > limits.table_max_columns:
        raise LimitExceeded(f"{path.name} has {len(frame.columns) - 1} columns, more than the "
                            f"{limits.table_max_columns} allowed ({_setting('table_max_columns')}).")
    # a column's whole size bounds its longest cell: only columns bigger than the limit are looked into
    cells = [c for c in cells if frame[c].estimated_size() > limits.cell_max_chars]
    if not cells or frame.height == 0:
        return
    widest = frame.select(pl.max_horizontal(pl.col(cells).str.len_bytes().max())).item()
    if widest is None or widest <= limits.cell_max_chars:  # characters never outnumber bytes: done
        return
    longest = frame.select(pl.max_horizontal(pl.col(cells).str.len_chars().max())).item()
    if longest is not None and longest > limits.cell_max_chars:
        column = next(c for c in cells if (frame[c].str.len_chars().max() or 0) == longest)
        row = frame.filter(pl.col(column).str.len_chars() == longest)[row_column][0]
        raise LimitExceeded(f"{path.name} row {row} column '{column}' holds {longest} characters, more than the "
                            f"{limits.cell_max_chars} allowed in one cell ({_setting('cell_max_chars')}); shorten it.")
