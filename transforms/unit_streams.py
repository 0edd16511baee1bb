"""Random numbers keyed per unit for the robustness draws: a unit's draws depend on the seed, the source,
its key and the draw's number, never on which other units the cycle holds or in what order.

So a nightly publish after another region's bundle draws the same evaluators, respondents and survey
noise for every unit it had before, and a unit's probability of keeping its predicate (a unit-level
result) moves only when its own rows or the weights' draws change. A sequential generator shared by all
units (NumPy's `Generator`) would shift every unit's draws whenever one unit is added.

The generator is SplitMix64 (Steele, Lea and Flood, *Fast splittable pseudorandom number generators*,
OOPSLA 2014; the seeder of Java's SplittableRandom and of xoshiro): the n-th output of a stream seeded `k`
is `mix(k + n·γ)`, a bijective finaliser of a Weyl sequence, so any output is computed directly from
its counter (draw · words + word) without drawing the ones before. Each 64-bit output gives two 32-bit
uniforms. Unit keys come from BLAKE2b of the unit's key columns, so they do not depend on a library's
hash function or version.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_KEY_SEPARATOR = "\x1f"
_TO_UNIT = 2.0 ** -32


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, in place on a fresh uint64 array (wrapping arithmetic, as in the reference)."""
    x ^= x >> np.uint64(30)
    x *= _M1
    x ^= x >> np.uint64(27)
    x *= _M2
    x ^= x >> np.uint64(31)
    return x


def unit_keys(frame: pl.DataFrame, columns: list[str], seed: int, stream: int) -> np.ndarray:
    """One uint64 stream key per row of `frame`, from its `columns` (as text), the seed and the stream number."""
    texts = frame.select(pl.concat_str([pl.col(c).cast(pl.String).fill_null("") for c in columns],
                                       separator=_KEY_SEPARATOR)).to_series().to_list()
    hashed = np.fromiter((int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8).digest(), "little")
                          for t in texts), dtype=np.uint64, count=len(texts))
    salt = _mix(np.array([(seed * 0x100000001B3 + stream) % 2**64], dtype=np.uint64))[0]
    return _mix(hashed ^ salt)


def _words(keys: np.ndarray, first: int, draws: int, words: int) -> np.ndarray:
    """(draws, units, words) uint64: outputs number draw·words + word + 1 of each unit's stream."""
    counter = (np.arange(first, first + draws, dtype=np.uint64)[:, None, None] * np.uint64(words)
               + np.arange(1, words + 1, dtype=np.uint64)[None, None, :])
    with np.errstate(over="ignore"):
        return _mix(keys[None, :, None] + counter * _GAMMA)


def bits32(keys: np.ndarray, first: int, draws: int, count: int) -> np.ndarray:
    """(draws, units, count) uint32: 32 random bits per value, two per output of each unit's stream (4 bytes a
    value: the perturbation of 15k one-evaluator units × 30 indicators × a chunk of draws stays small)."""
    if keys.size == 0 or count == 0:
        return np.zeros((draws, keys.size, count), dtype=np.uint32)
    words = _words(keys, first, draws, (count + 1) // 2)
    out = np.empty((draws, keys.size, 2 * words.shape[2]), dtype=np.uint32)
    out[:, :, 0::2] = words >> np.uint64(32)
    out[:, :, 1::2] = words  # the low half (assignment keeps the low 32 bits)
    return out[:, :, :count]


def below(chance: float) -> int:
    """The threshold t with P(bits32 < t) = chance (to 2^-32): an event of that chance is `bits < t`."""
    return int(chance * 2**32)


def uniforms(keys: np.ndarray, first: int, draws: int, count: int) -> np.ndarray:
    """(draws, units, count) float64 uniforms on [0, 1) with 32-bit resolution, for draws first..first+draws-1."""
    return bits32(keys, first, draws, count) * _TO_UNIT


def integers(keys: np.ndarray, first: int, draws: int, count: int, high: int) -> np.ndarray:
    """(draws, units, count) int64 uniform on 0..high-1: (32 bits × high) >> 32, in integers (bias < high/2^32)."""
    return ((bits32(keys, first, draws, count).astype(np.uint64) * np.uint64(high)) >> np.uint64(32)).astype(np.int64)


def normals(keys: np.ndarray, first: int, draws: int) -> np.ndarray:
    """(draws, units) standard normal deviates by Box-Muller from one output per draw and unit."""
    if keys.size == 0:
        return np.zeros((draws, 0))
    words = _words(keys, first, draws, 1)[:, :, 0]
    radius = np.sqrt(-2.0 * np.log(((words >> np.uint64(32)) + 1) * _TO_UNIT))  # (0, 1]: log finite
    return radius * np.cos(2.0 * np.pi * (words & np.uint64(0xFFFFFFFF)) * _TO_UNIT)
