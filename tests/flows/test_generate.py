"""Synthetic submissions: layout per the contract, realistic and deterministic content, recorded defects."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from flows.generate import (
    BUNDLE_DEFECTS,
    GenerationSummary,
    generate_cycle,
    pick_regions,
    write_bundle,
)
from flows.settings import kl_reference, regions_reference
from transforms.methodology import Methodology
from transforms.schemas import EVALUATIONS, UNITS, skm_spec

REGION_CODE = re.compile(r"^\d{2}(\.\d{2})?$")
BUNDLE_NAME = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})_(.+)$")
INPUT_FILES = {"units.csv", "evaluations.csv", "skm_responses.csv"}


def read_text_csv(path: Path) -> pl.DataFrame:
    """A generated table exactly as written: every column as text, empty as null."""
    return pl.read_csv(path, infer_schema=False)


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory, methodology_2024: Methodology) -> GenerationSummary:
    """A clean cycle of ~50 units: 6 regions of 9 units."""
    return generate_cycle("2024", tmp_path_factory.mktemp("clean"), regions=6, units=9, respondents=30,
                          seed=2024, methodology=methodology_2024)


@pytest.fixture(scope="module")
def spoiled(tmp_path_factory: pytest.TempPathFactory, methodology_2024: Methodology) -> GenerationSummary:
    """Ten regions at bad_rate 0.5: five bad bundles (one of each kind) and 10 % bad rows in the others."""
    return generate_cycle("2024", tmp_path_factory.mktemp("spoiled"), regions=10, units=6, respondents=20,
                          seed=7, bad_rate=0.5, methodology=methodology_2024)


def all_tables(summary: GenerationSummary, table: str) -> pl.DataFrame:
    return pl.concat([read_text_csv(p / f"{table}.csv") for p in summary.paths], how="diagonal")


# ---------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path,
                                                                  methodology_2024: Methodology) -> None:
    args = {"regions": 5, "units": 4, "respondents": 10, "bad_rate": 0.5, "methodology": methodology_2024}
    generate_cycle("2024", tmp_path / "a", seed=11, **args)
    generate_cycle("2024", tmp_path / "b", seed=11, **args)
    generate_cycle("2024", tmp_path / "c", seed=12, **args)
    first = tree_bytes(tmp_path / "a")
    assert first and first == tree_bytes(tmp_path / "b")
    assert tree_bytes(tmp_path / "c") != first


def test_regenerating_into_the_same_place_leaves_exactly_the_new_bundle(tmp_path: Path,
                                                                        methodology_2024: Methodology) -> None:
    summary = generate_cycle("2024", tmp_path, regions=5, units=3, respondents=5, seed=3, bad_rate=0.0,
                             methodology=methodology_2024)
    before = tree_bytes(tmp_path)
    generate_cycle("2024", tmp_path, regions=5, units=3, respondents=5, seed=3, bad_rate=1.0,
                   methodology=methodology_2024)
    generate_cycle("2024", tmp_path, regions=5, units=3, respondents=5, seed=3, bad_rate=0.0,
                   methodology=methodology_2024)
    assert tree_bytes(tmp_path) == before
    assert summary.bundles == 5


# ---------------------------------------------------------------- layout and sizes


def test_layout_follows_the_contract(clean: GenerationSummary, methodology_2024: Methodology) -> None:
    assert clean.root.name == "2024"
    assert clean.regions == clean.bundles == len(clean.paths) == 6
    for folder in clean.paths:
        assert folder.parent.parent == clean.root
        region = folder.parent.name
        assert REGION_CODE.match(region)
        stamp = BUNDLE_NAME.match(folder.name)
        assert stamp and stamp.group(4) == region
        assert {p.name for p in folder.iterdir()} == INPUT_FILES
        assert read_text_csv(folder / "units.csv").columns == UNITS.names
        assert read_text_csv(folder / "evaluations.csv").columns == EVALUATIONS.names
        survey_columns = read_text_csv(folder / "skm_responses.csv").columns
        spec = skm_spec(methodology_2024.survey.element_codes)
        assert set(spec.required_names) <= set(survey_columns) <= set(spec.names)
    assert list(clean.paths) == sorted(clean.paths)


def test_summary_counts_match_the_files(clean: GenerationSummary) -> None:
    assert all_tables(clean, "units").height == clean.units == 6 * 9
    assert all_tables(clean, "evaluations").height == clean.evaluation_rows
    assert all_tables(clean, "skm_responses").height == clean.survey_rows
    assert clean.bad_bundles == clean.bad_rows == 0 and clean.injected == {} and clean.injections == ()


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


def test_codes_are_written_as_text(tmp_path: Path) -> None:
    frame = pl.DataFrame({"unit_id": ["11.10-DINSOS-01"], "region_code": ["11.10"], "score": [4]})
    write_bundle(tmp_path / "b", {"units": frame, "broken": b"\x00\x01"})
    assert (tmp_path / "b" / "units.csv").read_text() == "unit_id,region_code,score\n11.10-DINSOS-01,11.10,4\n"
    assert (tmp_path / "b" / "broken.csv").read_bytes() == b"\x00\x01"


def test_the_same_units_come_back_in_another_cycle(tmp_path: Path, methodology_2023: Methodology,
                                                   methodology_2024: Methodology) -> None:
    a = generate_cycle("2023", tmp_path, regions=3, units=5, respondents=3, methodology=methodology_2023)
    b = generate_cycle("2024", tmp_path, regions=3, units=5, respondents=3, methodology=methodology_2024)
    assert all_tables(a, "units").equals(all_tables(b, "units"))
    assert not all_tables(a, "evaluations").equals(all_tables(b, "evaluations"))


# ---------------------------------------------------------------- evaluations (F-02)


def test_complete_units_have_every_indicator_from_every_evaluator(clean: GenerationSummary,
                                                                  methodology_2024: Methodology) -> None:
    evaluations = all_tables(clean, "evaluations")
    codes = set(methodology_2024.indicator_codes)
    per_unit = evaluations.group_by("unit_id").agg(
        pl.col("indicator_code").unique().alias("codes"), pl.col("evaluator_id").n_unique().alias("n_eval"))
    assert per_unit.height == clean.units
    assert (per_unit["n_eval"] == 2).all()
    incomplete = 0
    for row in per_unit.iter_rows(named=True):
        missing = codes - set(row["codes"])
        assert set(row["codes"]) <= codes
        assert len(missing) <= 1
        incomplete += bool(missing)
    assert incomplete == clean.incomplete_units
    assert evaluations.select("unit_id", "indicator_code", "evaluator_id").is_unique().all()
    assert evaluations["evaluator_id"].str.contains(r"^EV-\d{4}$").all()
    assert 0 < evaluations["evidence"].null_count() < evaluations.height


def test_scores_are_integers_within_the_range(clean: GenerationSummary, methodology_2024: Methodology) -> None:
    scores = all_tables(clean, "evaluations")["score"]
    assert scores.null_count() == 0
    assert scores.str.contains(r"^\d+$").all()
    values = scores.cast(pl.Int64)
    assert values.min() >= methodology_2024.score_min and values.max() <= methodology_2024.score_max


def rough_predicates(evaluations: pl.DataFrame, methodology: Methodology) -> pl.Series:
    """Predicate per complete unit: IPP = Σ aspect weight × indicator weight × mean score / Σ weights."""
    aspect_weight = {a.code: a.weight for a in methodology.aspects}
    weights = pl.DataFrame({
        "indicator_code": methodology.indicator_codes,
        "weight": [aspect_weight[i.aspect] * i.weight for i in methodology.indicators],
    })
    total = weights["weight"].sum()
    ipp = (evaluations.with_columns(pl.col("score").cast(pl.Int64))
           .group_by("unit_id", "indicator_code").agg(pl.col("score").mean())
           .join(weights, on="indicator_code")
           .group_by("unit_id").agg((pl.col("score") * pl.col("weight")).sum() / total, pl.len())
           .filter(pl.col("len") == len(methodology.indicators)))
    cents = (ipp["score"] * 100 + 0.5 + 1e-9).floor().cast(pl.Int64)   # half-up to 2 decimals
    return pl.Series([next(b.code for b in methodology.predicates if c >= b.lower_cents) for c in cents])


def test_predicates_spread_over_the_bands(clean: GenerationSummary, methodology_2024: Methodology) -> None:
    predicates = rough_predicates(all_tables(clean, "evaluations"), methodology_2024)
    assert predicates.len() >= 45
    counts = predicates.value_counts()
    assert counts.height >= 4
    middle = predicates.is_in(["A-", "B", "B-"]).sum()
    assert middle > predicates.len() / 2


# ---------------------------------------------------------------- survey (SKM)


def test_survey_answers_dates_and_respondents(clean: GenerationSummary, methodology_2024: Methodology) -> None:
    survey = methodology_2024.survey
    responses = all_tables(clean, "skm_responses")
    answers = responses.select(survey.element_codes).unpivot()["value"]
    allowed = {str(a) for a in range(survey.answer_min, survey.answer_max + 1)}
    assert set(answers.drop_nulls()) == allowed
    assert 0 < answers.null_count() < answers.len() * 0.05
    dates = responses["survey_date"].str.to_date("%Y-%m-%d")
    assert dates.min() >= survey.window_start and dates.max() <= survey.window_end
    assert responses.select("unit_id", "respondent_id").is_unique().all()
    per_unit = responses.group_by("unit_id").len()["len"]
    assert per_unit.len() == clean.units
    assert per_unit.min() >= 30 * 0.7 - 1 and per_unit.max() <= 30 * 1.3 + 1
    assert per_unit.n_unique() > 1


def test_survey_dates_precede_the_upload(clean: GenerationSummary) -> None:
    for folder in clean.paths:
        stamp = BUNDLE_NAME.match(folder.name)
        assert stamp
        uploaded = date.fromisoformat(stamp.group(1))
        dates = read_text_csv(folder / "skm_responses.csv")["survey_date"].str.to_date("%Y-%m-%d")
        assert dates.max() < uploaded


# ---------------------------------------------------------------- defects


def test_bad_rate_zero_injects_nothing(clean: GenerationSummary) -> None:
    assert clean.injected == {}


def test_every_bundle_defect_is_injected_and_recorded(spoiled: GenerationSummary) -> None:
    bundle_level = [i for i in spoiled.injections if i.scope == "bundle"]
    assert spoiled.bad_bundles == len(bundle_level) == 5
    assert sorted(i.kind for i in bundle_level) == sorted(BUNDLE_DEFECTS)
    assert {k: v for k, v in spoiled.injected.items() if k.startswith("bundle.")} == {
        f"bundle.{kind}": 1 for kind in BUNDLE_DEFECTS}
    folders = {p.name: p for p in spoiled.paths}
    for injection in bundle_level:
        folder = folders[injection.bundle]
        assert folder.parent.name == injection.region_code
        if injection.kind == "missing_table":
            assert not (folder / "evaluations.csv").exists()
            continue
        if injection.kind == "garbage_bytes":
            raw = (folder / "units.csv").read_bytes()
            with pytest.raises(UnicodeDecodeError):
                raw.decode("utf-8")
            continue
        units = read_text_csv(folder / "units.csv")
        if injection.kind == "foreign_unit":
            assert (units["region_code"] != injection.region_code).sum() == 1
        elif injection.kind == "duplicate_unit_id":
            assert units["unit_id"].n_unique() == units.height - 1
        elif injection.kind == "missing_column":
            table, column = injection.detail.split()[0].split(".")
            assert column not in read_text_csv(folder / f"{table}.csv").columns


def test_bad_rows_are_exactly_the_recorded_ones(spoiled: GenerationSummary, methodology_2024: Methodology) -> None:
    survey = methodology_2024.survey
    scores = {str(s) for s in range(methodology_2024.score_min, methodology_2024.score_max + 1)}
    answers = {str(a) for a in range(survey.answer_min, survey.answer_max + 1)}
    bad_bundles = {i.bundle for i in spoiled.injections if i.scope == "bundle"}
    good = [p for p in spoiled.paths if p.name not in bad_bundles]
    assert len(good) == 5
    for folder in good:
        recorded = {(i.table, i.kind): set(i.rows) for i in spoiled.injections if i.bundle == folder.name}
        evaluations = read_text_csv(folder / "evaluations.csv").with_row_index("row", offset=2)
        responses = read_text_csv(folder / "skm_responses.csv").with_row_index("row", offset=2)
        found = {
            ("evaluations", "score_out_of_range"): evaluations.filter(
                pl.col("score").str.contains(r"^\d+$") & ~pl.col("score").is_in(sorted(scores))),
            ("evaluations", "score_not_integer"): evaluations.filter(~pl.col("score").str.contains(r"^\d+$")),
            ("evaluations", "unknown_indicator"): evaluations.filter(
                ~pl.col("indicator_code").is_in(methodology_2024.indicator_codes)),
            ("evaluations", "blank_unit_id"): evaluations.filter(pl.col("unit_id").is_null()),
            ("skm_responses", "answer_out_of_range"): responses.filter(pl.any_horizontal(
                pl.col(e).is_not_null() & ~pl.col(e).is_in(sorted(answers)) for e in survey.element_codes)),
            ("skm_responses", "date_outside_window"): responses.filter(
                ~pl.col("survey_date").str.to_date("%Y-%m-%d").is_between(survey.window_start, survey.window_end)),
            ("skm_responses", "blank_unit_id"): responses.filter(pl.col("unit_id").is_null()),
        }
        for key, rows in found.items():
            assert set(rows["row"]) == recorded.get(key, set()), (folder.name, key)
        bad_evaluations = sum(len(v) for (t, _), v in recorded.items() if t == "evaluations")
        bad_responses = sum(len(v) for (t, _), v in recorded.items() if t == "skm_responses")
        # about bad_rate / 5 of each table, never more
        assert 0.08 * evaluations.height < bad_evaluations <= 0.10 * evaluations.height
        assert 0.08 * responses.height < bad_responses <= 0.10 * responses.height
    row_keys = {k: v for k, v in spoiled.injected.items() if not k.startswith("bundle.")}
    assert sum(row_keys.values()) == spoiled.bad_rows > 0
    assert set(row_keys) == {
        "evaluations.score_out_of_range", "evaluations.score_not_integer", "evaluations.unknown_indicator",
        "evaluations.blank_unit_id", "skm_responses.answer_out_of_range", "skm_responses.date_outside_window",
        "skm_responses.blank_unit_id"}


# ---------------------------------------------------------------- arguments and progress


def test_progress_is_reported_per_region(tmp_path: Path, methodology_2024: Methodology) -> None:
    calls: list[tuple[int, int]] = []
    summary = generate_cycle("2024", tmp_path, regions=4, units=2, respondents=0, evaluators=3,
                             methodology=methodology_2024, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert summary.survey_rows == 0
    assert all({p.name for p in folder.iterdir()} == {"units.csv", "evaluations.csv"} for folder in summary.paths)
    assert all_tables(summary, "evaluations").group_by("unit_id").agg(
        pl.col("evaluator_id").n_unique())["evaluator_id"].to_list() == [3] * summary.units


@pytest.mark.parametrize("arguments", [
    {"units": 0}, {"regions": 0}, {"evaluators": 0}, {"bad_rate": 1.5}, {"seed": -1},
])
def test_unusable_arguments_are_refused(tmp_path: Path, methodology_2024: Methodology,
                                        arguments: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        generate_cycle("2024", tmp_path, methodology=methodology_2024, **arguments)  # type: ignore[arg-type]
    assert not tmp_path.joinpath("2024").exists()


def test_more_evaluators_than_the_cycle_allows_are_refused(tmp_path: Path,
                                                           methodology_2024: Methodology) -> None:
    with pytest.raises(ValueError, match="max_evaluators"):
        generate_cycle("2024", tmp_path, methodology=methodology_2024,
                       evaluators=methodology_2024.max_evaluators + 1)


def test_methodology_of_another_cycle_is_refused(tmp_path: Path, methodology_2023: Methodology) -> None:
    with pytest.raises(ValueError, match="2023"):
        generate_cycle("2024", tmp_path, methodology=methodology_2023)


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
