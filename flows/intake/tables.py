"""Reading one table's file, whatever its format (CSV, XLSX, Parquet, JSON, JSON Lines), into an all-text frame.

One reader per format; each turns its file into an all-text frame with normalised headers and the source row
`_row`, and `transforms.parsing.parse_table` types it, so every format obeys the same rules.

`_row` is the row a person finds when they open the file:

- CSV: the spreadsheet row with the header as row 1 (first data row = 2). This is the record number + 1,
  which is also the line number unless a quoted value spans several lines (Excel shows such a record
  as one row; so do we). An Excel `sep=;` hint line is not counted, as Excel hides it too.
- XLSX: the sheet's own row number; the header is the first non-empty row of the sheet (usually 1).
- JSON Lines: the line number (blank lines count, as in an editor).
- JSON (array of objects) and Parquet: the 1-based record number (no header row exists).

Rows whose cells are all empty are dropped after numbering (Excel's trailing blank rows, `;;;;`
lines); the numbers of the other rows do not move. A file that cannot be read as its format says
raises `UnreadableFile`, which becomes a critical issue of the bundle (flows/readers.py).
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import fastexcel
import polars as pl

from flows.intake.limits import (
    RULE_LIMIT,
    LimitExceeded,
    check_file_size,
    check_frame,
    check_parquet,
    check_xlsx,
)
from flows.intake.xlsx_child import XlsxReadFailed, read_sheet
from flows.settings import IntakeLimits, intake_limits
from transforms.messages import one_line
from transforms.parsing import EXTRA, duplicated_headers, normalise_header
from transforms.schemas import COMPLIANCE, ROW, SEVERITY_CRITICAL, input_specs

TABLE_FORMATS = (".csv", ".xlsx", ".parquet", ".json", ".jsonl")

RULE_UNREADABLE = "unreadable"
RULE_DUPLICATE_COLUMN = "duplicate_column"
RULE_DUPLICATE_KEY = "duplicate_key"
RULE_MIXED_ENCODING = "mixed_encoding"
RULE_UNSUPPORTED_FORMAT = "unsupported_format"

_CHUNK = 1 << 22
"""Bytes read at a time when checking encodings (bounded memory)."""
_HEAD = 1 << 16
"""Bytes of a CSV looked at to find its separator and header."""
_RAGGED_SPARE_FIELDS = 4
"""Extra fields read for a CSV whose rows are longer than its header, to show what overflowed."""
_SEPARATORS = (",", ";", "\t")
_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2}) 00:00:00$"


# ---------------------------------------------------------------- typed error


class UnreadableFile(Exception):
    """A table's file cannot be read as its format says (damaged, binary, bad JSON, ambiguous header)."""

    def __init__(self, table: str, path: Path, message: str, *, rule: str = RULE_UNREADABLE,
                 column: str | None = None) -> None:
        self.table = table
        self.path = path
        self.message = one_line(message)
        self.rule = rule
        self.column = column
        super().__init__(f"{path.name}: {self.message}")

    def issue(self) -> dict[str, Any]:
        """The problem as a critical issue row."""
        return table_issue(self.table, self.rule, self.message, column=self.column, value=self.path.name)



def table_issue(table: str, rule: str, message: str, *, column: str | None = None,
           value: str | None = None, severity: str = SEVERITY_CRITICAL) -> dict[str, Any]:
    return {"table": table, "row": None, "column": column, "value": value, "rule": rule,
            "severity": severity, "message": one_line(message)}



# ---------------------------------------------------------------- one reader per format


def read_raw(path: Path, table: str) -> pl.DataFrame:
    """One table's file as all-String columns with normalised headers, plus `_row` (Int64).

    Columns beyond the contract are kept (parsing ignores them). A CSV row longer than the header
    gets its surplus cells in `_extra`. An empty file gives a frame with no rows (and, when there was
    not even a header, no columns besides `_row`). Raises `UnreadableFile` when the file cannot be read.
    """
    readers: dict[str, Callable[[Path, str], pl.DataFrame]] = {
        ".csv": _read_csv, ".xlsx": _read_xlsx, ".parquet": _read_parquet, ".json": _read_json,
        ".jsonl": _read_jsonl,
    }
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(table, path, f"{path.name} is not a supported format; save it as one of "
                                          f"{', '.join(TABLE_FORMATS)}", rule=RULE_UNSUPPORTED_FORMAT)
    try:
        if path.stat().st_size == 0:
            return _empty()
    except OSError as err:
        raise UnreadableFile(table, path, f"{path.name} could not be opened ({err.strerror or err})") from err
    limits = intake_limits()
    try:
        check_file_size(path, limits)
        if reader is _read_xlsx:
            check_xlsx(path, limits)
        elif reader is _read_parquet:
            check_parquet(path, limits)
        frame = reader(path, table)
        check_frame(frame, path, limits, row_column=ROW)
    except LimitExceeded as err:
        raise UnreadableFile(table, path, str(err), rule=RULE_LIMIT) from err
    return frame


def _empty() -> pl.DataFrame:
    """A file with nothing in it, not even a header."""
    return pl.DataFrame(schema={ROW: pl.Int64})


def _column_names(cells: Sequence[str | None], table: str, path: Path) -> list[str]:
    """Normalised header names; two cells naming the same column make the file ambiguous."""
    names = [normalise_header(cell, n) for n, cell in enumerate(cells, start=1)]
    repeated = duplicated_headers(names)
    if repeated:
        raise UnreadableFile(
            table, path,
            f"{path.name} has more than one column named '{repeated[0]}' (names are compared ignoring "
            "case and spaces); keep one, rename or delete the others, and send the file again.",
            rule=RULE_DUPLICATE_COLUMN, column=repeated[0])
    return names


def _numbered(frame: pl.DataFrame, first_row: int) -> pl.DataFrame:
    """Add `_row` (first_row for the first record, then consecutive) and drop rows with no value at all.

    `with_row_index` keeps the reader's chunk layout; a freshly built column would not, and every
    later expression over both would first copy all columns into one chunk (seconds at 10 M rows).
    """
    columns = frame.columns
    frame = frame.with_row_index(ROW, offset=first_row)
    frame = frame.select(*columns, pl.col(ROW).cast(pl.Int64))
    cells = [c for c in frame.columns if c not in (ROW, EXTRA)]
    if not cells:
        return frame
    return _without_blank_rows(frame, cells)


def _without_blank_rows(frame: pl.DataFrame, cells: list[str]) -> pl.DataFrame:
    """Drop rows with no value in `cells`; trailing blank rows (the usual case) are cut without a copy."""
    keep = frame.select(pl.any_horizontal(pl.col(c).is_not_null() for c in cells)).to_series()
    kept = int(keep.sum())
    if kept == frame.height:
        return frame
    if kept == 0:
        return frame.clear()
    if kept == int(keep.arg_true()[-1]) + 1:
        return frame.head(kept)
    return frame.filter(keep)


_SURVEY_ELEMENTS = ("persyaratan", "prosedur", "waktu", "biaya", "produk", "kompetensi", "perilaku", "pengaduan",
                    "sarana")


def _contract_columns(table: str) -> set[str]:
    """The columns the contract names for a table (survey elements: the standard nine); empty for a
    name that is not a table (then every nested column is refused)."""
    spec = {**input_specs(list(_SURVEY_ELEMENTS)), COMPLIANCE.name: COMPLIANCE}.get(table)
    return set(spec.names) if spec is not None else set()


def _as_text(frame: pl.DataFrame, table: str, path: Path) -> pl.DataFrame:
    """Every column as String (numbers, dates and booleans as their usual spelling).

    A column of lists, records or binary data is refused when the contract names it, and left out
    when it is one of the region's own columns (columns beyond the contract are ignored).
    """
    nested = [name for name, dtype in frame.schema.items() if dtype.is_nested() or dtype == pl.Binary]
    contract = _contract_columns(table) | {ROW}
    refused = [name for name in nested if name in contract or not contract - {ROW}]
    if refused:
        raise UnreadableFile(table, path, f"{path.name}: column '{refused[0]}' holds lists, records or binary "
                                          "data, not plain values; write one plain value per cell.")
    return frame.drop(nested).with_columns(pl.all().cast(pl.String))


def _json_as_text(schema: pl.Schema) -> pl.Schema | None:
    """The schema to read JSON values as their own text (`false` stays 'false', `4` stays '4': a column
    mixing types must not be unified silently into numbers); None when every column is text already."""
    if all(dtype == pl.String or dtype.is_nested() for dtype in schema.values()):
        return None
    return pl.Schema({name: dtype if dtype.is_nested() else pl.String for name, dtype in schema.items()})


# ---- CSV


_COMPRESSED = ((b"\x1f\x8b", "gzip"), (b"\x28\xb5\x2f\xfd", "zstd"), (b"x\x01", "zlib"), (b"x^", "zlib"),
               (b"x\x9c", "zlib"), (b"x\xda", "zlib"))
"""Starts of the compressed streams Polars' CSV reader inflates on its own, whatever the file's name."""


def _refuse_compressed(head: bytes, path: Path, table: str) -> None:
    """A text table must not start like a gzip, zlib or zstd stream: Polars inflates such a stream unasked (past
    the size limits, were it valid text otherwise) or raises an OSError on a broken one."""
    start = head.removeprefix(b"\xef\xbb\xbf")  # Polars' JSON reader looks past a byte-order mark
    for magic, kind in _COMPRESSED:
        if start.startswith(magic):
            raise UnreadableFile(table, path, (
                f"{path.name} starts like a {kind}-compressed file, not plain text; send the table itself, "
                "uncompressed (a whole bundle may come as one .zip), then send it again."))


def _read_csv(path: Path, table: str) -> pl.DataFrame:
    """CSV in UTF-8 (with or without BOM) or Windows-1252; `,`, `;` or tab separated, `"` quoted."""
    with path.open("rb") as handle:
        head = handle.read(_HEAD)
    _refuse_compressed(head, path, table)
    encoding = _csv_encoding(path, table)
    head_text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head).lstrip("\ufeff")
    if not head_text.strip():
        return _empty()
    separator, header, skip = _csv_layout(head_text)
    if not header:
        return _empty()
    limits = intake_limits()
    if len(header) > limits.table_max_columns or (len(head) == _HEAD and "\n" not in head_text):
        raise LimitExceeded(
            f"{path.name}'s header row has {'more than ' if len(head) == _HEAD else ''}{len(header)} columns "
            f"(or is longer than {_HEAD} bytes), more than the {limits.table_max_columns} columns allowed (setting "
            "PEKPPP_TABLE_MAX_COLUMNS); keep the contract's columns and a few of your own, and send it again.")
    names = _column_names(header, table, path)
    source: Path | bytes = path
    if encoding == "cp1252":
        try:
            source = path.read_bytes().decode("cp1252").encode("utf-8")
        except UnicodeDecodeError as err:  # bytes Windows-1252 leaves undefined: not text at all
            raise UnreadableFile(table, path, _not_text(path)) from err
    try:
        frame = _csv_frame(source, names, separator, skip, spare=0)
    except pl.exceptions.PolarsError:
        frame = _ragged_csv_frame(source, names, separator, skip, table, path)
    return _numbered(frame, first_row=2)


def _csv_encoding(path: Path, table: str) -> str:
    """`utf-8` when the whole file is valid UTF-8, else `cp1252`; a file with NUL bytes is not text.

    Streams the file once (bounded memory); the common UTF-8 case is then read by Polars directly.
    """
    decoder = codecs.getincrementaldecoder("utf-8")()
    valid = True
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            if b"\x00" in chunk:
                raise UnreadableFile(table, path, _not_text(path))
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
    if valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    if not valid:
        _refuse_mixed_encoding(path, table)
    return "utf-8" if valid else "cp1252"


def _refuse_mixed_encoding(path: Path, table: str) -> None:
    """A file whose lines are partly UTF-8 text and partly Windows-1252 is refused, naming a line of each.

    Read as either, some of its text would be garbled silently (UTF-8 'â€“' for '–'). Only files
    that are not valid UTF-8 get here; lines of plain ASCII belong to both and are not counted.
    """
    utf8_line = cp1252_line = None
    with path.open("rb") as handle:
        for number, line in enumerate(handle, start=1):
            if line.isascii():
                continue
            try:
                line.decode("utf-8")
                utf8_line = utf8_line or number
            except UnicodeDecodeError:
                cp1252_line = cp1252_line or number
            if utf8_line and cp1252_line:
                raise UnreadableFile(table, path, (
                    f"{path.name} mixes encodings: line {utf8_line} is UTF-8 text and line {cp1252_line} is "
                    "Windows-1252, so one of them would be garbled; open it in Excel, fix the odd characters and "
                    "save it as 'CSV UTF-8', then send it again."), rule=RULE_MIXED_ENCODING)


def _not_text(path: Path) -> str:
    return (f"{path.name} is not a text file in UTF-8 or Windows-1252 (it may be binary, UTF-16 'Unicode "
            "text', or not a CSV at all); open it in Excel and save it as 'CSV UTF-8', then send it again.")


def _csv_layout(head: str) -> tuple[str, list[str], int]:
    """(separator, header cells, records before the data) from the start of the file.

    The separator is the candidate that splits the header record into the most fields (`,` wins
    ties); an Excel `sep=X` first line names it outright.
    """
    first_line = head.split("\n", 1)[0].strip()
    hint = re.fullmatch(r"sep=(.)", first_line)
    if hint:
        separator = hint.group(1)
        header = next(csv.reader(io.StringIO(head.split("\n", 1)[1] if "\n" in head else "", newline=""),
                                 delimiter=separator), [])
        return separator, header, 2
    best: tuple[str, list[str]] = (",", [])
    for candidate in _SEPARATORS:
        cells = next(csv.reader(io.StringIO(head, newline=""), delimiter=candidate), [])
        if len(cells) > len(best[1]):
            best = (candidate, cells)
    return best[0], best[1], 1


def _csv_frame(source: Path | bytes, names: list[str], separator: str, skip: int, spare: int) -> pl.DataFrame:
    """All cells as text; with `spare` > 0, rows longer than the header keep up to `spare` surplus cells."""
    schema = {**dict.fromkeys(names, pl.String), **{_spare(n): pl.String for n in range(spare)}}
    return pl.read_csv(source, has_header=False, skip_rows=skip, schema=schema, separator=separator,
                       quote_char='"', encoding="utf8", raise_if_empty=False, missing_columns="insert",
                       extra_columns="ignore" if spare else "raise", truncate_ragged_lines=spare > 0)


def _spare(n: int) -> str:
    return f"{EXTRA}__spare_{n}"


def _ragged_csv_frame(source: Path | bytes, names: list[str], separator: str, skip: int, table: str,
                      path: Path) -> pl.DataFrame:
    """Second try for a CSV whose rows are longer than its header: surplus cells go to `_extra`."""
    try:
        frame = _csv_frame(source, names, separator, skip, spare=_RAGGED_SPARE_FIELDS)
    except pl.exceptions.PolarsError as err:
        raise UnreadableFile(table, path, (
            f"{path.name} could not be read as CSV ({error_line(err)}). Look for a double quote (\") that opens a "
            "value and is never closed; open the file in Excel and save it again as 'CSV UTF-8'.")) from err
    spare = [_spare(n) for n in range(_RAGGED_SPARE_FIELDS)]
    return frame.with_columns(
        pl.concat_str(spare, separator=separator, ignore_nulls=True).replace("", None).alias(EXTRA)
    ).drop(spare)


# ---- XLSX


def _read_xlsx(path: Path, table: str) -> pl.DataFrame:
    """The sheet named like the table (any case), else the first sheet; every cell as text.

    Whole numbers come out as `4` (not `4.0`); date cells as ISO `YYYY-MM-DD` (with the time when
    it is not midnight).
    """
    limits = intake_limits()
    try:
        if limits.xlsx_reader_child:
            found = _sheet_in_child(path, table, limits)
            if found is None:
                return _empty()
            sheet, cells = found
        else:
            workbook = fastexcel.read_excel(path)
            names = workbook.sheet_names
            if not names:
                return _empty()
            sheet = next((n for n in names if n.strip().lower() == table), names[0])
            cells = workbook.load_sheet(sheet, header_row=None, dtypes="string").to_polars()
    except (fastexcel.FastExcelError, XlsxReadFailed) as err:
        if isinstance(err, XlsxReadFailed) and not err.damaged:
            raise UnreadableFile(table, path, (
                f"{path.name} could not be read within the limits for one sheet ({err}; settings "
                "PEKPPP_XLSX_READER_MEMORY_BYTES, PEKPPP_XLSX_READER_TIMEOUT_SECONDS); save the table again in a "
                "new workbook, or send it as .csv."), rule=RULE_LIMIT) from err
        raise UnreadableFile(table, path, (
            f"{path.name} could not be opened as an Excel workbook (it is damaged, incomplete or not really "
            ".xlsx); open it in Excel, save it again as .xlsx and send it again.")) from err
    if cells.height == 0:
        return _empty()
    columns = _column_names(cells.row(0), table, path)
    data = cells.slice(1).rename(dict(zip(cells.columns, columns, strict=True)))
    data = data.with_columns(pl.col(c).str.replace(_MIDNIGHT, "${1}") for c in columns)
    return _numbered(data, first_row=_sheet_first_row(path, sheet) + 1)


def _sheet_in_child(path: Path, table: str, limits: IntakeLimits) -> tuple[str, pl.DataFrame] | None:
    """(sheet name, text cells) read by the child process of `flows/intake/xlsx_child.py`; None: no sheet."""
    with tempfile.TemporaryDirectory(prefix="pekppp-xlsx-") as work:
        found = read_sheet(path, table, limits.xlsx_reader_memory_bytes, limits.xlsx_reader_timeout_seconds,
                           Path(work))
        if found is None:
            return None
        return found.sheet, pl.read_ipc(found.arrow_file.read_bytes())


def _sheet_first_row(path: Path, sheet: str) -> int:
    """Sheet row (1-based) of the first non-empty cell: where the reader found the header.

    The Excel engine starts a sheet at its first non-empty row and does not say which row that is, so
    it is looked up in the workbook's XML (streamed; stops at the first value). Falls back to 1.
    """
    def local(tag: str) -> str:
        return tag.rsplit("}", 1)[-1]

    try:
        with zipfile.ZipFile(path) as book:
            workbook = ElementTree.fromstring(book.read("xl/workbook.xml"))
            rel_id = next(next(v for k, v in e.attrib.items() if local(k) == "id")
                          for e in workbook.iter() if local(e.tag) == "sheet" and e.get("name") == sheet)
            rels = ElementTree.fromstring(book.read("xl/_rels/workbook.xml.rels"))
            target = next(e.get("Target", "") for e in rels.iter() if e.get("Id") == rel_id)
            member = target.lstrip("/") if target.startswith("/") else f"xl/{target}"
            with book.open(member) as sheet_xml:
                row = 0
                for event, element in ElementTree.iterparse(sheet_xml, events=("start", "end")):
                    tag = local(element.tag)
                    if event == "start" and tag == "row":
                        row = int(element.get("r") or row + 1)
                    elif event == "end" and tag == "c":
                        if any(local(child.tag) in ("v", "is") and (child.text or len(child)) for child in element):
                            return row
                        element.clear()
                    elif event == "end" and tag == "row":
                        element.clear()
    except (OSError, KeyError, StopIteration, ValueError, zipfile.BadZipFile, ElementTree.ParseError):
        pass
    return 1


# ---- Parquet, JSON, JSON Lines


def _read_parquet(path: Path, table: str) -> pl.DataFrame:
    """Every column cast to text; `_row` is the record number (first record = 1)."""
    try:
        frame = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as err:
        raise UnreadableFile(table, path, (
            f"{path.name} could not be read as Parquet (it is damaged or not really Parquet); export it "
            "again, or send the table as .csv or .xlsx.")) from err
    frame = frame.rename(dict(zip(frame.columns, _column_names(frame.columns, table, path), strict=True)))
    return _numbered(_as_text(frame, table, path), first_row=1)


def _read_json(path: Path, table: str) -> pl.DataFrame:
    """A JSON array of objects (one object per row); `_row` is the record number (first = 1)."""
    data = path.read_bytes()
    if not data.strip(b" \t\r\n\xef\xbb\xbf"):
        return _empty()
    _refuse_compressed(data[:8], path, table)
    _refuse_duplicate_keys([(None, data)], table, path)
    try:
        frame = pl.read_json(data, infer_schema_length=None)
        as_text = _json_as_text(frame.schema)
        if as_text is not None:
            frame = pl.read_json(data, schema=as_text)
    except pl.exceptions.PolarsError as err:
        raise UnreadableFile(table, path, (
            f"{path.name} is not a valid JSON array of objects ({error_line(err)}); write it as "
            '[{"column": value, ...}, ...] in UTF-8, or send the table as .csv or .xlsx.')) from err
    frame = frame.rename(dict(zip(frame.columns, _column_names(frame.columns, table, path), strict=True)))
    return _numbered(_as_text(frame, table, path), first_row=1)


class _DuplicateKey(Exception):
    def __init__(self, key: str, record: int) -> None:
        self.key, self.record = key, record


def _refuse_duplicate_keys(texts: list[tuple[int | None, bytes | str]], table: str, path: Path) -> None:
    """A JSON object naming one key twice is refused (a JSON reader would keep one value silently).

    `texts` are (line number or None, JSON text); objects are counted as they close, so for a
    line-less array of flat records the count is the record number. Nothing is kept while parsing.
    """
    for line, text in texts:
        closed = [0]

        def pairs(items: list[tuple[str, Any]], closed: list[int] = closed) -> None:
            closed[0] += 1
            seen: set[str] = set()
            for key, _value in items:
                if key in seen:
                    raise _DuplicateKey(key, closed[0])
                seen.add(key)

        try:
            json.loads(text.decode("utf-8-sig") if isinstance(text, bytes) else text, object_pairs_hook=pairs)
        except _DuplicateKey as dup:
            where = f"line {line}" if line is not None else f"record {dup.record}"
            raise UnreadableFile(table, path, (
                f"{path.name} {where} has the key '{dup.key}' more than once, so it is unclear which value counts; "
                "keep one and send the file again."), rule=RULE_DUPLICATE_KEY, column=dup.key) from None
        except (ValueError, RecursionError):
            continue  # not plain JSON to Python (deep nesting, odd numbers): what Polars read stands


def _read_jsonl(path: Path, table: str) -> pl.DataFrame:
    """JSON Lines: one object per line; `_row` is the line number (blank lines are counted, not read)."""
    with path.open("rb") as handle:
        _refuse_compressed(handle.read(8), path, table)
    try:
        lines = pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, encoding="utf8",
                            schema={"line": pl.String}, raise_if_empty=False, truncate_ragged_lines=True)
    except pl.exceptions.PolarsError as err:
        raise UnreadableFile(table, path, f"{path.name} is not UTF-8 text ({error_line(err)}); save it as "
                                          "UTF-8 JSON Lines, or send the table as .csv or .xlsx.") from err
    numbered = (lines.with_columns(pl.int_range(1, pl.len() + 1, dtype=pl.Int64).alias(ROW))
                .filter(pl.col("line").str.strip_chars().str.len_bytes() > 0))
    if numbered.height == 0:
        return _empty()
    _refuse_duplicate_keys(list(zip(numbered.get_column(ROW).to_list(), numbered.get_column("line").to_list(),
                                    strict=True)), table, path)
    try:
        records = numbered.get_column("line").str.json_decode(infer_schema_length=None)
        if not isinstance(records.dtype, pl.Struct):
            raise pl.exceptions.ComputeError("a line is not a JSON object")
        as_text = _json_as_text(pl.Schema({f.name: f.dtype for f in records.dtype.fields}))
        if as_text is not None:
            records = numbered.get_column("line").str.json_decode(pl.Struct(as_text))
    except pl.exceptions.PolarsError as err:
        raise UnreadableFile(table, path, (
            f"{path.name} is not valid JSON Lines ({_bad_json_line(numbered)}); write one JSON object per "
            "line in UTF-8, or send the table as .csv or .xlsx.")) from err
    frame = records.struct.unnest()
    frame = frame.rename(dict(zip(frame.columns, _column_names(frame.columns, table, path), strict=True)))
    frame = _as_text(frame, table, path).with_columns(numbered.get_column(ROW))
    cells = [c for c in frame.columns if c != ROW]
    return _without_blank_rows(frame, cells) if cells else frame


def error_line(err: Exception) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def _bad_json_line(numbered: pl.DataFrame) -> str:
    """Where the first line that is not a JSON object is (only called once reading has failed)."""
    for row, line in zip(numbered.get_column(ROW), numbered.get_column("line"), strict=True):
        try:
            if not isinstance(json.loads(line), dict):
                return f"line {row} is not a JSON object"
        except ValueError:
            return f"line {row} is not valid JSON"
    return "the lines do not hold consistent values"


__all__ = ["TABLE_FORMATS", "UnreadableFile", "read_raw"]
