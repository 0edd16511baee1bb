"""What synthetic regions send (flows/generate_tables.py): F-02 scores, SKM answers, and recorded defects."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from flows.generate import GenerationSummary, generate_cycle
from flows.generate_tables import BUNDLE_DEFECTS
from tests.flows.test_generate import BUNDLE_NAME, all_tables, read_text_csv
from transforms.methodology import Methodology


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
