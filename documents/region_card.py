"""One body's card (a region or a K/L): its units, its Ombudsman verdict and robustness, its weakest aspects and
indicators, and the validation feedback on each bundle it sent."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from documents import compliance_pages, robustness_pages
from documents.blocks import (
    BUNDLE_LABELS,
    SEVERITY_LABELS,
    STATUS_LABELS,
    bilingual,
    ipp_ticks,
    predicate_badge,
    provenance,
    provisional_mark,
)
from documents.kit import (
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
    number,
    page,
    paragraph,
    section,
    signed,
    span_row,
    table,
    tr,
    when,
    zone_colour,
)
from transforms.bodies import KL_CODE_PATTERN
from transforms.messages import rule_text
from transforms.methodology import Methodology
from transforms.rounding import difference_of_published
from transforms.unit_scores import STATUS_SCORED

if TYPE_CHECKING:
    from documents.cycle_data import CycleData


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
