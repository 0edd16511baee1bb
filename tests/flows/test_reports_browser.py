"""The report pages as a browser shows them: headless Chromium loads each page without console errors,
the rendered DOM shows the national IPP, and screenshots / A4 PDFs come out for people to look at.

Skipped only when no Chromium is installed (`apt-get install -y chromium`).
"""

from __future__ import annotations

import re
import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from documents import kit
from flows import reports
from flows.settings import Places
from tests.flows.test_reports import build_cycle, bundles_2023, bundles_2024

pytestmark = [pytest.mark.slow,  # Chromium starts per page
              pytest.mark.skipif(reports.find_browser() is None,
                                 reason="no Chromium on PATH (install with: apt-get install -y chromium)")]


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("browser")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    build_cycle(places, "2023", bundles_2023(), datetime(2024, 1, 5, tzinfo=UTC))
    build_cycle(places, "2024", bundles_2024(), datetime(2025, 1, 5, tzinfo=UTC))
    report, *cards = reports.report_command(places, "2024")
    national = reports.read_table(places, "national_scores", "2024").row(0, named=True)
    return {"places": places, "report": report, "card": next(c for c in cards if c.name == "35.15.html"),
            "national": kit.number(national["ipp"])}


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    return struct.unpack(">II", data[16:24])


def test_cycle_report_renders_without_console_errors(pages: dict) -> None:
    run = reports.run_browser(pages["report"], "--dump-dom")
    assert run.console_problems == []
    assert f'id="ipp-nasional">{pages["national"]}</div>' in run.stdout
    intervals = run.stdout.count('aria-labelledby="r')  # issue 23: the rank-interval charts
    assert "Laporan Hasil PEKPPP 2024" in run.stdout and run.stdout.count("<svg") - intervals == 3 and intervals
    # The parsed DOM kept injected markup as text: no element was created from data.
    assert "<script" not in run.stdout.lower() and "&lt;script&gt;" in run.stdout


def test_region_card_renders_without_console_errors(pages: dict) -> None:
    run = reports.run_browser(pages["card"], "--dump-dom")
    assert run.console_problems == []
    assert "<h1>Kabupaten Sidoarjo</h1>" in run.stdout
    assert f'id="ipp-nasional">{pages["national"]}</div>' in run.stdout


def test_the_console_check_sees_script_errors(tmp_path: Path) -> None:
    """The check above is not vacuous: a page whose script throws is caught."""
    broken = tmp_path / "broken.html"
    broken.write_text("<!doctype html><p>x</p><script>throw new Error('boom')</script>", encoding="utf-8")
    run = reports.run_browser(broken, "--dump-dom")
    assert any("Uncaught" in line and "boom" in line for line in run.console_problems)


def test_screenshot_and_pdf_for_people(pages: dict, tmp_path: Path) -> None:
    shot = reports.screenshot(pages["report"], tmp_path / "laporan.png", width=1100, height=1600)
    assert png_size(shot) == (1100, 1600) and shot.stat().st_size > 30_000  # a blank page is a few KB
    pdf = reports.print_pdf(pages["card"], tmp_path / "rapor.pdf")
    assert pdf.read_bytes().startswith(b"%PDF") and re.search(rb"/Type\s*/Page[^s]", pdf.read_bytes())


# ---------------------------------------------------------------- issue 22: pages people print and sign


def pdf_pages(path: Path) -> int:
    data = path.read_bytes()
    assert data.startswith(b"%PDF"), path
    return len(re.findall(rb"/Type\s*/Page[^s]", data))


def test_report_and_roster_print_as_pdf_from_the_command(pages: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from flows.cli import EXIT_OK, main

    places = pages["places"]
    assert main(["report", "--cycle", "2024", "--warehouse", str(places.warehouse), "--landing",
                 str(places.landing), "--pdf"]) == EXIT_OK
    printed = [Path(line.split("PDF: ", 1)[1]) for line in capsys.readouterr().out.splitlines() if "PDF: " in line]
    assert [p.name for p in printed] == ["laporan_2024.pdf", "award_roster_2024.pdf"]
    assert pdf_pages(printed[0]) > 1 and pdf_pages(printed[1]) >= 1


def test_screenshots_of_the_roster_and_the_officer_report(pages: dict, tmp_path: Path) -> None:
    from flows import rosters
    from flows.cli import main

    roster = rosters.export_roster(pages["places"], "2024", "html", tmp_path / "roster.html")
    run = reports.run_browser(roster, "--dump-dom")
    assert run.console_problems == [] and "SEMENTARA" in run.stdout and 'class="signature"' in run.stdout
    shot = reports.screenshot(roster, tmp_path / "roster.png", width=1100, height=1400)
    assert png_size(shot) == (1100, 1400) and shot.stat().st_size > 30_000

    from flows.generate import generate_cycle
    from flows.settings import load_methodology

    generate_cycle("2024", tmp_path / "landing", regions=1, units=2, respondents=10, seed=5,
                   methodology=load_methodology("2024"))
    bundle = next((tmp_path / "landing" / "2024").glob("*/*"))
    (bundle / "evaluations.csv").unlink()  # rejected: the page shows its problems
    main(["validate", str(bundle), "--report-dir", str(tmp_path / "officer")])
    officer = tmp_path / "officer" / "report.html"
    run = reports.run_browser(officer, "--dump-dom")
    assert run.console_problems == [] and "DITOLAK" in run.stdout and "missing_table" in run.stdout
    shot = reports.screenshot(officer, tmp_path / "officer.png", width=1000, height=1200)
    assert png_size(shot) == (1000, 1200) and shot.stat().st_size > 20_000
