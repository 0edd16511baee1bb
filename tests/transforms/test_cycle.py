"""Unit tests of transforms/cycle.py: the per-unit sums and the wiring of a cycle's scored tables.

A tiny cycle by hand: kota 35.78 with RSUD U1 (all 5s from one evaluator: IPP 5.00, A; ten respondents
answering 4 everywhere: IKM 100.00; 10 yearly users need all 10) and KECAMATAN U2 (all 4s: 4.00, B; no
survey). The region averages 5 and 4: 4.50, A-.
"""

from __future__ import annotations

import polars as pl

from transforms import cycle
from transforms.methodology import Methodology


def sheet(m: Methodology, unit: str, score: int, evaluator: str = "E1") -> pl.DataFrame:
    return pl.DataFrame({"region_code": "35.78", "unit_id": unit, "indicator_code": m.indicator_codes,
                         "score": score, "evaluator_id": evaluator})


def survey(m: Methodology, unit: str, n: int, answer: int) -> pl.DataFrame:
    return pl.DataFrame({"region_code": "35.78", "unit_id": unit, "respondent_id": [f"R{k}" for k in range(n)],
                         **{e: [answer] * n for e in m.survey.element_codes}})


def inputs(m: Methodology, **extra: object) -> cycle.CycleInputs:
    units = pl.LazyFrame({"region_code": ["35.78", "35.78"], "unit_id": ["U1", "U2"], "unit_name": ["RS", "Kec"],
                          "unit_type": ["RSUD", "KECAMATAN"], "annual_service_users": [10, None]},
                         schema_overrides={"annual_service_users": pl.Int64})
    return cycle.CycleInputs(units=units, evaluations=pl.concat([sheet(m, "U1", 5), sheet(m, "U2", 4)]).lazy(),
                             responses=survey(m, "U1", 10, 4).lazy(),
                             regions=pl.LazyFrame({"region_code": ["35.78"], "name": ["KOTA SURABAYA"]}),
                             **extra)  # type: ignore[arg-type]


def test_unit_totals_are_the_per_unit_sums(methodology_2024: Methodology) -> None:
    """U1: 30 indicators each summing 5 over one score; one evaluator; 10 respondents with element sums 40."""
    m = methodology_2024
    sums = inputs(m).unit_totals(m)
    indicators = sums.indicators.filter(pl.col("unit_id") == "U1").collect()
    assert (indicators.height, indicators["score_sum"].unique().to_list(), indicators["n_scores"].max()) == (30, [5], 1)
    assert sums.evaluators.collect().sort("unit_id")["n_evaluators"].to_list() == [1, 1]
    elements = sums.elements.collect().row(0, named=True)
    assert (elements["n_respondents"], elements["persyaratan__sum"], elements["persyaratan__n"]) == (10, 40, 10)


def test_given_totals_are_used_instead_of_the_rows(methodology_2024: Methodology) -> None:
    """Totals kept by the ledger win: with U2's totals saying all 5s, U2 scores 5.00 though its rows say 4."""
    m = methodology_2024
    fives = pl.concat([sheet(m, "U1", 5), sheet(m, "U2", 5)]).lazy()
    kept = cycle.unit_totals(fives, survey(m, "U1", 10, 4).lazy(), m.survey.element_codes)
    tables = cycle.score_cycle(inputs(m, totals=kept), m)
    assert tables["unit_scores"].sort("unit_id")["ipp"].to_list() == [5.0, 5.0]


def test_score_cycle_on_the_tiny_cycle(methodology_2024: Methodology) -> None:
    m = methodology_2024
    tables = cycle.score_cycle(inputs(m), m)
    assert set(tables) == {"unit_scores", "aspect_scores", "skm_scores", "region_scores", "national_scores",
                           "award_roster", "lokus_coverage", "compliance_scores"}
    assert tables["compliance_scores"].is_empty()  # no Ombudsman feed in these inputs
    u1, u2 = tables["unit_scores"].sort("unit_id").iter_rows(named=True)
    assert (u1["ipp"], u1["predicate"], u1["ikm"], u1["sample_required"], u1["eligible"]) == (5.0, "A", 100.0, 10, True)
    assert (u2["ipp"], u2["predicate"], u2["n_respondents"], u2["sample_met"], u2["eligible"]) == (4.0, "B", 0, False,
                                                                                                   False)
    assert (u1["rank_in_type"], u2["rank_in_type"], u1["cycle"]) == (1, 1, "2024")  # each alone in its type
    region = tables["region_scores"].row(0, named=True)
    assert (region["ipp"], region["predicate"], region["ikm"], region["category"]) == (4.5, "A-", 100.0, "kota")
    assert tables["aspect_scores"].height == 12  # 2 units x 6 aspects
    assert tables["skm_scores"]["unit_id"].to_list() == ["U1"] * 9  # element rows of the surveyed unit only
    roster = tables["award_roster"]
    assert ("pelayanan_prima", "U1") in list(zip(roster["award"], roster["unit_id"], strict=True))
    assert "U2" not in roster["unit_id"].to_list()


def test_a_unit_no_evaluator_scored_is_incomplete(methodology_2024: Methodology) -> None:
    """U2 has no evaluation row at all: status incomplete, 0 evaluators, 0 indicators, no IPP."""
    m = methodology_2024
    only_u1 = cycle.CycleInputs(**{**inputs(m).__dict__, "evaluations": sheet(m, "U1", 5).lazy()})
    u2 = cycle.score_cycle(only_u1, m)["unit_scores"].filter(pl.col("unit_id") == "U2").row(0, named=True)
    assert (u2["status"], u2["n_evaluators"], u2["n_indicators_scored"], u2["ipp"]) == ("incomplete", 0, 0, None)


def test_previous_ipp_is_recomputed_under_this_methodology(methodology_2024: Methodology) -> None:
    """Last cycle's totals of U1 (all 3s) give 300 hundredths under 2024's weights."""
    m = methodology_2024
    previous = cycle.CycleInputs(**{**inputs(m).__dict__, "previous_evaluations": sheet(m, "U1", 3).lazy()})
    totals = previous.previous_totals()
    assert totals is not None
    assert cycle.previous_ipp(totals, m).collect().row(0, named=True) == {"region_code": "35.78", "unit_id": "U1",
                                                                          "previous_ipp_cents": 300}
    assert inputs(m).previous_totals() is None
