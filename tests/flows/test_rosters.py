"""The committee's award roster as CSV, XLSX and HTML, from a small published warehouse.

Unit names include a formula (`=HYPERLINK(...)`), a leading minus (`-1+2`), HTML and accents: a
spreadsheet must show them as text and never evaluate them.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree

import polars as pl
import pytest

from flows import rosters
from flows.publish import publish
from flows.reports import NoReleaseError, ReportError
from flows.settings import Places, load_methodology, methodology_path
from tests.flows.test_reports import (
    FORMULA_NAME,
    MINUS_NAME,
    SCRIPT_NAME,
    BundleSpec,
    UnitSpec,
    build_cycle,
    bundles_2023,
    bundles_2024,
)

MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Places:
    root = tmp_path_factory.mktemp("rosters")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    build_cycle(places, "2023", bundles_2023(), datetime(2024, 1, 5, tzinfo=UTC))
    build_cycle(places, "2024", bundles_2024(), datetime(2025, 1, 5, tzinfo=UTC))
    return places


@pytest.fixture(scope="module")
def exported(warehouse: Places) -> dict[str, Path]:
    # (the PDF needs headless Chromium: tests/flows/test_reports_browser.py prints it)
    return {fmt: rosters.export_roster(warehouse, "2024", fmt) for fmt in rosters.FORMATS if fmt != "pdf"}


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig")), delimiter=";"))


# ---------------------------------------------------------------- what is on the roster

def test_roster_is_grouped_by_award_then_unit_type_and_ranked(warehouse: Places) -> None:
    view = rosters.read_roster(warehouse, "2024").view
    methodology = load_methodology("2024")
    award_order = [a.label for a in methodology.awards]
    labels = view["award_label"].unique(maintain_order=True).to_list()
    assert labels == [label for label in award_order if label in labels]
    prima = view.filter(pl.col("award") == "pelayanan_prima")
    assert prima["group"].to_list() == ["DPMPTSP", "RSUD", "PUSKESMAS", "MPP"]  # the methodology's type order
    assert prima["name"].to_list() == [FORMULA_NAME, MINUS_NAME, SCRIPT_NAME, "Mal Pelayanan Publik Kota Bandung"]
    assert prima["rank"].to_list() == [1, 1, 1, 4] and prima["rank_in_group"].to_list() == [1, 1, 1, 1]
    regions = view.filter(pl.col("subject") == "region")
    assert regions["group"].to_list() == ["Pemerintah Kota"] * 2  # kota are a category of their own
    assert regions["name"].to_list() == ["Kota Bandung", "Kota Surabaya"] and regions["rank"].to_list() == [1, 2]


def test_roster_rows_carry_names_ipp_predicate_and_reason(warehouse: Places) -> None:
    view = rosters.read_roster(warehouse, "2024").view
    row = view.filter((pl.col("award") == "pelayanan_prima") & (pl.col("unit_id") == "SBY-1")).row(0, named=True)
    assert row["region_name"] == "Kota Surabaya" and row["province_name"] == "Jawa Timur"
    assert row["ipp"] == 5.0 and row["predicate"] == "A" and row["predicate_label"] == "Pelayanan Prima"
    assert row["basis"] == "IPP" and "predicate A (Pelayanan Prima)" in row["reason_en"]
    # The reason states the rules that admitted the unit (DOMAIN.md: complete data and the survey sample met).
    assert ("eligible: all 30 indicators scored (require_complete); survey sample met, 12 respondents of 12 "
            "required for 12 yearly service users (Krejcie-Morgan; require_survey_sample)") in row["reason_en"]
    # Bahasa Indonesia first (issue 22), figures with the Indonesian decimal comma; English beside it.
    assert row["reason"] == (
        "predikat A (Pelayanan Prima) dengan IPP 5,00; layak: semua 30 indikator dinilai (require_complete); "
        "sampel survei terpenuhi, 12 responden dari 12 yang disyaratkan untuk 12 pengguna layanan per tahun "
        "(Krejcie-Morgan; require_survey_sample)")
    improved = view.filter(pl.col("award") == "paling_meningkat").sort("rank")
    assert improved["basis"].unique().to_list() == ["Kenaikan IPP"]
    # The most-improved value is the gain; the IPP column still shows the unit's IPP.
    # SDA-1 rose more (+1.50) but its survey is short of its sample: it is left out, and the roster says why.
    assert improved.select("unit_id", "score", "ipp").rows() == [("SBY-1", 1.0, 5.0)]


def test_units_left_out_are_listed_with_the_rule_they_fail(warehouse: Places, exported: dict[str, Path]) -> None:
    roster = rosters.read_roster(warehouse, "2024")
    left = roster.left_out
    # SDA-1 (A-) and JTM-1 (B, the most-improved floor); in the methodology's unit type order (RSUD, KECAMATAN).
    assert left["unit_id"].to_list() == ["JTM-1", "SDA-1"]
    assert left["ineligible_reason_en"].to_list() == [
        "no survey: 0 respondents, and the cycle requires the survey sample (require_survey_sample)",
        "survey sample not met: 12 of 278 respondents for 1000 yearly service users (Krejcie-Morgan; "
        "require_survey_sample)"]
    assert left["ineligible_reason"].to_list() == [
        "tidak ada survei: 0 responden, padahal siklus ini mensyaratkan sampel survei (require_survey_sample)",
        "sampel survei belum terpenuhi: 12 dari 278 responden untuk 1000 pengguna layanan per tahun "
        "(Krejcie-Morgan; require_survey_sample)"]
    page = exported["html"].read_text(encoding="utf-8")
    assert "Tidak memenuhi syarat penghargaan" in page and "12 dari 278 responden" in page
    # The English stays beside the Bahasa, marked EN (as rule messages are).
    assert page.index("12 dari 278 responden") < page.index("EN: survey sample not met: 12 of 278 respondents")


# ---------------------------------------------------------------- CSV

def test_csv_opens_in_excel_with_an_indonesian_locale(exported: dict[str, Path]) -> None:
    raw = exported["csv"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    header = raw.decode("utf-8-sig").splitlines()[0]
    assert header.split(";")[:5] == ["Penghargaan", "Jenis Unit", "Peringkat", "Peringkat Penghargaan", "Nama"]
    rows = csv_rows(exported["csv"])
    bandung = next(r for r in rows if r["ID Unit"] == "BDG-1")
    assert bandung["IPP"] == "4,67" and bandung["Nilai Dasar Peringkat"] == "4,67"
    assert bandung["Pemerintah Daerah"] == "Kota Bandung" and bandung["Provinsi"] == "Jawa Barat"
    assert bandung["Predikat"] == "A" and bandung["Keterangan Predikat"] == "Pelayanan Prima"
    assert not any(r["ID Unit"] == "SDA-1" for r in rows)  # not eligible: see the left-out list


def test_csv_neutralises_formulas_from_unit_names(exported: dict[str, Path]) -> None:
    names = {r["ID Unit"]: r["Nama"] for r in csv_rows(exported["csv"])}
    assert names["SBY-1"] == "'" + FORMULA_NAME
    assert names["SBY-2"] == "'" + MINUS_NAME
    assert names["SBY-3"] == SCRIPT_NAME  # not a formula: kept as sent
    for row in csv_rows(exported["csv"]):
        for value in row.values():
            assert not re.match(rosters.FORMULA_PATTERN, value), value


@pytest.mark.parametrize(("text", "guarded"), [
    ("=1+1", True), ("+62 812", True), ("-1+2", True), ("@SUM(A1)", True), ("\tx", True), ("\rx", True),
    ("  =cmd|' /C calc'!A0", True), ("＝1+1", True), ("Dinas -1", False), ("email@x.id", False), ("", False),
    ("Kecamatan Waru", False),
])
def test_formula_starts(text: str, guarded: bool) -> None:
    out = rosters.neutralise_formulas(pl.DataFrame({"name": [text]}))["name"][0]
    assert out == ("'" + text if guarded else text)
    assert bool(rosters.FORMULA_START.match(text)) is guarded


# ---------------------------------------------------------------- XLSX

def xlsx_cells(path: Path) -> tuple[dict[str, tuple[str | None, str, bool]], ElementTree.Element]:
    """cell ref -> (type, text, quote prefix), and the sheet element."""
    with zipfile.ZipFile(path) as book:
        shared = [si.findtext(f"{MAIN}t") or "" for si in
                  ElementTree.fromstring(book.read("xl/sharedStrings.xml")).iter(f"{MAIN}si")]
        styles = ElementTree.fromstring(book.read("xl/styles.xml"))
        quoted = [xf.get("quotePrefix") == "1" for xf in styles.find(f"{MAIN}cellXfs").iter(f"{MAIN}xf")]
        sheet = ElementTree.fromstring(book.read("xl/worksheets/sheet1.xml"))
    cells = {}
    for c in sheet.iter(f"{MAIN}c"):
        assert c.find(f"{MAIN}f") is None, c.get("r")  # no formula anywhere
        value = c.findtext(f"{MAIN}v")
        text = shared[int(value)] if c.get("t") == "s" and value is not None else (value or "")
        cells[c.get("r")] = (c.get("t"), text, quoted[int(c.get("s", "0"))])
    return cells, sheet


def test_xlsx_has_a_frozen_filtered_header_and_fitted_widths(exported: dict[str, Path]) -> None:
    cells, sheet = xlsx_cells(exported["xlsx"])
    assert [cells[f"{col}1"][1] for col in "ABCDE"] == ["Penghargaan", "Jenis Unit", "Peringkat",
                                                          "Peringkat Penghargaan", "Nama"]
    pane = sheet.find(f"{MAIN}sheetViews/{MAIN}sheetView/{MAIN}pane")
    assert pane is not None and pane.get("ySplit") == "1" and pane.get("state") == "frozen"
    assert sheet.find(f"{MAIN}autoFilter") is not None
    # <col min max width>: xlsxwriter writes neighbouring columns of one width as one range
    widths = [float(c.get("width")) for c in sheet.iter(f"{MAIN}col")
              for _ in range(int(c.get("min")), int(c.get("max")) + 1)]
    assert len(widths) == len(rosters.COLUMNS) and min(widths) >= 8 and max(widths) <= 81
    assert cells["O1"][1] == "Alasan" and cells["P1"][1] == "Alasan (EN)"  # Bahasa first, English beside
    page = sheet.find(f"{MAIN}pageSetup")
    assert page is not None and page.get("paperSize") == "9" and page.get("orientation") == "landscape"


def test_xlsx_writes_formula_like_names_as_quoted_text(exported: dict[str, Path]) -> None:
    cells, _sheet = xlsx_cells(exported["xlsx"])
    by_text = {text: (kind, quoted) for kind, text, quoted in cells.values()}
    assert by_text[FORMULA_NAME] == ("s", True)  # shown as written, never run, even after editing
    assert by_text[MINUS_NAME] == ("s", True)
    assert by_text[SCRIPT_NAME] == ("s", False)
    book = pl.read_excel(exported["xlsx"])
    assert book["IPP"].dtype == pl.Float64 and book["Peringkat"].dtype == pl.Int64
    assert set(book["Nama"]) >= {FORMULA_NAME, MINUS_NAME, SCRIPT_NAME}


def test_xlsx_prints_with_header_footer_page_numbers_and_the_provisional_mark(exported: dict[str, Path]) -> None:
    _cells, sheet = xlsx_cells(exported["xlsx"])
    header = sheet.findtext(f"{MAIN}headerFooter/{MAIN}oddHeader") or ""
    footer = sheet.findtext(f"{MAIN}headerFooter/{MAIN}oddFooter") or ""
    assert "Daftar Penerima Penghargaan PEKPPP 2024" in header and "SEMENTARA" in header  # 2024 is open
    assert "Halaman &P dari &N" in footer and "Rilis " in footer


def test_codes_stay_text_in_the_xlsx(exported: dict[str, Path]) -> None:
    cells, _sheet = xlsx_cells(exported["xlsx"])
    column = next(ref[0] for ref, (_kind, text, _q) in cells.items() if ref[1:] == "1" and text == "Kode Wilayah")
    codes = [cells[ref] for ref in cells if ref[0] == column and ref[1:] != "1"]
    assert codes and all(kind == "s" for kind, _text, _q in codes)
    assert any("." in text for _kind, text, _q in codes)  # a kabupaten/kota code like 35.78, kept as written


def test_one_label_per_figure_in_every_format(exported: dict[str, Path]) -> None:
    """The HTML roster's column headers are the CSV's and XLSX's names for the same figures."""
    csv_headers = set(csv_rows(exported["csv"])[0])
    page = exported["html"].read_text(encoding="utf-8")
    assert "Peringkat nasional" not in page
    bases = set(csv_rows(exported["csv"])[n]["Dasar Peringkat"] for n in range(len(csv_rows(exported["csv"]))))
    roster_tables = [t for t in page.split("<table")[1:] if re.search(r"<th[^>]*>Peringkat</th>", t)]
    assert roster_tables
    for block in roster_tables:
        headers = re.findall(r"<th[^>]*>([^<]+)</th>", block.split("</thead>")[0])
        assert set(headers) - bases <= csv_headers, headers  # the basis column is headed by its figure's name
    headers = {h for t in roster_tables for h in re.findall(r"<th[^>]*>([^<]+)</th>", t.split("</thead>")[0])}
    assert "Peringkat Penghargaan" in headers  # an award ranked across groups shows the award's own rank
    assert "Alasan: " in page and "Alasan" in csv_headers


def test_signature_block_comes_from_the_setting(warehouse: Places, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PEKPPP_SIGNATORY", "Jakarta|Deputi Bidang Pelayanan Publik|Dr. Siti Rahayu|NIP 19700101")
    page = rosters.export_roster(warehouse, "2024", "html", tmp_path / "r.html").read_text(encoding="utf-8")
    block = page[page.index('<div class="signature">'):]
    assert "Jakarta," in block and "Deputi Bidang Pelayanan Publik" in block and "Dr. Siti Rahayu" in block
    book = rosters.export_roster(warehouse, "2024", "xlsx", tmp_path / "r.xlsx")
    approval = pl.read_excel(book, sheet_name="Pengesahan", has_header=False)
    texts = {str(v) for column in approval.columns for v in approval[column].to_list() if v is not None}
    assert {"Deputi Bidang Pelayanan Publik", "Dr. Siti Rahayu", "NIP 19700101"} <= texts
    # the roster sheet holds the roster only: a program reads it as one table
    assert pl.read_excel(book).height == rosters.read_roster(warehouse, "2024").view.height
    monkeypatch.delenv("PEKPPP_SIGNATORY")
    unsigned = rosters.export_roster(warehouse, "2024", "html", tmp_path / "u.html").read_text(encoding="utf-8")
    assert '<div class="signature">' in unsigned and "NIP …" in unsigned  # a block to fill in by hand


# ---------------------------------------------------------------- HTML

def test_html_roster_is_printable_grouped_and_escaped(exported: dict[str, Path]) -> None:
    page = exported["html"].read_text(encoding="utf-8")
    assert "@page { size: A4;" in page and "<h1>Daftar Penerima Penghargaan PEKPPP 2024</h1>" in page
    assert page.index("<h2>Pelayanan Prima") < page.index("<h2>Unit Terbaik per Jenis Layanan")
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in page and "<script" not in page
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in page
    assert "Kota Surabaya" in page and "Jawa Timur" in page and ">5,00<" in page
    assert 'class="provisional-mark"' in page and "SEMENTARA" in page  # 2024 is open: on every printed page


# ---------------------------------------------------------------- bad cases

def test_no_release_is_a_typed_error(tmp_path: Path) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    with pytest.raises(NoReleaseError, match="cycle 2024 has no published release"):
        rosters.export_roster(places, "2024", "csv")
    assert issubclass(NoReleaseError, rosters.RosterError)  # the CLI's one-line error handling applies


def test_unknown_format_is_refused(warehouse: Places) -> None:
    with pytest.raises(ReportError, match="unknown roster format 'docx'"):
        rosters.export_roster(warehouse, "2024", "docx")


def test_a_cycle_without_awards_gives_empty_rosters(tmp_path: Path) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    build_cycle(places, "2024", [BundleSpec("35.78", "surabaya", (UnitSpec("SBY-1", "Dinas Cukup", "DPMPTSP", 3),))],
                datetime(2025, 1, 5, tzinfo=UTC))
    out = {fmt: rosters.export_roster(places, "2024", fmt, tmp_path / f"roster.{fmt}") for fmt in rosters.FORMATS}
    assert csv_rows(out["csv"]) == [] and out["csv"].read_bytes().decode("utf-8-sig").startswith("Penghargaan;")
    assert pl.read_excel(out["xlsx"]).height == 0
    assert "Tidak ada penerima penghargaan pada siklus ini." in out["html"].read_text(encoding="utf-8")


# ---------------------------------------------------------------- a past cycle re-run after the correction

OLD_TABLE = """sample_table = [
  [10, 10], [20, 19], [30, 28], [50, 44], [100, 80], [150, 108], [200, 132], [300, 169],
  [500, 217], [1000, 278], [1500, 306], [2000, 322], [3000, 341], [5000, 357], [10000, 370],
  [20000, 377], [50000, 381], [100000, 384],
]
"""


def test_rerunning_2023_after_the_correction_lists_exactly_the_units_whose_eligibility_changed(
        tmp_path: Path) -> None:
    """2023 published with the 18-row sample table of the files before issue 18, then re-run with the whole table:
    the new release's diff lists exactly the two units whose eligibility (and so awards) changed, and why."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    old = tmp_path / "methodology-before"
    old.mkdir()
    text = methodology_path("2023").read_text(encoding="utf-8")
    start, end = text.index("sample_table = ["), text.index("]\n\n[[survey.mutu]]") + 2
    (old / "2023.toml").write_text(text[:start] + OLD_TABLE + text[end:], encoding="utf-8")
    bundles = [
        BundleSpec("35.78", "surabaya", (
            UnitSpec("U-51", "DPMPTSP Kota Surabaya", "DPMPTSP", 5, survey=4, users=51, respondents=48),
            UnitSpec("U-12", "RSUD Kota Surabaya", "RSUD", 5, survey=4, users=12, respondents=12),
        ), received="2023-06-01T08:00:00+00:00"),
        BundleSpec("35.15", "sidoarjo", (
            UnitSpec("U-221", "Kecamatan Waru", "KECAMATAN", 5, survey=4, users=221, respondents=150),
            UnitSpec("U-0", "Dinas Sosial Sidoarjo", "DINSOS", 5),  # no survey: never eligible
        ), received="2023-06-01T08:00:00+00:00"),
    ]
    build_cycle(places, "2023", bundles, datetime(2024, 1, 5, tzinfo=UTC))
    before = publish(places, load_methodology("2023", old), now=datetime(2024, 1, 6, tzinfo=UTC))
    # U-0, U-12, U-221, U-51: only U-12 (12 of 12) met the old table
    assert before.tables["unit_scores"].sort("unit_id")["eligible"].to_list() == [False, True, False, False]
    after = publish(places, load_methodology("2023"), now=datetime(2024, 1, 7, tzinfo=UTC))

    diff = after.diff
    assert diff is not None and diff["unit_id"].to_list() == ["U-221", "U-51"]  # U-12, U-0 and the regions: same
    assert diff["eligibility_changed"].all() and diff["award_changed"].all() and not diff["rank_changed"].any()
    reasons = dict(zip(diff["unit_id"], diff["reason"], strict=True))
    assert reasons["U-51"] == (
        "eligibility: not eligible -> eligible: meets every eligibility rule now (was: survey sample not met: 48 of "
        "51 respondents for 51 yearly service users (Krejcie-Morgan; require_survey_sample)); "
        "awards: none -> pelayanan_prima,terbaik_per_jenis")
    assert "(was: survey sample not met: 150 of 169 respondents for 221 yearly service users" in reasons["U-221"]
    assert after.changes is not None and after.changes["eligibility"] == 2 and after.changes["changed"] == 2
    stored = pl.read_parquet(after.diff_path)  # type: ignore[arg-type]
    assert stored["reason"].to_list() == diff["reason"].to_list()


def test_the_left_out_block_lists_regions_whose_lokus_is_not_covered() -> None:
    from documents.blocks import left_out_block

    regions = pl.DataFrame({"award_label": ["Pemerintah Daerah Berpredikat Prima"], "region_code": ["35"],
                            "region_name": ["Jawa <Timur>"], "category": ["provinsi"], "ipp": [4.6],
                            "predicate": ["A"], "n_units_scored": [2], "n_units": [3],
                            "reason": ["lokus not covered: 2 of 3 units scored"]})
    units = pl.DataFrame(schema={"unit_id": pl.String})
    page = str(left_out_block(units, load_methodology("2024"), regions=regions))
    assert "tidak memenuhi syarat cakupan lokus" in page and "Jawa &lt;Timur&gt;" in page
    assert "lokus not covered: 2 of 3 units scored" in page and "Tidak memenuhi syarat penghargaan" not in page
    assert str(left_out_block(units, load_methodology("2024"))) == ""


def test_rosters_read_once_write_what_each_format_writes_alone(warehouse: Places, exported: dict[str, Path],
                                                              tmp_path: Path) -> None:
    """The nightly writes the three formats from one read of the release: the same bytes as one by one."""
    together = rosters.export_rosters(warehouse, "2024", ("csv", "xlsx", "html"))
    assert [p.suffix for p in together] == [".csv", ".xlsx", ".html"]
    for path in together:
        alone = rosters.export_roster(warehouse, "2024", path.suffix[1:], tmp_path / path.name)
        if path.suffix == ".xlsx":  # a workbook's zip carries its write time: compare the sheets' cells
            assert xlsx_cells(path)[0] == xlsx_cells(alone)[0]
        else:
            assert path.read_bytes() == alone.read_bytes()
