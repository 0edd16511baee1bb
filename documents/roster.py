"""The award roster's printable page (HTML, and the PDF printed from it): the release's roster for the committee,
rendered here; flows/rosters.py reads it and writes this page beside the CSV and XLSX."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from documents.blocks import Signatory, left_out_block, provisional_mark, roster_blocks, signature_block
from documents.cycle_data import Published
from documents.kit import Html, h, page, when
from transforms import report_data
from transforms.methodology import Methodology


@dataclass(frozen=True)
class Roster:
    """A cycle's award roster for people, from one release (`flows.rosters.read_roster`)."""

    view: pl.DataFrame
    methodology: Methodology
    published: Published
    left_out: pl.DataFrame
    """Units an award could honour by predicate that are not eligible, with `ineligible_reason`."""


def roster_page(roster: Roster, cycle: str, signer: Signatory) -> str:
    """The roster as a self-contained page grouped by award and unit type, printable on A4, signed by `signer`."""
    title = f"Daftar Penerima Penghargaan PEKPPP {cycle}"
    manifest = roster.published.manifest or {}
    header = Html(
        "<header><p class=\"eyebrow\">Pemantauan dan Evaluasi Kinerja Penyelenggaraan Pelayanan Publik</p>"
        f"<h1>{h(title)}</h1><p class=\"meta\">Siklus {h(cycle)} · {h(roster.methodology.regulation)} · rilis "
        f"{h(roster.published.release_id or '–')} ({h(when(manifest.get('created_at')))})</p></header>")
    footer = Html(f'<footer><p class="meta">Peringkat: urutan dalam penghargaan dan jenis unit (peringkat '
                  "kompetisi 1224 pada nilai 2 desimal yang dipublikasikan). Aturan penghargaan dari metodologi "
                  f"{h(Path(roster.methodology.source).name)}.</p></footer>")
    uncovered = report_data.regions_left_out(roster.published["region_scores"].lazy(), roster.methodology).collect()
    left = left_out_block(roster.left_out, roster.methodology, heading="h2", regions=uncovered)
    return page(title, header, provisional_mark(roster.methodology),
                roster_blocks(roster.view, roster.methodology, heading="h2"), left, signature_block(signer), footer)
