"""Unit tests of transforms/robustness_views.py: roster marks (kokoh / tidak kokoh) and top rank intervals.

Frames are written by hand as the release's `unit_robustness` / `region_robustness` would hold them.
"""

from __future__ import annotations

import dataclasses
import json

import polars as pl

from transforms import robustness_views as views
from transforms.methodology import Methodology


def probabilities(**awards: tuple[float, str]) -> str:
    return json.dumps({code: {"p": p, "driver": driver} for code, (p, driver) in awards.items()})


def roster() -> pl.LazyFrame:
    return pl.LazyFrame({
        "award": ["sangat_baik", "pelayanan_prima", "paling_meningkat", "pemda_prima", "sangat_baik"],
        "region_code": ["35.78", "35.78", "35.78", "35.78", "35.01"],
        "unit_id": ["U1", "U2", "U1", None, "U9"],
    })


def facts() -> tuple[pl.LazyFrame, pl.LazyFrame]:
    units = pl.LazyFrame({
        "region_code": ["35.78", "35.78", "35.01"], "unit_id": ["U1", "U2", "U9"], "draws": [1000, 1000, 1000],
        "award_probabilities": [probabilities(sangat_baik=(0.62, "evaluators")),
                                probabilities(pelayanan_prima=(0.98, "survey")),
                                probabilities(sangat_baik=(0.5, "something_new"))],
    })
    regions = pl.LazyFrame({"region_code": ["35.78"], "draws": [1000],
                            "award_probabilities": [probabilities(pemda_prima=(0.87, "weights"))]})
    return units, regions


def test_roster_marks_with_the_readme_wording(methodology_2024: Methodology) -> None:
    """README: 62% below the 0.9 threshold is 'tidak kokoh' with its cause; 98% is 'kokoh'; most improved is
    not modelled (null); a body award row (no unit id) reads the region's figures (87%);
    an unknown driver reads 'gabungan sumber'. Row order is the roster's."""
    assert methodology_2024.robustness is not None and methodology_2024.robustness.threshold == 0.9
    units, regions = facts()
    marked = views.roster_marks(roster(), units, regions, methodology_2024).collect()
    assert marked["robustness"].to_list() == [
        "tidak kokoh: bertahan pada 62% dari 1000 simulasi; penyebab utama: penilai (evaluator)",
        "kokoh: bertahan pada 98% dari 1000 simulasi",
        None,
        "tidak kokoh: bertahan pada 87% dari 1000 simulasi; penyebab utama: bobot aspek",
        "tidak kokoh: bertahan pada 50% dari 1000 simulasi; penyebab utama: gabungan sumber",
    ]
    assert marked.columns == ["award", "region_code", "unit_id", "robustness"]


def test_roster_marks_are_null_without_robustness(methodology_2024: Methodology) -> None:
    """No robustness tables in the release, or none in the methodology: the column is there, all null."""
    units, regions = facts()
    for marked in (views.roster_marks(roster(), None, None, methodology_2024),
                   views.roster_marks(roster(), units, regions, dataclasses.replace(methodology_2024,
                                                                                    robustness=None))):
        out = marked.collect()
        assert out.height == 5 and out["robustness"].null_count() == 5


def intervals(ranks: list[int], lows: list[int], highs: list[int], unit_type: str = "RSUD") -> pl.LazyFrame:
    n = len(ranks)
    return pl.LazyFrame({"region_code": [f"35.{k + 1:02d}" for k in range(n)], "unit_id": [f"U{k}" for k in range(n)],
                         "unit_type": [unit_type] * n, "rank_in_type": ranks, "rank_low": lows, "rank_high": highs})


def test_top_intervals_keep_the_best_ranks_of_each_group() -> None:
    """Top 2 of RSUD (ranks 1, 2) and of MPP (its one unit); unranked units are left out."""
    frame = pl.concat([intervals([3, 1, 2], [3, 1, 2], [3, 1, 2]),
                       intervals([1], [1], [1], unit_type="MPP"),
                       intervals([None], [None], [None], unit_type="MPP")])  # type: ignore[list-item]
    top = views.top_intervals(frame, "unit_type", "rank_in_type", 2).collect()
    assert list(zip(top["unit_type"], top["rank_in_type"], strict=True)) == [("MPP", 1), ("RSUD", 1), ("RSUD", 2)]
    assert not top["near_tie"].any()  # no interval overlaps another


def test_near_tie_is_an_overlap_with_a_neighbour_of_another_rank() -> None:
    """1 [1,2] and 2 [1,3] overlap: both near-ties; 3 [3,3] overlaps 2's [1,3] too. Two units tied at rank 1
    with equal intervals are not near-ties of each other (they already share the rank)."""
    top = views.top_intervals(intervals([1, 2, 3], [1, 1, 3], [2, 3, 3]), "unit_type", "rank_in_type", 3).collect()
    assert top["near_tie"].to_list() == [True, True, True]
    tied = views.top_intervals(intervals([1, 1], [1, 1], [2, 2]), "unit_type", "rank_in_type", 3).collect()
    assert tied["near_tie"].to_list() == [False, False]


def test_the_last_shown_rank_can_be_a_near_tie_with_the_first_one_left_out() -> None:
    """Top 2 shown: rank 2 [2,3] and rank 3 [2,3] could swap places, so rank 2 is a near-tie."""
    top = views.top_intervals(intervals([1, 2, 3], [1, 2, 2], [1, 3, 3]), "unit_type", "rank_in_type", 2).collect()
    assert top["near_tie"].to_list() == [False, True]
