"""Award rosters for the committee: CSV (Excel in an Indonesian locale), XLSX and printable HTML.

The roster is the published `award_roster` of a cycle with `unit_scores` and `region_scores` of the
same release: grouped by award, then unit type (or region category), ranked, with region and province
names, IPP, predicate and why each entry qualifies (`transforms.report_data.roster_view`).

Text a spreadsheet would run as a formula (starting with = + - @, a tab or CR, also after spaces or
in full-width form) is neutralised: a leading apostrophe in CSV, a plain text cell with Excel's
quote prefix in XLSX (shown as written, never evaluated, not even after editing the cell).
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import polars as pl

from documents.blocks import ROSTER_COLUMNS, Signatory
from documents.roster import Roster, roster_page
from flows.reports import ReportError, print_pdf, read_published, read_robustness
from flows.settings import Places, load_methodology, regions_reference, signatory
from flows.storage import atomic_path
from transforms import report_data, robustness_views

RosterError = ReportError
"""Kept for callers of the first roster export (the CLI maps it to one line)."""

FORMATS = ("csv", "xlsx", "html", "pdf")
ROSTER_TABLES = ("award_roster", "unit_scores", "region_scores")
FORMULA_PATTERN = r"^(?:[\t\r]|\s*[=+\-@＝＋－＠])"
FORMULA_START = re.compile(FORMULA_PATTERN)
COLUMNS = ROSTER_COLUMNS  # one label per figure: the HTML roster uses the same (documents.blocks)
WRAPPED = {"Nama": 42, "Alasan": 80, "Alasan (EN)": 80, "Pemerintah Daerah": 30, "Kekokohan": 40}


def read_roster(places: Places, cycle: str) -> Roster:
    """The cycle's roster for people, from one release; NoReleaseError before the first publish."""
    published = read_published(places, cycle, ROSTER_TABLES)
    methodology = load_methodology(cycle)
    view = report_data.roster_view(published["award_roster"].lazy(), published["unit_scores"].lazy(),
                                   published["region_scores"].lazy(), regions_reference().lazy(),
                                   methodology).collect()
    left = report_data.left_out(published["unit_scores"].lazy(), regions_reference().lazy(), methodology).collect()
    units, regions = (None if t is None else t.lazy() for t in read_robustness(places, cycle, published.release_id))
    view = robustness_views.roster_marks(view.lazy(), units, regions, methodology).collect()
    return Roster(view, methodology, published, left)


def people_view(view: pl.DataFrame) -> pl.DataFrame:
    """The roster's columns under the headers people read."""
    return view.select([pl.col(c).alias(label) for c, label in COLUMNS.items()])


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix an apostrophe to every text cell a spreadsheet would otherwise run as a formula."""
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_PATTERN)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dtype in frame.schema.items() if dtype == pl.String
    )


def write_csv(view: pl.DataFrame, target: Path) -> None:
    """UTF-8 with BOM, `;` separators and decimal commas: how Excel in an Indonesian locale opens a CSV."""
    text = neutralise_formulas(people_view(view)).write_csv(
        separator=";", decimal_comma=True, float_precision=2, include_bom=True, line_terminator="\r\n")
    with atomic_path(target) as tmp:
        tmp.write_bytes(text.encode("utf-8"))


def _sheet_name(cycle: str) -> str:
    return re.sub(r"[\[\]:*?/\\']", "_", f"Penghargaan {cycle}")[:31]


def write_xlsx(view: pl.DataFrame, target: Path, cycle: str, *, provisional: bool = False,
               release: str | None = None, signer: Signatory | None = None) -> None:
    """One sheet: bold header row frozen with a filter, fitted column widths, numbers as numbers, A4 landscape.

    Printed, every page has a header (title, and "SEMENTARA" while the cycle is open) and a footer
    (release, page n of m). The signature block (`PEKPPP_SIGNATORY`) is on a second sheet,
    "Pengesahan", so the roster sheet stays one table a program can read.

    Every text is written as a text cell (never parsed as a formula, number or link); text that
    looks like a formula also gets Excel's quote prefix, so editing the cell cannot turn it into one.
    """
    import xlsxwriter  # the engine polars uses for Excel; imported only when a workbook is made

    sheet_view = people_view(view)
    with atomic_path(target) as tmp:
        workbook = xlsxwriter.Workbook(str(tmp), {"strings_to_formulas": False, "strings_to_urls": False,
                                                  "strings_to_numbers": False})
        workbook.set_properties({"title": f"Daftar Penerima Penghargaan PEKPPP {cycle}", "subject": "PEKPPP",
                                 "author": "pekppp"})
        sheet = workbook.add_worksheet(_sheet_name(cycle))
        header = workbook.add_format({"bold": True, "bg_color": "#DDEBF7", "border": 1, "text_wrap": True,
                                      "valign": "top"})
        formats = {
            (wrap, guard): workbook.add_format({"valign": "top", "text_wrap": wrap, "quote_prefix": guard})
            for wrap in (False, True) for guard in (False, True)
        }
        decimal = workbook.add_format({"valign": "top", "num_format": "0.00"})
        whole = workbook.add_format({"valign": "top", "num_format": "0"})
        for col, (name, dtype) in enumerate(sheet_view.schema.items()):
            sheet.write_string(0, col, name, header)
            values = sheet_view[name].to_list()
            wrap = name in WRAPPED
            for row, value in enumerate(values, start=1):
                if value is None:
                    sheet.write_blank(row, col, None, formats[(wrap, False)])
                elif dtype.is_numeric():
                    sheet.write_number(row, col, value, decimal if dtype.is_float() else whole)
                else:
                    text = str(value)
                    sheet.write_string(row, col, text, formats[(wrap, bool(FORMULA_START.match(text)))])
            longest = max([len(name), *(len(str(v)) for v in values if v is not None)])
            sheet.set_column(col, col, min(max(longest + 2, 8), WRAPPED.get(name, 40)))
        sheet.freeze_panes(1, 0)
        sheet.autofilter(0, 0, max(sheet_view.height, 1), sheet_view.width - 1)
        sheet.set_landscape()
        sheet.set_paper(9)  # A4
        sheet.fit_to_pages(1, 0)
        sheet.repeat_rows(0)
        mark = "&C&\"-,Bold\"&14&KC62828SEMENTARA" if provisional else ""
        sheet.set_header(f"&LDaftar Penerima Penghargaan PEKPPP {cycle}{mark}&RHalaman &P dari &N")
        sheet.set_footer(f"&LRilis {release or '-'}&CHalaman &P dari &N&R&D")
        _approval_sheet(workbook, cycle, sheet_view.height, provisional, release, signer or signatory())
        workbook.close()


def _approval_sheet(workbook: object, cycle: str, recipients: int, provisional: bool, release: str | None,
                    signer: Signatory) -> None:
    """The sheet "Pengesahan": what is signed (cycle, release, recipients) and the signature block."""
    sheet = workbook.add_worksheet("Pengesahan")  # type: ignore[attr-defined]
    title = workbook.add_format({"bold": True, "font_size": 13})  # type: ignore[attr-defined]
    name = workbook.add_format({"bold": True, "underline": True})  # type: ignore[attr-defined]
    warn = workbook.add_format({"bold": True, "font_color": "#C62828"})  # type: ignore[attr-defined]
    blank = "." * 30
    sheet.set_column(0, 0, 34)
    sheet.set_column(1, 1, 44)
    sheet.set_paper(9)
    sheet.set_footer(f"&LRilis {release or '-'}&CHalaman &P dari &N")
    sheet.write_string(0, 0, f"Daftar Penerima Penghargaan PEKPPP {cycle}", title)
    sheet.write_string(1, 0, "Rilis")
    sheet.write_string(1, 1, release or "-")
    sheet.write_string(2, 0, "Penerima (baris di lembar daftar)")
    sheet.write_number(2, 1, recipients)
    if provisional:
        sheet.write_string(3, 0, f"SEMENTARA: siklus {cycle} masih terbuka; angka dapat berubah.", warn)
    lines = [f"{signer.place or blank}, {blank}", signer.position or blank, "", "", "", signer.name or blank,
             signer.identifier or f"NIP {blank}"]
    for offset, text in enumerate(lines, start=6):
        if text:
            sheet.write_string(offset, 1, text, name if offset == 11 else None)


def write_html(roster: Roster, target: Path, cycle: str) -> None:
    """A self-contained page grouped by award and unit type, printable on A4 (`documents.roster`)."""
    with atomic_path(target) as tmp:
        tmp.write_text(roster_page(roster, cycle, signatory()), encoding="utf-8")


def export_rosters(places: Places, cycle: str, formats: tuple[str, ...]) -> list[Path]:
    """Write the cycle's roster in each of `formats`, reading the release once; returns the files written."""
    roster = read_roster(places, cycle)
    return [export_roster(places, cycle, fmt, roster=roster) for fmt in formats]


def export_roster(places: Places, cycle: str, fmt: str, out: Path | None = None, *,
                  roster: Roster | None = None) -> Path:
    """Write the cycle's roster as csv, xlsx, html or pdf (`roster`: already read); returns the file written."""
    if fmt not in FORMATS:
        raise ReportError(f"unknown roster format {fmt!r}; use one of {', '.join(FORMATS)}")
    roster = roster or read_roster(places, cycle)
    target = out or places.reports / cycle / f"award_roster_{cycle}.{fmt}"
    if fmt == "csv":
        write_csv(roster.view, target)
    elif fmt == "xlsx":
        write_xlsx(roster.view, target, cycle, provisional=roster.methodology.is_open,
                   release=roster.published.release_id)
    elif fmt == "pdf":
        with tempfile.TemporaryDirectory(prefix="pekppp-roster-") as folder:  # the page printed, then gone
            page_file = Path(folder) / f"award_roster_{cycle}.html"
            write_html(roster, page_file, cycle)
            target.parent.mkdir(parents=True, exist_ok=True)
            print_pdf(page_file, target)  # headless Chromium; ReportError in one line where there is none
    else:
        write_html(roster, target, cycle)
    return target
