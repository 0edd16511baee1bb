"""Every validation rule in one registry: its name, severity, where it runs and what it checks.

A rule runs in exactly one place (`stage`), earliest first:

- `intake`  flows/intake/entries.py, limits.py: what a bundle holds, looked at before anything is read (links, sizes);
- `reader`  flows/readers.py, flows/intake/bundles.py, tables.py: a bundle's files and tables as files (formats,
            zips, tables, columns);
- `parsing` transforms/parsing.py: each cell typed against the declared schema;
- `suite`   expectations/<table>.json, run by Great Expectations: row rules of one table;
- `runner`  expectations/runner.py, checks.py (and compliance.py for the Ombudsman feed): rules across rows and
            tables (lokus, completeness, sample, limits; a feed's score against its dimensions);
- `ledger`  flows/ingest.py: who sent the bundle and when (region known, cycle still open).

What a region officer reads about each rule is in `transforms/messages.py` (Bahasa Indonesia first).
Tests check that every rule the code or a suite can emit is here, that each has its Bahasa text,
and that each suite expectation's severity is one the registry allows; the README's rule table
lists them all, so an officer's list of rules and the code can be compared in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

from transforms.schemas import SEVERITY_CRITICAL, SEVERITY_ROW, SEVERITY_WARNING

STAGES = ("intake", "reader", "parsing", "suite", "runner", "ledger")

CRITICAL = (SEVERITY_CRITICAL,)
ROW = (SEVERITY_ROW,)
WARNING = (SEVERITY_WARNING,)


@dataclass(frozen=True)
class Rule:
    """One validation rule: `severities` it may be reported with, the `stage` that checks it, on which tables."""

    name: str
    stage: str
    severities: tuple[str, ...]
    tables: str
    checks: str


_RULES = (
    # intake: before anything is read (flows/intake/)
    Rule("symlink", "intake", CRITICAL, "bundle", "no symbolic link in the bundle (nor the bundle itself)"),
    Rule("hard_link", "intake", CRITICAL, "bundle", "no file with another name outside the bundle"),
    Rule("special_file", "intake", CRITICAL, "bundle", "only regular files and folders (no device, pipe, socket)"),
    Rule("bundle_too_many_files", "intake", CRITICAL, "bundle", "at most PEKPPP_BUNDLE_MAX_FILES entries"),
    Rule("bundle_too_large", "intake", CRITICAL, "bundle", "at most PEKPPP_BUNDLE_MAX_BYTES of files"),
    Rule("limit_exceeded", "intake", CRITICAL, "any table", "rows, columns, cells and unpacked sizes within the "
         "intake limits, checked before a reader allocates"),
    # reader: files and tables as files (flows/readers.py, flows/intake/bundles.py, flows/intake/tables.py)
    Rule("not_a_bundle", "reader", CRITICAL, "bundle", "a folder or a .zip"),
    Rule("unreadable", "reader", CRITICAL, "any table", "the file opens in its format"),
    Rule("unsupported_format", "reader", CRITICAL + WARNING, "any table", "csv, xlsx, parquet, json or jsonl "
         "(a warning for a table the cycle does not use)"),
    Rule("ambiguous_table", "reader", CRITICAL + WARNING, "any table", "one file per table (a warning for a table "
         "the cycle does not use)"),
    Rule("missing_table", "reader", CRITICAL, "units, evaluations, skm_responses", "every required table is there"),
    Rule("empty_table", "reader", CRITICAL, "any table", "a table given has data rows"),
    Rule("missing_column", "reader", CRITICAL, "any table", "every required column is there"),
    Rule("duplicate_column", "reader", CRITICAL, "any table", "each header once"),
    Rule("duplicate_key", "reader", CRITICAL, "json, jsonl", "each field once in a record"),
    Rule("mixed_encoding", "reader", CRITICAL, "csv", "one character encoding per file"),
    Rule("zip_slip", "reader", CRITICAL, "zip", "no entry outside the zip's own folder"),
    Rule("zip_absolute_path", "reader", CRITICAL, "zip", "no absolute path"),
    Rule("zip_symlink", "reader", CRITICAL, "zip", "no symbolic link"),
    Rule("zip_duplicate_entry", "reader", CRITICAL, "zip", "each name once"),
    Rule("zip_too_many_files", "reader", CRITICAL, "zip", "at most PEKPPP_BUNDLE_MAX_FILES entries"),
    Rule("zip_too_large", "reader", CRITICAL, "zip", "at most PEKPPP_BUNDLE_MAX_BYTES unpacked"),
    Rule("zip_bomb", "reader", CRITICAL, "zip", "an entry's unpacked size in proportion to its packed size"),
    Rule("f03_not_used", "reader", WARNING, "f03_responses", "an F-03 table in a cycle without F-03 is not read"),
    # parsing: each cell against the declared schema (transforms/parsing.py)
    Rule("type", "parsing", ROW, "any table", "a cell reads as its column's type (number, date, text)"),
    Rule("not_null", "parsing", ROW, "any table", "a required cell is filled (also a suite rule: the suites "
         "check the columns parsing leaves as text)"),
    Rule("extra_fields", "parsing", ROW, "csv", "a row has no more fields than the header"),
    # suites: row rules of one table (expectations/<table>.json)
    Rule("unique_unit_id", "suite", CRITICAL, "units", "each unit_id once"),
    Rule("region_ownership", "suite", CRITICAL, "units", "a unit belongs to the body that sent it"),
    Rule("unit_type_allowed", "suite", ROW, "units", "a unit type of the cycle"),
    Rule("service_users_range", "suite", ROW, "units", "annual_service_users a whole number 0 or more"),
    Rule("indicator_allowed", "suite", ROW, "evaluations", "an indicator code of the cycle"),
    Rule("score_range", "suite", ROW, "evaluations", "a score within the cycle's range"),
    Rule("unit_known", "suite", ROW, "evaluations, skm_responses, f03_responses", "the unit is in the bundle's units"),
    Rule("unique_score", "suite", ROW, "evaluations", "one score per unit, indicator and evaluator"),
    Rule("unique_respondent", "suite", ROW, "skm_responses", "one survey row per unit and respondent"),
    Rule("survey_window", "suite", ROW, "skm_responses", "a survey date inside the cycle's window"),
    Rule("answer_range", "suite", ROW, "skm_responses", "an answer within the survey scale"),
    Rule("f03_score_range", "suite", ROW, "f03_responses", "an F-03 answer within the cycle's range"),
    Rule("unique_f03_answer", "suite", ROW, "f03_responses", "one answer per respondent and item"),
    Rule("body_known", "suite", ROW, "compliance", "the body code is a known region or K/L"),
    Rule("unique_assessment", "suite", ROW, "compliance", "one row per body (and unit)"),
    Rule("compliance_range", "suite", ROW, "compliance", "each dimension and the score within 0-100"),
    # runner: across rows and tables (expectations/runner.py, expectations/checks.py)
    Rule("unit_type_lokus", "runner", ROW, "units", "a unit type in its tier's lokus of the cycle"),
    Rule("bad_row_share", "runner", CRITICAL, "any table", "rows set aside within the cycle's limit"),
    Rule("incomplete_unit", "runner", WARNING, "evaluations", "every indicator of the cycle scored"),
    Rule("sample_too_small", "runner", WARNING, "skm_responses", "the Krejcie-Morgan survey sample reached"),
    Rule("no_ombudsman_method", "runner", CRITICAL, "compliance", "the cycle's methodology has an [ombudsman] "
         "section to score a feed with"),
    Rule("compliance_columns", "runner", CRITICAL, "compliance", "the feed has the four dimensions or the score"),
    Rule("compliance_incomplete", "runner", ROW, "compliance", "a row has the four dimensions or the score"),
    Rule("score_mismatch", "runner", ROW, "compliance", "a given score equals its dimensions under the cycle's "
         "weights, to the cent"),
    # ledger: who and when (flows/ingest.py)
    Rule("unknown_region", "ledger", CRITICAL, "bundle", "the folder names a known region or K/L code"),
    Rule("late", "ledger", CRITICAL, "bundle", "received before the cycle closed"),
)

RULES: dict[str, Rule] = {rule.name: rule for rule in _RULES}
"""Every rule by name (a test checks the names are unique and the stages known)."""


def rules_at(stage: str) -> list[Rule]:
    """The rules one stage checks, in registry order."""
    if stage not in STAGES:
        raise ValueError(f"stage {stage!r}: use one of {', '.join(STAGES)}")
    return [rule for rule in _RULES if rule.stage == stage]
