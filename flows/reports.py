"""The pages people read, from a cycle's published release: reading the release and writing the pages.

    <warehouse>/_reports/<cycle>/laporan_<cycle>.html          the cycle report
    <warehouse>/_reports/<cycle>/wilayah/<region_code>.html    one card per region that sent a bundle

Each page is one self-contained HTML file (inline CSS and SVG charts, no script, no network: a
Content-Security-Policy forbids both), printable on A4, in Indonesian. The pages are rendered by
`documents/` (pure functions of the data read here: `documents.cycle_report`, `documents.region_card`,
on the HTML kit `documents.kit`); this module reads the release, hands it to them and writes the files.
`pekppp report --cycle C [--pdf] [--screenshot]` is its command (with a headless Chromium, A4 PDFs and
PNG screenshots of the pages for people).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from documents.blocks import card_file_name
from documents.cycle_data import CycleData, Published
from documents.cycle_report import render_cycle_report
from documents.region_card import render_region_card
from flows.ledger import Ledger
from flows.publish import current_release, input_schemas
from flows.settings import Places, bodies_reference, load_methodology, signatory
from flows.storage import write_bytes_atomic
from transforms.methodology import Methodology
from transforms.schemas import ISSUE_SQL_NAMES, OMBUDSMAN_FEED, UNITS

REPORT_TABLES = ("unit_scores", "aspect_scores", "region_scores", "national_scores", "award_roster", "submissions",
                 "validation_issues")


class ReportError(RuntimeError):
    """A report or roster cannot be made; the message says what to do."""


class NoReleaseError(ReportError):
    """The cycle has no published release yet."""


# ---------------------------------------------------------------- reading a release

def _table_files(places: Places, table: str, cycle: str) -> list[Path]:
    folder = places.table_folder(table, cycle)
    return sorted(folder.glob("*.parquet")) if folder.is_dir() else []


def read_table(places: Places, table: str, cycle: str) -> pl.DataFrame:
    """One published table of a cycle; NoReleaseError when the cycle has none."""
    files = _table_files(places, table, cycle)
    if not files:
        raise NoReleaseError(f"cycle {cycle} has no published release in {places.warehouse} "
                             f"({table}/cycle={cycle} is missing); run `pekppp run --cycle {cycle}` first")
    frame = pl.read_parquet(files, hive_partitioning=False)
    if table == "validation_issues":  # the pages use the pipeline's own names (releases of schema 1 had them)
        frame = frame.rename({v: k for k, v in ISSUE_SQL_NAMES.items()}, strict=False)
    return frame


def read_published(places: Places, cycle: str, tables: Sequence[str] = REPORT_TABLES,
                   attempts: int = 3) -> Published:
    """The cycle's current release: every table from the same release (re-read if one lands meanwhile)."""
    for attempt in range(attempts):
        frames = {name: read_table(places, name, cycle) for name in tables}
        ids = {rid for frame in frames.values() for rid in frame["release_id"].unique().to_list()}
        manifest = current_release(places, cycle)
        if len(ids) <= 1 and (manifest is None or not ids or manifest["release_id"] in ids):
            release_id = next(iter(ids), None) or (str(manifest["release_id"]) if manifest else None)
            return Published(cycle, release_id, manifest, frames)
        time.sleep(0.2 * (attempt + 1))
    raise ReportError(f"cycle {cycle} was being republished while its tables were read; run the command again")


def kept_table(places: Places, cycle: str, submission_ids: list[str], table: str,
               schema: pl.Schema) -> pl.DataFrame | None:
    """A table of the rows the ledger kept for these submissions; None when any of them is missing."""
    ledger = Ledger(places, cycle)
    if not submission_ids or not all((ledger.accepted_dir(s) / f"{table}.parquet").exists()
                                     for s in submission_ids):
        return None
    return ledger.accepted_table(submission_ids, table, schema).collect()


def kept_indicator_totals(places: Places, methodology: Methodology, submission_ids: list[str]) -> pl.DataFrame | None:
    """The indicator sums of the rows the ledger kept for these submissions; None when any rows are missing.

    Read from the sums the last publish kept (computed from the rows, not written, if it kept none).
    """
    ledger = Ledger(places, methodology.cycle)
    if not submission_ids or not all((ledger.accepted_dir(s) / "evaluations.parquet").exists()
                                     for s in submission_ids):
        return None
    totals = ledger.unit_totals(submission_ids, input_schemas(methodology), methodology.survey.element_codes,
                                keep=False)
    return totals.indicators.collect()


ROBUSTNESS_TABLES = ("unit_robustness", "region_robustness")


def robustness_table(places: Places, cycle: str, name: str, release_id: str | None) -> pl.DataFrame | None:
    """A robustness table of the same release; None for releases published before it existed."""
    try:
        frame = read_table(places, name, cycle)
    except NoReleaseError:
        return None
    return frame if frame["release_id"].unique().to_list() in ([release_id], []) else None


def read_robustness(places: Places, cycle: str, release_id: str | None) -> tuple[pl.DataFrame | None, ...]:
    return tuple(robustness_table(places, cycle, name, release_id) for name in ROBUSTNESS_TABLES)


def read_compliance(places: Places, cycle: str, release_id: str | None) -> pl.DataFrame | None:
    """The release's compliance_scores; None when it has none (a release from before the table)."""
    try:
        frame = read_table(places, "compliance_scores", cycle)
    except NoReleaseError:
        return None
    return frame if frame["release_id"].unique().to_list() in ([release_id], []) else None


def load_cycle(places: Places, cycle: str) -> CycleData:
    """Read the release, the methodology, the previous cycle's national row and the kept indicator sums.

    Indicator-level figures need the evaluations behind the release: the rows the ledger kept for
    the bundles its units came from (`unit_scores.submission_id`, the manifest's submissions_used),
    read as the per-unit indicator sums the publish kept of them.
    """
    published = read_published(places, cycle)
    methodology = load_methodology(cycle)
    units = published["unit_scores"]
    used = sorted(units["submission_id"].unique().to_list())
    owner = {"region_code": pl.String, "submission_id": pl.String}
    indicator_totals = kept_indicator_totals(places, methodology, used)
    if methodology.rollup_method == "weighted":
        column = methodology.rollup_weight_column
        kept_units = kept_table(places, cycle, used, "units", pl.Schema({**UNITS.polars_schema, **owner}))
        if kept_units is None or column not in kept_units.columns:
            raise ReportError(f"cycle {cycle} rolls up weighted by {column!r}, but the ledger's unit rows of its "
                              f"release are missing under {places.ledger / cycle}; run `pekppp rerun --cycle {cycle}`")
        units = units.join(kept_units.select("region_code", "unit_id", column), on=["region_code", "unit_id"],
                           how="left")
    previous_cycle = str(int(cycle) - 1) if cycle.isdigit() else None
    previous_national = None
    if previous_cycle and _table_files(places, "national_scores", previous_cycle):
        previous_national = read_table(places, "national_scores", previous_cycle)
    return CycleData(cycle, methodology, published, units, previous_cycle, previous_national, indicator_totals,
                     bodies_reference(), read_robustness(places, cycle, published.release_id),
                     read_compliance(places, cycle, published.release_id))


# ---------------------------------------------------------------- writing

def report_folder(places: Places, cycle: str) -> Path:
    return places.reports / cycle


def write_cycle_report(places: Places, cycle: str, data: CycleData | None = None) -> Path:
    """Write `<warehouse>/_reports/<cycle>/laporan_<cycle>.html`; NoReleaseError before the first release."""
    data = data or load_cycle(places, cycle)
    target = report_folder(places, cycle) / f"laporan_{cycle}.html"
    write_bytes_atomic(target, render_cycle_report(data, signatory()).encode("utf-8"))
    return target


def card_regions(data: CycleData) -> list[str]:
    """Every region with a published score or a bundle received in the cycle."""
    codes = set(data["region_scores"]["region_code"].to_list()) | set(data["submissions"]["region_code"].to_list())
    if data.compliance is not None:  # a body only the Ombudsman assessed gets a card with its one verdict
        codes |= set(data.compliance["region_code"].to_list())
    return sorted(codes - {OMBUDSMAN_FEED})  # the feed is a source, not a body: its page is its officer report


def write_region_cards(places: Places, cycle: str, data: CycleData | None = None) -> list[Path]:
    """Write one card per region under `_reports/<cycle>/wilayah/`; cards of regions gone from the release go."""
    data = data or load_cycle(places, cycle)
    folder = report_folder(places, cycle) / "wilayah"
    written = []
    for code in card_regions(data):
        target = folder / card_file_name(code)
        write_bytes_atomic(target, render_region_card(data, code).encode("utf-8"))
        written.append(target)
    for stale in set(folder.glob("*.html")) - set(written):
        stale.unlink(missing_ok=True)
    return written


def report_command(places: Places, cycle: str) -> list[Path]:
    """`pekppp report --cycle C`: the cycle report, then every region card; returns the files written."""
    data = load_cycle(places, cycle)
    return [write_cycle_report(places, cycle, data), *write_region_cards(places, cycle, data)]


# ---------------------------------------------------------------- looking at pages (headless Chromium)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
HEADLESS_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--hide-scrollbars", "--enable-logging=stderr", "--v=0")


def find_browser() -> str | None:
    """A Chromium-family browser on PATH, or None."""
    return next((path for name in BROWSERS if (path := shutil.which(name))), None)


@dataclass(frozen=True)
class BrowserRun:
    stdout: str
    stderr: str

    @property
    def console_problems(self) -> list[str]:
        """Console output and uncaught errors: a page without script should produce none."""
        return [line for line in self.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def run_browser(page_file: Path, *options: str, browser: str | None = None, timeout: float = 90) -> BrowserRun:
    """Open a local page in headless Chromium with `options` (e.g. --dump-dom, --screenshot=FILE)."""
    executable = browser or find_browser()
    if executable is None:
        raise ReportError("no Chromium found on PATH; install it (apt-get install -y chromium)")
    with tempfile.TemporaryDirectory(prefix="pekppp-chromium-") as profile:
        done = subprocess.run([executable, *HEADLESS_FLAGS, f"--user-data-dir={profile}", *options,
                               page_file.resolve().as_uri()], capture_output=True, text=True, timeout=timeout,
                              check=False)
    if done.returncode != 0:
        raise ReportError(f"chromium failed on {page_file} (exit {done.returncode}): {done.stderr.strip()[-300:]}")
    return BrowserRun(done.stdout, done.stderr)


def screenshot(page_file: Path, target: Path | None = None, *, width: int = 1100, height: int = 3000) -> Path:
    """A PNG of the top `height` pixels of a page, for people to look at."""
    target = target or page_file.with_suffix(".png")
    run_browser(page_file, f"--window-size={width},{height}", f"--screenshot={target}")
    return target


def print_pdf(page_file: Path, target: Path | None = None) -> Path:
    """The page printed on A4 with its print stylesheet, as PDF."""
    target = target or page_file.with_suffix(".pdf")
    run_browser(page_file, "--no-pdf-header-footer", f"--print-to-pdf={target}")
    return target
