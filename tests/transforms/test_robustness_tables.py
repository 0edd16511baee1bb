"""The robustness engine's published tables (transforms/robustness_tables.py): drivers, award details, intervals."""

from __future__ import annotations

import dataclasses

import polars as pl

from tests.transforms.test_robustness import OFF, awards_of, responses, row, run, sheet
from transforms.methodology import Methodology


def test_a_unit_scored_5_everywhere_keeps_a_under_every_source(methodology_2024: Methodology) -> None:
    m = methodology_2024
    settings = dataclasses.replace(OFF, draws=1000, evaluator_spread=0.1, weight_spread=0.1)
    evaluations = pl.concat([sheet(m, "U1", "E1", 5), sheet(m, "U1", "E2", 5)])
    _, result = run(m, evaluations, responses(m, "U1", [4, 3, 4, 4, 2, 4, 4, 3, 4, 4]), settings)
    found = row(result.units, "U1")
    assert found["predicate"] == "A"
    assert [found[f"p_predicate{s}"] for s in ("", "_evaluators", "_survey", "_weights")] == [1.0] * 4
    assert awards_of(found)["pelayanan_prima"] == {"holds": True, "p": 1.0, "evaluators": 1.0, "survey": 1.0,
                                                   "weights": 1.0, "driver": None}
    assert found["awards_not_robust"] is None and found["driver"] is None
    assert (found["rank_low"], found["rank_high"]) == (1, 1)


def test_rank_interval_holds_the_published_rank(methodology_2024: Methodology) -> None:
    m = methodology_2024
    settings = dataclasses.replace(OFF, draws=400, evaluator_spread=0.2, weight_spread=0.1)
    evaluations = pl.concat([sheet(m, f"U{n}", "E1", 4, {"29.f.B": n % 6}) for n in range(8)])
    tables, result = run(m, evaluations, responses(m, "U0", [4] * 10), settings)
    joined = result.units.join(tables["unit_scores"].select("unit_id", "rank_in_type"), on="unit_id",
                               suffix="_published")
    assert (joined["rank_low"] <= joined["rank_in_type_published"]).all()
    assert (joined["rank_in_type_published"] <= joined["rank_high"]).all()
    assert (joined["evaluator_draw"] == "perturbation").all()
    assert result.regions.height == 1 and result.regions["draws"].item() == 400
