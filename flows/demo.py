"""`pekppp demo`: a synthetic past cycle (2023) and open cycle (2024), run through the real flows.

Generated bundles carry their upload time inside their cycle, so the closed 2023 cycle accepts
them when the nightly job is run for it explicitly; 2024 is the open cycle the scheduler runs.
"""

from __future__ import annotations

from pathlib import Path

from flows.settings import Places, load_methodology

DEMO_CYCLES = ("2023", "2024")
# Enough respondents that most units meet the Krejcie-Morgan sample their award eligibility needs.
# A yearly trend per region (sd 0.06 of the score range, about 0.3 IPP points): 2024 differs from 2023,
# some regions improve and some fall, and the most-improved award has units to honour.
# The Ombudsman's compliance feed beside PEKPPP (issue 20): both verdicts on the cards, some disagreeing.
DEMO_SIZE = {"regions": 8, "kl": 3, "units": 8, "respondents": 380, "bad_rate": 0.15, "trend": 0.06,
             "ombudsman": True}


def run_demo(places: Places) -> tuple[list[dict], Path]:
    """Generate both cycles (once), run the flows (which write reports), load DuckDB; summaries and DB path."""
    from flows.generate import generate_cycle
    from flows.nightly import nightly
    from flows.warehouse_db import load_duckdb

    for cycle in DEMO_CYCLES:
        if not (places.landing / cycle).exists():
            generate_cycle(cycle, places.landing, seed=2024, methodology=load_methodology(cycle), **DEMO_SIZE)
    summaries = []
    for cycle in DEMO_CYCLES:
        summaries += nightly(cycle=cycle, landing=str(places.landing), warehouse=str(places.warehouse))
    database = places.warehouse.with_suffix(".duckdb")
    load_duckdb(places.warehouse, database)
    return summaries, database
