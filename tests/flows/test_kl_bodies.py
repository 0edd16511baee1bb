"""K/L bodies end to end without Prefect (issue 19): the reference list, ingest under a kode Bagian Anggaran,
the ledger rules as for regions, units outside the lokus, and the published kl rows and lokus coverage."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from flows.generate import generate_cycle
from flows.ingest import discover, ingest_bundle, region_problem
from flows.ledger import Ledger
from flows.publish import current_release, publish, table_link
from flows.settings import Places, bodies_reference, kl_reference, load_methodology

T0 = datetime(2025, 1, 6, 1, 0, tzinfo=UTC)


def test_the_kl_reference_list_is_well_formed() -> None:
    kl = kl_reference()
    assert kl.columns == ["kl_code", "name"]
    assert kl.height == 81  # every code the cited source confirms (data/reference/NOTICE.md)
    assert kl["kl_code"].str.contains(r"^\d{3}$").all() and kl["kl_code"].is_unique().all()
    assert (kl["name"].str.len_chars() > 3).all()
    assert dict(kl.iter_rows())["027"] == "Kementerian Sosial"
    bodies = bodies_reference()
    assert bodies.filter(pl.col("level") == "kl").height == 81
    assert bodies.filter(pl.col("level") == "kl")["province_code"].null_count() == 81


def test_a_kl_code_is_a_body_and_an_unknown_one_is_refused() -> None:
    assert region_problem("027") is None and region_problem("35.78") is None
    assert "not a kode Bagian Anggaran in the K/L reference list" in region_problem("999")
    assert "nor a K/L's 3-digit kode Bagian Anggaran" in region_problem("0271")


def ingest_all(places: Places, cycle: str) -> pl.DataFrame:
    methodology = load_methodology(cycle)
    ledger = Ledger(places, cycle)
    ledger.record([ingest_bundle(b, methodology, places, ledger).entry for b in discover(places.landing, cycle)])
    return ledger.load()


@pytest.fixture(scope="module")
def kl_cycle(tmp_path_factory: pytest.TempPathFactory) -> Places:
    """Cycle 2024: 3 regions and 3 K/L generated; one more K/L bundle puts a region's unit type in its units."""
    root = tmp_path_factory.mktemp("kl")
    places = Places(landing=root / "landing", warehouse=root / "warehouse")
    summary = generate_cycle("2024", places.landing, regions=3, kl=3, units=4, respondents=20, seed=3,
                             methodology=load_methodology("2024"))
    kl_folder = next(p for p in summary.paths if len(p.parent.name) == 3)
    # the K/L sends again later, with an RSUD (not in the K/L lokus) added: the newer bundle supersedes
    later = kl_folder.parent / (kl_folder.name + "_v2")
    shutil.copytree(kl_folder, later)
    units = pl.read_csv(later / "units.csv", infer_schema=False)
    units = pl.concat([units, units.head(1).with_columns(unit_id=pl.lit("X-RSUD"), unit_type=pl.lit("RSUD"))])
    units.write_csv(later / "units.csv")
    for path in later.iterdir():  # uploaded after the first bundle
        stamp = path.stat().st_mtime + 3600
        os.utime(path, (stamp, stamp))
    # an unknown K/L code is refused as a whole
    shutil.copytree(kl_folder, places.landing / "2024" / "999" / "bundle")
    ingest_all(places, "2024")
    publish(places, load_methodology("2024"), now=T0)
    return places


def table(places: Places, name: str) -> pl.DataFrame:
    return pl.read_parquet(next(table_link(places, name, "2024").glob("*.parquet")))


def test_kl_bundles_follow_the_ledger_rules_of_regions(kl_cycle: Places) -> None:
    entries = Ledger(kl_cycle, "2024").load()
    kl = entries.filter(pl.col("region_code").str.contains(r"^\d{3}$"))
    assert kl.filter(pl.col("region_code") == "999")["status"].to_list() == ["rejected"]
    assert "not a kode Bagian Anggaran" in kl.filter(pl.col("region_code") == "999")["reason"].item()
    resent = kl.filter(pl.col("bundle").str.ends_with("_v2"))
    first = kl.filter(pl.col("region_code") == resent["region_code"].item(), ~pl.col("bundle").str.ends_with("_v2"))
    assert resent["status"].item() == "accepted"
    assert first["status"].item() == "superseded" and first["superseded_by"].item() == resent["submission_id"].item()
    for raw in kl.filter(pl.col("region_code") != "999")["raw_path"]:
        assert Path(raw).is_dir()  # raw copies kept as for a region
    report = kl_cycle.reports / "2024" / resent["region_code"].item() / resent["submission_id"].item() / "report.md"
    assert "unit_type_lokus" in report.read_text(encoding="utf-8")


def test_kl_rows_are_published_and_ranked_in_their_own_category(kl_cycle: Places) -> None:
    regions = table(kl_cycle, "region_scores")
    kl = regions.filter(pl.col("level") == "kl")
    assert kl.height == 3 and set(kl["category"]) == {"kl"}
    assert kl["province_code"].null_count() == 3
    assert sorted(kl["rank"].drop_nulls().to_list())[0] == 1
    names = dict(kl_reference().iter_rows())
    assert all(names[c] == n for c, n in kl.select("region_code", "region_name").iter_rows())
    assert regions.filter(pl.col("level") != "kl")["rank"].min() == 1
    units = table(kl_cycle, "unit_scores")
    assert "X-RSUD" not in units["unit_id"].to_list()  # outside the K/L lokus: not scored
    assert set(units.filter(pl.col("region_code").is_in(kl["region_code"].implode()))["unit_type"]) == {"UPT_KL"}
    issues = table(kl_cycle, "validation_issues").filter(pl.col("rule") == "unit_type_lokus")
    assert issues.select("value", "severity").rows() == [("RSUD", "row")]
    assert "for a ministry or agency (K/L): UPT_KL" in issues["message"].item()


def test_lokus_coverage_is_published_per_body_and_type(kl_cycle: Places) -> None:
    coverage = table(kl_cycle, "lokus_coverage")
    regions = table(kl_cycle, "region_scores")
    assert set(coverage["region_code"]) == set(regions["region_code"])
    kl = coverage.filter(pl.col("tier") == "kl")
    assert set(kl["unit_type"]) == {"UPT_KL"} and kl["covered"].all()
    for row in regions.iter_rows(named=True):
        mine = coverage.filter(pl.col("region_code") == row["region_code"])
        missing = sorted(mine.filter(pl.col("n_units") == 0)["unit_type"])
        assert (row["lokus_missing"] or "") == ", ".join(missing)
    assert current_release(kl_cycle, "2024")["tables"]["lokus_coverage"]["rows"] == coverage.height


def test_the_reports_show_the_kl_category_and_a_card_per_kl(kl_cycle: Places) -> None:
    from documents.blocks import card_file_name
    from flows.reports import write_cycle_report, write_region_cards

    report = write_cycle_report(kl_cycle, "2024").read_text(encoding="utf-8")
    assert "<h3>Kementerian/Lembaga</h3>" in report
    cards = {p.name: p for p in write_region_cards(kl_cycle, "2024")}
    regions = table(kl_cycle, "region_scores")
    for row in regions.filter(pl.col("level") == "kl").iter_rows(named=True):
        card = cards[card_file_name(row["region_code"])].read_text(encoding="utf-8")
        assert "Rapor K/L" in card and f"Kode Bagian Anggaran {row['region_code']}" in card
        assert row["region_name"] in card and "Provinsi" not in card.split("</header>")[0]
    for row in regions.filter(pl.col("lokus_missing").is_not_null()).iter_rows(named=True):
        assert f"lokus belum dikirim: {row['lokus_missing']}" in report
        assert "Lokus belum dikirim" in cards[card_file_name(row["region_code"])].read_text(encoding="utf-8")
