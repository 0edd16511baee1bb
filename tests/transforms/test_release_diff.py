"""The release diff explains a correction: units whose eligibility or rank moved and regions whose rank moved,
each with the reason in words; nothing else is listed. Releases made before a column existed compare as null."""

from __future__ import annotations

import polars as pl

from transforms.release_diff import RELEASE_DIFF, change_counts, unit_changes

NO_SURVEY = "no survey: 0 respondents, and the cycle requires the survey sample (require_survey_sample)"
MET_NOW = ("eligible: all 30 indicators scored (require_complete); survey sample met, 48 respondents of 48 required "
           "for 51 yearly service users (Krejcie-Morgan; require_survey_sample)")


def units(rows: list[tuple[str, float, str, int, bool]], *, reasons: dict[str, str] | None = None) -> pl.LazyFrame:
    """unit_scores rows (unit_id, ipp, predicate, rank_in_type, eligible); `reasons` adds ineligible_reason."""
    frame = pl.DataFrame({
        "region_code": ["35.78"] * len(rows), "unit_id": [r[0] for r in rows],
        "unit_name": [f"Unit {r[0]}" for r in rows], "unit_type": ["RSUD"] * len(rows),
        "ipp": [r[1] for r in rows], "predicate": [r[2] for r in rows],
        "rank_in_type": [r[3] for r in rows], "eligible": [r[4] for r in rows]},
        schema={"region_code": pl.String, "unit_id": pl.String, "unit_name": pl.String, "unit_type": pl.String,
                "ipp": pl.Float64, "predicate": pl.String, "rank_in_type": pl.Int64, "eligible": pl.Boolean})
    if reasons is not None:
        frame = frame.with_columns(ineligible_reason=pl.Series([reasons.get(r[0]) for r in rows], dtype=pl.String))
    return frame.lazy()


def roster(rows: list[tuple[str, str | None, str]]) -> pl.LazyFrame:
    """award_roster rows (award, unit_id or None for the region, region_code)."""
    return pl.LazyFrame({"award": [r[0] for r in rows], "subject": ["unit" if r[1] else "region" for r in rows],
                         "region_code": [r[2] for r in rows], "unit_id": [r[1] for r in rows]},
                        schema={"award": pl.String, "subject": pl.String, "region_code": pl.String,
                                "unit_id": pl.String})


def regions(rows: list[tuple[str, str, float, int]], *, with_category: bool) -> pl.LazyFrame:
    """region_scores rows (region_code, level, ipp, rank); a release before ranks per category has no column."""
    frame = pl.DataFrame({"region_code": [r[0] for r in rows], "region_name": [f"Daerah {r[0]}" for r in rows],
                          "level": [r[1] for r in rows], "ipp": [r[2] for r in rows],
                          "predicate": ["A-" for _ in rows], "rank": pl.Series([r[3] for r in rows], dtype=pl.Int64)})
    if with_category:
        frame = frame.with_columns(category=pl.col("level"))
    return frame.lazy()


def test_a_rerun_after_the_correction_lists_exactly_the_units_whose_eligibility_or_rank_changed() -> None:
    # The release before issue 18: no ineligible_reason column; U1 (5.00, no survey) was eligible through the
    # loophole and awarded; U2 short of the 18-row table's sample; U3 and U4 unchanged.
    before = units([("U1", 5.0, "A", 1, True), ("U2", 4.6, "A", 2, False), ("U3", 4.2, "A-", 3, True),
                    ("U4", 3.0, "B-", 4, False)])
    after = units([("U1", 5.0, "A", 1, False), ("U2", 4.6, "A", 2, True), ("U3", 4.2, "A-", 3, True),
                   ("U4", 3.0, "B-", 4, False)], reasons={"U1": NO_SURVEY, "U4": NO_SURVEY})
    diff = unit_changes(before, roster([("pelayanan_prima", "U1", "35.78"), ("sangat_baik", "U3", "35.78")]),
                        after, roster([("pelayanan_prima", "U2", "35.78"), ("sangat_baik", "U3", "35.78")]),
                        release_id="R2", previous_release_id="R1").collect()
    assert diff.schema == RELEASE_DIFF.polars_schema
    assert diff["unit_id"].to_list() == ["U1", "U2"]  # U3, U4: nothing changed, nothing listed
    u1, u2 = diff.iter_rows(named=True)
    assert u1["eligibility_changed"] and u1["award_changed"] and not u1["ipp_changed"] and not u1["rank_changed"]
    assert (u1["eligible_before"], u1["eligible_after"]) == (True, False)
    assert u1["ineligible_reason_before"] is None and u1["ineligible_reason_after"] == NO_SURVEY
    assert u1["reason"] == (f"eligibility: eligible -> not eligible: {NO_SURVEY}; "
                            "awards: pelayanan_prima -> none")
    assert u2["reason"] == ("eligibility: not eligible -> eligible: meets every eligibility rule now; "
                            "awards: none -> pelayanan_prima")
    counts = change_counts(diff)
    assert counts["changed"] == counts["eligibility"] == counts["award"] == 2 and counts["rank_in_type"] == 0


def test_a_rank_change_says_whether_the_unit_itself_moved() -> None:
    before = units([("U1", 4.0, "B", 1, False), ("U2", 3.9, "B", 2, False)])
    after = units([("U1", 3.8, "B", 2, False), ("U2", 3.9, "B", 1, False)], reasons={})
    diff = unit_changes(before, roster([]), after, roster([]), release_id="R2", previous_release_id="R1").collect()
    by_unit = {r["unit_id"]: r["reason"] for r in diff.iter_rows(named=True)}
    assert by_unit == {"U1": "IPP: 4.00 -> 3.80; rank in type: 1 -> 2",
                       "U2": "rank in type: 2 -> 1 (IPP unchanged: other units of its type moved)"}


def test_regions_ranked_per_category_are_listed_with_their_old_and_new_category() -> None:
    # Before: kabupaten and kota ranked together (no category column); after: each category from 1.
    before = regions([("35", "provinsi", 4.1, 1), ("35.15", "kabupaten", 4.0, 2), ("35.78", "kota", 4.3, 1)],
                     with_category=False)
    after = regions([("35", "provinsi", 4.1, 1), ("35.15", "kabupaten", 4.0, 1), ("35.78", "kota", 4.3, 1)],
                    with_category=True)
    empty = units([])
    diff = unit_changes(empty, roster([]), empty, roster([]), release_id="R2", previous_release_id="R1",
                        previous_regions=before, regions=after).collect()
    assert diff.select("subject", "region_code").rows() == [("region", "35.15"), ("region", "35.78")]
    assert diff["reason"].to_list() == ["rank: 2 among kabupaten/kota -> 1 among kabupaten",
                                        "rank: 1 among kabupaten/kota -> 1 among kota"]
    assert diff["unit_id"].to_list() == [None, None] and diff["rank_changed"].all()
    counts = change_counts(diff)
    assert counts["regions_changed"] == counts["region_rank"] == 2 and counts["changed"] == 0


def robustness(marks: dict[str, str | None]) -> pl.LazyFrame:
    """unit_robustness rows: the awards each unit holds but not robustly (comma-joined, or null)."""
    return pl.LazyFrame({"region_code": ["35.78"] * len(marks), "unit_id": list(marks),
                         "awards_not_robust": list(marks.values())},
                        schema={"region_code": pl.String, "unit_id": pl.String, "awards_not_robust": pl.String})


def test_an_award_that_became_or_stopped_being_robust_is_listed_with_its_reason() -> None:
    same = units([("U1", 4.6, "A", 1, True), ("U2", 4.2, "A-", 2, True), ("U3", 3.0, "B-", 3, False)])
    awards = roster([("pelayanan_prima", "U1", "35.78"), ("sangat_baik", "U2", "35.78")])
    diff = unit_changes(same, awards, same, awards, release_id="R2", previous_release_id="R1",
                        previous_robustness=robustness({"U1": None, "U2": "sangat_baik", "U3": None}),
                        robustness=robustness({"U1": "pelayanan_prima", "U2": None, "U3": None})).collect()
    assert diff.schema == RELEASE_DIFF.polars_schema
    assert diff["unit_id"].to_list() == ["U1", "U2"]  # U3: no award, nothing moved
    u1, u2 = diff.iter_rows(named=True)
    assert u1["robustness_changed"] and not (u1["ipp_changed"] or u1["award_changed"] or u1["rank_changed"])
    assert u1["reason"] == "awards not robust (tidak kokoh): none -> pelayanan_prima"
    assert (u2["not_robust_before"], u2["not_robust_after"]) == ("sangat_baik", None)
    assert u2["reason"] == "awards not robust (tidak kokoh): sangat_baik -> none"
    assert change_counts(diff)["robustness"] == 2
    # A release without a robustness table on one side compares nothing of it.
    assert unit_changes(same, awards, same, awards, release_id="R2", previous_release_id="R1",
                        robustness=robustness({"U1": "pelayanan_prima"})).collect().is_empty()
