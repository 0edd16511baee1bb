"""The standing hostile-input corpus (tests/flows/hostile.py) through a real run and `pekppp validate`.

Every case is generated into one landing zone beside a host folder whose file holds a marker; the
real `nightly` flow runs once on Prefect's local mode. Each case must then get its verdict, its
deciding rule and its words, the same from the run (the ledger and the published tables) as from
`check_bundle` (what `pekppp validate` runs), and the marker must appear nowhere under the warehouse.
"""

from __future__ import annotations

import os
from pathlib import Path

import polars as pl
import pytest
from hostile import MARKER, REGION, Case, build_corpus, build_feed_corpus, corpus, feed_corpus

from flows.ingest import check_bundle
from flows.intake.bundles import bundle_fingerprint
from flows.nightly import nightly
from flows.publish import release_gap
from flows.settings import Places, load_methodology
from transforms.schemas import OMBUDSMAN_FEED

pytestmark = pytest.mark.slow

CYCLE = "2024"
CASES = {case.name: case for case in corpus()}
FEED_CASES = {case.name: case for case in feed_corpus()}


def test_the_corpus_is_large_and_named_once() -> None:
    names = [case.name for case in corpus()]
    assert len(names) >= 60 and len(names) == len(set(names))
    assert {"accepted", "rejected"} == {case.verdict for case in corpus()}


@pytest.fixture(scope="module")
def outcome(prefect_local, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("hostile")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    built = build_corpus(places.landing / CYCLE / REGION, root / "host")
    feeds = build_feed_corpus(places.landing / CYCLE / OMBUDSMAN_FEED, root / "host")  # issue 20
    methodology = load_methodology(CYCLE)
    summaries = nightly(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))
    offline = {name: check_bundle(path, methodology, REGION) for name, (_case, path) in built.items()}
    offline |= {name: check_bundle(path, methodology, OMBUDSMAN_FEED) for name, (_case, path) in feeds.items()}
    built |= feeds
    ids = {name: bundle_fingerprint(path, methodology.limits)[0] for name, (_case, path) in built.items()}
    submissions = pl.read_parquet(places.warehouse / "submissions" / f"cycle={CYCLE}" / "*.parquet")
    issues = pl.read_parquet(places.warehouse / "validation_issues" / f"cycle={CYCLE}" / "*.parquet")
    return {"places": places, "built": built, "offline": offline, "ids": ids, "submissions": submissions,
            "issues": issues, "summary": summaries[0]}


def run_verdict(outcome: dict, name: str) -> tuple[str, str, list[str], list[str]]:
    """(status, reason, critical rules, every rule) the run published for the case's submission.

    Cases with the same content are one submission (the same bytes are ingested once): its reason
    names the bundle the run saw first, so that name is put back to this case's for comparison.
    """
    sid = outcome["ids"][name]
    region = OMBUDSMAN_FEED if name in FEED_CASES else REGION
    row = outcome["submissions"].filter((pl.col("submission_id") == sid) & (pl.col("region_code") == region))
    assert row.height == 1, (name, row)
    status = {"superseded": "accepted"}.get(row["status"][0], row["status"][0])
    issues = outcome["issues"].filter((pl.col("submission_id") == sid) & (pl.col("region_code") == region))
    critical = issues.filter(pl.col("severity") == "critical")["rule"].to_list()
    landed = " ".join(outcome["built"][name][1].name.split())  # a name is shown on one line
    reason = (row["reason"][0] or "").replace(f"Bundle {row['bundle'][0]} ", f"Bundle {landed} ")
    return status, reason, critical, issues["rule"].to_list()


@pytest.mark.parametrize("name", [*CASES, *FEED_CASES])
def test_each_case_gets_its_verdict_rule_and_words_alike_from_run_and_validate(outcome: dict, name: str) -> None:
    case: Case = CASES.get(name) or FEED_CASES[name]
    status, reason, critical, rules = run_verdict(outcome, name)
    offline = outcome["offline"][name]
    assert status == case.verdict, (name, reason)
    assert ("rejected" if offline.rejected else "accepted") == case.verdict, (name, offline.reason)
    if case.verdict == "rejected":
        assert case.rule in critical, (name, critical)
        assert case.rule in offline.issues.filter(pl.col("severity") == "critical")["rule"].to_list(), name
        assert case.words in reason and case.words in (offline.reason or ""), (name, reason)
        assert "\n" not in reason and "None" not in reason.split(), reason
    else:
        assert critical == [], (name, critical)
        if case.rule:
            assert case.rule in rules and case.rule in offline.issues["rule"].to_list(), (name, rules)
    # one verdict: the run's reason is validate's, up to the bundle name the run gives
    assert reason == (offline.reason or ""), name


def test_nothing_outside_a_bundle_reaches_the_warehouse(outcome: dict) -> None:
    warehouse: Path = outcome["places"].warehouse
    found = []
    for path in warehouse.rglob("*"):
        if path.is_symlink() or not path.is_file():
            assert not path.is_symlink() or path.resolve().is_relative_to(warehouse.resolve()), path
            continue
        data = path.read_bytes()
        ours = path.suffix == ".parquet" and "_raw" not in path.relative_to(warehouse).parts  # regions' files: bytes
        if MARKER.encode() in data or (ours and MARKER in str(pl.read_parquet(path).rows())):
            found.append(str(path))
    assert found == []
    assert not [p for p in (warehouse / "_raw").rglob("*") if p.is_symlink() or not (p.is_file() or p.is_dir())]


def test_every_landed_entry_is_recorded_and_the_release_covers_the_ledger(outcome: dict) -> None:
    places: Places = outcome["places"]
    assert release_gap(places, CYCLE) is None
    landed = {p.name for p in (places.landing / CYCLE / REGION).iterdir()}
    assert len(landed) == len(CASES)
    assert len(list((places.landing / CYCLE / OMBUDSMAN_FEED).iterdir())) == len(FEED_CASES)
    recorded = set(outcome["submissions"]["submission_id"].to_list())
    assert {outcome["ids"][name] for name in [*CASES, *FEED_CASES]} == recorded
    assert outcome["summary"]["outcome"] == "published"


def test_the_run_left_no_server_or_temporary_file_behind(outcome: dict) -> None:
    warehouse: Path = outcome["places"].warehouse
    assert list(warehouse.rglob("*.tmp")) == []
    assert not (warehouse / "_raw" / ".staging" / CYCLE).exists() or not os.listdir(warehouse / "_raw" / ".staging" /
                                                                                     CYCLE)


def test_a_rerun_from_the_raw_copies_gives_every_case_the_same_verdict(outcome: dict) -> None:
    """`rerun` reads only the raw copies (links and FIFOs were never copied: `.refused.json` says what was
    refused), so every submission keeps its status and reason, and still nothing escapes."""
    from flows.nightly import rerun_cycle

    places: Places = outcome["places"]
    before = outcome["submissions"].select("region_code", "submission_id", "status", "reason").sort("submission_id")
    rerun_cycle(cycle=CYCLE, landing=str(places.landing), warehouse=str(places.warehouse))
    after = pl.read_parquet(places.warehouse / "submissions" / f"cycle={CYCLE}" / "*.parquet")
    after = after.select("region_code", "submission_id", "status", "reason").sort("submission_id")
    assert after.rows() == before.rows()
    test_nothing_outside_a_bundle_reaches_the_warehouse(outcome)
