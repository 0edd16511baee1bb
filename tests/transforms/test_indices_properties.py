"""Property-based tests of the index engine (issue "Index engine", point 7).

Each oracle here is plain Python on `fractions.Fraction` / `decimal`, written from DOMAIN.md and the
cycle's methodology *data* (weights, bands, sample table, weight mode), never a call into
`transforms/`; the Polars results are compared with it exactly. Inputs are random but the runs are
deterministic (`derandomize=True`, no example database) and small enough to finish in seconds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flows.settings import load_methodology
from transforms import skm_scores, unit_scores
from transforms.cycle import CycleInputs, score_cycle
from transforms.methodology import Band, Methodology
from transforms.rounding import band_of, half_up_cents

M2024 = load_methodology("2024")
M2023 = load_methodology("2023")

# Deterministic and quick: examples derived from each test's name, no example database (failures replay as-is).
FAST = settings(max_examples=60, deadline=None, derandomize=True, database=None, print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FEW = settings(FAST, max_examples=25)

IKM_SCALE = 25  # DOMAIN.md: IKM = 25 · Σ NRR_u · weight
LEGACY_MODES = ("0.111", "0.11")
MAX_EVALUATORS = 4

EVALUATION_SCHEMA = {"region_code": pl.String, "unit_id": pl.String, "indicator_code": pl.String,
                     "score": pl.Int64, "evaluator_id": pl.String}
UNITS_SCHEMA = {"region_code": pl.String, "unit_id": pl.String, "unit_name": pl.String, "unit_type": pl.String,
                "annual_service_users": pl.Int64, "submission_id": pl.String}
REGIONS_SCHEMA = {"region_code": pl.String, "name": pl.String, "province_code": pl.String, "level": pl.String}

Scores = dict[str, list[int]]  # indicator code -> one score per evaluator (EV-1, EV-2, ...)
Answers = list[dict[str, int | None]]  # one dict per respondent: element code -> answer 1-4 or blank


# ------------------------------------------------------------------------------------------------ oracles



def indicator_scores(evaluations: pl.LazyFrame, m: Methodology) -> pl.LazyFrame:
    """Per unit and indicator from evaluation rows, as scoring composes it (totals, then the cycle's scores)."""
    return unit_scores.indicator_scores_of(unit_scores.indicator_totals(evaluations), m)

def half_up_2dp(value: Fraction) -> Decimal:
    """`value` rounded half-up to 2 decimals, exactly, with decimal's ROUND_HALF_UP.

    Truncating to 3 decimals first keeps the decision (every half-cent k + 0.005 is itself a 3-decimal
    number), and the truncated value is a terminating decimal that Decimal holds exactly.
    """
    assert value >= 0
    milli = Decimal(math.floor(value * 1000)).scaleb(-3)
    return milli.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def cents_of(value: Fraction | None) -> int | None:
    return None if value is None else int(half_up_2dp(value) * 100)


def band_for(cents: int | None, bands: tuple[Band, ...]) -> Band | None:
    """The band with the highest lower bound that is <= cents (order of the list does not matter)."""
    if cents is None:
        return None
    fitting = [b for b in bands if cents >= b.lower_cents]
    return max(fitting, key=lambda b: b.lower_cents) if fitting else None


def competition_ranks(values: dict[Any, int | None]) -> dict[Any, int | None]:
    """'1224' ranking, highest first: 1 + how many strictly better; None stays unranked."""
    present = [v for v in values.values() if v is not None]
    return {k: None if v is None else 1 + sum(other > v for other in present) for k, v in values.items()}


def complete(m: Methodology, scores: Scores) -> bool:
    return all(scores.get(i.code) for i in m.indicators)


def aspect_oracle(m: Methodology, scores: Scores) -> dict[str, Fraction | None]:
    """Σ_i w_i/100 · mean_i per aspect; None when one of its indicators has no score."""
    out: dict[str, Fraction | None] = {}
    for aspect in m.aspects:
        if not all(scores.get(i.code) for i in aspect.indicators):
            out[aspect.code] = None
            continue
        out[aspect.code] = sum((Fraction(i.weight, 100) * Fraction(sum(scores[i.code]), len(scores[i.code]))
                                for i in aspect.indicators), Fraction(0))
    return out


def ipp_oracle(m: Methodology, scores: Scores) -> Fraction | None:
    """IPP = Σ_aspect W_a/100 · Σ_i w_i/100 · (mean of the evaluators' scores); None unless complete."""
    if not complete(m, scores):
        return None
    total = Fraction(0)
    for aspect in m.aspects:
        for indicator in aspect.indicators:
            values = scores[indicator.code]
            total += Fraction(aspect.weight * indicator.weight, 100 * 100) * Fraction(sum(values), len(values))
    return total


def element_weight_oracle(mode: str, n_elements: int) -> Fraction:
    return Fraction(1, n_elements) if mode == "exact" else Fraction(mode)  # Fraction("0.111") == 111/1000


def nrr_oracle(answers: Answers, element: str) -> Fraction | None:
    given_answers = [r[element] for r in answers if r[element] is not None]
    return Fraction(sum(given_answers), len(given_answers)) if given_answers else None


def ikm_from_totals(mode: str, sums: list[int], counts: list[int]) -> Fraction | None:
    """25 · Σ_u (sum_u / answered_u) · weight; None if some element has no answer at all."""
    if not all(counts):
        return None
    weight = element_weight_oracle(mode, len(counts))
    return IKM_SCALE * weight * sum((Fraction(s, n) for s, n in zip(sums, counts, strict=True)), Fraction(0))


def ikm_oracle(m: Methodology, answers: Answers, mode: str) -> Fraction | None:
    """IKM from raw responses: NRR of an element over the respondents who answered it (blanks left out)."""
    elements = [e.code for e in m.survey.elements]
    answered = [[r[e] for r in answers if r[e] is not None] for e in elements]
    return ikm_from_totals(mode, [sum(a) for a in answered], [len(a) for a in answered])


def sample_oracle(m: Methodology, population: int | None) -> int | None:
    """Krejcie–Morgan: the sample of the next larger N in the table (the last one above it), at most N."""
    if population is None:
        return None
    table = sorted(m.survey.sample_table)
    sample = next((s for n, s in table if n >= population), table[-1][1])
    return min(sample, population)


# ------------------------------------------------------------------------------------------------ frames


def evaluations_frame(units: list[tuple[str, str, Scores]]) -> pl.DataFrame:
    cols: dict[str, list[Any]] = {k: [] for k in EVALUATION_SCHEMA}
    for region_code, unit_id, scores in units:
        for code, values in scores.items():
            for n, score in enumerate(values, start=1):
                cols["region_code"].append(region_code)
                cols["unit_id"].append(unit_id)
                cols["indicator_code"].append(code)
                cols["score"].append(score)
                cols["evaluator_id"].append(f"EV-{n}")
    return pl.DataFrame(cols, schema=EVALUATION_SCHEMA)


def responses_frame(m: Methodology, units: list[tuple[str, str, Answers]]) -> pl.DataFrame:
    elements = m.survey.element_codes
    schema = {"region_code": pl.String, "unit_id": pl.String, "respondent_id": pl.String,
              **{e: pl.Int8 for e in elements}}
    cols: dict[str, list[Any]] = {k: [] for k in schema}
    for region_code, unit_id, answers in units:
        for n, row in enumerate(answers, start=1):
            cols["region_code"].append(region_code)
            cols["unit_id"].append(unit_id)
            cols["respondent_id"].append(f"R-{n}")
            for e in elements:
                cols[e].append(row[e])
    return pl.DataFrame(cols, schema=schema)


def score_units_only(m: Methodology, units: dict[str, Scores]) -> tuple[dict[str, dict], pl.DataFrame]:
    """Unit rows (by unit id) and aspect rows of the real unit transforms for units of one region."""
    evaluations = evaluations_frame([("35.78", uid, scores) for uid, scores in units.items()]).lazy()
    aspects = unit_scores.aspect_scores(indicator_scores(evaluations, m), m)
    ipp, aspect_rows = pl.collect_all([unit_scores.unit_ipp(aspects, m), aspects])
    return {r["unit_id"]: r for r in ipp.iter_rows(named=True)}, aspect_rows


def exact_ipp(row: dict[str, Any]) -> Fraction | None:
    return None if row["ipp_num"] is None else Fraction(row["ipp_num"], row["ipp_den"])


def published(value: float | None) -> Decimal | None:
    """A published 2-decimal float as the decimal it prints as."""
    return None if value is None else Decimal(str(value))


def as_decimal(cents: int | None) -> Decimal | None:
    return None if cents is None else Decimal(cents).scaleb(-2)


# ------------------------------------------------------------------------------------------------ strategies

SCORE = st.integers(0, 5)
EVALUATOR_SCORES = st.lists(SCORE, min_size=1, max_size=MAX_EVALUATORS)


def complete_scores(m: Methodology = M2024) -> st.SearchStrategy[Scores]:
    """Every indicator scored by 1..4 evaluators; the count may differ per indicator."""
    return st.fixed_dictionaries({code: EVALUATOR_SCORES for code in m.indicator_codes})


@st.composite
def raised_scores(draw: st.DrawFn) -> tuple[Scores, str, int, int]:
    """Complete scores, and one evaluator's score (indicator, position) with a raise that keeps it <= 5."""
    scores = draw(complete_scores())
    positions = [(code, n) for code, values in scores.items() for n, s in enumerate(values) if s < 5]
    assume(positions)
    code, n = draw(st.sampled_from(positions))
    delta = draw(st.integers(1, 5 - scores[code][n]))
    return scores, code, n, delta


@st.composite
def rational_cents_cases(draw: st.DrawFn) -> tuple[int, int]:
    """Non-negative rationals num/den in 0..5, often exact half-cents (x.xx5) or just beside one."""
    kind = draw(st.sampled_from(["any", "tie", "near_tie"]))
    if kind == "any":
        den = draw(st.integers(1, 10**9))
        return draw(st.integers(0, 5 * den)), den
    half_cents = 2 * draw(st.integers(0, 499)) + 1  # (2k+1)/200 = k/100 + 0.005
    scale = draw(st.integers(1, 10**6))
    nudge = 0 if kind == "tie" else draw(st.sampled_from([-1, 1]))
    return half_cents * scale + nudge, 200 * scale


# An exact half-cent IKM needs all elements answered by the same n respondents with grand total T where
# 100 · 25 · weight · T / n = (2h+1)/2: per mode, n = n_per · c and T = t_per · c · o with o odd in range.
IKM_TIES = {"exact": (40, 9, 41, 159), "0.111": (1, 1, 9, 35), "0.11": (2, 1, 19, 71)}


@st.composite
def ikm_totals_cases(draw: st.DrawFn) -> tuple[str, list[int], list[int]]:
    """(weight mode, element sums, element answer counts): arbitrary, exact half-cents, or within 1e-6 of one."""
    mode = draw(st.sampled_from(["exact", *LEGACY_MODES]))
    kind = draw(st.sampled_from(["any", "tie", "near_tie"]))
    if kind == "any":
        counts = draw(st.lists(st.integers(0, 10**9) | st.integers(0, 12), min_size=9, max_size=9))
        return mode, [draw(st.integers(n, 4 * n)) for n in counts], counts
    n_per, t_per, o_min, o_max = IKM_TIES[mode]
    # One answer more or less moves 100·IKM by 2500·weight/n: past c_near that is under 1e-6 (a near-tie).
    c_near = math.ceil(2500 * element_weight_oracle(mode, 9) * 10**6 / n_per) + 1
    c = draw(st.integers(1, 10) if kind == "tie" else st.integers(c_near, 2 * c_near))
    n = n_per * c
    total = t_per * c * (2 * draw(st.integers((o_min + 1) // 2, (o_max - 1) // 2)) + 1)
    total += 0 if kind == "tie" else draw(st.sampled_from([-1, 1]))
    sums, rest = [], total - 9 * n  # each element starts at n (all 1s); spread the rest, at most 3n more each
    for left in range(8, -1, -1):
        extra = draw(st.integers(max(0, rest - 3 * n * left), min(3 * n, rest)))
        sums.append(n + extra)
        rest -= extra
    return mode, sums, [n] * 9


ANSWER = st.sampled_from([4, 3, 2, 1, None])  # shrinks towards answered; ~1 in 5 blank
REGION_POOL = ["35", "35.07", "35.78", "32", "32.73", "31.71"]  # provinces, kabupaten and kota
UNIT_TYPES = ["RSUD", "SAMSAT"]


@dataclass(frozen=True)
class UnitSpec:
    region_code: str
    unit_id: str
    unit_type: str
    users: int | None
    scores: Scores
    answers: Answers


def answers_strategy(m: Methodology, max_size: int = 6) -> st.SearchStrategy[Answers]:
    return st.lists(st.fixed_dictionaries({e: ANSWER for e in m.survey.element_codes}), max_size=max_size)


@st.composite
def cycle_specs(draw: st.DrawFn, m: Methodology = M2024) -> list[UnitSpec]:
    """Several regions with several units each: some units share a score profile (ties in ranks), some
    miss an indicator, some have no evaluation at all; surveys with blanks; unit ids repeat across regions."""
    profiles = draw(st.lists(complete_scores(m), min_size=1, max_size=3))
    regions = draw(st.lists(st.sampled_from(REGION_POOL), min_size=1, max_size=3, unique=True))
    units = []
    for region in regions:
        for n in range(1, draw(st.integers(1, 4)) + 1):
            kind = draw(st.sampled_from(["shared", "own", "incomplete", "unscored"]))
            if kind == "shared":
                scores = profiles[draw(st.integers(0, len(profiles) - 1))]
            elif kind == "own":
                scores = draw(complete_scores(m))
            elif kind == "incomplete":
                scores = dict(draw(complete_scores(m)))
                del scores[draw(st.sampled_from(m.indicator_codes))]
            else:
                scores = {}
            users = draw(st.one_of(st.none(), st.integers(1, 12), st.integers(13, 200_000)))
            units.append(UnitSpec(region, f"U{n}", draw(st.sampled_from(UNIT_TYPES)), users, scores,
                                  draw(answers_strategy(m))))
    return units


def cycle_inputs(m: Methodology, specs: list[UnitSpec]) -> CycleInputs:
    units = pl.DataFrame(
        {"region_code": [u.region_code for u in specs], "unit_id": [u.unit_id for u in specs],
         "unit_name": [f"{u.unit_type} {u.unit_id}" for u in specs], "unit_type": [u.unit_type for u in specs],
         "annual_service_users": [u.users for u in specs], "submission_id": [f"sub-{u.region_code}" for u in specs]},
        schema=UNITS_SCHEMA)
    codes = sorted({u.region_code for u in specs})
    regions = pl.DataFrame({"region_code": codes, "name": [f"Region {c}" for c in codes],
                            "province_code": [c[:2] for c in codes],
                            "level": ["provinsi" if len(c) == 2 else "kabupaten/kota" for c in codes]},
                           schema=REGIONS_SCHEMA)
    evaluations = evaluations_frame([(u.region_code, u.unit_id, u.scores) for u in specs])
    responses = responses_frame(m, [(u.region_code, u.unit_id, u.answers) for u in specs])
    return CycleInputs(units.lazy(), evaluations.lazy(), responses.lazy(), regions.lazy())


def by_unit(frame: pl.DataFrame) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["region_code"], r["unit_id"]): r for r in frame.iter_rows(named=True)}


# ------------------------------------------------------------------------------------------------ 1. range


@FAST
@given(units=st.lists(complete_scores(), min_size=1, max_size=5))
def test_ipp_and_aspects_stay_within_0_to_5(units: list[Scores]) -> None:
    rows, aspects = score_units_only(M2024, {f"U{n}": s for n, s in enumerate(units)})
    assert len(rows) == len(units)
    for row in rows.values():
        assert row["status"] == "scored"
        value = exact_ipp(row)
        assert value is not None and 0 <= value <= 5
        assert 0 <= row["ipp_cents"] <= 500
        assert 0.0 <= row["ipp"] <= 5.0
        assert 0.0 <= row["ipp_exact"] <= 5.0
    assert aspects["complete"].all()
    assert aspects["score"].is_between(0.0, 5.0).all()
    assert aspects["aspect_cents"].is_between(0, 500).all()


# ------------------------------------------------------------------------------------------------ 2. monotonic


@FAST
@given(case=raised_scores())
def test_raising_one_evaluator_score_never_lowers_the_ipp(case: tuple[Scores, str, int, int]) -> None:
    scores, code, position, delta = case
    raised = {c: list(v) for c, v in scores.items()}
    raised[code][position] += delta
    rows, aspects = score_units_only(M2024, {"base": scores, "raised": raised})
    before, after = exact_ipp(rows["base"]), exact_ipp(rows["raised"])
    assert before is not None and after is not None
    assert after >= before
    assert rows["raised"]["ipp_cents"] >= rows["base"]["ipp_cents"]
    assert rows["raised"]["ipp"] >= rows["base"]["ipp"]
    # Sharper: the exact IPP rises by exactly W_a · w_i · delta / (100 · 100 · evaluators of that indicator).
    indicator = next(i for i in M2024.indicators if i.code == code)
    aspect = next(a for a in M2024.aspects if a.code == indicator.aspect)
    assert after - before == Fraction(aspect.weight * indicator.weight * delta, 100 * 100 * len(scores[code]))
    # ... and no aspect score goes down.
    cents = {(r["unit_id"], r["aspect_code"]): r["aspect_cents"] for r in aspects.iter_rows(named=True)}
    for a in M2024.aspects:
        assert cents[("raised", a.code)] >= cents[("base", a.code)]


# ------------------------------------------------------------------------------------------------ 3. rounding, band


@FAST
@given(units=st.lists(complete_scores(), min_size=1, max_size=5))
def test_rounded_ipp_is_exact_half_up_and_predicate_is_its_band(units: list[Scores]) -> None:
    named = {f"U{n}": s for n, s in enumerate(units)}
    rows, _ = score_units_only(M2024, named)
    for unit_id, row in rows.items():
        value = exact_ipp(row)
        assert value == ipp_oracle(M2024, named[unit_id])
        expected = half_up_2dp(value)
        assert row["ipp_cents"] == int(expected * 100)
        assert published(row["ipp"]) == expected
        band = band_for(row["ipp_cents"], M2024.predicates)
        assert band is not None
        assert (row["predicate"], row["predicate_label"], row["zone"]) == (band.code, band.label, band.zone)


@FAST
@given(cases=st.lists(rational_cents_cases(), min_size=1, max_size=20))
def test_half_up_cents_of_any_rational_including_exact_ties(cases: list[tuple[int, int]]) -> None:
    frame = pl.DataFrame({"num": [n for n, _ in cases], "den": [d for _, d in cases]}, schema={
        "num": pl.Int64, "den": pl.Int64})
    got = frame.select(cents=half_up_cents(pl.col("num"), pl.col("den")))["cents"].to_list()
    assert got == [cents_of(Fraction(n, d)) for n, d in cases]


@pytest.mark.parametrize("methodology", [M2023, M2024], ids=["2023", "2024"])
def test_band_of_every_published_value(methodology: Methodology) -> None:
    """Exhaustive over 0.00..5.00 (predicates) and 0.00..100.00 (IKM mutu): band_of is the >= band."""
    for bands, top in ((methodology.predicates, 500), (methodology.survey.mutu, 10_000)):
        cents = pl.Series("c", range(top + 1), dtype=pl.Int64)
        frame = pl.DataFrame({"c": cents}).select(
            code=band_of(pl.col("c"), bands, "code"), label=band_of(pl.col("c"), bands, "label"))
        expected = [band_for(c, bands) for c in range(top + 1)]
        assert frame["code"].to_list() == [b.code if b else None for b in expected]
        assert frame["label"].to_list() == [b.label if b else None for b in expected]


@FAST
@given(cases=st.lists(ikm_totals_cases(), min_size=1, max_size=12))
def test_ikm_is_exact_half_up_in_every_mode_including_ties_and_near_ties(
        cases: list[tuple[str, list[int], list[int]]]) -> None:
    """unit_ikm rounds in float and settles near-ties exactly: it must equal the Fraction half-up always."""
    elements = M2024.survey.element_codes
    for mode in ("exact", *LEGACY_MODES):
        chosen = [(sums, counts) for m, sums, counts in cases if m == mode]
        if not chosen:
            continue
        totals = pl.DataFrame(
            {"region_code": ["35.78"] * len(chosen), "unit_id": [f"U{n}" for n in range(len(chosen))],
             "n_respondents": [max(counts) for _, counts in chosen],
             **{f"{e}__sum": [sums[k] for sums, _ in chosen] for k, e in enumerate(elements)},
             **{f"{e}__n": [counts[k] for _, counts in chosen] for k, e in enumerate(elements)}},
            schema_overrides={c: pl.Int64 for c in ("n_respondents", *(f"{e}__{p}" for e in elements
                                                                       for p in ("sum", "n")))})
        m = replace(M2024, survey=replace(M2024.survey, weight_mode=mode))
        got = skm_scores.unit_ikm(totals.lazy(), m).collect()
        expected = [ikm_from_totals(mode, sums, counts) for sums, counts in chosen]
        assert got["ikm_cents"].to_list() == [cents_of(v) for v in expected], mode
        assert [published(v) for v in got["ikm"].to_list()] == [as_decimal(cents_of(v)) for v in expected]
        # Answers 1..4 give 25·9·weight .. 100·9·weight (25..100 exact; 24.975..99.9 with 0.111).
        low, high = 25 * 9 * element_weight_oracle(mode, 9), 100 * 9 * element_weight_oracle(mode, 9)
        assert all(value is None or low <= value <= high for value in expected)


# ------------------------------------------------------------------------------------------------ 4. roll-up


@FAST
@given(scores=complete_scores(), copies=st.integers(1, 6), method=st.sampled_from(["mean", "weighted"]),
       data=st.data())
def test_rollup_of_identical_units_is_the_unit(scores: Scores, copies: int, method: str, data: st.DataObject) -> None:
    m = M2024 if method == "mean" else replace(M2024, rollup_method="weighted",
                                                 rollup_weight_column="annual_service_users")
    users = data.draw(st.lists(st.integers(1, 10**7), min_size=copies, max_size=copies), label="users")
    other = data.draw(st.none() | complete_scores(), label="other region's unit")
    specs = [UnitSpec("35.78", f"U{n}", "RSUD", u, scores, []) for n, u in enumerate(users, start=1)]
    if other is not None:  # a different unit in another region must not leak into this region's roll-up
        specs.append(UnitSpec("35.07", "U1", "RSUD", 1, other, []))
    out = score_cycle(cycle_inputs(m, specs), m)
    units = by_unit(out["unit_scores"])
    unit = units[("35.78", "U1")]
    assert all(units[("35.78", s.unit_id)]["ipp_num"] == unit["ipp_num"] for s in specs[:copies])
    region = out["region_scores"].filter(pl.col("region_code") == "35.78").row(0, named=True)
    assert region["n_units"] == region["n_units_scored"] == copies
    assert Fraction(region["rollup_num"], region["rollup_den"]) == exact_ipp(unit) == ipp_oracle(m, scores)
    assert (region["ipp_cents"], region["ipp"], region["predicate"]) == (unit["ipp_cents"], unit["ipp"],
                                                                         unit["predicate"])
    assert region["rollup_method"] == ("mean" if method == "mean" else "weighted:annual_service_users")
    if other is None:
        national = out["national_scores"].row(0, named=True)
        assert (national["ipp_cents"], national["predicate"]) == (unit["ipp_cents"], unit["predicate"])


# ------------------------------------------------------------------------------------------------ 5. full recomputation


def check_cycle(m: Methodology, mode: str, specs: list[UnitSpec], out: dict[str, pl.DataFrame]) -> None:
    """Everything score_cycle says about units, aspects, survey elements, regions, nation and awards,
    against the Fraction oracle for the methodology `m` whose survey weight mode is `mode`."""
    units = by_unit(out["unit_scores"])
    assert set(units) == {(u.region_code, u.unit_id) for u in specs}
    ipp = {(u.region_code, u.unit_id): ipp_oracle(m, u.scores) for u in specs}
    cents = {k: cents_of(v) for k, v in ipp.items()}
    ranks = {}
    for unit_type in UNIT_TYPES:
        ranks.update(competition_ranks({(u.region_code, u.unit_id): cents[(u.region_code, u.unit_id)]
                                        for u in specs if u.unit_type == unit_type}))
    eligible = {}
    for u in specs:
        key = (u.region_code, u.unit_id)
        row = units[key]
        band = band_for(cents[key], m.predicates)
        ikm = ikm_oracle(m, u.answers, mode)
        ikm_band = band_for(cents_of(ikm), m.survey.mutu)
        required = sample_oracle(m, u.users)
        # DOMAIN.md: no survey, or no declared population, means the sample is not met (the survey is required).
        eligible[key] = ipp[key] is not None and required is not None and 0 < len(u.answers) >= required
        assert row["status"] == ("scored" if ipp[key] is not None else "incomplete"), key
        assert exact_ipp(row) == ipp[key], key
        assert row["ipp_cents"] == cents[key], key
        assert published(row["ipp"]) == as_decimal(cents[key]), key
        assert row["predicate"] == (band.code if band else None), key
        assert row["zone"] == (band.zone if band else None), key
        assert row["n_indicators_scored"] == sum(1 for i in m.indicators if u.scores.get(i.code)), key
        assert row["n_evaluators"] == max((len(v) for v in u.scores.values()), default=0), key
        assert row["rank_in_type"] == ranks[key], key
        assert row["n_respondents"] == len(u.answers), key
        assert row["ikm_cents"] == cents_of(ikm), (key, mode)
        assert published(row["ikm"]) == as_decimal(cents_of(ikm)), (key, mode)
        assert row["ikm_mutu"] == (ikm_band.code if ikm_band else None), (key, mode)
        assert row["sample_required"] == required, key
        assert row["eligible"] == eligible[key], key
        assert row["sample_met"] == (required is not None and 0 < len(u.answers) >= required), key
        assert (row["ineligible_reason"] is None) == eligible[key], key

    # Aspect rows: one per unit with any evaluation and per aspect; score null when an indicator is missing.
    aspects = {(r["region_code"], r["unit_id"], r["aspect_code"]): r
               for r in out["aspect_scores"].iter_rows(named=True)}
    assert set(aspects) == {(u.region_code, u.unit_id, a.code) for u in specs if u.scores for a in m.aspects}
    for u in specs:
        for code, value in (aspect_oracle(m, u.scores).items() if u.scores else ()):
            row = aspects[(u.region_code, u.unit_id, code)]
            assert published(row["score"]) == as_decimal(cents_of(value)), (u, code)

    # Survey element rows: NRR over those who answered, for units with at least one respondent.
    elements = {(r["region_code"], r["unit_id"], r["element"]): r for r in out["skm_scores"].iter_rows(named=True)}
    assert set(elements) == {(u.region_code, u.unit_id, e) for u in specs if u.answers for e in m.survey.element_codes}
    for (region_code, unit_id, element), row in elements.items():
        answers = next(u.answers for u in specs if (u.region_code, u.unit_id) == (region_code, unit_id))
        nrr = nrr_oracle(answers, element)
        assert row["n_answered"] == sum(r[element] is not None for r in answers)
        if nrr is None:
            assert row["nrr"] is None
        else:  # display value, 4 decimals
            assert abs(Fraction(row["nrr"]) - nrr) <= Fraction(1, 20_000) + Fraction(1, 10**12)

    # Regions: mean of their scored units' exact IPPs, rounded once; ranked within provinsi, kabupaten, kota.
    regions = {r["region_code"]: r for r in out["region_scores"].iter_rows(named=True)}
    assert set(regions) == {u.region_code for u in specs}
    region_cents = {}
    for code in regions:
        scored = [ipp[(u.region_code, u.unit_id)] for u in specs if u.region_code == code
                  and ipp[(u.region_code, u.unit_id)] is not None]
        region_cents[code] = cents_of(sum(scored, Fraction(0)) / len(scored)) if scored else None
    def level(code: str) -> str:
        return "provinsi" if len(code) == 2 else "kabupaten" if int(code[3:]) < 70 else "kota"

    region_ranks = {}
    for category in ("provinsi", "kabupaten", "kota"):
        region_ranks.update(competition_ranks({c: v for c, v in region_cents.items() if level(c) == category}))
    for code, row in regions.items():
        band = band_for(region_cents[code], m.predicates)
        assert row["n_units"] == sum(u.region_code == code for u in specs)
        assert row["n_units_scored"] == sum(u.region_code == code and ipp[(code, u.unit_id)] is not None
                                            for u in specs)
        assert row["ipp_cents"] == region_cents[code], code
        assert published(row["ipp"]) == as_decimal(region_cents[code]), code
        assert row["predicate"] == (band.code if band else None), code
        assert row["rank"] == region_ranks[code], code
        assert row["level"] == row["category"] == level(code)
        region_ikms = [v for v in (ikm_oracle(m, u.answers, mode) for u in specs if u.region_code == code)
                       if v is not None]
        assert published(row["ikm"]) == (as_decimal(cents_of(sum(region_ikms, Fraction(0)) / len(region_ikms)))
                                         if region_ikms else None), code

    # Nation: mean over all scored units; mean of the units' exact IKMs, rounded once; units per predicate.
    national = out["national_scores"].row(0, named=True)
    scored = [v for v in ipp.values() if v is not None]
    national_cents = cents_of(sum(scored, Fraction(0)) / len(scored)) if scored else None
    assert national["n_units"] == len(specs) and national["n_units_scored"] == len(scored)
    assert national["ipp_cents"] == national_cents
    ikms = [v for v in (ikm_oracle(m, u.answers, mode) for u in specs) if v is not None]
    assert published(national["ikm"]) == (as_decimal(cents_of(sum(ikms, Fraction(0)) / len(ikms))) if ikms else None)
    predicate_of = {k: band_for(c, m.predicates) for k, c in cents.items()}
    assert json.loads(national["predicate_counts"]) == {
        b.code: sum(p is not None and p.code == b.code for p in predicate_of.values()) for b in m.predicates}

    # Award roster: (award, region, unit, rank) rows from the cycle's rules, recomputed here.
    expected: set[tuple[str, str, str | None, int]] = set()
    for award in m.awards:
        if award.subject == "region":
            for code in regions:
                band = band_for(region_cents[code], m.predicates)
                n_units = sum(u.region_code == code for u in specs)
                covered = regions[code]["n_units_scored"] >= award.min_scored_share * n_units
                if band is not None and band.code in award.predicates and covered:
                    expected.add((award.code, code, None, region_ranks[code]))
        elif award.rule == "predicate":
            chosen = {k: cents[k] for k in units if eligible[k] and predicate_of[k].code in award.predicates}
            expected |= {(award.code, *k, r) for k, r in competition_ranks(chosen).items()}
        elif award.rule == "top_n_per_type":
            floor_cents = next(b.lower_cents for b in m.predicates if b.code == award.min_predicate)
            for unit_type in UNIT_TYPES:
                pool = {(u.region_code, u.unit_id): cents[(u.region_code, u.unit_id)] for u in specs
                        if u.unit_type == unit_type and eligible[(u.region_code, u.unit_id)]
                        and cents[(u.region_code, u.unit_id)] >= floor_cents}
                expected |= {(award.code, *k, r) for k, r in competition_ranks(pool).items() if r <= award.top_n}
        # most_improved needs a previous cycle: none given here, so no rows.
    roster = out["award_roster"]
    got = set(zip(roster["award"], roster["region_code"], roster["unit_id"], roster["rank"], strict=True))
    assert got == expected
    assert roster.height == len(expected)


@FEW
@given(specs=cycle_specs())
def test_score_cycle_agrees_with_fraction_recomputation_in_every_weight_mode(specs: list[UnitSpec]) -> None:
    for mode in ("exact", *LEGACY_MODES):
        m = replace(M2024, survey=replace(M2024.survey, weight_mode=mode))
        check_cycle(m, mode, specs, score_cycle(cycle_inputs(m, specs), m))


@st.composite
def tied_specs(draw: st.DrawFn) -> list[UnitSpec]:
    """Many scored units drawn from a pool of 1..3 score profiles: ties (and '1224' gaps) within a type."""
    profiles = draw(st.lists(complete_scores(), min_size=1, max_size=3))
    units = []
    for n in range(1, draw(st.integers(3, 14)) + 1):
        scores = profiles[draw(st.integers(0, len(profiles) - 1))]
        if draw(st.integers(0, 5)) == 0:  # now and then an unscored unit in the middle of the ranking
            scores = {}
        units.append(UnitSpec(draw(st.sampled_from(REGION_POOL)), f"U{n}", draw(st.sampled_from(UNIT_TYPES)),
                              None, scores, []))
    return units


@FEW
@given(specs=tied_specs())
def test_competition_ranks_1224_within_unit_type(specs: list[UnitSpec]) -> None:
    """rank_in_type (and the roster and region ranks) are '1224' ranks, recomputed in plain Python."""
    out = score_cycle(cycle_inputs(M2024, specs), M2024)
    check_cycle(M2024, "exact", specs, out)  # every rank in there is recomputed by `competition_ranks`
    rows = by_unit(out["unit_scores"])
    for unit_type in UNIT_TYPES:
        mine = [u for u in specs if u.unit_type == unit_type]
        # Written out once more, plainly: sort best first, a unit's rank is 1 + its position among
        # the scored units at the first occurrence of its value.
        ordered = sorted((c for u in mine if (c := cents_of(ipp_oracle(M2024, u.scores))) is not None), reverse=True)
        for u in mine:
            value = cents_of(ipp_oracle(M2024, u.scores))
            expected = None if value is None else ordered.index(value) + 1
            assert rows[(u.region_code, u.unit_id)]["rank_in_type"] == expected


# ------------------------------------------------------------------------------------------------ 6. own methodology


@FEW
@given(specs=cycle_specs())
def test_each_cycle_scores_ikm_with_its_own_weight_mode(specs: list[UnitSpec]) -> None:
    assert (M2023.survey.weight_mode, M2024.survey.weight_mode) == ("0.111", "exact")
    out = {m.cycle: score_cycle(cycle_inputs(m, specs), m) for m in (M2023, M2024)}
    check_cycle(M2023, "0.111", specs, out["2023"])
    check_cycle(M2024, "exact", specs, out["2024"])
    old, new = by_unit(out["2023"]["unit_scores"]), by_unit(out["2024"]["unit_scores"])
    for key, row in new.items():
        assert row["cycle"] == "2024" and old[key]["cycle"] == "2023"
        # Same F-02 weights in both files: the IPP does not change.
        assert (old[key]["ipp_num"], old[key]["ipp_cents"]) == (row["ipp_num"], row["ipp_cents"])
        # 9 · 0.111 = 0.999 < 1: a legacy IKM is the exact one less a thousandth of it (>= 0.025), so the two
        # published values always differ, by at least two hundredths, wherever there is an IKM at all.
        if row["ikm_cents"] is None:
            assert old[key]["ikm_cents"] is None
        else:
            assert row["ikm_cents"] - old[key]["ikm_cents"] >= 2, key


def test_all_4s_survey_gives_100_in_2024_and_99_90_in_2023() -> None:
    answers: Answers = [dict.fromkeys(M2024.survey.element_codes, 4) for _ in range(3)]
    specs = [UnitSpec("35.78", "U1", "RSUD", None, {}, answers)]
    got = {m.cycle: score_cycle(cycle_inputs(m, specs), m)["unit_scores"]["ikm"].item() for m in (M2023, M2024)}
    assert got == {"2023": 99.90, "2024": 100.00}


def test_the_kept_totals_version_moves_with_the_code_that_computes_them() -> None:
    """The ledger keeps per-unit sums under UNIT_TOTALS_VERSION and trusts them on later runs: changing
    what they compute without bumping the version would score new releases from stale sums."""
    import hashlib
    import inspect

    from transforms import cycle, skm_scores

    source = "".join(inspect.getsource(f) for f in (unit_scores.indicator_totals, unit_scores.evaluator_counts,
                                                   skm_scores.element_totals_of, cycle.unit_totals))
    pinned = {1: "b4758d2f898b45b9"}  # re-pinned for version 1: only element_totals_of's docstring changed
    assert hashlib.sha256(source.encode()).hexdigest()[:16] == pinned[cycle.UNIT_TOTALS_VERSION], (
        "the per-unit sums changed: bump transforms.cycle.UNIT_TOTALS_VERSION and pin the new hash here")
