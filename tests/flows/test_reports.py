"""The cycle report and the region cards, from a small warehouse published for real (ledger + publish).

`build_cycle` keeps rows in the ledger exactly as ingest does and runs `flows.publish.publish` (no
Prefect, no Great Expectations), so the tables the reports read are the pipeline's own. Unit names
carry formulas, HTML and non-ASCII text on purpose; the expected figures are worked out by hand.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from documents import blocks, kit, region_card
from flows import reports
from flows.ingest import with_owner
from flows.ledger import Entry, Ledger
from flows.publish import publish
from flows.settings import Places, load_methodology, regions_reference
from transforms import region_scores, report_data
from transforms.schemas import EVALUATIONS, ISSUE_SCHEMA, UNITS, skm_spec

FORMULA_NAME = '=HYPERLINK("http://x","y")'
MINUS_NAME = "-1+2"
SCRIPT_NAME = '<script>alert("x")</script> & Co'
ACCENT_NAME = "RSUD Dr. Soetomo – Café Sénégal"
IMG_VALUE = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class UnitSpec:
    """A unit and how its evaluators scored it: every indicator `score`, the first `bonus` one higher,
    a second evaluator scoring `second` everywhere, the last `missing` indicators left unscored; `survey`:
    `respondents` answering it everywhere; `users`: the declared population (12 needs all 12, Krejcie-Morgan)."""

    unit_id: str
    name: str
    unit_type: str
    score: int = 4
    bonus: int = 0
    second: int | None = None
    missing: int = 0
    survey: int | None = None
    users: int | None = 12
    respondents: int = 12


@dataclass(frozen=True)
class BundleSpec:
    region: str
    name: str
    units: tuple[UnitSpec, ...] = ()
    status: str = "accepted"
    received: str = "2024-06-01T08:00:00+00:00"
    reason: str | None = None
    issues: tuple[dict, ...] = field(default_factory=tuple)


def _tables(bundle: BundleSpec, cycle: str) -> dict[str, pl.DataFrame]:
    methodology = load_methodology(cycle)
    codes = methodology.indicator_codes
    units = pl.DataFrame([{"unit_id": u.unit_id, "unit_name": u.name, "unit_type": u.unit_type,
                           "region_code": bundle.region, "annual_service_users": u.users} for u in bundle.units],
                         schema=UNITS.polars_schema)
    rows = []
    for u in bundle.units:
        for n, code in enumerate(codes[: len(codes) - u.missing]):
            rows.append({"unit_id": u.unit_id, "indicator_code": code, "score": min(u.score + (n < u.bonus), 5),
                         "evaluator_id": "E1", "evidence": None})
            if u.second is not None:
                rows.append({"unit_id": u.unit_id, "indicator_code": code, "score": u.second, "evaluator_id": "E2",
                             "evidence": None})
    evaluations = pl.DataFrame(rows, schema=EVALUATIONS.polars_schema)
    survey = skm_spec(methodology.survey.element_codes)
    answers = [{"unit_id": u.unit_id, "respondent_id": f"R{r}", "survey_date": methodology.survey.window_start,
                **dict.fromkeys(methodology.survey.element_codes, u.survey)}
               for u in bundle.units if u.survey for r in range(u.respondents)]
    tables = {"units": units, "evaluations": evaluations}
    if answers:  # the survey is optional: a bundle without one keeps no survey table
        tables["skm_responses"] = pl.DataFrame(answers, schema=survey.polars_schema)
    return tables


def build_cycle(places: Places, cycle: str, bundles: list[BundleSpec], now: datetime) -> None:
    """Keep each bundle's rows and issues in the ledger as ingest does, record it, and publish the cycle."""
    ledger = Ledger(places, cycle)
    entries = []
    for n, bundle in enumerate(bundles):
        submission_id = f"{cycle}{n:02d}" + "ab" * 29
        kept = with_owner(_tables(bundle, cycle), bundle.region, submission_id) if bundle.status == "accepted" else {}
        issues = pl.DataFrame(list(bundle.issues), schema=ISSUE_SCHEMA)
        ledger.keep_rows(submission_id, kept, issues, region_code=bundle.region)
        entries.append(Entry(cycle=cycle, region_code=bundle.region, submission_id=submission_id, bundle=bundle.name,
                             landing_path=f"{places.landing}/{cycle}/{bundle.region}/{bundle.name}", size=1,
                             mtime_ns=n, received_at=datetime.fromisoformat(bundle.received), status=bundle.status,
                             reason=bundle.reason, n_issues=issues.height, raw_path=""))
    ledger.record(entries)
    # Scored without the cycle's [lokus]: these cases send every unit type from every region (the lokus and its
    # coverage have their own tests in tests/transforms/test_bodies.py and tests/flows/test_kl_bodies.py).
    publish(places, replace(load_methodology(cycle), lokus=None), now=now)


def issue(rule: str, severity: str, message: str, *, table: str = "evaluations", row: int | None = None,
          column: str | None = None, value: str | None = None) -> dict:
    return {"table": table, "row": row, "column": column, "value": value, "rule": rule, "severity": severity,
            "message": message}


def bundles_2024() -> list[BundleSpec]:
    return [
        BundleSpec("35.78", "surabaya-lama", (UnitSpec("SBY-1", "Dinas lama", "DPMPTSP", 3),),
                   received="2024-05-01T08:00:00+00:00"),
        BundleSpec("35.78", "surabaya", (
            UnitSpec("SBY-1", FORMULA_NAME, "DPMPTSP", 5, survey=4),
            UnitSpec("SBY-2", MINUS_NAME, "RSUD", 5, survey=3),
            UnitSpec("SBY-3", SCRIPT_NAME, "PUSKESMAS", 5, survey=4),
            UnitSpec("SBY-4", "Puskesmas Kenjeran", "PUSKESMAS", 3),
        )),
        BundleSpec("35", "jatim", (
            UnitSpec("JTM-1", ACCENT_NAME, "RSUD", 4),
            UnitSpec("JTM-2", "Samsat Surabaya Timur", "SAMSAT", 4, missing=2),
        )),
        BundleSpec("35.15", "sidoarjo", (
            # A- and improved on 2023, but 12 respondents of the 278 its 1000 users need: left out of the awards.
            UnitSpec("SDA-1", "Kecamatan Waru", "KECAMATAN", 5, second=4, survey=4, users=1000),
            UnitSpec("SDA-2", "Dinas Sosial Sidoarjo", "DINSOS", 2),
        ), issues=(
            issue("score_range", "row", "Row 7 of evaluations has score 7 & more", row=7, column="score", value="7"),
            issue("score_range", "row", "Row 9 of evaluations has score 9", row=9, column="score", value="9"),
            issue("not_null", "row", "unit_id is empty", row=12, column="unit_id"),
        )),
        BundleSpec("32.73", "bandung", (UnitSpec("BDG-1", "Mal Pelayanan Publik Kota Bandung", "MPP", 4, bonus=20,
                                                 survey=4),),
                   issues=(issue("type", "row", f"score {IMG_VALUE} is not a whole number", row=3, column="score",
                                 value=IMG_VALUE),)),
        BundleSpec("51.71", "denpasar", status="rejected", reason="units.csv has no column 'unit_type'",
                   issues=(issue("missing_column", "critical", "units.csv has no column 'unit_type' <b>fix</b>",
                                 table="units", column="unit_type", value="<script>alert(1)</script>"),)),
    ]


def bundles_2023() -> list[BundleSpec]:
    return [BundleSpec("35.78", "surabaya", (UnitSpec("SBY-1", FORMULA_NAME, "DPMPTSP", 4),),
                       received="2023-06-01T08:00:00+00:00"),
            BundleSpec("35.15", "sidoarjo", (UnitSpec("SDA-1", "Kecamatan Waru", "KECAMATAN", 3),),
                       received="2023-06-01T08:00:00+00:00")]


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Places:
    root = tmp_path_factory.mktemp("reports")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    build_cycle(places, "2023", bundles_2023(), datetime(2024, 1, 5, tzinfo=UTC))
    build_cycle(places, "2024", bundles_2024(), datetime(2025, 1, 5, tzinfo=UTC))
    return places


@pytest.fixture(scope="module")
def written(warehouse: Places) -> list[Path]:
    return reports.report_command(warehouse, "2024")


def text_of(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def national(places: Places) -> dict:
    return reports.read_table(places, "national_scores", "2024").row(0, named=True)


# ---------------------------------------------------------------- what the figures are

def test_fixture_units_score_as_designed(warehouse: Places) -> None:
    units = reports.read_table(warehouse, "unit_scores", "2024").sort("unit_id")
    ipp = dict(zip(units["unit_id"], units["ipp"], strict=True))
    assert ipp["SBY-1"] == 5.0 and ipp["SBY-4"] == 3.0 and ipp["JTM-1"] == 4.0
    assert ipp["SDA-1"] == 4.5  # two evaluators, 5 and 4 everywhere: exactly 4.50, one cent below A
    assert units.filter(pl.col("unit_id") == "SDA-1")["predicate"].item() == "A-"
    assert units.filter(pl.col("unit_id") == "JTM-2")["status"].item() == "incomplete"
    assert ipp["BDG-1"] == 4.67  # indicators 1-20 (aspects a, b, c: 67%) at 5, the rest at 4
    assert national(warehouse)["ipp"] == 4.15  # (5+5+5+3+4+4.5+2+4.67)/8 = 4.14625


def test_province_rollup_is_the_exact_mean_of_its_units(warehouse: Places) -> None:
    methodology = load_methodology("2024")
    units = reports.read_table(warehouse, "unit_scores", "2024")
    provinces = report_data.province_scores(units.lazy(), regions_reference().lazy(), methodology).collect()
    jatim = provinces.filter(pl.col("province_code") == "35").row(0, named=True)
    # Units of 35, 35.78 and 35.15 (the incomplete Samsat does not count): 5, 5, 5, 3, 4, 4.5, 2.
    exact = Fraction(5 + 5 + 5 + 3 + 4 + 2) + Fraction(9, 2)
    assert jatim["n_units"] == 8 and jatim["n_units_scored"] == 7 and jatim["n_regions"] == 3
    assert jatim["ipp"] == float(round(exact / 7 * 100) / 100) == 4.07
    assert jatim["predicate"] == "A-" and jatim["province_name"] == "Jawa Timur" and jatim["rank"] == 2
    assert provinces.filter(pl.col("province_code") == "32")["rank"].item() == 1


def test_rollup_by_region_matches_the_published_region_scores(warehouse: Places) -> None:
    methodology = load_methodology("2024")
    units = reports.read_table(warehouse, "unit_scores", "2024")
    mine = report_data.rollup(units.lazy(), ["region_code"], methodology).collect()
    published = reports.read_table(warehouse, "region_scores", "2024")
    joined = published.join(mine, on="region_code", suffix="_mine")
    assert joined.height == published.height == 4
    assert (joined["ipp"] == joined["ipp_mine"]).all()
    assert (joined["predicate"] == joined["predicate_mine"]).all()


@pytest.mark.parametrize("method", ["mean", "weighted"])
def test_rollup_is_the_published_rollup_for_either_method(method: str) -> None:
    """Checked against transforms.region_scores on exact numerators, with awkward weights and a unit unscored."""
    methodology = replace(load_methodology("2024"), rollup_method=method,
                          rollup_weight_column="annual_service_users" if method == "weighted" else "")
    den = report_data.ipp_denominator(methodology)
    nums = [4 * den + 1, 3 * den + den // 3, None, 5 * den, 2 * den + 7]
    units = pl.DataFrame({
        "region_code": ["35.78", "35.78", "35.78", "35.15", "35.15"],
        "ipp_num": nums, "ipp_den": [den] * 5,
        "ipp_exact": [None if n is None else n / den for n in nums],
        "annual_service_users": [120, 7, 1000, None, 3], "unit_type": ["RSUD"] * 5,
    }, schema_overrides={"ipp_num": pl.Int64, "ipp_exact": pl.Float64})
    mine = report_data.rollup(units.lazy(), ["region_code"], methodology).collect().sort("region_code")
    published = region_scores.region_scores(units.lazy(), regions_reference().lazy(), methodology).collect()
    assert mine.select("region_code", "ipp", "predicate", "n_units_scored").rows() == \
        published.sort("region_code").select("region_code", "ipp", "predicate", "n_units_scored").rows()


def test_indicator_costs_add_up_to_what_the_region_misses(warehouse: Places) -> None:
    methodology = load_methodology("2024")
    data = reports.load_cycle(warehouse, "2024")
    assert data.indicator_totals is not None
    losses = report_data.indicator_losses(data.indicator_totals.lazy(), data.units.lazy(), methodology,
                                          ["region_code"]).collect()
    sidoarjo = losses.filter(pl.col("region_code") == "35.15")
    total = sum(Fraction(int(n), int(d)) for n, d in zip(sidoarjo["loss_num"], sidoarjo["loss_den"], strict=True))
    assert total == 5 - (Fraction(9, 2) + 2) / 2  # max minus the exact mean IPP of its two units
    # Every indicator has the same mean (3.25), so the heaviest one in the IPP costs most: 14.b.K (30% of 25%).
    assert sidoarjo["indicator_code"][0] == "14.b.K"
    assert sidoarjo["mean"][0] == 3.25 and sidoarjo["weight_in_ipp"][0] == 7.5


def test_mean_of_published_values_rounds_half_up_once() -> None:
    frame = pl.DataFrame({"score": [4.0, 4.01, None, 4.0, 4.01]})  # mean 4.005 exactly -> 4.01
    assert frame.select(report_data.mean_of_published(pl.col("score"))).item() == 4.01


# ---------------------------------------------------------------- the cycle report

def test_report_command_writes_the_report_and_one_card_per_region(warehouse: Places, written: list[Path]) -> None:
    report, *cards = written
    assert report == warehouse.reports / "2024" / "laporan_2024.html"
    assert sorted(p.name for p in cards) == ["32.73.html", "35.15.html", "35.78.html", "35.html", "51.71.html"]
    assert all(p.parent == warehouse.reports / "2024" / "wilayah" for p in cards)


def test_cycle_report_shows_the_national_ipp_and_its_change(warehouse: Places, written: list[Path]) -> None:
    page = text_of(written[0])
    now = national(warehouse)
    before = reports.read_table(warehouse, "national_scores", "2023").row(0, named=True)
    assert f'id="ipp-nasional">{kit.number(now["ipp"])}<' in page
    change = round(now["ipp"] - before["ipp"], 2)
    assert f'id="ipp-perubahan">{kit.signed(change)}<' in page
    assert f"dari {kit.number(before['ipp'])} ({before['predicate']}) pada siklus 2023" in page


def test_cycle_report_sections(written: list[Path]) -> None:
    page = text_of(written[0])
    for heading in ("Sebaran Predikat", "IPP per Jenis Unit", "Peringkat Provinsi", "Aspek Terkuat dan Terlemah",
                    "Daftar Penerima Penghargaan", "Ringkasan Validasi Data", "Lampiran: Peringkat Pemerintah Daerah"):
        assert f"<h2>{heading}</h2>" in page
    intervals = page.count('aria-labelledby="r')  # issue 23: one rank-interval chart per unit type and category
    assert page.count("<svg") - intervals == 3  # predicates, unit types, aspects
    assert "<h2>Kekokohan Peringkat</h2>" in page and intervals >= 1
    assert "Indeks Pelayanan Publik per Jenis Unit" in page and "Jumlah unit layanan" in page
    assert "A- – Sangat Baik" in page and "Jawa Timur" in page and "Kota Surabaya" in page
    assert "1 unit tidak lengkap" in page
    # Validation: the rejected bundle with its reason, and the top rules.
    assert "Berkas yang tidak dipakai" in page and "units.csv has no column &#x27;unit_type&#x27;" in page
    assert "<code>score_range</code>" in page and "<code>missing_column</code>" in page
    assert 'href="wilayah/51.71.html"' in page


def test_cycle_report_lists_awards_grouped_and_names_awards_without_recipients(written: list[Path]) -> None:
    page = text_of(written[0])
    section = page[page.index("<h2>Daftar Penerima Penghargaan</h2>"): page.index("<h2>Ringkasan Validasi")]
    assert section.index("Pelayanan Prima") < section.index("Unit Terbaik per Jenis Layanan")
    assert section.index(">DPMPTSP (1)<") < section.index(">RSUD (1)<") < section.index(">PUSKESMAS (1)<")
    assert "Alasan: </span><span class=\"note\">predikat A (Pelayanan Prima) dengan IPP 5,00" in section
    assert "EN: predicate A (Pelayanan Prima) with IPP 5.00" in section
    assert "Peningkatan Terbaik" in section  # SBY-1 improved on 2023 (SDA-1 too, but is not eligible)
    assert ">Pemerintah Kota (2)<" in section  # Kota Bandung 4.67 (A), Kota Surabaya 4.50 (A-): kota ranked as kota
    # SDA-1 (A-) is the only A- unit, and its survey is short of its sample: nobody gets Sangat Baik, and why is shown.
    # (and no K/L sent a bundle: its body award has no recipient either)
    assert "Tanpa penerima pada siklus ini: Sangat Baik; Kementerian/Lembaga Berpredikat Prima." in section
    assert "Tidak memenuhi syarat penghargaan" in section and "survey sample not met: 12 of 278" in section


# ---------------------------------------------------------------- region cards

def test_region_card_of_a_scored_region(warehouse: Places, written: list[Path]) -> None:
    page = text_of(warehouse.reports / "2024" / "wilayah" / "35.15.html")
    region = reports.read_table(warehouse, "region_scores", "2024").filter(pl.col("region_code") == "35.15").row(
        0, named=True)
    assert "<h1>Kabupaten Sidoarjo</h1>" in page and "Provinsi Jawa Timur" in page
    assert f'id="ipp-daerah">{kit.number(region["ipp"])}<' in page
    assert f'id="ipp-nasional">{kit.number(national(warehouse)["ipp"])}<' in page
    assert region["category"] == "kabupaten" and region["rank"] == 1  # the only kabupaten: kota ranked apart
    assert "dari 1 kabupaten" in page and f'>{region["rank"]}</div>' in page
    assert "Tidak memenuhi syarat penghargaan: sampel survei belum terpenuhi: 12 dari 278" in page  # SDA-1's row
    assert "EN: survey sample not met: 12 of 278" in page
    assert "Kecamatan Waru" in page and "Dinas Sosial Sidoarjo" in page
    assert page.count("<svg") == 1 and "rata-rata nasional" in page
    robust = reports.read_table(warehouse, "unit_robustness", "2024").filter(pl.col("region_code") == "35.15")
    intervals = page[page.index("<h2>Kekokohan Peringkat Unit</h2>"):page.index('<section id="aspek">')]
    for r in robust.iter_rows(named=True):  # issue 23: every scored unit of the region with its interval
        assert f'<td class="num">{r["rank_low"]}–{r["rank_high"]}</td>' in intervals
    assert robust.height == intervals.count("<tr>") - 1 > 0
    indicators = page[page.index("Indikator yang Paling Menurunkan IPP"):]
    assert indicators.index("14.b.K") < indicators.index("11.b.K")
    assert "Pelaksana menerapkan budaya pelayanan" in indicators
    feedback = page[page.index("<h2>Umpan Balik Validasi</h2>"):]
    assert "<code>score_range</code>" in feedback and "Row 7 of evaluations has score 7 &amp; more" in feedback
    assert "baris 7, score = <code>7</code>; baris 9, score = <code>9</code>" in feedback
    assert feedback.index("score_range") < feedback.index("not_null")  # the most frequent rule first


def test_region_cards_show_superseded_bundles_and_incomplete_units(warehouse: Places, written: list[Path]) -> None:
    surabaya = text_of(warehouse.reports / "2024" / "wilayah" / "35.78.html")
    assert "Digantikan" in surabaya and "surabaya-lama" in surabaya
    jatim = text_of(warehouse.reports / "2024" / "wilayah" / "35.html")
    assert "tidak lengkap: 28 dari 30 indikator dinilai" in jatim
    assert "dari 1 provinsi" in jatim


def test_region_card_of_a_rejected_region(warehouse: Places, written: list[Path]) -> None:
    page = text_of(warehouse.reports / "2024" / "wilayah" / "51.71.html")
    assert "<h1>Kota Denpasar</h1>" in page
    assert "tidak ada berkas yang dipakai" in page and "Ditolak" in page
    assert "Indikator yang Paling Menurunkan IPP" not in page
    assert "<code>missing_column</code>" in page and "Kritis (berkas ditolak)" in page
    # Bahasa Indonesia first (the rule catalogue), the English message beside it, escaped
    bahasa = page.index("Tabel units tidak memiliki kolom unit_type.")
    assert bahasa < page.index("EN: units.csv has no column &#x27;unit_type&#x27; &lt;b&gt;fix&lt;/b&gt;")


def test_cards_of_regions_gone_from_the_release_are_removed(warehouse: Places, written: list[Path]) -> None:
    stale = warehouse.reports / "2024" / "wilayah" / "11.01.html"
    stale.write_text("old")
    cards = reports.write_region_cards(warehouse, "2024")
    assert not stale.exists() and len(cards) == 5


def test_card_file_names_are_never_paths() -> None:
    assert blocks.card_file_name("35.78") == "35.78.html"
    for code in ("../35", "<b>x</b>", "a/b", "..", ".hidden", ""):
        name = blocks.card_file_name(code)
        assert re.fullmatch(r"wilayah-[0-9a-f]{12}\.html", name), code


# ---------------------------------------------------------------- escaping, self-containment

def all_pages(written: list[Path]) -> list[tuple[Path, str]]:
    return [(p, text_of(p)) for p in written]


def test_data_is_escaped_never_injected(written: list[Path]) -> None:
    for path, page in all_pages(written):
        lowered = page.lower()
        assert "<script" not in lowered, path
        assert "<img" not in lowered and "<b>fix" not in lowered, path
    report = text_of(written[0])
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Co" in report
    assert "=HYPERLINK(&quot;http://x&quot;,&quot;y&quot;)" in report and ">-1+2<" in report
    denpasar = next(page for path, page in all_pages(written) if path.name == "51.71.html")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in denpasar and "&lt;b&gt;fix&lt;/b&gt;" in denpasar
    bandung = next(page for path, page in all_pages(written) if path.name == "32.73.html")
    assert "&lt;img src=x onerror=alert(1)&gt;" in bandung


def test_non_ascii_names_are_kept_as_utf8(written: list[Path]) -> None:
    card = next(p for p in written if p.name == "35.html").read_bytes()
    assert card.startswith(b'<!doctype html>\n<html lang="id"><head><meta charset="utf-8">')
    assert ACCENT_NAME.encode() in card


def test_pages_are_self_contained(written: list[Path]) -> None:
    for path, page in all_pages(written):
        assert "Content-Security-Policy" in page and "default-src 'none'" in page, path
        assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:|//)""", page, re.IGNORECASE), path
        assert "<link" not in page and "@import" not in page and "url(" not in page, path
        assert "<script" not in page.lower(), path


# ---------------------------------------------------------------- bad cases

def test_a_cycle_without_release_is_a_typed_error(tmp_path: Path) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    for call in (reports.write_cycle_report, reports.write_region_cards, reports.report_command):
        with pytest.raises(reports.NoReleaseError, match=r"cycle 2024 has no published release .*pekppp run"):
            call(places, "2024")
    with pytest.raises(reports.NoReleaseError):  # checked before the methodology: no file for 2031 either
        reports.report_command(places, "2031")
    assert not (places.reports / "2024").exists()


def test_a_cycle_with_no_awards_says_so(tmp_path: Path) -> None:
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    build_cycle(places, "2024", [BundleSpec("35.78", "surabaya", (UnitSpec("SBY-1", "Dinas Cukup", "DPMPTSP", 3),))],
                datetime(2025, 1, 5, tzinfo=UTC))
    assert reports.read_table(places, "award_roster", "2024").is_empty()
    report, card = reports.report_command(places, "2024")
    page = text_of(report)
    assert "Tidak ada penerima penghargaan pada siklus ini." in page
    assert "tidak ada rilis siklus 2023 untuk pembanding" in page and 'id="ipp-perubahan">–<' in page
    assert "Kota Surabaya" in text_of(card)


def test_number_formats_are_indonesian() -> None:
    assert kit.number(3.6) == "3,60" and kit.number(12805, 0) == "12.805" and kit.number(None) == "–"
    assert kit.signed(0.08) == "+0,08" and kit.signed(-0.1) == "−0,10" and kit.signed(0.0) == "±0,00"
    assert kit.percent(0.37931) == "37,9%"
    assert kit.when("2024-11-26T03:12:00+00:00") == "26 November 2024, 10.12 WIB"


def test_cached_number_formats_do_not_depend_on_call_order() -> None:
    """number() is cached: values equal as keys (0.0 and -0.0, 2 and 2.0) still print as themselves."""
    assert [kit.number(v) for v in (0.0, -0.0, 0.0)] == ["0,00", "-0,00", "0,00"]
    assert kit.number(2) == kit.number(2.0) == "2,00" and kit.number(2, 0) == "2"
    assert kit.number(1234567.891) == "1.234.567,89" and kit.number(float("nan")) == "–"
    assert isinstance(kit.number(5), kit.Html)  # safe as is: digits, points, commas and signs


def test_the_report_command_writes_pages(warehouse: Places, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import EXIT_ERROR, EXIT_OK, main

    assert main(["report", "--cycle", "2024", "--warehouse", str(warehouse.warehouse)]) == EXIT_OK
    assert "laporan_2024.html" in capsys.readouterr().out
    assert main(["report", "--cycle", "2019", "--warehouse", str(warehouse.warehouse)]) == EXIT_ERROR
    assert "no published release" in capsys.readouterr().err


def _unit_row_one_by_one(r: dict, methodology: object) -> str:
    """A card's unit row as the cards wrote it cell by cell before `unit_rows_html` (the reference)."""
    m = methodology
    mutu = {b.code: b.label for b in m.survey.mutu}  # type: ignore[attr-defined]
    codes = [a.code for a in m.aspects]  # type: ignore[attr-defined]
    h, number = kit.h, kit.number
    status = "" if r["status"] == "scored" else \
        f"<br><span class=\"note\">{h(blocks.STATUS_LABELS.get(r['status'], r['status']))}: " \
        f"{h(r['n_indicators_scored'])} dari {len(m.indicators)} indikator dinilai</span>"  # type: ignore[attr-defined]
    if r["status"] == "scored" and r["ineligible_reason"]:
        status += f"<br><span class=\"note\">Tidak memenuhi syarat penghargaan: {h(r['ineligible_reason'])}</span>"
        if r.get("ineligible_reason_en"):
            status += f"<br><span class=\"note muted\" lang=\"en\">EN: {h(r['ineligible_reason_en'])}</span>"
    sample = "" if r["sample_required"] is None else f" / {number(r['sample_required'], 0)}"
    ikm = "–" if r["ikm"] is None else kit.Html(
        f"{h(number(r['ikm']))} <abbr title=\"{h(mutu.get(r['ikm_mutu'], ''))}\">{h(r['ikm_mutu'])}</abbr>")
    cells = [kit.Html(f"{h(r['unit_name'])}<br><span class=\"muted\">{h(r['unit_id'])}</span>{status}"),
             r["unit_type"], *(number(r[f"aspect_{c}"]) for c in codes), number(r["ipp"]),
             blocks.predicate_badge(m, r["predicate"], short=True), ikm,  # type: ignore[arg-type]
             f"{number(r['n_respondents'], 0)}{sample}"]
    return kit.tr(cells, [*range(2, 3 + len(codes)), 4 + len(codes), 5 + len(codes)])


def test_unit_rows_built_column_wise_match_the_cell_by_cell_rows(warehouse: Places) -> None:
    """Every odd value a unit row can hold gives the same bytes as escaping and formatting cell by cell."""
    data = reports.load_cycle(warehouse, "2024")
    rows = pl.concat([data.unit_rows] * 12)  # enough rows for every combination of the patterns below
    n = rows.height
    odd = pl.DataFrame({
        "unit_name": [f"Dinas <A&B> \"{k}\" 'x'" if k % 2 else None for k in range(n)],
        "unit_type": ["KECAMATAN & <br>" if k % 3 == 0 else "DPMPTSP" for k in range(n)],
        "status": [["scored", "incomplete", "too_many_evaluators", "odd-status", None][k % 5] for k in range(n)],
        "n_indicators_scored": [None if k % 4 == 0 else 29 for k in range(n)],
        "ikm": [[None, float("nan"), 88.5, 100.0, -0.0][k % 5] for k in range(n)],
        "ikm_mutu": [None if k % 3 == 1 else ["A", "Z", "<B>"][k % 3] for k in range(n)],
        "predicate": [None if k % 2 else ["A", "Q"][k % 4 // 2] for k in range(n)],
        "sample_required": [None if k % 2 else 1234 for k in range(n)],
        "ipp": [[None, 0.0, -0.0, 4.995, 1234.5][k % 5] for k in range(n)],
        "ineligible_reason": [[None, "no survey <b>&</b> 'x'", "", None][k % 4] for k in range(n)],
        "ineligible_reason_en": [[None, "EN <i>&</i>", None, "orphan"][k % 4] for k in range(n)],
    })
    rows = rows.with_columns(*(odd[c].cast(rows[c].dtype) for c in odd.columns))
    aspect = next(c for c in rows.columns if c.startswith("aspect_"))
    rows = rows.with_columns(pl.Series(aspect, [[None, float("nan"), -0.0, 0.1, 3.14159][k % 5] for k in range(n)]))
    expected = [_unit_row_one_by_one(r, data.methodology) for r in rows.iter_rows(named=True)]
    assert n >= 60 and len(set(expected)) > 30
    assert region_card.unit_rows_html(rows, data.methodology)["html"].to_list() == expected


# ---------------------------------------------------------------- every page names the tables' figures (issue 22)

def test_every_page_names_the_same_figures_as_the_tables(warehouse: Places, written: list[Path]) -> None:
    """The cycle report's appendix, each region card and the HTML roster show exactly the published figures."""
    from flows import rosters

    report = text_of(written[0])
    appendix = report[report.index('id="lampiran"'):]
    regions = reports.read_table(warehouse, "region_scores", "2024")
    assert regions.height
    for r in regions.iter_rows(named=True):
        card = text_of(warehouse.reports / "2024" / "wilayah" / blocks.card_file_name(r["region_code"]))
        assert f'id="ipp-daerah">{kit.number(r["ipp"])}<' in card, r["region_code"]
        row = appendix[appendix.index(f'({r["region_code"]})</span>'):].split("</tr>")[0]
        assert f">{kit.number(r['ipp'])}<" in row and f">{r['predicate']}<" in row, r["region_code"]
    units = reports.read_table(warehouse, "unit_scores", "2024").filter(pl.col("ipp").is_not_null())
    for u in units.iter_rows(named=True):
        card = text_of(warehouse.reports / "2024" / "wilayah" / blocks.card_file_name(u["region_code"]))
        assert u["unit_id"] in card and f">{kit.number(u['ipp'])}<" in card, u["unit_id"]
    roster_page = rosters.export_roster(warehouse, "2024", "html", warehouse.reports / "figures.html")
    page = text_of(roster_page)
    awarded = reports.read_table(warehouse, "award_roster", "2024")
    assert awarded.height
    for a in awarded.iter_rows(named=True):
        assert kit.h(a["name"]) in page and kit.h(a["award_label"]) in page, a["name"]
    national_row = reports.read_table(warehouse, "national_scores", "2024").row(0, named=True)
    assert f'id="ipp-nasional">{kit.number(national_row["ipp"])}<' in report
