"""The cycle's methodology as one typed, validated object: every figure the computation uses.

Built from the mapping read out of `data/methodology/<cycle>.toml`; the reading itself is I/O and
lives in `flows/`. Bounds are kept as integer hundredths (cents) so band tests are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

WEIGHT_MODES = ("exact", "0.111", "0.11")
AWARD_RULES = ("predicate", "top_n_per_type", "most_improved")
ROLLUP_METHODS = ("mean", "weighted")


class MethodologyError(ValueError):
    """A methodology file is missing, malformed or inconsistent; the message says where and what."""


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    weight: int
    aspect: str


@dataclass(frozen=True)
class Aspect:
    code: str
    name: str
    weight: int
    indicators: tuple[Indicator, ...]


@dataclass(frozen=True)
class Band:
    """One band of a >=-lower-bound classification; `lower_cents` is the bound times 100."""

    lower_cents: int
    code: str
    label: str
    zone: str = ""


@dataclass(frozen=True)
class SurveyElement:
    code: str
    name: str


@dataclass(frozen=True)
class Survey:
    weight_mode: Literal["exact", "0.111", "0.11"]
    answer_min: int
    answer_max: int
    scale: int
    window_start: date
    window_end: date
    elements: tuple[SurveyElement, ...]
    sample_table: tuple[tuple[int, int], ...]
    mutu: tuple[Band, ...]

    @property
    def element_codes(self) -> list[str]:
        return [e.code for e in self.elements]

    def element_weight(self) -> tuple[int, int]:
        """The per-element weight as an exact fraction (numerator, denominator)."""
        return {"exact": (1, len(self.elements)), "0.111": (111, 1000), "0.11": (11, 100)}[self.weight_mode]


@dataclass(frozen=True)
class Award:
    code: str
    label: str
    subject: Literal["unit", "region"]
    rule: Literal["predicate", "top_n_per_type", "most_improved"]
    predicates: tuple[str, ...] = ()
    top_n: int = 0
    min_predicate: str = ""


@dataclass(frozen=True)
class Limits:
    max_bad_row_share: float
    zip_max_files: int
    zip_max_bytes: int
    zip_max_ratio: int


@dataclass(frozen=True)
class Methodology:
    """Everything one cycle is computed with; `sha256` identifies the exact file used."""

    cycle: str
    status: Literal["open", "closed"]
    regulation: str
    unit_types: tuple[str, ...]
    score_min: int
    score_max: int
    max_evaluators: int
    decimals: int
    aspects: tuple[Aspect, ...]
    predicates: tuple[Band, ...]
    rollup_method: Literal["mean", "weighted"]
    rollup_weight_column: str
    f03_enabled: bool
    f03_weights: tuple[int, int]
    limits: Limits
    survey: Survey
    require_complete: bool
    require_survey_sample: bool
    awards: tuple[Award, ...]
    closes_at: datetime | None = None
    sha256: str = ""
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def is_late(self, received_at: datetime) -> bool:
        """A bundle is late when the cycle is closed and it arrived after the closing time (if any)."""
        if self.is_open:
            return False
        return self.closes_at is None or received_at > self.closes_at

    @property
    def indicators(self) -> tuple[Indicator, ...]:
        return tuple(i for a in self.aspects for i in a.indicators)

    @property
    def indicator_codes(self) -> list[str]:
        return [i.code for i in self.indicators]

    def predicate_rank(self, code: str) -> int:
        """0 for the best predicate, growing downwards; used for 'at least predicate X' rules."""
        for position, band in enumerate(self.predicates):
            if band.code == code:
                return position
        raise MethodologyError(f"{self.source}: unknown predicate {code!r}")


def _require(mapping: dict[str, Any], key: str, where: str) -> Any:
    if key not in mapping:
        raise MethodologyError(f"{where}: missing '{key}'")
    return mapping[key]


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


def _bands(rows: list[dict[str, Any]], where: str) -> tuple[Band, ...]:
    bands = tuple(
        Band(
            lower_cents=_cents(_require(r, "lower", f"{where}[{n}]"), f"{where}[{n}]"),
            code=str(_require(r, "code", f"{where}[{n}]")),
            label=str(_require(r, "label", f"{where}[{n}]")),
            zone=str(r.get("zone", "")),
        )
        for n, r in enumerate(rows)
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
        code = str(_require(row, "code", where))
        indicators = tuple(
            Indicator(
                code=str(_require(i, "code", f"{where}.indicators")),
                name=str(i.get("name", "")),
                weight=int(_require(i, "weight", f"{where}.indicators")),
                aspect=code,
            )
            for i in _require(row, "indicators", where)
        )
        if sum(i.weight for i in indicators) != 100:
            raise MethodologyError(f"{where} ({code}): indicator weights sum to "
                                   f"{sum(i.weight for i in indicators)}, not 100")
        aspects.append(Aspect(code, str(row.get("name", "")), int(_require(row, "weight", where)), indicators))
    if sum(a.weight for a in aspects) != 100:
        raise MethodologyError(f"{source}: aspect weights sum to {sum(a.weight for a in aspects)}, not 100")
    codes = [i.code for a in aspects for i in a.indicators]
    if len(set(codes)) != len(codes):
        raise MethodologyError(f"{source}: an indicator code appears twice")
    return tuple(aspects)


def _survey(raw: dict[str, Any], source: str) -> Survey:
    where = f"{source}: [survey]"
    mode = str(_require(raw, "weight_mode", where))
    if mode not in WEIGHT_MODES:
        raise MethodologyError(f"{where}: weight_mode {mode!r} is not one of {', '.join(WEIGHT_MODES)}")
    try:
        start = date.fromisoformat(str(_require(raw, "window_start", where)))
        end = date.fromisoformat(str(_require(raw, "window_end", where)))
    except ValueError as err:
        raise MethodologyError(f"{where}: survey window: {err}") from err
    table = tuple((int(n), int(s)) for n, s in _require(raw, "sample_table", where))
    if [n for n, _ in table] != sorted(n for n, _ in table):
        raise MethodologyError(f"{where}: sample_table must be sorted by population")
    return Survey(
        weight_mode=mode,  # type: ignore[arg-type]
        answer_min=int(raw.get("answer_min", 1)),
        answer_max=int(raw.get("answer_max", 4)),
        scale=int(raw.get("scale", 25)),
        window_start=start,
        window_end=end,
        elements=tuple(SurveyElement(str(e["code"]), str(e.get("name", ""))) for e in _require(raw, "elements", where)),
        sample_table=table,
        mutu=_bands(_require(raw, "mutu", where), f"{where}.mutu"),
    )


def _awards(rows: list[dict[str, Any]], predicate_codes: set[str], source: str) -> tuple[Award, ...]:
    awards = []
    for n, row in enumerate(rows):
        where = f"{source}: awards[{n}]"
        rule = str(_require(row, "rule", where))
        if rule not in AWARD_RULES:
            raise MethodologyError(f"{where}: rule {rule!r} is not one of {', '.join(AWARD_RULES)}")
        subject = str(row.get("subject", "unit"))
        if subject not in ("unit", "region"):
            raise MethodologyError(f"{where}: subject must be 'unit' or 'region'")
        award = Award(
            code=str(_require(row, "code", where)),
            label=str(_require(row, "label", where)),
            subject=subject,  # type: ignore[arg-type]
            rule=rule,  # type: ignore[arg-type]
            predicates=tuple(str(p) for p in row.get("predicates", ())),
            top_n=int(row.get("top_n", 0)),
            min_predicate=str(row.get("min_predicate", "")),
        )
        unknown = {*award.predicates, *([award.min_predicate] if award.min_predicate else [])} - predicate_codes
        if unknown:
            raise MethodologyError(f"{where}: unknown predicate(s) {sorted(unknown)}")
        awards.append(award)
    return tuple(awards)


def parse_methodology(raw: dict[str, Any], *, cycle: str, source: str = "", sha256: str = "") -> Methodology:
    """Check and type a methodology mapping; every inconsistency is a `MethodologyError`."""
    source = source or f"methodology {cycle}"
    try:
        head = _require(raw, "cycle", source)
        if str(_require(head, "id", f"{source}: [cycle]")) != cycle:
            raise MethodologyError(f"{source}: [cycle] id is {head['id']!r}, expected {cycle!r}")
        status = str(_require(head, "status", f"{source}: [cycle]"))
        if status not in ("open", "closed"):
            raise MethodologyError(f"{source}: [cycle] status must be 'open' or 'closed'")
        scores = _require(raw, "scores", source)
        rollup = raw.get("rollup", {})
        method = str(rollup.get("method", "mean"))
        if method not in ROLLUP_METHODS:
            raise MethodologyError(f"{source}: [rollup] method {method!r} is not one of {ROLLUP_METHODS}")
        if method == "weighted" and not rollup.get("weight_column"):
            raise MethodologyError(f"{source}: [rollup] method 'weighted' needs weight_column")
        rounding = raw.get("rounding", {})
        if rounding.get("mode", "half_up") != "half_up" or int(rounding.get("decimals", 2)) != 2:
            raise MethodologyError(f"{source}: only half_up rounding to 2 decimals is supported")
        predicates = _bands(_require(raw, "predicates", source), f"{source}: predicates")
        closes_at = head.get("closes_at")
        if isinstance(closes_at, str):
            closes_at = datetime.fromisoformat(closes_at)
        if closes_at is not None and (not isinstance(closes_at, datetime) or closes_at.tzinfo is None):
            raise MethodologyError(f"{source}: [cycle] closes_at must be a date-time with its UTC offset")
        f03 = raw.get("f03", {})
        if f03.get("enabled", False):
            # The contract has no F-03 (citizen form) table yet: publishing F-02-only IPPs under a methodology
            # that asks for a blend would be wrong numbers, so the cycle is refused until the table exists.
            raise MethodologyError(f"{source}: [f03] enabled = true, but this version has no F-03 input table to "
                                   "blend (see README, known gaps); set enabled = false or add F-03 support")
        limits = raw.get("limits", {})
        eligibility = raw.get("eligibility", {})
        return Methodology(
            cycle=cycle,
            status=status,  # type: ignore[arg-type]
            regulation=str(head.get("regulation", "")),
            unit_types=tuple(str(t) for t in _require(head, "unit_types", f"{source}: [cycle]")),
            score_min=int(_require(scores, "min", f"{source}: [scores]")),
            score_max=int(_require(scores, "max", f"{source}: [scores]")),
            max_evaluators=int(scores.get("max_evaluators", 12)),
            decimals=2,
            aspects=_aspects(_require(raw, "aspects", source), source),
            predicates=predicates,
            rollup_method=method,  # type: ignore[arg-type]
            rollup_weight_column=str(rollup.get("weight_column", "")),
            f03_enabled=bool(f03.get("enabled", False)),
            f03_weights=(int(f03.get("f02_weight", 75)), int(f03.get("f03_weight", 25))),
            limits=Limits(
                max_bad_row_share=float(limits.get("max_bad_row_share", 0.1)),
                zip_max_files=int(limits.get("zip_max_files", 64)),
                zip_max_bytes=int(limits.get("zip_max_bytes", 2**31)),
                zip_max_ratio=int(limits.get("zip_max_ratio", 200)),
            ),
            survey=_survey(_require(raw, "survey", source), source),
            require_complete=bool(eligibility.get("require_complete", True)),
            require_survey_sample=bool(eligibility.get("require_survey_sample", True)),
            awards=_awards(raw.get("awards", []), {b.code for b in predicates}, source),
            closes_at=closes_at,
            sha256=sha256,
            source=source,
        )
    except (TypeError, KeyError, ValueError) as err:
        if isinstance(err, MethodologyError):
            raise
        raise MethodologyError(f"{source}: malformed ({err})") from err
