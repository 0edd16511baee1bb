"""`pekppp demo`: a synthetic past cycle (2023) and open cycle (2024), run through the real flows.

Generated bundles carry their upload time inside their cycle, so the closed 2023 cycle accepts
them when the nightly job is run for it explicitly; 2024 is the open cycle the scheduler runs.
"""

from __future__ import annotations

from flows.settings import Places, load_methodology

DEMO_CYCLES = ("2023", "2024")
# Enough respondents that most units meet the Krejcie-Morgan sample their award eligibility needs.
DEMO_SIZE = {"regions": 8, "units": 8, "respondents": 380, "bad_rate": 0.15}


def run_demo(places: Places) -> list[dict]:
    """Generate both cycles into the landing zone (once), run the flows, return the summaries."""
    from flows.generate import generate_cycle
    from flows.nightly import nightly

    for cycle in DEMO_CYCLES:
        if not (places.landing / cycle).exists():
            generate_cycle(cycle, places.landing, seed=2024, methodology=load_methodology(cycle), **DEMO_SIZE)
    summaries = []
    for cycle in DEMO_CYCLES:
        summaries += nightly(cycle=cycle, landing=str(places.landing), warehouse=str(places.warehouse))
    return summaries
