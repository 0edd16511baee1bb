"""parse_table: the cell rules every reader's output goes through (text in, typed frame and row issues out)."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from transforms.parsing import BAD, EXTRA, duplicated_headers, normalise_header, parse_table
from transforms.schemas import EVALUATIONS, ISSUE_SCHEMA, ROW, UNITS, skm_spec

ELEMENTS = ["persyaratan", "prosedur"]
SKM = skm_spec(ELEMENTS)


def raw(**columns: list[str | None]) -> pl.DataFrame:
    """An all-text frame as readers produce it, rows numbered from 2 (header = 1)."""
    height = len(next(iter(columns.values())))
    return pl.DataFrame({name: pl.Series(name, values, pl.String) for name, values in columns.items()}).with_columns(
        pl.int_range(2, height + 2, dtype=pl.Int64).alias(ROW))


def evaluations(scores: list[str | None], **extra: list[str | None]) -> pl.DataFrame:
    n = len(scores)
    return raw(unit_id=[f"U{i}" for i in range(n)], indicator_code=["1.a.Ak"] * n, score=scores, **extra)


def rows(issues: pl.DataFrame) -> list[tuple[object, ...]]:
    return list(issues.select("table", "row", "column", "value", "rule").iter_rows())


def test_codes_stay_text_and_cells_are_trimmed() -> None:
    typed, issues = parse_table(raw(unit_id=["01", " 002 ", "\u00a0U3\u200b"], unit_name=["A", "B", "C"],
                                    unit_type=["RSUD"] * 3, region_code=["35", "35.78", "\ufeff07"]), UNITS)
    assert typed["unit_id"].to_list() == ["01", "002", "U3"]
    assert typed["region_code"].to_list() == ["35", "35.78", "07"]
    assert issues.is_empty()
    assert issues.schema == ISSUE_SCHEMA


def test_typed_frame_has_exactly_the_spec_columns_then_row_and_bad() -> None:
    typed, _ = parse_table(evaluations(["4"], remark=["not in the contract"]), EVALUATIONS)
    assert typed.columns == [*EVALUATIONS.names, ROW, BAD]
    assert typed.schema["score"] == pl.Int64
    assert typed.schema[ROW] == pl.Int64
    # optional columns the region left out are typed nulls
    assert typed["evaluator_id"].to_list() == [None]


@pytest.mark.parametrize("text", ["4", " 4 ", "4.0", "4,0", "4,00", "+4", "04", "\t4\r"])
def test_whole_numbers_in_the_spellings_regions_use(text: str) -> None:
    typed, issues = parse_table(evaluations([text]), EVALUATIONS)
    assert typed["score"].to_list() == [4]
    assert typed[BAD].to_list() == [False]
    assert issues.is_empty()


def test_decimals_text_and_thousands_separators_are_type_issues() -> None:
    typed, issues = parse_table(evaluations(["4.5", "abc", "1.000", "1,000", "4", " 4,5 "]), EVALUATIONS)
    assert rows(issues) == [
        ("evaluations", 2, "score", "4.5", "type"),
        ("evaluations", 3, "score", "abc", "type"),
        ("evaluations", 4, "score", "1.000", "type"),
        ("evaluations", 5, "score", "1,000", "type"),
        ("evaluations", 7, "score", " 4,5 ", "type"),
    ]
    assert set(issues["severity"]) == {"row"}
    assert all("whole number" in m for m in issues["message"])
    assert typed["score"].to_list() == [None, None, None, None, 4, None]
    assert typed[BAD].to_list() == [True, True, True, True, False, True]


def test_number_too_large_for_the_column_says_so() -> None:
    typed, issues = parse_table(raw(unit_id=["U1"], respondent_id=["R1"], survey_date=["2024-03-01"],
                                    persyaratan=["300"], prosedur=["4"]), SKM)
    assert rows(issues) == [("skm_responses", 2, "persyaratan", "300", "type")]
    assert "too large" in issues["message"][0]
    assert typed.schema["persyaratan"] == pl.Int8


def test_dates_iso_excel_datetime_and_day_first() -> None:
    texts = ["2024-03-15", "2024-03-15 00:00:00", "2024-03-15T08:30:00", "2024-03-15 08:30:00.000000",
             "15/03/2024", "5/3/2024", "15-03-2024", "15.03.2024"]
    n = len(texts)
    typed, issues = parse_table(raw(unit_id=["U1"] * n, respondent_id=[f"R{i}" for i in range(n)],
                                    survey_date=texts, persyaratan=["4"] * n, prosedur=["4"] * n), SKM)
    assert issues.is_empty()
    assert typed["survey_date"].to_list() == [date(2024, 3, 15)] * 4 + [date(2024, 3, 15), date(2024, 3, 5),
                                                                        date(2024, 3, 15), date(2024, 3, 15)]


def test_bad_dates_are_type_issues() -> None:
    texts = ["30/02/2024", "2024/03/01", "03/15/2024", "45352", "15/03/24", "kemarin"]
    n = len(texts)
    typed, issues = parse_table(raw(unit_id=["U1"] * n, respondent_id=[f"R{i}" for i in range(n)],
                                    survey_date=texts, persyaratan=["4"] * n, prosedur=["4"] * n), SKM)
    assert rows(issues) == [("skm_responses", r, "survey_date", t, "type") for r, t in enumerate(texts, start=2)]
    assert all("YYYY-MM-DD" in m for m in issues["message"])
    assert typed["survey_date"].null_count() == n


def test_empty_required_cell_is_not_null_but_unanswered_element_is_fine() -> None:
    typed, issues = parse_table(raw(unit_id=["U1", "", "  ", None], respondent_id=["R1", "R2", "R3", "R4"],
                                    survey_date=["2024-03-01"] * 4, persyaratan=["", None, " ", "4"],
                                    prosedur=["4", "4", "4", "4"]), SKM)
    assert rows(issues) == [
        ("skm_responses", 3, "unit_id", "", "not_null"),
        ("skm_responses", 4, "unit_id", "  ", "not_null"),
        ("skm_responses", 5, "unit_id", None, "not_null"),
    ]
    assert typed["persyaratan"].to_list() == [None, None, None, 4]
    assert typed[BAD].to_list() == [False, True, True, True]


def test_missing_columns_are_not_reported_per_row() -> None:
    # a required column the file lacks is one bundle-level problem (the reader's), not one per row
    typed, issues = parse_table(raw(unit_id=["U1", "U2"], indicator_code=["1.a.Ak", "1.a.Ak"]), EVALUATIONS)
    assert issues.is_empty()
    assert typed["score"].to_list() == [None, None]
    assert typed[BAD].to_list() == [False, False]


def test_surplus_cells_are_an_extra_fields_issue() -> None:
    frame = evaluations(["4", "4", "4"]).with_columns(pl.Series(EXTRA, [None, "Kab. X", " "], pl.String))
    typed, issues = parse_table(frame, EVALUATIONS)
    assert rows(issues) == [("evaluations", 3, None, "Kab. X", "extra_fields")]
    assert typed[BAD].to_list() == [False, True, False]
    assert EXTRA not in typed.columns


def test_issues_are_ordered_by_row_then_column_order_of_the_spec() -> None:
    frame = raw(unit_id=["U1", ""], indicator_code=["", "1.a.Ak"], score=["x", "y"])
    _, issues = parse_table(frame, EVALUATIONS)
    assert rows(issues) == [
        ("evaluations", 2, "indicator_code", "", "not_null"),
        ("evaluations", 2, "score", "x", "type"),
        ("evaluations", 3, "unit_id", "", "not_null"),
        ("evaluations", 3, "score", "y", "type"),
    ]


def test_row_numbers_are_taken_from_the_reader_not_the_position() -> None:
    frame = evaluations(["4", "x"]).with_columns(pl.Series(ROW, [7, 12], pl.Int64))
    typed, issues = parse_table(frame, EVALUATIONS)
    assert rows(issues) == [("evaluations", 12, "score", "x", "type")]
    assert typed[ROW].to_list() == [7, 12]


def test_raw_frame_without_row_numbers_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="_row"):
        parse_table(pl.DataFrame({"unit_id": ["U1"]}), UNITS)


def test_empty_frame_gives_empty_typed_frame() -> None:
    typed, issues = parse_table(raw(unit_id=[], indicator_code=[], score=[]), EVALUATIONS)
    assert typed.height == 0
    assert typed.columns == [*EVALUATIONS.names, ROW, BAD]
    assert issues.is_empty()


@pytest.mark.parametrize(("cell", "expected"), [
    ("unit_id", "unit_id"), (" Unit ID ", "unit_id"), ("\ufeffUNIT_NAME", "unit_name"),
    ("Annual  Service\u00a0Users", "annual_service_users"), ("", "column_3"), (None, "column_3"),
    ("_row", "_row_sent"), ("Unit\nID", "unit_id"), ("*", "*_sent"), ("^.*$", "^.*$_sent"), ("^unit", "^unit"),
    ("a*", "a*"),
])
def test_header_normalisation(cell: str | None, expected: str) -> None:
    assert normalise_header(cell, 3) == expected


def test_duplicated_headers() -> None:
    assert duplicated_headers(["unit_id", "a", "unit_id", "a", "unit_id"]) == ["unit_id", "a"]
    assert duplicated_headers(["a", "b"]) == []


def test_plain_columns_take_a_shortcut_that_gives_what_the_full_rules_give() -> None:
    """A column whose cells are all plain integers or ISO dates skips the fallback spellings; one other
    cell sends the whole column through the full rules, and the plain cells must come out the same."""
    numbers = ["4", "+4", "007", "-0", "5", None]
    alone, issues = parse_table(evaluations(numbers), EVALUATIONS)
    assert issues.filter(pl.col("rule") != "not_null").is_empty()
    for other in [" 4,0 ", "4.0", "\u00a04", "99999999999999999999"]:
        mixed, _ = parse_table(evaluations([*numbers, other]), EVALUATIONS)
        assert mixed["score"].head(len(numbers)).to_list() == alone["score"].to_list() == [4, 4, 7, 0, 5, None]

    dates = ["2024-03-15", "2024-3-5", "+2024-03-15", "2024-02-29"]
    n = len(dates)

    def survey(texts: list[str]) -> pl.DataFrame:
        k = len(texts)
        return raw(unit_id=["U1"] * k, respondent_id=[f"R{i}" for i in range(k)], survey_date=texts,
                   persyaratan=["4"] * k, prosedur=["300"] * (k - 1) + ["4"])

    plain, _ = parse_table(survey(dates), SKM)
    for other in ["15/03/2024", " 2024-03-15", "2024-03-15T08:30:00"]:
        mixed, _ = parse_table(survey([*dates, other]), SKM)
        assert mixed["survey_date"].head(n).to_list() == plain["survey_date"].to_list() == [
            date(2024, 3, 15), date(2024, 3, 5), date(2024, 3, 15), date(2024, 2, 29)]
    # an Int8 answer of 300 parses as an integer but does not fit: the column takes the full rules
    assert plain["prosedur"].to_list() == [None, None, None, 4]
