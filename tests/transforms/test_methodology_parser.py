"""Unit tests of transforms/methodology_parser.py: parse_methodology's checks.

Each test starts from the shipped 2024 file as a mapping and changes one thing, so the error is about
that thing alone.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import pytest

from tests.transforms.test_methodology import SHIPPED, raw
from transforms.methodology import Methodology, MethodologyError
from transforms.methodology_parser import parse_methodology


def refused(mapping: dict[str, Any], match: str) -> None:
    with pytest.raises(MethodologyError, match=match):
        parse_methodology(mapping, cycle="2024", source="m.toml")


def test_the_shipped_2024_file_parses_to_the_domain_figures() -> None:
    """DOMAIN.md: six aspects weighing 24/25/18/11/10/12, 30 indicators, nine bands from A at 4.51 to F at 0."""
    m = parse_methodology(raw(), cycle="2024", source="m.toml", sha256="abc")
    assert [(a.code, a.weight) for a in m.aspects] == [("a", 24), ("b", 25), ("c", 18), ("d", 11), ("e", 10),
                                                        ("f", 12)]
    assert len(m.indicator_codes) == 30 and m.indicator_codes[0] == "1.a.Ak"
    assert [(b.code, b.lower_cents) for b in m.predicates][:2] == [("A", 451), ("A-", 401)]
    assert m.predicates[-1].lower_cents == 0
    assert (m.sha256, m.source, m.rollup_method, m.f03_enabled) == ("abc", "m.toml", "mean", False)
    pemda = next(a for a in m.awards if a.code == "pemda_prima")
    assert pemda.min_scored_share == Fraction(1) and "kl" not in pemda.categories



def test_a_missing_key_is_named() -> None:
    mapping = raw()
    del mapping["scores"]["max_evaluators"]
    refused(mapping, r"m\.toml: \[scores\]: missing 'max_evaluators'")



def test_an_unknown_key_is_refused() -> None:
    """A misspelt switch would be silently ignored otherwise."""
    mapping = raw()
    mapping["eligibility"]["require_survey_sampel"] = True
    refused(mapping, r"unknown key\(s\) \['require_survey_sampel'\]")



def test_the_cycle_id_must_match() -> None:
    refused(raw() | {"cycle": {**SHIPPED["cycle"], "id": "2023"}}, "id is '2023', expected '2024'")



def test_indicator_weights_must_sum_to_100() -> None:
    mapping = raw()
    mapping["aspects"][5]["indicators"][0]["weight"] = 49
    refused(mapping, r"aspects\[5\] \(f\): indicator weights sum to 99, not 100")



def test_aspect_weights_must_sum_to_100() -> None:
    mapping = raw()
    mapping["aspects"][0]["weight"] = 25
    refused(mapping, "aspect weights sum to 101, not 100")



def test_require_complete_false_is_refused() -> None:
    mapping = raw()
    mapping["eligibility"]["require_complete"] = False
    refused(mapping, "require_complete = false is not supported")



def test_bands_must_go_down_and_end_at_zero() -> None:
    swapped = raw()
    swapped["predicates"][0], swapped["predicates"][1] = swapped["predicates"][1], swapped["predicates"][0]
    refused(swapped, "from the highest lower bound down")
    no_floor = raw()
    no_floor["predicates"] = no_floor["predicates"][:-1]
    refused(no_floor, "the lowest band must start at 0")



def test_a_bound_with_three_decimals_is_refused() -> None:
    mapping = raw()
    mapping["predicates"][0]["lower"] = "4.505"
    refused(mapping, "bound 4.505 has more than 2 decimals")



def test_weighted_rollup_needs_its_column_and_mean_takes_none() -> None:
    weighted = raw()
    weighted["rollup"]["method"] = "weighted"
    refused(weighted, "method 'weighted' needs weight_column")
    mean = raw()
    mean["rollup"]["weight_column"] = "annual_service_users"
    refused(mean, "has no effect with method 'mean'")



def test_f03_on_needs_without_f03_and_weights_summing_to_100() -> None:
    on = raw()
    on["f03"]["enabled"] = True
    refused(on, "enabled = true needs without_f03")
    on["f03"]["without_f03"] = "f02_only"
    assert parse_methodology(on, cycle="2024").f03_without == "f02_only"
    on["f03"]["f03_weight"] = 30
    refused(on, "f02_weight \\+ f03_weight must be 100, got 105")



def test_sample_table_must_grow() -> None:
    mapping = raw()
    mapping["survey"]["sample_table"][1] = [15, 9]  # 10 -> 10 then 15 -> 9: shrinks
    refused(mapping, "samples must grow with the population")



def test_an_award_naming_an_unknown_predicate_is_refused() -> None:
    mapping = raw()
    mapping["awards"][0]["predicates"] = ["AA"]
    refused(mapping, r"unknown predicate\(s\) \['AA'\]")



def test_a_lokus_type_must_be_a_unit_type_of_the_cycle() -> None:
    mapping = raw()
    mapping["lokus"]["kl"] = ["SENTRA"]
    refused(mapping, r"kl: \['SENTRA'\] not in \[cycle\] unit_types")



def test_robustness_settings_are_checked() -> None:
    mapping = raw()
    mapping["robustness"]["threshold"] = 1.5
    refused(mapping, "threshold are shares between 0 and 1")


def test_methodology_robustness_section(methodology_2024: Methodology) -> None:
    """[robustness] is optional (no section: no settings, never defaults); unknown keys and zero draws are refused."""
    settings = methodology_2024.robustness
    assert settings is not None and settings.draws >= 100 and settings.threshold == 0.9
    import tomllib

    from flows.settings import methodology_path

    mapping = tomllib.loads(methodology_path("2024").read_text())
    mapping.pop("robustness")
    assert parse_methodology(mapping, cycle="2024").robustness is None
    mapping["robustness"] = {"draws": 10, "seed": 1, "evaluator_spread": 0.1, "weight_spread": 0.1, "threshold": 0.9,
                             "drawz": 3}
    with pytest.raises(MethodologyError, match="drawz"):
        parse_methodology(mapping, cycle="2024")
    mapping["robustness"] = {"draws": 0, "seed": 1, "evaluator_spread": 0.1, "weight_spread": 0.1, "threshold": 0.9}
    with pytest.raises(MethodologyError, match="draws"):
        parse_methodology(mapping, cycle="2024")
