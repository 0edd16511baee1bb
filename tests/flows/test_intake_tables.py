"""Reading one table's file (flows/intake/tables.py): every format and variant regions send, and bad files.

Every file is made here in tmp_path; each test checks the exact issue rows (table, row, column, value, rule).
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import zlib
from pathlib import Path

import polars as pl
import pytest
import xlsxwriter

from flows.intake.tables import UnreadableFile, read_raw
from flows.readers import read_bundle
from tests.flows.bundle_files import EVALUATIONS_CSV, REGION, UNITS_CSV, bundle, critical, issue_rows, write, xlsx
from transforms.methodology import Methodology
from transforms.schemas import ROW

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
