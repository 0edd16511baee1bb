"""K/L as evaluated bodies and the lokus of each cycle (issue 19): levels, ranks, coverage, award rule."""

from __future__ import annotations

import re
from dataclasses import replace
from fractions import Fraction

import polars as pl
import pytest

from flows.settings import load_methodology
from transforms import awards, bodies, region_scores
from transforms.methodology import MethodologyError
from transforms.methodology_parser import parse_methodology

M2023, M2024 = load_methodology("2023"), load_methodology("2024")


def _raw(cycle: str) -> dict:
    import tomllib

    from flows.settings import methodology_path

    return tomllib.loads(methodology_path(cycle).read_text(encoding="utf-8"))


def test_2023_lokus_per_tier_follows_domain() -> None:
    assert M2023.lokus_of("provinsi") == ("SAMSAT", "RSUD", "DINSOS")
    assert M2023.lokus_of("kabupaten_kota") == ("RSUD", "KECAMATAN", "DINSOS")
    assert M2023.lokus_of("kl") == ("UPT_KL",)
    assert set(M2024.lokus_of("provinsi")) == {"DINSOS", "RSUD", "SAMSAT"}


@pytest.mark.parametrize(("change", "message"), [
    (lambda lokus: lokus.update(kl=["BANK"]), "not in [cycle] unit_types"),
    (lambda lokus: lokus.pop("kl"), "missing 'kl'"),
    (lambda lokus: lokus.update(desa=["RSUD"]), "unknown key(s) ['desa']"),
    (lambda lokus: lokus.update(provinsi=[]), "non-empty list"),
])
def test_a_bad_lokus_is_refused_at_load(change, message: str) -> None:
    raw = _raw("2023")
    change(raw["lokus"])
    with pytest.raises(MethodologyError, match=re.escape(message)):
        parse_methodology(raw, cycle="2023")


def test_a_methodology_without_lokus_takes_every_type() -> None:
    raw = _raw("2023")
    del raw["lokus"]
    assert parse_methodology(raw, cycle="2023").lokus_of("kl") is None


def test_tier_and_level_of_a_body_code() -> None:
    codes = pl.DataFrame({"code": ["35", "35.15", "35.78", "027", "054"]})
    got = codes.select(tier=bodies.body_tier(pl.col("code")), level=region_scores.region_level(pl.col("code")),
                       province=bodies.province_of(pl.col("code")))
    assert got.rows() == [("provinsi", "provinsi", "35"), ("kabupaten_kota", "kabupaten", "35"),
                          ("kabupaten_kota", "kota", "35"), ("kl", "kl", None), ("kl", "kl", None)]
    assert [bodies.body_tier_of(c) for c in ("35", "35.78", "027")] == ["provinsi", "kabupaten_kota", "kl"]


def _units(rows: list[tuple[str, str, int | None]]) -> pl.LazyFrame:
    """(body, unit_type, ipp in cents or None for not scored): unit rows as scoring gives them (den 100)."""
    return pl.LazyFrame({"region_code": [r[0] for r in rows], "unit_type": [r[1] for r in rows],
                         "ipp_num": [r[2] for r in rows], "ipp_den": [100] * len(rows)},
                        schema={"region_code": pl.String, "unit_type": pl.String, "ipp_num": pl.Int64,
                                "ipp_den": pl.Int64})


REFERENCE = pl.LazyFrame({"region_code": ["35", "35.78", "027", "054", "013"],
                          "name": ["Jawa Timur", "Kota Surabaya", "Kementerian Sosial", "Badan Pusat Statistik",
                                   "Kementerian Hukum dan Hak Asasi Manusia"]})


def test_kl_bodies_are_ranked_in_their_own_category_beside_the_regions() -> None:
    units = _units([
        ("35", "SAMSAT", 400), ("35", "RSUD", 420), ("35", "DINSOS", 380),   # Jatim: mean 4.00
        ("027", "UPT_KL", 450), ("027", "UPT_KL", 470),                       # Kemensos: 4.60
        ("054", "UPT_KL", 430),                                                 # BPS: 4.30
        ("013", "UPT_KL", 470), ("013", "UPT_KL", None),                        # Kemenkumham: 4.70 (1 of 2 scored)
    ])
    got = region_scores.region_scores(units, REFERENCE, M2023).collect()
    rows = {r["region_code"]: (r["level"], r["category"], r["rank"], r["ipp"], r["province_code"], r["region_name"])
            for r in got.iter_rows(named=True)}
    assert rows == {
        "35": ("provinsi", "provinsi", 1, 4.0, "35", "Jawa Timur"),
        "013": ("kl", "kl", 1, 4.7, None, "Kementerian Hukum dan Hak Asasi Manusia"),
        "027": ("kl", "kl", 2, 4.6, None, "Kementerian Sosial"),
        "054": ("kl", "kl", 3, 4.3, None, "Badan Pusat Statistik"),
    }


def test_a_body_missing_a_lokus_type_is_listed_and_counted_unscored() -> None:
    # Kota Surabaya sent RSUD (2, one scored) and DINSOS, no KECAMATAN (2023 kab/kota lokus: RSUD, KECAMATAN,
    # DINSOS). Lokus units: RSUD 2 + KECAMATAN 1 (missing, counts unscored) + DINSOS 1 = 4; scored 2.
    units = _units([("35.78", "RSUD", 460), ("35.78", "RSUD", None), ("35.78", "DINSOS", 470),
                    ("35", "SAMSAT", 460), ("35", "RSUD", 470), ("35", "DINSOS", 480)])
    coverage = bodies.lokus_coverage(units, M2023).collect()
    assert coverage.filter(pl.col("region_code") == "35.78").select("unit_type", "n_units", "n_units_scored",
                                                                     "covered").rows() == [
        ("DINSOS", 1, 1, True), ("KECAMATAN", 0, 0, False), ("RSUD", 2, 1, True)]
    assert coverage.filter(pl.col("region_code") == "35")["covered"].all()
    regions = region_scores.region_scores(units, REFERENCE, M2023)
    got = {r["region_code"]: (r["n_lokus_units"], r["n_lokus_scored"], r["lokus_missing"])
           for r in regions.collect().iter_rows(named=True)}
    assert got == {"35.78": (4, 2, "KECAMATAN"), "35": (3, 3, None)}

    award = next(a for a in M2023.awards if a.subject == "region")  # A or A-, min_scored_share 1.0
    roster = awards.award_roster(units, regions, replace(M2023, awards=(award,))).collect()
    assert roster["region_code"].to_list() == ["35"]  # Jatim 4.70 A, all 3 lokus units scored
    half = replace(award, min_scored_share=Fraction(1, 2))  # Surabaya 4.65 A: 2 of 4 = 50 % is enough
    roster = awards.award_roster(units, regions, replace(M2023, awards=(half,))).collect()
    assert sorted(roster["region_code"].to_list()) == ["35", "35.78"]

    from transforms import report_data

    left = report_data.regions_left_out(regions, M2023).collect()
    assert left.filter(pl.col("region_code") == "35.78")["reason_en"].item() == (
        "lokus not covered: 2 of 4 lokus units scored (at least 100% required, min_scored_share); "
        "lokus unit types not sent: KECAMATAN")


def test_without_lokus_the_coverage_is_every_unit_sent() -> None:
    units = _units([("35.78", "PUSKESMAS", 460), ("35.78", "MPP", None)])
    plain = replace(M2023, lokus=None)
    assert bodies.lokus_coverage(units, plain).collect().is_empty()
    row = region_scores.region_scores(units, REFERENCE, plain).collect().row(0, named=True)
    assert (row["n_lokus_units"], row["n_lokus_scored"], row["lokus_missing"]) == (2, 1, None)


def test_a_kl_gets_the_kl_award_not_the_pemda_one() -> None:
    units = _units([("35", "SAMSAT", 460), ("35", "RSUD", 470), ("35", "DINSOS", 480),   # Jatim 4.70 A
                    ("027", "UPT_KL", 480), ("054", "UPT_KL", 420)])                    # 4.80 A, 4.20 A-
    regions = region_scores.region_scores(units, REFERENCE, M2023)
    bodies_only = replace(M2023, awards=tuple(a for a in M2023.awards if a.subject == "region"))
    roster = awards.award_roster(units, regions, bodies_only).collect()
    assert roster.select("award", "region_code", "rank").rows() == [
        ("pemda_prima", "35", 1), ("kl_prima", "027", 1), ("kl_prima", "054", 2)]
    assert roster.filter(pl.col("region_code") == "027")["reason_en"].item().endswith("rank 1 among kl bodies")
    assert roster.filter(pl.col("region_code") == "027")["reason"].item().endswith("peringkat 1 di antara badan kl")


def test_body_award_categories_are_checked_at_load() -> None:
    raw = _raw("2024")
    next(a for a in raw["awards"] if a["code"] == "kl_prima")["categories"] = ["desa"]
    with pytest.raises(MethodologyError, match="categories must be a non-empty list"):
        parse_methodology(raw, cycle="2024")
