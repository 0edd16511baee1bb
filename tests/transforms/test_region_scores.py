"""Unit tests of transforms/region_scores.py: exact roll-ups per body and nation, levels, ranks per category.

Unit IPPs are given as exact numerators over Dp = 100·100·27720 (2024's common denominator).
"""

from __future__ import annotations

import dataclasses

import polars as pl
import pytest

from transforms import region_scores
from transforms.methodology import Methodology

DP = 100 * 100 * 27720


def units_frame(rows: list[tuple[str, str, int | None]], **extra: list) -> pl.LazyFrame:
    """(region_code, unit_type, IPP in ten-thousandths or None) per unit."""
    return pl.LazyFrame({
        "region_code": [r[0] for r in rows], "unit_id": [f"U{n}" for n in range(len(rows))],
        "unit_type": [r[1] for r in rows],
        "ipp_num": [None if r[2] is None else r[2] * DP // 10000 for r in rows], "ipp_den": [DP] * len(rows),
        **extra,
    }, schema_overrides={"ipp_num": pl.Int64, "ipp_den": pl.Int64})


REGIONS = pl.LazyFrame({"region_code": ["35", "35.01", "35.71", "35.78", "019"],
                        "name": ["JAWA TIMUR", "KAB. PACITAN", "KOTA KEDIRI", "KOTA SURABAYA", "KEMENSOS"]})


def no_lokus(m: Methodology) -> Methodology:
    return dataclasses.replace(m, lokus=None)


def by_region(frame: pl.LazyFrame) -> dict[str, dict]:
    return {r["region_code"]: r for r in frame.collect().iter_rows(named=True)}


def test_rollup_label(methodology_2024: Methodology) -> None:
    """The roll-up method recorded beside each value: `mean`, or `weighted:<column>`."""
    assert region_scores.rollup_label(methodology_2024) == "mean"
    weighted = dataclasses.replace(methodology_2024, rollup_method="weighted",
                                   rollup_weight_column="annual_service_users")
    assert region_scores.rollup_label(weighted) == "weighted:annual_service_users"


@pytest.mark.parametrize(("code", "level"), [("35", "provinsi"), ("35.01", "kabupaten"), ("35.69", "kabupaten"),
                                             ("35.71", "kota"), ("35.78", "kota"), ("019", "kl")])
def test_region_level_from_the_code(code: str, level: str) -> None:
    """DOMAIN.md: suffix 01-69 kabupaten, 71-99 kota; a 3-digit code is a K/L."""
    assert pl.select(region_scores.region_level(pl.lit(code))).item() == level


def test_region_rollup_is_the_exact_mean_rounded_once(methodology_2024: Methodology) -> None:
    """35.78: 3.005 and 3.004 average to 3.0045 -> 3.00 (C, below 3.01); the mean of their rounded values
    (3.01, 3.00) would give 3.01 (B-). An unscored unit counts in n_units, not in the mean."""
    units = units_frame([("35.78", "RSUD", 30050), ("35.78", "RSUD", 30040), ("35.78", "DINSOS", None)])
    row = by_region(region_scores.region_scores(units, REGIONS, no_lokus(methodology_2024)))["35.78"]
    assert (row["ipp_cents"], row["ipp"], row["predicate"]) == (300, 3.0, "C")
    assert (row["n_units"], row["n_units_scored"], row["region_name"]) == (3, 2, "KOTA SURABAYA")
    assert (row["level"], row["category"], row["province_code"], row["rollup_method"]) == \
        ("kota", "kota", "35", "mean")
    assert row["ikm"] is None  # no unit was surveyed


def test_ranks_are_per_category(methodology_2024: Methodology) -> None:
    """Kota 35.71 (4.00) and 35.78 (3.50) rank 1 and 2; the kabupaten, the province and the K/L are each 1
    in their own category, whatever their value."""
    units = units_frame([("35.71", "RSUD", 40000), ("35.78", "RSUD", 35000), ("35.01", "RSUD", 20000),
                         ("35", "RSUD", 45100), ("019", "UPT_KL", 10000)])
    rows = by_region(region_scores.region_scores(units, REGIONS, no_lokus(methodology_2024)))
    assert {c: (r["category"], r["rank"]) for c, r in rows.items()} == {
        "35.71": ("kota", 1), "35.78": ("kota", 2), "35.01": ("kabupaten", 1), "35": ("provinsi", 1),
        "019": ("kl", 1)}
    assert rows["35"]["predicate"] == "A"      # 4.51 is A
    assert rows["019"]["province_code"] is None  # a K/L sits under no province


def test_weighted_rollup_uses_the_units_column(methodology_2024: Methodology) -> None:
    """Weights 3 and 1 on 4.00 and 3.00 give (12 + 3)/4 = 3.75; recorded as weighted:annual_service_users."""
    m = dataclasses.replace(no_lokus(methodology_2024), rollup_method="weighted",
                            rollup_weight_column="annual_service_users")
    units = units_frame([("35.78", "RSUD", 40000), ("35.78", "RSUD", 30000)], annual_service_users=[3, 1])
    row = by_region(region_scores.region_scores(units, REGIONS, m))["35.78"]
    assert (row["ipp"], row["rollup_method"]) == (3.75, "weighted:annual_service_users")


def test_lokus_counts_a_missing_type_as_one_unscored_unit(methodology_2024: Methodology) -> None:
    """2024 kab/kota lokus: RSUD, KECAMATAN, DINSOS. 35.78 sent one scored RSUD only: 1 of 3 lokus units
    scored, KECAMATAN and DINSOS missing."""
    row = by_region(region_scores.region_scores(units_frame([("35.78", "RSUD", 40000)]), REGIONS,
                                                methodology_2024))["35.78"]
    assert (row["n_lokus_units"], row["n_lokus_scored"], row["lokus_missing"]) == (3, 1, "DINSOS, KECAMATAN")


def test_without_lokus_every_unit_sent_is_a_lokus_unit(methodology_2024: Methodology) -> None:
    """No [lokus]: the lokus counts are the units sent and scored."""
    units = units_frame([("35.78", "RSUD", 40000), ("35.78", "MPP", None)])
    row = by_region(region_scores.region_scores(units, REGIONS, no_lokus(methodology_2024)))["35.78"]
    assert (row["n_lokus_units"], row["n_lokus_scored"], row["lokus_missing"]) == (2, 1, None)


def test_predicate_counts_json_lists_every_band_in_order(methodology_2024: Methodology) -> None:
    """Two A units and one C: every band of the cycle appears, best first, zeros included."""
    out = pl.DataFrame({"predicate": ["A", "C", "A", None]}).select(
        region_scores.predicate_counts_json(methodology_2024)).item()
    assert out == '{"A": 2, "A-": 0, "B": 0, "B-": 0, "C": 1, "C-": 0, "D": 0, "E": 0, "F": 0}'


def test_national_scores_over_all_units(methodology_2024: Methodology) -> None:
    """National mean over scored units (4.00, 3.00, 4.51 -> 11.51/3 = 3.8366... -> 3.84, B), 2 regions."""
    units = units_frame([("35.78", "RSUD", 40000), ("35.78", "RSUD", 30000), ("35", "RSUD", 45100),
                         ("35", "RSUD", None)], predicate=["A-", "C", "A", None])
    row = region_scores.national_scores(units, methodology_2024).collect().row(0, named=True)
    assert (row["ipp"], row["predicate"], row["n_regions"], row["n_units"], row["n_units_scored"]) == \
        (3.84, "B", 2, 4, 3)
    assert row["cycle"] == "2024"
    assert row["predicate_counts"].startswith('{"A": 1, "A-": 1, "B": 0, "B-": 0, "C": 1')
