"""The Great Expectations suites and their runner: every expectation passes and fails, issues map to source rows.

Frames are built as the reader gives them: the spec's typed columns plus `_row` and `_bad`. Importing
GE costs ~10 s, so the context is built once for the module.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from datetime import date, datetime, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from expectations import checks, runner, suites
from expectations.runner import Validation, validate_tables
from expectations.suites import SuiteError, load_suite
from flows.settings import load_methodology
from tests.benchmarks import ge_speed
from transforms.methodology import Methodology, SurveyElement
from transforms.schemas import BAD, EVALUATIONS, INPUT_TABLES, ISSUE_SCHEMA, ROW, UNITS, input_specs

REGION = "35.78"
Bundle = dict[str, pl.DataFrame]
IssueKey = tuple[str, int | None, str | None, str | None, str, str]


@pytest.fixture(scope="module")
def methodology_2024() -> Methodology:
    """2024 without its [lokus]: these cases test the suites' rules on a kota sending every unit type; the
    lokus rule (`unit_type_lokus`) has its own cases in test_lokus.py."""
    return dataclasses.replace(load_methodology("2024"), lokus=None)


@pytest.fixture(scope="module", autouse=True)
def _great_expectations() -> None:
    """Import GE and build its in-memory context once for every test here."""
    suites.warm_up()


# ---------------------------------------------------------------- building reader-like frames


def typed(table: str, rows: list[dict[str, Any]], methodology: Methodology, *, row_numbers: list[int]) -> pl.DataFrame:
    """A frame as the reader types it: every spec column (absent values null), `_row`, `_bad`."""
    spec = input_specs(methodology.survey.element_codes)[table]
    schema = {**spec.polars_schema, ROW: pl.Int64, BAD: pl.Boolean}
    records = [{**row, ROW: number, BAD: row.get(BAD, False)} for row, number in zip(rows, row_numbers, strict=True)]
    return pl.DataFrame(records, schema=schema)


UNITS_ROWS = [
    {"unit_id": "U1", "unit_name": "DPMPTSP Kota", "unit_type": "DPMPTSP", "region_code": REGION,
     "annual_service_users": 10},
    {"unit_id": "U2", "unit_name": "RSUD Kota", "unit_type": "RSUD", "region_code": REGION,
     "annual_service_users": None},
    {"unit_id": "U3", "unit_name": "Samsat Kota", "unit_type": "SAMSAT", "region_code": REGION,
     "annual_service_users": 0},
    # ten units in all, so that one bad unit row stays within the 10 % bad-row share of 2024
    *({"unit_id": f"U{n}", "unit_name": f"Puskesmas {n}", "unit_type": "PUSKESMAS", "region_code": REGION}
      for n in range(4, 11)),
]
UNIT_ROWS = list(range(2, 2 + len(UNITS_ROWS)))
RESPONDENTS = {"U1": 20, "U2": 3, "U3": 2}  # 25 rows: two bad ones stay within 10 %


def good_bundle(m: Methodology) -> Bundle:
    """A bundle every expectation passes, with the edges in it: scores min and max, answers at both
    ends and empty, survey dates on the window's first and last day, an evaluator-less score, the
    same respondent id in two units, and `_row` numbers with gaps (blank lines in the file)."""
    units = typed("units", UNITS_ROWS, m, row_numbers=UNIT_ROWS)
    span = m.score_max - m.score_min + 1
    evaluation_rows = [
        {"unit_id": u["unit_id"], "indicator_code": code, "score": m.score_min + n % span, "evaluator_id": "E1"}
        for n, (u, code) in enumerate(product(UNITS_ROWS, m.indicator_codes))
    ] + [
        {"unit_id": "U1", "indicator_code": m.indicator_codes[0], "score": m.score_max, "evaluator_id": "E2"},
        {"unit_id": "U2", "indicator_code": m.indicator_codes[0], "score": m.score_min, "evaluator_id": None},
    ]
    evaluations = typed("evaluations", evaluation_rows, m, row_numbers=list(range(2, 2 + len(evaluation_rows))))
    survey = m.survey
    dates = [survey.window_start, survey.window_end, survey.window_start + timedelta(days=100)]
    answers = list(range(survey.answer_min, survey.answer_max + 1))
    responses = []
    for unit, count in RESPONDENTS.items():
        for k in range(count):
            n = len(responses)
            responses.append({
                "unit_id": unit, "respondent_id": f"R{k + 1:02d}", "survey_date": dates[n % len(dates)],
                **{e: None if (n + j) % 7 == 0 else answers[(n + j) % len(answers)]
                   for j, e in enumerate(survey.element_codes)},
            })
    skm = typed("skm_responses", responses, m, row_numbers=[2 + 2 * n for n in range(len(responses))])
    span = m.score_max - m.score_min + 1
    answers_f03 = [{"unit_id": unit, "respondent_id": f"W{k + 1}", "item": item,
                    "score": m.score_min + (k + len(item)) % span}
                   for unit, count in F03_RESPONDENTS.items() for k in range(count) for item in F03_ITEMS]
    f03 = typed("f03_responses", answers_f03, m, row_numbers=list(range(2, 2 + len(answers_f03))))
    return {"units": units, "evaluations": evaluations, "skm_responses": skm, "f03_responses": f03}


F03_RESPONDENTS = {"U1": 4, "U2": 3, "U3": 1}  # 24 rows of 3 items: two bad ones stay within 10 %
F03_ITEMS = ("q1", "q22", "q333")


def f03_row(unit: str, k: int, item: str) -> int:
    """The `_row` of a unit's k-th F-03 respondent's (0-based) answer to an item in the good bundle."""
    before = 0
    for name, count in F03_RESPONDENTS.items():
        if name == unit:
            return 2 + (before + k) * len(F03_ITEMS) + F03_ITEMS.index(item)
        before += count
    raise KeyError(unit)


def eval_row(m: Methodology, unit: str, code: str) -> int:
    """The `_row` of a unit's E1 score for an indicator in the good bundle."""
    return 2 + [u["unit_id"] for u in UNITS_ROWS].index(unit) * len(m.indicator_codes) + m.indicator_codes.index(code)


def skm_row(unit: str, k: int) -> int:
    """The `_row` of a unit's k-th respondent (0-based) in the good bundle."""
    before = 0
    for name, count in RESPONDENTS.items():
        if name == unit:
            return 2 + 2 * (before + k)
        before += count
    raise KeyError(unit)


def with_cell(bundle: Bundle, table: str, row: int, column: str, value: Any) -> Bundle:
    frame = bundle[table]
    dtype = frame.schema[column]
    changed = frame.with_columns(
        pl.when(pl.col(ROW) == row).then(pl.lit(value, dtype)).otherwise(pl.col(column)).alias(column))
    return {**bundle, table: changed}


def keys(issues: pl.DataFrame, *, warnings: bool = True) -> set[IssueKey]:
    """Issues as comparable tuples (table, row, column, value, rule, severity)."""
    if not warnings:
        issues = issues.filter(pl.col("severity") != "warning")
    return {(r["table"], r["row"], r["column"], r["value"], r["rule"], r["severity"])
            for r in issues.iter_rows(named=True)}


def run(bundle: Bundle, m: Methodology, region: str = REGION) -> Validation:
    outcome = validate_tables(bundle, m, region)
    assert outcome.issues.schema == ISSUE_SCHEMA
    assert outcome.issues.filter(pl.col("message").str.contains(r"\{|\}")).is_empty(), "unfilled placeholder"
    return outcome


# ---------------------------------------------------------------- loading the suites and their parameters


def test_load_suite_and_its_required_columns() -> None:
    """units.json requires the declared required columns of `units`; its rules carry severity and message."""
    suite = suites.load_suite("units")
    checked = {c for e in suite["expectations"] for c in suites.columns_of(e["kwargs"])}
    assert set(UNITS.required_names) <= checked - {"_bundle", "_bundle_region"} <= set(UNITS.names)  # a row rule each
    suites.check_suite_matches("units", UNITS)
    with pytest.raises(suites.SuiteError, match="update the suite"):
        suites.check_suite_matches("units", EVALUATIONS)
    with pytest.raises(suites.SuiteError, match="cannot read the suite"):
        suites.load_suite("no_such_table")


def test_suite_parts_group_expectations_by_their_columns() -> None:
    """units.json: no table-level part (tables and columns present are the reader's checks); unit_id's not_null
    and unit_type's two rules each go with their column; every expectation is kept once."""
    suite = suites.load_suite("units")
    parts = dict(suites.suite_parts(suite))
    assert () not in parts
    assert [e["meta"]["rule"] for e in parts[("unit_type",)]["expectations"]] == ["not_null", "unit_type_allowed"]
    assert sum(len(p["expectations"]) for p in parts.values()) == len(suite["expectations"])
    assert parts[("unit_id",)]["name"].endswith("[unit_id]")


def test_suite_parameters_are_the_cycles(methodology_2024: Methodology) -> None:
    params = suites.suite_parameters(methodology_2024, "35.78")
    assert (params["cycle"], params["score_min"], params["score_max"], params["answer_max"]) == ("2024", 0, 5, 4)
    assert params["window_start"] == datetime(2024, 1, 1) and params["region_code"] == "35.78"
    assert len(params["indicator_codes"]) == 30
    assert "region_code" not in suites.suite_parameters(methodology_2024)


# ---------------------------------------------------------------- one failing case per expectation

Mutation = Callable[[Bundle, Methodology], Bundle]


def cell(table: str, row: Callable[[Methodology], int], column: str, value: Callable[[Methodology], Any]) -> Mutation:
    return lambda b, m: with_cell(b, table, row(m), column, value(m))


def drop(table: str, column: str) -> Mutation:
    return lambda b, m: {**b, table: b[table].drop(column)}


def emptied(table: str) -> Mutation:
    return lambda b, m: {**b, table: b[table].clear()}


def appended(table: str, values: dict[str, Any]) -> Mutation:
    def mutate(b: Bundle, m: Methodology) -> Bundle:
        frame = b[table]
        extra = typed(table, [values], m, row_numbers=[int(frame[ROW].max()) + 1])  # type: ignore[arg-type]
        return {**b, table: pl.concat([frame, extra.select(frame.columns)])}
    return mutate


NEW_UNIT_ROW = UNIT_ROWS[-1] + 1  # the row an appended unit gets
FIRST = 0  # index of the first indicator / element


def _first_code(m: Methodology) -> str:
    return m.indicator_codes[FIRST]


def _answer_case(element: str) -> tuple[Mutation, Callable[[Methodology], set[IssueKey]]]:
    return (cell("skm_responses", lambda m: skm_row("U2", 1), element, lambda m: m.survey.answer_max + 1),
            lambda m: {("skm_responses", skm_row("U2", 1), element, str(m.survey.answer_max + 1), "answer_range",
                        "row")})


# key: table/rule/column(s) -> (mutation, expected non-warning issues; None: only "rule present")
CASES: dict[str, tuple[Mutation, Callable[[Methodology], set[IssueKey]] | None]] = {
    "units/not_null/unit_id": (
        appended("units", {"unit_id": None, "unit_name": "Tanpa Id", "unit_type": "MPP", "region_code": REGION}),
        lambda m: {("units", NEW_UNIT_ROW, "unit_id", None, "not_null", "row")}),
    "units/not_null/unit_name": (
        cell("units", lambda m: 3, "unit_name", lambda m: None),
        lambda m: {("units", 3, "unit_name", None, "not_null", "row")}),
    "units/not_null/unit_type": (
        cell("units", lambda m: 3, "unit_type", lambda m: None),
        lambda m: {("units", 3, "unit_type", None, "not_null", "row")}),
    "units/not_null/region_code": (
        cell("units", lambda m: 3, "region_code", lambda m: None),
        lambda m: {("units", 3, "region_code", None, "not_null", "row")}),
    "units/unique_unit_id/unit_id": (
        appended("units", {"unit_id": "U2", "unit_name": "RSUD Lagi", "unit_type": "RSUD", "region_code": REGION}),
        lambda m: {("units", 3, "unit_id", "U2", "unique_unit_id", "critical"),
                   ("units", NEW_UNIT_ROW, "unit_id", "U2", "unique_unit_id", "critical")}),
    "units/region_ownership/region_code": (
        cell("units", lambda m: 4, "region_code", lambda m: "35.07"),
        lambda m: {("units", 4, "region_code", "35.07", "region_ownership", "critical")}),
    "units/unit_type_allowed/unit_type": (
        cell("units", lambda m: 2, "unit_type", lambda m: "BANK"),
        lambda m: {("units", 2, "unit_type", "BANK", "unit_type_allowed", "row")}),
    "units/service_users_range/annual_service_users": (
        cell("units", lambda m: 3, "annual_service_users", lambda m: -5),
        lambda m: {("units", 3, "annual_service_users", "-5", "service_users_range", "row")}),
    "evaluations/not_null/unit_id": (
        cell("evaluations", lambda m: eval_row(m, "U3", _first_code(m)), "unit_id", lambda m: None),
        lambda m: {("evaluations", eval_row(m, "U3", _first_code(m)), "unit_id", None, "not_null", "row")}),
    "evaluations/not_null/indicator_code": (
        cell("evaluations", lambda m: eval_row(m, "U3", _first_code(m)), "indicator_code", lambda m: None),
        lambda m: {("evaluations", eval_row(m, "U3", _first_code(m)), "indicator_code", None, "not_null", "row")}),
    "evaluations/not_null/score": (
        cell("evaluations", lambda m: eval_row(m, "U3", _first_code(m)), "score", lambda m: None),
        lambda m: {("evaluations", eval_row(m, "U3", _first_code(m)), "score", None, "not_null", "row")}),
    "evaluations/indicator_allowed/indicator_code": (
        cell("evaluations", lambda m: eval_row(m, "U1", _first_code(m)), "indicator_code", lambda m: "31.g.X"),
        lambda m: {("evaluations", eval_row(m, "U1", _first_code(m)), "indicator_code", "31.g.X",
                    "indicator_allowed", "row")}),
    "evaluations/score_range/score": (
        cell("evaluations", lambda m: eval_row(m, "U2", _first_code(m)), "score", lambda m: m.score_max + 1),
        lambda m: {("evaluations", eval_row(m, "U2", _first_code(m)), "score", str(m.score_max + 1),
                    "score_range", "row")}),
    "evaluations/unit_known/unit_id": (
        cell("evaluations", lambda m: eval_row(m, "U2", _first_code(m)), "unit_id", lambda m: "U99"),
        lambda m: {("evaluations", eval_row(m, "U2", _first_code(m)), "unit_id", "U99", "unit_known", "row")}),
    "evaluations/unique_score/unit_id,indicator_code,evaluator_id": (
        cell("evaluations", lambda m: eval_row(m, "U1", m.indicator_codes[1]), "indicator_code", _first_code),
        lambda m: {("evaluations", row, "unit_id, indicator_code, evaluator_id", f"U1 / {_first_code(m)} / E1",
                    "unique_score", "row")
                   for row in (eval_row(m, "U1", _first_code(m)), eval_row(m, "U1", m.indicator_codes[1]))}),
    "skm_responses/not_null/unit_id": (
        cell("skm_responses", lambda m: skm_row("U3", 0), "unit_id", lambda m: None),
        lambda m: {("skm_responses", skm_row("U3", 0), "unit_id", None, "not_null", "row")}),
    "skm_responses/not_null/respondent_id": (
        cell("skm_responses", lambda m: skm_row("U3", 0), "respondent_id", lambda m: None),
        lambda m: {("skm_responses", skm_row("U3", 0), "respondent_id", None, "not_null", "row")}),
    "skm_responses/not_null/survey_date": (
        cell("skm_responses", lambda m: skm_row("U3", 0), "survey_date", lambda m: None),
        lambda m: {("skm_responses", skm_row("U3", 0), "survey_date", None, "not_null", "row")}),
    "skm_responses/unit_known/unit_id": (
        cell("skm_responses", lambda m: skm_row("U2", 0), "unit_id", lambda m: "U99"),
        lambda m: {("skm_responses", skm_row("U2", 0), "unit_id", "U99", "unit_known", "row")}),
    "skm_responses/unique_respondent/unit_id,respondent_id": (
        cell("skm_responses", lambda m: skm_row("U2", 1), "respondent_id", lambda m: "R01"),
        lambda m: {("skm_responses", row, "unit_id, respondent_id", "U2 / R01", "unique_respondent", "row")
                   for row in (skm_row("U2", 0), skm_row("U2", 1))}),
    "skm_responses/survey_window/survey_date": (
        cell("skm_responses", lambda m: skm_row("U2", 2), "survey_date",
             lambda m: m.survey.window_end + timedelta(days=1)),
        lambda m: {("skm_responses", skm_row("U2", 2), "survey_date",
                    (m.survey.window_end + timedelta(days=1)).isoformat(), "survey_window", "row")}),
    **{f"f03_responses/not_null/{column}": (
        cell("f03_responses", lambda m: f03_row("U2", 1, "q1"), column, lambda m: None),
        lambda m, column=column: {("f03_responses", f03_row("U2", 1, "q1"), column, None, "not_null", "row")})
       for column in ("unit_id", "respondent_id", "item", "score")},
    "f03_responses/f03_score_range/score": (
        cell("f03_responses", lambda m: f03_row("U1", 2, "q22"), "score", lambda m: m.score_max + 1),
        lambda m: {("f03_responses", f03_row("U1", 2, "q22"), "score", str(m.score_max + 1), "f03_score_range",
                    "row")}),
    "f03_responses/unit_known/unit_id": (
        cell("f03_responses", lambda m: f03_row("U3", 0, "q333"), "unit_id", lambda m: "U99"),
        lambda m: {("f03_responses", f03_row("U3", 0, "q333"), "unit_id", "U99", "unit_known", "row")}),
    "f03_responses/unique_f03_answer/unit_id,respondent_id,item": (
        cell("f03_responses", lambda m: f03_row("U1", 0, "q22"), "item", lambda m: "q1"),
        lambda m: {("f03_responses", row, "unit_id, respondent_id, item", "U1 / W1 / q1", "unique_f03_answer", "row")
                   for row in (f03_row("U1", 0, "q1"), f03_row("U1", 0, "q22"))}),
    **{f"skm_responses/answer_range/{e.code}": _answer_case(e.code)
       for e in load_methodology("2024").survey.elements},
}


def _case_key(table: str, expectation: dict[str, Any]) -> str:
    kwargs = expectation["kwargs"]
    columns = ([kwargs["column"]] if "column" in kwargs else [kwargs["column_A"], kwargs["column_B"]]
               if "column_A" in kwargs else kwargs.get("column_list", []))
    shown = [c for c in columns if not c.startswith("_")]  # the runner's bookkeeping columns are never reported
    return f"{table}/{expectation['meta']['rule']}/{','.join(shown)}"


SUITE_KEYS = sorted(_case_key(t, e) for t in INPUT_TABLES for e in load_suite(t)["expectations"])


def test_every_expectation_has_a_passing_and_a_failing_case() -> None:
    assert len(SUITE_KEYS) == len(set(SUITE_KEYS)), "two expectations share table/rule/column"
    assert set(SUITE_KEYS) == set(CASES), "add a case for each new expectation (and drop stale ones)"


def test_the_good_bundle_passes_every_expectation(methodology_2024: Methodology) -> None:
    outcome = run(good_bundle(methodology_2024), methodology_2024)
    assert outcome.issues.is_empty()
    assert not outcome.rejected and outcome.reason is None
    for table, frame in good_bundle(methodology_2024).items():
        assert outcome.clean[table].height == frame.height


@pytest.mark.parametrize("key", SUITE_KEYS)
def test_expectation_fails_on_its_case(key: str, methodology_2024: Methodology) -> None:
    mutate, expected = CASES[key]
    outcome = run(mutate(good_bundle(methodology_2024), methodology_2024), methodology_2024)
    table, rule, _ = key.split("/")
    found = outcome.issues.filter((pl.col("table") == table) & (pl.col("rule") == rule))
    assert found.height, f"{key}: no issue"
    if expected is not None:
        assert keys(outcome.issues, warnings=False) == expected(methodology_2024)
    severity = found.item(0, "severity")
    assert outcome.rejected == (severity == "critical")
    if severity == "row":
        bad_rows = set(found.get_column("row").to_list())
        assert bad_rows.isdisjoint(outcome.clean[table].get_column(ROW).to_list())
    if severity == "critical":
        assert outcome.reason and outcome.reason.startswith(outcome.issues.filter(
            pl.col("severity") == "critical").item(0, "message"))


def test_messages_fill_every_placeholder(methodology_2024: Methodology) -> None:
    params = suites.suite_parameters(methodology_2024, REGION)
    frame = pl.DataFrame({"row": [7], "value": ["x"]}, schema={"row": pl.Int64, "value": pl.String})
    for table in INPUT_TABLES:
        for expectation in load_suite(table)["expectations"]:
            message = frame.select(checks.message_expr(
                expectation["meta"]["message"], table=table, column="c", params=params)).item()
            assert "{" not in message and message.endswith("."), message
    score_message = next(e["meta"]["message"] for e in load_suite("evaluations")["expectations"]
                         if e["meta"]["rule"] == "score_range")
    text = frame.select(checks.message_expr(score_message, table="evaluations", column="score", params=params)).item()
    assert text == ("Row 7 of evaluations has score x; scores are whole numbers from 0 to 5. Correct the score.")


def test_suites_load_into_great_expectations_and_match_the_schemas(methodology_2024: Methodology) -> None:
    from great_expectations.core import ExpectationSuite

    specs = input_specs(methodology_2024.survey.element_codes)
    for table in INPUT_TABLES:
        raw = json.loads((suites.SUITE_DIR / f"{table}.json").read_text(encoding="utf-8"))
        suite = ExpectationSuite(**raw)
        assert suite.name == table and len(suite.expectations) == len(raw["expectations"])
        suites.check_suite_matches(table, specs[table])
        for expectation in raw["expectations"]:
            assert expectation["meta"]["severity"] in ("critical", "row")


def test_a_cycle_with_other_survey_elements_needs_its_suite_updated(methodology_2024: Methodology) -> None:
    elements = (*methodology_2024.survey.elements, SurveyElement("kebersihan", "Kebersihan"))
    survey = dataclasses.replace(methodology_2024.survey, elements=elements)
    other = dataclasses.replace(methodology_2024, survey=survey)
    with pytest.raises(SuiteError, match="kebersihan"):
        validate_tables(good_bundle(methodology_2024), other, REGION)


# ---------------------------------------------------------------- a realistic mix, issue by issue


def test_mixed_bundle_gives_exactly_the_expected_issues(methodology_2024: Methodology) -> None:
    m = methodology_2024
    codes = m.indicator_codes
    unit_ids = [f"U{n:02d}" for n in range(1, 11)]  # rows 2..11
    population = {"U01": 10, "U02": 2, "U03": 1_000_000}  # needs 10; capped at 2; above the table
    units = typed("units", [
        {"unit_id": u, "unit_name": f"Unit {u}", "unit_type": "BANK" if u == "U10" else m.unit_types[n % 8],
         "region_code": REGION, "annual_service_users": population.get(u)}
        for n, u in enumerate(unit_ids)], m, row_numbers=list(range(2, 12)))
    special = {("U03", codes[0]): {"score": 7},  # out of range
               ("U04", codes[5]): {BAD: True, "score": None}}  # the reader could not parse it
    scores = [{"unit_id": u, "indicator_code": c, "score": 4, "evaluator_id": "E1", **special.get((u, c), {})}
              for u, c in product(unit_ids, codes) if (u, c) != ("U02", codes[-1])]  # U02 lacks the last one
    scores.append({"unit_id": "U99", "indicator_code": codes[0], "score": 3, "evaluator_id": "E1"})
    scores.append({"unit_id": "U05", "indicator_code": codes[1], "score": 2, "evaluator_id": "E1"})
    evaluations = typed("evaluations", scores, m, row_numbers=list(range(2, 2 + len(scores))))
    elements = m.survey.element_codes
    answers = [{"unit_id": u, "respondent_id": f"R{k}", "survey_date": date(2024, 3, 1 + k),
                **{e: 1 + (k + j) % 4 for j, e in enumerate(elements)}} for u in unit_ids for k in range(2)]
    answers[4] = {**answers[4], "waktu": 5}  # U03, R0
    answers[6] = {**answers[6], "survey_date": date(2023, 12, 31)}  # U04, R0
    answers[8] = {**answers[8], "sarana": None}  # unanswered is fine
    skm_rows = [10 + 3 * n for n in range(len(answers))]  # a sheet whose data starts on row 10, gaps of 3
    skm = typed("skm_responses", answers, m, row_numbers=skm_rows)

    outcome = run({"units": units, "evaluations": evaluations, "skm_responses": skm}, m)

    row_of = {(r["unit_id"], r["indicator_code"]): r[ROW] for r in evaluations.iter_rows(named=True)
              if r["evaluator_id"] == "E1" and r["score"] != 2}
    duplicate = [r[ROW] for r in evaluations.iter_rows(named=True)
                 if (r["unit_id"], r["indicator_code"]) == ("U05", codes[1])]
    assert keys(outcome.issues) == {
        ("units", 11, "unit_type", "BANK", "unit_type_allowed", "row"),
        ("units", 2, "annual_service_users", "10", "sample_too_small", "warning"),
        ("units", 4, "annual_service_users", "1000000", "sample_too_small", "warning"),
        ("units", 3, "unit_id", "U02", "incomplete_unit", "warning"),  # 30.f.B never sent
        ("units", 4, "unit_id", "U03", "incomplete_unit", "warning"),  # its 1.a.Ak score was set aside
        ("units", 5, "unit_id", "U04", "incomplete_unit", "warning"),  # the reader's bad row
        ("units", 6, "unit_id", "U05", "incomplete_unit", "warning"),  # both duplicates set aside
        ("evaluations", row_of[("U03", codes[0])], "score", "7", "score_range", "row"),
        ("evaluations", 2 + len(scores) - 2, "unit_id", "U99", "unit_known", "row"),
        *{("evaluations", r, "unit_id, indicator_code, evaluator_id", f"U05 / {codes[1]} / E1", "unique_score",
           "row") for r in duplicate},
        ("skm_responses", skm_rows[4], "waktu", "5", "answer_range", "row"),
        ("skm_responses", skm_rows[6], "survey_date", "2023-12-31", "survey_window", "row"),
    }
    assert not outcome.rejected  # units: 1 bad of 10 is exactly the 2024 limit, not over it
    assert outcome.clean["units"].height == 9
    assert outcome.clean["evaluations"].height == evaluations.height - 5
    assert outcome.clean["skm_responses"].height == skm.height - 2
    assert set(outcome.clean["skm_responses"].columns) >= {ROW, BAD}
    messages = dict(zip(outcome.issues["value"], outcome.issues["message"], strict=True))
    assert messages["1000000"].startswith("Unit U03 has 1 survey respondents; with 1000000 yearly service users "
                                          "the survey needs at least 384")
    assert "outside cycle 2024's survey window 2024-01-01 to 2024-12-31" in messages["2023-12-31"]
    assert messages["U02"].startswith(f"Unit U02 has 1 of 30 indicators of cycle 2024 without any score ({codes[-1]})")


# ---------------------------------------------------------------- rejections


def test_too_many_bad_rows_reject_the_bundle(methodology_2024: Methodology) -> None:
    m = methodology_2024
    bundle = good_bundle(m)
    for k in range(3):  # 3 of 25 rows: over 10 %
        bundle = with_cell(bundle, "skm_responses", skm_row("U1", k), "survey_date", date(2030, 1, 1))
    outcome = run(bundle, m)
    assert outcome.rejected
    assert ("skm_responses", None, None, "3/25", "bad_row_share", "critical") in keys(outcome.issues)
    assert outcome.reason == ("3 of 25 rows of skm_responses (12.0%) have problems, more than cycle 2024's limit "
                              "of 10%. Correct the rows listed in the issues and send the bundle again.")


def test_rows_the_reader_set_aside_count_towards_the_share_and_are_not_reported_twice(
        methodology_2024: Methodology) -> None:
    m = methodology_2024
    bundle = good_bundle(m)
    for k in range(3):
        row = skm_row("U1", k)
        bundle = with_cell(with_cell(bundle, "skm_responses", row, BAD, True), "skm_responses", row, "survey_date",
                           None)
    outcome = run(bundle, m)
    assert keys(outcome.issues) == {("skm_responses", None, None, "3/25", "bad_row_share", "critical")}
    assert outcome.clean["skm_responses"].height == 22


def test_a_unit_of_another_region_rejects_the_bundle(methodology_2024: Methodology) -> None:
    outcome = run(good_bundle(methodology_2024), methodology_2024, region="35.07")
    assert outcome.rejected
    assert {k[1] for k in keys(outcome.issues) if k[4] == "region_ownership"} == set(UNIT_ROWS)
    assert outcome.reason is not None
    assert outcome.reason.startswith("Row 2 of units belongs to region '35.78', but this bundle was sent for "
                                     "region 35.07.")
    assert outcome.reason.endswith(f"({len(UNIT_ROWS) - 1} more problem(s) reject this bundle; see the issue list.)")


def test_duplicate_unit_ids_reject_the_bundle(methodology_2024: Methodology) -> None:
    bundle = appended("units", {**UNITS_ROWS[1], "unit_id": "U1"})(good_bundle(methodology_2024), methodology_2024)
    outcome = run(bundle, methodology_2024)
    assert outcome.rejected
    assert {k for k in keys(outcome.issues) if k[5] == "critical"} == {
        ("units", 2, "unit_id", "U1", "unique_unit_id", "critical"),
        ("units", NEW_UNIT_ROW, "unit_id", "U1", "unique_unit_id", "critical")}
    assert outcome.reason is not None and "unit_id 'U1' is listed more than once in units" in outcome.reason


def _written(bundle: Bundle, folder: Path) -> Path:
    """The bundle as a region sends it: one CSV per table (bookkeeping columns left out)."""
    folder.mkdir(parents=True)
    for table, frame in bundle.items():
        frame.drop([c for c in frame.columns if c.startswith("_")]).write_csv(folder / f"{table}.csv")
    return folder


def test_a_missing_required_table_is_reported_once_by_the_reader(methodology_2024: Methodology,
                                                                  tmp_path: Path) -> None:
    """The reader checks that every required table is there (missing_table); the suites no longer repeat it
    as required_table, so the officer reads the problem once, and the tables given are still validated."""
    from flows.ingest import check_bundle

    bundle = good_bundle(methodology_2024)
    del bundle["evaluations"]
    bundle["units"] = bundle["units"].with_columns(pl.when(pl.col(ROW) == 3).then(pl.lit(-5)).otherwise(
        pl.col("annual_service_users")).alias("annual_service_users"))
    checked = check_bundle(_written(bundle, tmp_path / "b"), methodology_2024, REGION)
    assert checked.rejected
    found = keys(checked.issues)
    assert {k for k in found if k[0] == "evaluations"} == {("evaluations", None, None, None, "missing_table",
                                                            "critical")}
    assert ("units", 3, "annual_service_users", "-5", "service_users_range", "row") in found  # validated all the same
    assert not {k for k in found if k[4] in ("required_table", "required_column", "table_not_empty")}


def test_without_unit_ids_only_the_missing_column_is_reported(methodology_2024: Methodology, tmp_path: Path) -> None:
    from flows.ingest import check_bundle

    bundle = good_bundle(methodology_2024)
    bundle = {**bundle, "units": bundle["units"].drop("unit_id")}
    checked = check_bundle(_written(bundle, tmp_path / "b"), methodology_2024, REGION)
    # no unit_known flood over evaluations and survey: the missing key is the one problem, reported by the reader
    assert keys(checked.issues, warnings=False) == {("units", None, "unit_id", "units.csv", "missing_column",
                                                     "critical")}
    assert checked.rejected
    # the runner alone (what the reader hands it) adds nothing about the column: it is not its rule
    assert not keys(run(bundle, methodology_2024).issues, warnings=False)


# ---------------------------------------------------------------- one issue per cause (issue 22)


def _blanked(table: str, column: str, *rows: Callable[[Methodology], int]) -> Mutation:
    """The cell of `column` emptied on each of `rows` (the key two rules would otherwise both flag)."""
    def mutate(b: Bundle, m: Methodology) -> Bundle:
        for row in rows:
            b = with_cell(b, table, row(m), column, None)
        return b
    return mutate


# (rule that depends on a key, the mutation that leaves that key blank on rows that would also break it)
KEY_RULE_PAIRS: dict[str, tuple[str, str, Mutation]] = {
    "units unit_id: not_null, not unique_unit_id": (
        "units", "unit_id", _blanked("units", "unit_id", lambda m: UNIT_ROWS[0], lambda m: UNIT_ROWS[1])),
    "units region_code: not_null, not region_ownership": (
        "units", "region_code", _blanked("units", "region_code", lambda m: UNIT_ROWS[0])),
    "evaluations unit_id: not_null, not unique_score nor unit_known": (
        "evaluations", "unit_id", _blanked("evaluations", "unit_id", lambda m: eval_row(m, "U1", _first_code(m)),
                                           lambda m: eval_row(m, "U2", _first_code(m)))),
    "evaluations indicator_code: not_null, not unique_score": (
        "evaluations", "indicator_code", _blanked(
            "evaluations", "indicator_code", lambda m: eval_row(m, "U1", m.indicator_codes[0]),
            lambda m: eval_row(m, "U1", m.indicator_codes[1]))),
    "skm_responses unit_id: not_null, not unique_respondent nor unit_known": (
        "skm_responses", "unit_id", _blanked("skm_responses", "unit_id", lambda m: skm_row("U1", 0),
                                             lambda m: skm_row("U2", 0))),
    "skm_responses respondent_id: not_null, not unique_respondent": (
        "skm_responses", "respondent_id", _blanked("skm_responses", "respondent_id", lambda m: skm_row("U1", 0),
                                                   lambda m: skm_row("U1", 1))),
}


@pytest.mark.parametrize("case", sorted(KEY_RULE_PAIRS))
def test_a_blank_key_is_reported_once(case: str, methodology_2024: Methodology) -> None:
    """A missing key gets its not_null issue only: the rules depending on it skip the row."""
    table, column, mutate = KEY_RULE_PAIRS[case]
    good = good_bundle(methodology_2024)
    bundle = mutate(good, methodology_2024)
    blank = set(bundle[table].filter(pl.col(column).is_null() & good[table][column].is_not_null())[ROW].to_list())
    assert len(blank) >= 1
    outcome = run(bundle, methodology_2024)
    # (rows of other tables naming a unit whose id was blanked are unit_known: their unit is not listed)
    reported = {(k[0], k[1], k[4]) for k in keys(outcome.issues, warnings=False)
                if k[0] == table and k[4] != "bad_row_share"}
    assert reported == {(table, row, "not_null") for row in blank}
    assert not outcome.issues.filter(pl.col("rule").is_in(["unique_unit_id", "region_ownership"])).height


def test_a_filled_key_still_breaks_the_rules_depending_on_it(methodology_2024: Methodology) -> None:
    """The skipping is only for missing keys: a real duplicate respondent is still one."""
    bundle = with_cell(good_bundle(methodology_2024), "skm_responses", skm_row("U1", 1), "respondent_id", "R01")
    reported = {(k[1], k[4]) for k in keys(run(bundle, methodology_2024).issues, warnings=False)}
    assert reported == {(skm_row("U1", 0), "unique_respondent"), (skm_row("U1", 1), "unique_respondent")}


def test_the_survey_is_optional(methodology_2024: Methodology) -> None:
    bundle = good_bundle(methodology_2024)
    del bundle["skm_responses"]
    outcome = run(bundle, methodology_2024)
    assert not outcome.rejected
    assert keys(outcome.issues) == {("units", 2, "annual_service_users", "10", "sample_too_small", "warning")}


def test_optional_columns_may_be_left_out(methodology_2024: Methodology) -> None:
    bundle = good_bundle(methodology_2024)
    bundle = {**bundle, "units": bundle["units"].drop("annual_service_users"),
              "evaluations": bundle["evaluations"].drop("evaluator_id", "evidence")}
    outcome = run(bundle, methodology_2024)
    # without evaluator ids, U1's and U2's second score for the first indicator repeat the first
    first = methodology_2024.indicator_codes[0]
    assert {k[4] for k in keys(outcome.issues)} == {"unique_score", "incomplete_unit"}
    assert {k[3] for k in keys(outcome.issues) if k[4] == "unique_score"} == {f"U1 / {first} / ", f"U2 / {first} / "}
    assert outcome.clean["units"].get_column("annual_service_users").null_count() == len(UNITS_ROWS)


# ---------------------------------------------------------------- each cycle with its own methodology


def test_each_cycle_is_checked_against_its_own_window() -> None:
    m2023, m2024 = load_methodology("2023"), load_methodology("2024")
    assert m2023.survey.window_start != m2024.survey.window_start
    bundle = good_bundle(m2024)
    bundle["skm_responses"] = bundle["skm_responses"].with_columns(survey_date=pl.lit(date(2023, 6, 1)))

    in_2023 = run(bundle, m2023)
    assert "survey_window" not in in_2023.issues["rule"].to_list()
    assert not in_2023.rejected

    in_2024 = run(bundle, m2024)
    window = in_2024.issues.filter(pl.col("rule") == "survey_window")
    assert window.height == bundle["skm_responses"].height
    assert set(window["value"]) == {"2023-06-01"}
    assert "2024-01-01 to 2024-12-31" in window.item(0, "message")
    assert in_2024.rejected  # every survey row is bad


def test_each_cycle_has_its_own_bad_row_limit() -> None:
    m2023, m2024 = load_methodology("2023"), load_methodology("2024")
    assert m2023.limits.max_bad_row_share < m2024.limits.max_bad_row_share
    bundle = good_bundle(m2024)
    del bundle["skm_responses"]
    rows = bundle["evaluations"].height
    bad = int(rows * m2024.limits.max_bad_row_share)  # within 2024's limit, over 2023's
    bundle["evaluations"] = bundle["evaluations"].with_columns(
        score=pl.when(pl.int_range(pl.len()) < bad).then(pl.lit(m2024.score_max + 1)).otherwise(pl.col("score")))
    assert not run(bundle, m2024).rejected
    outcome = run(bundle, m2023)
    assert outcome.rejected
    assert ("evaluations", None, None, f"{bad}/{rows}", "bad_row_share", "critical") in keys(outcome.issues)


# ---------------------------------------------------------------- the aggregate warnings


def test_completeness_warning_counts_and_lists_the_missing_indicators(methodology_2024: Methodology) -> None:
    m = methodology_2024
    bundle = good_bundle(m)
    missing = m.indicator_codes[-7:]
    bundle["evaluations"] = bundle["evaluations"].filter(
        ~((pl.col("unit_id") == "U2") & pl.col("indicator_code").is_in(missing)))
    outcome = run(bundle, m)
    assert not outcome.rejected
    assert keys(outcome.issues) == {("units", 3, "unit_id", "U2", "incomplete_unit", "warning")}
    assert outcome.issues.item(0, "message") == (
        f"Unit U2 has 7 of 30 indicators of cycle 2024 without any score ({', '.join(missing[:5])}, ...). "
        "It gets no IPP until every indicator is scored: add the missing scores to evaluations.")


@pytest.mark.parametrize(("population", "respondents", "required"), [
    (1000, 277, 278),  # exactly a table N
    (1001, 284, 285),  # next larger N: 1100 -> 285 (DOMAIN.md's whole table)
    (51, 47, 48),  # 55 -> 48 (issue 18: the 18-row table asked 51)
    (100_000, 383, 384),  # above 75,000: the 1,000,000 row -> 384
    (250_000, 383, 384),  # above 100,000: 384
    (5, 4, 5),  # the sample cannot exceed the population: 10 -> 10, capped at 5
    (11, 10, 11),  # 15 -> 14, capped at 11
])
def test_sample_warning_uses_the_next_larger_population(methodology_2024: Methodology, population: int,
                                                        respondents: int, required: int) -> None:
    m = methodology_2024
    units = typed("units", [{**UNITS_ROWS[0], "annual_service_users": population}], m, row_numbers=[2])
    responses = typed("skm_responses", [{"unit_id": "U1", "respondent_id": f"R{k}"} for k in range(respondents)],
                      m, row_numbers=list(range(2, 2 + respondents)))
    short = checks.sample_issues(units, responses, m)
    assert short.height == 1
    assert f"needs at least {required} (Krejcie-Morgan)" in short.item(0, "message")
    enough = pl.concat([responses, responses.head(1).with_columns(respondent_id=pl.lit("extra"))])
    assert checks.sample_issues(units, enough, m).is_empty()


def test_warnings_never_reject(methodology_2024: Methodology) -> None:
    bundle = good_bundle(methodology_2024)
    bundle["evaluations"] = bundle["evaluations"].filter(pl.col("unit_id") != "U3")
    bundle["skm_responses"] = bundle["skm_responses"].filter(pl.col("unit_id") != "U1")
    outcome = run(bundle, methodology_2024)
    assert set(outcome.issues["severity"]) == {"warning"}
    assert set(outcome.issues["rule"]) == {"incomplete_unit", "sample_too_small"}
    assert not outcome.rejected and outcome.reason is None


# ---------------------------------------------------------------- speed and hygiene


def test_validate_speed_reports_a_run(methodology_2024: Methodology) -> None:
    report = ge_speed.validate_speed(20_000, methodology_2024, bad_share=0.01)
    assert report.rows == 20_000 and report.seconds > 0 and report.rows_per_second > 0
    assert 0 < report.issues < 20_000 * 0.02


def test_no_great_expectations_state_is_written_into_the_repository() -> None:
    root = Path(suites.SUITE_DIR).parent
    assert not (root / "gx").exists()
    assert not (root / "great_expectations").exists()
    assert not list(root.glob("**/great_expectations.yml"))


# ---------------------------------------------------------------- many bundles in one call


@pytest.mark.slow
def test_many_bundles_in_one_call_give_what_each_gives_alone(methodology_2024: Methodology) -> None:
    """Every failing case of the suites, plus good bundles of two regions with the same unit ids,
    validated in one `validate_bundles` call: each bundle's verdict equals validating it alone, so a
    duplicate key or a unit reference never leaks from one bundle into another."""
    m = methodology_2024
    other_region = "35.79"
    good = good_bundle(m)
    other = {t: f.with_columns(region_code=pl.lit(other_region)) if t == "units" else f for t, f in good.items()}
    # bundle B lists only U1: its evaluations of U2..U10 are unknown there, although bundle A lists them
    only_u1 = {**good, "units": good["units"].filter(pl.col("unit_id") == "U1")}
    bundles = [(REGION, good), (other_region, other), (REGION, only_u1)]
    bundles += [(REGION, mutate(good_bundle(m), m)) for mutate, _ in CASES.values()]
    together = runner.validate_bundles(bundles, m)
    assert len(together) == len(bundles)
    for (region, tables), batched in zip(bundles, together, strict=True):
        alone = validate_tables(tables, m, region)
        assert batched.issues.equals(alone.issues), batched.issues.join(alone.issues, on=list(ISSUE_SCHEMA),
                                                                         how="anti")
        assert (batched.rejected, batched.reason) == (alone.rejected, alone.reason)
        assert batched.clean.keys() == alone.clean.keys()
        assert all(batched.clean[t].equals(alone.clean[t]) for t in alone.clean)
    assert together[0].issues.filter(pl.col("severity") != "warning").is_empty()
    assert together[1].issues.filter(pl.col("severity") != "warning").is_empty()
    unknown = together[2].issues.filter(pl.col("rule") == "unit_known")
    assert unknown.height == good["evaluations"].filter(pl.col("unit_id") != "U1").height + sum(
        n for u, n in RESPONDENTS.items() if u != "U1") + good["f03_responses"].filter(pl.col("unit_id") != "U1").height


@pytest.mark.slow
def test_suites_split_by_column_give_what_the_whole_suite_gives(methodology_2024: Methodology) -> None:
    """The runner validates each suite in parts, each on a frame of only its columns (GE's pandas engine
    copies the whole frame per column rule); the whole suite in one call, as kept for Data Docs, must
    give the same issues and clean rows on every failing case."""
    m = methodology_2024
    for table in INPUT_TABLES:
        suite = load_suite(table)
        parts = suites.suite_parts(suite)
        flat = [e for _, part in parts for e in part["expectations"]]
        assert len(flat) == len(suite["expectations"])
        assert sorted(json.dumps({k: v for k, v in e.items() if k != "id"}, sort_keys=True) for e in flat) == sorted(
            json.dumps(e, sort_keys=True) for e in suite["expectations"])
        for columns, part in parts:
            assert all(suites.columns_of(e["kwargs"]) == list(columns) for e in part["expectations"])
    for mutate, _ in [(lambda b, _m: b, None), *CASES.values()]:
        tables = mutate(good_bundle(m), m)
        split = validate_tables(tables, m, REGION)
        whole = validate_tables(tables, m, REGION, keep_results=True)
        assert split.issues.equals(whole.issues), split.issues.join(whole.issues, on=list(ISSUE_SCHEMA), how="anti")
        assert (split.rejected, split.reason) == (whole.rejected, whole.reason)
        assert all(split.clean[t].equals(whole.clean[t]) for t in whole.clean)


def test_the_ge_context_is_built_once_when_threads_ask_together() -> None:
    """The nightly flow builds GE's context on a thread while chunk tasks start; a task validating
    meanwhile waits for that build instead of building a second context."""
    import threading

    suites._build_gx.cache_clear()
    built: list[object] = []
    threads = [threading.Thread(target=lambda: built.append(suites.gx_context())) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(built) == 3 and all(b is built[0] for b in built)
    assert suites._build_gx.cache_info().misses == 1
