"""The robustness draws' exact arithmetic: half-up cents of integer arrays, the F-03 blend of a drawn F-02 IPP,
and bodies' means of units whose exact values have their own denominators."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms import unit_streams
from transforms.methodology import Methodology
from transforms.rounding import CENTS, half_up_cents, half_up_cents_of_mean

F03_PRECISION = 10_000
"""A drawn F-03 mean (a continuous value) is written as an integer over this before the blend."""
INT64_SAFE = (2**63 - 1) // (4 * CENTS)
"""Largest |numerator| and denominator whose `half_up_cents` cannot overflow int64 (200·num + den)."""


def cents_of(num: np.ndarray, den: np.ndarray | int) -> np.ndarray:
    """`rounding.half_up_cents` of integer arrays (any shape), as an int64 array.

    The same floor((200·num + den) / (2·den)) in NumPy's int64 when it cannot overflow (the draws' sums
    stay below 10^13), else through the Int128 expression itself.
    """
    dens = np.asarray(den, dtype=np.int64)
    if num.size == 0 or (int(np.abs(num).max()) <= INT64_SAFE and int(dens.max()) <= INT64_SAFE):
        return (num.astype(np.int64) * (2 * CENTS) + dens) // (2 * dens)
    flat = pl.Series("num", num.reshape(-1), dtype=pl.Int64)
    dens = pl.Series("den", np.broadcast_to(den, num.shape).reshape(-1), dtype=pl.Int64)
    out = pl.DataFrame([flat, dens]).select(half_up_cents(pl.col("num"), pl.col("den")))
    return out.to_series().to_numpy().reshape(num.shape)


@dataclass(frozen=True)
class Blend:
    """A cycle blending F-03: each unit's IPP is (f02 · num + add) / den, `num` its drawn F-02 numerator over
    `unit_den`, its F-03 mean (`f03_sum / n_f03_answers`) held as published in every draw."""

    f02: np.ndarray
    add: np.ndarray
    den: np.ndarray
    answered: np.ndarray
    """Units with F-03 answers (the others keep their F-02 IPP: `without_f03 = "f02_only"`)."""


def blend_of(units: pl.DataFrame, methodology: Methodology, unit_den: int) -> Blend | None:
    """The blend's integers per row of `units` (scored `unit_scores` rows): `transforms.f03_scores.blended_ipp`'s
    fraction over the draws' `unit_den`, reduced by the weights' common factor; None when the cycle does not blend.

    A unit without F-03 answers that is scored keeps its F-02 IPP (`without_f03 = "f02_only"`; under
    `"not_scored"` it is not a scored unit and not drawn).
    """
    if not methodology.f03_enabled:
        return None
    f02_weight, f03_weight = methodology.f03_weights
    common = math.gcd(f02_weight, f03_weight, 100)
    n = units["n_f03_answers"].fill_null(0).cast(pl.Int64).to_numpy()
    total = units["f03_sum"].fill_null(0).cast(pl.Int64).to_numpy()
    if n.size and int(n.max()) * (100 // common) * unit_den * methodology.score_max >= 2**63:
        raise ValueError(f"{int(n.max())} F-03 answers for one unit: the draws' blend would pass int64")
    answered = n > 0
    return Blend(f02=np.where(answered, (f02_weight // common) * n, 1),
                  add=np.where(answered, (f03_weight // common) * total * unit_den, 0),
                  den=np.where(answered, (100 // common) * unit_den * n, unit_den), answered=answered)


def blended(num: np.ndarray, blend: Blend) -> np.ndarray:
    """Numerators (draws, units) of the blend: f02 · num + add (`add` per unit, or per draw and unit)."""
    add = blend.add if blend.add.ndim == 2 else blend.add[None, :]
    return num * blend.f02[None, :] + add


def unit_cents(num: np.ndarray, blend: Blend | None, unit_den: int) -> np.ndarray:
    """Half-up cents of drawn F-02 numerators (draws, units), blended with F-03 when the cycle does."""
    if blend is None:
        return cents_of(num, unit_den)
    return cents_of(blended(num, blend), blend.den[None, :])


def drawn_blend(published: Blend, mean: np.ndarray, sd: np.ndarray, keys: np.ndarray, first: int, draws: int,
                methodology: Methodology, unit_den: int) -> Blend:
    """The blend with each unit's F-03 mean drawn (draws first..): mean + sd·z from the unit's own stream, inside
    the score range, written over F03_PRECISION; a unit without F-03 answers, or without spread, keeps its
    published terms."""
    f02_weight, f03_weight = methodology.f03_weights
    common = math.gcd(f02_weight, f03_weight, 100)
    drawn = published.answered & (sd > 0)  # no spread (one respondent): the published terms, exactly
    value = np.clip(np.nan_to_num(mean)[None, :] + unit_streams.normals(keys, first, draws) * sd[None, :],
                    methodology.score_min, methodology.score_max)
    total = np.rint(value * F03_PRECISION).astype(np.int64)
    return Blend(f02=np.where(drawn, (f02_weight // common) * F03_PRECISION, published.f02),
                 add=np.where(drawn[None, :], (f03_weight // common) * total * unit_den, published.add[None, :]),
                 den=np.where(drawn, (100 // common) * unit_den * F03_PRECISION, published.den),
                 answered=published.answered)


def body_cents_of_fractions(num: np.ndarray, den: np.ndarray, starts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Half-up cents of each body's Σ w·num/den / Σ w per draw, for units with their own denominators (a blend).

    A float mean (the units' exact values are below 2^53 apart at this scale: error < 10^-9 cent), and the
    release's exact `rounding.half_up_cents_of_mean` for every cell within 10^-6 cent of a half cent, where the
    float could round the other way. A body whose weights sum to 0 gets 0, as the shared-denominator path.
    """
    draws = num.shape[0]
    if starts.size == 0:
        return np.zeros((draws, 0), dtype=np.int64)
    share = weights.astype(np.float64)
    total = np.add.reduceat(share, starts)
    with np.errstate(invalid="ignore", divide="ignore"):
        scaled = np.add.reduceat(num / den[None, :] * share[None, :], starts, axis=1) / total[None, :] * CENTS
    cents = np.where(total[None, :] > 0, np.floor(scaled + 0.5), 0).astype(np.int64)
    ends = np.append(starts[1:], num.shape[1])
    near = np.argwhere((total[None, :] > 0) & (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6))
    if near.size:
        rows = [{"nums": num[d, starts[g]:ends[g]].tolist(), "dens": den[starts[g]:ends[g]].tolist(),
                 "weights": weights[starts[g]:ends[g]].tolist()} for d, g in near]
        cents[near[:, 0], near[:, 1]] = half_up_cents_of_mean(pl.Series("parts", rows)).to_numpy()
    return cents
