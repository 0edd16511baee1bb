"""What a synthetic region sends: F-02 scores, SKM answers and F-03 answers, and defects written into them.

Scores and answers follow each unit's latent quality (flows/generate_population.py) on the cycle's ranges,
evaluator by evaluator and respondent by respondent, vectorised. With a bad rate, a share of the bundles is
spoiled as a whole and a share of the rows of the others; every injection is recorded (`Injection`), so tests
can check that the pipeline catches them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import polars as pl

from flows.generate_population import (
    _DEFECTS,
    _F03,
    _NATIONAL,
    _SCORES,
    _SURVEY,
    _UPLOAD,
    KL,
    PROVINSI,
    RESPONDENT_SPREAD,
    GenerationContext,
    PickedRegion,
    autonomous_regions,
    draw_units,
    seeded_rng,
)
from flows.settings import kl_reference, regions_reference
from transforms.methodology import Methodology
from transforms.schemas import EVALUATIONS, F03_TABLE, REQUIRED_TABLES, UNITS

# ---------------------------------------------------------------- generator realism (not methodology)

INDICATOR_SD = 0.06                # some indicators are harder nationally (e.g. innovation)
UNIT_ASPECT_SD = 0.07              # a unit is stronger on some aspects than others
EVALUATOR_LENIENCY_SD = 0.03
EVALUATOR_NOISE_SD = 0.09
INCOMPLETE_SHARE = 0.03            # units that miss one indicator
EVIDENCE_SHARE = 0.35

SURVEY_PERIOD_DAYS = (30, 120)     # a unit runs its survey over one to four months
SATISFACTION_BASE, SATISFACTION_SLOPE, SATISFACTION_SD = 0.25, 0.70, 0.05
ELEMENT_SD = 0.05
RESPONDENT_MOOD_SD = 0.12
ANSWER_NOISE_SD = 0.15
BLANK_ANSWER_SHARE = 0.02
NO_DEMOGRAPHICS_SHARE = 0.20       # regions whose survey export has no respondent columns
BLANK_DEMOGRAPHIC_SHARE = 0.03

UPLOAD_FROM = 0.75                 # bundles are uploaded in the last quarter of the survey window
UPLOAD_MINUTES = (7 * 60 + 30, 17 * 60)   # office hours, WIB
OUTSIDE_WINDOW_DAYS = 90           # a bad survey date lies up to this many days before the window
EVALUATOR_POOL_EXTRA = 2           # a region's evaluator team is a little larger than one unit needs
EVALUATOR_DIGITS = 4               # EV-0123
EVIDENCE_NUMBER_MAX = 999          # document numbers "No. 100.3/<n>/<year>"
GARBAGE_BYTES = 2048

GENDERS = ("L", "P")
EDUCATIONS = ("SD", "SMP", "SMA", "D1-D3", "D4/S1", "S2", "S3")
EDUCATION_SHARES = (0.10, 0.14, 0.38, 0.10, 0.22, 0.05, 0.01)
OCCUPATIONS = ("PNS", "TNI/POLRI", "Pegawai Swasta", "Wiraswasta", "Pelajar/Mahasiswa",
               "Ibu Rumah Tangga", "Petani/Nelayan", "Lainnya")
OCCUPATION_SHARES = (0.12, 0.03, 0.25, 0.22, 0.12, 0.12, 0.08, 0.06)
AGE_MIN, AGE_MAX = 17, 80
EVIDENCE_KINDS = ("Dokumen", "Foto", "Tangkapan layar", "Tautan")

# ---------------------------------------------------------------- defects

BUNDLE_DEFECTS = ("missing_table", "foreign_unit", "duplicate_unit_id", "garbage_bytes", "missing_column")
"""Defects that make a whole bundle untrustworthy (the pipeline must reject it)."""

EVALUATION_DEFECTS = ("score_out_of_range", "score_not_integer", "unknown_indicator", "blank_unit_id")
SURVEY_DEFECTS = ("answer_out_of_range", "date_outside_window", "blank_unit_id")
"""Defects of single rows (the pipeline must set the row aside and keep the bundle)."""

ROW_SHARE_OF_BAD_RATE = 5          # in the good bundles, bad_rate / 5 of the rows are bad
NOT_AN_INTEGER = "abc"
GARBAGE_MAGIC = b"PK\x03\x04"      # an Excel workbook saved under a .csv name

F03_ITEMS = tuple(f"F03.{n:02d}" for n in range(1, 11))
"""Synthetic item codes of the citizen form F-03 (the real form's items are not in the contract)."""
F03_NOISE_SD = 0.18                   # one citizen's answer around the unit's quality, as a share of the range


@dataclass(frozen=True)
class Injection:
    """One deliberate defect written into a bundle: which, where, and the source rows it hit.

    `rows` are source row numbers as the region sees them (header = row 1); empty for defects of
    the whole bundle, whose `detail` says what was done.
    """

    region_code: str
    bundle: str
    table: str
    kind: str
    rows: tuple[int, ...] = ()
    detail: str = ""

    @property
    def scope(self) -> str:
        return "row" if self.rows else "bundle"

    @property
    def key(self) -> str:
        """`bundle.<kind>` for a bundle defect, `<table>.<kind>` for row defects."""
        return f"bundle.{self.kind}" if self.scope == "bundle" else f"{self.table}.{self.kind}"

    @property
    def count(self) -> int:
        return len(self.rows) or 1


RowPlan = dict[str, np.ndarray]
"""Row defects of one table: defect kind -> 0-based data rows that carry it."""


@dataclass
class _Bundle:
    """One region's generated bundle before writing: its tables (bytes for a broken file) and records."""

    tables: dict[str, pl.DataFrame | bytes]
    incomplete_units: int
    injections: list[Injection]
    quality: float = 0.0                        # mean latent quality of its units (the Ombudsman feed follows it)


# ---------------------------------------------------------------- evaluations (F-02)


def _evaluations(region: PickedRegion, ctx: GenerationContext, unit_ids: pl.Series, quality: np.ndarray,
                 defects: np.random.Generator | None) -> tuple[pl.DataFrame, int, RowPlan]:
    """Every unit scored on every indicator by `evaluators` evaluators, around the unit's quality.

    Returns the table, the number of incomplete units and the bad rows injected (when `defects`
    is given). Vectorised: one array of shape (units, evaluators, indicators), flattened unit-major.
    """
    m = ctx.methodology
    rng = seeded_rng(ctx.seed, ctx.cycle, region.code, _SCORES)
    n_units, n_eval, n_ind = unit_ids.len(), ctx.evaluators, ctx.indicator_codes.len()
    span = m.score_max - m.score_min
    aspect_effect = rng.normal(0.0, UNIT_ASPECT_SD, (n_units, int(ctx.indicator_aspect.max()) + 1))
    latent = (quality[:, None, None] + ctx.indicator_effect[None, None, :]
              + aspect_effect[:, ctx.indicator_aspect][:, None, :]
              + rng.normal(0.0, EVALUATOR_LENIENCY_SD, (n_units, n_eval, 1))
              + rng.normal(0.0, EVALUATOR_NOISE_SD, (n_units, n_eval, n_ind)))
    scores = np.clip(np.rint(m.score_min + latent * span), m.score_min, m.score_max).astype(np.int64)

    pool = np.sort(rng.choice(np.arange(1, 10**EVALUATOR_DIGITS), n_eval + EVALUATOR_POOL_EXTRA, replace=False))
    team = np.argsort(rng.random((n_units, pool.size)), axis=1)[:, :n_eval]
    incomplete = rng.random(n_units) < INCOMPLETE_SHARE
    missing = rng.integers(0, n_ind, n_units)
    keep = ~(incomplete[:, None, None] & (np.arange(n_ind)[None, None, :] == missing[:, None, None]))
    keep = np.broadcast_to(keep, scores.shape)
    shape = scores.shape
    unit_idx = np.broadcast_to(np.arange(n_units)[:, None, None], shape)[keep]
    indicator_idx = np.broadcast_to(np.arange(n_ind)[None, None, :], shape)[keep]
    evaluator = np.broadcast_to(pool[team][:, :, None], shape)[keep]
    with_evidence = (rng.random(shape) < EVIDENCE_SHARE)[keep]
    evidence_kind = rng.integers(0, len(EVIDENCE_KINDS), shape)[keep]
    evidence_number = rng.integers(1, EVIDENCE_NUMBER_MAX + 1, shape)[keep]
    scores = scores[keep]

    frame = pl.DataFrame({
        "unit_id": unit_ids.gather(unit_idx),
        "indicator_code": ctx.indicator_codes.gather(indicator_idx),
        "score": scores,
        "evaluator_id": pl.Series(evaluator).cast(pl.String).str.zfill(EVALUATOR_DIGITS),
        "_kind": evidence_kind,
        "_number": evidence_number,
        "_name": ctx.indicator_names.gather(indicator_idx),
        "_evidence": with_evidence,
    }).with_columns(
        pl.concat_str(pl.lit("EV-"), pl.col("evaluator_id")).alias("evaluator_id"),
        pl.when(pl.col("_evidence")).then(pl.concat_str(
            pl.Series(EVIDENCE_KINDS).gather(evidence_kind), pl.lit(" "), pl.col("_name").str.to_lowercase(),
            pl.when(pl.col("_kind") == 0)
            .then(pl.format(" No. 100.3/{}/{}", pl.col("_number"), pl.lit(ctx.cycle)))
            .otherwise(pl.lit("")),
        )).alias("evidence"),
    ).select(EVALUATIONS.names)

    plan: RowPlan = {}
    if defects is not None:
        plan = _defect_plan(defects, frame.height, ctx.row_defect_rate, EVALUATION_DEFECTS)
        frame = _spoil_evaluation_rows(frame, ctx, plan)
    return frame, int(incomplete.sum()), plan


def _defect_plan(rng: np.random.Generator, height: int, rate: float, kinds: tuple[str, ...]) -> RowPlan:
    """Which rows get which defect: floor(rate * height) distinct rows, kinds in turn from a random start.

    Floor, not round, so a table's bad share never exceeds the rate asked for.
    """
    n_bad = int(rate * height)
    rows = np.sort(rng.choice(height, n_bad, replace=False)) if n_bad else np.empty(0, dtype=np.int64)
    turn = (np.arange(n_bad) + rng.integers(0, len(kinds))) % len(kinds)
    return {kind: rows[turn == k] for k, kind in enumerate(kinds)}


def _spoil_evaluation_rows(frame: pl.DataFrame, ctx: GenerationContext, plan: RowPlan) -> pl.DataFrame:
    """Write each planned defect into its row; the score column becomes text to hold 'abc'."""
    kind = np.full(frame.height, -1, dtype=np.int8)
    for k, name in enumerate(EVALUATION_DEFECTS):
        kind[plan[name]] = k
    defect = pl.Series(kind)
    return frame.with_columns(
        pl.when(defect == EVALUATION_DEFECTS.index("blank_unit_id")).then(None)
        .otherwise(pl.col("unit_id")).alias("unit_id"),
        pl.when(defect == EVALUATION_DEFECTS.index("unknown_indicator")).then(pl.lit(ctx.unknown_indicator))
        .otherwise(pl.col("indicator_code")).alias("indicator_code"),
        pl.when(defect == EVALUATION_DEFECTS.index("score_out_of_range"))
        .then(pl.lit(str(ctx.methodology.score_max + 2)))
        .when(defect == EVALUATION_DEFECTS.index("score_not_integer")).then(pl.lit(NOT_AN_INTEGER))
        .otherwise(pl.col("score").cast(pl.String)).alias("score"),
    )


# ---------------------------------------------------------------- survey (SKM)


def _survey(region: PickedRegion, ctx: GenerationContext, unit_ids: pl.Series, quality: np.ndarray, upload: date,
            defects: np.random.Generator | None) -> tuple[pl.DataFrame | None, RowPlan]:
    """Respondents per unit (±30 %), answers around the unit's satisfaction, dates before the upload.

    Returns the table (None when no respondents are asked for) and the bad rows injected.
    """
    if ctx.respondents <= 0:
        return None, {}
    survey = ctx.methodology.survey
    rng = seeded_rng(ctx.seed, ctx.cycle, region.code, _SURVEY)
    n_units, elements = unit_ids.len(), survey.element_codes
    per_unit = np.maximum(1, np.rint(ctx.respondents * rng.uniform(1 - RESPONDENT_SPREAD, 1 + RESPONDENT_SPREAD,
                                                                  n_units))).astype(np.int64)
    height = int(per_unit.sum())
    unit_idx = np.repeat(np.arange(n_units), per_unit)
    sequence = np.arange(height) - np.repeat(np.cumsum(per_unit) - per_unit, per_unit) + 1

    last_day = max(0, min((survey.window_end - survey.window_start).days, (upload - survey.window_start).days - 1))
    period = np.minimum(rng.integers(*SURVEY_PERIOD_DAYS, n_units), last_day)
    period_start = rng.integers(0, last_day - period + 1)
    day = period_start[unit_idx] + rng.integers(0, period[unit_idx] + 1)

    satisfaction = np.clip(SATISFACTION_BASE + SATISFACTION_SLOPE * quality
                           + rng.normal(0.0, SATISFACTION_SD, n_units), 0, 1)
    latent = (satisfaction[unit_idx, None] + ctx.element_effect[None, :]
              + rng.normal(0.0, RESPONDENT_MOOD_SD, (height, 1))
              + rng.normal(0.0, ANSWER_NOISE_SD, (height, len(elements))))
    span = survey.answer_max - survey.answer_min
    answers = np.clip(np.rint(survey.answer_min + latent * span), survey.answer_min, survey.answer_max)
    answers = answers.astype(np.int64)
    blank = rng.random(answers.shape) < BLANK_ANSWER_SHARE

    unit_column = unit_ids.gather(unit_idx)
    plan: RowPlan = {}
    if defects is not None:
        plan = _defect_plan(defects, height, ctx.row_defect_rate, SURVEY_DEFECTS)
        bad_answer = plan["answer_out_of_range"]
        bad_element = defects.integers(0, len(elements), bad_answer.size)
        answers[bad_answer, bad_element] = survey.answer_max + 1
        blank[bad_answer, bad_element] = False
        day[plan["date_outside_window"]] = -defects.integers(1, OUTSIDE_WINDOW_DAYS + 1,
                                                             plan["date_outside_window"].size)
        unit_column = unit_column.scatter(plan["blank_unit_id"], None)

    columns: dict[str, pl.Series] = {
        "unit_id": unit_column,
        "respondent_id": "R-" + pl.Series(sequence).cast(pl.String).str.zfill(4),
        "survey_date": pl.Series(np.datetime64(survey.window_start, "D") + day.astype("timedelta64[D]")),
    }
    for k, element in enumerate(elements):
        columns[element] = pl.Series(answers[:, k]).cast(pl.Int8).scatter(np.flatnonzero(blank[:, k]), None)
    if rng.random() >= NO_DEMOGRAPHICS_SHARE:
        columns |= _demographics(rng, height)
    return pl.DataFrame(columns), plan


def _demographics(rng: np.random.Generator, height: int) -> dict[str, pl.Series]:
    """Optional respondent columns with plausible values and a few blanks."""
    age = np.clip(np.rint(AGE_MIN + 1 + rng.gamma(4.0, 6.0, height)), AGE_MIN, AGE_MAX).astype(np.int64)
    columns = {
        "gender": pl.Series(GENDERS).gather(rng.integers(0, len(GENDERS), height)),
        "age": pl.Series(age),
        "education": pl.Series(EDUCATIONS).gather(rng.choice(len(EDUCATIONS), height, p=EDUCATION_SHARES)),
        "occupation": pl.Series(OCCUPATIONS).gather(rng.choice(len(OCCUPATIONS), height, p=OCCUPATION_SHARES)),
    }
    return {name: series.scatter(np.flatnonzero(rng.random(height) < BLANK_DEMOGRAPHIC_SHARE), None)
            for name, series in columns.items()}


# ---------------------------------------------------------------- whole-bundle defects


def _spoil_bundle(tables: dict[str, pl.DataFrame | bytes], kind: str, region: PickedRegion,
                  rng: np.random.Generator) -> tuple[str, str]:
    """Make the bundle untrustworthy as a whole in one way; returns the table hit and what was done."""
    units = tables["units"]
    assert isinstance(units, pl.DataFrame)
    if kind == "missing_table":
        del tables["evaluations"]
        return "evaluations", "evaluations table left out"
    if kind == "garbage_bytes":
        tables["units"] = GARBAGE_MAGIC + rng.bytes(GARBAGE_BYTES)
        return "units", "units.csv holds binary bytes (a workbook saved under a .csv name)"
    if kind == "missing_column":
        specs = {"units": UNITS, "evaluations": EVALUATIONS}
        choices = [(t, c) for t in REQUIRED_TABLES for c in specs[t].required_names]
        table, column = choices[int(rng.integers(0, len(choices)))]
        frame = tables[table]
        assert isinstance(frame, pl.DataFrame)
        tables[table] = frame.drop(column)
        return table, f"{table}.{column} left out"
    row = int(rng.integers(0, units.height))
    if kind == "foreign_unit":
        other = _neighbour(region, rng)
        tables["units"] = units.with_columns(region_code=pl.Series(units["region_code"]).scatter(row, other))
        return "units", f"units row {row + 2}: region_code {other}"
    if kind == "duplicate_unit_id":
        if units.height == 1:
            tables["units"] = pl.concat([units, units])
            return "units", f"units row 3 repeats unit_id {units['unit_id'][0]}"
        source = (row + 1 + int(rng.integers(0, units.height - 1))) % units.height
        duplicate = units["unit_id"][source]
        tables["units"] = units.with_columns(unit_id=units["unit_id"].scatter(row, duplicate))
        return "units", f"units row {row + 2}: unit_id {duplicate} (also row {source + 2})"
    raise ValueError(f"unknown bundle defect {kind!r}")


def _neighbour(region: PickedRegion, rng: np.random.Generator) -> str:
    """Another region a unit plausibly gets mixed up with: the province, or a kab/kota of the province
    (for a K/L: another K/L)."""
    if region.level == KL:
        others = [c for c in kl_reference()["kl_code"].to_list() if c != region.code]
        return others[int(rng.integers(0, len(others)))]
    if region.level != PROVINSI:
        return region.province_code
    same = (autonomous_regions().filter((pl.col("province_code") == region.province_code)
                                        & (pl.col("region_code") != region.code))["region_code"].to_list())
    same = same or [c for c in autonomous_regions()["region_code"].to_list() if c != region.code]
    return same[int(rng.integers(0, len(same)))]


# ---------------------------------------------------------------- one region, and what the cycle shares


def upload_time(ctx: GenerationContext, region: PickedRegion) -> tuple[date, str]:
    """When the region uploads (last quarter of the survey window, office hours) and the bundle name."""
    survey = ctx.methodology.survey
    rng = seeded_rng(ctx.seed, ctx.cycle, region.code, _UPLOAD)
    span = (survey.window_end - survey.window_start).days
    day = survey.window_start + timedelta(days=int(rng.integers(int(span * UPLOAD_FROM), span + 1)))
    minutes = int(rng.integers(*UPLOAD_MINUTES))
    stamp = f"{day:%Y-%m-%d}T{minutes // 60:02d}{minutes % 60:02d}"
    return day, f"{stamp}_{region.code}"


def _citizen_form(region: PickedRegion, ctx: GenerationContext, unit_ids: pl.Series,
                  quality: np.ndarray) -> pl.DataFrame:
    """F-03 answers: about `ctx.f03` respondents per unit (±30 %), each answering every item around the
    unit's quality on the cycle's score range (its own seeded stream: the other tables are unchanged)."""
    m = ctx.methodology
    rng = seeded_rng(ctx.seed, ctx.cycle, region.code, _F03)
    per_unit = np.maximum(1, np.rint(ctx.f03 * rng.uniform(1 - RESPONDENT_SPREAD, 1 + RESPONDENT_SPREAD,
                                                           unit_ids.len()))).astype(np.int64)
    unit_idx = np.repeat(np.arange(unit_ids.len()), per_unit)
    respondent = np.arange(unit_idx.size) - np.repeat(np.cumsum(per_unit) - per_unit, per_unit) + 1
    latent = quality[unit_idx, None] + rng.normal(0.0, F03_NOISE_SD, (unit_idx.size, len(F03_ITEMS)))
    span = m.score_max - m.score_min
    answers = np.clip(np.rint(m.score_min + latent * span), m.score_min, m.score_max).astype(np.int64)
    return pl.DataFrame({
        "unit_id": unit_ids.gather(np.repeat(unit_idx, len(F03_ITEMS))),
        "respondent_id": np.char.add("W", np.char.zfill(np.repeat(respondent, len(F03_ITEMS)).astype(str), 4)),
        "item": np.tile(np.array(F03_ITEMS), unit_idx.size),
        "score": answers.reshape(-1),
    })


def region_bundle(region: PickedRegion, ctx: GenerationContext, upload: date, bundle: str, defect: str | None,
                   bad_rows: bool) -> _Bundle:
    """Generate one region's tables, with its whole-bundle defect or its bad rows if asked."""
    units, quality = draw_units(region, ctx)
    unit_ids = units["unit_id"]
    row_rng = seeded_rng(ctx.seed, ctx.cycle, region.code, _DEFECTS) if bad_rows else None
    evaluations, incomplete, evaluation_plan = _evaluations(region, ctx, unit_ids, quality, row_rng)
    survey, survey_plan = _survey(region, ctx, unit_ids, quality, upload, row_rng)
    tables: dict[str, pl.DataFrame | bytes] = {"units": units, "evaluations": evaluations}
    if survey is not None:
        tables["skm_responses"] = survey
    if ctx.f03 > 0:
        tables[F03_TABLE] = _citizen_form(region, ctx, unit_ids, quality)
    # Rows as the region sees them: the header is row 1, the first data row is row 2.
    injections = [Injection(region.code, bundle, table, kind, tuple(int(r) + 2 for r in rows))
                  for table, plan in (("evaluations", evaluation_plan), ("skm_responses", survey_plan))
                  for kind, rows in plan.items() if rows.size]
    if defect is not None:
        table, detail = _spoil_bundle(tables, defect, region, seeded_rng(ctx.seed, ctx.cycle, region.code, _DEFECTS))
        injections.append(Injection(region.code, bundle, table, defect, (), detail))
    return _Bundle(tables, incomplete, injections, float(quality.mean()) if quality.size else 0.0)


def cycle_context(cycle: str, methodology: Methodology, *, seed: int, units: int, respondents: int,
                   evaluators: int, bad_rate: float) -> GenerationContext:
    indicators = methodology.indicators
    aspect_codes = [a.code for a in methodology.aspects]
    aspect_of = np.array([aspect_codes.index(i.aspect) for i in indicators])
    national = seeded_rng(seed, cycle, _NATIONAL)
    effect = national.normal(0.0, INDICATOR_SD, len(indicators))
    # Centre on the methodology's own weights, so a unit's expected IPP sits on its latent quality.
    weight = np.array([methodology.aspects[a].weight * i.weight for a, i in zip(aspect_of, indicators, strict=True)],
                      dtype=float)
    effect -= (effect * weight).sum() / weight.sum()
    elements = national.normal(0.0, ELEMENT_SD, len(methodology.survey.elements))
    regencies: dict[str, list[str]] = {}
    for row in regions_reference().filter(pl.col("level") != PROVINSI).iter_rows(named=True):
        regencies.setdefault(row["province_code"], []).append(row["name"])
    last = indicators[-1]
    unknown = f"{len(indicators) + 1}.{last.aspect}.{last.code.rsplit('.', 1)[-1]}"
    while unknown in methodology.indicator_codes:
        unknown = f"9{unknown}"
    return GenerationContext(
        cycle=cycle, seed=seed, methodology=methodology, units=units, respondents=respondents,
        evaluators=evaluators, row_defect_rate=bad_rate / ROW_SHARE_OF_BAD_RATE,
        indicator_codes=pl.Series([i.code for i in indicators], dtype=pl.String),
        indicator_names=pl.Series([i.name or i.code for i in indicators], dtype=pl.String),
        indicator_aspect=aspect_of, indicator_effect=effect, element_effect=elements - elements.mean(),
        regencies=regencies, unknown_indicator=unknown,
    )


def bundle_defects(cycle: str, seed: int, codes: list[str], bad_rate: float) -> dict[str, str]:
    """Which regions send a bad bundle and which defect: round(bad_rate × bundles), at least one.

    Kinds are dealt in turn from a seeded shuffle, so five or more bad bundles show every kind.
    """
    if bad_rate <= 0 or not codes:
        return {}
    rng = seeded_rng(seed, cycle, _DEFECTS)
    n_bad = min(len(codes), max(1, int(bad_rate * len(codes) + 0.5)))
    chosen = sorted(rng.choice(len(codes), n_bad, replace=False))
    kinds = [BUNDLE_DEFECTS[i] for i in rng.permutation(len(BUNDLE_DEFECTS))]
    return {codes[c]: kinds[k % len(kinds)] for k, c in enumerate(chosen)}
