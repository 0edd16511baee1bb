"""Unit tests of transforms/report_data.py: figures for rosters and reports from published tables.

Unit rows are written as `unit_scores` publishes them (ipp, ipp_exact, predicate, ...), by hand.
"""

from __future__ import annotations

import polars as pl

from transforms import report_data
from transforms.methodology import Methodology

DP = 100 * 100 * 27720


def published(rows: list[tuple[str, str, float | None]]) -> pl.LazyFrame:
    """(region_code, unit_type, exact IPP or None) as unit_scores rows of a cycle without F-03."""
    return pl.LazyFrame({
        "region_code": [r[0] for r in rows], "unit_id": [f"U{n}" for n in range(len(rows))],
        "unit_type": [r[1] for r in rows], "province_code": [r[0][:2] for r in rows],
        "ipp_exact": [r[2] for r in rows], "status": ["scored" if r[2] is not None else "incomplete" for r in rows],
    }, schema_overrides={"ipp_exact": pl.Float64})


def test_mean_of_published_values_rounds_once_in_hundredths() -> None:
    """(4.16 + 4.30 + 3.73)/3 = 12.19/3 = 4.0633... -> 4.06; over no values, null."""
    frame = pl.DataFrame({"g": [1, 1, 1, 2], "score": [4.16, 4.30, 3.73, None]})
    out = frame.group_by("g").agg(mean=report_data.mean_of_published(pl.col("score"))).sort("g")
    assert out["mean"].to_list() == [4.06, None]


def test_ipp_numerator_recovers_the_exact_integer(methodology_2024: Methodology) -> None:
    """ipp_exact 3.8858 over Dp = 100·100·27720 is the numerator 38858·27720."""
    assert report_data.ipp_denominator(methodology_2024) == DP
    out = pl.DataFrame({"ipp_exact": [3.8858]}).select(report_data.ipp_numerator(methodology_2024)).item()
    assert out == 38858 * 27720


def test_rollup_averages_exact_values_like_the_region_rollup(methodology_2024: Methodology) -> None:
    """RSUD 3.005 and 3.004 give 3.0045 -> 3.00 (C), not the 3.01 of their rounded values; an unscored unit
    counts in n_units only."""
    units = published([("35.78", "RSUD", 3.005), ("35.01", "RSUD", 3.004), ("35.01", "RSUD", None)])
    row = report_data.rollup(units, ["unit_type"], methodology_2024).collect().row(0, named=True)
    assert (row["ipp"], row["predicate"], row["n_units"], row["n_units_scored"]) == (3.0, "C", 3, 2)


def test_type_scores_rank_types_best_first(methodology_2024: Methodology) -> None:
    """DINSOS 4.20 ranks above RSUD (4.00 and 3.00 -> 3.50); a type without scored units has no rank, last."""
    units = published([("35.78", "RSUD", 4.0), ("35.78", "RSUD", 3.0), ("35.78", "DINSOS", 4.2),
                       ("35.78", "MPP", None)])
    out = report_data.type_scores(units, methodology_2024).collect()
    assert list(zip(out["unit_type"], out["ipp"], out["rank"], strict=True)) == \
        [("DINSOS", 4.2, 1), ("RSUD", 3.5, 2), ("MPP", None, None)]


def test_province_scores_cover_the_territory(methodology_2024: Methodology) -> None:
    """Province 35 holds its own unit (4.00) and its kota's (3.00): 3.50 over 2 regions; a K/L is under none."""
    units = published([("35", "RSUD", 4.0), ("35.78", "RSUD", 3.0), ("019", "UPT_KL", 5.0)]).with_columns(
        province_code=pl.when(pl.col("region_code") == "019").then(None).otherwise(pl.col("province_code")))
    reference = pl.LazyFrame({"region_code": ["35"], "name": ["JAWA TIMUR"], "level": ["provinsi"]})
    out = report_data.province_scores(units, reference, methodology_2024).collect()
    assert out.select("province_code", "province_name", "ipp", "n_regions", "rank").rows() == \
        [("35", "JAWA TIMUR", 3.5, 2, 1)]


def test_national_change_against_the_previous_cycle() -> None:
    """4.02 now against 3.79 before: +0.23 exactly (float subtraction would give 0.22999...)."""
    row = {"ipp": 4.02, "predicate": "A-", "predicate_label": "Sangat Baik", "ikm": 90.0, "n_regions": 1,
           "n_units": 1, "n_units_scored": 1, "rollup_method": "mean"}
    now = pl.DataFrame([row])
    changed = report_data.national_change(now, pl.DataFrame([{**row, "ipp": 3.79, "predicate": "B"}]))
    assert changed.select("previous_ipp", "previous_predicate", "change").row(0) == (3.79, "B", 0.23)
    assert report_data.national_change(now, None)["change"].to_list() == [None]


def test_predicate_distribution_lists_every_band(methodology_2024: Methodology) -> None:
    """Two A and one C of three scored units: every band listed best first, zero counts kept, shares of 3."""
    units = pl.LazyFrame({"predicate": ["A", "C", "A", None]})
    out = report_data.predicate_distribution(units, methodology_2024).collect()
    assert out["predicate"].to_list() == ["A", "A-", "B", "B-", "C", "C-", "D", "E", "F"]
    assert out["n_units"].to_list() == [2, 0, 0, 0, 1, 0, 0, 0, 0]
    assert out["share"][0] == 2 / 3


def test_status_counts_put_scored_first() -> None:
    units = pl.LazyFrame({"status": ["incomplete", "scored", "too_many_evaluators", "scored"]})
    out = report_data.status_counts(units).collect()
    assert out.rows() == [("scored", 2), ("incomplete", 1), ("too_many_evaluators", 1)]


def test_region_standing_groups_by_category_in_document_order() -> None:
    """Provinces first, then kabupaten, kota, K/L; a release without `category` takes it from the level."""
    regions = pl.LazyFrame({"region_code": ["35.78", "019", "35", "35.71"], "level": ["kota", "kl", "provinsi", "kota"],
                            "rank": [2, 1, 1, 1]})
    out = report_data.region_standing(regions).collect()
    assert out.select("region_code", "category", "n_in_category").rows() == [
        ("35", "provinsi", 1), ("35.71", "kota", 2), ("35.78", "kota", 2), ("019", "kl", 1)]


def test_honoured_predicates_of_2024(methodology_2024: Methodology) -> None:
    """Unit awards honour A, A-, the top-N at least A-, most improved at least B: so A, A-, B."""
    assert report_data.honoured_predicates(methodology_2024) == ["A", "A-", "B"]


def test_top_issue_rules_count_rules_across_regions() -> None:
    issues = pl.LazyFrame({
        "region_code": ["35.78", "35.78", "35.01", "35.01"], "submission_id": ["s1", "s1", "s2", "s2"],
        "table": ["units", "evaluations", "evaluations", "units"], "row": [2, 3, 4, 5],
        "column": ["unit_id", "score", "score", None], "rule": ["not_null", "score_range", "score_range", "x"],
        "severity": ["row", "row", "row", "critical"], "message": ["m1", "m2", "m3", "m4"],
    })
    out = report_data.top_issue_rules(issues, limit=2).collect()
    assert out.select("rule", "n_issues", "n_regions", "tables", "columns", "example").rows() == [
        ("score_range", 2, 2, "evaluations", "score", "m3"),  # example: the first in region order (35.01 first)
        ("not_null", 1, 1, "units", "unit_id", "m1")]
