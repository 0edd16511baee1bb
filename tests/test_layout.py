"""The tests mirror the packages: every transforms, expectations and I/O module of flows has its own test module.

A module `<package>/<name>.py` is tested in `tests/<package>/test_<name>.py`; a module of a sub-package,
`<package>/<sub>/<name>.py`, in `tests/<package>/test_<sub>_<name>.py`. pytest needs test module names to be
unique across folders, so where two packages hold a module of one name the second takes its package's name
too: `tests/expectations/test_expectations_compliance.py` beside `tests/transforms/test_compliance.py`.
Concern-named modules (golden values, end to end runs, fuzzing) are welcome beside these; they do not
replace them.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("transforms", "flows", "expectations")

NOT_UNIT_TESTED = {
    # Prefect flows, the command line and the documents people read: exercised by real flow runs
    # (tests/flows/test_nightly_e2e.py, test_orchestration.py), the CLI tests (test_cli.py) and the page
    # tests (test_reports.py, test_rosters.py, test_reports_browser.py), not by unit tests of their own.
    "flows/nightly.py": "the nightly and rerun-cycle Prefect flows (real flow runs in test_nightly_e2e.py)",
    "flows/demo.py": "`pekppp demo`: the command line around generate and the nightly flow",
}
"""Modules left out on purpose, with the reason (one line each)."""

KNOWN_MISSING = {
    # issue 20 (the Ombudsman feed), merged with concern-named tests only
    "expectations/compliance.py": "exercised by tests/expectations/test_compliance_feed.py through check_bundle",
    "flows/generate_ombudsman.py": "exercised by tests/flows/test_ombudsman_feed.py through generate_cycle",
}
"""Modules that should have a test module and do not yet: each entry is debt, named so it is paid."""


def modules() -> list[str]:
    """Every module of the packages, as 'package/[sub/]name.py' (package markers left out)."""
    return sorted(str(p.relative_to(ROOT)) for package in PACKAGES for p in (ROOT / package).rglob("*.py")
                  if p.name != "__init__.py" and "__pycache__" not in p.parts)


def own_test_modules(module: str) -> list[str]:
    """Where the module's own tests may live (see the module docstring): its name, or package and name."""
    package, *subs, name = Path(module).with_suffix("").parts
    stem = "_".join([*subs, name])
    return [f"tests/{package}/test_{stem}.py", f"tests/{package}/test_{package}_{stem}.py"]


def has_own_tests(module: str) -> bool:
    return any((ROOT / path).is_file() for path in own_test_modules(module))


def test_every_module_has_its_own_test_module() -> None:
    missing = [f"{m} -> {own_test_modules(m)[0]}" for m in modules()
               if m not in NOT_UNIT_TESTED and m not in KNOWN_MISSING and not has_own_tests(m)]
    assert not missing, ("modules without their own test module (add one, or say in tests/test_layout.py why the "
                         f"module is not unit tested): {missing}")


def test_the_exception_lists_name_real_modules_and_shrink() -> None:
    """An exception for a module that is gone, or a known gap that has been filled, is removed from the list."""
    present = set(modules())
    stale = [m for m in [*NOT_UNIT_TESTED, *KNOWN_MISSING] if m not in present]
    assert not stale, f"listed in tests/test_layout.py but no longer in the code: {stale}"
    paid = [m for m in KNOWN_MISSING if has_own_tests(m)]
    assert not paid, f"these now have their test module: remove them from KNOWN_MISSING: {paid}"


def test_test_module_names_are_unique_across_folders() -> None:
    """pytest's default import mode refuses two test modules of one name in a run."""
    names: dict[str, list[str]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        names.setdefault(path.name, []).append(str(path.relative_to(ROOT)))
    assert not {n: p for n, p in names.items() if len(p) > 1}
