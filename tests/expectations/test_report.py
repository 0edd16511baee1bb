"""The region officer's report: grouping, counts, order, escaping, headlines, atomic writes, GE Data Docs.

The renderers are pure and fast; only the Data Docs tests need GE (imported once, by the module-scoped
fixture they share).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from expectations import report, report_groups, runner, suites
from expectations.report import (
    batch_report_pages,
    bundle_report_html,
    bundle_report_markdown,
    bundle_report_pages,
)
from expectations.runner import Validation
from tests.benchmarks import ge_speed
from transforms.methodology import Methodology
from transforms.schemas import ISSUE_SCHEMA

EVIL = "<script>alert('x')</script> Tom & Jerry"


def issues(*rows: tuple[str, int | None, str | None, str | None, str, str, str]) -> pl.DataFrame:
    """An issue frame from (table, row, column, value, rule, severity, message) tuples."""
    return pl.DataFrame([dict(zip(ISSUE_SCHEMA.names(), r, strict=True)) for r in rows], schema=ISSUE_SCHEMA,
                        orient="row")


def score_issue(row: int, value: str = "7") -> tuple[str, int, str, str, str, str, str]:
    return ("evaluations", row, "score", value, "score_range", "row", f"Row {row} of evaluations has score {value}.")


# deliberately out of order: warnings first, rows shuffled, tables interleaved
MIXED = issues(
    ("units", 3, "annual_service_users", "900", "sample_too_small", "warning", "Unit U2 has 3 respondents."),
    ("units", 2, "annual_service_users", "10", "sample_too_small", "warning", "Unit U1 has 20 respondents."),
    *(score_issue(r) for r in (15, 9, 3, 2, 8, 4, 7, 5, 6)),
    ("evaluations", 11, "unit_id", None, "not_null", "row", "Row 11 of evaluations has no unit_id."),
    ("skm_responses", 4, "waktu", "5", "answer_range", "row", "Row 4 answers 5 for waktu."),
    ("units", 4, "region_code", "35.07", "region_ownership", "critical", "Row 4 of units belongs to 35.07."),
    ("units", None, "unit_type", None, "missing_column", "critical", "The units table has no column 'unit_type'."),
    ("bundle", None, None, "units.xlsx", "unreadable", "critical", "units.xlsx cannot be opened."),
    ("evaluations", 10, "unit_id", None, "not_null", "row", "Row 10 of evaluations has no unit_id."),
)
META: dict[str, Any] = {"cycle": "2024", "region_code": "35.78", "region_name": "Kota Surabaya",
                        "bundle": "kiriman-oktober.zip", "submission_id": "ab" * 32}


def rendered(frame: pl.DataFrame, status: str, reason: str | None = None, **meta: Any) -> tuple[str, str]:
    kwargs = {**META, **meta, "status": status, "reason": reason}
    return bundle_report_markdown(frame, **kwargs), bundle_report_html(frame, **kwargs)


# ---------------------------------------------------------------- sections


def test_severity_sections_come_in_order_in_both_pages() -> None:
    markdown, page = rendered(MIXED, "accepted")
    for text, sections in ((markdown, ["\n## Kritis", "\n## Baris disisihkan", "\n## Peringatan"]),
                           (page, ['<h2 class="critical">', '<h2 class="row">', '<h2 class="warning">'])):
        positions = [text.index(s) for s in sections]
        assert positions == sorted(positions) and all(text.count(s) == 1 for s in sections)


# ---------------------------------------------------------------- headlines


@pytest.mark.parametrize(("frame", "status", "expected"), [
    (issues(), "accepted", "DITERIMA — kiriman accepted, no problems found"),
    (MIXED.filter(pl.col("severity") == "warning"), "accepted", "DITERIMA — kiriman accepted with 2 warnings"),
    (MIXED.filter(pl.col("severity") != "critical"), "accepted", "DITERIMA — kiriman accepted; 12 rows set aside"),
    (MIXED, "rejected", "DITOLAK — kiriman rejected: nothing from it is used"),
    (issues(("bundle", None, None, None, "late", "critical", "Cycle 2024 closed; the bundle is kept but not used.")),
     "late", "TERLAMBAT — received after cycle 2024 closed: kept, but not used"),
])
def test_headline_says_accepted_or_rejected_and_what_to_do(frame: pl.DataFrame, status: str, expected: str) -> None:
    reason = "Row 4 of units belongs to 35.07." if status == "rejected" else None
    markdown, page = rendered(frame, status, reason=reason)
    assert markdown.startswith(f"# Laporan validasi kiriman: {expected}\n")
    assert f"<h1>{expected}</h1>" in page
    # Bahasa Indonesia first, the English next step beside it
    assert "**Langkah berikut (next step):**" in markdown and "<b>Langkah berikut (next step):</b>" in page
    assert "*EN:* " in markdown and "<p class=message-en lang=en>EN: " in page
    if status == "rejected":
        assert "**Alasan (reason):** Row 4 of units belongs to 35.07." in markdown
        assert "send the whole kiriman again" in markdown and "Baris bermasalah" in markdown
    if status == "late":  # the late issue explains, it is not a problem to fix
        assert "\n## Tidak dipakai" in markdown and "Kritis" not in markdown
    if frame.is_empty() and status == "accepted":
        assert "Tidak ada masalah pada kiriman ini" in page and "Tidak ada yang perlu dilakukan" in markdown
        assert "Nothing to do" in markdown  # the English next step beside


# ---------------------------------------------------------------- escaping and self-containment


def test_every_value_is_escaped_and_the_page_is_self_contained() -> None:
    frame = issues(("units", 5, "unit_type", EVIL, "unit_type_allowed", "row", f"Row 5 has unit_type '{EVIL}'."),
                   ("units", 6, "unit_name", "a`b\nc", "not_null", "row", "Row 6 & more"))
    markdown, page = rendered(frame, "rejected", reason=EVIL, region_name=EVIL, bundle=EVIL)
    assert "<script" not in page and "&lt;script&gt;" in page and "Tom &amp; Jerry" in page
    assert "alert(&#x27;x&#x27;)" in page  # quotes escaped too: safe inside attributes
    assert "<link" not in page and "http://" not in page and "https://" not in page and "@import" not in page
    assert "@media print" in page
    # Markdown: values verbatim inside code spans, free text with markup characters escaped, one line each
    assert f"`{EVIL}`" in markdown
    assert "<script>" not in markdown.replace(f"`{EVIL}`", "")
    assert "\\<script\\>" in markdown
    assert "`` a`b\\nc ``" not in markdown and "``a`b\\nc``" in markdown


def test_long_and_control_character_values_stay_on_one_short_line() -> None:
    frame = issues(("units", 2, "unit_name", "x" * 500 + "\t", "name_length", "row", "too long"))
    markdown, _page = rendered(frame, "accepted")
    (line,) = [line for line in markdown.splitlines() if line.startswith("- baris 2")]
    assert line.endswith("x…`") and len(line) < 140


# ---------------------------------------------------------------- writing


def write_bundle_reports(folder: Path, issues: pl.DataFrame, **meta: object) -> dict[str, Path]:
    from flows.storage import write_pages  # the I/O layer writes what the pure renderer returns

    return write_pages(folder, bundle_report_pages(issues, **meta))


def test_write_bundle_reports_writes_both_pages_atomically(tmp_path: Path) -> None:
    folder = tmp_path / "_reports" / "2024" / "35.78" / META["submission_id"]
    paths = write_bundle_reports(folder, MIXED, status="rejected", reason="Row 4 of units belongs to 35.07.", **META)
    assert paths == {"html": folder / "report.html", "markdown": folder / "report.md"}
    assert paths["html"].read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert "DITOLAK" in paths["markdown"].read_text(encoding="utf-8")
    write_bundle_reports(folder, issues(), status="accepted", reason=None, **META)  # replaces, leaves no temp
    assert sorted(p.name for p in folder.iterdir()) == ["report.html", "report.md"]
    assert "no problems found" in paths["markdown"].read_text(encoding="utf-8")


def test_a_batch_renders_each_bundle_as_it_renders_alone() -> None:
    # a chunk's reports share one grouping query: bundles' issues must not leak into each other
    spread = issues(*(score_issue(r) for r in range(2, 2 + 2 * 100, 2)))
    rejected = {**META, "status": "rejected", "reason": "Row 4 of units belongs to 35.07."}
    accepted = {**META, "status": "accepted", "reason": None, "region_code": "35.07"}
    bundles = [(MIXED, rejected), (issues(), accepted), (spread, accepted), (MIXED.reverse(), accepted)]
    assert batch_report_pages(bundles) == [bundle_report_pages(frame, **meta) for frame, meta in bundles]
    assert batch_report_pages([(issues(), accepted)]) == [bundle_report_pages(issues(), **accepted)]
    assert batch_report_pages([]) == [] and report_groups.batch_issue_groups([]) == []


def test_importing_the_report_module_does_not_import_great_expectations() -> None:
    code = "import sys, expectations.report; sys.exit('great_expectations' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).parents[2], check=False).returncode == 0


# ---------------------------------------------------------------- GE results (no Data Docs)


@pytest.fixture(scope="module")
def kept(methodology_2024: Methodology) -> tuple[dict[str, pl.DataFrame], Validation]:
    """A small synthetic bundle with failing rows, validated once with GE's results kept."""
    suites.warm_up()
    bundle = ge_speed.synthetic_bundle(1_200, methodology_2024, respondents_per_unit=200, bad_share=0.03)
    return bundle, runner.validate_tables(bundle, methodology_2024, ge_speed.SYNTHETIC_REGION, keep_results=True)


def test_results_are_kept_only_on_request(kept: tuple[dict[str, pl.DataFrame], Validation],
                                          methodology_2024: Methodology) -> None:
    bundle, with_results = kept
    assert set(with_results.ge_results) == set(bundle)
    assert type(with_results.ge_results["skm_responses"]).__name__ == "ExpectationSuiteValidationResult"
    assert not with_results.ge_results["skm_responses"].success
    plain = runner.validate_tables(bundle, methodology_2024, ge_speed.SYNTHETIC_REGION)
    assert plain.ge_results == {}
    assert plain.issues.equals(with_results.issues)


def test_no_data_docs_are_offered() -> None:
    """GE's Data Docs pages need a dozen CDN assets GE does not ship: report.html is the officer's page
    (the runner still keeps GE's result objects on request, for tests and tools)."""
    assert not hasattr(report, "write_data_docs")


def test_every_rule_the_suites_and_the_runner_name_has_bahasa_text() -> None:
    from expectations import checks, suites
    from transforms.messages import RULE_TEXT_ID

    rules = {e["meta"]["rule"] for table in ("units", "evaluations", "skm_responses")
             for e in suites.load_suite(table)["expectations"]}
    rules |= {checks.RULE_BAD_ROW_SHARE, checks.RULE_INCOMPLETE_UNIT,
              checks.RULE_SAMPLE_TOO_SMALL}
    assert rules <= set(RULE_TEXT_ID)


def test_messages_are_bahasa_first_with_english_beside_or_english_alone() -> None:
    from transforms.messages import rule_text

    first, beside = rule_text("not_null", "unit_id is empty but must be filled in.", table="skm_responses",
                              column="unit_id")
    assert first.startswith("Kolom unit_id kosong") and beside == "unit_id is empty but must be filled in."
    assert rule_text("not_null", "unit_id is empty.", column="unit_id", lang="en") == ("unit_id is empty.", None)
    assert rule_text("no_such_rule", "English only.") == ("English only.", None)
