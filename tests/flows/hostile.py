"""The hostile-input corpus: bundles a region (or an attacker) could upload, generated, never stored.

`build_corpus(region_folder, host)` writes every case as its own bundle under `region_folder`
(`<landing>/<cycle>/<region>/`), with `host` a folder outside the landing zone whose file holds
MARKER: links and hard links point there, and the marker must never reach the warehouse. Each case
says the verdict a run and `pekppp validate` must give, the critical rule that decides a rejection
(or a row rule an accepted bundle must report), and words its message must hold.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import socket
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import xlsxwriter

REGION = "35.78"
MARKER = "HOST-SECRET-5b1e0c77d2"
INDICATORS = ["1.a.Ak", "2.a.P", "3.a.T", "4.a.K", "5.a.K", "6.a.B", "7.a.T", "8.a.Ak", "9.a.Ak", "10.b.As",
              "11.b.K", "12.b.Ak", "13.b.K", "14.b.K", "15.c.K", "16.c.As", "17.c.As", "18.c.K", "19.c.As",
              "20.c.B", "21.d.T", "22.d.B", "23.d.As", "24.d.T", "25.e.P", "26.e.P", "27.e.Ak", "28.e.Ak",
              "29.f.B", "30.f.B"]
UNIT_HEADER = ["unit_id", "unit_name", "unit_type", "region_code", "annual_service_users"]
UNIT_ROWS = [["01", "Dinas Penanaman Modal", "DPMPTSP", REGION, "1200"],
             ["02", "RSUD Dr. Soetomo", "RSUD", REGION, "900"]]
EVAL_HEADER = ["unit_id", "indicator_code", "score"]


def csv_text(header: list[str], rows: list[list[str]], sep: str = ",") -> str:
    return "\n".join(sep.join(r) for r in [header, *rows]) + "\n"


def eval_rows(score: Callable[[int, str], str] = lambda n, code: str(n % 6)) -> list[list[str]]:
    """Every indicator scored for both units: 60 rows, so one odd row stays under the bad-row share."""
    return [[unit, code, score(n, code)] for unit in ("01", "02") for n, code in enumerate(INDICATORS)]


UNITS_CSV = csv_text(UNIT_HEADER, UNIT_ROWS)
EVALUATIONS_CSV = csv_text(EVAL_HEADER, eval_rows())


@dataclass(frozen=True)
class Case:
    """One hostile upload: how it is made, and what a run and `validate` must both say about it."""

    name: str
    build: Callable[[Path, Path], Path]
    """(bundle path to create, host folder) -> the bundle's path (a folder, or a file such as .zip)."""
    verdict: str  # "accepted" or "rejected"
    rule: str | None = None
    """A rejected case's deciding critical rule; for an accepted one, a rule its issues must include."""
    words: str = ""
    """Words the rejection reason (or that rule's message) must hold."""


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8", newline="")
    return path


def folder(path: Path, **files: str | bytes | None) -> Path:
    """A bundle folder with valid units.csv and evaluations.csv; `name__ext=` adds a file, None drops one."""
    contents: dict[str, str | bytes | None] = {"units.csv": UNITS_CSV, "evaluations.csv": EVALUATIONS_CSV}
    contents.update({k.replace("__", "."): v for k, v in files.items()})
    path.mkdir(parents=True, exist_ok=True)
    for name, content in contents.items():
        if content is not None:
            write(path / name, content)
    return path


def zipped(path: Path, members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


def good_members() -> dict[str, bytes]:
    return {"units.csv": UNITS_CSV.encode(), "evaluations.csv": EVALUATIONS_CSV.encode()}


def host_file(host: Path) -> Path:
    path = host / "secret.csv"
    if not path.exists():
        write(path, f"unit_id,unit_name,unit_type,region_code\n01,{MARKER},DPMPTSP,{REGION}\n")
    return path


# ---------------------------------------------------------------- builders


def linked_table(target: Callable[[Path], str | Path], table: str = "units.csv") -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        bundle = folder(path, **{table.replace(".", "__"): None})
        os.symlink(target(host), bundle / table)
        return bundle
    return build


def linked_folder(name: str, target: Callable[[Path, Path], str | Path]) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        bundle = folder(path)
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target(host, bundle), bundle / name)
        return bundle
    return build


def fifo(table: str) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        bundle = folder(path, **{table.replace(".", "__"): None})
        os.mkfifo(bundle / table)
        return bundle
    return build


def unix_socket(path: Path, host: Path) -> Path:
    bundle = folder(path)
    here = os.getcwd()
    os.chdir(bundle)  # a socket's path is limited to ~100 bytes: bind by a short relative name
    try:
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind("skm_responses.csv")
        server.close()
    finally:
        os.chdir(here)
    return bundle


def hard_link(path: Path, host: Path) -> Path:
    bundle = folder(path, skm_responses__csv=None)
    os.link(host_file(host), bundle / "skm_responses.csv")
    return bundle


def linked_bundle(suffix: str) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        elsewhere = host / f"real-{path.name}{suffix}"
        if suffix:
            zipped(elsewhere, {**good_members(), "notes.csv": f"x\n{MARKER}\n".encode()})
        else:
            folder(elsewhere, notes__csv=f"x\n{MARKER}\n")
        link = path.with_name(path.name + suffix)
        os.symlink(elsewhere, link)
        return link
    return build


def fifo_bundle(path: Path, host: Path) -> Path:
    link = path.with_name(path.name + ".zip")
    os.mkfifo(link)
    return link


def zip_of(members: Callable[[], dict[str, bytes]], **options: int) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        return zipped(path.with_name(path.name + ".zip"), members(), **options)
    return build


def zip_with_info(info: zipfile.ZipInfo, data: bytes) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        target = path.with_name(path.name + ".zip")
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, content in good_members().items():
                archive.writestr(name, content)
            archive.writestr(info, data)
        return target
    return build


def symlink_entry() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("skm_responses.csv")
    info.external_attr = (0o120777) << 16
    return info


def encrypted_zip(path: Path, host: Path) -> Path:
    target = zipped(path.with_name(path.name + ".zip"), good_members())
    data = bytearray(target.read_bytes())
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):  # set the 'encrypted' flag in every header
        at = data.find(signature)
        while at >= 0:
            offset = at + (6 if signature == b"PK\x03\x04" else 8)
            data[offset] |= 0x01
            at = data.find(signature, at + 4)
    return write(target, bytes(data))


def truncated_zip(path: Path, host: Path) -> Path:
    whole = zipped(path.with_name(path.name + ".zip"), good_members()).read_bytes()
    return write(path.with_name(path.name + ".zip"), whole[: len(whole) // 2])


def duplicate_entry_zip(path: Path, host: Path) -> Path:
    target = path.with_name(path.name + ".zip")
    target.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(target, "w") as archive:
        for name, content in good_members().items():
            archive.writestr(name, content)
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            archive.writestr("units.csv", UNITS_CSV.encode())
    return target


def nested_zip(path: Path, host: Path) -> Path:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as archive:
        for name, content in good_members().items():
            archive.writestr(name, content)
    return zipped(path.with_name(path.name + ".zip"), {"inner.zip": inner.getvalue()})


def xlsx_units(path: Path, *, far_cell: bool = False, text: str | None = None) -> None:
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("units")
    for r, row in enumerate([UNIT_HEADER, *UNIT_ROWS]):
        sheet.write_row(r, 0, row)
    if far_cell:
        sheet.write(1048575, 16383, "x")
    if text is not None:
        sheet.write(1, 1, text)
    book.close()


def edit_xlsx(path: Path, member: str, edit: Callable[[str], str]) -> None:
    with zipfile.ZipFile(path) as source:
        parts = {i.filename: source.read(i) for i in source.infolist()}
    parts[member] = edit(parts[member].decode()).encode()
    path.unlink()
    zipped(path, parts)


def xlsx_case(*, far_cell: bool = False, text: str | None = None,
              edit: tuple[str, Callable[[str], str]] | None = None) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        bundle = folder(path, units__csv=None)
        xlsx_units(bundle / "units.xlsx", far_cell=far_cell, text=text)
        if edit:
            edit_xlsx(bundle / "units.xlsx", *edit)
        return bundle
    return build


def without_dimension(xml: str) -> str:
    start = xml.find("<dimension")
    return xml if start < 0 else xml[:start] + xml[xml.find("/>", start) + 2:]


def lying_dimension(xml: str) -> str:
    return without_dimension(xml).replace("<sheetViews>", '<dimension ref="A1:XFD1048576"/><sheetViews>', 1)


def files(**contents: str | bytes | None) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        return folder(path, **contents)
    return build


def units_with(name: str, sep: str = ",") -> str:
    return csv_text(UNIT_HEADER, [["01", name, "DPMPTSP", REGION, "1200"], UNIT_ROWS[1]], sep)


def eval_with(odd: str) -> str:
    return csv_text(EVAL_HEADER, eval_rows(lambda n, code: odd if (n, code) == (0, "1.a.Ak") else str(n % 6)))


def skm_with(date: str) -> str:
    elements = ["persyaratan", "prosedur", "waktu", "biaya", "produk", "kompetensi", "perilaku", "pengaduan",
                "sarana"]
    header = ["unit_id", "respondent_id", "survey_date", *elements]
    rows = [["01", f"r{n}", "2024-03-05", *["3"] * 9] for n in range(30)]
    rows[0][2] = date
    return csv_text(header, rows)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def units_frame() -> pl.DataFrame:
    return pl.DataFrame([dict(zip(UNIT_HEADER, row, strict=True)) for row in UNIT_ROWS])


def json_records(records: list[dict]) -> str:
    return json.dumps(records)


def stray(suffix: str, content: bytes) -> Callable[[Path, Path], Path]:
    def build(path: Path, host: Path) -> Path:
        return write(path.with_name(path.name + suffix), content)
    return build


def empty_folder(path: Path, host: Path) -> Path:
    path.mkdir(parents=True)
    return path


def mixed_encoding() -> bytes:
    return ("unit_id,unit_name,unit_type,region_code,annual_service_users\n"
            "01,Dinas Penanaman Modal – Kota,DPMPTSP,35.78,1200\n").encode() + \
        "02,RSUD Dr. Soetomo – Kota,RSUD,35.78,900\n".encode("cp1252")


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


# ---------------------------------------------------------------- the corpus


def corpus() -> list[Case]:
    rejected, accepted = "rejected", "accepted"
    eval_records = [dict(zip(EVAL_HEADER, r, strict=True)) for r in eval_rows()]
    return [
        # things outside the bundle: never followed, opened or read
        Case("link-table-to-host", linked_table(host_file), rejected, "symlink", "symbolic link 'units.csv'"),
        Case("link-table-relative", linked_table(lambda h: os.path.relpath(host_file(h), h)), rejected, "symlink",
             "symbolic link"),
        Case("link-to-dev-zero", linked_table(lambda h: "/dev/zero", "skm_responses.csv"), rejected, "symlink",
             "'skm_responses.csv'"),
        Case("link-to-etc-passwd", linked_table(lambda h: "/etc/passwd"), rejected, "symlink", "never read"),
        Case("link-dangling", linked_table(lambda h: h / "nothing-here.csv"), rejected, "symlink", "symbolic link"),
        Case("link-folder-to-host", linked_folder("extra", lambda h, b: (host_file(h), h)[1]), rejected, "symlink",
             "'extra'"),
        Case("link-folder-to-etc-ssl", linked_folder("extra", lambda h, b: "/etc/ssl"), rejected, "symlink",
             "'extra'"),
        Case("link-loop-to-itself", linked_folder("loop", lambda h, b: "."), rejected, "symlink", "'loop'"),
        Case("link-deep-in-subfolder", linked_folder("evidence/2024/scan.csv", lambda h, b: host_file(h)), rejected,
             "symlink", "evidence/2024/scan.csv"),
        Case("fifo-survey", fifo("skm_responses.csv"), rejected, "special_file", "named pipe"),
        Case("fifo-units", fifo("units.csv"), rejected, "special_file", "named pipe"),
        Case("socket-in-bundle", unix_socket, rejected, "special_file", "socket"),
        Case("hard-link-to-host", hard_link, rejected, "hard_link", "hard link"),
        Case("bundle-is-link-to-folder", linked_bundle(""), rejected, "symlink", "symbolic link"),
        Case("bundle-is-link-to-zip", linked_bundle(".zip"), rejected, "symlink", "symbolic link"),
        Case("bundle-is-fifo", fifo_bundle, rejected, "special_file", "named pipe"),
        # zips
        Case("zip-good", zip_of(good_members), accepted),
        Case("zip-of-folder", zip_of(lambda: {f"bundle/{k}": v for k, v in good_members().items()}), accepted),
        Case("zip-slip", zip_of(lambda: {**good_members(), "../../evil.csv": b"x"}), rejected, "zip_slip", "outside"),
        Case("zip-absolute-path", zip_of(lambda: {**good_members(), "/tmp/evil.csv": b"x"}), rejected,
             "zip_absolute_path", "absolute path"),
        Case("zip-symlink-entry", zip_with_info(symlink_entry(), b"/etc/passwd"), rejected, "zip_symlink",
             "symbolic link"),
        Case("zip-bomb", zip_of(lambda: {**good_members(), "evidence.csv": bytes(64 << 20)}), rejected, "zip_bomb",
             "zip bomb"),
        Case("zip-too-many-files", zip_of(lambda: {**good_members(), **{f"e/{n}.txt": b"x" for n in range(70)}}),
             rejected, "zip_too_many_files", "entries"),
        Case("zip-encrypted", encrypted_zip, rejected, "unreadable", "password"),
        Case("zip-truncated", truncated_zip, rejected, "unreadable", "could not be opened as a zip"),
        Case("zip-duplicate-entry", duplicate_entry_zip, rejected, "zip_duplicate_entry", "twice"),
        Case("zip-nested", nested_zip, rejected, "missing_table", "no units table"),
        Case("zip-not-a-zip", stray(".zip", b"this is not a zip\n"), rejected, "unreadable", "as a zip"),
        Case("zip-stored-uncompressed", zip_of(good_members, compression=zipfile.ZIP_STORED), accepted),
        # Excel
        Case("xlsx-good", xlsx_case(), accepted),
        Case("xlsx-far-cell", xlsx_case(far_cell=True), rejected, "limit_exceeded", "PEKPPP_XLSX_MAX_CELLS"),
        Case("xlsx-far-cell-no-dimension",
             xlsx_case(far_cell=True, edit=("xl/worksheets/sheet1.xml", without_dimension)), rejected,
             "limit_exceeded", "spans"),
        Case("xlsx-lying-dimension", xlsx_case(edit=("xl/worksheets/sheet1.xml", lying_dimension)), rejected,
             "limit_exceeded", "declares"),
        Case("xlsx-huge-shared-string",  # Excel (and xlsxwriter) stop at 32,767 characters: edited in the XML
             xlsx_case(edit=("xl/sharedStrings.xml", lambda xml: xml.replace("RSUD Dr. Soetomo", "x" * 150_000))),
             rejected, "limit_exceeded", "PEKPPP_CELL_MAX_CHARS"),
        # an XML part declaring an encoding Python does not know: the reader ignores declarations, so the limit
        # checks read it as UTF-8 too (they stopped with LookupError, shown as "could not be read")
        Case("xlsx-unknown-encoding",
             xlsx_case(edit=("xl/sharedStrings.xml", lambda xml: xml.replace("UTF-8", "zTF-8", 1))), accepted),
        Case("xlsx-unknown-encoding-huge-string", xlsx_case(edit=("xl/sharedStrings.xml", lambda xml: xml.replace(
            "UTF-8", "zTF-8", 1).replace("RSUD Dr. Soetomo", "x" * 150_000))), rejected, "limit_exceeded",
            "PEKPPP_CELL_MAX_CHARS"),
        Case("xlsx-corrupt", files(units__csv=None, units__xlsx=b"PK\x03\x04 not really a workbook"), rejected,
             "unreadable", "Excel workbook"),
        Case("xlsx-formula-name", xlsx_case(text='=HYPERLINK("http://example.org","klik")'), accepted),
        # CSV
        Case("csv-binary", files(units__csv=os.urandom(0) + bytes(range(256)) * 40), rejected, "unreadable",
             "not a text file"),
        Case("csv-utf16", files(units__csv=UNITS_CSV.encode("utf-16")), rejected, "unreadable", "UTF-16"),
        Case("csv-nul-bytes", files(units__csv=UNITS_CSV.encode().replace(b"Dinas", b"Din\x00as")), rejected,
             "unreadable", "not a text file"),
        Case("csv-mixed-encoding", files(units__csv=mixed_encoding()), rejected, "mixed_encoding", "line 2 is UTF-8"),
        # compressed streams, which Polars inflates unasked or fails on with an OSError (the fuzzer's
        # b"x\x01\x95" gave "could not be read (OSError: corrupt deflate stream)")
        Case("csv-gzip-inside", files(units__csv=gzip.compress(UNITS_CSV.encode())), rejected, "unreadable",
             "gzip-compressed"),
        Case("csv-gzip-bomb", files(units__csv=gzip.compress(UNITS_CSV.encode() + b"01,x,RSUD,35.78,1\n" * 400_000)),
             rejected, "unreadable", "gzip-compressed"),
        Case("csv-zlib-start", files(units__csv=b"x\x01\x95"), rejected, "unreadable", "zlib-compressed"),
        Case("csv-zlib-text", files(units__csv=zlib.compress(UNITS_CSV.encode())), rejected, "unreadable",
             "zlib-compressed"),
        Case("csv-zstd-magic", files(units__csv=b"\x28\xb5\x2f\xfd" + UNITS_CSV.encode()), rejected, "unreadable",
             "zstd-compressed"),
        Case("csv-windows-1252", files(units__csv=units_with("Dinas Penanaman Modal – Kota").encode("cp1252")),
             accepted),
        Case("csv-utf8-bom", files(units__csv="\ufeff" + UNITS_CSV), accepted),
        Case("csv-semicolon", files(units__csv=units_with("Dinas; Kota", ";").replace("Dinas; Kota", '"Dinas; Kota"')),
             accepted),
        Case("csv-unclosed-quote", files(units__csv=UNITS_CSV + '03,"RSUD never closed,RSUD,35.78,1\n'), rejected,
             "unreadable", "never closed"),
        Case("csv-100k-columns", files(units__csv=",".join(UNIT_HEADER + [f"c{n}" for n in range(100_000)]) + "\n"),
             rejected, "limit_exceeded", "PEKPPP_TABLE_MAX_COLUMNS"),
        Case("csv-header-over-64k", files(units__csv=",".join([*UNIT_HEADER, "x" * 70_000]) + "\n"), rejected,
             "limit_exceeded", "longer than"),
        Case("csv-cell-too-long", files(units__csv=units_with("y" * 150_000)), rejected, "limit_exceeded",
             "row 2 column 'unit_name'"),
        Case("csv-empty-units", files(units__csv=b""), rejected, "empty_table", "no data rows"),
        Case("csv-header-only", files(units__csv=",".join(UNIT_HEADER) + "\n"), rejected, "empty_table",
             "no data rows"),
        Case("csv-duplicate-column", files(units__csv=UNITS_CSV.replace("annual_service_users", "unit_name")),
             rejected, "duplicate_column", "more than one column"),
        Case("csv-missing-column", files(units__csv=UNITS_CSV.replace("unit_type", "unit_kind")), rejected,
             "missing_column", "unit_type"),
        Case("csv-missing-table", files(evaluations__csv=None), rejected, "missing_table", "no evaluations table"),
        Case("csv-two-files-one-table", files(units__xlsx=b"x"), rejected,
             "ambiguous_table", "Several files"),
        Case("csv-unsupported-format", files(units__csv=None, units__txt=UNITS_CSV), rejected, "unsupported_format",
             "not a supported format"),
        Case("csv-pattern-columns", files(units__csv=csv_text([*UNIT_HEADER, "*", "^.*$"],
                                                              [[*row, "catatan", "x"] for row in UNIT_ROWS])),
             accepted),
        Case("csv-html-name", files(units__csv=units_with('"<script>alert(1)</script><img src=x onerror=alert(2)>"')),
             accepted),
        Case("csv-formula-name", files(units__csv=units_with('"=cmd|\' /C calc\'!A0"')), accepted),
        Case("csv-other-region-unit", files(units__csv=UNITS_CSV.replace("RSUD,35.78", "RSUD,35.15")), rejected,
             "region_ownership", ""),
        Case("csv-duplicate-unit-id", files(units__csv=UNITS_CSV.replace("02,RSUD", "01,RSUD")), rejected,
             "unique_unit_id", "more than once"),
        # odd numbers and dates: the row is set aside, the bundle used
        Case("score-nan", files(evaluations__csv=eval_with("NaN")), accepted, "type", ""),
        Case("score-infinity", files(evaluations__csv=eval_with("inf")), accepted, "type", ""),
        Case("score-fraction", files(evaluations__csv=eval_with("4.5")), accepted, "type", ""),
        Case("score-huge", files(evaluations__csv=eval_with("99999999999999999999999")), accepted, "type", ""),
        Case("score-arabic-digit", files(evaluations__csv=eval_with("\u0664")), accepted, "type", ""),
        Case("score-negative", files(evaluations__csv=eval_with("-1")), accepted, "score_range", ""),
        Case("date-feb-30", files(skm_responses__csv=skm_with("2024-02-30")), accepted, "type", ""),
        Case("date-year-zero", files(skm_responses__csv=skm_with("0000-00-00")), accepted, "type", ""),
        Case("date-far-future", files(skm_responses__csv=skm_with("9999-12-31")), accepted, "survey_window", ""),
        # JSON and Parquet
        Case("json-good", files(evaluations__csv=None, evaluations__json=json_records(eval_records)), accepted),
        Case("json-deep-nesting", files(evaluations__csv=None, evaluations__json=deep_json(200_000)), rejected,
             "unreadable", "JSON"),
        Case("json-duplicate-key", files(evaluations__csv=None, evaluations__json=json_records(eval_records)
                                         .replace('"score": "0"', '"score": "0", "score": "5"', 1)), rejected,
             "duplicate_key", "key 'score' more than once"),
        Case("json-object-not-array", files(evaluations__csv=None, evaluations__json='{"unit_id": "01"}'), rejected,
             "missing_column", "no column 'indicator_code'"),
        Case("jsonl-bad-line", files(evaluations__csv=None, evaluations__jsonl='{"unit_id": "01"}\nnot json\n'),
             rejected, "unreadable", "line 2"),
        Case("json-zstd-magic", files(evaluations__csv=None, evaluations__json=b"(\xb5/\xfd" + b"[]"), rejected,
             "unreadable", "zstd-compressed"),
        Case("jsonl-gzip-inside", files(evaluations__csv=None, evaluations__jsonl=gzip.compress("\n".join(
            json.dumps(r) for r in eval_records).encode())), rejected, "unreadable", "gzip-compressed"),
        Case("jsonl-duplicate-key", files(evaluations__csv=None, evaluations__jsonl="\n".join(
            json.dumps(r) for r in eval_records).replace('"score": "1"', '"score": "1", "score": "2"', 1)), rejected,
            "duplicate_key", "line 2"),
        Case("parquet-good", files(units__csv=None, units__parquet=parquet_bytes(units_frame())), accepted),
        Case("parquet-corrupt", files(units__csv=None, units__parquet=b"PAR1 definitely not parquet PAR1"), rejected,
             "unreadable", "Parquet"),
        # odd bundle names: shown escaped in pages, in one line in reasons and logs
        Case("name-html-and-quotes", renamed('<i>kiriman</i> & "baru"', files()), accepted),
        Case("name-line-break", renamed("kiriman\nbaru", files(units__csv=b"\n\n")), rejected, "empty_table",
             "Bundle kiriman baru of region"),
        # the landing zone's odd entries
        Case("stray-rar", stray(".rar", b"Rar!\x1a\x07\x00"), rejected, "not_a_bundle", "not a bundle"),
        Case("empty-folder", empty_folder, rejected, "missing_table", "no units table"),
        Case("macos-junk-beside-tables", files(**{".DS_Store": b"\x00\x00\x00\x01Bud1", "__MACOSX/._units.csv": b"x"}),
             accepted),
    ]


def renamed(name: str, build: Callable[[Path, Path], Path]) -> Callable[[Path, Path], Path]:
    """The case's bundle landed under an odd folder name of the region's choosing."""
    def under_name(path: Path, host: Path) -> Path:
        return build(path.parent / name, host)
    return under_name


def build_corpus(region_folder: Path, host: Path) -> dict[str, tuple[Case, Path]]:
    """Write every case under `region_folder`; the landed path of each, by case name."""
    region_folder.mkdir(parents=True, exist_ok=True)
    host.mkdir(parents=True, exist_ok=True)
    host_file(host)
    return {case.name: (case, case.build(region_folder / case.name, host)) for case in corpus()}


# ---------------------------------------------------------------- the Ombudsman feed (issue 20)

FEED_HEADER = ["body_code", "unit_id", "unit_name", "input", "proses", "output", "pengaduan", "score"]
FEED_ROWS = [["36", "", "Provinsi Banten", "90.00", "95.00", "92.00", "88.00", ""],
             ["36", "DINSOS-36", "Dinas Sosial", "", "", "", "", "91.88"]]
FEED_CSV = csv_text(FEED_HEADER, FEED_ROWS)


def feed_files(**contents: str | bytes | None) -> Callable[[Path, Path], Path]:
    """A feed bundle folder with a valid compliance.csv; `name__ext=` adds a file, None drops one."""
    def build(path: Path, host: Path) -> Path:
        return folder(path, units__csv=None, evaluations__csv=None,
                      **{"compliance__csv": FEED_CSV, **contents})
    return build


def linked_feed_table(path: Path, host: Path) -> Path:
    bundle = feed_files(compliance__csv=None)(path, host)
    os.symlink(host_file(host), bundle / "compliance.csv")
    return bundle


def fifo_feed_table(path: Path, host: Path) -> Path:
    bundle = feed_files(compliance__csv=None)(path, host)
    os.mkfifo(bundle / "compliance.csv")
    return bundle


def feed_row(**cells: str) -> list[str]:
    return [cells.get(c, "") for c in FEED_HEADER]


def feed_corpus() -> list[Case]:
    """Hostile uploads into `<landing>/<cycle>/_ombudsman/`: the same guards as a region's bundle."""
    rejected, accepted = "rejected", "accepted"
    odd = [feed_row(body_code="36", score=v) for v in ("NaN", "inf", "1e23", "٩١", "91.885", "1.000,00")]
    return [
        Case("feed-good", feed_files(), accepted),
        Case("feed-zip-good", zip_of(lambda: {"compliance.csv": FEED_CSV.encode()}), accepted),
        Case("feed-link-table-to-host", linked_feed_table, rejected, "symlink", "symbolic link 'compliance.csv'"),
        Case("feed-fifo-table", fifo_feed_table, rejected, "special_file", "named pipe"),
        Case("feed-zip-slip", zip_of(lambda: {"compliance.csv": FEED_CSV.encode(), "../../evil.csv": b"x"}),
             rejected, "zip_slip", "outside"),
        Case("feed-zip-absolute-path", zip_of(lambda: {"compliance.csv": FEED_CSV.encode(), "/tmp/e.csv": b"x"}),
             rejected, "zip_absolute_path", "absolute path"),
        Case("feed-bundle-is-link", linked_bundle(""), rejected, "symlink", "symbolic link"),
        Case("feed-region-tables-only", files(notes__csv="a region's tables sent as the feed\n"), rejected,
             "missing_table", "compliance"),
        Case("feed-odd-numbers", feed_files(compliance__csv=csv_text(FEED_HEADER, [*FEED_ROWS, *odd])), accepted,
             "type"),
        Case("feed-formula-and-html", feed_files(compliance__csv=csv_text(FEED_HEADER, [
            *FEED_ROWS, feed_row(body_code="=HYPERLINK(\"http://x\")", score="90"),
            feed_row(body_code="35", unit_name="<script>alert(1)</script>", score="101")])), accepted, "body_known"),
        Case("feed-binary", feed_files(compliance__csv=b"\x00\x01\x02" * 100), rejected, "unreadable", ""),
    ]


def build_feed_corpus(feed_folder: Path, host: Path) -> dict[str, tuple[Case, Path]]:
    """Write every feed case under `feed_folder` (`<landing>/<cycle>/_ombudsman/`); the landed path of each."""
    feed_folder.mkdir(parents=True, exist_ok=True)
    host.mkdir(parents=True, exist_ok=True)
    host_file(host)
    return {case.name: (case, case.build(feed_folder / case.name, host)) for case in feed_corpus()}
