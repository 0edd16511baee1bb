"""The robustness engine's kept inputs and draws (issue 24): the same tables as computing them from the rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flows import robustness_store
from flows.ledger import Ledger
from flows.publish import cycle_inputs, input_schemas
from flows.settings import Places, load_methodology
from flows.storage import write_frame
from tests.flows.test_publish import fresh_places, ledger_template
from transforms import robustness as engine
from transforms.cycle import score_cycle
from transforms.methodology import Methodology
from transforms.submissions import ACCEPTED


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ledger_template(tmp_path_factory)


@pytest.fixture()
def places(template: Path, tmp_path: Path) -> Places:
    return fresh_places(template, tmp_path)


def _rows_of(ledger: Ledger, methodology: Methodology) -> robustness_store.Rows:
    schemas = input_schemas(methodology)
    return lambda ids: (ledger.accepted_table(ids, "evaluations", schemas["evaluations"]),
                        ledger.accepted_table(ids, "skm_responses", schemas["skm_responses"]), None)


def _setup(places: Places) -> tuple[Ledger, Methodology, list[str], dict[str, pl.DataFrame]]:
    methodology = load_methodology("2024")
    ledger = Ledger(places, "2024")
    ids = sorted(ledger.load().filter(pl.col("status") == ACCEPTED)["submission_id"].to_list())
    scored = score_cycle(cycle_inputs(places, methodology, ids), methodology)
    return ledger, methodology, ids, scored


def _assert_inputs_equal(a: engine.RobustnessInputs, b: engine.RobustnessInputs) -> None:
    for part in ("sheets", "indicators", "survey"):
        assert_frame_equal(getattr(a, part), getattr(b, part))
    assert (a.small_surveys is None) == (b.small_surveys is None)
    if a.small_surveys is not None:
        assert_frame_equal(a.small_surveys, b.small_surveys)  # type: ignore[arg-type]


def test_kept_inputs_added_one_submission_at_a_time_equal_the_inputs_from_all_rows(places: Places) -> None:
    ledger, methodology, ids, _ = _setup(places)
    rows_of = _rows_of(ledger, methodology)
    fresh = robustness_store.inputs_of(rows_of(ids), methodology)
    assert fresh.small_surveys is not None and fresh.small_surveys.height, "the template has small surveys"
    robustness_store.kept_inputs(ledger, methodology, ids[1:], rows_of)
    stepwise = robustness_store.kept_inputs(ledger, methodology, ids, rows_of)  # the one more computed alone
    _assert_inputs_equal(stepwise, fresh)
    again = robustness_store.kept_inputs(ledger, methodology, ids, rows_of)  # all kept now
    _assert_inputs_equal(again, fresh)
    path = robustness_store.inputs_path(ledger, methodology)
    robustness_store.kept_inputs(ledger, methodology, ids[:1], rows_of)
    assert pl.read_parquet(path)["submission_id"].unique().to_list() == ids[:1]  # superseded ones' inputs go

    # a rerun keeps a submission's rows again (every score one lower): its inputs are computed again
    kept = ledger.accepted_dir(ids[0]) / "evaluations.parquet"
    write_frame(pl.read_parquet(kept).with_columns(pl.col("score").clip(methodology.score_min + 1) - 1), kept)
    _assert_inputs_equal(robustness_store.kept_inputs(ledger, methodology, ids[:1], rows_of),
                         robustness_store.inputs_of(rows_of(ids[:1]), methodology))


def test_release_robustness_equals_the_engine_on_the_rows_and_reuses_unchanged_draws(
        places: Places, monkeypatch: pytest.MonkeyPatch) -> None:
    ledger, methodology, ids, scored = _setup(places)
    rows_of = _rows_of(ledger, methodology)
    expected = engine.cycle_robustness(cycle_inputs(places, methodology, ids), scored, methodology)
    robustness_store.kept_inputs(ledger, methodology, ids[1:], rows_of)  # the previous night's inputs
    first = robustness_store.release_robustness(ledger, methodology, ids, rows_of, scored)
    for name, frame in expected.items():
        assert frame.height > 0
        assert_frame_equal(first[name], frame)

    def not_again(*_: object, **__: object) -> None:
        raise AssertionError("the draws were computed again for the same inputs")

    monkeypatch.setattr(engine, "robustness", not_again)
    second = robustness_store.release_robustness(ledger, methodology, ids, rows_of, scored)
    for name, frame in expected.items():
        assert_frame_equal(second[name], frame)
    with pytest.raises(AssertionError, match="computed again"):  # other submissions: other inputs, new draws
        robustness_store.release_robustness(ledger, methodology, ids[1:],  rows_of,
                                            score_cycle(cycle_inputs(places, methodology, ids[1:]), methodology))
    other_seed = load_methodology("2024")
    assert robustness_store.draws_key(robustness_store.kept_inputs(ledger, methodology, ids, rows_of),
                                      scored["unit_scores"], scored["region_scores"], methodology) != \
        robustness_store.draws_key(robustness_store.kept_inputs(ledger, methodology, ids, rows_of),
                                   scored["unit_scores"], scored["region_scores"],
                                   _with_seed(other_seed, 7))


def test_a_new_submission_leaves_the_other_units_draws_as_they_were(places: Places) -> None:
    """Per-unit streams through the kept inputs, as a nightly publishes: the night before (all submissions
    but one), then the night the last one arrives. Every unit of the first night keeps its unit-level
    results to the bit; only what compares units (rank intervals) may move."""
    ledger, methodology, ids, scored = _setup(places)
    rows_of = _rows_of(ledger, methodology)
    before_scored = score_cycle(cycle_inputs(places, methodology, ids[1:]), methodology)
    before = robustness_store.release_robustness(ledger, methodology, ids[1:], rows_of, before_scored)
    after = robustness_store.release_robustness(ledger, methodology, ids, rows_of, scored)
    unit_level = ["region_code", "unit_id", "evaluator_draw", "p_predicate", "p_predicate_evaluators",
                  "p_predicate_weights", "p_mutu", "ikm_low", "ikm_high"]
    earlier = before["unit_robustness"].select(unit_level).sort("region_code", "unit_id")
    assert earlier.height > 0 and after["unit_robustness"].height > earlier.height
    later = (after["unit_robustness"].select(unit_level).join(earlier.select("region_code", "unit_id"),
                                                              on=["region_code", "unit_id"], how="semi")
             .sort("region_code", "unit_id"))
    assert_frame_equal(later, earlier)
    assert earlier["p_predicate"].min() < 1.0  # something was drawn


def _with_seed(methodology: Methodology, seed: int) -> Methodology:
    import dataclasses

    assert methodology.robustness is not None
    return dataclasses.replace(methodology, robustness=dataclasses.replace(methodology.robustness, seed=seed))
