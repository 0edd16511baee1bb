"""Issue 18, methodology fidelity: the whole Krejcie–Morgan table, eligibility as DOMAIN.md says, ranks per
category, roll-ups rounded once, body awards with their coverage rule, strict methodology files, published
results reproduced. Golden values are written here by hand from DOMAIN.md, never taken from the code."""

from __future__ import annotations

import re
import tomllib
from copy import deepcopy
from dataclasses import replace
from fractions import Fraction
from itertools import pairwise
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.settings import load_methodology, methodology_path
from transforms import awards, region_scores, skm_scores
from transforms.cycle import CycleInputs, UnitTotals, score_cycle
from transforms.methodology import Methodology, MethodologyError
from transforms.methodology_parser import parse_methodology
from transforms.rounding import band_of

M2023, M2024 = load_methodology("2023"), load_methodology("2024")
PROPERTY = settings(max_examples=60, deadline=None, derandomize=True, database=None, print_blob=False)

# DOMAIN.md, "Sample size": the whole Krejcie & Morgan (1970) table, copied here by hand (population N -> sample s).
KREJCIE_MORGAN = [
    (10, 10), (15, 14), (20, 19), (25, 24), (30, 28), (35, 32), (40, 36), (45, 40), (50, 44), (55, 48), (60, 52),
    (65, 56), (70, 59), (75, 63), (80, 66), (85, 70), (90, 73), (95, 76), (100, 80), (110, 86), (120, 92),
    (130, 97), (140, 103), (150, 108), (160, 113), (170, 118), (180, 123), (190, 127), (200, 132), (210, 136),
    (220, 140), (230, 144), (240, 148), (250, 152), (260, 155), (270, 159), (280, 162), (290, 165), (300, 169),
    (320, 175), (340, 181), (360, 186), (380, 191), (400, 196), (420, 201), (440, 205), (460, 210), (480, 214),
    (500, 217), (550, 226), (600, 234), (650, 242), (700, 248), (750, 254), (800, 260), (850, 265), (900, 269),
    (950, 274), (1000, 278), (1100, 285), (1200, 291), (1300, 297), (1400, 302), (1500, 306), (1600, 310),
    (1700, 313), (1800, 317), (1900, 320), (2000, 322), (2200, 327), (2400, 331), (2600, 335), (2800, 338),
    (3000, 341), (3500, 346), (4000, 351), (4500, 354), (5000, 357), (6000, 361), (7000, 364), (8000, 367),
    (9000, 368), (10000, 370), (15000, 375), (20000, 377), (30000, 379), (40000, 380), (50000, 381), (75000, 382),
    (1000000, 384),
]


def table_sample(population: int) -> int:
    """The oracle: the next larger N of the table (384 above it), never more than the population itself."""
    return min(next((s for n, s in KREJCIE_MORGAN if n >= population), 384), population)


def required(populations: list[int | None], methodology: Methodology = M2024) -> list[int | None]:
    units = pl.DataFrame({"region_code": ["35"] * len(populations), "unit_id": [f"u{n:03d}" for n in
                                                                               range(len(populations))],
                          "annual_service_users": populations}, schema_overrides={"annual_service_users": pl.Int64})
    got = skm_scores.required_sample(units.lazy(), methodology).collect().sort("unit_id")
    return got["sample_required"].to_list()


# ---------------------------------------------------------------- 1. the whole Krejcie–Morgan table

@pytest.mark.parametrize("methodology", [M2023, M2024], ids=["2023", "2024"])
def test_methodology_files_hold_the_whole_table(methodology: Methodology) -> None:
    assert list(methodology.survey.sample_table) == KREJCIE_MORGAN


@pytest.mark.parametrize(("users", "sample"), [(51, 48), (221, 144), (301, 175), (2001, 327)])
def test_the_rows_issue_18_found_short(users: int, sample: int) -> None:
    # The 18-row table asked 51, 169, 217 and 341 for these populations (issue 18).
    assert required([users]) == [sample]


@pytest.mark.parametrize(("users", "sample"), [
    (0, 0), (1, 1), (5, 5), (9, 9),                      # below 10: the sample is the whole population
    (100_001, 384), (250_000, 384), (1_000_000, 384), (1_000_001, 384), (50_000_000, 384),  # above 100,000
])
def test_the_table_ends(users: int, sample: int) -> None:
    assert required([users]) == [sample]


def test_every_exact_table_population_takes_its_own_row() -> None:
    assert required([n for n, _ in KREJCIE_MORGAN]) == [s for _, s in KREJCIE_MORGAN]
    # One more than a row's N takes the next row (at most the population itself: 11 users need all 11).
    after = list(pairwise(KREJCIE_MORGAN))
    assert required([n + 1 for (n, _), _ in after]) == [min(s, n + 1) for (n, _), (_, s) in after]


# ---------------------------------------------------------------- 2. eligibility

def eligibility_of(rows: list[dict[str, Any]], methodology: Methodology = M2024) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={"status": pl.String, "n_indicators_scored": pl.Int64,
                                       "n_respondents": pl.Int64, "annual_service_users": pl.Int64})
    frame = frame.with_columns(region_code=pl.lit("35"), unit_id=pl.int_range(pl.len()).cast(pl.String).str.zfill(4))
    sample = skm_scores.required_sample(frame.lazy(), methodology, key=["unit_id"]).drop("annual_service_users")
    return (frame.lazy().join(sample, on="unit_id")
            .with_columns(sample_met=awards.sample_met(), **awards.ineligible_reasons(methodology))
            .with_columns(eligible=awards.eligibility(methodology)).sort("unit_id").collect())


def unit(respondents: int, users: int | None, status: str = "scored", scored: int = 30) -> dict[str, Any]:
    return {"status": status, "n_indicators_scored": scored, "n_respondents": respondents,
            "annual_service_users": users}


def test_eligibility_as_domain_md_says() -> None:
    got = eligibility_of([
        unit(48, 51),                 # met exactly (the table asks 48 of 51)
        unit(47, 51),                 # one short
        unit(0, None),                # no survey and no population: the issue's loophole
        unit(30, None),               # a survey but no declared population
        unit(0, 0),                   # a population of 0 and no survey: still no survey
        unit(0, 51, "incomplete", 28),
    ])
    assert got["eligible"].to_list() == [True, False, False, False, False, False]
    assert got["sample_met"].to_list() == [True, False, False, False, False, False]
    reasons = got["ineligible_reason_en"].to_list()
    assert reasons[0] is None
    assert reasons[1] == ("survey sample not met: 47 of 48 respondents for 51 yearly service users "
                          "(Krejcie-Morgan; require_survey_sample)")
    no_survey = "no survey: 0 respondents, and the cycle requires the survey sample (require_survey_sample)"
    no_population = ("no declared population (annual_service_users empty): the survey sample cannot be met "
                     "(require_survey_sample)")
    assert reasons[2] == f"{no_survey}; {no_population}"
    assert reasons[3] == no_population
    assert reasons[4] == no_survey
    assert reasons[5] == f"no IPP: status incomplete, 28 of 30 indicators scored (require_complete); {no_survey}"
    # Bahasa Indonesia first (issue 22): the published `ineligible_reason` says the same in Bahasa.
    bahasa = got["ineligible_reason"].to_list()
    assert bahasa[0] is None and [b is None for b in bahasa] == [r is None for r in reasons]
    assert bahasa[1] == ("sampel survei belum terpenuhi: 47 dari 48 responden untuk 51 pengguna layanan per tahun "
                         "(Krejcie-Morgan; require_survey_sample)")
    assert bahasa[5].startswith("tidak ada IPP: status incomplete, 28 dari 30 indikator dinilai (require_complete); "
                                "tidak ada survei: 0 responden")


def test_require_survey_sample_false_acts() -> None:
    relaxed = replace(M2024, require_survey_sample=False)
    got = eligibility_of([unit(0, None), unit(3, 5000), unit(0, None, "incomplete", 29)], relaxed)
    assert got["eligible"].to_list() == [True, True, False]
    frame = got.with_columns(note=awards.eligibility_note(relaxed, "en"), catatan=awards.eligibility_note(relaxed))
    assert frame["note"][0] == ("eligible: all 30 indicators scored (require_complete); survey sample not required "
                                "(require_survey_sample = false)")
    assert frame["catatan"][0] == ("layak: semua 30 indikator dinilai (require_complete); sampel survei tidak "
                                   "disyaratkan (require_survey_sample = false)")


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 500), st.none() | st.integers(0, 2_000_000)), min_size=1, max_size=40))
def test_eligibility_never_admits_a_unit_below_the_table(cases: list[tuple[int, int | None]]) -> None:
    got = eligibility_of([unit(respondents, users) for respondents, users in cases])
    for (respondents, users), eligible in zip(cases, got["eligible"], strict=True):
        meets = users is not None and respondents > 0 and respondents >= table_sample(users)
        assert eligible == meets, (respondents, users)


# ---------------------------------------------------------------- 3. the methodology file: strict, marked

def raw_2024() -> dict[str, Any]:
    return tomllib.loads(methodology_path("2024").read_text(encoding="utf-8"))


@pytest.mark.parametrize(("path", "key"), [
    (("scores",), "max_evaluators"), (("eligibility",), "require_complete"),
    (("eligibility",), "require_survey_sample"), (("survey",), "sample_rule"), (("survey",), "answer_max"),
    (("limits",), "max_bad_row_share"), (("rollup",), "method"), (("f03",), "f03_weight"),
    (("predicates", 8), "zone"), (("awards", 3), "min_scored_share"), (("awards", 2), "top_n"),
])
def test_a_missing_key_is_an_error_naming_the_key_and_the_file(path: tuple, key: str) -> None:
    raw = deepcopy(raw_2024())
    table: Any = raw
    for part in path:
        table = table[part]
    del table[key]
    with pytest.raises(MethodologyError, match=rf"2024\.toml.*missing '{key}'"):
        parse_methodology(raw, cycle="2024", source="data/methodology/2024.toml")


@pytest.mark.parametrize(("section", "key", "value", "message"), [
    ("eligibility", "require_complete", False, "require_complete = false is not supported"),
    ("eligibility", "require_survey_sampel", True, r"unknown key\(s\) \['require_survey_sampel'\]"),
    ("survey", "sample_rule", "formula", "sample_rule 'formula' is not one of krejcie_morgan"),
    ("scores", "min_evaluators", 1, r"unknown key\(s\) \['min_evaluators'\]"),
    ("rollup", "weight_column", "annual_service_users", "has no effect with method 'mean'"),
    ("f03", "f03_weight", 30, "f02_weight \\+ f03_weight must be 100, got 105"),
])
def test_a_switch_that_would_not_act_is_refused_at_load(section: str, key: str, value: Any, message: str) -> None:
    raw = deepcopy(raw_2024())
    raw[section][key] = value
    with pytest.raises(MethodologyError, match=message):
        parse_methodology(raw, cycle="2024", source="2024.toml")


def test_a_unit_award_with_a_region_setting_is_refused() -> None:
    raw = deepcopy(raw_2024())
    raw["awards"][0]["min_scored_share"] = 1.0
    with pytest.raises(MethodologyError, match=r"awards\[0\]: unknown key"):
        parse_methodology(raw, cycle="2024", source="2024.toml")


UNCONFIRMED_KEYS = ("zone", "max_evaluators", "top_n", "min_predicate", "min_scored_share", "f02_weight",
                    "f03_weight", "method")


@pytest.mark.parametrize("cycle", ["2023", "2024"])
def test_every_unconfirmed_figure_is_marked_with_a_source_note(cycle: str) -> None:
    text = methodology_path(cycle).read_text(encoding="utf-8")
    lines = text.splitlines()
    for key in UNCONFIRMED_KEYS:
        for line in (x for x in lines if re.match(rf"\s*{key}\s*=", x)):
            assert "[unconfirmed]" in line and len(line.split("[unconfirmed]", 1)[1].strip()) > 5, line
    assert all("[unconfirmed]" in x for x in lines if 'label = "Gagal"' in x)
    for first in ("10.b", "15.c", "21.d", "25.e", "29.f"):  # indicator weights 10-30 (DOMAIN.md)
        at = next(n for n, x in enumerate(lines) if f'code = "{first}' in x)
        assert "[unconfirmed]" in lines[at - 2], first
    assert "[limits]" in text and "[unconfirmed] engineering limits" in text
    assert "2023 reports used the legacy" not in text  # the unsupported claim of issue 18 is gone


# ---------------------------------------------------------------- 4. published results reproduced

@pytest.mark.parametrize(("value", "predicate"), [
    # DOMAIN.md, "Predicates": checks against published results (PEKPPP results as cited there).
    ("2.18", "C-"), ("4.03", "A-"), ("3.36", "B-"), ("4.72", "A"),
    # Issue 18, "Published results reproduced in tests": two more published unit results.
    ("4.44", "A-"), ("3.85", "B"),
])
def test_published_unit_results(value: str, predicate: str) -> None:
    cents = round(Fraction(value) * 100)
    for m in (M2023, M2024):
        assert pl.select(band_of(pl.lit(cents), m.predicates)).item() == predicate


def cycle_of(unit_ipps: dict[tuple[str, str], Fraction], surveys: dict[tuple[str, str], tuple[int, int]] | None = None,
             methodology: Methodology = M2024) -> dict[str, pl.DataFrame]:
    """score_cycle over per-unit sums: each unit's indicator sums chosen so its exact IPP is the given value
    (one evaluator per score step; every indicator scored), and each survey a (respondents, sum per element)."""
    surveys = surveys or {}
    keys = list(unit_ipps)
    codes = methodology.indicator_codes
    indicator_rows, evaluator_rows = [], []
    for key in keys:
        # All indicators share one mean score s = IPP (weights sum to 100 twice): s = score_sum / n_scores.
        ipp = unit_ipps[key]
        indicator_rows += [{"region_code": key[0], "unit_id": key[1], "indicator_code": c,
                            "score_sum": ipp.numerator, "n_scores": ipp.denominator} for c in codes]
        evaluator_rows.append({"region_code": key[0], "unit_id": key[1], "n_evaluators": ipp.denominator})
    elements = methodology.survey.element_codes
    element_rows = [{"region_code": k[0], "unit_id": k[1], "n_respondents": n,
                     **{f"{e}__sum": total for e in elements}, **{f"{e}__n": n for e in elements}}
                    for k, (n, total) in surveys.items()]
    element_schema = {"region_code": pl.String, "unit_id": pl.String, "n_respondents": pl.Int64,
                      **{f"{e}__{p}": pl.Int64 for e in elements for p in ("sum", "n")}}
    totals = UnitTotals(
        indicators=pl.LazyFrame(indicator_rows, schema={"region_code": pl.String, "unit_id": pl.String,
                                                        "indicator_code": pl.String, "score_sum": pl.Int64,
                                                        "n_scores": pl.Int64}),
        evaluators=pl.LazyFrame(evaluator_rows, schema={"region_code": pl.String, "unit_id": pl.String,
                                                        "n_evaluators": pl.Int64}),
        elements=pl.LazyFrame(element_rows, schema=element_schema))
    units = pl.LazyFrame({"region_code": [k[0] for k in keys], "unit_id": [k[1] for k in keys],
                          "unit_name": [k[1] for k in keys], "unit_type": ["RSUD"] * len(keys),
                          "annual_service_users": [None] * len(keys), "submission_id": ["s"] * len(keys)},
                         schema_overrides={"annual_service_users": pl.Int64})
    codes_of_regions = sorted({k[0] for k in keys})
    regions = pl.LazyFrame({"region_code": codes_of_regions, "name": codes_of_regions,
                            "province_code": [c[:2] for c in codes_of_regions],
                            "level": ["provinsi" if len(c) == 2 else "kab/kota" for c in codes_of_regions]})
    empty = pl.LazyFrame(schema={"region_code": pl.String, "unit_id": pl.String})
    return score_cycle(CycleInputs(units, empty, empty, regions, totals=totals), methodology)


@pytest.mark.parametrize(("year", "units", "national", "predicate"), [
    # DOMAIN.md, "Who does what": national IPP 3.84 in 2020 and 3.79 in 2021 (KemenPANRB's published results),
    # both "Baik" (B: 3.51 <= IPP < 4.01). Units chosen (evaluator means, at most 12 evaluators) so that their
    # exact mean rounds half-up to that value.
    ("2020", [Fraction(7, 2), Fraction(46, 11)], "3.84", "B"),   # (3.5 + 4.1818...) / 2 = 3.8409... -> 3.84
    ("2021", [Fraction(17, 5), Fraction(46, 11)], "3.79", "B"),  # (3.4 + 4.1818...) / 2 = 3.7909... -> 3.79
])
def test_published_national_results(year: str, units: list[Fraction], national: str, predicate: str) -> None:
    out = cycle_of({("35", f"U{n}"): v for n, v in enumerate(units)})
    row = out["national_scores"].row(0, named=True)
    assert (f"{row['ipp']:.2f}", row["predicate"], row["predicate_label"]) == (national, predicate, "Baik"), year


# ---------------------------------------------------------------- 5. roll-ups rounded once, ranks per category

def test_ikm_rollups_average_exact_values_and_round_once() -> None:
    # One element total per unit: IKM = 25 · (1/9) · 9 · S/n = 25·S/n (exact mode, every element answered alike).
    # U1: 25·16001/5000 = 80.005 -> 80.01; U2: 25·32001/10000 = 80.0025 -> 80.00.
    # Mean of the exact values 80.00375 -> 80.00; the mean of the rounded ones (80.005) would give 80.01.
    ipp = {("35.78", "U1"): Fraction(4), ("35.78", "U2"): Fraction(4)}
    out = cycle_of(ipp, {("35.78", "U1"): (5000, 16001), ("35.78", "U2"): (10000, 32001)})
    assert out["unit_scores"].sort("unit_id")["ikm"].to_list() == [80.01, 80.0]
    assert out["region_scores"]["ikm"].item() == 80.0
    assert out["national_scores"]["ikm"].item() == 80.0


def test_ranks_restart_at_1_for_provinsi_kabupaten_and_kota() -> None:
    # Before issue 18 kabupaten and kota were ranked together: Kota Surabaya 1, Kabupaten Sidoarjo 2.
    out = cycle_of({("35", "P"): Fraction(3), ("35.15", "K"): Fraction(4), ("35.78", "T"): Fraction(9, 2),
                    ("35.07", "K2"): Fraction(41, 10), ("35.71", "T2"): Fraction(4)})
    rows = {r["region_code"]: (r["category"], r["rank"]) for r in out["region_scores"].iter_rows(named=True)}
    assert rows == {"35": ("provinsi", 1), "35.07": ("kabupaten", 1), "35.15": ("kabupaten", 2),
                    "35.71": ("kota", 2), "35.78": ("kota", 1)}


CODES = st.sampled_from(["35", "32", "51", "35.07", "35.15", "32.04", "51.03", "35.78", "35.71", "32.73", "51.71",
                         "027", "054", "013"])


@PROPERTY
@given(st.dictionaries(CODES, st.integers(0, 500), min_size=1))
def test_ranks_restart_at_1_in_every_category(ipp_cents: dict[str, int]) -> None:
    units = pl.LazyFrame({"region_code": list(ipp_cents), "ipp_num": list(ipp_cents.values()),
                          "ipp_den": [100] * len(ipp_cents), "unit_type": ["RSUD"] * len(ipp_cents)})
    reference = pl.LazyFrame({"region_code": list(ipp_cents), "name": list(ipp_cents)})
    got = region_scores.region_scores(units, reference, M2024).collect()
    for (category,), rows in got.group_by("category"):
        assert rows["rank"].min() == 1, category
        values = {code: ipp_cents[code] for code in rows["region_code"]}
        for code, rank in zip(rows["region_code"], rows["rank"], strict=True):
            assert rank == 1 + sum(v > values[code] for v in values.values()), (category, code)
    assert set(got["category"]) <= {"provinsi", "kabupaten", "kota", "kl"}
    assert got.filter(pl.col("category") == "kl")["region_code"].str.len_chars().to_list() == \
        [3] * got.filter(pl.col("category") == "kl").height


@PROPERTY
@given(ipp=st.fractions(0, 5, max_denominator=12).filter(lambda f: 12 % f.denominator == 0),
       respondents=st.integers(1, 400), answers=st.data(), copies=st.integers(1, 5))
def test_a_rollup_of_identical_units_equals_the_unit(ipp: Fraction, respondents: int, answers: st.DataObject,
                                                     copies: int) -> None:
    total = answers.draw(st.integers(respondents, 4 * respondents), label="element total")
    keys = [("35.78", f"U{n}") for n in range(copies)]
    out = cycle_of(dict.fromkeys(keys, ipp), dict.fromkeys(keys, (respondents, total)))
    unit = out["unit_scores"].row(0, named=True)
    for table in ("region_scores", "national_scores"):
        rolled = out[table].row(0, named=True)
        assert (rolled["ipp"], rolled["predicate"], rolled["ikm"]) == (unit["ipp"], unit["predicate"], unit["ikm"])


# ---------------------------------------------------------------- 6. body awards need their lokus covered

def test_a_region_award_needs_its_lokus_covered() -> None:
    award = next(a for a in M2024.awards if a.subject == "region")
    regions = pl.LazyFrame({"region_code": ["35.15", "35.78"], "region_name": ["Sidoarjo", "Surabaya"],
                            "category": ["kabupaten", "kota"], "rank": [1, 1], "ipp": [4.6, 4.6],
                            "ipp_cents": [460, 460], "predicate": ["A", "A"],
                            "predicate_label": ["Pelayanan Prima"] * 2,
                            "n_units": [3, 2], "n_units_scored": [2, 2],
                            "n_lokus_units": [3, 2], "n_lokus_scored": [2, 2], "lokus_missing": [None, None]})
    units = pl.LazyFrame(schema={"region_code": pl.String})
    got = awards.award_roster(units, regions, replace(M2024, awards=(award,))).collect()
    assert award.min_scored_share == 1  # [unconfirmed] in the file: every unit scored
    assert got["region_code"].to_list() == ["35.78"]  # Sidoarjo: 2 of 3 units scored
    assert got["reason_en"].item() == ("roll-up IPP 4.60 (Pelayanan Prima); lokus covered: 2 of 2 lokus units scored "
                                       "(at least 100% required, min_scored_share); rank 1 among kota bodies")
    assert got["reason"].item() == ("IPP gabungan 4,60 (Pelayanan Prima); lokus terpenuhi: 2 dari 2 unit lokus "
                                    "dinilai (minimal 100%, min_scored_share); peringkat 1 di antara badan kota")
    half = replace(award, min_scored_share=Fraction(1, 2))
    assert awards.award_roster(units, regions, replace(M2024, awards=(half,))).collect()["region_code"].to_list() \
        == ["35.15", "35.78"]


def test_regions_left_out_by_coverage_say_why() -> None:
    from transforms import report_data

    regions = pl.LazyFrame({"region_code": ["35", "35.15", "35.78"], "region_name": ["Jatim", "Sidoarjo", "Surabaya"],
                            "level": ["provinsi", "kabupaten", "kota"], "ipp": [4.6, 4.2, 3.9],
                            "predicate": ["A", "A-", "B"], "n_units": [3, 4, 2], "n_units_scored": [2, 4, 1]})
    got = report_data.regions_left_out(regions, M2024).collect()  # a release without `category`: from `level`
    # Sidoarjo is covered; Surabaya's B is no region award's predicate: only Jatim is listed.
    assert got.select("region_code", "category", "reason_en").rows() == [
        ("35", "provinsi", "lokus not covered: 2 of 3 lokus units scored (at least 100% required, min_scored_share)")]
    assert got["reason"].item() == "lokus belum terpenuhi: 2 dari 3 unit lokus dinilai (minimal 100%, min_scored_share)"
