"""Blocks several pages share (the SEMENTARA mark, the signature, predicate badges, the award roster, the
release's provenance): one rendering each, so the cycle report, the cards and the roster page say it alike.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from documents.kit import Html, badge, empty, h, join, number, paragraph, signed, span_row, table, tr, when
from transforms import report_data
from transforms.methodology import Methodology

if TYPE_CHECKING:
    from documents.cycle_data import CycleData

STATUS_LABELS = {"scored": "dinilai", "incomplete": "tidak lengkap", "too_many_evaluators": "evaluator melebihi batas"}
BUNDLE_LABELS = {"accepted": "Diterima", "rejected": "Ditolak", "superseded": "Digantikan", "late": "Terlambat"}


SEVERITY_LABELS = {"critical": "Kritis (berkas ditolak)", "row": "Baris disisihkan", "warning": "Peringatan"}
SAFE_FILE_NAME = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,63}$")


PROVISIONAL = "SEMENTARA"


def provisional_mark(methodology: Methodology) -> Html:
    """For an open cycle: "SEMENTARA" across every printed page (a fixed element repeats on each page)
    and a banner saying why; nothing for a closed cycle."""
    if not methodology.is_open:
        return Html("")
    return Html(f'<div class="provisional-mark" aria-hidden="true">{PROVISIONAL}</div>'
                f'<p class="provisional"><b>{PROVISIONAL}</b> · Siklus {h(methodology.cycle)} masih terbuka: '
                "angka dapat berubah sampai siklus ditutup. Bukan dokumen final.</p>")


@dataclass(frozen=True)
class Signatory:
    """Who signs the cycle report and the award roster: `PEKPPP_SIGNATORY="place|position|name|NIP"`.

    Unset, the pages keep an empty signature block to fill in by hand (place, date, position, name).
    """

    place: str = ""
    position: str = ""
    name: str = ""
    identifier: str = ""


def signature_block(signer: Signatory) -> Html:
    """The signature block of a page the committee signs (`flows.settings.signatory()` reads it from
    `PEKPPP_SIGNATORY`); dotted lines to fill in by hand for what it leaves out."""
    blank = "…" * 12
    return Html(
        '<div class="signature">'
        f"<p>{h(signer.place or blank)}, {h(blank)}</p>"
        f"<p>{h(signer.position or blank)}</p><div class=\"space\"></div>"
        f'<p class="name">{h(signer.name or blank)}</p><p>{h(signer.identifier or "NIP " + blank)}</p></div>')


def ipp_ticks(methodology: Methodology) -> list[float]:
    return [float(v) for v in range(methodology.score_min, methodology.score_max + 1)]


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
