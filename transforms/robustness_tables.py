"""The robustness engine's published tables: its counts over the draws as `unit_robustness` and `region_robustness`.

The draws (`transforms/robustness.py`) count, per unit and body and per scenario, how often the predicate and
each award held; here those counts become probabilities, rank intervals, drivers (the source that alone
moves a result most) and the rows of the declared schemas.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.methodology import Methodology, Robustness
from transforms.schemas import REGION_ROBUSTNESS, UNIT_ROBUSTNESS, TableSpec

SOURCES = ("evaluators", "survey", "weights")
SCENARIOS = ("all", *SOURCES)
"""`all`: every source at once (the published probabilities); the others: one source alone (the driver)."""
PERCENTILES = (0.05, 0.95)


@dataclass
class Tally:
    """Counts over draws per subject (unit or region): predicate held and each award held, per scenario."""

    predicate: dict[str, np.ndarray]
    awards: dict[tuple[str, str], np.ndarray]


@dataclass(frozen=True)
class RobustnessTables:
    units: pl.DataFrame
    regions: pl.DataFrame


def _interval(ranks: np.ndarray, published: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """5th and 95th percentile of the drawn ranks (actual ranks: inverted CDF), widened to hold the published."""
    if ranks.shape[1] == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    low, high = np.quantile(ranks, PERCENTILES, axis=0, method="inverted_cdf")
    return np.minimum(low, published).astype(np.int64), np.maximum(high, published).astype(np.int64)


def _probability(count: np.ndarray, draws: int) -> np.ndarray:
    return count / draws


def _driver(p: dict[str, float]) -> str | None:
    """The source that alone moves the result most (lowest probability alone); `combined` when none alone does."""
    if p["all"] >= 1.0:
        return None
    alone = min(SOURCES, key=lambda s: (p[s], SOURCES.index(s)))
    return alone if p[alone] < 1.0 else "combined"


def _award_details(tally: Tally, held: dict[str, np.ndarray], n: int, draws: int,
                   threshold: float) -> list[tuple[str, list[str], list[str], str | None]]:
    """Per subject: JSON of the awards it holds or could hold, the held ones below the threshold, their
    drivers, and the driver of the least robust held award (None when every held award holds in every draw).

    Probabilities are divided and rounded on arrays (`np.round`, as a NumPy scalar's `round` does); only
    subjects holding or drawing some award are looked at one by one.
    """
    per_code = {}
    relevant = np.zeros(n, dtype=bool)
    for code, published in held.items():
        p = {s: tally.awards[(s, code)] / draws for s in SCENARIOS}
        per_code[code] = (published.tolist(), {s: p[s].tolist() for s in SCENARIOS},
                          {s: np.round(p[s], 6).tolist() for s in SCENARIOS})
        relevant |= published | (tally.awards[("all", code)] > 0)
    out: list[tuple[str, list[str], list[str], str | None]] = []
    for row in range(n):
        details, weak, drivers = {}, [], []
        least: tuple[float, str | None] = (1.0, None)
        if relevant[row]:
            for code, (published, plain, rounded) in per_code.items():
                p = {s: plain[s][row] for s in SCENARIOS}
                if not published[row] and p["all"] == 0:
                    continue
                driver = _driver(p) if published[row] else None  # what could take a held award away
                details[code] = {"holds": bool(published[row]), "p": rounded["all"][row],
                                 **{s: rounded[s][row] for s in SOURCES}, "driver": driver}
                if published[row] and p["all"] < threshold:
                    weak.append(code)
                    drivers.append(driver or "combined")
                if published[row] and p["all"] < least[0]:
                    least = (p["all"], driver)
        out.append((json.dumps(details, separators=(",", ":")), weak, drivers, least[1]))
    return out


def unit_table(frame: pl.DataFrame, evaluator_draw: np.ndarray, tally: Tally, ranks: np.ndarray,
               held: dict[str, np.ndarray], methodology: Methodology, settings: Robustness, draws: int,
               survey_rows: np.ndarray, mutu_held: np.ndarray, ikm_cents: np.ndarray) -> pl.DataFrame:
    """The `unit_robustness` rows: the scored units (`frame`, in UNIT_KEY order) and their counts over the draws;
    `evaluator_draw` says per unit how its evaluators were drawn (resample, perturbation or none)."""
    n = frame.height
    rank_low, rank_high = _interval(ranks, frame["rank_in_type"].to_numpy())
    details = _award_details(tally, held, n, draws, settings.threshold)
    p_pred = {s: _probability(tally.predicate[s], draws) for s in SCENARIOS}
    predicate_driver = [_driver({s: float(p_pred[s][row]) for s in SCENARIOS}) for row in range(n)]
    ikm_low = np.full(n, np.nan)
    ikm_high = np.full(n, np.nan)
    p_mutu = np.full(n, np.nan)
    if survey_rows.size:
        low, high = np.quantile(ikm_cents, PERCENTILES, axis=0, method="inverted_cdf")
        ikm_low[survey_rows], ikm_high[survey_rows] = low / 100, high / 100
        p_mutu[survey_rows] = mutu_held / draws
    return pl.DataFrame({
        "cycle": [methodology.cycle] * n,
        "region_code": frame["region_code"], "unit_id": frame["unit_id"], "unit_type": frame["unit_type"],
        "draws": [draws] * n, "seed": [settings.seed] * n, "evaluator_draw": evaluator_draw.astype(str).tolist(),
        "predicate": frame["predicate"],
        "p_predicate": p_pred["all"],
        **{f"p_predicate_{s}": p_pred[s] for s in SOURCES},
        "award_probabilities": [d[0] for d in details],
        "awards_not_robust": [",".join(d[1]) or None for d in details],
        "not_robust_drivers": [",".join(d[2]) or None for d in details],
        "driver": [d[3] or predicate_driver[row] for row, d in enumerate(details)],
        "rank_in_type": frame["rank_in_type"], "rank_low": rank_low, "rank_high": rank_high,
        "ikm": frame["ikm"] if "ikm" in frame.columns else [None] * n,
        "ikm_low": ikm_low, "ikm_high": ikm_high, "p_mutu": p_mutu,
    }, strict=False).with_columns(pl.col("ikm_low", "ikm_high", "p_mutu").fill_nan(None))


def region_table(frame: pl.DataFrame, tally: Tally, ranks: np.ndarray, held: dict[str, np.ndarray],
                 methodology: Methodology, settings: Robustness, draws: int) -> pl.DataFrame:
    """The `region_robustness` rows: the bodies (`frame`, by region code) and their counts over the draws."""
    n = frame.height
    rank_low, rank_high = _interval(ranks, frame["rank"].fill_null(0).to_numpy())
    details = _award_details(tally, held, n, draws, settings.threshold)
    p_pred = {s: _probability(tally.predicate[s], draws) for s in SCENARIOS}
    predicate_driver = [_driver({s: float(p_pred[s][row]) for s in SCENARIOS}) for row in range(n)]
    return pl.DataFrame({
        "cycle": [methodology.cycle] * n,
        "region_code": frame["region_code"], "category": frame["category"],
        "draws": [draws] * n, "seed": [settings.seed] * n,
        "predicate": frame["predicate"],
        "p_predicate": p_pred["all"],
        **{f"p_predicate_{s}": p_pred[s] for s in SOURCES},
        "award_probabilities": [d[0] for d in details],
        "awards_not_robust": [",".join(d[1]) or None for d in details],
        "not_robust_drivers": [",".join(d[2]) or None for d in details],
        "driver": [d[3] or predicate_driver[row] for row, d in enumerate(details)],
        "rank": frame["rank"], "rank_low": rank_low, "rank_high": rank_high,
    }, strict=False)


def empty_tables() -> RobustnessTables:
    """No rows (a methodology without `[robustness]`, or nothing scored), in the declared schemas."""
    def empty(spec: TableSpec) -> pl.DataFrame:
        return pl.DataFrame(schema=spec.polars_schema).drop("release_id")

    return RobustnessTables(empty(UNIT_ROBUSTNESS), empty(REGION_ROBUSTNESS))




def as_release_tables(tables: RobustnessTables) -> dict[str, pl.DataFrame]:
    """The engine's tables under their release table names."""
    return {"unit_robustness": tables.units, "region_robustness": tables.regions}
