"""A synthetic Ombudsman compliance feed for `pekppp generate --ombudsman` and the demo (issue 20).

One row per generated body: the four dimension scores (0-100, 2 decimals) following the body's latent
quality, so the two verdicts mostly agree, with a few bodies drawn against it and the best body put in
the red zone, so the cycle report has disagreements to show (when that body's predicate is A or A-);
about half the bodies' DINSOS unit gets a final-score-only row, as the Ombudsman publishes some.
With a bad rate, three bad rows are added: an unknown body code, a dimension above 100 and a final score
that disagrees with its dimensions. Written as `<out>/<cycle>/_ombudsman/<bundle>/compliance.csv`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from transforms.methodology import COMPLIANCE_DIMENSIONS
from transforms.schemas import OMBUDSMAN_FEED

FEED_SEED_PART = 20                  # the feed's own random stream: the bodies' data stays as it was
DISCORDANT_SHARE = 0.2               # bodies whose compliance is drawn against their PEKPPP quality
DIMENSION_SD = 6.0                   # spread of one dimension around the body's level (points of 100)
FLOOR, SPAN = 30.0, 70.0             # a body of latent quality q scores about FLOOR + SPAN * q
UNKNOWN_BODY = "99.99"               # a code no reference list holds
OUT_OF_RANGE = 104.5
RED_LEVEL = 40.0                     # the best body's compliance level: well inside the red zone (D)


@dataclass(frozen=True)
class FeedBody:
    """A generated body with its latent quality (mean of its units', share of the score range)."""

    code: str
    name: str
    quality: float


def compliance_rows(bodies: Sequence[FeedBody], *, cycle: str, seed: int, bad_rows: bool
                    ) -> tuple[pl.DataFrame, dict[str, tuple[int, ...]]]:
    """The feed's table and its deliberate bad rows (kind -> source rows, header = row 1)."""
    rng = np.random.default_rng([seed, int(cycle) if cycle.isdigit() else 0, FEED_SEED_PART])
    rows: list[dict[str, object]] = []
    best = max(bodies, key=lambda b: b.quality).code if len(bodies) > 1 else None
    for body in bodies:
        quality = body.quality if rng.random() >= DISCORDANT_SHARE else 1.0 - body.quality
        level = FLOOR + SPAN * quality
        if body.code == best:  # the story the report tells: the best PEKPPP body in the Ombudsman's red zone
            level = RED_LEVEL
        values = np.clip(np.round(rng.normal(level, DIMENSION_SD, len(COMPLIANCE_DIMENSIONS)), 2), 0, 100)
        rows.append({"body_code": body.code, "unit_id": None, "unit_name": body.name,
                     **dict(zip(COMPLIANCE_DIMENSIONS, values.tolist(), strict=True)), "score": None})
        if rng.random() < 0.5:  # the Ombudsman publishes some units' final scores alone
            rows.append({"body_code": body.code, "unit_id": f"{body.code}-DINSOS-01",
                         "unit_name": f"Dinas Sosial {body.name}", **dict.fromkeys(COMPLIANCE_DIMENSIONS),
                         "score": float(np.clip(np.round(rng.normal(level, DIMENSION_SD), 2), 0, 100))})
    injected: dict[str, tuple[int, ...]] = {}
    if bad_rows and rows:
        first = len(rows) + 2
        rows.append({"body_code": UNKNOWN_BODY, "unit_id": None, "unit_name": "Badan tidak dikenal",
                     **dict.fromkeys(COMPLIANCE_DIMENSIONS, 80.0), "score": None})
        rows.append({**rows[0], "body_code": bodies[-1].code, "unit_id": "X-RANGE", "input": OUT_OF_RANGE})
        rows.append({**rows[0], "unit_id": "X-MISMATCH", "score": 1.0})
        injected = {"unknown_body": (first,), "dimension_out_of_range": (first + 1,), "score_mismatch": (first + 2,)}
    schema = {"body_code": pl.String, "unit_id": pl.String, "unit_name": pl.String,
              **dict.fromkeys(COMPLIANCE_DIMENSIONS, pl.Float64), "score": pl.Float64}
    return pl.DataFrame(rows, schema=schema), injected


def feed_folder(out: Path, cycle: str, bundle: str) -> Path:
    """Where a feed bundle goes: `<out>/<cycle>/_ombudsman/<bundle>/`."""
    return out / cycle / OMBUDSMAN_FEED / bundle
