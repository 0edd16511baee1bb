"""The robustness figures on the pages people read (issue 23): rank intervals and near-ties in the cycle
report, each unit's interval on its region's card. The figures are the release's `unit_robustness` and
`region_robustness` tables (`transforms/robustness.py`, read by `flows.reports.read_robustness`); a release
published before them shows none.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import polars as pl

from documents.kit import Html, empty, h, join, number, paragraph, section, table
from transforms import robustness_views
from transforms.rounding import share_percent_of, whole_percent

if TYPE_CHECKING:
    from documents.cycle_data import CycleData

TOP = 5
"""Top ranks per unit type and per body category shown with their intervals in the cycle report."""


SOURCE_LABELS = {"evaluators": "penilai", "survey": "survei", "weights": "bobot aspek", "combined": "gabungan"}


def interval_chart(rows: Sequence[dict], *, title: str) -> Html:
    """Rank intervals as error bars: a line from rank_low to rank_high, a dot at the published rank (1 left)."""
    width, label_w, value_w, row_h, top = 700, 300, 90, 20, 6
    plot_w = width - label_w - value_w
    worst = max([r["rank_high"] for r in rows] + [2])
    axis_y = top + row_h * len(rows) + 2
    height = axis_y + 34
    ident = "r" + hashlib.sha1(title.encode()).hexdigest()[:8]

    def x(rank: float) -> float:
        return label_w + plot_w * (rank - 1) / max(worst - 1, 1)

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{ident}" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<title id="{ident}">{h(title)}</title>']
    for tick in sorted({1, *range(5, worst + 1, max(5, (worst // 25 + 1) * 5)), worst}):
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 2}" y2="{axis_y}" stroke="#d5dbe3"/>'
                   f'<text x="{x(tick):.1f}" y="{axis_y + 13}" font-size="10" text-anchor="middle">{tick}</text>')
    for n, r in enumerate(rows):
        y = top + n * row_h + row_h / 2
        colour = "#b7410e" if r["near_tie"] else "#1f4e8c"
        out.append(f'<text x="{label_w - 8}" y="{y + 4:.1f}" font-size="10.5" text-anchor="end">'
                   f'<title>{h(r["label"])}</title>{h(r["label"][:52])}</text>'
                   f'<line x1="{x(r["rank_low"]):.1f}" x2="{x(r["rank_high"]):.1f}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="{colour}" stroke-width="3"/>'
                   f'<circle cx="{x(r["rank"]):.1f}" cy="{y:.1f}" r="4" fill="#111"/>'
                   f'<text x="{width - value_w + 6}" y="{y + 4:.1f}" font-size="10.5">{r["rank"]} '
                   f'({r["rank_low"]}–{r["rank_high"]})</text>')
    out.append(f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 28}" font-size="10.5" text-anchor="middle" '
               'font-style="italic">peringkat (titik: dipublikasikan; garis: persentil 5–95 simulasi)</text></svg>')
    return Html(f"<figure>{''.join(out)}</figure>")


def _group_blocks(top: pl.DataFrame, group: str, rank: str, what: str) -> list[Html]:
    parts: list[Html] = []
    for (name,), rows in top.group_by(group, maintain_order=True):
        records = [{"label": r["label"], "rank": r[rank], "rank_low": r["rank_low"], "rank_high": r["rank_high"],
                    "near_tie": r["near_tie"]} for r in rows.iter_rows(named=True)]
        parts.append(Html(f"<h3>{h(what)} {h(name)}</h3>"))
        parts.append(interval_chart(records, title=f"Interval peringkat {what} {name}"))
        ties = rows.filter(pl.col("near_tie"))["label"].to_list()
        if ties:
            parts.append(paragraph("Nyaris seri (interval peringkat bertumpang tindih dengan tetangganya): "
                                   + "; ".join(ties) + ".", "note"))
    return parts


def cycle_section(data: CycleData) -> Html:
    """Rank intervals (error bars) of the top units per type and bodies per category, near-ties named."""
    units, regions = data.robustness
    if units is None or regions is None:
        return Html("")
    settings = data.methodology.robustness
    if units.is_empty():
        return section("Kekokohan Peringkat", empty("Tidak ada unit yang dinilai: tidak ada simulasi."),
                       anchor="kekokohan")
    draws = int(units["draws"][0])
    names = data.units.select("region_code", "unit_id", "unit_name")
    unit_top = (robustness_views.top_intervals(units.lazy(), "unit_type", "rank_in_type", TOP)
                .join(names.lazy(), on=["region_code", "unit_id"], how="left", maintain_order="left")
                .with_columns(label=pl.format("{} ({})", pl.col("unit_name").fill_null(pl.col("unit_id")),
                                              pl.col("region_code"))).collect())
    region_names = pl.DataFrame({"region_code": list(data.region_names),
                                 "region_name": list(data.region_names.values())})
    region_top = (robustness_views.top_intervals(regions.lazy(), "category", "rank", TOP)
                  .join(region_names.lazy(), on="region_code", how="left", maintain_order="left")
                  .with_columns(label=pl.format("{} ({})", pl.col("region_name").fill_null(pl.col("region_code")),
                                                pl.col("region_code"))).collect())
    not_robust = units.filter(pl.col("awards_not_robust").is_not_null()).height
    threshold = f"{whole_percent(settings.threshold)}%" if settings else "ambang"
    intro = paragraph(
        f"{number(draws, 0)} simulasi dengan penilai diambil ulang (atau skor indikator digeser satu poin bila hanya "
        "satu penilai), responden survei di-bootstrap, dan bobot aspek digeser dalam batas metodologi; setiap simulasi "
        "dihitung ulang dengan kode rilis yang sama. Interval: persentil 5–95 peringkat simulasi, selalu memuat "
        f"peringkat yang dipublikasikan. {number(not_robust, 0)} unit memegang penghargaan yang bertahan di bawah "
        f"{threshold} simulasi (tidak kokoh).", "note")
    return section("Kekokohan Peringkat", intro,
                   *_group_blocks(unit_top, "unit_type", "rank_in_type", "Jenis unit"),
                   *_group_blocks(region_top, "category", "rank", "Kategori"), anchor="kekokohan")


def card_section(data: CycleData, region_code: str) -> Html:
    """Each of the region's scored units: its rank and interval, the predicate's probability, weak awards."""
    units = data.robustness[0]
    if units is None:
        return Html("")
    if "robustness_by_region" not in data.__dict__:  # split once for all cards (CycleData is frozen)
        data.__dict__["robustness_by_region"] = {key[0]: part for key, part in units.partition_by(
            "region_code", as_dict=True, maintain_order=True).items()}
    mine = data.__dict__["robustness_by_region"].get(region_code)
    if mine is None or mine.is_empty():
        return Html("")
    here = data.of_region("unit_scores", region_code)
    names = dict(zip(here["unit_id"].to_list(), here["unit_name"].to_list(), strict=True))
    rows = []
    for r in mine.sort("unit_type", "rank_in_type").iter_rows(named=True):
        weak = r["awards_not_robust"]
        causes = ", ".join(SOURCE_LABELS.get(c, c) for c in (r["not_robust_drivers"] or "").split(",") if c)
        rows.append([names.get(r["unit_id"], r["unit_id"]), r["unit_type"], number(r["rank_in_type"], 0),
                     f"{r['rank_low']}–{r['rank_high']}", f"{share_percent_of(r['p_predicate'], r['draws'])}%",
                     f"tidak kokoh: {weak} ({causes})" if weak else "–"])
    legend = paragraph(f"Dari {number(int(mine['draws'][0]), 0)} simulasi (penilai, survei, bobot aspek): interval = "
                       "persentil 5–95 peringkat dalam jenis unit; peluang predikat = bagian simulasi dengan "
                       "predikat yang sama.", "note")
    return section("Kekokohan Peringkat Unit", join([
        table(["Unit layanan", "Jenis Unit", "Peringkat", "Interval", "Peluang predikat", "Penghargaan"], rows,
              numeric=[2, 3, 4], widths=[34, 12, 9, 10, 10, 25]), legend]), anchor="kekokohan")
