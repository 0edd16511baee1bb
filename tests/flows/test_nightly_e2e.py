"""End to end: the real `nightly` and `rerun-cycle` flows on Prefect's local mode over a generated cycle.

One small cycle is generated and run once per module; the tests then read what was published with
the readers a warehouse would use (pyarrow datasets, DuckDB, Polars) and recompute a unit's score
independently from the raw CSV the region sent.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.dataset as ds
import pytest

from flows.generate import generate_cycle
from flows.ledger import Ledger
from flows.nightly import nightly, rerun_cycle
from flows.settings import Places, load_methodology
from transforms.methodology import Methodology
from transforms.schemas import OUTPUT_TABLES

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cycle_run(prefect_local, tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("e2e")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    generated = generate_cycle("2024", places.landing, regions=5, units=4, respondents=40, seed=7, bad_rate=0.2,
                               methodology=load_methodology("2024"))
    summaries = nightly(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))
    return {"places": places, "generated": generated, "summary": summaries[0]}


def read_table(places: Places, table: str) -> pl.DataFrame:
    return pl.read_parquet(places.warehouse / table / "cycle=2024" / "*.parquet")


def test_every_table_is_published_with_its_declared_schema(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    for name, spec in OUTPUT_TABLES.items():
        dataset = ds.dataset(places.warehouse / name, format="parquet", partitioning="hive")
        columns = [c.name for c in spec.columns if c.name != "cycle" and not c.only_with]  # 2024: no F-03 blend
        assert dataset.schema.names[: len(columns)] == columns, name
        assert dataset.schema.names[-1] == "cycle", name  # from the partition folder, not the file
        duck = duckdb.sql(f"select count(*) from read_parquet('{places.warehouse}/{name}/*/*.parquet', "
                          "hive_partitioning=true)").fetchall()[0][0]
        assert duck == dataset.count_rows(), name


def test_row_counts_follow_the_bundles(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    generated = cycle_run["generated"]
    submissions = read_table(places, "submissions")
    assert submissions.height == generated.bundles
    accepted = submissions.filter(pl.col("status") == "accepted")
    rejected = submissions.filter(pl.col("status") == "rejected")
    assert rejected.height == generated.bad_bundles
    assert cycle_run["summary"]["accepted"] == accepted.height
    units_sent = sum(
        sum(1 for _ in csv.DictReader((places.landing / "2024" / r["region_code"] / r["bundle"] / "units.csv").open()))
        for r in accepted.iter_rows(named=True))
    units = read_table(places, "unit_scores")
    assert units.height == units_sent
    assert read_table(places, "aspect_scores").height == units.height * 6
    assert read_table(places, "region_scores").height == accepted.height
    national = read_table(places, "national_scores").row(0, named=True)
    assert national["n_units"] == units.height
    counts = json.loads(national["predicate_counts"])
    assert sum(counts.values()) == units.filter(pl.col("status") == "scored").height


def test_rejected_bundles_and_bad_rows_are_reported(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    issues = read_table(places, "validation_issues")
    submissions = read_table(places, "submissions")
    for row in submissions.filter(pl.col("status") == "rejected").iter_rows(named=True):
        mine = issues.filter((pl.col("submission_id") == row["submission_id"]) & (pl.col("severity") == "critical"))
        assert mine.height >= 1, row
        assert row["reason"]
    score_issues = issues.filter(pl.col("rule") == "score_range")
    assert score_issues.height > 0
    assert score_issues["row_number"].null_count() == 0


def independent_ipp(bundle: Path, unit_id: str, methodology: Methodology) -> Decimal:
    """The unit's IPP from the region's CSV in plain Python: evaluator means, weights, half-up."""
    weights = {i.code: (a.weight, i.weight) for a in methodology.aspects for i in a.indicators}
    scores: dict[str, list[int]] = defaultdict(list)
    with (bundle / "evaluations.csv").open() as handle:
        for row in csv.DictReader(handle):
            if row["unit_id"] == unit_id and row["indicator_code"] in weights and row["score"].isdigit() \
                    and 0 <= int(row["score"]) <= 5:
                scores[row["indicator_code"]].append(int(row["score"]))
    assert set(scores) == set(weights)
    exact = sum(Fraction(wa * wi, 10_000) * Fraction(sum(s), len(s)) for code, s in scores.items()
                for wa, wi in [weights[code]])
    return (Decimal(exact.numerator) / Decimal(exact.denominator)).quantize(Decimal("0.01"), ROUND_HALF_UP)


def test_a_unit_score_recomputed_from_the_raw_csv(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    methodology = load_methodology("2024")
    units = read_table(places, "unit_scores").filter(pl.col("status") == "scored")
    submissions = read_table(places, "submissions").filter(pl.col("status") == "accepted")
    bundles = dict(zip(submissions["submission_id"], submissions["bundle"], strict=True))
    checked = 0
    for unit in units.head(6).iter_rows(named=True):
        bundle = places.landing / "2024" / unit["region_code"] / bundles[unit["submission_id"]]
        assert Decimal(str(unit["ipp"])) == independent_ipp(bundle, unit["unit_id"], methodology), unit["unit_id"]
        checked += 1
    assert checked == 6


def test_release_manifest_records_what_produced_it(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    current = json.loads((places.warehouse / "_releases" / "2024" / "current.json").read_text())
    manifest = json.loads((places.warehouse / "_releases" / "2024" / current["manifest"]).read_text())
    assert manifest["release_id"] == cycle_run["summary"]["release_id"]
    assert manifest["methodology"]["sha256"] == load_methodology("2024").sha256
    assert manifest["code_version"]
    assert set(manifest["tables"]) == set(OUTPUT_TABLES)
    assert manifest["tables"]["unit_scores"]["rows"] == read_table(places, "unit_scores").height
    used = {s["submission_id"] for s in manifest["submissions_used"]}
    accepted = read_table(places, "submissions").filter(pl.col("status") == "accepted")
    assert used == set(accepted["submission_id"])


def test_raw_bundles_are_kept_read_only(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    for row in read_table(places, "submissions").iter_rows(named=True):
        kept = list((places.warehouse / "_raw" / row["submission_id"][:2] / row["submission_id"]).rglob("*.csv"))
        assert kept, row
        assert all(not os.access(p, os.W_OK) or os.geteuid() == 0 for p in kept)
        assert all((p.stat().st_mode & 0o222) == 0 for p in kept)


def test_second_run_with_nothing_new_publishes_nothing(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    before = sorted((places.warehouse / "_releases" / "2024").glob("2024-*.json"))
    summary = nightly(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))[0]
    assert summary["bundles_new"] == 0
    assert summary["release_id"] is None
    assert sorted((places.warehouse / "_releases" / "2024").glob("2024-*.json")) == before


def test_rerun_reproduces_the_same_content(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    release_dir = places.warehouse / "_releases" / "2024"
    first = json.loads((release_dir / f"{cycle_run['summary']['release_id']}.json").read_text())
    summary = rerun_cycle(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))[0]
    second = json.loads((release_dir / f"{summary['release_id']}.json").read_text())
    assert second["release_id"] != first["release_id"]
    for table in OUTPUT_TABLES:
        assert second["tables"][table]["content_sha256"] == first["tables"][table]["content_sha256"], table


def test_newer_bundle_supersedes_and_same_bytes_are_ignored(cycle_run: dict) -> None:
    places: Places = cycle_run["places"]
    accepted = read_table(places, "submissions").filter(pl.col("status") == "accepted").row(0, named=True)
    region_dir = places.landing / "2024" / accepted["region_code"]
    old = region_dir / accepted["bundle"]
    duplicate = region_dir / (accepted["bundle"] + "-copy")
    shutil.copytree(old, duplicate)  # same bytes under another name: no-op
    newer = region_dir / "2024-12-30T0900_resend"
    shutil.copytree(old, newer)
    with (newer / "evaluations.csv").open("a") as handle:
        handle.write("\n")  # other bytes (a blank trailing row), same rows
    uploaded = old.stat().st_mtime + 86_400
    for path in [*newer.iterdir(), newer]:
        os.utime(path, (uploaded, uploaded))
    summary = nightly(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))[0]
    assert summary["bundles_new"] == 1
    submissions = read_table(places, "submissions").filter(pl.col("region_code") == accepted["region_code"])
    by_bundle = {r["bundle"]: r for r in submissions.iter_rows(named=True)}
    assert by_bundle[accepted["bundle"]]["status"] == "superseded"
    assert by_bundle["2024-12-30T0900_resend"]["status"] == "accepted"
    assert by_bundle[accepted["bundle"]]["superseded_by"] == by_bundle["2024-12-30T0900_resend"]["submission_id"]
    assert accepted["bundle"] + "-copy" not in by_bundle


def test_the_same_bytes_sent_for_three_regions_keep_three_verdicts(cycle_run: dict,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """One submission id, three regions: the copies in the wrong regions' folders are rejected for
    ownership, and each region's issue list stays its own (issues are kept per region and submission).
    One bundle per chunk, so the second copy's chunk waits for the first's (same submission id)."""
    monkeypatch.setenv("PEKPPP_INGEST_CHUNK_MB", "0.000001")
    places: Places = cycle_run["places"]
    submissions = read_table(places, "submissions")
    accepted = submissions.filter(pl.col("status") == "accepted").row(0, named=True)
    others = submissions.filter(pl.col("region_code") != accepted["region_code"])["region_code"].unique().sort()
    others = others.head(2).to_list()
    before = read_table(places, "validation_issues").filter(
        (pl.col("submission_id") == accepted["submission_id"]) & (pl.col("region_code") == accepted["region_code"]))
    for other in others:
        shutil.copytree(places.landing / "2024" / accepted["region_code"] / accepted["bundle"],
                        places.landing / "2024" / other / accepted["bundle"])
    summary = nightly(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))[0]
    assert summary["bundles_new"] == 2 and summary["rejected"] == 2
    issues = read_table(places, "validation_issues").filter(pl.col("submission_id") == accepted["submission_id"])
    mine = issues.filter(pl.col("region_code") == accepted["region_code"])
    key = [c for c in mine.columns if c != "release_id"]
    assert mine.select(key).sort(key, nulls_last=True).equals(before.select(key).sort(key, nulls_last=True))
    assert "region_ownership" not in mine["rule"].to_list()
    for other in others:
        ownership = issues.filter((pl.col("region_code") == other) & (pl.col("rule") == "region_ownership"))
        assert ownership.height and all(f"sent for region {other}." in m for m in ownership["message"].to_list())
    rows = read_table(places, "submissions").filter(pl.col("submission_id") == accepted["submission_id"])
    status = {r["region_code"]: r["status"] for r in rows.iter_rows(named=True)}
    assert status == {accepted["region_code"]: "accepted", **{o: "rejected" for o in others}}


def test_a_rerun_names_each_copy_of_the_same_bytes_as_its_region_sent_it(prefect_local, tmp_path: Path) -> None:
    """Two regions' folders hold the same bytes under different names: one raw copy is kept (content-addressed),
    yet after a re-run each region's submission row, reason and issues still name its own upload."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    generate_cycle("2024", places.landing, regions=2, units=3, respondents=20, seed=11,
                   methodology=load_methodology("2024"))
    owner, other = sorted(p.name for p in (places.landing / "2024").iterdir())
    sent = next((places.landing / "2024" / owner).iterdir())
    shutil.copytree(sent, places.landing / "2024" / other / "2024-12-31T0800_salinan")
    nightly(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))

    def verdicts() -> dict[tuple[str, str], tuple[str, str | None, int, str]]:
        landed = {(r["region_code"], r["bundle"]): r["landing_path"]
                  for r in Ledger(places, "2024").load().iter_rows(named=True)}
        rows = read_table(places, "submissions")
        return {(r["region_code"], r["bundle"]): (r["status"], r["reason"], r["n_issues"],
                                                  landed[(r["region_code"], r["bundle"])])
                for r in rows.iter_rows(named=True)}

    def messages(region: str) -> list[str]:
        issues = read_table(places, "validation_issues").filter(pl.col("region_code") == region)
        return sorted(issues["message"].to_list())

    first, first_messages = verdicts(), messages(other)
    copy = first[(other, "2024-12-31T0800_salinan")]
    assert copy[0] == "rejected" and first[(owner, sent.name)][0] == "accepted"
    summary = rerun_cycle(cycle="2024", landing=str(places.landing), warehouse=str(places.warehouse))[0]
    assert summary["release_id"]
    assert verdicts() == first
    assert messages(other) == first_messages
