"""Issue 20 end to end without Prefect: the Ombudsman feed discovered, kept raw, validated with row issues,
ledgered like a bundle, scored and published as `compliance_scores`; a cycle without a feed unchanged."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle, landing_strays
from flows.ledger import Ledger
from flows.publish import current_release, publish, table_link
from flows.settings import Places, load_methodology
from transforms.schemas import OMBUDSMAN_FEED

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)
CYCLE = "2024"


def ingest_all(places: Places) -> pl.DataFrame:
    methodology = load_methodology(CYCLE)
    ledger = Ledger(places, CYCLE)
    ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in discover(places.landing, CYCLE)])
    return ledger.load()


def table(places: Places, name: str) -> pl.DataFrame:
    return pl.read_parquet(next(table_link(places, name, CYCLE).glob("*.parquet")))


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> tuple[Places, Places]:
    """The same generated cycle published twice: with the Ombudsman feed (three bad rows in it) and without."""
    root = tmp_path_factory.mktemp("ombudsman")
    with_feed = Places(landing=root / "with" / "landing", warehouse=root / "with" / "warehouse")
    summary = generate_cycle(CYCLE, with_feed.landing, regions=5, kl=2, units=4, respondents=20, seed=7,
                             bad_rate=0.01, ombudsman=True, methodology=load_methodology(CYCLE))
    assert summary.compliance_rows > 3
    without = Places(landing=root / "without" / "landing", warehouse=root / "without" / "warehouse")
    shutil.copytree(with_feed.landing, without.landing, symlinks=True)
    shutil.rmtree(without.landing / CYCLE / OMBUDSMAN_FEED)
    for places in (with_feed, without):
        ingest_all(places)
        publish(places, load_methodology(CYCLE), now=T0)
    return with_feed, without


def test_the_feed_is_ledgered_kept_raw_and_its_bad_rows_are_issues(cycles: tuple[Places, Places]) -> None:
    places, _ = cycles
    entries = Ledger(places, CYCLE).load()
    feed = entries.filter(pl.col("region_code") == OMBUDSMAN_FEED)
    assert feed["status"].to_list() == ["accepted"] and feed["n_issues"].item() == 3
    assert Path(feed["raw_path"].item()).joinpath("compliance.csv").is_file()  # the raw copy, read-only
    issues = table(places, "validation_issues").filter(pl.col("region_code") == OMBUDSMAN_FEED)
    assert sorted(issues["rule"].to_list()) == ["body_known", "compliance_range", "score_mismatch"]
    assert (issues["table_name"] == "compliance").all() and (issues["severity"] == "row").all()
    submissions = table(places, "submissions").filter(pl.col("region_code") == OMBUDSMAN_FEED)
    assert submissions.height == 1
    # the officer's page of the feed, like any bundle's
    report = places.reports / CYCLE / OMBUDSMAN_FEED / feed["submission_id"].item() / "report.html"
    assert "Ombudsman" in report.read_text(encoding="utf-8")


def test_compliance_scores_are_published_with_the_release(cycles: tuple[Places, Places]) -> None:
    places, _ = cycles
    scores = table(places, "compliance_scores")
    sent = pl.read_csv(next((places.landing / CYCLE / OMBUDSMAN_FEED).glob("*/compliance.csv")),
                       schema_overrides={"body_code": pl.String})
    assert scores.height == sent.height - 3  # the three bad rows set aside, the good ones kept
    manifest = current_release(places, CYCLE)
    assert manifest is not None and manifest["tables"]["compliance_scores"]["rows"] == scores.height
    assert OMBUDSMAN_FEED in {s["region_code"] for s in manifest["submissions_used"]}
    bodies = scores.filter(pl.col("subject") == "body")
    assert bodies["score_source"].unique().to_list() == ["dimensions"]
    assert set(bodies["zone"].to_list()) <= {"hijau", "kuning", "merah"}
    assert scores.filter(pl.col("subject") == "unit")["score_source"].unique().to_list() in ([], ["given"])
    # the disagreement follows the cycle's rules, read against the published roll-ups
    regions = table(places, "region_scores").select("region_code", "predicate")
    joined = bodies.join(regions, on="region_code", how="left")
    expected = ((pl.col("predicate").is_in(["A", "A-"]) & (pl.col("zone") == "merah"))
                | (pl.col("predicate").is_in(["D", "E", "F"]) & (pl.col("zone") == "hijau"))).fill_null(False)
    assert joined.select(expected == pl.col("disagreement").is_not_null()).to_series().all()


def test_a_cycle_without_a_feed_publishes_what_it_did(cycles: tuple[Places, Places]) -> None:
    with_feed, without = cycles
    assert table(without, "compliance_scores").height == 0
    a, b = current_release(with_feed, CYCLE), current_release(without, CYCLE)
    assert a is not None and b is not None
    for name in ("unit_scores", "aspect_scores", "skm_scores", "region_scores", "national_scores", "award_roster",
                 "lokus_coverage", "unit_robustness", "region_robustness"):
        assert a["tables"][name]["content_sha256"] == b["tables"][name]["content_sha256"], name


def test_hostile_feeds_are_refused_whole(tmp_path: Path) -> None:
    """A link inside `_ombudsman`'s bundle, a zip slipping out, and `_ombudsman` itself a link."""
    places = Places(landing=tmp_path / "landing", warehouse=tmp_path / "warehouse")
    secret = tmp_path / "secret.csv"
    secret.write_text("body_code,score\n36,12.34\n", encoding="utf-8")
    feed_root = places.landing / CYCLE / OMBUDSMAN_FEED
    linked = feed_root / "linked"
    linked.mkdir(parents=True)
    os.symlink(secret, linked / "compliance.csv")
    with zipfile.ZipFile(feed_root / "slip.zip", "w") as archive:
        archive.writestr("../compliance.csv", "body_code,score\n36,50\n")
    entries = ingest_all(places)
    verdicts = dict(zip(entries["bundle"], entries["status"], strict=True))
    assert verdicts == {"linked": "rejected", "slip.zip": "rejected"}
    reasons = " ".join(entries["reason"].to_list())
    assert "compliance.csv" in reasons and "12.34" not in reasons
    # `_ombudsman` as a link is not followed, and is named as not used
    other = tmp_path / "other"
    (other / "landing" / "2023").mkdir(parents=True)
    os.symlink(feed_root, other / "landing" / "2023" / OMBUDSMAN_FEED)
    assert discover(other / "landing", "2023") == []
    assert [why for _, why in landing_strays(other / "landing", "2023")] == [
        "a symbolic link, not a region folder; it is not followed"]


def test_the_manifest_lists_the_table_in_order(cycles: tuple[Places, Places]) -> None:
    places, _ = cycles
    manifest = json.loads(next((places.releases / CYCLE).glob(f"{CYCLE}-*.json")).read_text())
    assert list(manifest["tables"])[-1] == "compliance_scores"


def test_the_joined_view_and_the_feeds_carry_the_table(cycles: tuple[Places, Places], tmp_path: Path) -> None:
    from flows import warehouse_db
    from flows.delta_feed import delta_arrow
    from flows.warehouse_load import table_columns
    from transforms.schemas import COMPLIANCE_SCORES

    places, _ = cycles
    db_path = tmp_path / "warehouse.duckdb"
    counts = warehouse_db.load_duckdb(places.warehouse, db_path)
    scores = table(places, "compliance_scores")
    assert counts["compliance_scores"] == scores.height
    with warehouse_db.connect(db_path) as con:
        joined = con.sql("SELECT * FROM body_verdicts WHERE cycle = '2024'").pl()
    bodies = scores.filter(pl.col("subject") == "body")
    regions = table(places, "region_scores")
    # every body of either verdict, once; the disagreements as published
    assert joined.height == len(set(bodies["region_code"]) | set(regions["region_code"]))
    assert joined["region_code"].is_unique().all()
    assert joined["disagreement"].drop_nulls().sort().to_list() == bodies["disagreement"].drop_nulls().sort().to_list()
    # PostgreSQL and Delta keep the 0-100 scores exactly (numeric(5,2)), not the IPP's numeric(3,2)
    assert dict(table_columns(COMPLIANCE_SCORES))["score"] == "numeric(5,2)"
    arrow = delta_arrow(scores.with_columns(cycle=pl.lit(CYCLE)), "compliance_scores")
    assert str(arrow.schema.field("score").type) == "decimal128(5, 2)"



def test_cards_and_cycle_report_show_both_verdicts(cycles: tuple[Places, Places]) -> None:
    from documents.blocks import card_file_name
    from flows.reports import load_cycle, write_cycle_report, write_region_cards

    places, without = cycles
    data = load_cycle(places, CYCLE)
    report = write_cycle_report(places, CYCLE, data).read_text(encoding="utf-8")
    cards = write_region_cards(places, CYCLE, data)
    scores = table(places, "compliance_scores")
    bodies = scores.filter(pl.col("subject") == "body")
    regions = table(places, "region_scores").filter(pl.col("ipp").is_not_null())
    both = set(bodies["region_code"]) & set(regions["region_code"])
    section = report.split('<section id="ombudsman">', 1)[1].split("</section>", 1)[0]
    assert section.count("<circle") == len(both)  # one dot per body both verdicts cover
    disagreeing = bodies.filter(pl.col("disagreement").is_not_null() & pl.col("region_code").is_in(list(both)))
    assert f"Penilaian yang tidak sejalan ({disagreeing.height})" in section
    for code in disagreeing["region_code"]:
        assert f"({code})" in section
    assert all(OMBUDSMAN_FEED not in p.name for p in cards)
    code = bodies["region_code"][0]
    card = (places.reports / CYCLE / "wilayah" / card_file_name(code)).read_text(encoding="utf-8")
    score = bodies.filter(pl.col("region_code") == code)["score"].item()
    kpi = card.split('id="kepatuhan">', 1)[1].split("</div>", 1)[0]
    assert kpi == f"{score:.2f}".replace(".", ",") and 'id="ipp-daerah"' in card
    assert "<h2>Kepatuhan Ombudsman</h2>" in card
    # a cycle without a feed: no second verdict on its pages
    plain = load_cycle(without, CYCLE)
    assert "Kepatuhan Ombudsman" not in write_cycle_report(without, CYCLE, plain).read_text(encoding="utf-8")
    pages = write_region_cards(without, CYCLE, plain)
    assert not any("Kepatuhan Ombudsman" in p.read_text(encoding="utf-8") for p in pages)


def test_a_corrected_feed_supersedes_and_the_diff_says_what_moved(cycles: tuple[Places, Places]) -> None:
    places, _ = cycles
    first = next((places.landing / CYCLE / OMBUDSMAN_FEED).iterdir())
    corrected = first.parent / (first.name + "_koreksi")
    corrected.mkdir()
    sent = pl.read_csv(first / "compliance.csv", infer_schema=False)
    body = sent.row(0, named=True)["body_code"]
    sent.with_columns(input=pl.when(pl.int_range(pl.len()) == 0).then(pl.lit("0")).otherwise(pl.col("input"))) \
        .write_csv(corrected / "compliance.csv")
    later = (first / "compliance.csv").stat().st_mtime + 3600
    for path in (corrected / "compliance.csv", corrected):
        os.utime(path, (later, later))
    entries = ingest_all(places)
    feeds = entries.filter(pl.col("region_code") == OMBUDSMAN_FEED).sort("received_at")
    assert feeds["status"].to_list() == ["superseded", "accepted"]
    release = publish(places, load_methodology(CYCLE), now=T0 + timedelta(hours=1))
    assert release.diff is not None and release.changes is not None
    moved = release.diff.filter(pl.col("subject") == "compliance")
    assert moved["region_code"].to_list() == [body] and moved["unit_id"].to_list() == [None]
    assert "Ombudsman score:" in moved["reason"].item() and release.changes["compliance_changed"] == 1
