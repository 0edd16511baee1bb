"""Issue 20: the Ombudsman's compliance feed read and validated like a bundle, with row-level issues.

A dimension outside 0-100, an unknown body code, a repeated assessment, a row without dimensions or score,
and a given score disagreeing with its dimensions are row issues; the good rows are kept. A feed without
its table or columns, or for a cycle without `[ombudsman]`, is rejected whole.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import polars as pl
import pytest

from expectations.suites import load_suite
from flows.ingest import check_bundle
from flows.settings import load_methodology, methodology_path
from transforms.messages import RULE_TEXT_ID
from transforms.methodology_parser import parse_methodology
from transforms.schemas import OMBUDSMAN_FEED

M2023 = load_methodology("2023")
HEADER = "body_code;unit_id;unit_name;input;proses;output;pengaduan;score"


def feed(tmp_path: Path, lines: list[str], name: str = "feed-1", header: str = HEADER,
         file: str = "compliance.csv") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    (folder / file).write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return folder


def test_mixed_feed_keeps_the_good_rows_and_names_each_bad_one(tmp_path: Path) -> None:
    path = feed(tmp_path, [
        "36;DINSOS-36;Dinas Sosial Provinsi Banten;;;;;91,88",          # 2: good, final score only (decimal comma)
        "36.71;;Kota Tangerang;87.00;75.00;80.00;90.00;82.07",          # 3: good, agrees (82.065 -> 82.07)
        "36.01;;Kab. Pandeglang;87.00;75.00;80.00;90.00;82.06",         # 4: disagrees with its dimensions
        "99.99;;Nowhere;80;80;80;80;",                                  # 5: unknown body code
        "35;;Jawa Timur;101;80;80;80;",                                 # 6: a dimension above 100
        "35.78;;Kota Surabaya;80;80;;80;",                              # 7: neither four dimensions nor a score
        "027;;Kemensos;90.5;90;90;90;",                                 # 8: good, K/L, computed
        "027;;Kemensos again;70;70;70;70;",                             # 9: 027 twice: both set aside
        "32;;Jawa Barat;80.123;80;80;80;",                              # 10: more than two decimals
    ])
    checked = check_bundle(path, M2023, OMBUDSMAN_FEED)
    assert not checked.rejected, checked.reason
    kept = checked.tables["compliance"]
    assert sorted(kept["body_code"].to_list()) == ["36", "36.71"]
    issues = {(r["row"], r["rule"]): r for r in checked.issues.iter_rows(named=True)}
    assert set(issues) == {(4, "score_mismatch"), (5, "body_known"), (6, "compliance_range"),
                           (7, "compliance_incomplete"), (8, "unique_assessment"), (9, "unique_assessment"),
                           (10, "type")}
    mismatch = issues[(4, "score_mismatch")]
    assert "82.06" in mismatch["message"] and "82.07" in mismatch["message"] and mismatch["value"] == "82.06"
    assert issues[(6, "compliance_range")]["column"] == "input" and issues[(6, "compliance_range")]["value"] == "101.0"
    assert issues[(5, "body_known")]["value"] == "99.99"
    assert all(r["severity"] == "row" for r in issues.values())


def test_feed_reads_xlsx_parquet_and_json_alike(tmp_path: Path) -> None:
    frame = pl.DataFrame({"body_code": ["36", "027"], "unit_id": [None, None], "input": [90.0, 80.0],
                          "proses": [95.0, 80.0], "output": [92.0, 80.0], "pengaduan": [88.0, 80.0]})
    for ext, write in (("xlsx", frame.write_excel), ("parquet", frame.write_parquet), ("json", frame.write_json)):
        folder = tmp_path / f"f-{ext}"
        folder.mkdir()
        write(folder / f"compliance.{ext}")
        checked = check_bundle(folder, M2023, OMBUDSMAN_FEED)
        assert not checked.rejected, (ext, checked.reason)
        assert checked.tables["compliance"].height == 2, ext


@pytest.mark.parametrize(("header", "lines", "rule"), [
    ("unit_id;score", ["u1;90"], "missing_column"),
    ("body_code;unit_name", ["36;x"], "compliance_columns"),
    (HEADER, [], "empty_table"),
])
def test_a_feed_that_cannot_be_trusted_whole_is_rejected(tmp_path: Path, header: str, lines: list[str],
                                                         rule: str) -> None:
    checked = check_bundle(feed(tmp_path, lines, header=header), M2023, OMBUDSMAN_FEED)
    assert checked.rejected and rule in checked.issues["rule"].to_list()


def test_a_feed_without_its_table_is_rejected(tmp_path: Path) -> None:
    checked = check_bundle(feed(tmp_path, ["u1"], header="unit_id", file="units.csv"), M2023, OMBUDSMAN_FEED)
    assert checked.rejected and checked.issues["rule"].to_list() == ["missing_table"]


def test_a_cycle_without_ombudsman_section_rejects_its_feed(tmp_path: Path) -> None:
    raw = tomllib.loads(methodology_path("2023").read_text(encoding="utf-8"))
    del raw["ombudsman"]
    methodology = parse_methodology(raw, cycle="2023", source="test")
    checked = check_bundle(feed(tmp_path, ["36;;;;;;;91.88"]), methodology, OMBUDSMAN_FEED)
    assert checked.rejected and checked.issues["rule"].to_list() == ["no_ombudsman_method"]
    assert "[ombudsman]" in (checked.reason or "")


def test_every_feed_rule_has_bahasa_text() -> None:
    from expectations import compliance

    rules = {e["meta"]["rule"] for e in load_suite("compliance")["expectations"]}
    rules |= {compliance.RULE_NO_METHOD, compliance.RULE_COLUMNS, compliance.RULE_INCOMPLETE, compliance.RULE_MISMATCH}
    assert rules <= set(RULE_TEXT_ID)
