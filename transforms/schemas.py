"""Declared schemas: the input tables regions send and the output tables the warehouse gets.

Each table's columns, types, nullability and meaning are written here once; readers, validators,
writers and the README all follow these declarations.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

ROW = "_row"
"""Source row number as the region sees it in its file (header = row 1 in CSV/XLSX)."""

BAD = "_bad"
"""Typed-frame flag: the row had a `row`-severity issue and is to be set aside."""

SEVERITY_CRITICAL = "critical"
"""Rejects the whole bundle."""
SEVERITY_ROW = "row"
"""Sets the row aside; the rest of the bundle is used."""
SEVERITY_WARNING = "warning"
"""Reported only."""
SEVERITIES = (SEVERITY_CRITICAL, SEVERITY_ROW, SEVERITY_WARNING)


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType | type[pl.DataType]
    required: bool = True
    nullable: bool = False
    description: str = ""
    only_with: str = ""
    """Output columns: published only when the cycle's methodology turns this on (`f03`); absent otherwise,
    so the table of a cycle without it keeps its earlier bytes."""


@dataclass(frozen=True)
class TableSpec:
    name: str
    columns: tuple[Column, ...]
    version: int = 1
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required_names(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})


def _c(name: str, dtype: pl.DataType | type[pl.DataType], description: str, *, required: bool = True,
       nullable: bool = False, only_with: str = "") -> Column:
    return Column(name, dtype, required, nullable, description, only_with)


# ---------------------------------------------------------------- input tables (submissions)

SURVEY_ANSWER_DTYPE = pl.Int8

UNITS = TableSpec("units", (
    _c("unit_id", pl.String, "Unit id, unique in the bundle"),
    _c("unit_name", pl.String, "Unit name"),
    _c("unit_type", pl.String, "One of the cycle's unit types"),
    _c("region_code", pl.String, "Code of the owning body (Kemendagri region code, or a K/L's 3-digit kode "
       "Bagian Anggaran); equals the bundle's folder"),
    _c("annual_service_users", pl.Int64, "Yearly service users: the survey population", required=False,
       nullable=True),
), description="Service units of the region (required)")

EVALUATIONS = TableSpec("evaluations", (
    _c("unit_id", pl.String, "Unit scored"),
    _c("indicator_code", pl.String, "One of the cycle's indicators, e.g. 1.a.Ak"),
    _c("score", pl.Int64, "Integer score 0-5"),
    _c("evaluator_id", pl.String, "Evaluator", required=False, nullable=True),
    _c("evidence", pl.String, "Evidence reference", required=False, nullable=True),
), description="Evaluator form F-02 (required)")


def skm_spec(elements: list[str]) -> TableSpec:
    """The survey table for a cycle's element list (keyed by element name, never by position)."""
    return TableSpec("skm_responses", (
        _c("unit_id", pl.String, "Unit surveyed"),
        _c("respondent_id", pl.String, "Respondent, unique per unit"),
        _c("survey_date", pl.Date, "ISO date inside the cycle's survey window"),
        *(_c(e, SURVEY_ANSWER_DTYPE, f"Answer 1-4 for element {e}; empty when unanswered", nullable=True)
          for e in elements),
        _c("gender", pl.String, "Respondent gender", required=False, nullable=True),
        _c("age", pl.Int64, "Respondent age", required=False, nullable=True),
        _c("education", pl.String, "Respondent education", required=False, nullable=True),
        _c("occupation", pl.String, "Respondent occupation", required=False, nullable=True),
    ), description="Satisfaction survey SKM (optional)")


F03_RESPONSES = TableSpec("f03_responses", (
    _c("unit_id", pl.String, "Unit the respondent was served by"),
    _c("respondent_id", pl.String, "Respondent (citizen) of the form"),
    _c("item", pl.String, "The form's item (question) code; one answer per respondent and item"),
    _c("score", pl.Int64, "Integer answer on the cycle's score range (0-5)"),
), description="Citizen form F-03 (optional; used only when the cycle's methodology turns [f03] on)")

F03_TABLE = F03_RESPONSES.name

INPUT_TABLES = ("units", "evaluations", "skm_responses", F03_TABLE)
REQUIRED_TABLES = ("units", "evaluations")

OMBUDSMAN_FEED = "_ombudsman"
"""The landing folder of the Ombudsman's compliance feed (`<landing>/<cycle>/_ombudsman/<bundle>/`), and the
`region_code` its bundles carry in the ledger and `submissions`."""

COMPLIANCE = TableSpec("compliance", (
    _c("body_code", pl.String, "The assessed body: a Kemendagri region code or a K/L's kode Bagian Anggaran"),
    _c("unit_id", pl.String, "The assessed unit of the body; blank: the body as a whole", required=False,
       nullable=True),
    _c("unit_name", pl.String, "The assessed unit's (or body's) name as the Ombudsman writes it", required=False,
       nullable=True),
    *(_c(d, pl.Float64, f"Dimension score {d}, 0-100 with at most 2 decimals", required=False, nullable=True)
      for d in ("input", "proses", "output", "pengaduan")),
    _c("score", pl.Float64, "The published final score 0-100 (at most 2 decimals); checked against the dimensions "
       "when both are given", required=False, nullable=True),
), description="The Ombudsman's compliance assessment (Penilaian Kepatuhan), one row per body or unit (optional "
               "feed)")
FEED_TABLES = ("compliance",)
"""The tables of a compliance feed bundle (`compliance` required)."""


def input_specs(elements: list[str]) -> dict[str, TableSpec]:
    return {"units": UNITS, "evaluations": EVALUATIONS, "skm_responses": skm_spec(elements),
            F03_TABLE: F03_RESPONSES}


# ---------------------------------------------------------------- output tables (warehouse)

UNIT_SCORES = TableSpec("unit_scores", (
    _c("cycle", pl.String, "Evaluation cycle (year)"),
    _c("region_code", pl.String, "Code of the owning body: Kemendagri region code, or K/L kode Bagian Anggaran"),
    _c("province_code", pl.String, "Province of the region; null for a K/L unit", nullable=True),
    _c("unit_id", pl.String, "Unit id as submitted"),
    _c("unit_name", pl.String, "Unit name"),
    _c("unit_type", pl.String, "Unit type"),
    _c("status", pl.String, "scored, or why there is no score (incomplete, too_many_evaluators; no_f03 in a cycle "
       "blending F-03 whose unit has no F-03 answer)"),
    _c("ipp", pl.Float64, "IPP 0-5, rounded half-up to 2 decimals (the F-02/F-03 blend when the cycle turns F-03 "
       "on)", nullable=True),
    _c("ipp_exact", pl.Float64, "IPP before rounding (for audit; exact rational as float)", nullable=True),
    _c("predicate", pl.String, "Predicate code A..F", nullable=True),
    _c("predicate_label", pl.String, "Predicate label", nullable=True),
    _c("zone", pl.String, "Zone hijau/kuning/merah", nullable=True),
    _c("ipp_f02", pl.Float64, "F-03 cycles only: the IPP of the evaluator form F-02 alone, rounded half-up to 2 "
       "decimals", nullable=True, only_with="f03"),
    _c("ipp_f02_exact", pl.Float64, "F-03 cycles only: the F-02 IPP before rounding (exact rational as float)",
       nullable=True, only_with="f03"),
    _c("f03", pl.Float64, "F-03 cycles only: the unit's citizen form mean (sum of answers / their count), rounded "
       "half-up to 2 decimals; null without answers", nullable=True, only_with="f03"),
    _c("f03_sum", pl.Int64, "F-03 cycles only: sum of the unit's F-03 answers", only_with="f03"),
    _c("n_f03_answers", pl.Int64, "F-03 cycles only: the unit's F-03 answers counted (0: none, see status no_f03)",
       only_with="f03"),
    _c("n_f03_respondents", pl.Int64, "F-03 cycles only: respondents who gave them", only_with="f03"),
    _c("ikm", pl.Float64, "Survey IKM 25-100, rounded half-up to 2 decimals", nullable=True),
    _c("ikm_mutu", pl.String, "IKM mutu A-D", nullable=True),
    _c("n_respondents", pl.Int64, "Survey respondents counted"),
    _c("sample_required", pl.Int64, "Krejcie-Morgan minimum sample for annual_service_users", nullable=True),
    _c("sample_met", pl.Boolean, "Survey sample reaches the minimum; false with no survey or no declared "
       "population"),
    _c("n_evaluators", pl.Int64, "Distinct evaluators who scored the unit"),
    _c("n_indicators_scored", pl.Int64, "Indicators with at least one score"),
    _c("rank_in_type", pl.Int64, "Competition rank (1224) nationally within unit type", nullable=True),
    _c("eligible", pl.Boolean, "Meets the cycle's award eligibility"),
    _c("ineligible_reason", pl.String, "Why the unit may not be honoured, in Bahasa Indonesia: every eligibility "
       "rule it fails, naming the methodology switch; null when eligible", nullable=True),
    _c("ineligible_reason_en", pl.String, "ineligible_reason in English", nullable=True),
    _c("submission_id", pl.String, "Bundle the unit came from"),
    _c("release_id", pl.String, "Release that published this row"),
), version=3, description="One row per unit")

ASPECT_SCORES = TableSpec("aspect_scores", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Owning region"),
    _c("unit_id", pl.String, "Unit"),
    _c("aspect_code", pl.String, "Aspect code a..f"),
    _c("aspect_name", pl.String, "Aspect name"),
    _c("score", pl.Float64, "Aspect score 0-5 rounded half-up to 2 decimals", nullable=True),
    _c("weight", pl.Int64, "Aspect weight (percent)"),
    _c("release_id", pl.String, "Release"),
), description="One row per unit and aspect")

SKM_SCORES = TableSpec("skm_scores", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Owning region"),
    _c("unit_id", pl.String, "Unit"),
    _c("element", pl.String, "Survey element (unsur)"),
    _c("nrr", pl.Float64, "Mean answer (NRR) over respondents who answered, 4 decimals", nullable=True),
    _c("n_answered", pl.Int64, "Respondents who answered the element"),
    _c("release_id", pl.String, "Release"),
), description="One row per unit and survey element")

REGION_SCORES = TableSpec("region_scores", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Body code: Kemendagri region code, or a K/L's 3-digit kode Bagian Anggaran"),
    _c("region_name", pl.String, "Body name (region or K/L)"),
    _c("province_code", pl.String, "Province of the region; null for a K/L", nullable=True),
    _c("level", pl.String, "provinsi, kabupaten, kota or kl"),
    _c("category", pl.String, "The category the body is ranked in: kl, provinsi, kabupaten or kota (each ranked "
       "from 1)"),
    _c("n_units", pl.Int64, "Units submitted"),
    _c("n_units_scored", pl.Int64, "Units with an IPP"),
    _c("n_lokus_units", pl.Int64, "Lokus units: the units of the body's lokus types, a lokus type it sent no unit "
       "of counting as one (all units sent when the cycle has no [lokus])", required=False),
    _c("n_lokus_scored", pl.Int64, "Lokus units with an IPP", required=False),
    _c("lokus_missing", pl.String, "Lokus unit types the body sent no unit of (comma-separated); null when none",
       required=False, nullable=True),
    _c("ipp", pl.Float64, "Roll-up IPP, rounded half-up to 2 decimals", nullable=True),
    _c("predicate", pl.String, "Predicate of the roll-up IPP", nullable=True),
    _c("predicate_label", pl.String, "Predicate label", nullable=True),
    _c("ikm", pl.Float64, "Mean of the region's surveyed units' exact IKMs, rounded half-up to 2 decimals once",
       nullable=True),
    _c("rank", pl.Int64, "Competition rank (1224) within the region's category", nullable=True),
    _c("rollup_method", pl.String, "mean or weighted:<column>"),
    _c("release_id", pl.String, "Release"),
), version=2, description="One row per region (pemda)")

NATIONAL_SCORES = TableSpec("national_scores", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("n_regions", pl.Int64, "Regions with at least one unit"),
    _c("n_units", pl.Int64, "Units submitted"),
    _c("n_units_scored", pl.Int64, "Units with an IPP"),
    _c("ipp", pl.Float64, "National IPP, rounded half-up to 2 decimals", nullable=True),
    _c("predicate", pl.String, "Predicate of the national IPP", nullable=True),
    _c("predicate_label", pl.String, "Predicate label", nullable=True),
    _c("ikm", pl.Float64, "Mean of the surveyed units' exact IKMs, rounded half-up to 2 decimals once",
       nullable=True),
    _c("predicate_counts", pl.String, "Units per predicate as JSON {code: n}"),
    _c("rollup_method", pl.String, "mean or weighted:<column>"),
    _c("release_id", pl.String, "Release"),
), version=2, description="One row per cycle")

AWARD_ROSTER = TableSpec("award_roster", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("award", pl.String, "Award code from the methodology"),
    _c("award_label", pl.String, "Award label"),
    _c("rank", pl.Int64, "Competition rank within the award (and unit type where the rule ranks by type)"),
    _c("subject", pl.String, "unit or region"),
    _c("region_code", pl.String, "Region (owner of the unit, or the region itself)"),
    _c("unit_id", pl.String, "Unit (null for region awards)", nullable=True),
    _c("name", pl.String, "Unit or region name"),
    _c("unit_type", pl.String, "Unit type (null for region awards)", nullable=True),
    _c("score", pl.Float64, "Published IPP (or IPP gain for most-improved)"),
    _c("predicate", pl.String, "Predicate"),
    _c("reason", pl.String, "Why the recipient is on the roster, in Bahasa Indonesia"),
    _c("reason_en", pl.String, "reason in English"),
    _c("release_id", pl.String, "Release"),
), version=2, description="One row per award and recipient")

SUBMISSIONS = TableSpec("submissions", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Region folder the bundle arrived in"),
    _c("submission_id", pl.String, "Content hash of the bundle's file names and bytes"),
    _c("bundle", pl.String, "Bundle name as uploaded"),
    _c("received_at", pl.Datetime("us", "UTC"), "When the pipeline first saw the bundle"),
    _c("status", pl.String, "accepted, rejected, superseded or late"),
    _c("reason", pl.String, "Why (rejections, lateness)", nullable=True),
    _c("superseded_by", pl.String, "Newer accepted bundle of the same region", nullable=True),
    _c("n_issues", pl.Int64, "Validation issues found"),
    _c("release_id", pl.String, "Release"),
), description="One row per bundle received")

ISSUE_SQL_NAMES = {"table": "table_name", "row": "row_number", "column": "column_name"}
"""Issue columns inside the pipeline -> their published names (the inside names are SQL keywords)."""

VALIDATION_ISSUES = TableSpec("validation_issues", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Region folder"),
    _c("submission_id", pl.String, "Bundle"),
    _c("table_name", pl.String, "Input table (or 'bundle')"),
    _c("row_number", pl.Int64, "Source row as the region sees it (header = 1); null for file-level problems",
       nullable=True),
    _c("column_name", pl.String, "Column", nullable=True),
    _c("value", pl.String, "Offending value as sent", nullable=True),
    _c("rule", pl.String, "Rule broken (expectation or reader rule)"),
    _c("severity", pl.String, "critical (rejects the bundle), row (row set aside) or warning"),
    _c("message", pl.String, "Plain explanation and what to do"),
    _c("release_id", pl.String, "Release"),
), version=2, description="One row per problem found")

def _robustness_columns() -> tuple[Column, ...]:
    """Columns unit_robustness and region_robustness share (transforms/robustness.py, issue 23)."""
    return (
        _c("draws", pl.Int64, "Draws made (the methodology's [robustness] draws)"),
        _c("seed", pl.Int64, "Seed of the draws: the same seed and inputs give the same rows"),
        _c("predicate", pl.String, "Published predicate", nullable=True),
        _c("p_predicate", pl.Float64, "Share of draws (all sources at once) in which the published predicate holds"),
        _c("p_predicate_evaluators", pl.Float64, "The same with only the evaluators drawn"),
        _c("p_predicate_survey", pl.Float64, "The same with only the survey respondents drawn (the survey does not "
           "move the IPP, so 1)"),
        _c("p_predicate_weights", pl.Float64, "The same with only the aspect weights drawn"),
        _c("award_probabilities", pl.String, "JSON {award: {holds, p, evaluators, survey, weights, driver}} for "
           "every award held or held in some draw; p = share of draws holding it"),
        _c("awards_not_robust", pl.String, "Held awards with p below the [robustness] threshold, comma-separated "
           "(tidak kokoh)", nullable=True),
        _c("not_robust_drivers", pl.String, "For each of awards_not_robust: the source that alone moves it most "
           "(evaluators, survey, weights; combined when none alone does)", nullable=True),
        _c("driver", pl.String, "Source driving instability: of the least robust held award, else of the "
           "predicate; null when nothing moves", nullable=True),
    )


UNIT_ROBUSTNESS = TableSpec("unit_robustness", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Owning region"),
    _c("unit_id", pl.String, "Unit (scored units only)"),
    _c("unit_type", pl.String, "Unit type (its rank category)"),
    _c("evaluator_draw", pl.String, "How evaluators are drawn: resample (two or more complete sheets), "
       "perturbation (one sheet) or none"),
    *_robustness_columns(),
    _c("rank_in_type", pl.Int64, "Published rank within the unit type"),
    _c("rank_low", pl.Int64, "5th percentile of the drawn ranks (widened to hold the published rank)"),
    _c("rank_high", pl.Int64, "95th percentile of the drawn ranks (widened to hold the published rank)"),
    _c("ikm", pl.Float64, "Published IKM", nullable=True),
    _c("ikm_low", pl.Float64, "5th percentile of the bootstrapped IKM", nullable=True),
    _c("ikm_high", pl.Float64, "95th percentile of the bootstrapped IKM", nullable=True),
    _c("p_mutu", pl.Float64, "Share of survey draws in which the published IKM mutu holds", nullable=True),
    _c("release_id", pl.String, "Release"),
), description="One row per scored unit: how robust its predicate, awards and rank are")

REGION_ROBUSTNESS = TableSpec("region_robustness", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Kemendagri code"),
    _c("category", pl.String, "Rank category (provinsi, kabupaten, kota)"),
    *_robustness_columns(),
    _c("rank", pl.Int64, "Published rank within the category"),
    _c("rank_low", pl.Int64, "5th percentile of the drawn ranks (widened to hold the published rank)"),
    _c("rank_high", pl.Int64, "95th percentile of the drawn ranks (widened to hold the published rank)"),
    _c("release_id", pl.String, "Release"),
), description="One row per region with scored units: how robust its roll-up predicate, awards and rank are")

LOKUS_COVERAGE = TableSpec("lokus_coverage", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "Body code: Kemendagri region code, or a K/L's kode Bagian Anggaran"),
    _c("tier", pl.String, "Lokus tier of the body: provinsi, kabupaten_kota or kl"),
    _c("unit_type", pl.String, "A unit type of the tier's lokus for the cycle"),
    _c("n_units", pl.Int64, "Units of this type the body sent (accepted); 0: the body is missing it"),
    _c("n_units_scored", pl.Int64, "Of those, units with an IPP"),
    _c("covered", pl.Boolean, "At least one unit of this type scored"),
    _c("release_id", pl.String, "Release"),
), description="One row per body with accepted units and lokus unit type of its tier (empty without [lokus])")

COMPLIANCE_SCORES = TableSpec("compliance_scores", (
    _c("cycle", pl.String, "Evaluation cycle"),
    _c("region_code", pl.String, "The assessed body (the feed's body_code): Kemendagri region code or K/L code"),
    _c("region_name", pl.String, "Body name from the reference lists"),
    _c("province_code", pl.String, "Province of the region; null for a K/L", nullable=True),
    _c("level", pl.String, "provinsi, kabupaten, kota or kl: the category ranks are within"),
    _c("subject", pl.String, "body (the body as a whole) or unit (a unit the feed names)"),
    _c("unit_id", pl.String, "The unit as the feed names it; null for the body as a whole", nullable=True),
    _c("unit_name", pl.String, "Unit (or body) name as the feed writes it", nullable=True),
    _c("input", pl.Float64, "Dimension score Input 0-100 as sent (2 decimals)", nullable=True),
    _c("proses", pl.Float64, "Dimension score Proses 0-100", nullable=True),
    _c("output", pl.Float64, "Dimension score Output 0-100", nullable=True),
    _c("pengaduan", pl.Float64, "Dimension score Pengaduan 0-100", nullable=True),
    _c("score", pl.Float64, "Compliance score 0-100: the weighted dimensions, exact, rounded half-up to 2 decimals "
       "once (or the given final score without dimensions)"),
    _c("score_source", pl.String, "dimensions (computed with the cycle's [ombudsman] weights) or given"),
    _c("category", pl.String, "Opinion category A-E; null in a scheme of zones only (2021)", nullable=True),
    _c("category_label", pl.String, "Opinion label (Kualitas Tertinggi ... Kualitas Terendah)", nullable=True),
    _c("zone", pl.String, "Zona hijau, kuning or merah"),
    _c("rank", pl.Int64, "Competition rank (1224) on the score within the level, bodies and units apart"),
    _c("disagreement", pl.String, "Bodies: why the PEKPPP predicate and the Ombudsman zone disagree "
       "([ombudsman] disagreements), else null", nullable=True),
    _c("submission_id", pl.String, "The feed bundle the row came from"),
    _c("release_id", pl.String, "Release"),
), description="One row per body (or unit) the Ombudsman assessed: its compliance verdict beside PEKPPP (issue 20; "
               "empty without a feed)")

OUTPUT_TABLES: dict[str, TableSpec] = {t.name: t for t in (
    UNIT_SCORES, ASPECT_SCORES, SKM_SCORES, REGION_SCORES, NATIONAL_SCORES, AWARD_ROSTER, SUBMISSIONS,
    VALIDATION_ISSUES, UNIT_ROBUSTNESS, REGION_ROBUSTNESS, LOKUS_COVERAGE, COMPLIANCE_SCORES,
)}

ISSUE_COLUMNS = ["table", "row", "column", "value", "rule", "severity", "message"]
ISSUE_SCHEMA = pl.Schema({"table": pl.String, "row": pl.Int64, "column": pl.String, "value": pl.String,
                          "rule": pl.String, "severity": pl.String, "message": pl.String})


def empty_issues() -> pl.DataFrame:
    return pl.DataFrame(schema=ISSUE_SCHEMA)


def present_columns(names: list[str], spec: TableSpec) -> list[Column]:
    """The spec's columns a frame publishes: all, but the `only_with` ones it does not carry."""
    return [c for c in spec.columns if not c.only_with or c.name in names]


def conform(frame: pl.DataFrame, spec: TableSpec) -> pl.DataFrame:
    """Select and cast a frame to a declared output schema; missing or null-violating columns raise."""
    columns = present_columns(frame.columns, spec)
    missing = [c.name for c in spec.columns if c.name not in frame.columns and not c.only_with]
    if missing:
        raise ValueError(f"{spec.name}: columns missing {missing}")
    out = frame.select([pl.col(c.name).cast(c.dtype) for c in columns])
    for c in columns:
        if not c.nullable and out.height and out[c.name].null_count():
            raise ValueError(f"{spec.name}.{c.name}: {out[c.name].null_count()} nulls in a non-null column")
    return out
