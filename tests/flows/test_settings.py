"""One module owns every setting (flows/settings.py): declared once, read when called, listed in the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from flows import settings
from flows.settings import PROJECT_ROOT, SETTINGS, Places, methodology_dir, setting

NAME = re.compile(r"PEKPPP_[A-Z][A-Z0-9_]*[A-Z0-9]")
CODE = [p for folder in ("flows", "transforms", "expectations") for p in (PROJECT_ROOT / folder).rglob("*.py")]


def _names_in(paths: list[Path]) -> set[str]:
    return {name for path in paths for name in NAME.findall(path.read_text(encoding="utf-8"))}


def test_every_setting_the_code_or_deployment_names_is_declared() -> None:
    named = _names_in([*CODE, PROJECT_ROOT / "prefect.yaml"])
    assert named, "the scan found no setting at all: the pattern is broken"
    assert named - set(SETTINGS) == set()


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = {str(p.relative_to(PROJECT_ROOT)) for p in CODE
               if re.search(r"os\.environ\.get\(|os\.getenv\(|os\.environ\[", p.read_text(encoding="utf-8"))}
    assert readers == {"flows/settings.py"}


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("### Settings"):]
    rows = {m.group(1): m.group(2) for m in re.finditer(r"^\| `(PEKPPP_[A-Z0-9_]+)` \| ([^|]*) \|", table, re.M)}
    assert set(rows) == set(SETTINGS)
    assert all(rows[name].strip() == SETTINGS[name].default for name in SETTINGS)


def test_settings_are_read_when_called_not_at_import(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PEKPPP_METHODOLOGY", raising=False)
    assert methodology_dir() == PROJECT_ROOT / "data" / "methodology"
    monkeypatch.setenv("PEKPPP_METHODOLOGY", str(tmp_path))
    assert methodology_dir() == tmp_path
    assert settings.known_cycles() == []  # an empty folder: no cycle, read now
    monkeypatch.setenv("PEKPPP_WAREHOUSE", f"  {tmp_path / 'wh'}  ")
    assert Places.from_env().warehouse == tmp_path / "wh"  # stripped


def test_an_undeclared_setting_is_a_bug_not_a_silent_default() -> None:
    with pytest.raises(KeyError, match="PEKPPP_NO_SUCH is not a declared setting"):
        setting("PEKPPP_NO_SUCH")


def test_prefect_defaults_never_override_the_operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", "DEBUG")
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "mine"))
    settings.prefect_defaults(tmp_path / "other")
    import os

    assert os.environ["PREFECT_LOGGING_LEVEL"] == "DEBUG" and os.environ["PREFECT_HOME"] == str(tmp_path / "mine")
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
