"""Who a synthetic cycle is about: regions and K/L picked from the reference lists, and their units.

A region's units get plausible names per unit type, sizes (annual service users) and a latent quality, a
share of the cycle's score range that the tables the region sends follow (flows/generate_tables.py).
Randomness comes from numpy generators seeded by (seed, cycle, region, purpose), one stream per purpose
(`seeded_rng`), never from the clock; a unit's identity is drawn without the cycle, so it is the same in every cycle.
"""

from __future__ import annotations

import zlib
from collections import Counter
from dataclasses import dataclass

import numpy as np
import polars as pl

from flows.settings import kl_reference, regions_reference
from transforms.methodology import Methodology
from transforms.schemas import UNITS

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
NO_USERS_SHARE = 0.12              # units that leave annual_service_users empty
USERS_SPREAD = 0.6                 # sd of log(annual_service_users) around the type's median
SURVEY_COVERED_SHARE = 0.35        # units whose declared users the requested survey size covers (sample met)

RESPONDENT_SPREAD = 0.30           # respondents per unit vary +-30 % around the requested number
NOT_AUTONOMOUS_MARK = "Administrasi"   # DKI Jakarta's kabupaten/kota administrasi are not pemda

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

# Random streams: each purpose draws from its own generator so that, e.g., asking for more
# respondents does not change the evaluation scores, and bad_rate does not change the clean data.
_REGIONS, _IDENTITY, _NATIONAL, _UNITS, _SCORES, _SURVEY, _UPLOAD, _DEFECTS, _POPULATION, _TREND, _F03 = range(11)


@dataclass(frozen=True)
class PickedRegion:
    code: str
    name: str
    province_code: str
    level: str

    @property
    def display_name(self) -> str:
        """The name units carry: 'Kota Surabaya', 'Provinsi Jawa Timur'."""
        return f"Provinsi {self.name}" if self.level == PROVINSI else self.name


@dataclass(frozen=True)
class GenerationContext:
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


# ---------------------------------------------------------------- picking regions


def seeded_rng(seed: int, *parts: str | int) -> np.random.Generator:
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
    rng = seeded_rng(seed, _REGIONS)
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
    order = seeded_rng(seed, _REGIONS, KL).permutation(candidates.height)[:count]
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


def draw_units(region: PickedRegion, ctx: GenerationContext) -> tuple[pl.DataFrame, np.ndarray]:
    """The region's units table and each unit's latent quality (share of the score range).

    Identity (types, ids, names, size, base quality) is drawn without the cycle, so the same seed
    gives the same units in every cycle; only the quality drifts a little from cycle to cycle.
    """
    identity = seeded_rng(ctx.seed, region.code, _IDENTITY)
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
        population = seeded_rng(ctx.seed, region.code, _POPULATION)  # identity: the same in every cycle
        covered = population.random(n) < SURVEY_COVERED_SHARE
        users = np.where(covered, np.maximum(1, np.rint(fewest * population.uniform(0.5, 0.95, n))), users)
        users = users.astype(np.int64)
    struggling = identity.random(n) < STRUGGLING_SHARE
    quality = np.where(struggling, identity.uniform(*STRUGGLING_RANGE, n),
                       np.clip(identity.normal(QUALITY_MEAN, QUALITY_SD, n), *QUALITY_CLIP))
    quality = np.clip(quality + seeded_rng(ctx.seed, ctx.cycle, region.code, _UNITS).normal(*CYCLE_DRIFT, n), 0, 1)
    if ctx.trend and ctx.cycle.isdigit():
        # a story across cycles: each region (and each of its units, a little) has a yearly trend drawn
        # once for all cycles, so some regions improve year after year and some fall
        years = int(ctx.cycle) - TREND_BASE_CYCLE
        slopes = seeded_rng(ctx.seed, region.code, _TREND)
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
