"""Issue 20: the Ombudsman's compliance score, opinion category, zone, rank and disagreement, golden by hand.

Every expected value below is worked out by hand from DOMAIN.md ("Ombudsman compliance"), never taken from
the code: 2023 weights Input 21.85, Proses 32.37, Output 24.24, Pengaduan 21.54; A >= 88.00, B >= 78.00.
"""

from __future__ import annotations

import tomllib
from copy import deepcopy
from typing import Any

import polars as pl
import pytest

from flows.settings import load_methodology, methodology_path
from transforms.compliance import COMPLIANCE_ROW_SCHEMA, compliance_scores, score_mismatch
from transforms.methodology import Methodology, MethodologyError
from transforms.methodology_parser import parse_methodology

M2023, M2024 = load_methodology("2023"), load_methodology("2024")
REGIONS = pl.LazyFrame({"region_code": ["36", "36.01", "36.71", "35", "027"],
                        "name": ["Banten", "Kab. Pandeglang", "Kota Tangerang", "Jawa Timur", "Kemensos"]})
NO_BODY_ROWS = pl.LazyFrame(schema={"region_code": pl.String, "predicate": pl.String, "predicate_label": pl.String})


def feed(rows: list[dict[str, Any]]) -> pl.LazyFrame:
    """Feed rows with every column (absent ones null) and a submission id."""
    full = [{**{c: None for c in COMPLIANCE_ROW_SCHEMA}, "submission_id": "s1", **r} for r in rows]
    return pl.LazyFrame(full, schema=COMPLIANCE_ROW_SCHEMA)


def scored(rows: list[dict[str, Any]], methodology: Methodology = M2023,
           body_rows: pl.LazyFrame = NO_BODY_ROWS) -> pl.DataFrame:
    return compliance_scores(feed(rows), REGIONS, body_rows, methodology).collect()


def dims(i: float, p: float, o: float, g: float) -> dict[str, float]:
    return {"input": i, "proses": p, "output": o, "pengaduan": g}


def raw_2023() -> dict[str, Any]:
    return tomllib.loads(methodology_path("2023").read_text(encoding="utf-8"))


def parsed(raw: dict[str, Any]) -> Methodology:
    return parse_methodology(raw, cycle="2023", source="test 2023")


# ---------------------------------------------------------------- golden values

def test_seed_example_given_score_is_a_kualitas_tertinggi_hijau() -> None:
    """DOMAIN.md: Dinas Sosial of Banten scored 91.88 -> Kualitas Tertinggi (A), zona hijau."""
    row = scored([{"body_code": "36", "unit_id": "DINSOS-36", "unit_name": "Dinas Sosial", "score": 91.88}]).row(
        0, named=True)
    assert (row["score"], row["category"], row["category_label"], row["zone"]) == (91.88, "A", "Kualitas Tertinggi",
                                                                                  "hijau")
    assert row["score_source"] == "given" and row["subject"] == "unit" and row["region_name"] == "Banten"


@pytest.mark.parametrize(("score", "category", "label", "zone"), [
    (88.00, "A", "Kualitas Tertinggi", "hijau"),
    (87.99, "B", "Kualitas Tinggi", "hijau"),
    (78.00, "B", "Kualitas Tinggi", "hijau"),
    (77.99, "C", "Kualitas Sedang", "kuning"),
    (100.00, "A", "Kualitas Tertinggi", "hijau"),
    (0.00, "E", "Kualitas Terendah", "merah"),
])
def test_category_boundaries(score: float, category: str, label: str, zone: str) -> None:
    row = scored([{"body_code": "36", "score": score}]).row(0, named=True)
    assert (row["category"], row["category_label"], row["zone"]) == (category, label, zone)


@pytest.mark.parametrize(("dimensions", "expected"), [
    # 21.85*90 + 32.37*95 + 24.24*92 + 21.54*88 = 1966.50 + 3075.15 + 2230.08 + 1895.52 = 9167.25 -> 91.6725
    (dims(90.00, 95.00, 92.00, 88.00), 91.67),
    # 21.85*87 + 32.37*75 + 24.24*80 + 21.54*90 = 1900.95 + 2427.75 + 1939.20 + 1938.60 = 8206.50 -> 82.065,
    # an exact half: half-up gives 82.07 (float arithmetic then round() gives 82.06)
    (dims(87.00, 75.00, 80.00, 90.00), 82.07),
    # 21.85*86 + 32.37*80 + 24.24*80 + 21.54*90 = 1879.10 + 2589.60 + 1939.20 + 1938.60 = 8346.50 -> 83.465 -> 83.47
    (dims(86.00, 80.00, 80.00, 90.00), 83.47),
    # equal dimensions give that value (the weights sum to 100.00)
    (dims(77.77, 77.77, 77.77, 77.77), 77.77),
    (dims(100, 100, 100, 100), 100.00),
])
def test_score_from_dimensions_by_hand(dimensions: dict[str, float], expected: float) -> None:
    row = scored([{"body_code": "36.01", **dimensions}]).row(0, named=True)
    assert row["score"] == expected and row["score_source"] == "dimensions"


def test_given_score_agreeing_with_dimensions_is_not_flagged_and_disagreeing_names_both() -> None:
    frame = feed([{"body_code": "36", **dims(87.00, 75.00, 80.00, 90.00), "score": 82.07},
                  {"body_code": "35", **dims(87.00, 75.00, 80.00, 90.00), "score": 82.06},
                  {"body_code": "027", "score": 50.00}]).collect()
    mismatch = score_mismatch(frame, M2023).to_list()
    assert mismatch[0] is None and mismatch[2] is None
    assert "82.06" in mismatch[1] and "82.07" in mismatch[1]


def test_ranks_within_each_level_bodies_and_units_apart() -> None:
    frame = scored([{"body_code": "36.01", "score": 80.00}, {"body_code": "36.71", "score": 70.00},
                    {"body_code": "36", "score": 60.00}, {"body_code": "35", "score": 60.00},
                    {"body_code": "36", "unit_id": "u1", "score": 99.00}, {"body_code": "027", "score": 10.00}])
    ranks = {(r["region_code"], r["unit_id"]): r["rank"] for r in frame.iter_rows(named=True)}
    # kabupaten and kota are separate categories; two provinces tie at 1; a unit row is ranked among units
    assert ranks == {("36.01", None): 1, ("36.71", None): 1, ("36", None): 1, ("35", None): 1, ("36", "u1"): 1,
                     ("027", None): 1}
    frame = scored([{"body_code": "36", "score": 60.00}, {"body_code": "35", "score": 60.00},
                    {"body_code": "36.01", "score": 90.00}, {"body_code": "36.02", "score": 95.00},
                    {"body_code": "36.03", "score": 90.00}])
    assert dict(zip(frame["region_code"], frame["rank"], strict=True)) == {
        "35": 1, "36": 1, "36.01": 2, "36.02": 1, "36.03": 2}


def test_disagreement_a_with_red_and_d_with_green() -> None:
    body_rows = pl.LazyFrame({"region_code": ["36", "35", "36.01", "36.71"],
                              "predicate": ["A-", "E", "A", "B"],
                              "predicate_label": ["Sangat Baik", "Sangat Buruk", "Pelayanan Prima", "Baik"]})
    frame = scored([{"body_code": "36", "score": 30.00}, {"body_code": "35", "score": 90.00},
                    {"body_code": "36.01", "score": 60.00}, {"body_code": "36.71", "score": 10.00},
                    {"body_code": "36", "unit_id": "u1", "score": 30.00}], body_rows=body_rows)
    said = {(r["region_code"], r["unit_id"]): r["disagreement"] for r in frame.iter_rows(named=True)}
    assert said[("36", None)] == "predikat PEKPPP A- (Sangat Baik), zona Ombudsman merah"
    assert said[("35", None)] == "predikat PEKPPP E (Sangat Buruk), zona Ombudsman hijau"
    # A with kuning, B with merah: not a disagreement by the cycle's rules; unit rows carry none
    assert said[("36.01", None)] is None and said[("36.71", None)] is None and said[("36", "u1")] is None


# ---------------------------------------------------------------- the methodology section

def test_both_cycles_carry_the_section_with_domain_weights() -> None:
    for methodology in (M2023, M2024):
        assert methodology.ombudsman is not None
        assert dict(methodology.ombudsman.weights or ()) == {"input": 2185, "proses": 3237, "output": 2424,
                                                             "pengaduan": 2154}
        assert [(b.lower_cents, b.code) for b in methodology.ombudsman.opinions][:2] == [(8800, "A"), (7800, "B")]


def test_2021_zone_scheme_is_expressible() -> None:
    """2021: hijau 81.00-100, kuning 51.00-80.99, merah 0-50.99; final scores, no letters, no dimension weights."""
    raw = raw_2023()
    raw["ombudsman"] = {
        "opinions": [{"lower": "81.00", "code": "", "label": "Kepatuhan Tinggi", "zone": "hijau"},
                     {"lower": "51.00", "code": "", "label": "Kepatuhan Sedang", "zone": "kuning"},
                     {"lower": "0.00", "code": "", "label": "Kepatuhan Rendah", "zone": "merah"}],
        "disagreements": [{"predicates": ["A", "A-"], "zone": "merah"}],
    }
    m2021 = parsed(raw)
    frame = scored([{"body_code": c, "score": s} for c, s in
                    (("36", 81.00), ("35", 80.99), ("36.01", 51.00), ("36.71", 50.99))], m2021)
    zones = dict(zip(frame["region_code"], frame["zone"], strict=True))
    assert zones == {"36": "hijau", "35": "kuning", "36.01": "kuning", "36.71": "merah"}
    assert frame["category"].null_count() == frame.height
    # without weights, dimensions cannot be combined: such a row has no computed score
    assert score_mismatch(feed([{"body_code": "36", **dims(1, 2, 3, 4), "score": 9.0}]).collect(),
                          m2021).to_list() == [None]


def test_without_the_section_nothing_is_scored() -> None:
    raw = raw_2023()
    del raw["ombudsman"]
    methodology = parsed(raw)
    assert methodology.ombudsman is None
    assert scored([{"body_code": "36", "score": 91.88}], methodology).height == 0


@pytest.mark.parametrize(("change", "words"), [
    (lambda o: o.update(weight={}), "unknown key"),
    (lambda o: o["weights"].update(input="21.84"), "sum to 99.99"),
    (lambda o: o["weights"].update(inputs="1"), "unknown key"),
    (lambda o: o["disagreements"].append({"predicates": ["Z"], "zone": "merah"}), "predicate codes"),
    (lambda o: o["disagreements"].append({"predicates": ["A"], "zone": "biru"}), "not a zone"),
    (lambda o: o["opinions"][0].update(code=""), "every category its own code"),
    (lambda o: o["opinions"].reverse(), "highest lower bound"),
])
def test_section_is_strict(change: Any, words: str) -> None:
    raw = deepcopy(raw_2023())
    change(raw["ombudsman"])
    with pytest.raises(MethodologyError, match=words):
        parsed(raw)
