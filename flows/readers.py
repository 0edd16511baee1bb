"""Reading what regions send: a bundle (folder or zip) into typed tables and the problems found on the way.

All file access for submissions lives here, one reader per format (CSV, XLSX, Parquet, JSON, JSON
Lines); each turns its file into an all-text frame with normalised headers and the source row `_row`,
and `transforms.parsing.parse_table` types it, so every format obeys the same rules.

`_row` is the row a person finds when they open the file:

- CSV: the spreadsheet row with the header as row 1 (first data row = 2). This is the record number + 1,
  which is also the line number unless a quoted value spans several lines (Excel shows such a record
  as one row; so do we). An Excel `sep=;` hint line is not counted, as Excel hides it too.
- XLSX: the sheet's own row number; the header is the first non-empty row of the sheet (usually 1).
- JSON Lines: the line number (blank lines count, as in an editor).
- JSON (array of objects) and Parquet: the 1-based record number (no header row exists).

Rows whose cells are all empty are dropped after numbering (Excel's trailing blank rows, `;;;;`
lines); the numbers of the other rows do not move.

Problems that make the bundle untrustworthy are `critical` issues and reject it (unreadable file,
empty table, missing table or column, two files for one table, unsafe zip); row problems come from
`parse_table` with severity `row`. Region, cycle and duplicate-id checks are not done here: the
validation stage (expectations/) does them.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import hashlib
import io
import json
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import fastexcel
import polars as pl

from flows.intake.entries import BundleEntries, FileEntry, Refusal, inspect_bundle, open_regular
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
from transforms.methodology import Limits, Methodology
from transforms.parsing import EXTRA, duplicated_headers, normalise_header, parse_table
from transforms.schemas import (
    COMPLIANCE,
    F03_TABLE,
    FEED_TABLES,
    INPUT_TABLES,
    ISSUE_SCHEMA,
    OMBUDSMAN_FEED,
    REQUIRED_TABLES,
    ROW,
    SEVERITY_CRITICAL,
    SEVERITY_WARNING,
    TableSpec,
    empty_issues,
    input_specs,
)

TABLE_FORMATS = (".csv", ".xlsx", ".parquet", ".json", ".jsonl")
BUNDLE_TABLE = "bundle"
"""The `table` of problems with the bundle as a whole (zip, folder)."""

RULE_UNREADABLE = "unreadable"
RULE_DUPLICATE_COLUMN = "duplicate_column"
RULE_DUPLICATE_KEY = "duplicate_key"
RULE_MIXED_ENCODING = "mixed_encoding"
RULE_EMPTY_TABLE = "empty_table"
RULE_MISSING_TABLE = "missing_table"
RULE_MISSING_COLUMN = "missing_column"
RULE_AMBIGUOUS_TABLE = "ambiguous_table"
RULE_UNSUPPORTED_FORMAT = "unsupported_format"
RULE_NOT_A_BUNDLE = "not_a_bundle"
RULE_F03_NOT_USED = "f03_not_used"
RULE_SYMLINK = "symlink"
RULE_ZIP_SLIP = "zip_slip"
RULE_ZIP_ABSOLUTE_PATH = "zip_absolute_path"
RULE_ZIP_SYMLINK = "zip_symlink"
RULE_ZIP_TOO_MANY_FILES = "zip_too_many_files"
RULE_ZIP_TOO_LARGE = "zip_too_large"
RULE_ZIP_BOMB = "zip_bomb"
RULE_ZIP_DUPLICATE_ENTRY = "zip_duplicate_entry"

_CHUNK = 1 << 22
"""Bytes read at a time when hashing, checking encodings and extracting (bounded memory)."""
_HEAD = 1 << 16
"""Bytes of a CSV looked at to find its separator and header."""
_RATIO_CHECK_MIN_BYTES = 1 << 20
"""Entries smaller than this are not judged on compression ratio: they cannot be a bomb, and small
CSVs of empty rows (`;;;;;;`) legitimately compress far beyond any sensible ratio."""
_RAGGED_SPARE_FIELDS = 4
"""Extra fields read for a CSV whose rows are longer than its header, to show what overflowed."""
_SEPARATORS = (",", ";", "\t")
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})
_MIDNIGHT = r"^(\d{4}-\d{2}-\d{2}) 00:00:00$"


# ---------------------------------------------------------------- typed errors


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
        return _issue(self.table, self.rule, self.message, column=self.column, value=self.path.name)


class SubmissionRejected(Exception):
    """The bundle cannot be used as a whole; `issues` are the critical problems (ISSUE_SCHEMA dicts)."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        self.issues = issues
        first = issues[0]["message"] if issues else "the bundle was rejected"
        more = f" ({len(issues) - 1} more problem(s) listed in the issues)" if len(issues) > 1 else ""
        super().__init__(f"{first}{more}")


class UnsafeBundle(SubmissionRejected):
    """A zip (or folder) that could write outside its folder or blow up in size; it is never unpacked."""


def _issue(table: str, rule: str, message: str, *, column: str | None = None,
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
            f"{path.name} could not be read as CSV ({_first_line(err)}). Look for a double quote (\") that opens a "
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
            f"{path.name} is not a valid JSON array of objects ({_first_line(err)}); write it as "
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
        raise UnreadableFile(table, path, f"{path.name} is not UTF-8 text ({_first_line(err)}); save it as "
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


def _first_line(err: Exception) -> str:
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


# ---------------------------------------------------------------- bundles: folder or zip


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def _is_junk(parts: tuple[str, ...]) -> bool:
    """Files operating systems add to folders and zips (macOS resource forks, thumbnails): not content."""
    return parts[0] == "__MACOSX" or parts[-1].lower() in _JUNK_NAMES or parts[-1].startswith("._")


def _canonical(names: list[tuple[str, ...]]) -> tuple[int, list[str]]:
    """(top folders to skip, relative names): the names as if the bundle's content were zipped bare.

    When every file sits under the same single top folder (someone zipped the folder, or uploaded a
    folder inside the bundle folder), that folder is skipped, repeatedly.
    """
    depth = 0
    while names and all(len(p) > depth + 1 for p in names) and len({p[depth] for p in names}) == 1:
        depth += 1
    return depth, ["/".join(p[depth:]) for p in names]


def _refusal_issues(refused: Sequence[Refusal], bundle_name: str) -> list[dict[str, Any]]:
    """The refused entries as critical issues naming each entry (the bundle's name for the bundle itself)."""
    return [_issue(BUNDLE_TABLE, r.rule, r.message, value=r.name or bundle_name) for r in refused]


def _zip_issue(rule: str, name: str, message: str) -> dict[str, Any]:
    return _issue(BUNDLE_TABLE, rule, message, value=name)


def _checked_members(archive: zipfile.ZipFile, limits: Limits) -> list[tuple[zipfile.ZipInfo, str]]:
    """The zip's files with their canonical names, after checking every header against the limits.

    Checks headers only (nothing is decompressed): entry count, paths that leave the folder
    (`..`, absolute), symbolic links, declared total size and per-entry compression ratio, duplicate
    names. All problems are collected, then raised together as `UnsafeBundle`.
    """
    infos = archive.infolist()
    if len(infos) > limits.zip_max_files:
        raise UnsafeBundle([_zip_issue(RULE_ZIP_TOO_MANY_FILES, f"{len(infos)} entries", (
            f"The zip holds {len(infos)} entries, more than the {limits.zip_max_files} allowed; put only the "
            "bundle's table files in it and upload again."))])
    issues: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    for info in infos:
        name = info.filename
        parts = _parts(name)
        if name.replace("\\", "/").startswith("/") or re.match(r"^[A-Za-z]:", name):
            issues.append(_zip_issue(RULE_ZIP_ABSOLUTE_PATH, name, (
                f"The zip entry '{name}' has an absolute path, which would be written outside the bundle; it "
                "is refused for safety. Zip the files (or their folder) with relative names and upload again.")))
        elif ".." in parts:
            issues.append(_zip_issue(RULE_ZIP_SLIP, name, (
                f"The zip entry '{name}' points outside the bundle folder ('..'); it is refused for safety. "
                "Zip only the bundle's files (or their folder) and upload again.")))
        if stat.S_ISLNK(info.external_attr >> 16):
            issues.append(_zip_issue(RULE_ZIP_SYMLINK, name, (
                f"The zip entry '{name}' is a symbolic link; links are refused for safety. Zip the real "
                "files and upload again.")))
            continue
        if info.is_dir() or not parts:
            continue
        if parts in seen:
            issues.append(_zip_issue(RULE_ZIP_DUPLICATE_ENTRY, name, (
                f"The zip holds '{name}' twice, so it is unclear which one counts; zip each file once and "
                "upload again.")))
        seen.add(parts)
        total += info.file_size
        if info.file_size > _RATIO_CHECK_MIN_BYTES and info.file_size > limits.zip_max_ratio * info.compress_size:
            issues.append(_zip_issue(RULE_ZIP_BOMB, name, (
                f"The zip entry '{name}' unpacks to {info.file_size} bytes from {info.compress_size}, more "
                f"than {limits.zip_max_ratio} times its packed size; it is refused as a possible zip bomb. "
                "Send the tables as plain files or in a normal zip.")))
        if not _is_junk(parts):
            files.append((info, parts))
    if total > limits.zip_max_bytes:
        issues.append(_zip_issue(RULE_ZIP_TOO_LARGE, f"{total} bytes", (
            f"The zip unpacks to {total} bytes, more than the {limits.zip_max_bytes} allowed; split the "
            "survey over fewer columns or contact the evaluation team.")))
    if issues:
        raise UnsafeBundle(issues)
    _, names = _canonical([parts for _, parts in files])
    return [(info, name) for (info, _), name in zip(files, names, strict=True)]


def _extract(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], folder: Path,
             limits: Limits) -> None:
    """Stream the members into `folder`, counting real bytes so a lying header cannot exceed the limit."""
    root = folder.resolve()
    total = 0
    for info, name in members:
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise UnsafeBundle([_zip_issue(RULE_ZIP_SLIP, info.filename, (
                f"The zip entry '{info.filename}' points outside the bundle folder; it is refused for safety."))])
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with archive.open(info) as source, target.open("xb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                total += len(chunk)
                if written > info.file_size or total > limits.zip_max_bytes:
                    raise UnsafeBundle([_zip_issue(RULE_ZIP_BOMB, info.filename, (
                        f"The zip entry '{info.filename}' unpacks to more bytes than its header declares or "
                        "than the bundle limit; it is refused as a possible zip bomb."))])
                sink.write(chunk)


_ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError,
                    NotImplementedError, zlib.error)
"""What a damaged, encrypted or exotic zip raises while being read."""


def _unreadable_bundle(name: str, err: BaseException) -> SubmissionRejected:
    return SubmissionRejected([_issue(BUNDLE_TABLE, RULE_UNREADABLE, (
        f"The bundle {name} could not be opened as a zip ({_first_line(err)}); zip the table files "
        "again (without a password) and upload again."), value=name)])


@contextmanager
def open_bundle(path: Path, limits: Limits, name: str | None = None) -> Iterator[Path]:
    """The folder holding the bundle's files: the folder itself, or a zip safely unpacked in a temp dir.

    A single top folder inside (a zipped folder) is stepped into. Zips are checked before anything is
    written (`UnsafeBundle`); unpacking writes only inside a `TemporaryDirectory`, removed on exit.
    A folder with symbolic links is refused too. Other problems raise `SubmissionRejected`.
    """
    name = name or path.name
    entries = inspect_bundle(path)
    if entries.refused:
        raise UnsafeBundle(_refusal_issues(entries.refused, name))
    if entries.is_dir:
        files = [(parts, path / entry.name) for entry in entries.files
                 for parts in [_parts(entry.name)] if parts and not _is_junk(parts)]
        depth, _ = _canonical([parts for parts, _ in files])
        yield path.joinpath(*files[0][0][:depth]) if files else path
        return
    if path.suffix.lower() != ".zip":
        raise SubmissionRejected([_issue(BUNDLE_TABLE, RULE_NOT_A_BUNDLE, (
            f"{name} is not a bundle: upload a folder or a .zip holding the table files."),
            value=name)])
    try:
        archive = zipfile.ZipFile(open_regular(path, expected=entries.files[0]))
    except _ZIP_READ_ERRORS as err:
        raise _unreadable_bundle(name, err) from err
    with archive, tempfile.TemporaryDirectory(prefix="pekppp-bundle-") as temp:
        members = _checked_members(archive, limits)
        try:
            _extract(archive, members, Path(temp), limits)
        except UnsafeBundle:
            raise
        except _ZIP_READ_ERRORS as err:
            raise _unreadable_bundle(name, err) from err
        yield Path(temp)


def _locate_tables(folder: Path, tables: Sequence[str] = INPUT_TABLES) -> tuple[dict[str, Path], list[dict[str, Any]]]:
    """Which file holds each of `tables`, and the critical problems with that (two files, unknown format)."""
    candidates: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file() or _is_junk((entry.name,)):
            continue
        stem = entry.name[: -len(entry.suffix)] if entry.suffix else entry.name
        if stem.strip().lower() in tables:
            candidates.setdefault(stem.strip().lower(), []).append(entry)
    found: dict[str, Path] = {}
    issues: list[dict[str, Any]] = []
    for table in tables:
        files = candidates.get(table, [])
        if len(files) > 1:
            listed = ", ".join(f.name for f in files)
            issues.append(_issue(table, RULE_AMBIGUOUS_TABLE, (
                f"Several files hold the {table} table ({listed}); keep only one of them and send the "
                "bundle again."), value=listed))
        elif files and files[0].suffix.lower() not in TABLE_FORMATS:
            issues.append(_issue(table, RULE_UNSUPPORTED_FORMAT, (
                f"{files[0].name} is not a supported format; save the {table} table as {table}.csv or "
                f"{table}.xlsx (or .parquet, .json, .jsonl) and send the bundle again."), value=files[0].name))
        elif files:
            found[table] = files[0]
    return found, issues




# ---------------------------------------------------------------- submission id


def _digest(entries: list[tuple[str, Callable[[], IO[bytes]]]], limit: int | None = None
            ) -> tuple[str, list[dict[str, Any]]]:
    """sha256 over the sorted (name, content sha256) list, and that list; contents are streamed."""
    files: list[dict[str, Any]] = []
    total = 0
    for name, opener in sorted(entries, key=lambda entry: entry[0]):
        content = hashlib.sha256()
        size = 0
        with opener() as stream:
            while chunk := stream.read(_CHUNK):
                content.update(chunk)
                size += len(chunk)
                total += len(chunk)
                if limit is not None and total > limit:
                    raise UnsafeBundle([_zip_issue(RULE_ZIP_BOMB, name, "unpacks beyond the bundle limit")])
        files.append({"name": name, "size": size, "sha256": content.hexdigest()})
    overall = hashlib.sha256()
    for file in files:
        overall.update(file["name"].encode() + b"\0" + file["sha256"].encode() + b"\n")
    return overall.hexdigest(), files


def bundle_fingerprint(path: Path, limits: Limits | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Content-derived submission id (64 hex) and the files it covers ({name, size, sha256}).

    The id is sha256 over the bundle's files sorted by relative name (name and content hash of each),
    with the same canonical names `open_bundle` uses (junk files left out, a single top folder
    skipped): a folder and the same files zipped get the same id, any changed byte a new one. Zip
    members are streamed, never written to disk.

    A bundle that cannot be opened as a folder or zip (damaged zip, not a zip) is identified by its
    file's own sha256. With `limits`, a zip whose headers break them (see `open_bundle`) is identified
    the same way without being decompressed: pass the cycle's limits for bundles not yet checked.
    """
    try:
        entries = inspect_bundle(path)
    except FileNotFoundError:
        return _missing_fingerprint()
    if entries.refused:  # nothing of a refused bundle is read: its id comes from what was refused
        return _refused_digest(path, entries)
    if entries.is_dir:
        listed = [(parts, entry) for entry in entries.files
                  for parts in [_parts(entry.name)] if parts and not _is_junk(parts)]
        _, names = _canonical([parts for parts, _ in listed])
        return _digest([(name, _opener(path / entry.name, entry))
                        for name, (_, entry) in zip(names, listed, strict=True)])
    try:
        with zipfile.ZipFile(open_regular(path, expected=entries.files[0])) as archive:
            if limits is not None:
                members = _checked_members(archive, limits)
            else:
                listed = [(i, _parts(i.filename)) for i in archive.infolist() if not i.is_dir()]
                listed = [(i, p) for i, p in listed if p and not _is_junk(p)]
                _, names = _canonical([p for _, p in listed])
                members = [(info, name) for (info, _), name in zip(listed, names, strict=True)]
            return _digest([(name, _member_opener(archive, info)) for info, name in members],
                           limit=limits.zip_max_bytes if limits is not None else None)
    except (UnsafeBundle, *_ZIP_READ_ERRORS):
        pass
    _, files = _digest([(path.name, _opener(path, entries.files[0]))])
    return files[0]["sha256"], files


def _refused_digest(path: Path, entries: BundleEntries) -> tuple[str, list[dict[str, Any]]]:
    """The id of a bundle refused for what it holds: its safe files' names and sizes and its refused
    entries (never a byte of content: a refused bundle is not read)."""
    overall = hashlib.sha256(b"refused\0" + (b"dir" if entries.is_dir else path.suffix.lower().encode()))
    for entry in entries.files:
        overall.update(f"{entry.name}\0{entry.size}\n".encode())
    for refusal in entries.refused:
        overall.update(f"!{refusal.rule}\0{refusal.name}\0{refusal.message}\n".encode())
    return overall.hexdigest(), [{"name": e.name, "size": e.size, "sha256": None} for e in entries.files]


def _opener(path: Path, entry: FileEntry | None = None) -> Callable[[], IO[bytes]]:
    return lambda: open_regular(path, expected=entry)


def _member_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(info)


def _missing_fingerprint() -> tuple[str, list[dict[str, Any]]]:
    """A path that does not exist (or cannot be listed): the id of nothing, so the attempt can be recorded."""
    return hashlib.sha256(b"").hexdigest(), []


# ---------------------------------------------------------------- the bundle as tables


@dataclass
class ReadBundle:
    """A bundle read: its id and files, typed tables present (with `_row`, `_bad`), and all issues."""

    submission_id: str
    files: list[dict[str, Any]]
    tables: dict[str, pl.DataFrame] = field(default_factory=dict)
    issues: pl.DataFrame = field(default_factory=empty_issues)
    rejected: bool = False
    reason: str | None = None


def read_bundle(path: Path, methodology: Methodology, region_code: str, *, name: str | None = None,
                refused: Sequence[Refusal] = ()) -> ReadBundle:
    """Open, read and type every table of a bundle; collect every problem; never raises for its content.

    Critical problems (severity `critical`, row null) reject the bundle: unsafe or unreadable zip,
    a table's file unreadable or empty, two files for one table, a required table or column missing.
    Everything that can still be read is read, so the region gets all problems at once. Row problems
    come from `parse_table`. Region, cycle and duplicate checks belong to the validation stage.

    `name` is the bundle's name as uploaded (messages name it; default the path's name). `refused`
    are entries refused when the bundle was copied (flows/intake/entries.py): such a bundle is
    rejected at once, naming them, and nothing of it is read.
    """
    return _read_tables(path, methodology, region_code, input_specs(methodology.survey.element_codes),
                        REQUIRED_TABLES, name=name, refused=refused)


def read_feed(path: Path, methodology: Methodology, *, name: str | None = None,
              refused: Sequence[Refusal] = ()) -> ReadBundle:
    """Read an Ombudsman compliance feed bundle (`compliance.<ext>`) exactly as a region's bundle is read:
    the same intake guards, readers, typing and critical problems; only its table list differs."""
    return _read_tables(path, methodology, OMBUDSMAN_FEED, {COMPLIANCE.name: COMPLIANCE}, FEED_TABLES, name=name,
                        refused=refused)


def _read_tables(path: Path, methodology: Methodology, region_code: str, specs: dict[str, TableSpec],
                 required: Sequence[str], *, name: str | None, refused: Sequence[Refusal]) -> ReadBundle:
    """`read_bundle` for any list of tables (`specs`; `required` of them must be there)."""
    name = name or path.name
    if refused:
        critical = _refusal_issues(refused, name)
        return ReadBundle(submission_id="", files=[], issues=pl.DataFrame(critical, schema=ISSUE_SCHEMA),
                          rejected=True, reason=_rejection_reason(critical, name, region_code))
    try:
        submission_id, files = bundle_fingerprint(path, methodology.limits)
    except OSError:
        submission_id, files = _missing_fingerprint()
    critical: list[dict[str, Any]] = []
    row_issues: list[pl.DataFrame] = []
    tables: dict[str, pl.DataFrame] = {}
    try:
        with open_bundle(path, methodology.limits, name) as folder:
            located, problems = _locate_tables(folder, tuple(specs))
            if not methodology.f03_enabled:
                located, problems, note = _without_f03(located, problems, methodology)
                if note:
                    row_issues.append(pl.DataFrame(note, schema=ISSUE_SCHEMA))
            critical.extend(problems)
            for table, file in located.items():
                typed, issues, problems = _read_table(file, table, specs[table], required=table in required)
                critical.extend(problems)
                if typed is not None:
                    tables[table] = typed
                    row_issues.append(issues)
            named = {i["table"] for i in _problems_of(critical, RULE_AMBIGUOUS_TABLE, RULE_UNSUPPORTED_FORMAT)}
            critical.extend(
                _issue(table, RULE_MISSING_TABLE, (
                    f"The bundle has no {table} table; add a file named {table}.csv (or .xlsx, .parquet, "
                    ".json, .jsonl) and send the bundle again."))
                for table in required if table not in located and table not in named)
    except SubmissionRejected as err:
        critical.extend(err.issues)
    except Exception as err:  # never crash on what a region sent: anything unexpected is "unreadable"
        critical.append(_issue(BUNDLE_TABLE, RULE_UNREADABLE, (
            f"The bundle {name} could not be read ({type(err).__name__}: {_first_line(err)}); check "
            "that it is a folder or .zip of table files and upload again."), value=name))
    issues = pl.concat([pl.DataFrame(critical, schema=ISSUE_SCHEMA), *row_issues], how="vertical")
    reason = _rejection_reason(critical, name, region_code) if critical else None
    return ReadBundle(submission_id=submission_id, files=files, tables=tables, issues=issues,
                      rejected=bool(critical), reason=reason)


def _without_f03(located: dict[str, Path], problems: list[dict[str, Any]], methodology: Methodology
                 ) -> tuple[dict[str, Path], list[dict[str, Any]], list[dict[str, Any]]]:
    """A cycle that does not blend F-03 does not read an F-03 table: one warning says so, nothing rejects.

    Returns the tables to read, the critical problems without the F-03 table's, and the warning (if any).

    Its file (or files, or unsupported format) is set aside unread; the raw copy keeps it like every file.
    """
    files = [str(i["value"]) for i in problems if i["table"] == F03_TABLE]
    if F03_TABLE in located:
        files.append(located[F03_TABLE].name)
    if not files:
        return located, problems, []
    note = _issue(F03_TABLE, RULE_F03_NOT_USED, (
        f"{', '.join(files)} holds the citizen form F-03, which cycle {methodology.cycle} does not use ([f03] "
        "enabled = false); the table is not read and the rest of the bundle is used."),
        value=", ".join(files), severity=SEVERITY_WARNING)
    return ({t: f for t, f in located.items() if t != F03_TABLE},
            [i for i in problems if i["table"] != F03_TABLE], [note])


def _rejection_reason(critical: list[dict[str, Any]], name: str, region_code: str) -> str:
    source = "of the Ombudsman feed" if region_code == OMBUDSMAN_FEED else f"of region {region_code}"
    return one_line(f"Bundle {name} {source} rejected: {SubmissionRejected(critical)}")


def _problems_of(issues: list[dict[str, Any]], *rules: str) -> list[dict[str, Any]]:
    """The issues breaking one of `rules`."""
    return [i for i in issues if i["rule"] in rules]


def _read_table(file: Path, table: str, spec: TableSpec, *, required: bool) -> tuple[pl.DataFrame | None,
                                                                                    pl.DataFrame,
                                                                                    list[dict[str, Any]]]:
    """(typed frame or None, row issues, critical problems) for one table's file."""
    try:
        raw = read_raw(file, table)
    except UnreadableFile as err:
        return None, empty_issues(), [err.issue()]
    except BaseException as err:  # a reader library failing in a way not foreseen is still the file's problem
        if isinstance(err, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise  # (a Rust panic surfaces as pyo3's PanicException, a BaseException: caught here)
        return None, empty_issues(), [_issue(table, RULE_UNREADABLE, (
            f"{file.name} could not be read ({type(err).__name__}: {_first_line(err)}); open it, save it "
            "again in a supported format and send the bundle again."), value=file.name)]
    problems: list[dict[str, Any]] = []
    columns = [c for c in raw.columns if c not in (ROW, EXTRA)]
    notes: list[dict[str, Any]] = []
    if raw.height == 0 and required:
        problems.append(_issue(table, RULE_EMPTY_TABLE, (
            f"{file.name} has no data rows; fill in the table and send the bundle again."), value=file.name))
    elif raw.height == 0:
        # An optional table left empty in a template is no reason to reject the evaluation data.
        notes.append(_issue(table, RULE_EMPTY_TABLE, (
            f"{file.name} has no data rows; the bundle is used without it. Fill it in, or leave the file out."),
            value=file.name, severity=SEVERITY_WARNING))
    if columns:
        unknown = [c for c in columns if c not in spec.names]  # only these can be a misspelt contract column
        for name in spec.required_names:
            if name not in columns:
                near = difflib.get_close_matches(name, unknown, n=1)
                hint = f" (is '{near[0]}' meant to be '{name}'?)" if near else ""
                problems.append(_issue(table, RULE_MISSING_COLUMN, (
                    f"{file.name} has no column '{name}'{hint}; add it to the header row and send the "
                    "bundle again."), column=name, value=file.name))
    absent = [i["column"] for i in problems if i["rule"] == RULE_MISSING_COLUMN]
    if absent:  # one issue per cause: the column is missing_column once, not a not_null on every row
        spec = replace(spec, columns=tuple(replace(c, required=False) if c.name in absent else c
                                           for c in spec.columns))
    typed, issues = parse_table(raw, spec)
    if absent:  # and its rules are left out of validation (the runner skips rules on columns a table lacks)
        typed = typed.drop([c for c in absent if c in typed.columns])
    if notes:
        issues = pl.concat([pl.DataFrame(notes, schema=issues.schema), issues])
    return typed, issues, problems


__all__ = [
    "TABLE_FORMATS", "ReadBundle", "SubmissionRejected", "UnreadableFile", "UnsafeBundle", "bundle_fingerprint",
    "open_bundle", "read_bundle", "read_feed", "read_raw",
]
