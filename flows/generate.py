"""Synthetic submissions for a cycle: realistic bundles in the landing-zone layout, optionally with defects.

`pekppp generate` and the demo use this to fill a landing zone the way regions would: real region
codes and names, plausible unit names per unit type, F-02 scores around a per-unit latent quality
(so predicates spread over the bands), SKM answers consistent with that quality, and, when asked,
a known share of deliberately bad bundles and rows whose every injection is recorded so tests can
check that the pipeline catches them.

Everything the methodology defines (unit types, indicators, weights, score and answer ranges,
survey elements and window) is read from the `Methodology` object. The numbers below are only the
generator's idea of a realistic population. Output is a pure function of the arguments: randomness
comes from numpy generators seeded by (seed, cycle, region, purpose), never from the clock, so the
same arguments give byte-identical files, and a region's data does not depend on which other
regions were picked.
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import polars as pl

from flows.generate_ombudsman import FeedBody, compliance_rows, feed_folder
from flows.settings import kl_reference, load_methodology, regions_reference
from transforms.methodology import Methodology
from transforms.schemas import EVALUATIONS, F03_TABLE, INPUT_TABLES, OMBUDSMAN_FEED, REQUIRED_TABLES, UNITS

# ---------------------------------------------------------------- generator realism (not methodology)
# Latent quality is a share of the cycle's score range (0 = score_min, 1 = score_max); these numbers
# shape the synthetic population so that most units land on B-/B/A-, a few on A, a few on D/E/F.

QUALITY_MEAN = 0.76
QUALITY_SD = 0.10
QUALITY_CLIP = (0.30, 0.99)
STRUGGLING_SHARE = 0.06            # units far below the rest (the D/E/F tail)
STRUGGLING_RANGE = (0.05, 0.45)
CYCLE_DRIFT = (0.01, 0.04)         # mean, sd of a unit's change from one cycle to the next
TREND_BASE_CYCLE = 2023            # with a trend (`trend` > 0), the cycle where every region starts
TREND_UNIT_SHARE = 0.5             # a unit's own yearly trend, as a share of its region's trend sd
INDICATOR_SD = 0.06                # some indicators are harder nationally (e.g. innovation)
UNIT_ASPECT_SD = 0.07              # a unit is stronger on some aspects than others
EVALUATOR_LENIENCY_SD = 0.03
EVALUATOR_NOISE_SD = 0.09
INCOMPLETE_SHARE = 0.03            # units that miss one indicator
EVIDENCE_SHARE = 0.35
NO_USERS_SHARE = 0.12              # units that leave annual_service_users empty
USERS_SPREAD = 0.6                 # sd of log(annual_service_users) around the type's median
SURVEY_COVERED_SHARE = 0.35        # units whose declared users the requested survey size covers (sample met)

RESPONDENT_SPREAD = 0.30           # respondents per unit vary +-30 % around the requested number
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

BUNDLE_TIME_FORMAT = "%Y-%m-%dT%H%M"
UPLOAD_TZ = timezone(timedelta(hours=7))   # WIB, Asia/Jakarta
NOT_AUTONOMOUS_MARK = "Administrasi"   # DKI Jakarta's kabupaten/kota administrasi are not pemda

GENDERS = ("L", "P")
EDUCATIONS = ("SD", "SMP", "SMA", "D1-D3", "D4/S1", "S2", "S3")
EDUCATION_SHARES = (0.10, 0.14, 0.38, 0.10, 0.22, 0.05, 0.01)
OCCUPATIONS = ("PNS", "TNI/POLRI", "Pegawai Swasta", "Wiraswasta", "Pelajar/Mahasiswa",
               "Ibu Rumah Tangga", "Petani/Nelayan", "Lainnya")
OCCUPATION_SHARES = (0.12, 0.03, 0.25, 0.22, 0.12, 0.12, 0.08, 0.06)
AGE_MIN, AGE_MAX = 17, 80
EVIDENCE_KINDS = ("Dokumen", "Foto", "Tangkapan layar", "Tautan")

# Place names for kecamatan and puskesmas: Javanese-style compounds in Java, Malay-style elsewhere.
JAVANESE_ROOTS = ("Suka", "Sido", "Wono", "Karang", "Sumber", "Kali", "Mekar", "Banjar", "Tegal",
                  "Purwo", "Margo", "Tirto")
JAVANESE_ENDINGS = ("rejo", "mulyo", "sari", "makmur", "agung", "harjo", "jaya", "asri", "mukti",
                    "anyar", "kerto", "dadi")
MALAY_ROOTS = ("Tanjung", "Muara", "Pasir", "Batu", "Lubuk", "Teluk", "Bukit", "Padang", "Sungai",
               "Air", "Koto", "Pulau")
MALAY_ENDINGS = ("Jaya", "Baru", "Indah", "Putih", "Panjang", "Raya", "Tinggi", "Besar", "Merah",
                 "Lama", "Hilir", "Hulu")
JAVA_PROVINCE_PREFIX = "3"

PROVINSI, KABUPATEN, KOTA = "provinsi", "kabupaten", "kota"
LEVELS = (KABUPATEN, KOTA, PROVINSI)   # the order picks cycle through, so small runs get a mix
ALL_LEVELS = (PROVINSI, KABUPATEN, KOTA)
KAB_KOTA = (KABUPATEN, KOTA)
KL = "kl"                              # a ministry or agency (K/L): a body of its own tier and category
LOKUS_TIER = {PROVINSI: "provinsi", KABUPATEN: "kabupaten_kota", KOTA: "kabupaten_kota", KL: "kl"}


@dataclass(frozen=True)
class UnitKind:
    """How one unit type looks in a region: its name, where it exists, how many, how busy."""

    name: str                     # template: {region}, {place} (a local place name), {regency}
    levels: tuple[str, ...]       # region levels that run this kind of unit
    first: bool                   # one per region before any unit type repeats
    fill_weight: float            # share of the units a region has beyond the first round
    users_median: int             # typical annual_service_users
    repeat_name: str = ""         # template for the second and further units of the type


UNIT_KINDS: dict[str, UnitKind] = {
    "DPMPTSP": UnitKind("Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu {region}", ALL_LEVELS,
                        True, 0.0, 9_000),
    "DISDUKCAPIL": UnitKind("Dinas Kependudukan dan Pencatatan Sipil {region}", KAB_KOTA, True, 0.0, 60_000),
    "SAMSAT": UnitKind("Samsat {regency}", (PROVINSI,), True, 6.0, 70_000),
    "RSUD": UnitKind("RSUD {region}", ALL_LEVELS, True, 0.6, 45_000, repeat_name="RSUD Pratama {place}"),
    "DINSOS": UnitKind("Dinas Sosial {region}", ALL_LEVELS, True, 0.0, 4_000),
    "KECAMATAN": UnitKind("Kecamatan {place}", KAB_KOTA, False, 4.0, 6_000),
    "PUSKESMAS": UnitKind("Puskesmas {place}", KAB_KOTA, False, 5.0, 18_000),
    "MPP": UnitKind("Mal Pelayanan Publik {region}", KAB_KOTA, True, 0.0, 30_000),
    "UPT_KL": UnitKind("Unit Layanan {region} {place}", (KL,), True, 1.0, 12_000),
}
OTHER_KIND = UnitKind("Unit Layanan {type} {region}", ALL_LEVELS, False, 1.0, 10_000)
"""A unit type a future methodology adds that the generator has no profile for."""

# ---------------------------------------------------------------- defects

BUNDLE_DEFECTS = ("missing_table", "foreign_unit", "duplicate_unit_id", "garbage_bytes", "missing_column")
"""Defects that make a whole bundle untrustworthy (the pipeline must reject it)."""

EVALUATION_DEFECTS = ("score_out_of_range", "score_not_integer", "unknown_indicator", "blank_unit_id")
SURVEY_DEFECTS = ("answer_out_of_range", "date_outside_window", "blank_unit_id")
"""Defects of single rows (the pipeline must set the row aside and keep the bundle)."""

ROW_SHARE_OF_BAD_RATE = 5          # in the good bundles, bad_rate / 5 of the rows are bad
NOT_AN_INTEGER = "abc"
GARBAGE_MAGIC = b"PK\x03\x04"      # an Excel workbook saved under a .csv name

# Random streams: each purpose draws from its own generator so that, e.g., asking for more
# respondents does not change the evaluation scores, and bad_rate does not change the clean data.
_REGIONS, _IDENTITY, _NATIONAL, _UNITS, _SCORES, _SURVEY, _UPLOAD, _DEFECTS, _POPULATION, _TREND, _F03 = range(11)
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


@dataclass(frozen=True)
class GenerationSummary:
    """What `generate_cycle` wrote: sizes, bundle folders and every defect injected.

    `units`, `evaluation_rows` and `survey_rows` count data rows written as tables (a units file
    replaced by garbage bytes or a table left out counts nothing). `injected` maps `Injection.key`
    to the number of bundles (bundle defects) or rows (row defects).
    """

    cycle: str
    root: Path                                  # <out>/<cycle>
    regions: int
    units: int
    evaluation_rows: int
    survey_rows: int
    bundles: int
    incomplete_units: int                       # units written with one indicator missing
    bad_bundles: int
    bad_rows: int
    injected: dict[str, int] = field(default_factory=dict)
    # Long at national size (every bad row's number, every folder): left out of repr.
    injections: tuple[Injection, ...] = field(default=(), repr=False)
    paths: tuple[Path, ...] = field(default=(), repr=False)   # bundle folders, in region order (the feed last)
    f03_rows: int = 0                                         # citizen form F-03 answers (with --f03)
    compliance_rows: int = 0                    # rows of the Ombudsman feed (0: none written)

    def __str__(self) -> str:
        """A few lines for people: sizes, then what was injected."""
        lines = [
            f"cycle {self.cycle}: {self.bundles} bundles in {self.root}",
            f"  {self.regions} regions, {self.units:,} units ({self.incomplete_units:,} incomplete), "
            f"{self.evaluation_rows:,} evaluation rows, {self.survey_rows:,} survey rows",
        ]
        if self.f03_rows:
            lines.append(f"  {self.f03_rows:,} citizen form (F-03) answers")
        if self.compliance_rows:
            lines.append(f"  Ombudsman compliance feed: {self.compliance_rows:,} rows")
        if self.injected:
            lines.append(f"  injected: {self.bad_bundles} bad bundles, {self.bad_rows:,} bad rows")
            lines += [f"    {key}: {count:,}" for key, count in self.injected.items()]
        return "\n".join(lines)


@dataclass(frozen=True)
class _Region:
    code: str
    name: str
    province_code: str
    level: str

    @property
    def display_name(self) -> str:
        """The name units carry: 'Kota Surabaya', 'Provinsi Jawa Timur'."""
        return f"Provinsi {self.name}" if self.level == PROVINSI else self.name


@dataclass(frozen=True)
class _Cycle:
    """Everything shared by all regions of one run, derived once from the methodology and seed."""

    cycle: str
    seed: int
    methodology: Methodology
    units: int
    respondents: int
    evaluators: int
    row_defect_rate: float
    indicator_codes: pl.Series
    indicator_names: pl.Series
    indicator_aspect: np.ndarray                # aspect index per indicator
    indicator_effect: np.ndarray                # national difficulty per indicator (share of range)
    element_effect: np.ndarray                  # national satisfaction offset per survey element
    regencies: dict[str, list[str]]             # province_code -> kab/kota names (for Samsat offices)
    unknown_indicator: str
    trend: float = 0.0                          # sd of a region's yearly change of quality (0: none)
    f03: int = 0                                # citizen form respondents per unit (0: no F-03 table)


RowPlan = dict[str, np.ndarray]
"""Row defects of one table: defect kind -> 0-based data rows that carry it."""


@dataclass
class _Bundle:
    """One region's generated bundle before writing: its tables (bytes for a broken file) and records."""

    tables: dict[str, pl.DataFrame | bytes]
    incomplete_units: int
    injections: list[Injection]
    quality: float = 0.0                        # mean latent quality of its units (the Ombudsman feed follows it)


# ---------------------------------------------------------------- writing


def write_bundle(folder: Path, tables: Mapping[str, pl.DataFrame | bytes]) -> list[Path]:
    """Write one bundle: each table as `<folder>/<table>.csv` (UTF-8, `,`, header, empty = null).

    Bytes are written as they are, for deliberately broken files. Input-table CSVs already in the
    folder but not given are removed, so re-generating a bundle leaves exactly the tables asked for.
    The single place synthetic submissions are written; returns the files written.
    """
    folder.mkdir(parents=True, exist_ok=True)
    for stale in INPUT_TABLES:
        if stale not in tables:
            (folder / f"{stale}.csv").unlink(missing_ok=True)
    written = []
    for name, table in tables.items():
        path = folder / f"{name}.csv"
        if isinstance(table, bytes):
            path.write_bytes(table)
        else:
            table.write_csv(path)
        written.append(path)
    return written


def stamp_upload_time(folder: Path, bundle: str) -> None:
    """Give the bundle's files the upload time in its name (WIB): the ledger's received_at, deterministic."""
    when = datetime.strptime(bundle.split("_")[0], BUNDLE_TIME_FORMAT).replace(tzinfo=UPLOAD_TZ).timestamp()
    for path in [*folder.iterdir(), folder]:
        os.utime(path, (when, when))


# ---------------------------------------------------------------- picking regions


def _rng(seed: int, *parts: str | int) -> np.random.Generator:
    """A generator for one purpose: text parts are hashed (crc32) so the seed is stable across runs."""
    return np.random.default_rng([seed, *(zlib.crc32(p.encode()) if isinstance(p, str) else p for p in parts)])


def autonomous_regions() -> pl.DataFrame:
    """The regions that submit (pemda): provinces and kabupaten/kota, minus Jakarta's administrative ones."""
    return regions_reference().filter(~pl.col("name").str.contains(NOT_AUTONOMOUS_MARK, literal=True))


def pick_regions(count: int, *, seed: int, national: bool = False) -> pl.DataFrame:
    """`count` regions spread over provinces with a mix of provinsi, kabupaten and kota (all if national).

    Picks cycle through the levels and through the provinces in a seeded order, so six regions come
    from six provinces, two of each level. Returned sorted by region code.
    """
    candidates = autonomous_regions()
    if national or count >= candidates.height:
        return candidates
    rng = _rng(seed, _REGIONS)
    provinces = sorted(candidates["province_code"].unique().to_list())
    order = [provinces[i] for i in rng.permutation(len(provinces))]
    buckets: dict[tuple[str, str], list[str]] = {}
    for row in candidates.iter_rows(named=True):
        buckets.setdefault((row["province_code"], row["level"]), []).append(row["region_code"])
    for key in sorted(buckets):
        codes = buckets[key]
        buckets[key] = [codes[i] for i in rng.permutation(len(codes))]
    picked: list[str] = []
    for i in range(count):
        for level_shift in range(len(LEVELS)):
            level = LEVELS[(i + level_shift) % len(LEVELS)]
            found = next((p for k in range(len(order))
                          if buckets.get((p := order[(i + k) % len(order)], level))), None)
            if found is not None:
                picked.append(buckets[(found, level)].pop())
                break
    return candidates.filter(pl.col("region_code").is_in(picked)).sort("region_code")


def pick_kl(count: int, *, seed: int) -> pl.DataFrame:
    """`count` ministries and agencies (K/L) from the reference list, seeded (all when count passes it)."""
    candidates = kl_reference()
    if count >= candidates.height:
        return candidates
    order = _rng(seed, _REGIONS, KL).permutation(candidates.height)[:count]
    return candidates[sorted(order.tolist())]


# ---------------------------------------------------------------- units


def _roman(number: int) -> str:
    numerals = ((1000, "M"), (900, "CM"), (500, "D"), (400, "CD"), (100, "C"), (90, "XC"), (50, "L"),
                (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I"))
    text = ""
    for value, numeral in numerals:
        while number >= value:
            text, number = text + numeral, number - value
    return text


def _place_pool(province_code: str) -> list[str]:
    javanese = [root + ending for root in JAVANESE_ROOTS for ending in JAVANESE_ENDINGS]
    malay = [f"{root} {ending}" for root in MALAY_ROOTS for ending in MALAY_ENDINGS]
    return javanese if province_code.startswith(JAVA_PROVINCE_PREFIX) else malay


def _distinct(rng: np.random.Generator, pool: list[str], n: int) -> list[str]:
    """`n` names from the pool without repeats; beyond the pool, names come back with II, III, ..."""
    order = rng.permutation(len(pool))
    return [pool[order[k % len(pool)]] + (f" {_roman(k // len(pool) + 1)}" if k >= len(pool) else "")
            for k in range(n)]


def _unit_types(rng: np.random.Generator, methodology: Methodology, level: str, n: int) -> list[str]:
    """Types of a region's `n` units: one of each 'first' type, then the rest by fill weight."""
    lokus = methodology.lokus_of(LOKUS_TIER[level])
    types = [t for t in methodology.unit_types if level in UNIT_KINDS.get(t, OTHER_KIND).levels
             and (lokus is None or t in lokus)]  # bundles follow the cycle's lokus
    types = types or list(lokus or methodology.unit_types)
    first = [t for t in types if UNIT_KINDS.get(t, OTHER_KIND).first]
    first = [first[i] for i in rng.permutation(len(first))][:n]
    weights = np.array([UNIT_KINDS.get(t, OTHER_KIND).fill_weight for t in types], dtype=float)
    if not weights.sum():
        weights = np.ones(len(types))
    rest = rng.choice(len(types), size=n - len(first), p=weights / weights.sum())
    chosen = Counter(first + [types[i] for i in rest])
    return [t for t in methodology.unit_types for _ in range(chosen[t])]


def _units(region: _Region, ctx: _Cycle) -> tuple[pl.DataFrame, np.ndarray]:
    """The region's units table and each unit's latent quality (share of the score range).

    Identity (types, ids, names, size, base quality) is drawn without the cycle, so the same seed
    gives the same units in every cycle; only the quality drifts a little from cycle to cycle.
    """
    identity = _rng(ctx.seed, region.code, _IDENTITY)
    types = _unit_types(identity, ctx.methodology, region.level, ctx.units)
    n = len(types)
    places = _distinct(identity, _place_pool(region.province_code), n)
    regencies = ctx.regencies.get(region.province_code) or [region.name]
    offices = _distinct(identity, regencies, n)
    names, ids = [], []
    seen: Counter[str] = Counter()
    per_type: Counter[str] = Counter()
    for k, unit_type in enumerate(types):
        per_type[unit_type] += 1
        kind = UNIT_KINDS.get(unit_type, OTHER_KIND)
        template = kind.repeat_name if per_type[unit_type] > 1 and kind.repeat_name else kind.name
        name = template.format(region=region.display_name, place=places[k], regency=offices[k],
                               type=unit_type)
        seen[name] += 1
        names.append(name if seen[name] == 1 else f"{name} {_roman(seen[name])}")
        ids.append(f"{region.code}-{unit_type}-{per_type[unit_type]:02d}")
    medians = np.array([UNIT_KINDS.get(t, OTHER_KIND).users_median for t in types], dtype=float)
    users = np.rint(medians * np.exp(identity.normal(0.0, USERS_SPREAD, n))).astype(np.int64)
    no_users = identity.random(n) < NO_USERS_SHARE
    # Without some units whose population the survey covers, no unit would meet its Krejcie-Morgan sample at
    # the usual demo survey sizes (30 respondents against samples of 300+): no award could be given. Drawn
    # from a stream of its own, so every other generated value stays as it was.
    fewest = ctx.respondents * (1 - RESPONDENT_SPREAD)
    if fewest >= 2:
        population = _rng(ctx.seed, region.code, _POPULATION)  # identity: the same in every cycle
        covered = population.random(n) < SURVEY_COVERED_SHARE
        users = np.where(covered, np.maximum(1, np.rint(fewest * population.uniform(0.5, 0.95, n))), users)
        users = users.astype(np.int64)
    struggling = identity.random(n) < STRUGGLING_SHARE
    quality = np.where(struggling, identity.uniform(*STRUGGLING_RANGE, n),
                       np.clip(identity.normal(QUALITY_MEAN, QUALITY_SD, n), *QUALITY_CLIP))
    quality = np.clip(quality + _rng(ctx.seed, ctx.cycle, region.code, _UNITS).normal(*CYCLE_DRIFT, n), 0, 1)
    if ctx.trend and ctx.cycle.isdigit():
        # a story across cycles: each region (and each of its units, a little) has a yearly trend drawn
        # once for all cycles, so some regions improve year after year and some fall
        years = int(ctx.cycle) - TREND_BASE_CYCLE
        slopes = _rng(ctx.seed, region.code, _TREND)
        slope = slopes.normal(0.0, ctx.trend) + slopes.normal(0.0, ctx.trend * TREND_UNIT_SHARE, n)
        quality = np.clip(quality + years * slope, 0, 1)
    units = pl.DataFrame({
        "unit_id": ids,
        "unit_name": names,
        "unit_type": types,
        "region_code": [region.code] * n,
        "annual_service_users": pl.Series(users).scatter(np.flatnonzero(no_users), None),
    }, schema=UNITS.polars_schema)
    return units, quality


# ---------------------------------------------------------------- evaluations (F-02)


def _evaluations(region: _Region, ctx: _Cycle, unit_ids: pl.Series, quality: np.ndarray,
                 defects: np.random.Generator | None) -> tuple[pl.DataFrame, int, RowPlan]:
    """Every unit scored on every indicator by `evaluators` evaluators, around the unit's quality.

    Returns the table, the number of incomplete units and the bad rows injected (when `defects`
    is given). Vectorised: one array of shape (units, evaluators, indicators), flattened unit-major.
    """
    m = ctx.methodology
    rng = _rng(ctx.seed, ctx.cycle, region.code, _SCORES)
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


def _spoil_evaluation_rows(frame: pl.DataFrame, ctx: _Cycle, plan: RowPlan) -> pl.DataFrame:
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


def _survey(region: _Region, ctx: _Cycle, unit_ids: pl.Series, quality: np.ndarray, upload: date,
            defects: np.random.Generator | None) -> tuple[pl.DataFrame | None, RowPlan]:
    """Respondents per unit (±30 %), answers around the unit's satisfaction, dates before the upload.

    Returns the table (None when no respondents are asked for) and the bad rows injected.
    """
    if ctx.respondents <= 0:
        return None, {}
    survey = ctx.methodology.survey
    rng = _rng(ctx.seed, ctx.cycle, region.code, _SURVEY)
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


def _spoil_bundle(tables: dict[str, pl.DataFrame | bytes], kind: str, region: _Region,
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


def _neighbour(region: _Region, rng: np.random.Generator) -> str:
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


# ---------------------------------------------------------------- one region, then the cycle


def _upload_time(ctx: _Cycle, region: _Region) -> tuple[date, str]:
    """When the region uploads (last quarter of the survey window, office hours) and the bundle name."""
    survey = ctx.methodology.survey
    rng = _rng(ctx.seed, ctx.cycle, region.code, _UPLOAD)
    span = (survey.window_end - survey.window_start).days
    day = survey.window_start + timedelta(days=int(rng.integers(int(span * UPLOAD_FROM), span + 1)))
    minutes = int(rng.integers(*UPLOAD_MINUTES))
    stamp = f"{day:%Y-%m-%d}T{minutes // 60:02d}{minutes % 60:02d}"
    return day, f"{stamp}_{region.code}"


def _citizen_form(region: _Region, ctx: _Cycle, unit_ids: pl.Series, quality: np.ndarray) -> pl.DataFrame:
    """F-03 answers: about `ctx.f03` respondents per unit (±30 %), each answering every item around the
    unit's quality on the cycle's score range (its own seeded stream: the other tables are unchanged)."""
    m = ctx.methodology
    rng = _rng(ctx.seed, ctx.cycle, region.code, _F03)
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


def _region_bundle(region: _Region, ctx: _Cycle, upload: date, bundle: str, defect: str | None,
                   bad_rows: bool) -> _Bundle:
    """Generate one region's tables, with its whole-bundle defect or its bad rows if asked."""
    units, quality = _units(region, ctx)
    unit_ids = units["unit_id"]
    row_rng = _rng(ctx.seed, ctx.cycle, region.code, _DEFECTS) if bad_rows else None
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
        table, detail = _spoil_bundle(tables, defect, region, _rng(ctx.seed, ctx.cycle, region.code, _DEFECTS))
        injections.append(Injection(region.code, bundle, table, defect, (), detail))
    return _Bundle(tables, incomplete, injections, float(quality.mean()) if quality.size else 0.0)


def _cycle_context(cycle: str, methodology: Methodology, *, seed: int, units: int, respondents: int,
                   evaluators: int, bad_rate: float) -> _Cycle:
    indicators = methodology.indicators
    aspect_codes = [a.code for a in methodology.aspects]
    aspect_of = np.array([aspect_codes.index(i.aspect) for i in indicators])
    national = _rng(seed, cycle, _NATIONAL)
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
    return _Cycle(
        cycle=cycle, seed=seed, methodology=methodology, units=units, respondents=respondents,
        evaluators=evaluators, row_defect_rate=bad_rate / ROW_SHARE_OF_BAD_RATE,
        indicator_codes=pl.Series([i.code for i in indicators], dtype=pl.String),
        indicator_names=pl.Series([i.name or i.code for i in indicators], dtype=pl.String),
        indicator_aspect=aspect_of, indicator_effect=effect, element_effect=elements - elements.mean(),
        regencies=regencies, unknown_indicator=unknown,
    )


def _bundle_defects(cycle: str, seed: int, codes: list[str], bad_rate: float) -> dict[str, str]:
    """Which regions send a bad bundle and which defect: round(bad_rate × bundles), at least one.

    Kinds are dealt in turn from a seeded shuffle, so five or more bad bundles show every kind.
    """
    if bad_rate <= 0 or not codes:
        return {}
    rng = _rng(seed, cycle, _DEFECTS)
    n_bad = min(len(codes), max(1, int(bad_rate * len(codes) + 0.5)))
    chosen = sorted(rng.choice(len(codes), n_bad, replace=False))
    kinds = [BUNDLE_DEFECTS[i] for i in rng.permutation(len(BUNDLE_DEFECTS))]
    return {codes[c]: kinds[k % len(kinds)] for k, c in enumerate(chosen)}


def _region_too_big(units: int, respondents: int, evaluators: int, methodology: Methodology) -> str | None:
    """Why one region's bundle would be larger than a bundle's table may be (the intake would refuse it, and
    the generator holds one region in memory), or None. Checked before anything is generated."""
    from flows.settings import IntakeLimits

    limit = IntakeLimits.from_env().table_max_rows
    indicators = len(methodology.indicators)
    tables = {"skm_responses": (units * respondents, f"{units:,} units x {respondents:,} respondents"),
              "evaluations": (units * evaluators * indicators,
                              f"{units:,} units x {evaluators} evaluators x {indicators} indicators")}
    for table, (rows, how) in tables.items():
        if rows > limit:
            return (f"one region's {table} would have about {rows:,} rows ({how}), more than the "
                    f"{limit:,} rows a table may hold (PEKPPP_TABLE_MAX_ROWS): the pipeline would refuse it and "
                    "generating it would exhaust memory; lower --units or --respondents")
    return None


def generate_cycle(cycle: str, out: Path, *, regions: int = 6, units: int = 8, respondents: int = 30,
                   seed: int = 2024, bad_rate: float = 0.0, methodology: Methodology | None = None,
                   evaluators: int = 2, national: bool = False, kl: int = 0, trend: float = 0.0, f03: int = 0,
                   ombudsman: bool = False, progress: Callable[[int, int], None] | None = None) -> GenerationSummary:
    """Write synthetic bundles `<out>/<cycle>/<region_code>/<bundle>/` for `regions` regions and `kl` K/L.

    A K/L's bundle goes under its 3-digit kode Bagian Anggaran, with units of the cycle's K/L lokus;
    every body's units follow its tier's lokus. With `trend` > 0 each region's quality changes by a
    yearly slope drawn once (sd `trend`, a share of the score range) from cycle 2023 on: cycles differ.

    One bundle per region, named by its upload time (`2024-11-02T0830_35.78`, sortable). Each region
    is generated, written and dropped before the next, so memory stays bounded by one region;
    `progress(done, total)` is called after each. With `bad_rate` > 0, that share of bundles is bad as
    a whole and, in the others, about bad_rate/5 of the evaluation and survey rows are bad; the
    summary records every injection. With `f03` > 0 each bundle also holds `f03_responses`: about that
    many citizen form respondents per unit, each answering the form's ten synthetic items.
    summary records every injection. With `ombudsman`, an Ombudsman compliance feed assessing every
    generated body is written too (`flows/generate_ombudsman.py`; three bad rows with `bad_rate` > 0).
    """
    methodology = methodology or load_methodology(cycle)
    if methodology.cycle != cycle:
        raise ValueError(f"methodology is for cycle {methodology.cycle!r}, not {cycle!r}")
    if not national and regions < 1:
        raise ValueError(f"regions must be at least 1, not {regions}")
    if kl < 0:
        raise ValueError(f"kl must be 0 or more, not {kl}")
    if units < 1 or respondents < 0:
        raise ValueError(f"units must be at least 1 and respondents at least 0 (got {units}, {respondents})")
    if not 1 <= evaluators <= methodology.max_evaluators:
        raise ValueError(f"evaluators must be 1..{methodology.max_evaluators} (the cycle's max_evaluators), "
                         f"not {evaluators}")
    if not 0.0 <= bad_rate <= 1.0:
        raise ValueError(f"bad_rate must be between 0 and 1, not {bad_rate}")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, not {seed}")
    if not 0.0 <= trend <= 1.0:
        raise ValueError(f"trend must be between 0 and 1, not {trend}")
    if f03 < 0:
        raise ValueError(f"f03 must be 0 or more, not {f03}")
    too_big = _region_too_big(units, respondents, evaluators, methodology)
    if too_big:
        raise ValueError(too_big)
    if ombudsman and methodology.ombudsman is None:
        raise ValueError(f"cycle {cycle}'s methodology has no [ombudsman] section: no compliance feed to generate")

    ctx = dataclasses.replace(_cycle_context(cycle, methodology, seed=seed, units=units, respondents=respondents,
                                             evaluators=evaluators, bad_rate=bad_rate), trend=trend, f03=f03)
    picked = [_Region(r["region_code"], r["name"], r["province_code"], r["level"])
              for r in pick_regions(regions, seed=seed, national=national).iter_rows(named=True)]
    picked += [_Region(r["kl_code"], r["name"], "", KL) for r in pick_kl(kl, seed=seed).iter_rows(named=True)]
    spoiled = _bundle_defects(cycle, seed, [r.code for r in picked], bad_rate)
    root = out / cycle
    totals: Counter[str] = Counter()
    injections: list[Injection] = []
    paths: list[Path] = []
    assessed: list[FeedBody] = []
    for done, region in enumerate(picked, start=1):
        upload, bundle = _upload_time(ctx, region)
        defect = spoiled.get(region.code)
        generated = _region_bundle(region, ctx, upload, bundle, defect, bad_rows=bad_rate > 0 and defect is None)
        folder = root / region.code / bundle
        write_bundle(folder, generated.tables)
        stamp_upload_time(folder, bundle)
        for name, table in generated.tables.items():
            if isinstance(table, pl.DataFrame):
                totals[name] += table.height
        totals["incomplete"] += generated.incomplete_units
        injections.extend(generated.injections)
        paths.append(folder)
        assessed.append(FeedBody(region.code, region.display_name, generated.quality))
        del generated
        if progress is not None:
            progress(done, len(picked))

    if ombudsman:
        feed, bad = compliance_rows(assessed, cycle=cycle, seed=seed, bad_rows=bad_rate > 0)
        last = max((p.name.split("_")[0] for p in paths), default=f"{cycle}-12-31T0800")
        bundle = f"{last}_{OMBUDSMAN_FEED.strip('_')}"
        folder = feed_folder(out, cycle, bundle)
        write_bundle(folder, {"compliance": feed})
        stamp_upload_time(folder, bundle)
        totals["compliance"] += feed.height
        injections += [Injection(OMBUDSMAN_FEED, bundle, "compliance", kind, rows) for kind, rows in bad.items()]
        paths.append(folder)

    injected = Counter[str]()
    for injection in injections:
        injected[injection.key] += injection.count
    return GenerationSummary(
        cycle=cycle,
        root=root,
        regions=len(picked),
        units=totals["units"],
        evaluation_rows=totals["evaluations"],
        survey_rows=totals["skm_responses"],
        bundles=len(paths),
        compliance_rows=totals["compliance"],
        incomplete_units=totals["incomplete"],
        bad_bundles=len(spoiled),
        bad_rows=sum(i.count for i in injections if i.scope == "row"),
        injected=dict(sorted(injected.items())),
        injections=tuple(injections),
        paths=tuple(paths),
        f03_rows=totals[F03_TABLE],
    )
