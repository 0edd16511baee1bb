"""The one HTML kit of every page people read: escaping, numbers in the Indonesian way, tables,
badges, the page shell (self-contained: no script, nothing fetched) and inline SVG charts.

Pure functions returning text: the documents are built from data and written by the I/O layer
(flows/). It imports nothing of flows/, expectations/, Prefect or GE (an import-linter contract),
so the officer's bundle report (expectations/report.py) and the committee's pages (documents/: cycle
report, region cards, roster) share one escaper.
"""

from __future__ import annotations

import hashlib
import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import polars as pl

WIB = timezone(timedelta(hours=7), "WIB")
MONTHS = ("Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober",
          "November", "Desember")
ZONE_COLOURS = {"hijau": "#2e7d32", "kuning": "#b7791f", "merah": "#c62828"}
NEUTRAL_COLOUR = "#4a6fa5"


# ---------------------------------------------------------------- HTML pieces

class Html(str):
    """Text that is already safe HTML (built here from escaped parts); anything else gets escaped."""


def h(value: object) -> Html:
    """Escape a value for HTML text or attributes, unless it is already Html; None becomes empty."""
    if isinstance(value, Html):
        return value
    return Html("" if value is None else html.escape(str(value), quote=True))


def join(parts: Iterable[object], separator: str = "") -> Html:
    return Html(separator.join(h(p) for p in parts))


_ID_DIGITS = str.maketrans(",.", ".,")
_DASH = Html("–")


def number(value: float | int | None, decimals: int = 2) -> Html:
    """Indonesian number format: decimal comma, thousands point (3,63; 12.805); a dash for no value.

    Html already (digits, signs, points and commas need no escaping), and cached: the cards of a
    national cycle format ~300,000 numbers, mostly the same few hundred 2-decimal scores.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _DASH
    if value == 0:  # 0.0 and -0.0 are one cache key but print differently
        return Html(f"{value:,.{decimals}f}".translate(_ID_DIGITS))
    return _formatted(value, decimals)


@lru_cache(maxsize=1 << 16)
def _formatted(value: float | int, decimals: int) -> Html:
    return Html(f"{value:,.{decimals}f}".translate(_ID_DIGITS))


def percent(share: float | None, decimals: int = 1) -> str:
    return "–" if share is None else number(share * 100, decimals) + "%"


def signed(value: float | None) -> str:
    if value is None:
        return "–"
    return ("+" if value > 0 else "−" if value < 0 else "±") + number(abs(value))


def when(moment: datetime | str | None) -> str:
    """A moment in Jakarta time, e.g. '26 November 2024, 10.12 WIB'."""
    if moment is None:
        return "–"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    local = moment.astimezone(WIB)
    return f"{local.day} {MONTHS[local.month - 1]} {local.year}, {local:%H.%M} WIB"


def badge(code: str | None, label: str | None = None, zone: str | None = None) -> Html:
    """A predicate as a coloured badge with its label, e.g. [A-] Sangat Baik (label as tooltip only when short)."""
    if not code:
        return Html('<span class="muted">–</span>')
    tag = Html(f'<span class="badge zone-{h(zone or "none")}" title="{h(label)}">{h(code)}</span>')
    return Html(f'<span class="pred">{tag} {h(label)}</span>') if label else tag


def table(headers: Sequence[object], rows: Iterable[Sequence[object] | Html], *, numeric: Iterable[int] = (),
          widths: Sequence[int] = (), css: str = "") -> Html:
    """A table; columns in `numeric` are right-aligned, `widths` are percentages; cells are escaped
    unless Html; a row given as Html is a whole ready-made row (see `span_row`)."""
    right = tuple(numeric)
    cols = "<colgroup>" + "".join(f'<col style="width:{int(w)}%">' for w in widths) + "</colgroup>" if widths else ""
    fixed = " fixed" if widths else ""
    head = tr(headers, right, tag="th")
    body = "".join(row if isinstance(row, Html) else tr(row, right) for row in rows)
    return Html(f'<table class="{h(css)}{fixed}">{cols}<thead>{head}</thead><tbody>{body}</tbody></table>')


def tr(cells: Sequence[object], numeric: Sequence[int] = (), css: str = "", tag: str = "td") -> Html:
    """One table row; cells in `numeric` positions are right-aligned."""
    inner = "".join(f'<{tag} class="num">{h(v)}</{tag}>' if n in numeric else f"<{tag}>{h(v)}</{tag}>"
                    for n, v in enumerate(cells))
    return Html(f'<tr class="{h(css)}">{inner}</tr>' if css else f"<tr>{inner}</tr>")


def span_row(content: object, columns: int, css: str = "") -> Html:
    """One cell across the whole table: a group heading or a detail line."""
    return Html(f'<tr class="{h(css)}"><td colspan="{columns}">{h(content)}</td></tr>')


def empty(text: str) -> Html:
    return Html(f'<p class="empty">{h(text)}</p>')


def paragraph(text: object, css: str = "") -> Html:
    return Html(f'<p class="{h(css)}">{h(text)}</p>') if css else Html(f"<p>{h(text)}</p>")


def section(title: str, *parts: object, anchor: str = "") -> Html:
    ident = f' id="{h(anchor)}"' if anchor else ""
    return Html(f"<section{ident}><h2>{h(title)}</h2>{join(parts)}</section>")


def kpi(label: str, value: object, note: object = "", ident: str = "") -> Html:
    attr = f' id="{h(ident)}"' if ident else ""
    return Html(f'<div class="kpi"><div class="label">{h(label)}</div><div class="value"{attr}>{h(value)}</div>'
                f'<div class="note">{h(note)}</div></div>')


STYLE = """
@page { size: A4; margin: 14mm 12mm 16mm; }
:root { --ink:#1f2933; --muted:#5f6b7a; --line:#d5dbe3; --head:#eef3f8; }
* { box-sizing: border-box; }
body { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; color: var(--ink); font-size: 10.5pt;
       line-height: 1.4; margin: 0 auto; max-width: 186mm; padding: 10mm 4mm; background: #fff; }
header { border-bottom: 3px solid var(--ink); margin-bottom: 4mm; padding-bottom: 2mm; }
.eyebrow { text-transform: uppercase; letter-spacing: .06em; font-size: 8.5pt; color: var(--muted); margin: 0; }
h1 { font-size: 19pt; margin: 1mm 0; line-height: 1.2; }
h2 { font-size: 13pt; margin: 7mm 0 2.5mm; padding-bottom: 1mm; border-bottom: 1px solid var(--ink);
     break-after: avoid; }
h3 { font-size: 11pt; margin: 4mm 0 1.5mm; break-after: avoid; }
p { margin: 1.5mm 0; }
.meta, .note, .muted, figcaption { color: var(--muted); font-size: 8.5pt; }
.empty { font-style: italic; color: var(--muted); }
.warn { color: #b7410e; font-weight: 700; font-size: 8.5pt; }
table { border-collapse: collapse; width: 100%; font-size: 9pt; margin: 1.5mm 0 3mm; }
table.fixed { table-layout: fixed; }
td { overflow-wrap: anywhere; }
tr.group td { background: #f6f8fb; font-weight: 700; padding-top: 4px; border-bottom: 1px solid #b9c3cf; }
tr.detail td { border-bottom: 1px solid var(--line); padding: 0 5px 4px 18px; }
tr.has-detail td { border-bottom: none; }
.pred .badge { margin-right: 2px; }
thead { display: table-header-group; }
tr { break-inside: avoid; }
th, td { border-bottom: 1px solid var(--line); padding: 2.5px 5px; text-align: left; vertical-align: top; }
th { background: var(--head); font-weight: 700; }
.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
th.num { white-space: normal; }
.kpis { display: grid; grid-template-columns: repeat(4, 1fr); gap: 3mm; margin: 3mm 0; }
.kpi { border: 1px solid var(--line); border-radius: 2mm; padding: 2.5mm 3mm; break-inside: avoid; }
.kpi .label { font-size: 8.5pt; color: var(--muted); }
.kpi .value { font-size: 20pt; font-weight: 700; line-height: 1.15; }
.kpi .note { min-height: 1em; }
.badge { display: inline-block; min-width: 2.2em; text-align: center; padding: 0 4px; border-radius: 3px;
         color: #fff; font-weight: 700; font-size: 8.5pt; background: #777; }
.zone-hijau { background: #2e7d32; } .zone-kuning { background: #b7791f; } .zone-merah { background: #c62828; }
figure { margin: 2mm 0 3mm; break-inside: avoid; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-family: "Liberation Sans", "DejaVu Sans", Arial, sans-serif; fill: #1f2933; }
.examples { margin: 0; padding-left: 1.1em; }
.examples li { margin: 0 0 1px; }
code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; background: #f3f5f8; padding: 0 2px; }
footer { margin-top: 8mm; border-top: 1px solid var(--line); padding-top: 2mm; }
a { color: #1f4e8c; }
.provisional-mark { position: fixed; top: 40%; left: 0; right: 0; text-align: center; z-index: 10;
  font-size: 86pt; font-weight: 700; letter-spacing: .12em; color: rgba(198, 40, 40, .13);
  transform: rotate(-30deg); pointer-events: none; }
.provisional { border: 2px solid #c62828; color: #8e1b1b; background: #fdecea; padding: 2mm 3mm;
  margin: 0 0 3mm; font-size: 9.5pt; }
.signature { margin: 10mm 0 0 auto; width: 78mm; break-inside: avoid; font-size: 10pt; }
.signature p { margin: 0 0 1mm; }
.signature .space { height: 22mm; }
.signature .name { font-weight: 700; text-decoration: underline; }
@media print {
  body { padding: 0; max-width: none; }
  a { color: inherit; text-decoration: none; }
  section { break-inside: auto; }
}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def page(title: str, header: object, *parts: object) -> str:
    """A complete, self-contained page: no script may run and nothing is fetched."""
    return (
        "<!doctype html>\n<html lang=\"id\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{h(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>{h(header)}{join(parts)}</body></html>\n"
    )


# ---------------------------------------------------------------- charts (inline SVG)

@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None
    text: str
    colour: str = NEUTRAL_COLOUR
    marker: float | None = None


def zone_colour(zone: str | None) -> str:
    return ZONE_COLOURS.get(zone or "", NEUTRAL_COLOUR)


def nice_ticks(maximum: float, steps: int = 5) -> list[float]:
    """Round tick values from 0 covering `maximum` (1, 2 or 5 times a power of ten apart)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw = maximum / steps
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    return [step * n for n in range(math.ceil(maximum / step - 1e-9) + 1)]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def bar_chart(bars: Sequence[Bar], *, title: str, axis_label: str, ticks: Sequence[float], tick_decimals: int = 0,
              marker_label: str | None = None) -> Html:
    """A horizontal bar chart; bar values, tick labels and the title are text in the SVG (readable, printable)."""
    width, label_w, value_w, row_h, bar_h, top = 700, 280, 100, 24, 16, 6
    plot_w = width - label_w - value_w
    maximum = max(ticks[-1], 1e-9)
    axis_y = top + row_h * len(bars) + 2
    height = axis_y + (50 if marker_label else 36)
    ident = "c" + hashlib.sha1(title.encode()).hexdigest()[:8]

    def x(value: float) -> float:
        return label_w + plot_w * min(max(value, 0.0), maximum) / maximum

    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="{ident}" '
           f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
           f'<title id="{ident}">{h(title)}</title>']
    for tick in ticks:
        out.append(f'<line x1="{x(tick):.1f}" x2="{x(tick):.1f}" y1="{top - 2}" y2="{axis_y}" '
                   'stroke="#d5dbe3" stroke-width="1"/>')
        out.append(f'<text x="{x(tick):.1f}" y="{axis_y + 13}" font-size="10" text-anchor="middle">'
                   f"{h(number(tick, tick_decimals))}</text>")
    out.append(f'<line x1="{label_w}" x2="{label_w}" y1="{top - 2}" y2="{axis_y}" stroke="#5f6b7a"/>')
    for n, bar in enumerate(bars):
        y = top + n * row_h
        out.append(f'<text x="{label_w - 8}" y="{y + bar_h - 4}" font-size="11" text-anchor="end">'
                   f"<title>{h(bar.label)}</title>{h(_clip(bar.label, 46))}</text>")
        end = label_w
        if bar.value is not None:
            end = x(bar.value)
            out.append(f'<rect x="{label_w}" y="{y}" width="{end - label_w:.1f}" height="{bar_h}" '
                       f'fill="{h(bar.colour)}" rx="2"/>')
        out.append(f'<text x="{end + 5:.1f}" y="{y + bar_h - 4}" font-size="11" font-weight="700">'
                   f"{h(bar.text)}</text>")
        if bar.marker is not None:
            out.append(f'<line x1="{x(bar.marker):.1f}" x2="{x(bar.marker):.1f}" y1="{y - 3}" y2="{y + bar_h + 3}" '
                       'stroke="#111" stroke-width="2.5"/>')
    out.append(f'<text x="{label_w + plot_w / 2:.1f}" y="{axis_y + 28}" font-size="10.5" text-anchor="middle" '
               f'font-style="italic">{h(axis_label)}</text>')
    if marker_label:
        out.append(f'<line x1="{label_w}" x2="{label_w}" y1="{axis_y + 36}" y2="{axis_y + 48}" stroke="#111" '
                   f'stroke-width="2.5"/><text x="{label_w + 6}" y="{axis_y + 46}" font-size="10">'
                   f"{h(marker_label)}</text>")
    out.append("</svg>")
    return Html(f"<figure>{''.join(out)}</figure>")


def formatted(values: pl.Series, decimals: int = 2) -> pl.Series:
    """`number()` of every value, as text: computed once per distinct value (scores repeat a lot).

    Keyed by the value's shortest round-trip spelling, so every distinct float (-0.0 included) keeps
    its own text; null gives the dash, as `number(None)` does.
    """
    text = values.cast(pl.String)
    parse = float if values.dtype.is_float() else int
    mapping = {t: str(number(parse(t), decimals)) for t in text.drop_nulls().unique().to_list()}
    return text.replace_strict(mapping, default=str(_DASH), return_dtype=pl.String).fill_null(str(_DASH))


def escaped(values: pl.Series) -> pl.Series:
    """`h()` of every value of a text column (html.escape with quotes; null becomes empty)."""
    return values.cast(pl.String).fill_null("").str.replace_many(
        ["&", "<", ">", '"', "'"], ["&amp;", "&lt;", "&gt;", "&quot;", "&#x27;"])
