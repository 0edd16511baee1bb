"""The keyed random streams of the robustness draws (transforms/unit_streams.py)."""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms import unit_streams


def test_unit_streams_are_uniform_independent_of_order_and_fixed_by_key() -> None:
    """The keyed generator: the same key, seed and draw number give the same numbers whatever else is drawn;
    uniforms cover [0, 1) evenly, integers 0..high-1 evenly, normals have mean 0 and variance 1."""
    frame = pl.DataFrame({"region_code": ["35.78"] * 3 + ["11.01"], "unit_id": ["A", "B", "C", "A"]})
    keys = unit_streams.unit_keys(frame, ["region_code", "unit_id"], seed=5, stream=1)
    assert len(set(keys.tolist())) == 4  # the same unit id in another region is another stream
    alone = unit_streams.unit_keys(frame[1:2], ["region_code", "unit_id"], seed=5, stream=1)
    assert alone[0] == keys[1]
    assert unit_streams.unit_keys(frame, ["region_code", "unit_id"], seed=6, stream=1)[1] != keys[1]
    assert unit_streams.unit_keys(frame, ["region_code", "unit_id"], seed=5, stream=2)[1] != keys[1]
    whole = unit_streams.uniforms(keys, 0, 40, 7)
    assert np.array_equal(unit_streams.uniforms(keys, 25, 15, 7), whole[25:])  # draws computed in any chunks
    assert np.array_equal(unit_streams.uniforms(keys[[3, 1]], 0, 40, 7), whole[:, [3, 1]])
    big = unit_streams.uniforms(keys, 0, 50_000, 5).reshape(-1)
    assert big.min() >= 0 and big.max() < 1
    counts = np.histogram(big, bins=10, range=(0, 1))[0]
    expected = big.size / 10
    assert ((counts - expected) ** 2 / expected).sum() < 27.9  # chi-square, 9 df, p = 0.001
    picks = unit_streams.integers(keys, 0, 50_000, 3, 3).reshape(-1)
    assert set(np.unique(picks).tolist()) == {0, 1, 2}
    assert np.abs(np.bincount(picks) / picks.size - 1 / 3).max() < 0.005
    z = unit_streams.normals(keys, 0, 100_000).reshape(-1)
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1) < 0.02 and np.isfinite(z).all()
    assert np.corrcoef(whole[:, 0, 0], whole[:, 1, 0])[0, 1] ** 2 < 0.3  # streams of two units differ


def test_splitmix64_matches_the_reference_outputs() -> None:
    """The finaliser is SplitMix64's: seeded 0, its first outputs are the published reference values."""
    state = np.arange(1, 4, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    assert unit_streams._mix(state).tolist() == [0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4, 0x06C45D188009454F]


def test_an_event_of_a_chance_is_bits_below_its_threshold() -> None:
    """`bits32 < below(p)` happens with chance p (the perturbation's one point up or down)."""
    keys = unit_streams.unit_keys(pl.DataFrame({"region_code": ["35.78"], "unit_id": ["A"]}), ["region_code",
                                  "unit_id"], seed=1, stream=1)
    bits = unit_streams.bits32(keys, 0, 200_000, 3)
    assert bits.dtype == np.uint32 and bits.shape == (200_000, 1, 3)
    for chance in (0.05, 0.5):
        share = (bits < unit_streams.below(chance)).mean()
        assert abs(share - chance) < 5 * (chance * (1 - chance) / bits.size) ** 0.5
    assert unit_streams.below(0.0) == 0 and unit_streams.below(1.0) == 2**32
