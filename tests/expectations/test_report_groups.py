"""A bundle's issues grouped and counted for the officer's report (expectations/report_groups.py): order, examples,
row ranges, as the pages show them."""

from __future__ import annotations

from expectations.report import bundle_report_markdown
from expectations.report_groups import EXAMPLES_PER_GROUP, ROW_RANGES_SHOWN, issue_groups
from tests.expectations.test_report import META, MIXED, issues, rendered, score_issue


def test_groups_are_counted_and_ordered_by_severity_table_and_first_row() -> None:
    groups = issue_groups(MIXED)
    assert [(g.severity, g.table, g.rule, g.column, g.count) for g in groups] == [
        ("critical", "bundle", "unreadable", None, 1),
        ("critical", "units", "missing_column", "unit_type", 1),  # table-level before row 4
        ("critical", "units", "region_ownership", "region_code", 1),
        ("row", "evaluations", "score_range", "score", 9),
        ("row", "evaluations", "not_null", "unit_id", 2),
        ("row", "skm_responses", "answer_range", "waktu", 1),
        ("warning", "units", "sample_too_small", "annual_service_users", 2),
    ]
    assert sum(g.count for g in groups) == MIXED.height


def test_examples_are_capped_sorted_and_the_message_is_the_first_examples() -> None:
    scores = next(g for g in issue_groups(MIXED) if g.rule == "score_range")
    assert [e.row for e in scores.examples] == [2, 3, 4, 5, 6]
    assert len(scores.examples) == EXAMPLES_PER_GROUP
    assert scores.message == "Row 2 of evaluations has score 7."
    assert scores.rows == ("2-9", "15")
    markdown, page = rendered(MIXED, "accepted")
    assert "- … 4 lagi (more)" in markdown and "… dan 4 lagi (and more)." in page
    assert "Semua baris (all rows): 2-9, 15" in markdown and "Semua baris (all rows): 2-9, 15" in page
    assert "Row 3 of evaluations" not in markdown  # one message per group, not one per row


def test_a_table_level_problem_without_value_shows_no_example_table() -> None:
    missing = next(g for g in issue_groups(MIXED) if g.rule == "missing_column")
    assert missing.examples == () and missing.rows == ()
    bundle_level = next(g for g in issue_groups(MIXED) if g.rule == "unreadable")
    assert [(e.row, e.value) for e in bundle_level.examples] == [(None, "units.xlsx")]


def test_long_row_lists_are_cut_into_a_count_of_ranges() -> None:
    spread = issues(*(score_issue(r) for r in range(2, 2 + 2 * 100, 2)))  # 100 rows, no two adjacent
    (group,) = issue_groups(spread)
    assert len(group.rows) == ROW_RANGES_SHOWN and group.more_ranges == 100 - ROW_RANGES_SHOWN
    assert f"({100 - ROW_RANGES_SHOWN} rentang lagi, more ranges)" in bundle_report_markdown(spread, status="accepted",
                                                                               reason=None, **META)
