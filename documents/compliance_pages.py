"""The Ombudsman's compliance verdict on the pages people read (issue 20): beside PEKPPP on each body's card,
and in the cycle report an IPP-against-compliance scatter with the zones and the bodies whose verdicts
disagree. The figures are the release's `compliance_scores` (`transforms/compliance.py`, read by
`flows.reports.read_compliance`); a cycle without a feed (or a release from before the table) shows none of
it, so its pages are as they were.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

import polars as pl

from documents.blocks import predicate_badge
from documents.kit import Html, badge, h, join, kpi, number, paragraph, section, table, zone_colour
from transforms.compliance import SUBJECT_BODY, SUBJECT_UNIT, side_by_side
from transforms.methodology import Methodology

if TYPE_CHECKING:
    from documents.cycle_data import CycleData

ZONE_LABELS = {"hijau": "zona hijau", "kuning": "zona kuning", "merah": "zona merah"}
ZONE_SHADES = {"hijau": "#e3f1e4", "kuning": "#fbf0d9", "merah": "#f8dede"}


def _scores(data: CycleData) -> pl.DataFrame | None:
    """The compliance rows to show, or None when the cycle has none."""
    frame = data.compliance
    return frame if frame is not None and frame.height else None


def zone_badge(category: str | None, label: str | None, zone: str | None) -> Html:
    """The Ombudsman's opinion as a badge coloured by its zone: [A] Kualitas Tertinggi · zona hijau."""
    words = ZONE_LABELS.get(zone or "", zone or "")
    if category:
        return Html(f"{badge(category, label, zone)} <span class=\"muted\">· {h(words)}</span>")
    return Html(f'<span class="badge zone-{h(zone or "none")}">{h(words)}</span> {h(label or "")}')


def _zone_bands(methodology: Methodology) -> list[tuple[float, float, str]]:
    """(from, to, zone) stretches of the 0-100 score, merged where neighbouring categories share a zone."""
    assert methodology.ombudsman is not None
    bands: list[tuple[float, float, str]] = []
    upper = 100.0
    for band in methodology.ombudsman.opinions:
        lower = band.lower_cents / 100
        if bands and bands[-1][2] == band.zone:
            bands[-1] = (lower, bands[-1][1], band.zone)
        else:
            bands.append((lower, upper, band.zone))
        upper = lower
    return bands


def scatter_chart(rows: list[dict], methodology: Methodology, *, title: str) -> Html:
    """IPP (0..score_max, up) against the compliance score (0-100, right), the zones as shaded columns;
    each body a dot in its zone's colour, ringed when its verdicts disagree; names as SVG titles."""
    width, height, left, right, top, bottom = 700, 380, 52, 16, 12, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    top_ipp = float(methodology.score_max)
    ident = "s" + hashlib.sha1(title.encode()).hexdigest()[:8]

    def x(score: float) -> float:
        return left + plot_w * min(max(score, 0.0), 100.0) / 100.0

    def y(ipp: float) -> float:
        return top + plot_h * (1 - min(max(ipp, 0.0), top_ipp) / top_ipp)

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{ident}" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<title id="{ident}">{h(title)}</title>']
    for lower, upper, zone in _zone_bands(methodology) if methodology.ombudsman else []:
        out.append(f'<rect x="{x(lower):.1f}" y="{top}" width="{x(upper) - x(lower):.1f}" height="{plot_h}" '
                   f'fill="{ZONE_SHADES.get(zone, "#eef1f5")}"/>'
                   f'<text x="{(x(lower) + x(upper)) / 2:.1f}" y="{top + 12}" font-size="10" text-anchor="middle" '
                   f'fill="{zone_colour(zone)}">{h(ZONE_LABELS.get(zone, zone))}</text>')
    for tick in range(0, 101, 10):
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top + plot_h}" y2="{top + plot_h + 4}" '
                   f'stroke="#5f6b7a"/><text x="{x(tick):.1f}" y="{top + plot_h + 16}" font-size="10" '
                   f'text-anchor="middle">{tick}</text>')
    for tick in range(methodology.score_min, methodology.score_max + 1):
        out.append(f'<line x1="{left - 4}" x2="{left + plot_w}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" '
                   f'stroke="#d5dbe3"/><text x="{left - 8}" y="{y(tick) + 3:.1f}" font-size="10" '
                   f'text-anchor="end">{h(number(float(tick), 0))}</text>')
    out.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 8}" font-size="10.5" text-anchor="middle" '
               'font-style="italic">Nilai kepatuhan Ombudsman (0–100)</text>'
               f'<text x="12" y="{top + plot_h / 2:.1f}" font-size="10.5" text-anchor="middle" font-style="italic" '
               f'transform="rotate(-90 12 {top + plot_h / 2:.1f})">IPP PEKPPP</text>')
    for r in rows:
        ring = ' stroke="#111" stroke-width="2.2"' if r["disagreement"] else ' stroke="#fff" stroke-width="1"'
        tip = (f"{r['region_name']} ({r['region_code']}): IPP {number(r['ipp'])} {r['predicate'] or ''}, "
               f"kepatuhan {number(r['compliance_score'])} {r['compliance_zone']}")
        out.append(f'<circle cx="{x(r["compliance_score"]):.1f}" cy="{y(r["ipp"]):.1f}" r="5" '
                   f'fill="{zone_colour(r["compliance_zone"])}"{ring}><title>{h(tip)}</title></circle>')
    out.append("</svg>")
    return Html(f"<figure>{''.join(out)}</figure>")


def cycle_section(data: CycleData) -> Html:
    """The cycle report's "PEKPPP dan Kepatuhan Ombudsman": the scatter and the bodies that disagree."""
    scores = _scores(data)
    if scores is None:
        return Html("")
    both = side_by_side(data["region_scores"].lazy(), scores.lazy()).collect()
    methodology = data.methodology
    rules = "; ".join(f"predikat {', '.join(r.predicates)} dengan {ZONE_LABELS.get(r.zone, r.zone)}"
                      for r in (methodology.ombudsman.disagreements if methodology.ombudsman else ()))
    disagree = both.filter(pl.col("disagreement").is_not_null())
    n_bodies = scores.filter(pl.col("subject") == SUBJECT_BODY).height
    n_units = scores.filter(pl.col("subject") == SUBJECT_UNIT).height
    parts: list[object] = [paragraph(
        f"Dua penilaian tahunan berdampingan: IPP PEKPPP Kementerian PANRB dan penilaian kepatuhan Ombudsman RI, "
        f"untuk {len(both)} badan yang dinilai keduanya ({n_bodies} badan dan {n_units} unit dinilai Ombudsman). "
        "Titik berbingkai hitam: kedua penilaian tidak sejalan.")]
    if both.height:
        parts.append(scatter_chart(both.to_dicts(), methodology, title=f"IPP terhadap nilai kepatuhan, {data.cycle}"))
    parts.append(Html(f"<h3>Penilaian yang tidak sejalan ({len(disagree)})</h3>"))
    parts.append(paragraph(f"Menurut metodologi siklus ini: {rules}.", "muted"))
    if disagree.is_empty():
        parts.append(paragraph("Tidak ada badan dengan penilaian yang tidak sejalan."))
    else:
        parts.append(table(["Badan", "IPP", "Predikat PEKPPP", "Nilai kepatuhan", "Opini Ombudsman"], [
            [Html(f"{h(r['region_name'])} <span class=\"muted\">({h(r['region_code'])})</span>"), number(r["ipp"]),
             predicate_badge(methodology, r["predicate"]), number(r["compliance_score"]),
             zone_badge(r["compliance_category"], r["compliance_label"], r["compliance_zone"])]
            for r in disagree.iter_rows(named=True)], numeric=[1, 3]))
    return section("PEKPPP dan Kepatuhan Ombudsman", *parts, anchor="ombudsman")


def card_kpi(data: CycleData, region_code: str) -> Html:
    """The card's KPI of the second verdict: the body's compliance score with its opinion and zone."""
    scores = _scores(data)
    if scores is None:
        return Html("")
    body = scores.filter((pl.col("region_code") == region_code) & (pl.col("subject") == SUBJECT_BODY))
    if body.is_empty():
        return kpi("Kepatuhan Ombudsman", "–", "tidak dinilai Ombudsman siklus ini", "kepatuhan")
    r = body.row(0, named=True)
    return kpi("Kepatuhan Ombudsman", number(r["score"]),
               zone_badge(r["category"], r["category_label"], r["zone"]), "kepatuhan")


def card_section(data: CycleData, region_code: str) -> Html:
    """The card's "Kepatuhan Ombudsman": the body's and its units' verdicts, and whether the two disagree."""
    scores = _scores(data)
    if scores is None:
        return Html("")
    own = scores.filter(pl.col("region_code") == region_code)
    if own.is_empty():
        return section("Kepatuhan Ombudsman", paragraph("Badan ini tidak dinilai Ombudsman pada siklus ini."),
                       anchor="ombudsman")
    rows = [[r["unit_name"] or r["region_name"] if r["subject"] == SUBJECT_UNIT else "Badan secara keseluruhan",
             *(number(r[d]) for d in ("input", "proses", "output", "pengaduan")), number(r["score"]),
             zone_badge(r["category"], r["category_label"], r["zone"]),
             f"{r['rank']} ({r['level']})"] for r in own.sort("subject", "unit_id").iter_rows(named=True)]
    parts: list[object] = [table(["Dinilai", "Input", "Proses", "Output", "Pengaduan", "Nilai", "Opini", "Peringkat"],
                                 rows, numeric=[1, 2, 3, 4, 5])]
    said = own.filter(pl.col("disagreement").is_not_null())["disagreement"].to_list()
    if said:
        parts.append(paragraph(f"Kedua penilaian tidak sejalan: {said[0]}.", "note"))
    return section("Kepatuhan Ombudsman", join(parts), anchor="ombudsman")
