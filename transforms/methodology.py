"""The cycle's methodology as one typed, validated object: every figure the computation uses.

Built from the mapping read out of `data/methodology/<cycle>.toml` by `parse_methodology`
(`transforms/methodology_parser.py`, which checks it); the reading itself is I/O and lives in `flows/`.
Bounds are kept as integer hundredths (cents) so band tests are exact. The code holds no figure of the
methodology, not even as a default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from fractions import Fraction
from typing import Literal

WEIGHT_MODES = ("exact", "0.111", "0.11")
AWARD_RULES = ("predicate", "top_n_per_type", "most_improved")
ROLLUP_METHODS = ("mean", "weighted")
SAMPLE_RULES = ("krejcie_morgan",)
LOKUS_TIERS = ("provinsi", "kabupaten_kota", "kl")
BODY_CATEGORIES = ("provinsi", "kabupaten", "kota", "kl")
WITHOUT_F03 = ("not_scored", "f02_only")
"""What a cycle blending F-03 does with a unit that has no F-03 answer (see `[f03] without_f03`)."""
"""The categories bodies are ranked in (and body awards are given in)."""
COMPLIANCE_DIMENSIONS = ("input", "proses", "output", "pengaduan")
"""The Ombudsman compliance assessment's dimensions: the feed's columns and the keys of `[ombudsman] weights`."""


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
    min_scored_share: Fraction | None = None
    """Region awards: the share of the region's units that must be scored (its lokus coverage)."""
    categories: tuple[str, ...] = ()
    """Body awards: the categories whose bodies the award is for (pemda awards: provinsi, kabupaten, kota)."""


@dataclass(frozen=True)
class Robustness:
    """How the uncertainty engine (`transforms.robustness`) draws: `[robustness]` of the methodology file."""

    draws: int
    seed: int
    evaluator_spread: float
    """Units with one evaluator: the chance each indicator score is one point off (half up, half down); 0: off."""
    weight_spread: float
    """Each aspect weight times 1 ± up to this share, renormalised to 100 (COINr-style); 0: off."""
    threshold: float
    """An award held with a lower probability is marked "tidak kokoh" (not robust)."""


@dataclass(frozen=True)
class Disagreement:
    """One way the two verdicts disagree: a PEKPPP predicate among `predicates` with compliance zone `zone`."""

    predicates: tuple[str, ...]
    zone: str


@dataclass(frozen=True)
class Ombudsman:
    """How the Ombudsman's compliance assessment is scored and read beside PEKPPP: `[ombudsman]`."""

    weights: tuple[tuple[str, int], ...] | None
    """(dimension, weight in hundredths of a percent; they sum to 10000); None: the cycle's scores come final."""
    opinions: tuple[Band, ...]
    """Opinion categories on the score (>= lower bounds), each with its zone; a code "" means the cycle's scheme
    has zones but no opinion letters (2021)."""
    disagreements: tuple[Disagreement, ...]

    @property
    def zones(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(b.zone for b in self.opinions))


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
    """(f02_weight, f03_weight) in percent, summing to 100: IPP = (f02_weight·F02 + f03_weight·F03) / 100."""
    limits: Limits
    survey: Survey
    require_complete: bool
    require_survey_sample: bool
    awards: tuple[Award, ...]
    closes_at: datetime | None = None
    robustness: Robustness | None = None
    """None when the file has no `[robustness]` section: no robustness tables are computed."""
    lokus: tuple[tuple[str, tuple[str, ...]], ...] | None = None
    """`[lokus]`: (tier, unit types) for each of LOKUS_TIERS; None: every tier takes every unit type."""
    f03_without: Literal["not_scored", "f02_only"] | None = None
    """With F-03 on: a unit with no F-03 answer is not scored (status no_f03) or keeps its F-02 IPP."""
    ombudsman: Ombudsman | None = None
    """`[ombudsman]`: None when the file has none; a compliance feed of such a cycle is not scored."""
    sha256: str = ""
    source: str = ""

    @property
    def is_open(self) -> bool:
        return self.status == "open"

    def is_late(self, received_at: datetime) -> bool:
        """A bundle is late when the cycle is closed and it arrived after the closing time (if any)."""
        if self.is_open:
            return False
        return self.closes_at is None or received_at > self.closes_at

    def lokus_of(self, tier: str) -> tuple[str, ...] | None:
        """The unit types a body of this tier is evaluated on, or None when the cycle sets no lokus."""
        return None if self.lokus is None else dict(self.lokus)[tier]

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
