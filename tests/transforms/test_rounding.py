"""Unit tests of transforms/rounding.py: half-up in integers, bands, competition ranks, exact means.

Every expected value is worked out by hand in its test (DOMAIN.md golden values where they exist).
"""

from __future__ import annotations

from fractions import Fraction

import polars as pl
import pytest

from transforms import rounding
from transforms.methodology import Methodology


def ints(values: list[int | None], dtype: pl.DataType = pl.Int64) -> pl.Expr:
    """A literal integer column for `pl.select`."""
    return pl.lit(pl.Series(values, dtype=dtype))


@pytest.mark.parametrize(("num", "den", "cents"), [
    (4505, 1000, 451),        # 4.505 is a true tie: half-up gives 4.51 (DOMAIN.md), never 4.50
    (4504999, 1000000, 450),  # just below the tie
    (38858, 10000, 389),      # the worked example 3.8858 -> 3.89
    (1, 200, 1),              # 0.005 -> 0.01
    (1, 3, 33),               # 0.333... -> 0.33
    (2, 3, 67),               # 0.666... -> 0.67
    (5, 1, 500),
    (0, 7, 0),
])
def test_half_up_cents_of_a_rational(num: int, den: int, cents: int) -> None:
    """floor((200·num + den) / (2·den)) is half-up to hundredths."""
    out = pl.select(rounding.half_up_cents(pl.lit(num), pl.lit(den))).item()
    assert out == cents


def test_half_up_cents_survives_numerators_beyond_int64() -> None:
    """200·num would overflow Int64 for num near 2^62; the Int128 cast keeps it exact (2^62/2^62 = 1.00)."""
    big = 2**62
    assert pl.select(rounding.half_up_cents(pl.lit(big), pl.lit(big))).item() == 100


@pytest.mark.parametrize(("value", "cents"), [
    (Fraction(1, 200), 1), (Fraction(200, 3), 6667), (Fraction(2, 3) * 100, 6667), (Fraction(0), 0),
    (Fraction(100), 10000),
])
def test_half_up_cents_of_fraction(value: Fraction, cents: int) -> None:
    """66.666...% is shown as 66.67; an exact half-cent goes up."""
    assert rounding.half_up_cents_of_fraction(value) == cents


def test_cents_to_value_and_back_are_exact() -> None:
    """389 hundredths publish as the float nearest 3.89, and published_cents recovers 389 (also for 0.29,
    whose float times 100 is 28.999999999999996)."""
    cents = [389, 29, 451, 0, 500]
    values = pl.select(rounding.cents_to_value(ints(cents))).to_series().to_list()
    assert values == [3.89, 0.29, 4.51, 0.0, 5.0]
    back = pl.select(rounding.published_cents(pl.lit(pl.Series(values)))).to_series().to_list()
    assert back == cents


def test_nearest_integer_recovers_the_integer_a_float_stands_for() -> None:
    """A float a hair off an integer (from num/den · den) is that integer."""
    out = pl.select(rounding.nearest_integer(pl.lit(pl.Series([2.9999999997, 7.0000000004, -1.0000001])))).to_series()
    assert out.to_list() == [3, 7, -1]


def test_difference_of_published_is_exact_in_decimal() -> None:
    """4.03 − 3.89 is 0.14 exactly; float subtraction gives 0.14000000000000012."""
    assert 4.03 - 3.89 != 0.14
    assert rounding.difference_of_published(4.03, 3.89) == 0.14
    assert rounding.difference_of_published(3.89, 4.03) == -0.14
    assert rounding.difference_of_published(None, 4.03) is None
    assert rounding.difference_of_published(4.03, None) is None


def test_display_nrr_has_four_decimals() -> None:
    """DOMAIN.md golden survey: element total 105 over 29 respondents, NRR 3.620689... shown as 3.6207."""
    assert pl.select(rounding.display_nrr(pl.lit(105 / 29))).item() == 3.6207


@pytest.mark.parametrize(("cents", "mark", "text"), [
    (410, ".", "4.10"), (410, ",", "4,10"), (5, ".", "0.05"), (500, ",", "5,00"), (-34, ".", "-0.34"),
    (12345, ".", "123.45"),
])
def test_cents_text_keeps_two_decimals_with_the_mark(cents: int, mark: str, text: str) -> None:
    """Reasons print published values with exactly two decimals and the language's decimal mark."""
    assert pl.select(rounding.cents_text(pl.lit(cents), mark)).item() == text


def exact_parts(nums: list[int], dens: list[int], fnum: int = 1, fden: int = 1) -> pl.Expr:
    """The struct `exact_cents` reads: Σ nums/dens · fnum/fden."""
    return pl.struct(nums=pl.lit(pl.Series([nums])), dens=pl.lit(pl.Series([dens])),
                     fnum=pl.lit(fnum, dtype=pl.Int64), fden=pl.lit(fden, dtype=pl.Int64))


def test_half_up_cents_of_float_settles_a_near_tie_exactly() -> None:
    """1.005 in float ×100 is 100.49999999999999, which rounds to 100 naively; its exact form 1005/1000 is a
    true tie, so half-up gives 101."""
    value = 1005 / 1000
    assert value * 100 < 100.5  # the float drift this function exists for
    out = pl.select(rounding.half_up_cents_of_float(pl.lit(value), exact_parts([1005], [1000]))).item()
    assert out == 101


def test_half_up_cents_of_float_away_from_a_tie_is_plain_half_up() -> None:
    """1.234 is far from a half-cent: 123, whatever the exact parts say (they are not consulted)."""
    out = pl.select(rounding.half_up_cents_of_float(pl.lit(1.234), exact_parts([0], [1]))).item()
    assert out == 123


def test_exact_cents_sums_fractions_and_scales() -> None:
    """1/3 + 1/6 = 1/2 -> 50 hundredths; times 25/1 -> 12.5 -> 1250; a null row stays null."""
    parts = pl.Series("p", [
        {"nums": [1, 1], "dens": [3, 6], "fnum": 1, "fden": 1},
        {"nums": [1, 1], "dens": [3, 6], "fnum": 25, "fden": 1},
        None,
    ])
    assert rounding.exact_cents(parts).to_list() == [50, 1250, None]


def test_fraction_sum_is_exact() -> None:
    """1/3 + 1/6 + 1/2 = 1, and 0 for no terms; pairwise summing gives the same value as one by one."""
    num, den = rounding.fraction_sum([(1, 3), (1, 6), (1, 2)])
    assert Fraction(num, den) == 1
    assert rounding.fraction_sum([]) == (0, 1)
    terms = [(k, k + 1) for k in range(1, 40)]
    num, den = rounding.fraction_sum(terms)
    assert Fraction(num, den) == sum(Fraction(a, b) for a, b in terms)


def test_half_up_cents_of_mean_is_the_exact_mean_rounded_once() -> None:
    """README golden: units 3 + 1/13 and 3 + 3/44 average to 3 + 83/1144 = 3.0726 -> 307 (the mean of their
    rounded values, 3.08 and 3.07, would give 308). Weights 3:1 of 4 and 3 give 3.75; all-zero weights: null."""
    parts = pl.Series("p", [
        {"nums": [40, 135], "dens": [13, 44], "weights": [1, 1]},
        {"nums": [4, 3], "dens": [1, 1], "weights": [3, 1]},
        {"nums": [4], "dens": [1], "weights": [0]},
    ])
    assert rounding.half_up_cents_of_mean(parts).to_list() == [307, 375, None]


@pytest.mark.parametrize(("cents", "code", "label", "zone"), [
    (451, "A", "Pelayanan Prima", "hijau"),   # the published gap 4.50 | 4.51: 4.51 is A
    (450, "A-", "Sangat Baik", "hijau"),
    (401, "A-", "Sangat Baik", "hijau"),
    (389, "B", "Baik", "hijau"),              # the worked example
    (336, "B-", "Baik (Dengan Catatan)", "kuning"),
    (218, "C-", "Cukup (Dengan Catatan)", "kuning"),
    (0, "F", "Gagal", "merah"),
])
def test_band_of_predicates(methodology_2024: Methodology, cents: int, code: str, label: str, zone: str) -> None:
    """DOMAIN.md predicate table and its published checks (2.18 C-, 3.36 B-)."""
    bands = methodology_2024.predicates
    row = pl.select(code=rounding.band_of(pl.lit(cents), bands, "code"),
                    label=rounding.band_of(pl.lit(cents), bands, "label"),
                    zone=rounding.band_of(pl.lit(cents), bands, "zone")).row(0)
    assert row == (code, label, zone)


def test_band_of_null_and_below_every_band_is_null(methodology_2024: Methodology) -> None:
    """No value, no band; a negative value is below the lowest bound 0.00."""
    out = pl.select(rounding.band_of(ints([None, -1]), methodology_2024.predicates)).to_series()
    assert out.to_list() == [None, None]


def test_competition_rank_1224_highest_first_nulls_unranked() -> None:
    """Ties share the better rank and the next rank is skipped; no value, no rank."""
    out = pl.select(rounding.competition_rank(ints([450, 500, 450, 300, None]))).to_series()
    assert out.to_list() == [2, 1, 2, 4, None]


def test_share_percent_is_half_up_on_the_exact_ratio() -> None:
    """k of n simulations: 1/8 = 12.5% -> 13 (half-up; the float's half-to-even gave 12), 1/200 = 0.5% -> 1,
    2/3 = 66.67% -> 67, 0 -> 0, n/n -> 100; the same for a Python value and for a methodology share."""
    from transforms.rounding import share_percent, share_percent_of, whole_percent

    cases = [(1, 8, 13), (1, 200, 1), (2, 3, 67), (0, 200, 0), (200, 200, 100), (999, 1000, 100), (5, 1000, 1)]
    frame = pl.DataFrame({"p": [k / n for k, n, _ in cases], "draws": [n for _, n, _ in cases]})
    expected = [e for *_, e in cases]
    assert frame.select(share_percent(pl.col("p"), pl.col("draws")).alias("pct"))["pct"].to_list() == expected
    assert [share_percent_of(k / n, n) for k, n, _ in cases] == [e for *_, e in cases]
    assert (whole_percent(0.8), whole_percent(0.125), whole_percent(0.005), whole_percent(1.0)) == (80, 13, 1, 100)
