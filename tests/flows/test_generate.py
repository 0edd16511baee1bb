"""Synthetic submissions: layout per the contract, realistic and deterministic content, recorded defects."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest

from flows.generate import GenerationSummary, generate_cycle, write_bundle
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


def test_codes_are_written_as_text(tmp_path: Path) -> None:
    frame = pl.DataFrame({"unit_id": ["11.10-DINSOS-01"], "region_code": ["11.10"], "score": [4]})
    write_bundle(tmp_path / "b", {"units": frame, "broken": b"\x00\x01"})
    assert (tmp_path / "b" / "units.csv").read_text() == "unit_id,region_code,score\n11.10-DINSOS-01,11.10,4\n"
    assert (tmp_path / "b" / "broken.csv").read_bytes() == b"\x00\x01"


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
