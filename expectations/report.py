"""Validation reports a region officer can act on: a bundle's issues grouped by rule, as HTML and Markdown.

The renderers are pure: an issue frame (ISSUE_SCHEMA) and the bundle's facts in, text out. Problems
are grouped (`expectations/report_groups.py`) by severity (critical, then row, then warning), table,
rule and column, so a group is one check of one column and the message of its first example (lowest
source row) explains every row in it. Each group shows its count, up to `EXAMPLES_PER_GROUP` example
rows (row number as the region sees it in its file, column, value) and every affected row as compact
ranges, so the officer can fix all of them without another tool. The headline says accepted or
rejected and what to do next.

`bundle_report_pages` renders both pages as bytes; the I/O layer writes them
(`flows.storage.write_pages`, atomically, beside each other). GE's own Data Docs are not offered:
their pages load Bootstrap, jQuery and a dozen other assets from public CDNs that GE does not ship,
so offline they render unstyled and empty; these pages hold every problem without them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from documents.kit import h
from expectations.report_groups import (
    BUNDLE_TABLE,
    EXAMPLES_PER_GROUP,
    Counts,
    Example,
    IssueGroup,
    issue_counts,
    issue_groups,
    stacked_counts,
    stacked_groups,
    stacked_issues,
)
from transforms.messages import DEFAULT_LANGUAGE, one_line, rule_text
from transforms.schemas import INPUT_TABLES, SEVERITIES, SEVERITY_CRITICAL, SEVERITY_ROW, SEVERITY_WARNING
from transforms.submissions import ACCEPTED, LATE, REJECTED

REPORT_HTML = "report.html"
REPORT_MARKDOWN = "report.md"

VALUE_CHARS_SHOWN = 80  # a longer cell value is cut, so one pasted paragraph cannot swamp the page

TABLE_LABELS = {
    BUNDLE_TABLE: "kiriman (the bundle as a whole)",
    "units": "units (unit layanan)",
    "evaluations": "evaluations (penilaian, form F-02)",
    "skm_responses": "skm_responses (survei SKM)",
    "f03_responses": "f03_responses (formulir warga, form F-03)",
    "compliance": "compliance (penilaian kepatuhan Ombudsman)",
}
SEVERITY_TITLES = {
    SEVERITY_CRITICAL: ("Kritis", "must be fixed; each one rejects the whole kiriman"),
    SEVERITY_ROW: ("Baris disisihkan", "rows set aside, not counted until corrected"),
    SEVERITY_WARNING: ("Peringatan", "warnings; the kiriman is used, but check these"),
}
_ROW_TITLE_REJECTED = ("Baris bermasalah", "rows with problems; correct them too before sending again")
_CRITICAL_TITLE_LATE = ("Tidak dipakai", "why the kiriman is not used")
_EMPTY = "(empty)"
_NO_ROW = "—"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


# ---------------------------------------------------------------- headline


@dataclass(frozen=True)
class Headline:
    tone: str  # accepted | rejected | late | other: the page's colour
    title: str
    next_step: str


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(status: str, counts: Counts, *, cycle: str) -> Headline:
    """The verdict in one line and the officer's next step."""
    if status == REJECTED:
        return Headline(
            "rejected", "DITOLAK — kiriman rejected: nothing from it is used",
            f"Fix the {_plural(counts.critical, 'problem')} under “Kritis”"
            + (", and the rows with problems," if counts.row else "")
            + " in your files, then send the whole kiriman again. An earlier accepted kiriman of your "
              "region, if any, stays in use until then.")
    if status == LATE:
        return Headline(
            "late", f"TERLAMBAT — received after cycle {cycle} closed: kept, but not used",
            "There is nothing to correct in the files. If the kiriman was uploaded on time, contact the "
            "evaluation team and quote the submission ID below.")
    if status == ACCEPTED:
        check = f" Also check the {_plural(counts.warning, 'warning')}." if counts.warning else ""
        if counts.row:
            return Headline(
                "accepted", f"DITERIMA — kiriman accepted; {_plural(counts.rows_set_aside, 'row')} set aside",
                f"The kiriman is used for cycle {cycle}, but the rows under “Baris disisihkan” are not counted. "
                f"Correct them in your files and send the whole kiriman again before the cycle closes; the "
                f"newest accepted kiriman replaces this one.{check}")
        if counts.warning:
            return Headline(
                "accepted", f"DITERIMA — kiriman accepted with {_plural(counts.warning, 'warning')}",
                f"Nothing was set aside and the kiriman is used for cycle {cycle}. Check the warnings: they can "
                "leave a unit layanan without a score. To fix them, send a corrected kiriman before the cycle "
                "closes; the newest accepted kiriman replaces this one.")
        return Headline(
            "accepted", "DITERIMA — kiriman accepted, no problems found",
            f"Nothing to do. The kiriman is used for cycle {cycle} and replaces any earlier kiriman of your region.")
    return Headline("other", f"{status.upper()} — kiriman {status}", "See the reason below.")


def next_step_id(status: str, counts: Counts, *, cycle: str) -> str | None:
    """The officer's next step in Bahasa Indonesia (the English one is `headline(...).next_step`)."""
    if status == REJECTED:
        rows = ", juga baris-baris bermasalah," if counts.row else ""
        return (f"Perbaiki {counts.critical} masalah di bagian “Kritis”{rows} pada berkas Anda, lalu kirim ulang "
                "seluruh kiriman. Kiriman wilayah Anda yang sebelumnya diterima, bila ada, tetap dipakai sampai itu.")
    if status == LATE:
        return ("Tidak ada yang perlu diperbaiki pada berkas. Bila kiriman diunggah tepat waktu, hubungi tim "
                "evaluasi dan sebutkan Submission ID di bawah.")
    if status == ACCEPTED:
        warn = f" Periksa juga {counts.warning} peringatan." if counts.warning else ""
        if counts.row:
            return (f"Kiriman dipakai untuk siklus {cycle}, tetapi baris di bagian “Baris disisihkan” tidak dihitung. "
                    "Perbaiki baris-baris itu lalu kirim ulang seluruh kiriman sebelum siklus ditutup; kiriman "
                    f"terbaru yang diterima menggantikan yang ini.{warn}")
        if counts.warning:
            return (f"Tidak ada baris yang disisihkan dan kiriman dipakai untuk siklus {cycle}. Periksa peringatan: "
                    "peringatan dapat membuat unit layanan tidak mendapat nilai. Untuk memperbaikinya, kirim ulang "
                    "sebelum siklus ditutup.")
        return (f"Tidak ada yang perlu dilakukan. Kiriman dipakai untuk siklus {cycle} dan menggantikan kiriman "
                "wilayah Anda sebelumnya.")
    return None


def _next_steps(status: str, counts: Counts, cycle: str, lang: str) -> tuple[str, str | None]:
    """(next step shown first, English beside it or None)."""
    english = headline(status, counts, cycle=cycle).next_step
    local = next_step_id(status, counts, cycle=cycle) if lang == "id" else None
    return (local, english) if local else (english, None)


# ---------------------------------------------------------------- text helpers


def _value_text(value: str | None) -> str:
    """A cell value as one short visible line: control characters spelled out, long text cut."""
    if value is None:
        return _EMPTY
    if value == "":
        return '""'
    shown = _CONTROL.sub(lambda m: {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(m.group(),
                                                                            f"\\x{ord(m.group()):02x}"), value)
    return shown if len(shown) <= VALUE_CHARS_SHOWN else shown[:VALUE_CHARS_SHOWN - 1] + "…"


def _row_text(row: int | None) -> str:
    return _NO_ROW if row is None else str(row)


def _where(group: IssueGroup) -> str:
    table = TABLE_LABELS.get(group.table, group.table)
    return f"{table}, column {group.column}" if group.column else f"{table}, whole table"


def _count_text(group: IssueGroup) -> str:
    return _plural(group.count, "row" if group.rows else "problem")


def _severity_title(severity: str, status: str) -> tuple[str, str]:
    if severity == SEVERITY_ROW and status == REJECTED:
        return _ROW_TITLE_REJECTED
    if severity == SEVERITY_CRITICAL and status == LATE:
        return _CRITICAL_TITLE_LATE
    return SEVERITY_TITLES.get(severity, (severity, ""))


def _summary_text(counts: Counts) -> str:
    parts = [f"{counts.critical} critical" if counts.critical else "",
             f"{_plural(counts.row, 'row problem')} ({_plural(counts.rows_set_aside, 'row')})" if counts.row else "",
             _plural(counts.warning, "warning") if counts.warning else ""]
    return " · ".join(p for p in parts if p) or "none"


def _group_texts(group: IssueGroup, lang: str) -> tuple[str, str | None]:
    """The group's explanation in `lang` first, and the detailed English message beside it (or None)."""
    first = group.examples[0] if group.examples else Example(None, group.column, None)
    return rule_text(group.rule, group.message, table=group.table, column=group.column, value=first.value,
                     row=first.row, lang=lang)


def _all_rows_text(group: IssueGroup) -> str:
    more = f", … ({group.more_ranges} rentang lagi, more ranges)" if group.more_ranges else ""
    return ", ".join(group.rows) + more


def _facts(cycle: str, region_code: str, region_name: str, bundle: str, submission_id: str,
           status: str) -> list[tuple[str, str]]:
    return [("Siklus (cycle)", cycle), ("Wilayah (region)", f"{region_code} {region_name}".strip()),
            ("Kiriman (bundle)", bundle), ("Submission ID", submission_id), ("Status", status)]


# ---------------------------------------------------------------- Markdown


_MD_SPECIAL = re.compile(r"([\\`*<>\[\]])")


def _md(text: str | None) -> str:
    """Plain text safe in Markdown: one line, the characters that would start markup escaped."""
    return _MD_SPECIAL.sub(r"\\\1", one_line(text or ""))


def _md_code(text: str) -> str:
    """An inline code span holding `text` verbatim, whatever backticks it contains."""
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or text.strip() == "" else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def bundle_report_markdown(issues: pl.DataFrame, *, cycle: str, region_code: str, region_name: str, bundle: str,
                           submission_id: str, status: str, reason: str | None,
                           groups: list[IssueGroup] | None = None, counts: Counts | None = None,
                           lang: str = DEFAULT_LANGUAGE) -> str:
    """The report as Markdown that reads well in a terminal (`pekppp validate`) and renders anywhere."""
    counts = counts or issue_counts(issues)
    head = headline(status, counts, cycle=cycle)
    lines = [f"# Laporan validasi kiriman: {_md(head.title)}", ""]
    lines += [f"- {label}: {_md(value) if label != 'Submission ID' else _md_code(value)}"
              for label, value in _facts(cycle, region_code, region_name, bundle, submission_id, status)]
    step, step_en = _next_steps(status, counts, cycle, lang)
    lines += ["", f"**Langkah berikut (next step):** {_md(step)}", ""]
    lines += [f"*EN:* {_md(step_en)}", ""] if step_en else []
    if reason:
        lines += [f"**Alasan (reason):** {_md(reason)}", ""]
    lines += [f"Masalah (problems): {_summary_text(counts)}", ""]
    current = None
    for group in (issue_groups(issues) if groups is None else groups):
        if group.severity != current:
            current = group.severity
            title, gloss = _severity_title(current, status)
            lines += [f"## {_md(title)} — {_md(gloss)}" if gloss else f"## {_md(title)}", ""]
        first, beside = _group_texts(group, lang)
        lines += [f"### {_md(group.rule)} · {_md(_where(group))} · {_count_text(group)}", "", f"> {_md(first)}"]
        lines += [">", f"> *EN:* {_md(beside)}", ""] if beside else [""]
        lines += [f"- baris {_row_text(e.row)}, kolom {_md(e.column or _NO_ROW)}: {_md_code(_value_text(e.value))}"
                  for e in group.examples]
        if group.examples and group.count > len(group.examples):
            lines.append(f"- … {group.count - len(group.examples)} lagi (more)")
        if group.rows and group.count > 1:
            lines += ["", f"Semua baris (all rows): {_md(_all_rows_text(group))}"]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- terminal text (`pekppp validate`)


def _group_rows(issues: pl.DataFrame, group: IssueGroup) -> list[Example]:
    """Every problem of a group, by source row (the uncapped list behind `--all`)."""
    column = pl.col("column").is_null() if group.column is None else pl.col("column") == group.column
    rows = (issues.filter((pl.col("severity") == group.severity) & (pl.col("rule") == group.rule)
                          & (pl.col("table") == group.table) & column)
            .sort("row", nulls_last=False, maintain_order=True))
    return [Example(r, c, v) for r, c, v in rows.select("row", "column", "value").iter_rows()
            if r is not None or v is not None]


def bundle_report_text(issues: pl.DataFrame, *, cycle: str, region_code: str, region_name: str, bundle: str,
                       submission_id: str, status: str, reason: str | None,
                       examples: int | None = EXAMPLES_PER_GROUP, lang: str = DEFAULT_LANGUAGE) -> str:
    """The report for a terminal: the verdict and counts first, then the problems grouped by table and
    rule (severity first within a table), rows in order; `examples` rows per group (None: every row)."""
    counts = issue_counts(issues)
    head = headline(status, counts, cycle=cycle)
    lines = [head.title,
             f"  kiriman {bundle} · siklus {cycle} · wilayah {f'{region_code} {region_name}'.strip()}"
             f" · submission ID {submission_id}",
             f"  masalah (problems): {_summary_text(counts)}"]
    if reason:
        lines.append(f"  alasan (reason): {one_line(reason or '')}")
    step, step_en = _next_steps(status, counts, cycle, lang)
    lines.append(f"  langkah berikut (next step): {step}")
    lines += [f"    EN: {step_en}"] if step_en else []
    severity_rank = {s: n for n, s in enumerate(SEVERITIES)}
    table_rank = {t: n for n, t in enumerate((BUNDLE_TABLE, *INPUT_TABLES))}

    def first_row(group: IssueGroup) -> int:
        return group.examples[0].row if group.examples and group.examples[0].row is not None else -1

    groups = sorted(issue_groups(issues), key=lambda g: (table_rank.get(g.table, len(table_rank)), g.table,
                                                         severity_rank.get(g.severity, len(severity_rank)),
                                                         first_row(g), g.rule, g.column or ""))
    table = None
    for group in groups:
        if group.table != table:
            table = group.table
            lines += ["", f"{TABLE_LABELS.get(table, table)}"]
        title, _gloss = _severity_title(group.severity, status)
        column = f" · column {group.column}" if group.column else ""
        first, beside = _group_texts(group, lang)
        lines += [f"  [{title}] {group.rule}{column} · {_count_text(group)}", f"    {first}"]
        lines += [f"    EN: {beside}"] if beside else []
        shown = _group_rows(issues, group) if examples is None else list(group.examples[:examples])
        width = max((len(_row_text(e.row)) for e in shown), default=1)
        lines += [f"    baris {_row_text(e.row):>{width}}  {e.column or _NO_ROW}: {_value_text(e.value)}"
                  if e.row is not None else f"    nilai (value): {_value_text(e.value)}" for e in shown]
        if shown and group.count > len(shown):
            lines.append(f"    … {group.count - len(shown)} lagi (more): baris {_all_rows_text(group)} "
                         "(semua baris / every row: --all, atau laporan / or the report)")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
:root { --ink:#1f2328; --muted:#57606a; --line:#d0d7de; --ok:#1a7f37; --ok-bg:#dafbe1; --bad:#cf222e;
  --bad-bg:#ffebe9; --warn:#9a6700; --warn-bg:#fff8c5; --row:#bc4c00; --row-bg:#fff1e5; }
* { box-sizing: border-box; }
body { margin: 0; background: #f6f8fa; color: var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", Arial, sans-serif; }
main { max-width: 980px; margin: 0 auto; padding: 24px 28px 40px; background: #fff; }
.verdict { border-left: 10px solid var(--muted); background: #eaeef2; padding: 14px 18px; border-radius: 6px; }
.verdict.accepted { border-color: var(--ok); background: var(--ok-bg); }
.verdict.rejected { border-color: var(--bad); background: var(--bad-bg); }
.verdict.late { border-color: var(--warn); background: var(--warn-bg); }
.verdict .kicker { margin: 0; font-size: 13px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.verdict h1 { margin: 2px 0 6px; font-size: 24px; line-height: 1.25; }
.verdict p { margin: 4px 0; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 18px; margin: 16px 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.counts { display: flex; gap: 10px; flex-wrap: wrap; margin: 12px 0 4px; padding: 0; list-style: none; }
.counts li { border: 1px solid var(--line); border-radius: 6px; padding: 6px 12px; }
.counts b { font-size: 20px; margin-right: 4px; }
h2 { margin: 28px 0 4px; font-size: 19px; border-bottom: 2px solid var(--line); padding-bottom: 4px; }
h2 small { font-weight: normal; color: var(--muted); font-size: 14px; }
h2.critical { border-color: var(--bad); } h2.row { border-color: var(--row); } h2.warning { border-color: var(--warn); }
.group { border: 1px solid var(--line); border-left: 6px solid var(--muted); border-radius: 6px;
  padding: 10px 14px; margin: 12px 0; break-inside: avoid; page-break-inside: avoid; }
.group.critical { border-left-color: var(--bad); } .group.row { border-left-color: var(--row); }
.group.warning { border-left-color: var(--warn); }
.group h3 { margin: 0; font-size: 16px; display: flex; justify-content: space-between; gap: 12px; }
.group .rule { margin: 0 0 4px; color: var(--muted); font-size: 13px; }
.count { white-space: nowrap; border-radius: 10px; padding: 0 8px; font-size: 13px; background: #eaeef2; }
.critical .count { background: var(--bad-bg); } .row .count { background: var(--row-bg); }
.warning .count { background: var(--warn-bg); }
.message { margin: 6px 0 8px; }
.message-en { margin: -4px 0 8px; color: var(--muted); font-size: 13px; }
table { border-collapse: collapse; width: 100%; font-size: 14px; table-layout: fixed; }
col.c-row { width: 8em; } col.c-column { width: 16em; }
th, td { text-align: left; vertical-align: top; padding: 3px 8px; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
code, .value { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace;
  font-size: 13px; overflow-wrap: anywhere; }
.more, .all-rows { color: var(--muted); font-size: 14px; margin: 6px 0 0; }
.none { color: var(--muted); }
footer { margin-top: 32px; color: var(--muted); font-size: 13px; }
@page { size: A4; margin: 14mm; }
@media print {
  body { background: #fff; font-size: 12px; }
  main { max-width: none; padding: 0; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""


def _html_group(group: IssueGroup, lang: str = DEFAULT_LANGUAGE) -> str:
    examples = "".join(
        f"<tr><td>{h(_row_text(x.row))}</td><td><code>{h(x.column or _NO_ROW)}</code></td>"
        f"<td class=value>{h(_value_text(x.value))}</td></tr>"
        for x in group.examples)
    more = (f"<p class=more>… dan {group.count - len(group.examples)} lagi (and more).</p>"
            if group.examples and group.count > len(group.examples) else "")
    table = ("<table><colgroup><col class=c-row><col class=c-column><col></colgroup><thead><tr>"
             "<th>Baris (row)</th><th>Kolom (column)</th><th>Nilai (value)</th>"
             f"</tr></thead><tbody>{examples}</tbody></table>" if examples else "")
    all_rows = (f"<p class=all-rows>Semua baris (all rows): {h(_all_rows_text(group))}</p>"
                if group.rows and group.count > 1 else "")
    first, beside = _group_texts(group, lang)
    return (
        f'<section class="group {h(group.severity)}">'
        f"<h3><span>{h(_where(group))}</span><span class=count>{h(_count_text(group))}</span></h3>"
        f"<p class=rule>aturan (rule) <code>{h(group.rule)}</code></p>"
        f"<p class=message>{h(first)}</p>"
        + (f'<p class=message-en lang=en>EN: {h(beside)}</p>' if beside else "")
        + f"{table}{more}{all_rows}</section>"
    )


def bundle_report_html(issues: pl.DataFrame, *, cycle: str, region_code: str, region_name: str, bundle: str,
                       submission_id: str, status: str, reason: str | None,
                       groups: list[IssueGroup] | None = None, counts: Counts | None = None,
                       lang: str = DEFAULT_LANGUAGE) -> str:
    """The report as one self-contained, printable HTML page (inline CSS, no script, no network)."""
    counts = counts or issue_counts(issues)
    head = headline(status, counts, cycle=cycle)
    facts = "".join(f"<dt>{h(label)}</dt><dd>{h(value)}</dd>"
                    for label, value in _facts(cycle, region_code, region_name, bundle, submission_id, status))
    reason_html = f"<p><b>Alasan (reason):</b> {h(one_line(reason or ''))}</p>" if reason else ""
    count_items = "".join(f"<li><b>{n}</b> {h(label)}</li>" for n, label in (
        (counts.critical, "critical"), (counts.row, f"row problems in {_plural(counts.rows_set_aside, 'row')}"),
        (counts.warning, "warnings")))
    body: list[str] = []
    current = None
    for group in (issue_groups(issues) if groups is None else groups):
        if group.severity != current:
            current = group.severity
            title, gloss = _severity_title(current, status)
            body.append(f'<h2 class="{h(current)}">{h(title)} <small>{h(gloss)}</small></h2>')
        body.append(_html_group(group, lang))
    if not body:
        body.append("<p class=none>Tidak ada masalah pada kiriman ini (no problems were found).</p>")
    title = f"Laporan validasi kiriman {region_code} {cycle}: {head.title}"
    step, step_en = _next_steps(status, counts, cycle, lang)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{h(lang)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)}</title><style>{_CSS}</style></head><body><main>"
        f'<div class="verdict {h(head.tone)}"><p class=kicker>Laporan validasi kiriman · PEKPPP {h(cycle)}</p>'
        f"<h1>{h(head.title)}</h1><p><b>Langkah berikut (next step):</b> {h(step)}</p>"
        + (f'<p class=message-en lang=en>EN: {h(step_en)}</p>' if step_en else "")
        + f"{reason_html}</div>"
        f"<dl class=facts>{facts}</dl><ul class=counts>{count_items}</ul>"
        + "".join(body)
        + "<footer>Nomor baris adalah baris berkas Anda seperti terlihat di spreadsheet (judul kolom = baris 1). "
          "Setiap masalah juga tercatat di tabel validation_issues; <code>pekppp validate</code> memeriksa "
          "kiriman yang sudah diperbaiki secara offline sebelum dikirim. <span lang=en>Row numbers are the rows "
          "of your file as a spreadsheet shows them (the header is row 1); every problem is also in "
          "validation_issues; <code>pekppp validate</code> checks a corrected kiriman offline.</span></footer>"
        "</main></body></html>\n"
    )


# ---------------------------------------------------------------- writing


def bundle_report_pages(issues: pl.DataFrame, **meta: Any) -> dict[str, tuple[str, bytes]]:  # meta may hold lang
    """The officer's two pages of one bundle: format -> (file name, bytes), for the I/O layer to write.

    `meta` are the renderers' keywords (cycle, region_code, region_name, bundle, submission_id,
    status, reason). Formats: "html" (report.html) and "markdown" (report.md).
    """
    return batch_report_pages([(issues, meta)])[0]


def batch_report_pages(bundles: Sequence[tuple[pl.DataFrame, dict[str, Any]]]) -> list[dict[str, tuple[str, bytes]]]:
    """`bundle_report_pages` of many bundles (issues, meta), their groups and counts in one query each."""
    stacked = stacked_issues([issues for issues, _meta in bundles])
    pages = []
    for (issues, meta), groups, counts in zip(bundles, stacked_groups(stacked, len(bundles)),
                                              stacked_counts(stacked, len(bundles)), strict=True):
        shared = {"groups": groups, "counts": counts}  # both pages show the same
        pages.append({
            "html": (REPORT_HTML, bundle_report_html(issues, **meta, **shared).encode("utf-8")),
            "markdown": (REPORT_MARKDOWN, bundle_report_markdown(issues, **meta, **shared).encode("utf-8")),
        })
    return pages


__all__ = [
    "REPORT_HTML",
    "REPORT_MARKDOWN",
    "Headline",
    "batch_report_pages",
    "bundle_report_html",
    "bundle_report_markdown",
    "bundle_report_pages",
    "bundle_report_text",
    "headline",
]
