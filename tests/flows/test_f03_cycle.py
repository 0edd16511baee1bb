"""F-03 end to end without Prefect (issue 19): generated bundles with `--f03` through the real ingest and
publish, under a test methodology that blends F-03 (never the shipped 2023/2024 files, where it is
[unconfirmed]); every published IPP checked against a by-hand Fraction computation from the bundles' files."""

from __future__ import annotations

import re
from collections import defaultdict
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path

import polars as pl
import pytest

from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle
from flows.ledger import Ledger
from flows.publish import current_release, publish, table_link
from flows.settings import Places, load_methodology, methodology_path
from transforms import report_data
from transforms.methodology import Methodology

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
CYCLE = "2024"


def blending_methodology(folder: Path) -> Methodology:
    """2024's file with `[f03] enabled = true` and `without_f03 = "not_scored"`, written to a test folder."""
    text = methodology_path(CYCLE).read_text(encoding="utf-8")
    text, n = re.subn(r"(\[f03\][^\n]*\n)enabled = false", r'\1enabled = true\nwithout_f03 = "not_scored"', text)
    assert n == 1
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{CYCLE}.toml").write_text(text, encoding="utf-8")
    return load_methodology(CYCLE, folder)


def run_cycle(places: Places, methodology: Methodology) -> None:
    ledger = Ledger(places, CYCLE)
    ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in discover(places.landing, CYCLE)])
    publish(places, methodology, now=T0)


def table(places: Places, name: str) -> pl.DataFrame:
    return pl.read_parquet(next(table_link(places, name, CYCLE).glob("*.parquet")))


def half_up(value: Fraction) -> float:
    return int(value * 100 + Fraction(1, 2)) / 100


def landing_with_f03(root: Path, methodology: Methodology) -> tuple[Path, str]:
    """Two regions with F-03 answers; one unit's answers removed, one answer out of range (9)."""
    summary = generate_cycle(CYCLE, root, regions=2, units=3, respondents=20, seed=5, f03=6, methodology=methodology)
    assert summary.f03_rows > 0
    folder = summary.paths[0]
    f03 = pl.read_csv(folder / "f03_responses.csv", infer_schema=False)
    silent = f03["unit_id"][0]
    f03 = f03.filter(pl.col("unit_id") != silent)
    f03 = f03.with_columns(score=pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("9")).otherwise(pl.col("score")))
    f03.write_csv(folder / "f03_responses.csv")
    return summary.root.parent, silent


@pytest.fixture(scope="module")
def f03_cycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Places, Methodology, str]:
    root = tmp_path_factory.mktemp("f03")
    methodology = blending_methodology(root / "methodology")
    landing, silent = landing_with_f03(root / "landing", methodology)
    places = Places(landing=landing, warehouse=root / "warehouse")
    run_cycle(places, methodology)
    return places, methodology, silent


def expected_ipps(landing: Path, methodology: Methodology) -> dict[str, Fraction]:
    """Each unit's blended IPP from the bundles' CSV files, by hand: evaluator means, weights, F-03 mean."""
    weights = {i.code: Fraction(a.weight * i.weight, 100 * 100) for a in methodology.aspects for i in a.indicators}
    f02_weight, f03_weight = methodology.f03_weights
    out: dict[str, Fraction] = {}
    for folder in (p for p in landing.glob(f"{CYCLE}/*/*") if p.is_dir()):
        scores: dict[tuple[str, str], list[int]] = defaultdict(list)
        for row in pl.read_csv(folder / "evaluations.csv", infer_schema=False).iter_rows(named=True):
            if row["score"] not in (None, "") and row["indicator_code"] in weights:
                scores[(row["unit_id"], row["indicator_code"])].append(int(row["score"]))
        answers: dict[str, list[int]] = defaultdict(list)
        for row in pl.read_csv(folder / "f03_responses.csv", infer_schema=False).iter_rows(named=True):
            if methodology.score_min <= int(row["score"]) <= methodology.score_max:  # the 9 is set aside
                answers[row["unit_id"]].append(int(row["score"]))
        for unit in {u for u, _ in scores}:
            if all((unit, code) in scores for code in weights) and answers[unit]:
                f02 = sum(w * Fraction(sum(scores[(unit, c)]), len(scores[(unit, c)])) for c, w in weights.items())
                f03 = Fraction(sum(answers[unit]), len(answers[unit]))
                out[unit] = (f02_weight * f02 + f03_weight * f03) / 100
    return out


def test_every_published_ipp_is_the_blend_computed_by_hand(f03_cycle: tuple[Places, Methodology, str]) -> None:
    places, methodology, _ = f03_cycle
    units = table(places, "unit_scores")
    expected = expected_ipps(places.landing, methodology)
    scored = units.filter(pl.col("status") == "scored")
    assert scored.height == len(expected) >= 3
    for row in scored.iter_rows(named=True):
        assert row["ipp"] == half_up(expected[row["unit_id"]]), row["unit_id"]
        assert row["ipp_exact"] == pytest.approx(float(expected[row["unit_id"]]), abs=1e-12)
        assert row["n_f03_answers"] > 0 and row["f03"] is not None and row["ipp_f02"] is not None
    regions = table(places, "region_scores")
    for region in regions.iter_rows(named=True):
        mine = [expected[u] for u in scored.filter(pl.col("region_code") == region["region_code"])["unit_id"]]
        assert region["ipp"] == (half_up(sum(mine) / len(mine)) if mine else None)
    national = table(places, "national_scores").row(0, named=True)
    assert national["ipp"] == half_up(sum(expected.values()) / len(expected))
    # the reports' roll-ups (provinces, unit types) rebuild each blend from the published integers
    again = report_data.rollup(units.lazy(), ["region_code"], methodology).collect().sort("region_code")
    assert again["ipp"].to_list() == regions.sort("region_code")["ipp"].to_list()
    assert report_data.rollup(units.lazy(), ["release_id"], methodology).collect()["ipp"].item() == national["ipp"]


def test_a_unit_without_f03_answers_is_not_scored_and_bad_answers_are_set_aside(
        f03_cycle: tuple[Places, Methodology, str]) -> None:
    places, _, silent = f03_cycle
    units = table(places, "unit_scores")
    unit = units.filter(pl.col("unit_id") == silent).row(0, named=True)
    assert (unit["status"], unit["ipp"], unit["n_f03_answers"], unit["eligible"]) == ("no_f03", None, 0, False)
    assert 'without_f03 = "not_scored"' in unit["ineligible_reason"]
    issues = table(places, "validation_issues").filter(pl.col("table_name") == "f03_responses")
    assert issues.select("row_number", "value", "rule", "severity").rows() == [(5, "9", "f03_score_range", "row")]
    assert (table(places, "submissions")["status"] == "accepted").all()
    manifest = current_release(places, CYCLE)
    scored = units.filter(pl.col("status") == "scored")
    assert manifest is not None and manifest["tables"]["unit_robustness"]["rows"] == scored.height > 0  # drawn
    drawn = table(places, "unit_robustness").join(scored.select("unit_id", "rank_in_type"), on="unit_id",
                                                  suffix="_published")
    assert drawn.height == scored.height and silent not in drawn["unit_id"].to_list()  # no_f03: not drawn
    assert ((drawn["rank_low"] <= drawn["rank_in_type_published"])
            & (drawn["rank_in_type_published"] <= drawn["rank_high"])).all()
    first = table(places, "submissions")["submission_id"][0]
    assert (Ledger(places, CYCLE).accepted_dir(first) / "f03_responses.parquet").exists()  # kept, as the survey


def test_blended_robustness_from_kept_inputs_equals_the_engine_on_all_rows(
        f03_cycle: tuple[Places, Methodology, str]) -> None:
    """The published draws of a blending cycle (inputs kept per submission, F-03 spread among them) are the
    engine's on the cycle's rows, to the bit; the citizens' sample moves some unit (a survey probability < 1)."""
    from flows.publish import cycle_inputs
    from transforms.cycle import score_cycle
    from transforms.robustness import cycle_robustness, robustness_inputs

    places, methodology, _ = f03_cycle
    ids = Ledger(places, CYCLE).load().filter(pl.col("status") == "accepted")["submission_id"].to_list()
    inputs = cycle_inputs(places, methodology, ids)
    expected = cycle_robustness(inputs, score_cycle(inputs, methodology), methodology)["unit_robustness"]
    published = table(places, "unit_robustness")
    columns = [c for c in expected.columns if c in published.columns and c not in ("cycle", "release_id")]
    key = ["region_code", "unit_id"]
    assert len(columns) > 15 and published.select(columns).sort(key).equals(expected.select(columns).sort(key))
    spread = robustness_inputs(inputs.evaluations, inputs.responses, methodology, inputs.f03_responses).f03
    answered = table(places, "unit_scores").filter(pl.col("n_f03_answers") > 0)
    assert spread is not None and spread.height == answered.height > 0 and (spread["f03_sd"] > 0).all()


def test_with_f03_off_the_table_is_ignored_and_outputs_are_unchanged(tmp_path: Path) -> None:
    """The shipped 2024 (F-03 off) on the same bundles with and without f03_responses: every scored table
    equal bar the submission ids (the files differ), one `f03_not_used` warning per bundle, no F-03 column."""
    shipped = load_methodology(CYCLE)
    with_f03 = Places(landing=tmp_path / "a" / "landing", warehouse=tmp_path / "a" / "warehouse")
    without = Places(landing=tmp_path / "b" / "landing", warehouse=tmp_path / "b" / "warehouse")
    generate_cycle(CYCLE, with_f03.landing, regions=2, units=3, respondents=20, seed=5, f03=6, methodology=shipped)
    generate_cycle(CYCLE, without.landing, regions=2, units=3, respondents=20, seed=5, methodology=shipped)
    run_cycle(with_f03, shipped)
    run_cycle(without, shipped)
    for name in ("unit_scores", "aspect_scores", "skm_scores", "region_scores", "national_scores", "award_roster",
                 "lokus_coverage", "unit_robustness", "region_robustness"):
        a, b = table(with_f03, name), table(without, name)
        assert a.columns == b.columns, name
        assert a.drop("submission_id", "release_id", strict=False).equals(
            b.drop("submission_id", "release_id", strict=False)), name
    issues = table(with_f03, "validation_issues")
    extra = issues.join(table(without, "validation_issues").select("table_name", "rule"), on=["table_name", "rule"],
                        how="anti")
    assert extra.select("table_name", "rule", "severity").rows() == [("f03_responses", "f03_not_used", "warning")] * 2
