"""Are the awards robust? Predicate and award probabilities and rank intervals per unit and body (issue 23).

An uncertainty analysis in the sense of the OECD/JRC Handbook on composite indicators (and COINr):
each draw changes the inputs the way they could plausibly have been, and recomputes the published
results with the release's own code. Three sources, each drawn from its own seeded stream (turning one
off leaves the others' draws unchanged); evaluators and survey from one stream per unit
(`transforms/unit_streams.py`), so a unit's draws do not change when other units are added:

- evaluators: a unit with two or more complete evaluator sheets draws as many sheets with replacement;
  a unit with one sheet (or partial sheets) has each indicator score moved one point up or down with
  the chance `evaluator_spread` (half each way, inside the score range); 0 turns that off;
- survey: the respondents are bootstrapped. The respondents' count is kept by the bootstrap, so whether
  the sample is met (and with it eligibility) cannot change; the IKM and its mutu can. The bootstrap
  IKM is drawn from its normal limit (mean = the IKM, variance = the exact plug-in bootstrap variance
  of the IKM's linearisation; exact when every respondent answered every element): a respondent-level
  resample at 10 M respondents × 1,000 draws is 10^10 draws, beyond a nightly;
- weights: every draw multiplies each aspect weight by 1 ± up to `weight_spread` (uniform) and
  renormalises to 100 (one draw of weights for all units, as a different regulation would be).

Exactness: evaluator means stay rationals over D = lcm(1..max_evaluators) (a resample of k sheets has
k evaluators), perturbed weights are integers in hundredths of a percent, so every IPP in every draw is
the exact rational `num / den` the release would compute, rounded by `rounding.half_up_cents` and
classified by `rounding.band_of`; ranks come from `rounding.competition_rank`, sheets' aspect
numerators from `unit_scores.indicator_scores_of` and `aspect_scores`, award rules from the
methodology's awards as `awards.py` applies them. Only the last weighted sum over the six aspects is
done here, on arrays, so that 31k units × 1,000 draws fit in a nightly (their exact arithmetic, and the
F-03 blend's, is in `transforms/robustness_exact.py`).

The counts become the published tables (probabilities, rank intervals, drivers) in
`transforms/robustness_tables.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms import skm_scores, unit_scores, unit_streams
from transforms.awards import covered
from transforms.cycle import CycleInputs
from transforms.methodology import Award, Band, Methodology, Robustness
from transforms.robustness_exact import (
    Blend,
    blend_of,
    blended,
    body_cents_of_fractions,
    cents_of,
    drawn_blend,
    unit_cents,
)
from transforms.robustness_tables import (
    SCENARIOS,
    RobustnessTables,
    Tally,
    as_release_tables,
    empty_tables,
    region_table,
    unit_table,
)
from transforms.rounding import band_of, competition_rank
from transforms.unit_scores import STATUS_SCORED, UNIT_KEY

WEIGHT_TOTAL = 10_000
"""Perturbed aspect weights are integers summing to this (hundredths of a percent): the IPP stays exact."""
CHUNK_DRAWS = 25
"""Draws computed together: bounds memory (~25 × 31k units × 6 aspects of int64 per array)."""
IKM_PRECISION = 1_000_000
EXACT_BOOTSTRAP_RESPONDENTS = 30
"""Units with at most this many respondents are bootstrapped by resampling them (the normal limit is rough
there); larger ones through the normal limit (cheap: one draw per unit, whatever its respondents)."""
EXACT_BOOTSTRAP_BUDGET = 300_000_000
"""At most this many answers drawn (respondents × elements × draws) by the exact bootstrap: the smallest
surveys first, the rest through the normal limit, so a cycle of small surveys stays within a nightly."""
"""A drawn IKM (a continuous value) is written as an integer over this before the release's rounding."""
SPREAD_GROUP_ROWS = 3_000_000
"""Survey rows per pass of `survey_spread` (memory: each pass joins its rows to 18 floats of their unit)."""
_STREAMS = {"evaluators": 1, "survey": 2, "weights": 3, "respondents": 4, "f03": 5}
_SHEET_SEPARATOR = "\x1f"


@dataclass(frozen=True)
class RobustnessInputs:
    """What the engine reads besides the published rows: evaluator sheets, unit indicator means, survey spread."""

    sheets: pl.DataFrame
    """UNIT_KEY, evaluator_id, aspect_code, aspect_num (over 100·D, as `aspect_scores`), complete."""
    indicators: pl.DataFrame
    """UNIT_KEY, indicator_code, aspect_code, indicator_weight, scaled (D·mean score)."""
    survey: pl.DataFrame
    """UNIT_KEY, ikm_value (unrounded IKM), n (respondents), ikm_sd (bootstrap standard deviation of the IKM)."""
    small_surveys: pl.DataFrame | None = None
    """UNIT_KEY and the element answers of units with at most EXACT_BOOTSTRAP_RESPONDENTS respondents."""
    f03: pl.DataFrame | None = None
    """Under an F-03 blend: UNIT_KEY, f03_sd (bootstrap standard deviation of the unit's F-03 mean)."""


def robustness_inputs(evaluations: pl.LazyFrame, responses: pl.LazyFrame, methodology: Methodology,
                      f03_responses: pl.LazyFrame | None = None) -> RobustnessInputs:
    """Per evaluator sheet and per unit, with the release's own functions (see the module's docstring); the
    F-03 answers' spread when the cycle blends them."""
    rows = evaluations.with_columns(pl.col("evaluator_id").fill_null(""))
    sheet_totals = unit_scores.indicator_totals(rows, by=["evaluator_id"]).with_columns(
        unit_id=pl.concat_str(pl.col("unit_id"), pl.lit(_SHEET_SEPARATOR), pl.col("evaluator_id")))
    sheet_aspects = unit_scores.aspect_scores(
        unit_scores.indicator_scores_of(sheet_totals.drop("evaluator_id"), methodology), methodology)
    sheets = sheet_aspects.select(
        "region_code",
        pl.col("unit_id").str.split_exact(_SHEET_SEPARATOR, 1).struct.field("field_0").alias("unit_id"),
        pl.col("unit_id").str.split_exact(_SHEET_SEPARATOR, 1).struct.field("field_1").alias("evaluator_id"),
        "aspect_code", pl.col("aspect_num").fill_null(0), pl.col("complete")).sort([*UNIT_KEY, "evaluator_id",
                                                                                      "aspect_code"])
    indicators = unit_scores.indicator_scores_of(unit_scores.indicator_totals(evaluations), methodology).select(
        *UNIT_KEY, "indicator_code", "aspect_code", "indicator_weight", "scaled")
    # one after the other: together they peaked ~0.2 GB higher at national size (each groups 1.9 M rows)
    sheets_frame = sheets.collect()
    indicator_frame = indicator_frames_sorted(indicators).collect()
    survey_frame = survey_spread(responses, methodology)
    small_units = survey_frame.filter(pl.col("n") <= EXACT_BOOTSTRAP_RESPONDENTS).select(UNIT_KEY)
    small = None
    if small_units.height:  # read the rows again only when some survey is small
        small = (responses.join(small_units.lazy(), on=UNIT_KEY, how="semi", maintain_order="left")
                 .select(*UNIT_KEY, *methodology.survey.element_codes).sort(UNIT_KEY, maintain_order=True).collect())
    f03 = f03_spread(f03_responses) if methodology.f03_enabled and f03_responses is not None else None
    return RobustnessInputs(sheets_frame, indicator_frame, survey_frame, small, f03)


def f03_spread(responses: pl.LazyFrame) -> pl.DataFrame:
    """Per unit with F-03 answers: the bootstrap standard deviation of its F-03 mean F = S/A (respondents
    resampled n of n, normal limit: the ratio's linearisation, exact plug-in variance Σ_r (s_r − F·a_r)² / A²,
    s_r and a_r a respondent's sum and count of answers). Integer sums only, so it is the same bits
    whatever other units are computed with it: Σ(s_r − F·a_r)²·A² = A²·Σs² − 2·S·A·Σs·a + S²·Σa²."""
    per_respondent = (responses.filter(pl.col("score").is_not_null())
                      .group_by(*UNIT_KEY, "respondent_id")
                      .agg(s=pl.col("score").cast(pl.Int128).sum(), a=pl.len().cast(pl.Int128)))
    sums = per_respondent.group_by(UNIT_KEY).agg(
        total=pl.col("s").sum(), answers=pl.col("a").sum(), ss=(pl.col("s") * pl.col("s")).sum(),
        sa=(pl.col("s") * pl.col("a")).sum(), aa=(pl.col("a") * pl.col("a")).sum())
    spread = (pl.col("answers") ** 2 * pl.col("ss") - 2 * pl.col("total") * pl.col("answers") * pl.col("sa")
              + pl.col("total") ** 2 * pl.col("aa"))
    return (sums.select(*UNIT_KEY, f03_sd=(spread.cast(pl.Float64).sqrt() / pl.col("answers").cast(pl.Float64) ** 2))
            .sort(UNIT_KEY).collect())


def indicator_frames_sorted(indicators: pl.LazyFrame) -> pl.LazyFrame:
    return indicators.sort([*UNIT_KEY, "indicator_code"])


def survey_spread(responses: pl.LazyFrame, methodology: Methodology) -> pl.DataFrame:
    """Per surveyed unit: the IKM and the standard deviation of its respondent bootstrap (normal limit).

    IKM = F·Σ_u NRR_u (F = scale·element weight). Its linearisation in the respondents' resampling
    weights has the influence ψ_r = F·Σ_u (n/n_u)·[answered]·(a_ru − NRR_u), so the bootstrap variance is
    Σ_r ψ_r² / n². With every element answered by everyone ψ_r = F·(T_r − mean T) and this is exactly
    the bootstrap variance of the IKM (the mean of n resampled respondents' totals).

    Σ ψ_r² is summed per unit in the rows' order (`np.bincount`), not by a parallel group-by whose float
    sums depend on how rows are split among threads: the same rows give the same bits, whatever other
    units are computed with them (so a unit's value can be kept per submission).
    """
    survey = methodology.survey
    elements = survey.element_codes
    weight_num, weight_den = survey.element_weight()
    factor = survey.scale * weight_num / weight_den
    totals = skm_scores.element_totals_of(responses, elements).collect()
    ikm = skm_scores.unit_ikm(totals.lazy(), methodology).select(*UNIT_KEY, "ikm_value")
    # Per unit and element, NRR_u and n/n_u, joined to the rows (two floats per element, not the sums).
    per_unit = totals.select(
        *UNIT_KEY,
        *(pl.col(f"{e}__sum").truediv(pl.col(f"{e}__n")).alias(f"{e}__mean") for e in elements),
        *(pl.col("n_respondents").truediv(pl.col(f"{e}__n")).alias(f"{e}__scale") for e in elements),
    ).with_row_index("unit_row")
    influence = pl.sum_horizontal(
        ((pl.col(e) - pl.col(f"{e}__mean")) * pl.col(f"{e}__scale")).fill_null(0.0) for e in elements) * factor
    psi2 = np.zeros(per_unit.height)
    counts = np.zeros(per_unit.height, dtype=np.int64)
    # In groups of units, so the rows joined to their unit's 18 floats are a few million at a time (at national
    # size all at once was ~0.5 GB); each unit's rows stay together and in order, so its sums are the same bits.
    groups = max(1, -(-int(totals["n_respondents"].sum() or 0) // SPREAD_GROUP_ROWS))
    for group in range(groups):
        units = per_unit.filter(pl.col("unit_row") % groups == group)
        rows = (responses.select(*UNIT_KEY, *elements)
                .join(units.lazy(), on=UNIT_KEY, how="inner", maintain_order="left")
                .select("unit_row", psi=influence).collect())
        unit_row = rows["unit_row"].to_numpy()
        psi = rows["psi"].to_numpy()
        psi2 += np.bincount(unit_row, weights=psi * psi, minlength=per_unit.height)
        counts += np.bincount(unit_row, minlength=per_unit.height)
    spread = per_unit.select(
        *UNIT_KEY, psi2=pl.Series(psi2), n=pl.Series(counts, dtype=pl.UInt32),
    ).filter(pl.col("n") > 0)
    return (ikm.filter(pl.col("ikm_value").is_not_null())
            .join(spread.lazy(), on=UNIT_KEY, how="inner")
            .select(*UNIT_KEY, "ikm_value", "n", ikm_sd=(pl.col("psi2") / (pl.col("n") ** 2)).sqrt())
            .sort(UNIT_KEY).collect())


# ---------------------------------------------------------------- the draws


def _band_lookup(bands: tuple[Band, ...], top_cents: int) -> tuple[np.ndarray, list[str]]:
    """Band index (0 = best) of every value 0..top_cents hundredths, by the release's `band_of`."""
    codes = [b.code for b in bands]
    found = pl.select(band_of(pl.int_range(0, top_cents + 1, dtype=pl.Int64), bands, "code").alias("code"))
    index = found["code"].replace_strict(codes, list(range(len(codes))), return_dtype=pl.Int16)
    return index.to_numpy(), codes


def _ranks(cents: np.ndarray, group: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """`rounding.competition_rank` per draw (rows) and group (per column), 0 where not ranked.

    Only the ranked cells go to Polars, keyed by one integer per (draw, group).
    """
    draws = cents.shape[0]
    key = (np.arange(draws, dtype=np.int64)[:, None] * (int(group.max(initial=0)) + 1) + group[None, :])
    keep = np.ones(cents.shape, dtype=bool) if valid is None else valid
    out = np.zeros(cents.shape, dtype=np.int64)
    if not keep.any():
        return out
    frame = pl.DataFrame({"key": key[keep], "cents": cents[keep]})
    out[keep] = frame.select(competition_rank(pl.col("cents")).over("key")).to_series().to_numpy()
    return out


def _weights(rng: np.random.Generator | None, base: np.ndarray, spread: float, draws: int) -> np.ndarray:
    """Aspect weights per draw as integers summing to WEIGHT_TOTAL (largest remainders), `base` when off."""
    fixed = np.broadcast_to(base * (WEIGHT_TOTAL // 100), (draws, base.size)).astype(np.int64)
    if rng is None or spread == 0:
        return fixed.copy()
    raw = base[None, :] * (1 + rng.uniform(-spread, spread, size=(draws, base.size)))
    share = raw / raw.sum(axis=1, keepdims=True) * WEIGHT_TOTAL
    whole = np.floor(share).astype(np.int64)
    short = WEIGHT_TOTAL - whole.sum(axis=1)
    order = np.argsort(-(share - whole), axis=1, kind="stable")
    bump = np.arange(base.size)[None, :] < short[:, None]
    np.put_along_axis(whole, order, np.take_along_axis(whole, order, axis=1) + bump, axis=1)
    return whole


@dataclass
class _Units:
    """The scored units as arrays, in UNIT_KEY order."""

    frame: pl.DataFrame
    base: np.ndarray  # (U, A) aspect numerators over 100·D
    type_index: np.ndarray
    eligible: np.ndarray
    published: np.ndarray  # predicate band index
    resample: list[tuple[np.ndarray, np.ndarray]]  # (unit rows, sheets (n, k, A)) per sheet count k
    perturb_rows: np.ndarray
    perturb_scaled: np.ndarray  # (n, I) D·mean score
    mode: np.ndarray


def _unit_arrays(units: pl.DataFrame, inputs: RobustnessInputs, methodology: Methodology, lookup: np.ndarray,
                 spread: float) -> _Units:
    aspects = [a.code for a in methodology.aspects]
    scored = units.filter(pl.col("status") == STATUS_SCORED).sort(UNIT_KEY).with_row_index("row")
    keys = scored.select(*UNIT_KEY, "row")
    aspect_index = {code: n for n, code in enumerate(aspects)}

    def wide(frame: pl.DataFrame, key: list[str]) -> pl.DataFrame:
        return (frame.with_columns(a=pl.col("aspect_code").replace_strict(aspect_index, return_dtype=pl.Int64))
                .sort([*key, "a"]).group_by(key, maintain_order=True)
                .agg(nums=pl.col("aspect_num"), complete=pl.col("complete").all(), n=pl.len()))

    sheets = inputs.sheets.join(keys, on=UNIT_KEY, how="inner")
    per_sheet = wide(sheets, ["row", "evaluator_id"]).filter(pl.col("n") == len(aspects))
    per_unit = per_sheet.group_by("row").agg(k=pl.len(), all_complete=pl.col("complete").all())
    resampled = per_unit.filter((pl.col("k") >= 2) & pl.col("all_complete"))
    # The unit's own aspect numerators: from the unit's indicator means, by the release's aspect_scores.
    unit_aspects = unit_scores.aspect_scores(inputs.indicators.lazy().join(keys.lazy(), on=UNIT_KEY, how="semi")
                                             .with_columns(divisible=pl.lit(True)), methodology).collect()
    base_rows = keys.join(wide(unit_aspects.with_columns(pl.col("aspect_num").fill_null(0)), UNIT_KEY),
                          on=UNIT_KEY, how="left").sort("row")
    base = np.array(base_rows["nums"].to_list(), dtype=np.int64).reshape(scored.height, len(aspects))
    groups = []
    for k in sorted(resampled["k"].unique().to_list()):
        rows = resampled.filter(pl.col("k") == k)["row"].sort()
        chosen = per_sheet.join(pl.DataFrame({"row": rows}), on="row", how="semi").sort(["row", "evaluator_id"])
        arrays = np.array(chosen["nums"].to_list(), dtype=np.int64).reshape(rows.len(), k, len(aspects))
        groups.append((rows.to_numpy().astype(np.int64), arrays))
    mode = np.full(scored.height, "none", dtype=object)
    for rows, _ in groups:
        mode[rows] = "resample"
    perturb_rows = np.flatnonzero(mode == "none") if spread > 0 else np.array([], dtype=np.int64)
    mode[perturb_rows] = "perturbation"
    codes = methodology.indicator_codes
    scaled = (inputs.indicators.join(keys, on=UNIT_KEY, how="inner")
              .filter(pl.col("row").is_in(perturb_rows.tolist()))
              .pivot(on="indicator_code", index="row", values="scaled").sort("row"))
    perturb_scaled = scaled.select(codes).to_numpy().astype(np.int64) if perturb_rows.size else \
        np.zeros((0, len(codes)), dtype=np.int64)
    types = scored["unit_type"].to_list()
    type_codes = {t: n for n, t in enumerate(sorted(set(types)))}
    return _Units(
        frame=scored, base=base, type_index=np.array([type_codes[t] for t in types], dtype=np.int32),
        eligible=scored["eligible"].to_numpy().astype(bool),
        published=lookup[np.clip(scored["ipp_cents"].to_numpy(), 0, lookup.size - 1)],
        resample=groups, perturb_rows=perturb_rows, perturb_scaled=perturb_scaled,
        mode=mode,
    )


def _evaluator_draw(keys: np.ndarray, first: int, units: _Units, draws: int, spread: float, d: int,
                    indicator_matrix: np.ndarray, score_range: tuple[int, int]) -> np.ndarray:
    """Aspect numerators (draws, U, A) of draws first.. with the evaluators drawn from each unit's own stream
    (`keys`, one per unit row); the unit's own numerators where it has no draw."""
    out = np.broadcast_to(units.base, (draws, *units.base.shape)).copy()
    for rows, sheets in units.resample:
        k = sheets.shape[1]
        picks = unit_streams.integers(keys[rows], first, draws, k, k)
        chosen = sheets[np.arange(rows.size)[None, :, None], picks]  # (draws, n, k, A)
        out[:, rows, :] = chosen.sum(axis=2) // k  # exact: D is a multiple of k
    if units.perturb_rows.size and spread > 0:
        low, high = score_range[0] * d, score_range[1] * d
        can_up = (units.perturb_scaled + d <= high)[None]
        can_down = (units.perturb_scaled - d >= low)[None]
        bits = unit_streams.bits32(keys[units.perturb_rows], first, draws, units.perturb_scaled.shape[1])
        cut = unit_streams.below(spread / 2)  # up with chance spread/2, down with the same chance
        step = ((bits < cut) & can_up).astype(np.float32) - ((bits >= 2**32 - cut) & can_down)
        delta = np.rint(step @ indicator_matrix).astype(np.int64) * d  # weights <= 100: exact in float32
        out[:, units.perturb_rows, :] += delta
    return out


def _small_surveys(small: pl.DataFrame | None, survey: pl.DataFrame, methodology: Methodology,
                   draws: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per respondent count n: (positions among the surveyed units, answers (units, n, elements) NaN if blank),
    the smallest surveys first while within EXACT_BOOTSTRAP_BUDGET."""
    if small is None or small.is_empty():
        return []
    elements = methodology.survey.element_codes
    positions = survey.select(*UNIT_KEY).with_row_index("position")
    rows = small.join(positions, on=UNIT_KEY, how="inner", maintain_order="left")
    counts = (rows.group_by("position", maintain_order=True).agg(n=pl.len()).sort("n", "position")
              .filter((pl.col("n").cum_sum() * len(elements) * draws) <= EXACT_BOOTSTRAP_BUDGET))
    rows = rows.join(counts.select("position"), on="position", how="semi", maintain_order="left")
    groups = []
    for n in sorted(counts["n"].unique().to_list()):
        chosen = counts.filter(pl.col("n") == n)["position"]
        answers = (rows.join(pl.DataFrame({"position": chosen}), on="position", how="semi", maintain_order="left")
                   .sort("position", maintain_order=True).select(pl.col(elements).cast(pl.Float64))
                   .to_numpy().reshape(chosen.len(), n, len(elements)))
        groups.append((chosen.to_numpy().astype(np.int64), answers))
    return groups


def _resampled_ikm(keys: np.ndarray, first: int, answers: np.ndarray, draws: int, factor: float,
                   fallback: np.ndarray) -> np.ndarray:
    """IKM of `draws` resamples (with replacement, n of n) of each unit's respondents: factor · Σ_u NRR_u,
    each unit's picks from its own stream (`keys`).

    A resample in which an element has no answer at all has no IKM; it keeps the normal-limit draw.
    """
    units, n, _ = answers.shape
    picks = unit_streams.integers(keys, first, draws, n, n)
    drawn = answers[np.arange(units)[None, :, None], picks]  # (draws, units, n, elements)
    answered = ~np.isnan(drawn)
    sums, counts = np.nansum(drawn, axis=2), answered.sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = factor * (sums / counts).sum(axis=2)
    return np.where(np.isfinite(value), value, fallback)


def modelled_unit_awards(methodology: Methodology) -> list[Award]:
    """Unit awards the draws recompute (most improved is not drawn: it needs the previous cycle drawn too)."""
    return [a for a in methodology.awards if a.subject == "unit" and a.rule in ("predicate", "top_n_per_type")]


def modelled_region_awards(methodology: Methodology) -> list[Award]:
    """Body awards the draws recompute: by roll-up predicate, with the lokus coverage as published."""
    return [a for a in methodology.awards if a.subject == "region" and a.rule == "predicate"]


def _held_unit_awards(bands: np.ndarray, cents: np.ndarray, units: _Units, methodology: Methodology,
                      codes: list[str]) -> dict[str, np.ndarray]:
    """Per award, (draws, U) booleans: held in the draw, by the award rules of `transforms.awards`."""
    held = {}
    for award in modelled_unit_awards(methodology):
        if award.rule == "predicate":
            wanted = np.array([c in award.predicates for c in codes])
            held[award.code] = units.eligible[None, :] & wanted[bands]
        else:  # top_n_per_type: rank among eligible units at or above min_predicate, per unit type
            cut = methodology.predicate_rank(award.min_predicate) if award.min_predicate else len(codes) - 1
            pool = units.eligible[None, :] & (bands <= cut)
            ranks = _ranks(cents, units.type_index, pool)
            held[award.code] = pool & (ranks >= 1) & (ranks <= award.top_n)
    return held


@dataclass
class _Regions:
    frame: pl.DataFrame
    starts: np.ndarray  # segment starts of each region's scored units (units are sorted by region)
    weights: np.ndarray  # roll-up weight per unit
    den: np.ndarray  # per region: Σ weight · unit denominator (constant over draws)
    category_index: np.ndarray
    covered: dict[str, np.ndarray]
    published: np.ndarray


def _region_arrays(regions: pl.DataFrame, units: _Units, methodology: Methodology, lookup: np.ndarray,
                   unit_den: int) -> _Regions:
    region_of = units.frame["region_code"].to_numpy()
    codes, starts = np.unique(region_of, return_index=True)
    frame = (pl.DataFrame({"region_code": codes.astype(str)})
             .join(regions, on="region_code", how="left").sort("region_code"))
    if methodology.rollup_method == "weighted":
        weights = units.frame[methodology.rollup_weight_column].cast(pl.Int64).fill_null(0).to_numpy()
    else:
        weights = np.ones(units.frame.height, dtype=np.int64)
    den = np.add.reduceat(weights * unit_den, starts) if starts.size else np.zeros(0, dtype=np.int64)
    categories = frame["category"].fill_null("").to_list()
    category_codes = {c: n for n, c in enumerate(sorted(set(categories)))}
    coverage = {a.code: frame.select(covered(a).fill_null(False)).to_series().to_numpy()
                for a in modelled_region_awards(methodology)}
    return _Regions(frame=frame, starts=starts, weights=weights, den=den,
                    category_index=np.array([category_codes[c] for c in categories], dtype=np.int32),
                    covered=coverage,
                    published=lookup[np.clip(frame["ipp_cents"].fill_null(0).to_numpy(), 0, lookup.size - 1)])


def _f03_arrays(units: pl.DataFrame, spread: pl.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """Per scored unit: its published F-03 mean (NaN without answers) and the bootstrap sd of it (0 unknown)."""
    sd = units.select(UNIT_KEY).join(spread, on=UNIT_KEY, how="left", maintain_order="left")["f03_sd"] \
        if spread is not None else pl.Series([None] * units.height, dtype=pl.Float64)
    n = units["n_f03_answers"].fill_null(0).cast(pl.Float64).to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = units["f03_sum"].fill_null(0).cast(pl.Float64).to_numpy() / n
    return mean, sd.fill_null(0.0).to_numpy()


def robustness(units: pl.DataFrame, regions: pl.DataFrame, inputs: RobustnessInputs, methodology: Methodology,
               settings: Robustness | None = None) -> RobustnessTables:
    """Draw, recompute and count: the `unit_robustness` and `region_robustness` rows of a cycle.

    `units` and `regions` are the release's scored frames (`transforms.cycle.score_cycle`: with
    `ipp_cents`, `eligible`, `rank_in_type`, `ikm_cents`; regions with `ipp_cents`, `rank`, `category`,
    `n_units`, `n_units_scored`).
    """
    settings = settings or methodology.robustness
    if settings is None:
        raise ValueError(f"{methodology.source or methodology.cycle}: no [robustness] settings")
    d = unit_scores.evaluator_denominator(methodology)
    unit_den = WEIGHT_TOTAL * 100 * d
    lookup, codes = _band_lookup(methodology.predicates, methodology.score_max * 100)
    mutu_lookup, _ = _band_lookup(methodology.survey.mutu, methodology.survey.scale
                                           * methodology.survey.answer_max * 100)
    u = _unit_arrays(units, inputs, methodology, lookup, settings.evaluator_spread)
    r = _region_arrays(regions, u, methodology, lookup, unit_den)
    blend = blend_of(u.frame, methodology, unit_den)
    f03_mean, f03_sd = _f03_arrays(u.frame, inputs.f03) if blend is not None else (None, None)
    base_weights = np.array([a.weight for a in methodology.aspects], dtype=np.int64)
    aspect_of = {a.code: n for n, a in enumerate(methodology.aspects)}
    indicator_matrix = np.zeros((len(methodology.indicators), len(methodology.aspects)), dtype=np.float32)
    for n, indicator in enumerate(methodology.indicators):
        indicator_matrix[n, aspect_of[indicator.aspect]] = indicator.weight
    survey = (u.frame.select(*UNIT_KEY, "row", "ikm_cents")
              .join(inputs.survey, on=UNIT_KEY, how="inner").sort("row"))
    survey_rows = survey["row"].to_numpy()
    survey_mean, survey_sd = survey["ikm_value"].to_numpy(), survey["ikm_sd"].to_numpy()
    ikm_floor = methodology.survey.scale * methodology.survey.answer_min
    ikm_top = methodology.survey.scale * methodology.survey.answer_max
    survey_published = mutu_lookup[np.clip(survey["ikm_cents"].to_numpy(), 0, mutu_lookup.size - 1)]
    small_groups = _small_surveys(inputs.small_surveys, survey, methodology, settings.draws)
    weight_num, weight_den = methodology.survey.element_weight()
    ikm_factor = methodology.survey.scale * weight_num / weight_den

    n_units, n_regions, draws = u.frame.height, r.frame.height, settings.draws
    # Weights: one draw for all units, from a sequential stream. The rest: each unit's own stream, so a
    # unit's draws do not change when other units are added (see transforms/unit_streams.py).
    weight_stream = np.random.default_rng(np.random.SeedSequence([settings.seed, _STREAMS["weights"]]))
    evaluator_keys = unit_streams.unit_keys(u.frame, UNIT_KEY, settings.seed, _STREAMS["evaluators"])
    survey_keys = unit_streams.unit_keys(survey, UNIT_KEY, settings.seed, _STREAMS["survey"])
    respondent_keys = unit_streams.unit_keys(survey, UNIT_KEY, settings.seed, _STREAMS["respondents"])
    f03_keys = unit_streams.unit_keys(u.frame, UNIT_KEY, settings.seed, _STREAMS["f03"]) if blend is not None \
        else None
    unit_tally = Tally({s: np.zeros(n_units, np.int64) for s in SCENARIOS}, {})
    region_tally = Tally({s: np.zeros(n_regions, np.int64) for s in SCENARIOS}, {})
    unit_ranks = np.zeros((draws, n_units), dtype=np.int32)
    region_ranks = np.zeros((draws, n_regions), dtype=np.int32)
    mutu_held = np.zeros(survey_rows.size, dtype=np.int64)
    ikm_cents_drawn = np.zeros((draws, survey_rows.size), dtype=np.int16)
    published_unit_awards = _published_awards(u, methodology, codes, unit_den, base_weights, blend)
    published_region_awards = _published_region_awards(r, u, methodology, lookup, unit_den, base_weights)

    for start in range(0, draws, CHUNK_DRAWS):
        size = min(CHUNK_DRAWS, draws - start)
        drawn = _evaluator_draw(evaluator_keys, start, u, size, settings.evaluator_spread, d, indicator_matrix,
                                (methodology.score_min, methodology.score_max))
        weights = _weights(weight_stream, base_weights, settings.weight_spread, size)
        fixed = (base_weights * (WEIGHT_TOTAL // 100))
        nums = {
            "all": np.einsum("cua,ca->cu", drawn, weights),
            "evaluators": drawn @ fixed,
            "weights": (u.base @ weights.T).T,
        }
        blends = dict.fromkeys(nums, blend)
        if blend is not None:  # the citizens' F-03 sample is drawn too: with all sources, and alone ("survey")
            drawn_f03 = drawn_blend(blend, f03_mean, f03_sd, f03_keys, start, size, methodology, unit_den)
            nums["survey"] = np.broadcast_to(u.base @ fixed, (size, n_units))
            blends["all"] = blends["survey"] = drawn_f03
        for scenario, num in nums.items():
            blend_now = blends[scenario]
            cents = unit_cents(num, blend_now, unit_den)
            bands = lookup[np.clip(cents, 0, lookup.size - 1)]
            unit_tally.predicate[scenario] += (bands == u.published[None, :]).sum(axis=0)
            for code, held in _held_unit_awards(bands, cents, u, methodology, codes).items():
                unit_tally.awards.setdefault((scenario, code), np.zeros(n_units, np.int64))
                unit_tally.awards[(scenario, code)] += held.sum(axis=0)
            if scenario == "all":
                unit_ranks[start:start + size] = _ranks(cents, u.type_index)
            if n_regions:
                if blend_now is None:
                    region_num = np.add.reduceat(num * r.weights[None, :], r.starts, axis=1)
                    region_cents = cents_of(region_num, r.den[None, :])
                else:
                    region_cents = body_cents_of_fractions(blended(num, blend_now), blend_now.den, r.starts,
                                                           r.weights)
                region_bands = lookup[np.clip(region_cents, 0, lookup.size - 1)]
                region_tally.predicate[scenario] += (region_bands == r.published[None, :]).sum(axis=0)
                for award in modelled_region_awards(methodology):
                    wanted = np.array([c in award.predicates for c in codes])
                    held = wanted[region_bands] & r.covered[award.code][None, :]
                    region_tally.awards.setdefault((scenario, award.code), np.zeros(n_regions, np.int64))
                    region_tally.awards[(scenario, award.code)] += held.sum(axis=0)
                if scenario == "all":
                    region_ranks[start:start + size] = _ranks(region_cents, r.category_index)
        # Without a blend the survey moves the IKM and its mutu only: IPP, predicates, ranks and awards stay.
        for scenario in () if blend is not None else ("survey",):
            unit_tally.predicate[scenario] += size
            region_tally.predicate[scenario] += size
            for code in published_unit_awards:
                unit_tally.awards.setdefault((scenario, code), np.zeros(n_units, np.int64))
                unit_tally.awards[(scenario, code)] += size * published_unit_awards[code]
            for code in published_region_awards:
                region_tally.awards.setdefault((scenario, code), np.zeros(n_regions, np.int64))
                region_tally.awards[(scenario, code)] += size * published_region_awards[code]
        if survey_rows.size:
            noise = unit_streams.normals(survey_keys, start, size)
            ikm = np.clip(survey_mean[None, :] + noise * survey_sd[None, :], ikm_floor, ikm_top)
            for positions, answers in small_groups:  # resampled respondents: exact bootstrap
                ikm[:, positions] = _resampled_ikm(respondent_keys[positions], start, answers, size, ikm_factor,
                                                   ikm[:, positions])
            ikm_cents = cents_of(np.rint(ikm * IKM_PRECISION).astype(np.int64), IKM_PRECISION)
            ikm_cents_drawn[start:start + size] = ikm_cents
            mutu_held += (mutu_lookup[ikm_cents] == survey_published[None, :]).sum(axis=0)

    unit_rows = unit_table(u.frame, u.mode, unit_tally, unit_ranks, published_unit_awards, methodology, settings,
                           draws, survey_rows, mutu_held, ikm_cents_drawn)
    region_rows = region_table(r.frame, region_tally, region_ranks, published_region_awards, methodology, settings,
                               draws)
    return RobustnessTables(unit_rows, region_rows)


def _published_awards(u: _Units, methodology: Methodology, codes: list[str], unit_den: int,
                      base_weights: np.ndarray, blend: Blend | None) -> dict[str, np.ndarray]:
    """The awards each unit holds in the release, by the same rules as the draws (a draw of nothing)."""
    num = (u.base @ (base_weights * (WEIGHT_TOTAL // 100)))[None, :]
    cents = unit_cents(num, blend, unit_den)
    bands = np.broadcast_to(u.published, cents.shape)
    return {code: held[0] for code, held in _held_unit_awards(bands, cents, u, methodology, codes).items()}


def _published_region_awards(r: _Regions, u: _Units, methodology: Methodology, lookup: np.ndarray, unit_den: int,
                             base_weights: np.ndarray) -> dict[str, np.ndarray]:
    codes = [b.code for b in methodology.predicates]
    return {a.code: np.array([c in a.predicates for c in codes])[r.published] & r.covered[a.code]
            for a in modelled_region_awards(methodology)}


def robustness_applies(scored: dict[str, pl.DataFrame], methodology: Methodology) -> bool:
    """Whether a release has draws: the methodology has `[robustness]` and some unit is scored."""
    units = scored["unit_scores"]
    return methodology.robustness is not None and not units.filter(pl.col("status") == STATUS_SCORED).is_empty()


def cycle_robustness(inputs: CycleInputs, scored: dict[str, pl.DataFrame], methodology: Methodology,
                     prepared: RobustnessInputs | None = None) -> dict[str, pl.DataFrame]:
    """The release's `unit_robustness` and `region_robustness` from its inputs and its scored tables.

    `prepared`: the engine's inputs when already at hand (kept per submission), else computed from the rows.
    """
    if not robustness_applies(scored, methodology):
        tables = empty_tables()
    else:
        engine_inputs = prepared or robustness_inputs(inputs.evaluations, inputs.responses, methodology,
                                                      inputs.f03_responses)
        tables = robustness(scored["unit_scores"], scored["region_scores"], engine_inputs, methodology)
    return as_release_tables(tables)
