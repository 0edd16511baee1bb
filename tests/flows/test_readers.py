"""The submission readers: every format and variant regions send, bad files, and unsafe bundles.

Every file is made here in tmp_path; each test checks the exact issue rows (table, row, column, value, rule).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import gzip
import json
import os
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from flows.readers import (
    SubmissionRejected,
    UnreadableFile,
    UnsafeBundle,
    bundle_fingerprint,
    open_bundle,
    read_bundle,
    read_raw,
)
from transforms.methodology import Methodology
from transforms.schemas import ISSUE_SCHEMA, ROW

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


# ---------------------------------------------------------------- CSV variants


def test_csv_utf8_codes_stay_text_and_rows_are_numbered_from_the_header(tmp_path: Path) -> None:
    frame = read_raw(write(tmp_path / "units.csv", UNITS_CSV), "units")
    assert frame.columns == ["unit_id", "unit_name", "unit_type", "region_code", "annual_service_users", ROW]
    assert frame["unit_id"].to_list() == ["01", "02"]
    assert frame[ROW].to_list() == [2, 3]
    assert set(frame.schema.values()) == {pl.String, pl.Int64}


def test_csv_utf8_with_bom(tmp_path: Path) -> None:
    frame = read_raw(write(tmp_path / "units.csv", b"\xef\xbb\xbf" + UNITS_CSV.encode()), "units")
    assert frame.columns[0] == "unit_id"
    assert frame["unit_id"].to_list() == ["01", "02"]


def test_csv_windows_1252_with_accent(tmp_path: Path, methodology_2024: Methodology) -> None:
    units = UNITS_CSV.replace("Dinas Penanaman Modal", "Dinas Pariwisata Café").encode("cp1252")
    read = read_bundle(bundle(tmp_path / "b", units__csv=units), methodology_2024, REGION)
    assert not read.rejected
    assert read.tables["units"]["unit_name"][0] == "Dinas Pariwisata Café"


def test_csv_semicolon_separator_and_decimal_comma(tmp_path: Path, methodology_2024: Methodology) -> None:
    evaluations = "unit_id;indicator_code;score\n01;1.a.Ak;4,0\n02;1.a.Ak;3,5\n"
    read = read_bundle(bundle(tmp_path / "b", evaluations__csv=evaluations), methodology_2024, REGION)
    assert issue_rows(read.issues) == [("evaluations", 3, "score", "3,5", "type")]
    assert read.tables["evaluations"]["score"].to_list() == [4, None]
    assert read.tables["evaluations"]["_bad"].to_list() == [False, True]
    assert not read.rejected


def test_csv_tab_separator_and_excel_sep_hint(tmp_path: Path) -> None:
    tabbed = read_raw(write(tmp_path / "a" / "evaluations.csv", "unit_id\tindicator_code\tscore\n01\t1.a.Ak\t4\n"),
                      "evaluations")
    assert tabbed.row(0) == ("01", "1.a.Ak", "4", 2)
    hinted = read_raw(write(tmp_path / "b" / "evaluations.csv", "sep=;\nunit_id;indicator_code;score\n01;1.a.Ak;4\n"),
                      "evaluations")
    assert hinted.row(0) == ("01", "1.a.Ak", "4", 2)


def test_csv_header_with_stray_spaces_and_upper_case(tmp_path: Path, methodology_2024: Methodology) -> None:
    units = UNITS_CSV.replace("unit_id,unit_name,unit_type", " Unit ID ,UNIT_NAME, Unit Type")
    read = read_bundle(bundle(tmp_path / "b", units__csv=units), methodology_2024, REGION)
    assert not read.rejected
    assert read.tables["units"]["unit_type"].to_list() == ["DPMPTSP", "RSUD"]


def test_csv_blank_rows_are_dropped_without_renumbering(tmp_path: Path) -> None:
    text = "unit_id;indicator_code;score\r\n01;1.a.Ak;4\r\n;;\r\n\r\n02;1.a.Ak;3\r\n;;\r\n;;\r\n\r\n"
    frame = read_raw(write(tmp_path / "evaluations.csv", text), "evaluations")
    assert frame.select("unit_id", ROW).rows() == [("01", 2), ("02", 5)]


def test_csv_quoted_separator_and_line_break_count_as_one_row(tmp_path: Path) -> None:
    text = 'unit_id,unit_name\n01,"Dinas A, B"\n02,"Kantor\nCamat"\n03,C\n'
    frame = read_raw(write(tmp_path / "units.csv", text), "units")
    assert frame.rows() == [("01", "Dinas A, B", 2), ("02", "Kantor\nCamat", 3), ("03", "C", 4)]


def test_csv_row_longer_than_header_is_a_row_issue(tmp_path: Path, methodology_2024: Methodology) -> None:
    evaluations = "unit_id,indicator_code,score\n01,1.a.Ak,4\n02,1.a.Ak,3,5\n"
    read = read_bundle(bundle(tmp_path / "b", evaluations__csv=evaluations), methodology_2024, REGION)
    assert issue_rows(read.issues) == [("evaluations", 3, None, "5", "extra_fields")]
    assert read.tables["evaluations"]["_bad"].to_list() == [False, True]


def test_csv_unclosed_quote_is_unreadable(tmp_path: Path, methodology_2024: Methodology) -> None:
    units = UNITS_CSV + '03,"Dinas C,DINSOS,35.78,5\n'
    read = read_bundle(bundle(tmp_path / "b", units__csv=units), methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "units.csv", "unreadable")]
    assert read.rejected


def test_csv_two_columns_with_the_same_name(tmp_path: Path, methodology_2024: Methodology) -> None:
    units = UNITS_CSV.replace("annual_service_users", "Unit ID")
    read = read_bundle(bundle(tmp_path / "b", units__csv=units), methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, "unit_id", "units.csv", "duplicate_column")]


def test_binary_garbage_and_utf16_are_unreadable(tmp_path: Path, methodology_2024: Methodology) -> None:
    garbage = bytes(range(256)) * 8
    utf16 = EVALUATIONS_CSV.encode("utf-16")
    read = read_bundle(bundle(tmp_path / "b", units__csv=garbage, evaluations__csv=utf16), methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "units.csv", "unreadable"),
                                      ("evaluations", None, None, "evaluations.csv", "unreadable")]
    assert read.rejected and read.reason is not None
    assert read.reason.startswith("Bundle b of region 35.78 rejected: units.csv is not a text file")
    assert "\n" not in read.reason
    with pytest.raises(UnreadableFile) as err:
        read_raw(tmp_path / "b" / "units.csv", "units")
    assert err.value.table == "units" and err.value.rule == "unreadable"


@pytest.mark.parametrize(("name", "data", "kind"), [
    ("gzip", lambda: gzip.compress(UNITS_CSV.encode() * 50), "gzip"),
    ("zlib", lambda: zlib.compress(UNITS_CSV.encode()), "zlib"),
    ("zlib-stored", lambda: zlib.compress(UNITS_CSV.encode(), level=0), "zlib"),
    ("fuzzer's three bytes", lambda: b"x\x01\x95", "zlib"),
    ("zstd magic", lambda: b"\x28\xb5\x2f\xfd" + UNITS_CSV.encode(), "zstd"),
])
def test_a_compressed_stream_named_csv_is_refused_not_inflated(tmp_path: Path, name: str, data, kind: str) -> None:
    """Polars' CSV reader inflates gzip, zlib and zstd on its own, whatever the file's name, or raises an
    OSError on a broken stream (three bytes the fuzzer found): refused first, in one clear line."""
    raw = data()
    if kind == "gzip":
        assert pl.read_csv(raw, infer_schema=False).height > 1  # what Polars does with it unasked
    for suffix in (".csv", ".jsonl", ".json"):
        path = tmp_path / f"units{suffix}"
        path.write_bytes(raw)
        with pytest.raises(UnreadableFile) as err:
            read_raw(path, "units")
        assert err.value.rule == "unreadable" and f"starts like a {kind}-compressed file" in err.value.message
        assert "\n" not in err.value.message


def test_a_column_titled_like_a_polars_pattern_is_an_ordinary_extra_column(tmp_path: Path,
                                                                          methodology_2024: Methodology) -> None:
    """`pl.col("*")` is every column and `pl.col("^...$")` a regular expression: a region's note column so
    titled made reading fail ("could not be read (DuplicateError ...)") and rejected the bundle."""
    for title in ("*", "^.*$"):
        units = UNITS_CSV.replace("annual_service_users\n", f"annual_service_users,{title}\n", 1)
        folder = bundle(tmp_path / f"b{len(title)}", units__csv=units)
        read = read_bundle(folder, methodology_2024, REGION)
        assert not read.rejected, read.reason
        assert read.tables["units"].columns == read_bundle(bundle(tmp_path / "plain"), methodology_2024,
                                                           REGION).tables["units"].columns
        assert f"{title}_sent" in read_raw(folder / "units.csv", "units").columns


def test_a_text_csv_starting_with_x_is_still_read(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text("x,xa\nxy,1\n", encoding="utf-8")
    assert read_raw(path, "units").select("x", "xa").rows() == [("xy", "1")]


# ---------------------------------------------------------------- XLSX


def test_xlsx_named_sheet_integers_dates_and_codes(tmp_path: Path, methodology_2024: Methodology) -> None:
    elements = methodology_2024.survey.element_codes
    header = ["unit_id", "respondent_id", "Survey Date", *elements]
    xlsx(tmp_path / "b" / "skm_responses.xlsx", {
        "Petunjuk": [["Isi sheet SKM_Responses"]],
        "SKM_Responses": [header, ["01", "R1", dt.date(2024, 3, 15), *[4] * len(elements)],
                          ["02", "R2", "15/03/2024", 3.5, *[1] * (len(elements) - 1)]],
    })
    read = read_bundle(bundle(tmp_path / "b"), methodology_2024, REGION)
    raw = read_raw(tmp_path / "b" / "skm_responses.xlsx", "skm_responses")
    assert raw.row(0)[:4] == ("01", "R1", "2024-03-15", "4")
    assert issue_rows(read.issues) == [("skm_responses", 3, "persyaratan", "3.5", "type")]
    skm = read.tables["skm_responses"]
    assert skm["unit_id"].to_list() == ["01", "02"]
    assert skm["survey_date"].to_list() == [dt.date(2024, 3, 15)] * 2
    assert skm["prosedur"].to_list() == [4, 1]
    assert skm[ROW].to_list() == [2, 3]


def test_xlsx_first_sheet_when_no_sheet_is_named_like_the_table(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "units.xlsx", {"Sheet1": [["unit_id", "annual_service_users"], ["01", 1200]],
                                          "Sheet2": [["other"], ["x"]]})
    assert read_raw(path, "units").rows() == [("01", "1200", 2)]


def test_xlsx_rows_are_sheet_rows_even_after_blank_leading_and_middle_rows(tmp_path: Path) -> None:
    path = xlsx(tmp_path / "evaluations.xlsx",
                {"evaluations": [["unit_id", "indicator_code", "score"], ["01", "1.a.Ak", 4], [None],
                                 ["02", "1.a.Ak", 3], [None], [None]]}, first_row=2)
    assert read_raw(path, "evaluations").rows() == [("01", "1.a.Ak", "4", 4), ("02", "1.a.Ak", "3", 6)]


def test_xlsx_truncated_is_unreadable(tmp_path: Path, methodology_2024: Methodology) -> None:
    whole = xlsx(tmp_path / "whole.xlsx", {"units": [["unit_id"], ["01"]]}).read_bytes()
    folder = bundle(tmp_path / "b", units__csv="", units__xlsx=whole[: len(whole) // 2])
    read = read_bundle(folder, methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "units.xlsx", "unreadable")]


def test_xlsx_text_that_is_not_a_workbook_is_unreadable(tmp_path: Path, methodology_2024: Methodology) -> None:
    read = read_bundle(bundle(tmp_path / "b", units__csv="", units__xlsx=UNITS_CSV), methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "units.xlsx", "unreadable")]


# ---------------------------------------------------------------- Parquet, JSON, JSON Lines


def test_parquet_typed_columns_become_text_and_rows_are_record_numbers(tmp_path: Path) -> None:
    path = tmp_path / "skm_responses.parquet"
    pl.DataFrame({"Unit_ID": ["01", "02"], "survey_date": [dt.date(2024, 3, 1), dt.date(2024, 3, 2)],
                  "persyaratan": [4, 3], "prosedur": [4.0, None]}).write_parquet(path)
    frame = read_raw(path, "skm_responses")
    assert frame.rows() == [("01", "2024-03-01", "4", "4.0", 1), ("02", "2024-03-02", "3", None, 2)]


def test_json_array_of_objects(tmp_path: Path, methodology_2024: Methodology) -> None:
    records = [{"unit_id": "01", "indicator_code": "1.a.Ak", "score": 4},
               {"unit_id": "02", "indicator_code": "1.a.Ak", "score": "4,5"}]
    folder = bundle(tmp_path / "b", evaluations__csv="", evaluations__json=json.dumps(records))
    read = read_bundle(folder, methodology_2024, REGION)
    assert issue_rows(read.issues) == [("evaluations", 2, "score", "4,5", "type")]
    assert read.tables["evaluations"]["score"].to_list() == [4, None]


def test_json_lines_rows_are_line_numbers(tmp_path: Path) -> None:
    text = '{"unit_id": "01", "score": 4}\n\n   \n{"unit_id": "02", "score": "3"}\n'
    frame = read_raw(write(tmp_path / "evaluations.jsonl", text), "evaluations")
    assert frame.rows() == [("01", "4", 1), ("02", "3", 4)]


@pytest.mark.parametrize(("name", "content", "words"), [
    ("evaluations.json", '[{"unit_id": "01", "score": 4},', "not a valid JSON array"),
    ("evaluations.json", '[{"unit_id": "01", "score": [4, 5]}]', "lists, records"),
    ("evaluations.jsonl", '{"unit_id": "01"}\n{"unit_id": \n', "line 2 is not valid JSON"),
    ("evaluations.jsonl", '{"unit_id": "01"}\n[1, 2]\n', "line 2 is not a JSON object"),
])
def test_bad_json_is_unreadable(tmp_path: Path, name: str, content: str, words: str) -> None:
    with pytest.raises(UnreadableFile) as err:
        read_raw(write(tmp_path / name, content), "evaluations")
    assert words in err.value.message
    assert err.value.issue()["rule"] == "unreadable"


# ---------------------------------------------------------------- whole-table problems


def test_empty_file_and_header_only_file_are_empty_tables(tmp_path: Path, methodology_2024: Methodology) -> None:
    folder = bundle(tmp_path / "b", units__csv=b"", evaluations__csv="unit_id;indicator_code;score\r\n;;\r\n")
    read = read_bundle(folder, methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "units.csv", "empty_table"),
                                      ("evaluations", None, None, "evaluations.csv", "empty_table")]
    assert read.tables["evaluations"].height == 0


def test_missing_tables_and_missing_column_are_all_reported(tmp_path: Path, methodology_2024: Methodology) -> None:
    folder = write(tmp_path / "b" / "units.csv", UNITS_CSV.replace("unit_type", "unit_typ")).parent
    read = read_bundle(folder, methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, "unit_type", "units.csv", "missing_column"),
                                     ("evaluations", None, None, None, "missing_table")]
    assert "'unit_typ' meant to be 'unit_type'" in read.issues["message"][0]
    assert read.rejected and "units.csv has no column 'unit_type'" in (read.reason or "")
    assert "(1 more problem(s)" in (read.reason or "")


def test_survey_table_is_optional(tmp_path: Path, methodology_2024: Methodology) -> None:
    read = read_bundle(bundle(tmp_path / "b"), methodology_2024, REGION)
    assert not read.rejected and read.reason is None
    assert read.issues.is_empty() and read.issues.schema == ISSUE_SCHEMA
    assert sorted(read.tables) == ["evaluations", "units"]
    assert read.tables["units"]["annual_service_users"].to_list() == [1200, None]


def test_two_files_for_one_table_and_unsupported_format(tmp_path: Path, methodology_2024: Methodology) -> None:
    folder = bundle(tmp_path / "b", Units__XLSX=b"x", evaluations__csv="", evaluations__xls=b"x")
    read = read_bundle(folder, methodology_2024, REGION)
    assert critical(read.issues) == [("units", None, None, "Units.XLSX, units.csv", "ambiguous_table"),
                                     ("evaluations", None, None, "evaluations.xls", "unsupported_format")]
    with pytest.raises(SubmissionRejected) as err:
        _located(folder)
    assert [i["rule"] for i in err.value.issues] == ["ambiguous_table", "unsupported_format"]


def test_tables_are_found_ignoring_case_and_other_files(tmp_path: Path) -> None:
    folder = bundle(tmp_path / "b", EVALUATIONS__JSONL="{}", evaluations__csv="", readme__txt="hi",
                    **{"~$units__xlsx": b"lock"})
    assert _located(folder) == {"units": folder / "units.csv", "evaluations": folder / "EVALUATIONS.JSONL"}


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


def test_json_values_are_read_as_their_own_text(tmp_path: Path) -> None:
    """A column mixing `false` and numbers is not unified into numbers (false would become a score of 0)."""
    path = write(tmp_path / "evaluations.json", '[{"unit_id": "01", "score": false}, {"unit_id": "02", "score": 4},'
                                               ' {"unit_id": 3, "score": 4.5}]')
    assert read_raw(path, "evaluations").select("unit_id", "score").rows() == [
        ("01", "false"), ("02", "4"), ("3", "4.5")]
    lines = write(tmp_path / "evaluations.jsonl", '{"unit_id": "01", "score": false}\n{"unit_id": "02", "score": 4}\n')
    assert read_raw(lines, "evaluations")["score"].to_list() == ["false", "4"]


def test_a_nested_column_of_the_region_is_ignored_one_of_the_contract_refused(tmp_path: Path) -> None:
    frame = pl.DataFrame({"unit_id": ["01"], "indicator_code": ["1.a.Ak"], "score": ["4"],
                          "lampiran": [{"file": "scan.pdf", "pages": 2}]})
    frame.write_parquet(tmp_path / "evaluations.parquet")
    assert read_raw(tmp_path / "evaluations.parquet", "evaluations").columns == [
        "unit_id", "indicator_code", "score", ROW]
    frame.with_columns(score=pl.lit([4])).write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UnreadableFile, match="column 'score' holds lists"):
        read_raw(tmp_path / "bad.parquet", "evaluations")


def test_duplicate_json_keys_and_mixed_encodings_are_refused_naming_where(tmp_path: Path) -> None:
    path = write(tmp_path / "units.json", '[{"unit_id": "01"}, {"unit_id": "02", "unit_id": "03"}]')
    with pytest.raises(UnreadableFile, match="record 2 has the key 'unit_id' more than once") as err:
        read_raw(path, "units")
    assert err.value.rule == "duplicate_key"
    mixed = write(tmp_path / "units.csv",
                  "unit_id,unit_name\n01,Kota – A\n".encode() + "02,Kota – B\n".encode("cp1252"))
    with pytest.raises(UnreadableFile, match="line 2 is UTF-8 text and line 3 is Windows-1252") as err:
        read_raw(mixed, "units")
    assert err.value.rule == "mixed_encoding"


def test_a_sheet_with_one_far_cell_is_refused_before_the_excel_reader_allocates(tmp_path: Path) -> None:
    path = tmp_path / "units.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("units")
    sheet.write_row(0, 0, ["unit_id", "unit_name"])
    sheet.write(1048575, 16383, "x")
    book.close()
    assert path.stat().st_size < 10_000
    with pytest.raises(UnreadableFile, match="PEKPPP_XLSX_MAX_CELLS") as err:
        read_raw(path, "units")
    assert err.value.rule == "limit_exceeded"


def test_table_limits_are_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "units.csv", UNITS_CSV)
    monkeypatch.setenv("PEKPPP_TABLE_MAX_ROWS", "1")
    with pytest.raises(UnreadableFile, match=r"2 rows, more than the 1 allowed \(setting PEKPPP_TABLE_MAX_ROWS"):
        read_raw(path, "units")
    monkeypatch.setenv("PEKPPP_TABLE_MAX_ROWS", "10")
    monkeypatch.setenv("PEKPPP_CELL_MAX_CHARS", "10")
    with pytest.raises(UnreadableFile, match="row 2 column 'unit_name' holds 21 characters"):
        read_raw(path, "units")
    monkeypatch.setenv("PEKPPP_TABLE_MAX_BYTES", "10")
    with pytest.raises(UnreadableFile, match="PEKPPP_TABLE_MAX_BYTES"):
        read_raw(path, "units")


def test_an_excel_reader_abort_rejects_the_file_and_this_process_goes_on(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """With the sheet checks switched off, the far cell reaches the native reader, which asks for 512 GiB and
    aborts: in its child process (RLIMIT_AS), so the file is rejected and the test process lives on."""
    path = tmp_path / "units.xlsx"
    book = xlsxwriter.Workbook(path)
    sheet = book.add_worksheet("units")
    sheet.write_row(0, 0, ["unit_id", "unit_name"])
    sheet.write(1048575, 16383, "x")
    book.close()
    monkeypatch.setenv("PEKPPP_XLSX_MAX_CELLS", str(2**40))
    monkeypatch.setenv("PEKPPP_TABLE_MAX_ROWS", str(2**21))
    monkeypatch.setenv("PEKPPP_TABLE_MAX_COLUMNS", str(2**15))
    monkeypatch.setenv("PEKPPP_XLSX_READER_MEMORY_BYTES", str(2**30))
    with pytest.raises(UnreadableFile, match=r"Excel reader stopped \(signal 6") as err:
        read_raw(path, "units")
    assert err.value.rule == "limit_exceeded" and "PEKPPP_XLSX_READER_MEMORY_BYTES" in err.value.message


def test_excel_sheets_read_in_this_process_when_the_setting_says_so(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "units.xlsx"
    book = xlsxwriter.Workbook(path)
    book.add_worksheet("units").write_row(0, 0, ["unit_id", "unit_name"])
    book.worksheets()[0].write_row(1, 0, ["01", "Dinas"])
    book.close()
    in_child = read_raw(path, "units")
    monkeypatch.setenv("PEKPPP_XLSX_READER_CHILD", "0")
    assert read_raw(path, "units").equals(in_child)
    assert in_child.select("unit_id", "unit_name").rows() == [("01", "Dinas")]


F03_CSV = "unit_id,respondent_id,item,score\n01,W1,q1,4\n01,W1,q2,5\n02,W2,q1,3\n"


def test_f03_table_is_read_and_typed_when_the_cycle_blends_it(tmp_path: Path, methodology_2024: Methodology) -> None:
    """`[f03] enabled = true`: f03_responses is read like any optional table, typed by its spec."""
    blended = dataclasses.replace(methodology_2024, f03_enabled=True, f03_without="not_scored")
    read = read_bundle(bundle(tmp_path / "b", f03_responses__csv=F03_CSV), blended, REGION)
    assert not read.rejected and read.issues.is_empty()
    f03 = read.tables["f03_responses"]
    assert f03.select("unit_id", "respondent_id", "item", "score").rows() == [
        ("01", "W1", "q1", 4), ("01", "W1", "q2", 5), ("02", "W2", "q1", 3)]
    assert f03.schema["score"] == pl.Int64


@pytest.mark.parametrize("files", [{"f03_responses__csv": F03_CSV},
                                   {"f03_responses__csv": F03_CSV, "F03_Responses__xlsx": b"junk"},
                                   {"f03_responses__rar": b"junk"}])
def test_f03_table_of_a_cycle_without_f03_is_set_aside_with_one_warning(
        tmp_path: Path, methodology_2024: Methodology, files: dict[str, str | bytes]) -> None:
    """F-03 off (2024 as shipped): the table is not read and never rejects the bundle (not even two files or an
    unsupported format of it); one warning `f03_not_used` names the file(s)."""
    read = read_bundle(bundle(tmp_path / "b", **files), methodology_2024, REGION)
    assert not read.rejected and "f03_responses" not in read.tables
    assert read.issues["rule"].to_list() == ["f03_not_used"]
    assert read.issues["severity"].to_list() == ["warning"]
    assert read.issues["table"].to_list() == ["f03_responses"]
    assert "does not use" in read.issues["message"][0]


def _located(folder: Path) -> dict[str, Path]:
    """Which file holds each table, as the reader decides it (its critical problems raised as the reader would)."""
    from flows.readers import _locate_tables

    found, issues = _locate_tables(folder)
    if issues:
        raise SubmissionRejected(issues)
    return found
