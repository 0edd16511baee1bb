"""The submission readers: a bundle into typed tables, its whole-table problems, and the F-03 table.

Every file is made here in tmp_path; each test checks the exact issue rows (table, row, column, value, rule).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from flows.intake.bundles import SubmissionRejected
from flows.readers import read_bundle
from tests.flows.bundle_files import REGION, UNITS_CSV, bundle, critical, write
from transforms.methodology import Methodology
from transforms.schemas import ISSUE_SCHEMA

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
