"""Unit tests of transforms/awards.py: eligibility and its reasons, coverage, and the roster per award rule.

Units are written as `cycle.score_units` leaves them (the columns the award rules read), by hand.
"""

from __future__ import annotations

import dataclasses
from fractions import Fraction

import polars as pl

from transforms import awards
from transforms.methodology import Award, Methodology

LABELS = {"A": "Pelayanan Prima", "A-": "Sangat Baik", "B": "Baik", "C": "Cukup"}


def unit(uid: str, cents: int | None, predicate: str | None, *, unit_type: str = "RSUD", respondents: int = 50,
         users: int | None = 51, required: int | None = 48, status: str = "scored", scored: int = 30) -> dict:
    return {"region_code": "35.78", "unit_id": uid, "unit_name": f"Unit {uid}", "unit_type": unit_type,
            "ipp_cents": cents, "ipp": None if cents is None else cents / 100, "predicate": predicate,
            "predicate_label": LABELS.get(predicate or ""), "status": status, "n_indicators_scored": scored,
            "n_respondents": respondents, "annual_service_users": users, "sample_required": required}


def units(*rows: dict, m: Methodology) -> pl.LazyFrame:
    frame = pl.LazyFrame(list(rows), schema_overrides={"annual_service_users": pl.Int64, "sample_required": pl.Int64,
                                                        "ipp_cents": pl.Int64, "ipp": pl.Float64})
    return frame.with_columns(eligible=awards.eligibility(m))


def test_sample_met_needs_a_survey_a_population_and_the_sample() -> None:
    """48 of 48 met; 47 of 48 not; 0 respondents not; no population (no sample required) not."""
    frame = pl.DataFrame({"n_respondents": [48, 47, 0, 30], "sample_required": [48, 48, 48, None]})
    assert frame.select(awards.sample_met()).to_series().to_list() == [True, False, False, False]


def test_ineligible_reason_names_every_failed_rule_in_both_languages(methodology_2024: Methodology) -> None:
    """README: 47 of 48 respondents for 51 users is 'survey sample not met ... (Krejcie-Morgan;
    require_survey_sample)'; an incomplete unit without survey fails two rules, joined with '; '."""
    frame = pl.DataFrame([unit("ok", 460, "A"), unit("short", 460, "A", respondents=47),
                          unit("bare", None, None, respondents=0, status="incomplete", scored=29)])
    out = frame.select(**awards.ineligible_reasons(methodology_2024))
    assert out["ineligible_reason_en"].to_list() == [
        None,
        "survey sample not met: 47 of 48 respondents for 51 yearly service users (Krejcie-Morgan; "
        "require_survey_sample)",
        "no IPP: status incomplete, 29 of 30 indicators scored (require_complete); no survey: 0 respondents, and "
        "the cycle requires the survey sample (require_survey_sample)",
    ]
    assert out["ineligible_reason"][1].startswith("sampel survei belum terpenuhi: 47 dari 48 responden")


def test_no_declared_population_is_not_eligible_unless_the_survey_is_not_required(
        methodology_2024: Methodology) -> None:
    """DOMAIN.md: no annual_service_users, no met sample; with require_survey_sample = false it does not matter."""
    frame = pl.DataFrame([unit("u", 460, "A", users=None, required=None)])
    assert frame.select(awards.eligibility(methodology_2024)).item() is False
    relaxed = dataclasses.replace(methodology_2024, require_survey_sample=False)
    assert frame.select(awards.eligibility(relaxed)).item() is True
    assert frame.select(awards.eligibility_note(relaxed, "en")).item() == \
        ("eligible: all 30 indicators scored (require_complete); survey sample not required "
         "(require_survey_sample = false)")


def test_covered_compares_the_scored_share_exactly() -> None:
    """min_scored_share 2/3: 2 of 3 covered, 1 of 2 not; a body with no lokus unit never; a K/L row is not
    in a pemda award's categories."""
    award = Award("p", "P", "region", "predicate", predicates=("A",), min_scored_share=Fraction(2, 3),
                  categories=("provinsi", "kabupaten", "kota"))
    bodies = pl.DataFrame({"n_lokus_units": [3, 2, 0, 3], "n_lokus_scored": [2, 1, 0, 3],
                           "category": ["kota", "kota", "kota", "kl"]})
    assert bodies.select(awards.covered(award)).to_series().to_list() == [True, False, False, False]


def test_uncovered_reason_states_the_coverage_and_missing_types() -> None:
    """1 of 3 with share 2/3 -> 66.67% (half-up, decimal comma in Bahasa); covered bodies get null."""
    award = Award("p", "P", "region", "predicate", predicates=("A",), min_scored_share=Fraction(2, 3))
    bodies = pl.DataFrame({"n_lokus_units": [3, 3], "n_lokus_scored": [1, 3], "category": ["kota", "kota"],
                           "lokus_missing": ["DINSOS", None]})
    en = bodies.select(awards.uncovered_reason(award, "en")).to_series().to_list()
    assert en == ["lokus not covered: 1 of 3 lokus units scored (at least 66.67% required, min_scored_share); "
                  "lokus unit types not sent: DINSOS", None]
    assert "minimal 66,67%" in bodies.select(awards.uncovered_reason(award, "id")).item(0, 0)


def regions(m: Methodology) -> pl.LazyFrame:
    return pl.LazyFrame({"region_code": ["35.78", "35.71", "019"], "region_name": ["SURABAYA", "KEDIRI", "KEMENSOS"],
                         "rank": [1, 2, 1], "ipp": [4.6, 4.1, 4.7], "ipp_cents": [460, 410, 470],
                         "predicate": ["A", "A-", "A"], "predicate_label": ["Pelayanan Prima", "Sangat Baik", "X"],
                         "n_lokus_units": [3, 3, 1], "n_lokus_scored": [3, 2, 1],
                         "category": ["kota", "kota", "kl"], "lokus_missing": [None, None, None]})


def test_award_roster_by_rule(methodology_2024: Methodology) -> None:
    """2024's awards: A units (pelayanan_prima), A- units (sangat_baik), top 3 per type at least A-, pemda and
    K/L bodies with lokus covered. 'short' (A but sample not met) gets nothing; 35.71 is not covered (2 of 3)."""
    m = methodology_2024
    frame = units(unit("a1", 470, "A"), unit("a2", 455, "A"), unit("m1", 420, "A-"), unit("m2", 420, "A-"),
                  unit("b1", 390, "B"), unit("short", 480, "A", respondents=47),
                  unit("d1", 430, "A-", unit_type="DINSOS"), m=m)
    roster = awards.award_roster(frame, regions(m), m).collect()
    got = {(r["award"], r["unit_id"] or r["region_code"]): r["rank"] for r in roster.iter_rows(named=True)}
    assert got == {
        ("pelayanan_prima", "a1"): 1, ("pelayanan_prima", "a2"): 2,
        ("sangat_baik", "m1"): 2, ("sangat_baik", "m2"): 2, ("sangat_baik", "d1"): 1,  # national 1224 on 4.30, 4.20
        ("terbaik_per_jenis", "a1"): 1, ("terbaik_per_jenis", "a2"): 2, ("terbaik_per_jenis", "m1"): 3,
        ("terbaik_per_jenis", "m2"): 3, ("terbaik_per_jenis", "d1"): 1,
        ("pemda_prima", "35.78"): 1, ("kl_prima", "019"): 1,
    }
    a1 = roster.filter((pl.col("award") == "pelayanan_prima") & (pl.col("unit_id") == "a1")).row(0, named=True)
    assert a1["reason_en"].startswith("predicate A (Pelayanan Prima) with IPP 4.70; eligible: all 30 indicators")
    assert a1["reason"].startswith("predikat A (Pelayanan Prima) dengan IPP 4,70; layak:")
    assert roster["award"].to_list()[:2] == ["pelayanan_prima", "pelayanan_prima"]  # methodology order


def test_most_improved_ranks_positive_gains_against_the_previous_cycle(methodology_2024: Methodology) -> None:
    """Gains 4.20 - 3.90 = 0.30 and 3.90 - 3.80 = 0.10 rank 1 and 2; a fall is no award; without a previous
    cycle there is no most-improved row at all. The score column holds the gain."""
    m = methodology_2024
    frame = units(unit("m1", 420, "A-"), unit("b1", 390, "B"), unit("b2", 360, "B"), m=m)
    previous = pl.LazyFrame({"region_code": ["35.78"] * 3, "unit_id": ["m1", "b1", "b2"],
                             "previous_ipp_cents": [390, 380, 400]})
    improved = awards.award_roster(frame, regions(m).head(0), m, previous).filter(
        pl.col("award") == "paling_meningkat").collect()
    assert list(zip(improved["unit_id"], improved["rank"], improved["score"], strict=True)) == \
        [("m1", 1, 0.3), ("b1", 2, 0.1)]
    assert improved["reason_en"][0].startswith("IPP rose by 0.30 from 3.90 (previous cycle recomputed under 2024")
    none = awards.award_roster(frame, regions(m).head(0), m).filter(pl.col("award") == "paling_meningkat").collect()
    assert none.height == 0


def test_a_cycle_without_awards_gives_an_empty_roster_with_its_columns(methodology_2024: Methodology) -> None:
    m = dataclasses.replace(methodology_2024, awards=())
    out = awards.award_roster(units(unit("a1", 470, "A"), m=m), regions(m), m).collect()
    assert (out.height, out.columns) == (0, awards.ROSTER_COLUMNS)
