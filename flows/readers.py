"""Reading what regions send: a bundle (folder or zip) into typed tables and the problems found on the way.

The bundle is opened safely by `flows.intake.bundles`, each table's file read by its format's reader in
`flows.intake.tables` (an all-text frame with the source row `_row`), and `transforms.parsing.parse_table`
types it, so every format obeys the same rules.

Problems that make the bundle untrustworthy are `critical` issues and reject it (unreadable file,
empty table, missing table or column, two files for one table, unsafe zip); row problems come from
`parse_table` with severity `row`. Region, cycle and duplicate-id checks are not done here: the
validation stage (expectations/) does them.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import polars as pl

from flows.intake.bundles import (
    BUNDLE_TABLE,
    SubmissionRejected,
    bundle_fingerprint,
    is_junk,
    missing_fingerprint,
    open_bundle,
    refusal_issues,
)
from flows.intake.entries import Refusal
from flows.intake.tables import (
    RULE_UNREADABLE,
    RULE_UNSUPPORTED_FORMAT,
    TABLE_FORMATS,
    UnreadableFile,
    error_line,
    read_raw,
    table_issue,
)
from transforms.messages import one_line
from transforms.methodology import Methodology
from transforms.parsing import EXTRA, parse_table
from transforms.schemas import (
    COMPLIANCE,
    F03_TABLE,
    FEED_TABLES,
    INPUT_TABLES,
    ISSUE_SCHEMA,
    OMBUDSMAN_FEED,
    REQUIRED_TABLES,
    ROW,
    SEVERITY_WARNING,
    TableSpec,
    empty_issues,
    input_specs,
)

RULE_EMPTY_TABLE = "empty_table"
RULE_MISSING_TABLE = "missing_table"
RULE_MISSING_COLUMN = "missing_column"
RULE_AMBIGUOUS_TABLE = "ambiguous_table"
RULE_F03_NOT_USED = "f03_not_used"


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
        critical = refusal_issues(refused, name)
        return ReadBundle(submission_id="", files=[], issues=pl.DataFrame(critical, schema=ISSUE_SCHEMA),
                          rejected=True, reason=_rejection_reason(critical, name, region_code))
    try:
        submission_id, files = bundle_fingerprint(path, methodology.limits)
    except OSError:
        submission_id, files = missing_fingerprint()
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
                table_issue(table, RULE_MISSING_TABLE, (
                    f"The bundle has no {table} table; add a file named {table}.csv (or .xlsx, .parquet, "
                    ".json, .jsonl) and send the bundle again."))
                for table in required if table not in located and table not in named)
    except SubmissionRejected as err:
        critical.extend(err.issues)
    except Exception as err:  # never crash on what a region sent: anything unexpected is "unreadable"
        critical.append(table_issue(BUNDLE_TABLE, RULE_UNREADABLE, (
            f"The bundle {name} could not be read ({type(err).__name__}: {error_line(err)}); check "
            "that it is a folder or .zip of table files and upload again."), value=name))
    issues = pl.concat([pl.DataFrame(critical, schema=ISSUE_SCHEMA), *row_issues], how="vertical")
    reason = _rejection_reason(critical, name, region_code) if critical else None
    return ReadBundle(submission_id=submission_id, files=files, tables=tables, issues=issues,
                      rejected=bool(critical), reason=reason)


def _locate_tables(folder: Path, tables: Sequence[str] = INPUT_TABLES) -> tuple[dict[str, Path], list[dict[str, Any]]]:
    """Which file holds each of `tables`, and the critical problems with that (two files, unknown format)."""
    candidates: dict[str, list[Path]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.is_symlink() or not entry.is_file() or is_junk((entry.name,)):
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
            issues.append(table_issue(table, RULE_AMBIGUOUS_TABLE, (
                f"Several files hold the {table} table ({listed}); keep only one of them and send the "
                "bundle again."), value=listed))
        elif files and files[0].suffix.lower() not in TABLE_FORMATS:
            issues.append(table_issue(table, RULE_UNSUPPORTED_FORMAT, (
                f"{files[0].name} is not a supported format; save the {table} table as {table}.csv or "
                f"{table}.xlsx (or .parquet, .json, .jsonl) and send the bundle again."), value=files[0].name))
        elif files:
            found[table] = files[0]
    return found, issues


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
    note = table_issue(F03_TABLE, RULE_F03_NOT_USED, (
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
        return None, empty_issues(), [table_issue(table, RULE_UNREADABLE, (
            f"{file.name} could not be read ({type(err).__name__}: {error_line(err)}); open it, save it "
            "again in a supported format and send the bundle again."), value=file.name)]
    problems: list[dict[str, Any]] = []
    columns = [c for c in raw.columns if c not in (ROW, EXTRA)]
    notes: list[dict[str, Any]] = []
    if raw.height == 0 and required:
        problems.append(table_issue(table, RULE_EMPTY_TABLE, (
            f"{file.name} has no data rows; fill in the table and send the bundle again."), value=file.name))
    elif raw.height == 0:
        # An optional table left empty in a template is no reason to reject the evaluation data.
        notes.append(table_issue(table, RULE_EMPTY_TABLE, (
            f"{file.name} has no data rows; the bundle is used without it. Fill it in, or leave the file out."),
            value=file.name, severity=SEVERITY_WARNING))
    if columns:
        unknown = [c for c in columns if c not in spec.names]  # only these can be a misspelt contract column
        for name in spec.required_names:
            if name not in columns:
                near = difflib.get_close_matches(name, unknown, n=1)
                hint = f" (is '{near[0]}' meant to be '{name}'?)" if near else ""
                problems.append(table_issue(table, RULE_MISSING_COLUMN, (
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


__all__ = ["ReadBundle", "read_bundle", "read_feed"]
