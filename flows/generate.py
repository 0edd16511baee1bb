"""Synthetic submissions for a cycle: realistic bundles in the landing-zone layout, optionally with defects.

`pekppp generate` and the demo use this to fill a landing zone the way regions would: real region
codes and names, plausible unit names per unit type, F-02 scores around a per-unit latent quality
(so predicates spread over the bands), SKM answers consistent with that quality, and, when asked,
a known share of deliberately bad bundles and rows whose every injection is recorded so tests can
check that the pipeline catches them.

Everything the methodology defines (unit types, indicators, weights, score and answer ranges,
survey elements and window) is read from the `Methodology` object. The numbers of its modules are only
the generator's idea of a realistic population. Output is a pure function of the arguments: randomness
comes from numpy generators seeded by (seed, cycle, region, purpose), never from the clock, so the
same arguments give byte-identical files, and a region's data does not depend on which other
regions were picked.

Who is drawn lives in flows/generate_population.py, what each region sends in flows/generate_tables.py;
this module writes the bundles region by region and refuses sizes the intake would refuse.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import polars as pl

from flows.generate_ombudsman import FeedBody, compliance_rows, feed_folder
from flows.generate_population import KL, PickedRegion, pick_kl, pick_regions
from flows.generate_tables import Injection, bundle_defects, cycle_context, region_bundle, upload_time
from flows.settings import load_methodology
from transforms.methodology import Methodology
from transforms.schemas import F03_TABLE, INPUT_TABLES, OMBUDSMAN_FEED

BUNDLE_TIME_FORMAT = "%Y-%m-%dT%H%M"
UPLOAD_TZ = timezone(timedelta(hours=7))   # WIB, Asia/Jakarta


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


# ---------------------------------------------------------------- the cycle


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

    ctx = dataclasses.replace(cycle_context(cycle, methodology, seed=seed, units=units, respondents=respondents,
                                             evaluators=evaluators, bad_rate=bad_rate), trend=trend, f03=f03)
    picked = [PickedRegion(r["region_code"], r["name"], r["province_code"], r["level"])
              for r in pick_regions(regions, seed=seed, national=national).iter_rows(named=True)]
    picked += [PickedRegion(r["kl_code"], r["name"], "", KL) for r in pick_kl(kl, seed=seed).iter_rows(named=True)]
    spoiled = bundle_defects(cycle, seed, [r.code for r in picked], bad_rate)
    root = out / cycle
    totals: Counter[str] = Counter()
    injections: list[Injection] = []
    paths: list[Path] = []
    assessed: list[FeedBody] = []
    for done, region in enumerate(picked, start=1):
        upload, bundle = upload_time(ctx, region)
        defect = spoiled.get(region.code)
        generated = region_bundle(region, ctx, upload, bundle, defect, bad_rows=bad_rate > 0 and defect is None)
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
