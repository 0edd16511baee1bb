"""The robustness draws' exact arithmetic (transforms/robustness_exact.py): cents of integer arrays, bodies'
means of units with their own denominators (the F-03 blend)."""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms import robustness_exact as engine
from transforms.rounding import half_up_cents, half_up_cents_of_mean


def test_draw_cents_in_numpy_equal_the_exact_expression_and_fall_back_near_overflow() -> None:
    """`_cents` takes NumPy's int64 where 200·num + den cannot overflow, else the Int128 expression: same cents."""
    rng = np.random.default_rng(5)
    den = np.array([3, 7, 200, 1_580_040_000_000], dtype=np.int64)
    num = rng.integers(0, 10**13, size=(40, den.size), dtype=np.int64)
    num[0] = den // 200  # exactly half a cent below or at a boundary: half-up
    num[1] = den * 5 // 2
    exact = pl.DataFrame({"num": num.reshape(-1), "den": np.broadcast_to(den, num.shape).reshape(-1)}).select(
        half_up_cents(pl.col("num"), pl.col("den"))).to_series().to_numpy().reshape(num.shape)
    assert np.array_equal(engine.cents_of(num, den), exact)
    huge = np.array([[2**62, 2**62 - 1]], dtype=np.int64)  # 200·num overflows int64: the exact path
    assert engine.cents_of(huge, 10**6).tolist() == [[(200 * 2**62 + 10**6) // (2 * 10**6),
                                                 (200 * (2**62 - 1) + 10**6) // (2 * 10**6)]]
    assert engine.cents_of(np.zeros((0, 3), dtype=np.int64), 7).shape == (0, 3)


def test_body_means_of_blended_units_equal_the_release_exact_mean() -> None:
    """`body_cents_of_fractions` (a float mean, exact near half cents) equals the release's exact
    `half_up_cents_of_mean` on every body and draw, ties included, for units with their own denominators."""
    rng = np.random.default_rng(3)
    den = rng.integers(1, 400, size=12) * 8
    starts = np.array([0, 3, 4, 9])
    weights = rng.integers(0, 5, size=12)
    weights[3] = 0  # a body whose weights sum to 0
    num = rng.integers(0, 5, size=(60, 12)) * den[None, :] + rng.integers(0, den, size=(60, 12))
    den[0:3], weights[0:3] = [1000, 2000, 7000], [1, 2, 3]
    num[:, 0:3] = 3875 * den[None, 0:3] // 1000  # the first body: 3.875 exactly, on a half cent
    found = engine.body_cents_of_fractions(num, den, starts, weights)
    ends = np.append(starts[1:], 12)
    for d in range(60):
        rows = [{"nums": num[d, a:b].tolist(), "dens": den[a:b].tolist(), "weights": weights[a:b].tolist()}
                for a, b in zip(starts, ends, strict=True)]
        exact = half_up_cents_of_mean(pl.Series("parts", rows)).fill_null(0).to_list()
        assert found[d].tolist() == exact
    assert (found[:, 0] == 388).all()  # 3.875 exactly: half-up
