"""Documents people read, from a cycle's published release: the cycle report and one card per region.

    <warehouse>/_reports/<cycle>/laporan_<cycle>.html          the cycle report
    <warehouse>/_reports/<cycle>/wilayah/<region_code>.html    one card per region that sent a bundle

Each page is one self-contained HTML file (inline CSS and SVG charts, no script, no network: a
Content-Security-Policy forbids both), printable on A4, in Indonesian. Every text that came from
data (unit names, values regions sent, messages) is escaped, never injected. The figures come from
`transforms.report_data`, the HTML kit from `documents.kit`; this module reads the release, lays
pages out and writes them. `pekppp report --cycle C [--pdf] [--screenshot]` is its command (with a
headless Chromium, A4 PDFs and PNG screenshots of the pages for people).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import polars as pl

from documents.kit import (  # the HTML kit, re-exported for the pages built here
    Bar,
    Html,
    badge,
    bar_chart,
    empty,
    escaped,
    formatted,
    h,
    join,
    kpi,
    nice_ticks,
    number,
    page,
    paragraph,
    percent,
    section,
    signed,
    span_row,
    table,
    tr,
    when,
    zone_colour,
)
from flows.ledger import Ledger
from flows.publish import current_release, input_schemas
from flows.settings import Places, Signatory, bodies_reference, load_methodology, signatory
from flows.storage import write_bytes_atomic
from transforms import report_data
from transforms.bodies import KL_CODE_PATTERN
from transforms.messages import rule_text
from transforms.methodology import Methodology
from transforms.rounding import difference_of_published
from transforms.schemas import ISSUE_SQL_NAMES, OMBUDSMAN_FEED, UNITS
from transforms.unit_scores import STATUS_SCORED

REPORT_TABLES = ("unit_scores", "aspect_scores", "region_scores", "national_scores", "award_roster", "submissions",
                 "validation_issues")
STATUS_LABELS = {"scored": "dinilai", "incomplete": "tidak lengkap", "too_many_evaluators": "evaluator melebihi batas"}
BUNDLE_LABELS = {"accepted": "Diterima", "rejected": "Ditolak", "superseded": "Digantikan", "late": "Terlambat"}
SEVERITY_LABELS = {"critical": "Kritis (berkas ditolak)", "row": "Baris disisihkan", "warning": "Peringatan"}
FEED_LABEL = "Ombudsman RI (umpan kepatuhan)"
"""How the pages name the Ombudsman's compliance feed among the bodies' bundles (it has no card)."""
TOP_INDICATORS = 8
SAFE_FILE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


class ReportError(RuntimeError):
    """A report or roster cannot be made; the message says what to do."""


class NoReleaseError(ReportError):
    """The cycle has no published release yet."""


# ---------------------------------------------------------------- reading a release

@dataclass(frozen=True)
class Published:
    """The tables of one release of a cycle, all read from the same release."""

    cycle: str
    release_id: str | None
    manifest: dict | None
    tables: dict[str, pl.DataFrame]

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


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


@dataclass(frozen=True)
class CycleData:
    """Everything the pages of one cycle are made from, read once."""

    cycle: str
    methodology: Methodology
    published: Published
    units: pl.DataFrame
    previous_cycle: str | None
    previous_national: pl.DataFrame | None
    indicator_totals: pl.DataFrame | None
    """The released units' indicator sums (see `Ledger.unit_totals`), or None without their kept rows."""
    reference: pl.DataFrame
    robustness: tuple[pl.DataFrame | None, ...] = (None, None)
    """unit_robustness and region_robustness of the release (None each for releases from before them)."""
    compliance: pl.DataFrame | None = None
    """compliance_scores of the release (issue 20; None for releases from before it, empty without a feed)."""

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.units if name == "unit_scores" else self.published[name]

    @cached_property
    def region_names(self) -> dict[str, str]:
        """Region code → name: the published name, else the reference's (for regions without a score)."""
        names = dict(zip(self.reference["region_code"].to_list(), self.reference["name"].to_list(), strict=True))
        published = self["region_scores"]
        names.update(zip(published["region_code"].to_list(), published["region_name"].fill_null("").to_list(),
                         strict=True))
        return {code: name for code, name in names.items() if name}

    @cached_property
    def _by_region(self) -> dict[str, dict[str, pl.DataFrame]]:
        return {}

    def of_region(self, name: str, region_code: str) -> pl.DataFrame:
        """The rows of a table (a published one, or `losses`) for one region: the table is split once,
        so 500 region cards cost one pass over it, not 500 filters."""
        if name not in self._by_region:
            frame = (self.top_losses if name == "losses" and self.indicator_losses else
                     self.unit_rows if name == "unit_rows" else
                     self.unit_rows_html if name == "unit_rows_html" else
                     self.submissions_newest_first if name == "submissions" else
                     self.region_aspect_rows if name == "region_aspects" else
                     self.standing if name == "standing" else self[name])
            self._by_region[name] = {key[0]: part for key, part in  # type: ignore[misc]
                                     frame.partition_by("region_code", as_dict=True, maintain_order=True).items()}
            self._by_region[name][""] = frame.clear()
        parts = self._by_region[name]
        return parts.get(region_code, parts[""])

    @cached_property
    def unit_rows(self) -> pl.DataFrame:
        """Every unit with its aspect scores as columns, ordered by region, unit type and name."""
        return report_data.unit_table(self.units.lazy(), self["aspect_scores"].lazy(), self.methodology).collect()

    @cached_property
    def unit_rows_html(self) -> pl.DataFrame:
        """`unit_rows` as the cards' table rows (region_code, `html`), built for all units at once."""
        return unit_rows_html(self.unit_rows, self.methodology)

    @cached_property
    def submissions_newest_first(self) -> pl.DataFrame:
        return self["submissions"].sort("region_code", pl.col("received_at"), descending=[False, True],
                                        maintain_order=True)

    @cached_property
    def region_aspects(self) -> pl.DataFrame:
        """Mean score per region and aspect (each card's own aspect chart), for all regions at once."""
        return report_data.aspect_summary(self["aspect_scores"].lazy(), self.methodology, ["region_code"]).collect()

    @cached_property
    def region_aspect_rows(self) -> pl.DataFrame:
        """Each region's aspects beside the national mean, weakest first (nulls last, then aspect order)."""
        return (self.region_aspects.join(self.national_aspects, on="aspect_code", how="left")
                .sort(["region_code", "mean", "aspect_order"], nulls_last=True))

    @cached_property
    def national_aspects(self) -> pl.DataFrame:
        """Mean score per aspect over every unit of the cycle (the cards' national marker)."""
        return report_data.aspect_summary(self["aspect_scores"].lazy(), self.methodology).select(
            "aspect_code", national=pl.col("mean")).collect()

    @cached_property
    def standing(self) -> pl.DataFrame:
        return report_data.region_standing(self["region_scores"].lazy()).collect()

    @cached_property
    def issue_groups(self) -> pl.DataFrame:
        return report_data.issue_groups(self["validation_issues"].lazy()).collect()

    @cached_property
    def _issue_groups_by_submission(self) -> dict[str, pl.DataFrame]:
        return {key[0]: part for key, part in  # type: ignore[misc]
                self.issue_groups.partition_by("submission_id", as_dict=True, maintain_order=True).items()}

    def issue_groups_of(self, submission_id: str) -> pl.DataFrame:
        """One submission's issue groups (split once for all cards, as `of_region`)."""
        return self._issue_groups_by_submission.get(submission_id, self.issue_groups.clear())

    @cached_property
    def top_losses(self) -> pl.DataFrame:
        """Each region's costliest indicators (at most TOP_INDICATORS) beside the national mean score."""
        assert self.indicator_losses is not None
        by_region, national = self.indicator_losses
        return (by_region.filter(pl.int_range(pl.len()).over("region_code") < TOP_INDICATORS)
                .join(national.select("indicator_code", national=pl.col("mean")), on="indicator_code", how="left",
                      maintain_order="left"))

    @cached_property
    def indicator_losses(self) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Indicator costs per region and nationally, or None without the kept evaluations."""
        if self.indicator_totals is None:
            return None
        evaluations, units = self.indicator_totals.lazy(), self.units.lazy()
        by_region, national = pl.collect_all([  # one plan: the units' indicator scores are computed once
            report_data.indicator_losses(evaluations, units, self.methodology, ["region_code"]),
            report_data.indicator_losses(evaluations, units, self.methodology)])
        return by_region, national


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
    from flows.compliance_pages import read_compliance  # these build on this module's page kit
    from flows.robustness_pages import read_robustness

    return CycleData(cycle, methodology, published, units, previous_cycle, previous_national, indicator_totals,
                     bodies_reference(), read_robustness(places, cycle, published.release_id),
                     read_compliance(places, cycle, published.release_id))


PROVISIONAL = "SEMENTARA"


def provisional_mark(methodology: Methodology) -> Html:
    """For an open cycle: "SEMENTARA" across every printed page (a fixed element repeats on each page)
    and a banner saying why; nothing for a closed cycle."""
    if not methodology.is_open:
        return Html("")
    return Html(f'<div class="provisional-mark" aria-hidden="true">{PROVISIONAL}</div>'
                f'<p class="provisional"><b>{PROVISIONAL}</b> · Siklus {h(methodology.cycle)} masih terbuka: '
                "angka dapat berubah sampai siklus ditutup. Bukan dokumen final.</p>")


def signature_block(signer: Signatory | None = None) -> Html:
    """The signature block of a page the committee signs, from the `PEKPPP_SIGNATORY` setting;
    dotted lines to fill in by hand for what it leaves out."""
    signer = signer or signatory()
    blank = "…" * 12
    return Html(
        '<div class="signature">'
        f"<p>{h(signer.place or blank)}, {h(blank)}</p>"
        f"<p>{h(signer.position or blank)}</p><div class=\"space\"></div>"
        f'<p class="name">{h(signer.name or blank)}</p><p>{h(signer.identifier or "NIP " + blank)}</p></div>')


def ipp_ticks(methodology: Methodology) -> list[float]:
    return [float(v) for v in range(methodology.score_min, methodology.score_max + 1)]


# ---------------------------------------------------------------- shared blocks

def predicate_of(methodology: Methodology) -> dict[str, tuple[str, str]]:
    """Predicate code → (label, zone)."""
    return {b.code: (b.label, b.zone) for b in methodology.predicates}


def predicate_badge(methodology: Methodology, code: str | None, *, short: bool = False) -> Html:
    """The predicate's badge with its label (or only the badge, label as tooltip, when `short`)."""
    label, zone = predicate_of(methodology).get(code or "", ("", ""))
    if short:
        return Html(f'<span class="badge zone-{h(zone or "none")}" title="{h(label)}">{h(code)}</span>') if code \
            else badge(None)
    return badge(code, label, zone)


ROSTER_COLUMNS = {
    "award_label": "Penghargaan", "group": "Jenis Unit", "rank_in_group": "Peringkat",
    "rank": "Peringkat Penghargaan", "name": "Nama", "unit_id": "ID Unit", "region_name": "Pemerintah Daerah",
    "region_code": "Kode Wilayah", "province_name": "Provinsi", "ipp": "IPP", "predicate": "Predikat",
    "predicate_label": "Keterangan Predikat", "basis": "Dasar Peringkat", "score": "Nilai Dasar Peringkat",
    "reason": "Alasan", "reason_en": "Alasan (EN)", "robustness": "Kekokohan",
}
"""The roster's figures and the one label each carries in every format (CSV, XLSX, HTML, PDF)."""


def roster_blocks(view: pl.DataFrame, methodology: Methodology, heading: str = "h3") -> Html:
    """The award roster: a table per award, grouped by unit type (or region category), ranked; says so when empty."""
    if view.is_empty():
        return empty("Tidak ada penerima penghargaan pada siklus ini.")
    parts: list[Html] = []
    for (award_label,), award in view.group_by("award_label", maintain_order=True):
        parts.append(Html(f"<{heading}>{h(award_label)} <span class=\"muted\">({award.height} penerima)</span>"
                          f"</{heading}>"))
        gain = award["basis"][0] != report_data.BASIS_IPP
        national = (award["rank"] != award["rank_in_group"]).any()
        label = ROSTER_COLUMNS
        headers = [label["rank_in_group"], *([label["rank"]] if national else []), label["name"],
                   label["region_name"], label["province_name"], label["ipp"], label["predicate"],
                   *([award["basis"][0]] if gain else [])]
        widths = [9, *([9] if national else []), 0, 17, 12, 7, 16, *([9] if gain else [])]
        name_at = 1 + national
        widths[name_at] = 100 - sum(widths)
        ipp_at = 4 + national
        numeric = [0, *([1] if national else []), ipp_at, *([ipp_at + 2] if gain else [])]
        rows: list[Sequence[object] | Html] = []
        for (group,), members in award.group_by("group", maintain_order=True):
            rows.append(span_row(f"{group} ({members.height})", len(headers), "group"))
            for r in members.iter_rows(named=True):
                name = Html(f"{h(r['name'])}<br><span class=\"muted\">{h(r['unit_id'] or r['region_code'])}</span>")
                region = Html(f"{h(r['region_name'])} <span class=\"muted\">({h(r['region_code'])})</span>")
                cells = [r["rank_in_group"], *([r["rank"]] if national else []), name, region, r["province_name"],
                         number(r["ipp"]), predicate_badge(methodology, r["predicate"]),
                         *([signed(r["score"])] if gain else [])]
                rows.append(tr(cells, numeric, "has-detail"))
                mark = r.get("robustness")  # issue 23: "tidak kokoh" with its cause, or the share of draws held
                robust = "" if not mark else (
                    f'<br><span class="{"warn" if mark.startswith("tidak") else "muted"}">'
                    f'{label["robustness"]}: {h(mark)}</span>')
                rows.append(span_row(Html(f'<span class="note">{label["reason"]}: </span>'
                                          f'{bilingual(r["reason"], r.get("reason_en"))}{robust}'),
                                     len(headers), "detail"))
        parts.append(table(headers, rows, numeric=numeric, widths=widths))
    awarded = set(view["award"].unique().to_list())
    missing = [a.label for a in methodology.awards if a.code not in awarded]
    if missing:
        parts.append(paragraph("Tanpa penerima pada siklus ini: " + "; ".join(missing) + ".", "note"))
    return join(parts)


def bilingual(text: str | None, english: str | None) -> Html:
    """A text people read in Bahasa Indonesia, with its English twin beside it (as rule messages show)."""
    beside = Html(f'<br><span class="note muted" lang="en">EN: {h(english)}</span>') if english else ""
    return Html(f'<span class="note">{h(text or "")}</span>{beside}')


def left_out_block(units: pl.DataFrame, methodology: Methodology, heading: str = "h3",
                   regions: pl.DataFrame | None = None) -> Html:
    """Units (and regions) an award could have honoured by predicate but which do not meet its rules, and why."""
    parts: list[Html] = []
    if not units.is_empty():
        rows = [[Html(f"{h(r['unit_name'])}<br><span class=\"muted\">{h(r['unit_id'])}</span>"), r["unit_type"],
                 Html(f"{h(r['region_name'])} <span class=\"muted\">({h(r['region_code'])})</span>"),
                 number(r["ipp"]), predicate_badge(methodology, r["predicate"], short=True),
                 bilingual(r["ineligible_reason"], r.get("ineligible_reason_en"))]
                for r in units.iter_rows(named=True)]
        parts += [Html(f"<{heading}>Tidak memenuhi syarat penghargaan <span class=\"muted\">({units.height} unit)"
                       f"</span></{heading}>"),
                  paragraph("Unit dengan predikat yang dapat diberi penghargaan, tetapi tidak memenuhi syarat "
                            "kelayakan metodologi siklus ini; alasannya menyebut aturan yang tidak dipenuhi.", "note"),
                  table(["Unit layanan", "Jenis Unit", "Pemerintah Daerah", "IPP", "Predikat", "Alasan"], rows,
                        numeric=[3], widths=[24, 11, 17, 7, 8, 33])]
    if regions is not None and not regions.is_empty():
        rows = [[r["award_label"], Html(f"{h(r['region_name'])} <span class=\"muted\">({h(r['region_code'])})</span>"),
                 r["category"], number(r["ipp"]), predicate_badge(methodology, r["predicate"], short=True),
                 bilingual(r["reason"], r.get("reason_en"))]
                for r in regions.iter_rows(named=True)]
        parts += [Html(f"<{heading}>Pemerintah daerah yang tidak memenuhi syarat cakupan lokus "
                       f"<span class=\"muted\">({regions.height})</span></{heading}>"),
                  table(["Penghargaan", "Pemerintah Daerah", "Kategori", "IPP", "Predikat", "Alasan"], rows,
                        numeric=[3], widths=[18, 22, 10, 7, 8, 35])]
    return join(parts)


def provenance(data: CycleData) -> Html:
    """Which release, methodology and code produced the figures on the page."""
    manifest = data.published.manifest or {}
    methodology = manifest.get("methodology", {}) if isinstance(manifest.get("methodology"), dict) else {}
    sha = str(methodology.get("sha256", data.methodology.sha256))[:12]
    rollup = data["national_scores"]["rollup_method"].to_list()[:1] or ["–"]
    lines = [
        f"Rilis {data.published.release_id or '–'} (dibuat {when(manifest.get('created_at'))}); "
        f"metodologi {methodology.get('file', Path(data.methodology.source).name)} (sha256 {sha}…, "
        f"{data.methodology.regulation}); kode {manifest.get('code_version', '–')}; agregasi IPP: {rollup[0]}.",
        f"IPP dihitung eksak lalu dibulatkan setengah ke atas ke {data.methodology.decimals} desimal; predikat "
        "ditentukan dari nilai yang sudah dibulatkan. Laporan dibuat oleh pekppp dari tabel yang dipublikasikan.",
    ]
    return Html("<footer>" + "".join(f'<p class="meta">{h(t)}</p>' for t in lines) + "</footer>")


def card_file_name(region_code: str) -> str:
    """The card's file name: the region code when it is a plain code, else a hash (never a path)."""
    if SAFE_FILE_NAME.match(region_code) and ".." not in region_code:
        return f"{region_code}.html"
    return f"wilayah-{hashlib.sha256(region_code.encode()).hexdigest()[:12]}.html"


# ---------------------------------------------------------------- the cycle report

def _summary_block(data: CycleData) -> Html:
    national = report_data.national_change(data["national_scores"], data.previous_national)
    if national.is_empty():
        return empty("Belum ada nilai nasional pada rilis ini.")
    row = national.row(0, named=True)
    label, zone = predicate_of(data.methodology).get(row["predicate"] or "", ("", ""))
    if row["previous_ipp"] is None:
        change_note = f"tidak ada rilis siklus {data.previous_cycle} untuk pembanding" if data.previous_cycle \
            else "tanpa siklus pembanding"
        change = "–"
    else:
        change = signed(row["change"])
        change_note = (f"dari {number(row['previous_ipp'])} ({row['previous_predicate']}) pada siklus "
                       f"{data.previous_cycle}, dengan metodologi siklus itu")
    return Html('<div class="kpis">' + join([
        kpi("Indeks Pelayanan Publik (IPP) Nasional", number(row["ipp"]),
            badge(row["predicate"], label, zone), "ipp-nasional"),
        kpi(f"Perubahan dari {data.previous_cycle or 'siklus sebelumnya'}", change, change_note, "ipp-perubahan"),
        kpi("Unit layanan dinilai", number(row["n_units_scored"], 0),
            f"dari {number(row['n_units'], 0)} unit di {number(row['n_regions'], 0)} pemerintah daerah"),
        kpi("Indeks Kepuasan Masyarakat (IKM)", number(row["ikm"]), "rata-rata unit yang disurvei (25–100)"),
    ]) + "</div>")


def _predicate_section(data: CycleData) -> Html:
    units = data.units.lazy()
    dist = report_data.predicate_distribution(units, data.methodology).collect()
    statuses = report_data.status_counts(units).collect()
    unscored = statuses.filter(pl.col("status") != STATUS_SCORED)
    bars = [Bar(f"{r['predicate']} – {r['predicate_label']}", r["n_units"],
                f"{number(r['n_units'], 0)} ({percent(r['share'])})", zone_colour(r["zone"]))
            for r in dist.iter_rows(named=True)]
    chart = bar_chart(bars, title="Sebaran Predikat unit layanan", axis_label="Jumlah unit layanan",
                      ticks=nice_ticks(max([b.value or 0 for b in bars] + [1])))
    note = ""
    if not unscored.is_empty():
        note = paragraph("Tanpa predikat: " + "; ".join(
            f"{number(r['n_units'], 0)} unit {STATUS_LABELS.get(r['status'], r['status'])}"
            for r in unscored.iter_rows(named=True)) + " (tidak semua indikator dinilai).", "note")
    return section("Sebaran Predikat", chart, note, anchor="predikat")


def _type_section(data: CycleData) -> Html:
    types = report_data.type_scores(data.units.lazy(), data.methodology).collect()
    bars = [Bar(r["unit_type"], r["ipp"], f"{number(r['ipp'])} {r['predicate'] or ''}".strip(),
                zone_colour(r["zone"])) for r in types.iter_rows(named=True)]
    chart = bar_chart(bars, title="Indeks Pelayanan Publik per Jenis Unit", axis_label="IPP (0–5)",
                      ticks=ipp_ticks(data.methodology))
    rows = [[r["rank"], r["unit_type"], number(r["n_units_scored"], 0), number(r["n_units"], 0), number(r["ipp"]),
             predicate_badge(data.methodology, r["predicate"])] for r in types.iter_rows(named=True)]
    return section("IPP per Jenis Unit", chart,
                   table(["Peringkat", "Jenis Unit", "Unit dinilai", "Unit", "IPP", "Predikat"], rows,
                         numeric=[0, 2, 3, 4]), anchor="jenis-unit")


def _province_section(data: CycleData) -> Html:
    provinces = report_data.province_scores(data.units.lazy(), data.reference.lazy(), data.methodology).collect()
    rows = [[r["rank"], Html(f"{h(r['province_name'])} <span class=\"muted\">({h(r['province_code'])})</span>"),
             number(r["n_regions"], 0), f"{number(r['n_units_scored'], 0)} / {number(r['n_units'], 0)}",
             number(r["ipp"]), predicate_badge(data.methodology, r["predicate"])]
            for r in provinces.iter_rows(named=True)]
    note = paragraph("IPP provinsi di sini adalah gabungan semua unit di wilayah provinsi (unit pemerintah provinsi "
                     "dan kabupaten/kotanya), dengan metode agregasi siklus ini; nilai pemerintah daerah "
                     "masing-masing ada di lampiran.", "note")
    return section("Peringkat Provinsi", note,
                   table(["Peringkat", "Provinsi", "Pemda", "Unit dinilai", "IPP", "Predikat"], rows,
                         numeric=[0, 2, 3, 4]), anchor="provinsi")


def _aspect_section(data: CycleData) -> Html:
    aspects = report_data.ranked_aspects(
        report_data.aspect_summary(data["aspect_scores"].lazy(), data.methodology)).collect()
    if aspects.is_empty():
        return section("Aspek Terkuat dan Terlemah", empty("Tidak ada nilai aspek pada rilis ini."))
    bars = [Bar(f"{r['aspect_code']}. {r['aspect_name']}", r["mean"], number(r["mean"]), zone_colour(r["zone"]))
            for r in aspects.iter_rows(named=True)]
    strongest, weakest = aspects.row(0, named=True), aspects.row(aspects.height - 1, named=True)
    text = paragraph(f"Aspek terkuat: {strongest['aspect_name']} ({number(strongest['mean'])}); aspek terlemah: "
                     f"{weakest['aspect_name']} ({number(weakest['mean'])}). Rata-rata nilai aspek unit yang aspeknya "
                     "lengkap dinilai.")
    chart = bar_chart(bars, title="Rata-rata nilai per Aspek, dari terkuat ke terlemah", axis_label="Nilai aspek (0–5)",
                      ticks=ipp_ticks(data.methodology))
    rows = [[r["aspect_code"], r["aspect_name"], f"{r['weight']}%", number(r["n_units"], 0), number(r["mean"])]
            for r in aspects.iter_rows(named=True)]
    return section("Aspek Terkuat dan Terlemah", text, chart,
                   table(["Kode", "Aspek", "Bobot", "Unit", "Rata-rata"], rows, numeric=[2, 3, 4]), anchor="aspek")


def _award_section(data: CycleData) -> Html:
    view = report_data.roster_view(data["award_roster"].lazy(), data.units.lazy(), data["region_scores"].lazy(),
                                   data.reference.lazy(), data.methodology).collect()
    left = report_data.left_out(data.units.lazy(), data.reference.lazy(), data.methodology).collect()
    uncovered = report_data.regions_left_out(data["region_scores"].lazy(), data.methodology).collect()
    return section("Daftar Penerima Penghargaan", roster_blocks(view, data.methodology),
                   left_out_block(left, data.methodology, regions=uncovered), anchor="penghargaan")


def _validation_section(data: CycleData) -> Html:
    issues = data["validation_issues"].lazy()
    regions = report_data.submissions_by_region(data["submissions"].lazy(), issues, data.reference.lazy()).collect()
    rules = report_data.top_issue_rules(issues).collect()
    rows = [[Html(f'<a href="wilayah/{h(card_file_name(r["region_code"]))}">{h(r["region_name"])}</a> '
                  f'<span class="muted">({h(r["region_code"])})</span>') if r["region_code"] != OMBUDSMAN_FEED else
             Html(f'{h(FEED_LABEL)} <span class="muted">({h(r["region_code"])})</span>'),
             number(r["n_bundles"], 0), number(r["accepted"], 0), number(r["rejected"], 0),
             number(r["superseded"], 0), number(r["late"], 0), number(r["n_critical"], 0), number(r["n_row"], 0),
             number(r["n_warning"], 0), "ya" if r["used"] else "tidak"]
            for r in regions.iter_rows(named=True)]
    totals = regions.select(pl.col("n_bundles", "accepted", "rejected").sum()).row(0, named=True) \
        if not regions.is_empty() else {"n_bundles": 0, "accepted": 0, "rejected": 0}
    intro = paragraph(f"{number(totals['n_bundles'], 0)} berkas diterima pipeline dari {number(regions.height, 0)} "
                      f"daerah: {number(totals['accepted'], 0)} dipakai, {number(totals['rejected'], 0)} ditolak. "
                      "Baris yang bermasalah disisihkan dan sisanya dipakai; berkas ditolak bila tidak dapat "
                      "dipercaya sebagai satu kesatuan.")
    parts: list[Html] = [intro]
    if rows:
        parts.append(table(["Pemerintah Daerah", "Berkas", "Diterima", "Ditolak", "Digantikan", "Terlambat",
                            "Kritis", "Baris", "Peringatan", "Dipakai"], rows, numeric=range(1, 9)))
    else:
        parts.append(empty("Belum ada berkas."))
    refused = data["submissions"].filter(pl.col("status") != "accepted").sort("region_code", "received_at")
    if not refused.is_empty():
        names = {**data.region_names, OMBUDSMAN_FEED: FEED_LABEL}
        parts.append(Html("<h3>Berkas yang tidak dipakai</h3>"))
        parts.append(table(["Pemerintah Daerah", "Berkas", "Status", "Alasan"], [
            [Html(f'{h(names.get(r["region_code"], r["region_code"]))} <span class="muted">({h(r["region_code"])})'
                  "</span>"), Html(f"<code>{h(r['bundle'])}</code>"), BUNDLE_LABELS.get(r["status"], r["status"]),
             Html(f'<span class="note">{h(r["reason"] or "")}</span>')]
            for r in refused.iter_rows(named=True)], widths=[22, 22, 12, 44]))
    parts.append(Html("<h3>Aturan yang paling sering dilanggar</h3>"))
    if rules.is_empty():
        parts.append(empty("Tidak ada masalah validasi."))
    else:
        parts.append(table(["Aturan", "Tingkat", "Jumlah", "Daerah", "Tabel / kolom", "Contoh pesan"], [
            [Html(f"<code>{h(r['rule'])}</code>"), SEVERITY_LABELS.get(r["severity"], r["severity"]),
             number(r["n_issues"], 0), number(r["n_regions"], 0),
             r["tables"] + (f" / {r['columns']}" if r["columns"] else ""),
             Html(f'<span class="note">{h(r["example"])}</span>')]
            for r in rules.iter_rows(named=True)], numeric=[2, 3], widths=[17, 11, 8, 7, 20, 37]))
    return section("Ringkasan Validasi Data", *parts, anchor="validasi")


def _lokus_missing_note(row: dict) -> str:
    """Escaped note naming the lokus unit types a body did not send (releases before lokus: none)."""
    missing = row.get("lokus_missing")
    return f' <span class="note">lokus belum dikirim: {h(missing)}</span>' if missing else ""


def _regions_appendix(data: CycleData) -> Html:
    standing = data.standing
    if standing.is_empty():
        return section("Lampiran: Peringkat Pemerintah Daerah", empty("Belum ada nilai pemerintah daerah."))
    parts: list[Html] = []
    for (category,), rows in standing.group_by("category", maintain_order=True):
        parts.append(Html(f"<h3>{h(report_data.REGION_GROUP_LABELS.get(category, category))}</h3>"))
        parts.append(table(["Peringkat", "Pemerintah Daerah", "Unit dinilai", "IPP", "Predikat"], [
            [r["rank"], Html(f'<a href="wilayah/{h(card_file_name(r["region_code"]))}">{h(r["region_name"])}</a> '
                             f'<span class="muted">({h(r["region_code"])})</span>'),
             Html(f"{number(r['n_units_scored'], 0)} / {number(r['n_units'], 0)}" + _lokus_missing_note(r)),
             number(r["ipp"]), predicate_badge(data.methodology, r["predicate"])]
            for r in rows.iter_rows(named=True)], numeric=[0, 2, 3]))
    return section("Lampiran: Peringkat Pemerintah Daerah", *parts, anchor="lampiran")


def render_cycle_report(data: CycleData) -> str:
    """The cycle report as one HTML page."""
    title = f"Laporan Hasil PEKPPP {data.cycle}"
    header = Html(
        "<header><p class=\"eyebrow\">Pemantauan dan Evaluasi Kinerja Penyelenggaraan Pelayanan Publik</p>"
        f"<h1>{h(title)}</h1><p class=\"meta\">Siklus evaluasi {h(data.cycle)} · {h(data.methodology.regulation)} · "
        f"rilis {h(data.published.release_id or '–')}</p></header>")
    from flows import compliance_pages
    from flows.robustness_pages import cycle_section

    return page(title, header, provisional_mark(data.methodology), _summary_block(data), _predicate_section(data),
                _type_section(data), _province_section(data), _aspect_section(data), _award_section(data),
                cycle_section(data), compliance_pages.cycle_section(data), _validation_section(data),
                _regions_appendix(data), signature_block(), provenance(data))


# ---------------------------------------------------------------- region cards

def unit_rows_html(rows: pl.DataFrame, methodology: Methodology) -> pl.DataFrame:
    """Each unit's row of its card's unit table (region_code, html), as `table(...)` would write it.

    Built column-wise for all units (31,000 in a national cycle: ~1 s less per run) instead of cell by
    cell with `tr`; the same bytes, odd values included (tests/flows/test_reports.py compares them).
    """
    codes = [a.code for a in methodology.aspects]
    mutu = {b.code: b.label for b in methodology.survey.mutu}
    badges = {code: str(predicate_badge(methodology, code, short=True)) for code in rows["predicate"].unique()
              if code is not None}
    n_indicators = len(methodology.indicators)
    status_label = rows["status"].replace_strict(STATUS_LABELS, default=rows["status"], return_dtype=pl.String)
    frame = pl.DataFrame({
        "region_code": rows["region_code"],
        "name": escaped(rows["unit_name"]),
        "id": escaped(rows["unit_id"]),
        "scored": rows["status"] == STATUS_SCORED,
        "status": escaped(status_label),
        "n_scored": escaped(rows["n_indicators_scored"]),
        "type": escaped(rows["unit_type"]),
        **{f"a{n}": formatted(rows[f"aspect_{c}"]) for n, c in enumerate(codes)},
        "ipp": formatted(rows["ipp"]),
        "badge": rows["predicate"].replace_strict(badges, default=str(badge(None)), return_dtype=pl.String)
        .fill_null(str(badge(None))),
        "ikm": formatted(rows["ikm"]),
        "has_ikm": rows["ikm"].is_not_null(),
        "mutu_label": escaped(rows["ikm_mutu"].replace_strict(mutu, default="", return_dtype=pl.String)),
        "mutu": escaped(rows["ikm_mutu"]),
        "respondents": formatted(rows["n_respondents"], 0),
        "sample": formatted(rows["sample_required"], 0),
        "has_sample": rows["sample_required"].is_not_null(),
        **{key: escaped(rows[column] if column in rows.columns else pl.Series([None] * rows.height, dtype=pl.String))
           for key, column in (("left_out", "ineligible_reason"), ("left_out_en", "ineligible_reason_en"))},
    })
    sample = pl.when(pl.col("has_sample")).then(pl.lit(" / ") + pl.col("sample")).otherwise(pl.lit(""))
    status = pl.when(pl.col("scored")).then(pl.lit("")).otherwise(pl.concat_str(
        pl.lit('<br><span class="note">'), "status", pl.lit(": "), "n_scored",
        pl.lit(f" dari {n_indicators} indikator dinilai</span>")))
    # A scored unit left out of the awards says why (an unscored one's status already does).
    english = pl.when(pl.col("left_out_en") != "").then(pl.concat_str(
        pl.lit('<br><span class="note muted" lang="en">EN: '), "left_out_en", pl.lit("</span>"))).otherwise(pl.lit(""))
    status = status + pl.when(pl.col("scored") & (pl.col("left_out") != "")).then(pl.concat_str(
        pl.lit('<br><span class="note">Tidak memenuhi syarat penghargaan: '), "left_out", pl.lit("</span>"), english)
    ).otherwise(pl.lit(""))
    ikm = pl.when(pl.col("has_ikm")).then(pl.concat_str(
        "ikm", pl.lit(' <abbr title="'), "mutu_label", pl.lit('">'), "mutu", pl.lit("</abbr>"))).otherwise(pl.lit("–"))
    def cell(content: pl.Expr) -> list[pl.Expr]:
        return [pl.lit("<td>"), content, pl.lit("</td>")]

    def num(content: pl.Expr) -> list[pl.Expr]:
        return [pl.lit('<td class="num">'), content, pl.lit("</td>")]

    parts = [pl.lit("<tr>"), *cell(pl.concat_str("name", pl.lit('<br><span class="muted">'), "id",
                                                  pl.lit("</span>"), status)),
             *cell(pl.col("type")), *(p for n in range(len(codes)) for p in num(pl.col(f"a{n}"))),
             *num(pl.col("ipp")), *cell(pl.col("badge")), *num(ikm),
             *num(pl.concat_str("respondents", sample)), pl.lit("</tr>")]
    return frame.select("region_code", html=pl.concat_str(parts))


def _region_units(data: CycleData, region_code: str) -> Html:
    units = data.of_region("unit_scores", region_code)
    if units.is_empty():
        return empty("Tidak ada unit layanan dari daerah ini pada rilis ini: tidak ada berkas yang dipakai. "
                     "Perbaiki berkas sesuai umpan balik validasi di bawah lalu kirim ulang.")
    codes = [a.code for a in data.methodology.aspects]
    headers = ["Unit layanan", "Jenis Unit", *(Html(f'<abbr title="{h(a.name)}">{h(a.code)}</abbr>')
                                               for a in data.methodology.aspects),
               "IPP", "Predikat", "IKM", "Responden"]
    body = [Html(row) for row in data.of_region("unit_rows_html", region_code)["html"]]
    legend = paragraph(
        "Aspek: " + "; ".join(f"{a.code} = {a.name} ({a.weight}%)" for a in data.methodology.aspects)
        + ". Predikat: " + "; ".join(f"{b.code} {b.label}" for b in data.methodology.predicates)
        + ". IKM dengan mutu: " + "; ".join(f"{b.code} {b.label}" for b in data.methodology.survey.mutu)
        + ". Responden: jumlah responden SKM / sampel minimum (Krejcie–Morgan).", "note")
    numeric = [*range(2, 3 + len(codes)), 4 + len(codes), 5 + len(codes)]
    widths = [0, 14, *([5] * len(codes)), 6, 8, 10, 11]  # unit name takes what is left
    widths[0] = 100 - sum(widths)
    return join([table(headers, body, numeric=numeric, widths=widths), legend])


def _region_aspects(data: CycleData, region_code: str) -> Html:
    rows = data.of_region("region_aspects", region_code)
    if rows.is_empty() or rows["mean"].null_count() == rows.height:
        return empty("Tidak ada nilai aspek untuk daerah ini.")
    bars = [Bar(f"{r['aspect_code']}. {r['aspect_name']}", r["mean"], number(r["mean"]), zone_colour(r["zone"]),
                r["national"]) for r in rows.iter_rows(named=True)]
    chart = bar_chart(bars, title="Nilai Aspek daerah, dari terlemah ke terkuat", axis_label="Nilai aspek (0–5)",
                      ticks=ipp_ticks(data.methodology), marker_label="rata-rata nasional")
    body = [[f"{r['aspect_code']}. {r['aspect_name']}", f"{r['weight']}%", number(r["mean"]), number(r["national"]),
             signed(difference_of_published(r["mean"], r["national"]))]
            for r in rows.iter_rows(named=True)]
    return join([chart, table(["Aspek", "Bobot", "Daerah", "Nasional", "Selisih"], body, numeric=[1, 2, 3, 4])])


def _region_indicators(data: CycleData, region_code: str) -> Html:
    if data.indicator_losses is None:
        return empty("Data indikator tidak tersedia: baris evaluasi yang disimpan ledger untuk rilis ini tidak "
                     "ditemukan, sehingga hanya nilai aspek yang ditampilkan.")
    top = data.of_region("losses", region_code)
    if top.is_empty():
        return empty("Tidak ada unit yang dinilai lengkap di daerah ini, sehingga indikator tidak dapat dirinci.")
    explain = paragraph(
        "Pengurang IPP = (nilai maksimum − skor rata-rata) × bobot indikator dalam IPP, dirata-rata atas unit yang "
        f"dinilai lengkap: kenaikan IPP daerah bila semua unit mendapat nilai {data.methodology.score_max} pada "
        "indikator itu. Skor indikator sebuah unit adalah rata-rata para evaluatornya.", "note")
    body = [[Html(f"<code>{h(r['indicator_code'])}</code>"), r["indicator_name"], r["aspect_name"],
             f"{number(r['weight_in_ipp'])}%", number(r["mean"]), number(r["national"]), number(r["loss"])]
            for r in top.iter_rows(named=True)]
    return join([table(["Kode", "Indikator", "Aspek", "Bobot dalam IPP", "Skor daerah", "Skor nasional",
                        "Pengurang IPP"], body, numeric=[3, 4, 5, 6], widths=[10, 30, 19, 11, 10, 10, 10]), explain])


def _region_feedback(data: CycleData, region_code: str) -> Html:
    bundles = data.of_region("submissions", region_code)  # newest first (see CycleData)
    if bundles.is_empty():
        return empty("Tidak ada berkas dari daerah ini.")
    parts: list[Html] = [table(["Berkas", "Diunggah", "Status", "Masalah", "Keterangan"], [
        [Html(f"<code>{h(r['bundle'])}</code>"), when(r["received_at"]), BUNDLE_LABELS.get(r["status"], r["status"]),
         number(r["n_issues"], 0), r["reason"] or ("dipakai dalam rilis ini" if r["status"] == "accepted" else "")]
        for r in bundles.iter_rows(named=True)], numeric=[3])]
    for bundle in bundles.iter_rows(named=True):
        mine = data.issue_groups_of(bundle["submission_id"])
        parts.append(Html(f"<h3>Berkas <code>{h(bundle['bundle'])}</code> – "
                          f"{h(BUNDLE_LABELS.get(bundle['status'], bundle['status']))}</h3>"))
        if mine.is_empty():
            parts.append(empty("Tidak ada masalah validasi pada berkas ini."))
            continue
        rows: list[Sequence[object] | Html] = []
        for g in mine.iter_rows(named=True):
            rows.append(tr([g["table"], Html(f"<code>{h(g['rule'])}</code>"),
                            SEVERITY_LABELS.get(g["severity"], g["severity"]), g["columns"] or "–",
                            number(g["n_issues"], 0)], [4], "has-detail"))
            rows.append(span_row(issue_detail(g["examples"], rule=g["rule"], table=g["table"]), 5, "detail"))
        parts.append(table(["Tabel", "Aturan", "Tingkat", "Kolom", "Jumlah"], rows, numeric=[4],
                           widths=[16, 20, 18, 36, 10]))
    return join(parts)


def issue_detail(examples: list[dict], *, rule: str | None = None, table: str = "") -> Html:
    """What the problem is (Bahasa Indonesia from the rule catalogue, the first example's English message
    beside it), then where the examples are: 'baris 11, survey_date = 2023-11-25; ...'."""
    if not examples:
        return Html("")
    places = []
    for e in examples:
        where = ("baris " + str(e["row"])) if e["row"] is not None else "berkas"
        where += f", {e['column']}" if e["column"] else ""
        value = Html(f" = <code>{h(e['value'])}</code>") if e["value"] is not None else ""
        places.append(Html(f"{h(where)}{value}"))
    first = examples[0]
    text, english = rule_text(rule or "", first["message"], table=table, column=first["column"],
                              value=first["value"], row=first["row"])
    return Html(bilingual(text, english) + '<br><span class="note">Contoh: </span>' + join(places, "; "))


def render_region_card(data: CycleData, region_code: str) -> str:
    """One region's card as one HTML page."""
    name = data.region_names.get(region_code, region_code)
    standing = data.of_region("standing", region_code)
    national = data["national_scores"]
    is_kl = bool(re.fullmatch(KL_CODE_PATTERN, region_code))
    province = data.region_names.get(region_code[:2], region_code[:2])
    title = f"Rapor {'K/L' if is_kl else 'Wilayah'} {name} – PEKPPP {data.cycle}"
    if standing.is_empty():
        known = data.reference.filter(pl.col("region_code") == region_code)["level"].to_list()
        level = known[0] if known else "wilayah tidak dikenal"
        kpis = [kpi("IPP Pemerintah Daerah", "–", "belum ada nilai: tidak ada berkas yang dipakai", "ipp-daerah")]
    else:
        r = standing.row(0, named=True)
        level = r["level"]
        category_name = "K/L" if r["category"] == "kl" else r["category"]
        kpis = [
            kpi("IPP K/L" if is_kl else "IPP Pemerintah Daerah", number(r["ipp"]),
                predicate_badge(data.methodology, r["predicate"]), "ipp-daerah"),
            kpi("Peringkat", "–" if r["rank"] is None else f"{r['rank']}",
                f"dari {number(r['n_in_category'], 0)} {category_name}"),
            kpi("Unit dinilai", f"{number(r['n_units_scored'], 0)} / {number(r['n_units'], 0)}",
                "unit dengan semua indikator dinilai"),
        ]
        if r.get("lokus_missing"):
            kpis.append(kpi("Lokus belum dikirim", r["lokus_missing"],
                            f"{number(r['n_lokus_scored'], 0)} dari {number(r['n_lokus_units'], 0)} unit lokus "
                            "dinilai", "lokus"))
    from flows import compliance_pages, robustness_pages

    second = compliance_pages.card_kpi(data, region_code)  # the Ombudsman's verdict beside PEKPPP's (issue 20)
    if second:
        kpis.append(second)
    if not national.is_empty():
        n = national.row(0, named=True)
        kpis.append(kpi("IPP Nasional", number(n["ipp"]), predicate_badge(data.methodology, n["predicate"]),
                        "ipp-nasional"))
    header = Html(
        f"<header><p class=\"eyebrow\">Rapor {'K/L' if is_kl else 'Wilayah'} · PEKPPP {h(data.cycle)}</p>"
        f"<h1>{h(name)}</h1><p class=\"meta\">"
        + (f"Kode Bagian Anggaran {h(region_code)} · Kementerian/Lembaga · " if is_kl else
           f"Kode wilayah {h(region_code)} · {h(level)} · Provinsi {h(province)} · ") +
        f"<a href=\"../laporan_{h(data.cycle)}.html\">laporan siklus {h(data.cycle)}</a></p></header>")
    scored_here = not data.of_region("unit_scores", region_code).is_empty()

    return page(
        title, header, provisional_mark(data.methodology), Html('<div class="kpis">' + join(kpis) + "</div>"),
        section("Unit Layanan", _region_units(data, region_code), anchor="unit"),
        compliance_pages.card_section(data, region_code),
        robustness_pages.card_section(data, region_code),
        section("Aspek Terlemah", _region_aspects(data, region_code), anchor="aspek") if scored_here else "",
        section("Indikator yang Paling Menurunkan IPP", _region_indicators(data, region_code), anchor="indikator")
        if scored_here else "",
        section("Umpan Balik Validasi", _region_feedback(data, region_code), anchor="validasi"),
        provenance(data),
    )


# ---------------------------------------------------------------- writing

def report_folder(places: Places, cycle: str) -> Path:
    return places.reports / cycle


def write_cycle_report(places: Places, cycle: str, data: CycleData | None = None) -> Path:
    """Write `<warehouse>/_reports/<cycle>/laporan_<cycle>.html`; NoReleaseError before the first release."""
    data = data or load_cycle(places, cycle)
    target = report_folder(places, cycle) / f"laporan_{cycle}.html"
    write_bytes_atomic(target, render_cycle_report(data).encode("utf-8"))
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
