"""The rule registry (expectations/rules.py) against the code, the suites, the catalogue and the README."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from expectations.rules import _RULES, RULES, STAGES, rules_at
from transforms.messages import RULE_TEXT_ID
from transforms.schemas import SEVERITIES

ROOT = Path(__file__).resolve().parents[2]
CONSTANT = re.compile(r'^RULE_[A-Z0-9_]+ = "([a-z0-9_]+)"', re.M)
LITERAL = re.compile(r'bundle_issue\("([a-z0-9_]+)"')
EMITTERS = {"intake": ["flows/intake/entries.py", "flows/intake/limits.py"],
            "reader": ["flows/readers.py", "flows/intake/bundles.py", "flows/intake/tables.py"],
            "parsing": ["transforms/parsing.py"],
            "runner": ["expectations/runner.py", "expectations/checks.py", "expectations/compliance.py"],
            "ledger": ["flows/ingest.py"]}


def _emitted(stage: str) -> set[str]:
    found: set[str] = set()
    for name in EMITTERS[stage]:
        text = (ROOT / name).read_text(encoding="utf-8")
        found |= set(CONSTANT.findall(text)) | set(LITERAL.findall(text))
    return found


def _suite_rules() -> list[tuple[str, str, str]]:
    return [(path.stem, e["meta"]["rule"], e["meta"]["severity"])
            for path in sorted((ROOT / "expectations").glob("*.json"))
            for e in json.loads(path.read_text(encoding="utf-8"))["expectations"]]


def test_names_are_unique_and_every_entry_is_well_formed() -> None:
    assert len(RULES) == len(_RULES)
    for rule in _RULES:
        assert rule.stage in STAGES and rule.severities and set(rule.severities) <= set(SEVERITIES), rule
        assert rule.tables and rule.checks, rule


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "suite"])
def test_every_rule_a_module_can_emit_is_registered(stage: str) -> None:
    emitted = _emitted(stage)
    assert emitted, f"the scan found no rule in {EMITTERS[stage]}: the pattern is broken"
    assert emitted - set(RULES) == set()


def test_the_registry_names_no_rule_the_code_does_not_emit() -> None:
    emitted = set().union(*(_emitted(stage) for stage in EMITTERS)) | {rule for _t, rule, _s in _suite_rules()}
    assert set(RULES) - emitted == set()


def test_each_suite_expectation_has_a_registered_rule_and_severity() -> None:
    for table, rule, severity in _suite_rules():
        assert rule in RULES, (table, rule)
        assert RULES[rule].stage in ("suite", "parsing"), (table, rule)
        assert severity in RULES[rule].severities, (table, rule, severity)


def test_an_officer_can_read_every_rule_in_bahasa() -> None:
    assert [name for name in RULES if name not in RULE_TEXT_ID] == []


def test_the_readme_lists_every_rule_with_its_stage() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("**Every rule in one place.**"):readme.index("**Messages: Bahasa Indonesia first.**")]
    rows = dict(re.findall(r"^\| `([a-z0-9_]+)` \| ([a-z]+) \|", table, re.M))
    assert rows == {name: rule.stage for name, rule in RULES.items()}


def test_rules_at_keeps_registry_order_and_refuses_an_unknown_stage() -> None:
    assert [r.name for r in rules_at("ledger")] == ["unknown_region", "late"]
    with pytest.raises(ValueError, match="stage 'gx'"):
        rules_at("gx")
