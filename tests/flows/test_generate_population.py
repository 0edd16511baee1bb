"""Synthetic regions and units (flows/generate_population.py): a spread of regions, real-looking units, trends."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flows.generate import GenerationSummary, generate_cycle
from flows.generate_population import pick_regions
from flows.settings import kl_reference, regions_reference
from tests.flows.test_generate import all_tables, read_text_csv
from transforms.methodology import Methodology


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, methodology_2024: Methodology) -> GenerationSummary:
    """A clean cycle of ~50 units: 6 regions of 9 units."""
    return generate_cycle("2024", tmp_path_factory.mktemp("clean"), regions=6, units=9, respondents=30,
                          seed=2024, methodology=methodology_2024)


# ---------------------------------------------------------------- regions


def test_regions_are_a_spread_mix_of_levels() -> None:
    picked = pick_regions(6, seed=2024)
    assert picked.height == 6
    assert set(picked["level"]) == {"provinsi", "kabupaten", "kota"}
    assert picked["province_code"].n_unique() == 6
    assert pick_regions(6, seed=2024).equals(picked)


def test_national_is_every_autonomous_region() -> None:
    national = pick_regions(0, seed=1, national=True)
    reference = regions_reference()
    assert national.filter(pl.col("level") == "provinsi").height == 38
    # DKI Jakarta's five kota and one kabupaten administrasi are not pemda: they never submit.
    assert national.height == reference.height - 6
    assert not national["name"].str.contains("Administrasi").any()


# ---------------------------------------------------------------- units


def test_units_belong_to_their_region_and_look_real(clean: GenerationSummary,
                                                    methodology_2024: Methodology) -> None:
    names = dict(regions_reference().select("region_code", "name").iter_rows())
    for folder in clean.paths:
        region = folder.parent.name
        raw = (folder / "units.csv").read_text(encoding="utf-8")
        units = read_text_csv(folder / "units.csv")
        # codes such as 71.10 are written as text, never as a number (71.1)
        assert units["region_code"].to_list() == [region] * units.height
        assert f",{region}," in raw
        assert units["unit_id"].is_unique().all()
        assert units["unit_id"].str.starts_with(f"{region}-").all()
        assert set(units["unit_type"]) <= set(methodology_2024.unit_types)
        region_named = units.filter(pl.col("unit_type").is_in(["DPMPTSP", "DINSOS", "DISDUKCAPIL", "MPP"]))
        assert region_named["unit_name"].str.ends_with(names[region]).all()
        users = units["annual_service_users"].drop_nulls().cast(pl.Int64)
        assert (users > 0).all()
    everything = all_tables(clean, "units")
    assert everything["annual_service_users"].null_count() < everything.height / 3
    # every body follows its tier's lokus (2024: provinces DINSOS, RSUD, SAMSAT; kab/kota RSUD, KECAMATAN, DINSOS)
    tiers = {"provinsi": "provinsi", "kabupaten": "kabupaten_kota", "kota": "kabupaten_kota"}
    levels = dict(regions_reference().select("region_code", "level").iter_rows())
    for region, types in everything.group_by("region_code").agg("unit_type").iter_rows():
        assert set(types) <= set(methodology_2024.lokus_of(tiers[levels[region]])), region
    assert set(everything["unit_type"]) == {"DINSOS", "RSUD", "SAMSAT", "KECAMATAN"}


def test_kl_bodies_send_their_own_units_under_their_code(tmp_path: Path, methodology_2024: Methodology) -> None:
    summary = generate_cycle("2024", tmp_path, regions=2, kl=3, units=4, respondents=10, seed=5,
                             methodology=methodology_2024)
    kl = {r["kl_code"]: r["name"] for r in kl_reference().iter_rows(named=True)}
    bodies = [p.parent.name for p in summary.paths]
    assert summary.regions == 5 and sum(code in kl for code in bodies) == 3
    for folder in summary.paths:
        if folder.parent.name not in kl:
            continue
        units = read_text_csv(folder / "units.csv")
        assert units["region_code"].to_list() == [folder.parent.name] * units.height
        assert set(units["unit_type"]) == set(methodology_2024.lokus_of("kl")) == {"UPT_KL"}
        assert units["unit_name"].str.contains(kl[folder.parent.name], literal=True).all()


def test_the_same_units_come_back_in_another_cycle(tmp_path: Path, methodology_2023: Methodology,
                                                   methodology_2024: Methodology) -> None:
    a = generate_cycle("2023", tmp_path, regions=3, units=5, respondents=3, methodology=methodology_2023)
    b = generate_cycle("2024", tmp_path, regions=3, units=5, respondents=3, methodology=methodology_2024)
    assert all_tables(a, "units").equals(all_tables(b, "units"))
    assert not all_tables(a, "evaluations").equals(all_tables(b, "evaluations"))


# ---------------------------------------------------------------- a trend across cycles


def _mean_scores(root: Path, cycle: str) -> dict[str, float]:
    """Mean F-02 score per region of a generated cycle."""
    frames = [read_text_csv(path).select("unit_id", pl.col("score").cast(pl.Float64))
              for path in (root / cycle).glob("*/*/evaluations.csv")]
    scores = pl.concat(frames).with_columns(region=pl.col("unit_id").str.extract(r"^(.+?)-[A-Z_]+-\d+$"))
    return dict(scores.group_by("region").agg(pl.col("score").mean()).iter_rows())


def test_a_trend_makes_cycles_differ_with_regions_up_and_down(tmp_path: Path) -> None:
    """The demo's story (issue 22): with a yearly trend per region, 2024 is not 2023 again."""
    from flows.settings import load_methodology

    size = {"regions": 10, "units": 6, "respondents": 5, "seed": 2024}
    for cycle in ("2023", "2024"):
        generate_cycle(cycle, tmp_path / "trend", methodology=load_methodology(cycle), trend=0.06, **size)
        generate_cycle(cycle, tmp_path / "flat", methodology=load_methodology(cycle), **size)
    change = {region: _mean_scores(tmp_path / "trend", "2024")[region] - before
              for region, before in _mean_scores(tmp_path / "trend", "2023").items()}
    flat = {region: _mean_scores(tmp_path / "flat", "2024")[region] - before
            for region, before in _mean_scores(tmp_path / "flat", "2023").items()}
    assert max(change.values()) > 0.15 and min(change.values()) < -0.05  # some improve, some fall
    assert max(abs(v) for v in change.values()) > 2 * max(abs(v) for v in flat.values())
    # 2023 is the start of every trend: its bundles are those generated without one
    first = sorted((tmp_path / "trend" / "2023").glob("*/*/evaluations.csv"))
    assert [p.read_bytes() for p in first] == [
        (tmp_path / "flat" / p.relative_to(tmp_path / "trend")).read_bytes() for p in first]
