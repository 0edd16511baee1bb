"""Award rosters for people: CSV (Excel in an Indonesian locale), XLSX and printable HTML.

Reads the published `award_roster` and `region_scores` of a cycle; any cell that a spreadsheet would
run as a formula (starting with = + - @ tab or CR) is neutralised with a leading apostrophe.
"""

from __future__ import annotations

import html
from pathlib import Path

import polars as pl

from flows.settings import Places, regions_reference
from flows.storage import atomic_path

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
COLUMNS = {
    "award_label": "Penghargaan", "unit_type": "Jenis Unit", "rank": "Peringkat", "name": "Nama",
    "region_name": "Pemerintah Daerah", "region_code": "Kode Wilayah", "score": "Nilai",
    "predicate": "Predikat", "reason": "Alasan",
}


class RosterError(RuntimeError):
    """No roster can be made (no release of the cycle yet, ...)."""


def read_roster(places: Places, cycle: str) -> pl.DataFrame:
    """The published roster of a cycle with region names, grouped by award then unit type, ranked."""
    folder = places.warehouse / "award_roster" / f"cycle={cycle}"
    if not folder.exists():
        raise RosterError(f"cycle {cycle} has no published release in {places.warehouse}; run `pekppp run` first")
    roster = pl.read_parquet(folder / "*.parquet")
    names = regions_reference().select("region_code", pl.col("name").alias("region_name"))
    return roster.join(names, on="region_code", how="left", maintain_order="left")


def people_view(roster: pl.DataFrame) -> pl.DataFrame:
    return roster.select([pl.col(c).alias(label) for c, label in COLUMNS.items()])


def _safe(frame: pl.DataFrame) -> pl.DataFrame:
    starts = "^[" + "".join("\\t" if c == "\t" else "\\r" if c == "\r" else "\\" + c for c in FORMULA_STARTS) + "]"
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(starts)).then(pl.lit("'") + pl.col(c)).otherwise(pl.col(c)).alias(c)
        for c, dtype in frame.schema.items() if dtype == pl.String
    )


def write_csv(view: pl.DataFrame, target: Path) -> None:
    """UTF-8 with BOM and `;` separators with decimal commas: how Excel in id-ID opens a CSV."""
    text = _safe(view).with_columns(pl.col(pl.Float64).map_batches(
        lambda s: s.round(2).cast(pl.String).str.replace(".", ",", literal=True), return_dtype=pl.String))
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"\xef\xbb\xbf" + text.write_csv(separator=";").encode("utf-8"))


def write_xlsx(view: pl.DataFrame, target: Path, cycle: str) -> None:
    """A sheet with a bold frozen header, fitted column widths, and no live formulas."""
    with atomic_path(target) as tmp:
        _safe(view).write_excel(tmp, worksheet=f"Penghargaan {cycle}", autofit=True, freeze_panes=(1, 0),
                                header_format={"bold": True, "bg_color": "#DDEBF7"},
                                float_precision=2)


def write_html(view: pl.DataFrame, target: Path, cycle: str) -> None:
    """A self-contained page grouped by award, printable on A4."""
    parts = [f"<!doctype html><html lang='id'><meta charset='utf-8'><title>Penghargaan PEKPPP {cycle}</title>",
             "<style>body{font-family:sans-serif;margin:1.5cm}table{border-collapse:collapse;width:100%;"
             "font-size:10pt}th,td{border:1px solid #999;padding:3px 5px;text-align:left}th{background:#ddebf7}"
             "@page{size:A4;margin:1.5cm}@media print{h2{page-break-before:auto}tr{page-break-inside:avoid}}"
             "</style>",
             f"<h1>Daftar Penghargaan PEKPPP {html.escape(cycle)}</h1>"]
    award_col = COLUMNS["award_label"]
    for (award,), group in view.group_by(award_col, maintain_order=True):
        parts.append(f"<h2>{html.escape(str(award))}</h2><table><tr>")
        columns = [c for c in group.columns if c != award_col]
        parts.append("".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr>")
        for row in group.select(columns).iter_rows():
            parts.append("<tr>" + "".join(f"<td>{html.escape('' if v is None else str(v))}</td>" for v in row)
                         + "</tr>")
        parts.append("</table>")
    if view.is_empty():
        parts.append("<p>Tidak ada penerima penghargaan pada siklus ini.</p>")
    with atomic_path(target) as tmp:
        tmp.write_text("\n".join(parts) + "</html>\n", encoding="utf-8")


def export_roster(places: Places, cycle: str, fmt: str, out: Path | None = None) -> Path:
    """Write the cycle's roster in the chosen format; returns the file written."""
    view = people_view(read_roster(places, cycle))
    target = out or places.reports / cycle / f"award_roster_{cycle}.{fmt}"
    {"csv": lambda: write_csv(view, target), "xlsx": lambda: write_xlsx(view, target, cycle),
     "html": lambda: write_html(view, target, cycle)}[fmt]()
    return target
