"""A methodology mapping (read from `data/methodology/<cycle>.toml`) checked and typed into a `Methodology`.

Every key is required and every key must be one this code acts on: a missing key is an error naming
the key and the file, and so is an unknown one (a misspelt switch would otherwise be silently ignored).
The code holds no figure of the methodology, not even as a default.
"""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from functools import reduce
from typing import Any

from transforms.methodology import (
    AWARD_RULES,
    BODY_CATEGORIES,
    COMPLIANCE_DIMENSIONS,
    LOKUS_TIERS,
    ROLLUP_METHODS,
    SAMPLE_RULES,
    WEIGHT_MODES,
    WITHOUT_F03,
    Aspect,
    Award,
    Band,
    Disagreement,
    Indicator,
    Limits,
    Methodology,
    MethodologyError,
    Ombudsman,
    Robustness,
    Survey,
    SurveyElement,
)


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if not isinstance(mapping, dict):
        raise MethodologyError(f"{where}: expected a table, got {mapping!r}")
    if key not in mapping:
        raise MethodologyError(f"{where}: missing '{key}'")
    return mapping[key]


def _known(mapping: dict[str, Any], allowed: set[str] | tuple[str, ...], where: str) -> dict[str, Any]:
    """The mapping itself, once no key is one this code would ignore."""
    if not isinstance(mapping, dict):
        raise MethodologyError(f"{where}: expected a table, got {mapping!r}")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise MethodologyError(f"{where}: unknown key(s) {unknown}; this version acts on {sorted(allowed)}")
    return mapping


def _bool(mapping: dict[str, Any], key: str, where: str) -> bool:
    value = _require(mapping, key, where)
    if not isinstance(value, bool):
        raise MethodologyError(f"{where}: '{key}' must be true or false, got {value!r}")
    return value


def _share(value: Any, where: str) -> Fraction:
    """A share 0..1 written as a number ("1.0", 0.8), kept exact."""
    try:
        share = Fraction(Decimal(str(value)))
    except (InvalidOperation, ValueError) as err:
        raise MethodologyError(f"{where}: {value!r} is not a number") from err
    if not 0 <= share <= 1:
        raise MethodologyError(f"{where}: {value!r} is not a share between 0 and 1")
    return share


def _cents(value: Any, where: str) -> int:
    """A bound written as text ("4.51") or number, as exact integer hundredths."""
    try:
        exact = Decimal(str(value))
    except InvalidOperation as err:
        raise MethodologyError(f"{where}: {value!r} is not a number") from err
    cents = exact * 100
    if cents != cents.to_integral_value():
        raise MethodologyError(f"{where}: bound {value} has more than 2 decimals")
    return int(cents)


def _bands(rows: list[dict[str, Any]], where: str, *, zoned: bool) -> tuple[Band, ...]:
    keys = ("lower", "code", "label", "zone") if zoned else ("lower", "code", "label")
    bands = tuple(
        Band(
            lower_cents=_cents(_require(r, "lower", f"{where}[{n}]"), f"{where}[{n}]"),
            code=str(_require(r, "code", f"{where}[{n}]")),
            label=str(_require(r, "label", f"{where}[{n}]")),
            zone=str(_require(r, "zone", f"{where}[{n}]")) if zoned else "",
        )
        for n, r in enumerate(_known(row, keys, f"{where}[{n}]") for n, row in enumerate(rows))
    )
    if not bands:
        raise MethodologyError(f"{where}: no bands")
    if [b.lower_cents for b in bands] != sorted((b.lower_cents for b in bands), reverse=True):
        raise MethodologyError(f"{where}: bands must be listed from the highest lower bound down")
    if bands[-1].lower_cents != 0:
        raise MethodologyError(f"{where}: the lowest band must start at 0")
    return bands


def _aspects(rows: list[dict[str, Any]], source: str) -> tuple[Aspect, ...]:
    aspects = []
    for n, row in enumerate(rows):
        where = f"{source}: aspects[{n}]"
        code = str(_require(_known(row, ("code", "name", "weight", "indicators"), where), "code", where))
        indicators = tuple(
            Indicator(
                code=str(_require(i, "code", f"{where}.indicators[{k}]")),
                name=str(_require(i, "name", f"{where}.indicators[{k}]")),
                weight=int(_require(i, "weight", f"{where}.indicators[{k}]")),
                aspect=code,
            )
            for k, i in enumerate(_known(i, ("code", "name", "weight"), f"{where}.indicators[{k}]")
                                  for k, i in enumerate(_require(row, "indicators", where)))
        )
        if sum(i.weight for i in indicators) != 100:
            raise MethodologyError(f"{where} ({code}): indicator weights sum to "
                                   f"{sum(i.weight for i in indicators)}, not 100")
        aspects.append(Aspect(code, str(_require(row, "name", where)), int(_require(row, "weight", where)),
                              indicators))
    if sum(a.weight for a in aspects) != 100:
        raise MethodologyError(f"{source}: aspect weights sum to {sum(a.weight for a in aspects)}, not 100")
    codes = [i.code for a in aspects for i in a.indicators]
    if len(set(codes)) != len(codes):
        raise MethodologyError(f"{source}: an indicator code appears twice")
    return tuple(aspects)


SURVEY_KEYS = ("weight_mode", "answer_min", "answer_max", "scale", "window_start", "window_end", "sample_rule",
               "elements", "sample_table", "mutu")


def _sample_table(raw: Any, where: str) -> tuple[tuple[int, int], ...]:
    try:
        table = tuple((int(n), int(s)) for n, s in raw)
    except (TypeError, ValueError) as err:
        raise MethodologyError(f"{where}: sample_table rows must be [population, sample] pairs ({err})") from err
    if not table:
        raise MethodologyError(f"{where}: sample_table is empty")
    populations = [n for n, _ in table]
    if populations != sorted(set(populations)):
        raise MethodologyError(f"{where}: sample_table must be sorted by population, each population once")
    samples = [s for _, s in table]
    if samples != sorted(samples) or any(s > n or s < 1 for n, s in table):
        raise MethodologyError(f"{where}: sample_table samples must grow with the population, between 1 and N")
    return table


def _survey(raw: dict[str, Any], source: str) -> Survey:
    where = f"{source}: [survey]"
    _known(raw, SURVEY_KEYS, where)
    mode = str(_require(raw, "weight_mode", where))
    if mode not in WEIGHT_MODES:
        raise MethodologyError(f"{where}: weight_mode {mode!r} is not one of {', '.join(WEIGHT_MODES)}")
    rule = str(_require(raw, "sample_rule", where))
    if rule not in SAMPLE_RULES:
        raise MethodologyError(f"{where}: sample_rule {rule!r} is not one of {', '.join(SAMPLE_RULES)}")
    try:
        start = date.fromisoformat(str(_require(raw, "window_start", where)))
        end = date.fromisoformat(str(_require(raw, "window_end", where)))
    except ValueError as err:
        raise MethodologyError(f"{where}: survey window: {err}") from err
    elements = []
    for n, element in enumerate(_require(raw, "elements", where)):
        at = f"{where}.elements[{n}]"
        _known(element, ("code", "name"), at)
        elements.append(SurveyElement(str(_require(element, "code", at)), str(_require(element, "name", at))))
    return Survey(
        weight_mode=mode,  # type: ignore[arg-type]
        answer_min=int(_require(raw, "answer_min", where)),
        answer_max=int(_require(raw, "answer_max", where)),
        scale=int(_require(raw, "scale", where)),
        window_start=start,
        window_end=end,
        elements=tuple(elements),
        sample_table=_sample_table(_require(raw, "sample_table", where), where),
        mutu=_bands(_require(raw, "mutu", where), f"{where}.mutu", zoned=False),
    )


AWARD_KEYS = {
    # (subject, rule): the keys that award acts on besides code, label, subject and rule
    ("unit", "predicate"): ("predicates",),
    ("unit", "top_n_per_type"): ("top_n", "min_predicate"),
    ("unit", "most_improved"): ("top_n", "min_predicate"),
    ("region", "predicate"): ("predicates", "min_scored_share", "categories"),
}


def _awards(rows: list[dict[str, Any]], predicate_codes: set[str], source: str) -> tuple[Award, ...]:
    awards = []
    for n, row in enumerate(rows):
        where = f"{source}: awards[{n}]"
        rule = str(_require(row, "rule", where))
        if rule not in AWARD_RULES:
            raise MethodologyError(f"{where}: rule {rule!r} is not one of {', '.join(AWARD_RULES)}")
        subject = str(_require(row, "subject", where))
        if (subject, rule) not in AWARD_KEYS:
            raise MethodologyError(f"{where}: subject {subject!r} with rule {rule!r} is not supported (supported: "
                                   f"{', '.join(f'{s}/{r}' for s, r in AWARD_KEYS)})")
        keys = AWARD_KEYS[(subject, rule)]
        _known(row, ("code", "label", "subject", "rule", *keys), where)
        award = Award(
            code=str(_require(row, "code", where)),
            label=str(_require(row, "label", where)),
            subject=subject,  # type: ignore[arg-type]
            rule=rule,  # type: ignore[arg-type]
            predicates=tuple(str(p) for p in _require(row, "predicates", where)) if "predicates" in keys else (),
            top_n=int(_require(row, "top_n", where)) if "top_n" in keys else 0,
            min_predicate=str(_require(row, "min_predicate", where)) if "min_predicate" in keys else "",
            min_scored_share=(_share(_require(row, "min_scored_share", where), f"{where}: min_scored_share")
                              if "min_scored_share" in keys else None),
            categories=tuple(str(c) for c in _require(row, "categories", where)) if "categories" in keys else (),
        )
        if "categories" in keys and (not award.categories or set(award.categories) - set(BODY_CATEGORIES)):
            raise MethodologyError(f"{where}: categories must be a non-empty list of {', '.join(BODY_CATEGORIES)}")
        unknown = {*award.predicates, *([award.min_predicate] if award.min_predicate else [])} - predicate_codes
        if unknown:
            raise MethodologyError(f"{where}: unknown predicate(s) {sorted(unknown)}")
        if "top_n" in keys and award.top_n < 1:
            raise MethodologyError(f"{where}: top_n must be at least 1")
        awards.append(award)
    codes = [a.code for a in awards]
    if len(set(codes)) != len(codes):
        raise MethodologyError(f"{source}: an award code appears twice")
    return tuple(awards)


TOP_KEYS = ("cycle", "scores", "rounding", "rollup", "f03", "limits", "aspects", "predicates", "survey",
            "eligibility", "awards", "robustness", "lokus", "ombudsman")
OMBUDSMAN_KEYS = ("weights", "opinions", "disagreements")


def _ombudsman(raw: Any, predicates: tuple[Band, ...], source: str) -> Ombudsman | None:
    """`[ombudsman]`, optional: dimension weights (optional: a scheme without dimensions gives final scores),
    opinion categories with zones, and what counts as the two verdicts disagreeing."""
    if raw is None:
        return None
    where = f"{source}: [ombudsman]"
    _known(raw, OMBUDSMAN_KEYS, where)
    weights = None
    if "weights" in raw:  # optional by design: the 2021 scheme published final scores only
        table = _known(raw["weights"], COMPLIANCE_DIMENSIONS, f"{where} weights")
        weights = tuple((d, _cents(_require(table, d, f"{where} weights"), f"{where} weights.{d}"))
                        for d in COMPLIANCE_DIMENSIONS)
        if sum(w for _, w in weights) != 100 * 100:
            total = sum(w for _, w in weights)
            raise MethodologyError(f"{where} weights sum to {total // 100}.{total % 100:02d}, not 100.00")
    opinions = _bands(_require(raw, "opinions", where), f"{where}.opinions", zoned=True)
    if any(b.lower_cents > 100 * 100 for b in opinions):
        raise MethodologyError(f"{where}.opinions: a lower bound above 100.00")
    letters = [b.code for b in opinions if b.code]
    if (letters and len(letters) != len(opinions)) or len(set(letters)) != len(letters):
        raise MethodologyError(f"{where}.opinions: give every category its own code, or none a code (zones only)")
    zones = {b.zone for b in opinions}
    disagreements = []
    for n, row in enumerate(_require(raw, "disagreements", where)):
        at = f"{where}.disagreements[{n}]"
        _known(row, ("predicates", "zone"), at)
        rule = Disagreement(tuple(str(p) for p in _require(row, "predicates", at)), str(_require(row, "zone", at)))
        unknown = sorted(set(rule.predicates) - {b.code for b in predicates})
        if unknown or not rule.predicates:
            raise MethodologyError(f"{at}: predicates must be predicate codes of the cycle (unknown: {unknown})")
        if rule.zone not in zones:
            raise MethodologyError(f"{at}: zone {rule.zone!r} is not a zone of the opinions ({sorted(zones)})")
        disagreements.append(rule)
    return Ombudsman(weights, opinions, tuple(disagreements))
ROBUSTNESS_KEYS = ("draws", "seed", "evaluator_spread", "weight_spread", "threshold")


def _robustness(raw: Any, source: str) -> Robustness | None:
    """`[robustness]`, optional: without it the cycle publishes no robustness figures (never default ones)."""
    if raw is None:
        return None
    where = f"{source}: [robustness]"
    _known(raw, ROBUSTNESS_KEYS, where)
    settings = Robustness(
        draws=int(_require(raw, "draws", where)), seed=int(_require(raw, "seed", where)),
        evaluator_spread=float(_require(raw, "evaluator_spread", where)),
        weight_spread=float(_require(raw, "weight_spread", where)),
        threshold=float(_require(raw, "threshold", where)),
    )
    if settings.draws < 1:
        raise MethodologyError(f"{where} draws must be at least 1")
    if not 0 <= settings.evaluator_spread <= 1 or not 0 <= settings.threshold <= 1:
        raise MethodologyError(f"{where} evaluator_spread and threshold are shares between 0 and 1")
    if not 0 <= settings.weight_spread < 1:
        raise MethodologyError(f"{where} weight_spread must be at least 0 and below 1")
    return settings


def _lokus(raw: Any, unit_types: tuple[str, ...], source: str) -> tuple[tuple[str, tuple[str, ...]], ...] | None:
    """`[lokus]`, optional: per tier the unit types evaluated; each a unit type of the cycle, each tier listed."""
    if raw is None:
        return None
    where = f"{source}: [lokus]"
    _known(raw, LOKUS_TIERS, where)
    lokus = []
    for tier in LOKUS_TIERS:
        types = _require(raw, tier, where)
        if not isinstance(types, list) or not types:
            raise MethodologyError(f"{where} {tier} must be a non-empty list of unit types")
        unknown = sorted({str(t) for t in types} - set(unit_types))
        if unknown:
            raise MethodologyError(f"{where} {tier}: {unknown} not in [cycle] unit_types")
        if len(set(types)) != len(types):
            raise MethodologyError(f"{where} {tier}: a unit type is listed twice")
        lokus.append((tier, tuple(str(t) for t in types)))
    return tuple(lokus)


F03_KEYS = ("enabled", "f02_weight", "f03_weight", "without_f03")
INT128_MAX = 2**127 - 1
COUNT_MAX = 2**63 - 1
"""The largest count of F-03 answers a unit can have (a row count, Int64)."""


def _f03(raw: Any, scores: dict[str, Any], source: str) -> tuple[bool, tuple[int, int], Any]:
    """`[f03]`: the citizen form blend. `without_f03` is required when enabled (optional when off).

    The blend is computed exactly in Int128 (`transforms.f03_scores`): a unit's numerator is at most
    100·score_max·Dp·n and the rounding step adds 200·that + the denominator 100·Dp·n, with
    Dp = 100·100·lcm(1..max_evaluators) and n < 2^63 answers. The file is refused when that bound
    could pass Int128, so no cycle can overflow silently.
    """
    where = f"{source}: [f03]"
    _known(raw, F03_KEYS, where)
    weights = (int(_require(raw, "f02_weight", where)), int(_require(raw, "f03_weight", where)))
    if sum(weights) != 100:
        raise MethodologyError(f"{where} f02_weight + f03_weight must be 100, got {sum(weights)}")
    if min(weights) < 0:
        raise MethodologyError(f"{where} f02_weight and f03_weight must not be negative, got {weights}")
    enabled = _bool(raw, "enabled", where)
    without = raw.get("without_f03")  # optional while the blend is off: it acts on nothing then
    if enabled and without is None:
        raise MethodologyError(f"{where} enabled = true needs without_f03 (one of {', '.join(WITHOUT_F03)}): "
                               "what a unit with no F-03 answer gets")
    if without is not None and without not in WITHOUT_F03:
        raise MethodologyError(f"{where} without_f03 {without!r} is not one of {', '.join(WITHOUT_F03)}")
    if enabled:
        score_max = int(_require(scores, "max", f"{source}: [scores]"))
        max_evaluators = int(_require(scores, "max_evaluators", f"{source}: [scores]"))
        dp = 100 * 100 * reduce(math.lcm, range(1, max_evaluators + 1), 1)
        if (200 * 100 * score_max + 1) * 100 * dp * COUNT_MAX > INT128_MAX:
            raise MethodologyError(f"{where} the exact blend needs (20000·score_max + 1)·100·Dp·2^63 within Int128; "
                                   f"score_max {score_max} with max_evaluators {max_evaluators} passes it")
    return enabled, weights, without if enabled else None


def parse_methodology(raw: dict[str, Any], *, cycle: str, source: str = "", sha256: str = "") -> Methodology:
    """Check and type a methodology mapping; every inconsistency is a `MethodologyError`."""
    source = source or f"methodology {cycle}"
    try:
        _known(raw, TOP_KEYS, source)
        head = _known(_require(raw, "cycle", source), ("id", "status", "closes_at", "regulation", "unit_types"),
                      f"{source}: [cycle]")
        if str(_require(head, "id", f"{source}: [cycle]")) != cycle:
            raise MethodologyError(f"{source}: [cycle] id is {head['id']!r}, expected {cycle!r}")
        status = str(_require(head, "status", f"{source}: [cycle]"))
        if status not in ("open", "closed"):
            raise MethodologyError(f"{source}: [cycle] status must be 'open' or 'closed'")
        scores = _known(_require(raw, "scores", source), ("min", "max", "max_evaluators"), f"{source}: [scores]")
        where = f"{source}: [rollup]"
        rollup = _known(_require(raw, "rollup", source), ("method", "weight_column"), where)
        method = str(_require(rollup, "method", where))
        if method not in ROLLUP_METHODS:
            raise MethodologyError(f"{where} method {method!r} is not one of {ROLLUP_METHODS}")
        weight_column = str(_require(rollup, "weight_column", where))
        if method == "weighted" and not weight_column:
            raise MethodologyError(f"{where} method 'weighted' needs weight_column")
        if method == "mean" and weight_column:
            raise MethodologyError(f"{where} weight_column {weight_column!r} has no effect with method 'mean'; "
                                   "set method = \"weighted\" or weight_column = \"\"")
        where = f"{source}: [rounding]"
        rounding = _known(_require(raw, "rounding", source), ("decimals", "mode"), where)
        if _require(rounding, "mode", where) != "half_up" or int(_require(rounding, "decimals", where)) != 2:
            raise MethodologyError(f"{where} only half_up rounding to 2 decimals is supported")
        predicates = _bands(_require(raw, "predicates", source), f"{source}: predicates", zoned=True)
        closes_at = head.get("closes_at")  # optional by design: an open cycle has no closing time yet
        if isinstance(closes_at, str):
            closes_at = datetime.fromisoformat(closes_at)
        if closes_at is not None and (not isinstance(closes_at, datetime) or closes_at.tzinfo is None):
            raise MethodologyError(f"{source}: [cycle] closes_at must be a date-time with its UTC offset")
        f03_enabled, f03_weights, f03_without = _f03(_require(raw, "f03", source), scores, source)
        in_limits = f"{source}: [limits]"
        limits = _known(_require(raw, "limits", source),
                        ("max_bad_row_share", "zip_max_files", "zip_max_bytes", "zip_max_ratio"), in_limits)
        where = f"{source}: [eligibility]"
        eligibility = _known(_require(raw, "eligibility", source), ("require_complete", "require_survey_sample"),
                             where)
        if not _bool(eligibility, "require_complete", where):
            # An incomplete unit has no IPP (hence no predicate or rank) under this methodology, so there is
            # nothing an award could honour: the switch cannot act, and a file asking otherwise is refused.
            raise MethodologyError(f"{where} require_complete = false is not supported: an incomplete unit has no "
                                   "IPP to honour; set it to true")
        unit_types = tuple(str(t) for t in _require(head, "unit_types", f"{source}: [cycle]"))
        return Methodology(
            cycle=cycle,
            status=status,  # type: ignore[arg-type]
            regulation=str(_require(head, "regulation", f"{source}: [cycle]")),
            unit_types=unit_types,
            score_min=int(_require(scores, "min", f"{source}: [scores]")),
            score_max=int(_require(scores, "max", f"{source}: [scores]")),
            max_evaluators=int(_require(scores, "max_evaluators", f"{source}: [scores]")),
            decimals=2,
            aspects=_aspects(_require(raw, "aspects", source), source),
            predicates=predicates,
            rollup_method=method,  # type: ignore[arg-type]
            rollup_weight_column=weight_column,
            f03_enabled=f03_enabled,
            f03_weights=f03_weights,
            f03_without=f03_without,
            limits=Limits(
                max_bad_row_share=float(_require(limits, "max_bad_row_share", in_limits)),
                zip_max_files=int(_require(limits, "zip_max_files", in_limits)),
                zip_max_bytes=int(_require(limits, "zip_max_bytes", in_limits)),
                zip_max_ratio=int(_require(limits, "zip_max_ratio", in_limits)),
            ),
            survey=_survey(_require(raw, "survey", source), source),
            require_complete=True,
            require_survey_sample=_bool(eligibility, "require_survey_sample", f"{source}: [eligibility]"),
            awards=_awards(_require(raw, "awards", source), {b.code for b in predicates}, source),
            closes_at=closes_at,
            robustness=_robustness(raw.get("robustness"), source),
            lokus=_lokus(raw.get("lokus"), unit_types, source),
            ombudsman=_ombudsman(raw.get("ombudsman"), predicates, source),
            sha256=sha256,
            source=source,
        )
    except (TypeError, KeyError, ValueError) as err:
        if isinstance(err, MethodologyError):
            raise
        raise MethodologyError(f"{source}: malformed ({err})") from err
