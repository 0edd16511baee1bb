"""Benchmark helpers for validation speed (moved out of expectations/runner.py: dev tools, not production).

`synthetic_bundle` builds a typed bundle as the reader gives it; `validate_speed` times the runner's
`validate_tables` on it (`make bench` contender `validate-speed`; tests/expectations use both).
"""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass

import polars as pl

from expectations.runner import validate_tables
from expectations.suites import warm_up
from transforms.methodology import Methodology
from transforms.schemas import BAD, ROW


@dataclass(frozen=True)
class SpeedReport:
    """One timed `validate_tables` run over a synthetic bundle (`seconds` excludes GE's import)."""

    rows: int
    seconds: float
    rows_per_second: float
    issues: int
    peak_rss_mb: float


SYNTHETIC_REGION = "35.78"
_SCRAMBLE = (2_654_435_761, 1_000_003)  # Knuth's multiplicative hash, modulo a prime: spreads row numbers
_UNANSWERED_EVERY = 37  # roughly one answer in 37 left empty, as respondents skip questions


def synthetic_bundle(n_rows: int, methodology: Methodology, *, region_code: str = SYNTHETIC_REGION,
                     respondents_per_unit: int = 400, bad_share: float = 0.01,
                     seed: int = 0) -> dict[str, pl.DataFrame]:
    """A typed bundle as the reader gives it, with `n_rows` survey responses and a share of bad ones.

    Every unit is fully scored; a `bad_share` of survey rows get an answer above the cycle's range or a
    date after its window, so the failing-row path is exercised too. Deterministic for a `seed`.
    """
    survey = methodology.survey
    n_units = max(1, n_rows // respondents_per_unit)
    unit_ids = [f"U{n:06d}" for n in range(n_units)]
    units = pl.DataFrame({
        "unit_id": unit_ids,
        "unit_name": [f"Unit {n}" for n in range(n_units)],
        "unit_type": [methodology.unit_types[n % len(methodology.unit_types)] for n in range(n_units)],
        "region_code": [region_code] * n_units,
        "annual_service_users": [None] * n_units,
    }, schema={"unit_id": pl.String, "unit_name": pl.String, "unit_type": pl.String, "region_code": pl.String,
               "annual_service_users": pl.Int64})
    codes = methodology.indicator_codes
    evaluations = pl.DataFrame({"unit_id": unit_ids}).join(pl.DataFrame({"indicator_code": codes}), how="cross")
    evaluations = evaluations.with_columns(score=pl.lit(methodology.score_max, pl.Int64),
                                           evaluator_id=pl.lit("E1"), evidence=pl.lit(None, pl.String))
    window_days = (survey.window_end - survey.window_start).days + 1
    position = pl.int_range(n_rows, dtype=pl.Int64)
    multiplier, modulus = _SCRAMBLE
    spread = (position * multiplier + seed) % modulus
    is_bad = spread < int(bad_share * modulus)
    late = is_bad & (spread % 2 == 0)  # half the bad rows: a date after the window
    out_of_range = is_bad & (spread % 2 == 1)  # the other half: the first element's answer too high
    answer = spread % (survey.answer_max - survey.answer_min + 1) + survey.answer_min

    def element(k: int) -> pl.Expr:
        given = pl.when((spread + k) % _UNANSWERED_EVERY == 0).then(None).otherwise(answer)
        return (pl.when(out_of_range).then(survey.answer_max + 1).otherwise(given) if k == 0 else given).cast(pl.Int8)

    responses = pl.select(
        unit_id=pl.lit(pl.Series(unit_ids)).gather(position % n_units),
        respondent_id=pl.format("R{}", position),
        survey_date=(pl.lit(survey.window_start) + pl.duration(days=spread % window_days)
                     + pl.duration(days=pl.when(late).then(window_days).otherwise(0))).cast(pl.Date),
        **{code: element(k) for k, code in enumerate(survey.element_codes)},
    )
    frames = {"units": units, "evaluations": evaluations, "skm_responses": responses}
    return {t: f.with_columns(pl.int_range(2, f.height + 2, dtype=pl.Int64).alias(ROW), pl.lit(False).alias(BAD))
            for t, f in frames.items()}


def validate_speed(n_rows: int, methodology: Methodology, *, bad_share: float = 0.01,
                   seed: int = 0) -> SpeedReport:
    """Time `validate_tables` on a synthetic bundle with `n_rows` survey rows (for benchmarks).

    GE's import and context are built before the clock starts; `peak_rss_mb` is the process's peak
    resident memory so far (Linux), an upper bound on what validation needed.
    """
    warm_up()
    bundle = synthetic_bundle(n_rows, methodology, bad_share=bad_share, seed=seed)
    started = time.perf_counter()
    outcome = validate_tables(bundle, methodology, SYNTHETIC_REGION)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return SpeedReport(rows=n_rows, seconds=seconds, rows_per_second=n_rows / seconds if seconds else 0.0,
                       issues=outcome.issues.height, peak_rss_mb=peak_mb)
