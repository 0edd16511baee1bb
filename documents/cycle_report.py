"""The cycle report: one HTML page of a cycle's national figures, awards, robustness, compliance and validation."""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

from documents import compliance_pages, robustness_pages
from documents.blocks import (
    BUNDLE_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    Signatory,
    card_file_name,
    ipp_ticks,
    left_out_block,
    predicate_badge,
    predicate_of,
    provenance,
    provisional_mark,
    roster_blocks,
    signature_block,
)
from documents.kit import (
    Bar,
    Html,
    badge,
    bar_chart,
    empty,
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
    table,
    zone_colour,
)
from transforms import report_data
from transforms.schemas import OMBUDSMAN_FEED
from transforms.unit_scores import STATUS_SCORED

if TYPE_CHECKING:
    from documents.cycle_data import CycleData

FEED_LABEL = "Ombudsman RI (umpan kepatuhan)"
"""How the pages name the Ombudsman's compliance feed among the bodies' bundles (it has no card)."""


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


def render_cycle_report(data: CycleData, signer: Signatory) -> str:
    """The cycle report as one HTML page, ending with `signer`'s signature block."""
    title = f"Laporan Hasil PEKPPP {data.cycle}"
    header = Html(
        "<header><p class=\"eyebrow\">Pemantauan dan Evaluasi Kinerja Penyelenggaraan Pelayanan Publik</p>"
        f"<h1>{h(title)}</h1><p class=\"meta\">Siklus evaluasi {h(data.cycle)} · {h(data.methodology.regulation)} · "
        f"rilis {h(data.published.release_id or '–')}</p></header>")
    return page(title, header, provisional_mark(data.methodology), _summary_block(data), _predicate_section(data),
                _type_section(data), _province_section(data), _aspect_section(data), _award_section(data),
                robustness_pages.cycle_section(data), compliance_pages.cycle_section(data), _validation_section(data),
                _regions_appendix(data), signature_block(signer), provenance(data))
