"""The benchmark's input: a synthetic cycle per size, generated once and cached under data/bench/<size>/.

The cache is keyed by the generation parameters (a changed size regenerates). Each run gets its own
landing zone made of hard links to the cached files (instant, no extra space, mtimes kept), so the
pipeline's raw copies and the incremental bundle never touch the cache.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

from flows.settings import PROJECT_ROOT

BENCH_ROOT = PROJECT_ROOT / "data" / "bench"
CYCLE = "2024"
SEED = 2024
EXTRA_BUNDLES = 3
"""New bundles for the incremental runs: in the warm process, in a new process, against a running server."""
FORMAT = 2
"""Bump when what is cached changes (regenerates every size once)."""


@dataclass(frozen=True)
class Size:
    """A benchmark size: what `generate_cycle` is asked for."""

    name: str
    regions: int  # ignored when national
    units: int
    respondents: int
    national: bool = False
    bad_rate: float = 0.0


SIZES = {
    # every autonomous region (546) x 57 units x ~340 respondents: ~31k units, ~1.9 M evaluation rows,
    # ~10.6 M survey rows, ~1 GB of CSV
    "national": Size("national", regions=0, units=57, respondents=340, national=True),
    # a tenth of the regions at national density: for profiling without waiting for the full size
    "medium": Size("medium", regions=55, units=57, respondents=340),
    "quick": Size("quick", regions=20, units=10, respondents=100),
}


@dataclass(frozen=True)
class Dataset:
    """A cached cycle: where it is, how big, and the extra bundle for the incremental run."""

    size: Size
    landing: Path  # <landing>/<cycle>/<region>/<bundle>/
    extras: tuple[Path, ...]  # new bundle folders of existing regions, one per incremental run
    regions: int
    units: int
    evaluation_rows: int
    survey_rows: int
    csv_bytes: int
    generated_seconds: float | None  # None when taken from the cache

    def table_files(self, table: str) -> list[Path]:
        return sorted((self.landing / CYCLE).glob(f"*/*/{table}.csv"))


def _tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*.csv"))


def _latest_stamp() -> str:
    """An upload time after every generated one (the last day of the survey window), so it supersedes."""
    from flows.generate import BUNDLE_TIME_FORMAT
    from flows.settings import load_methodology

    end: date = load_methodology(CYCLE).survey.window_end
    return end.strftime(BUNDLE_TIME_FORMAT.replace("%H%M", "1700"))


def _generate(size: Size, root: Path) -> dict:
    from flows.generate import generate_cycle, stamp_upload_time

    started = time.perf_counter()
    summary = generate_cycle(CYCLE, root / "landing", regions=size.regions, units=size.units,
                             respondents=size.respondents, seed=SEED, bad_rate=size.bad_rate,
                             national=size.national)
    seconds = time.perf_counter() - started
    # The incremental runs' bundles: the first regions the seed picks (in every size) send their data
    # again with one more respondent per unit, so the bytes differ, uploaded after everything else.
    extra_summary = generate_cycle(CYCLE, root / "extra-gen", regions=EXTRA_BUNDLES, units=size.units,
                                   respondents=size.respondents + 1, seed=SEED, national=False)
    extras = []
    for source in extra_summary.paths:
        region = source.parent.name
        if not (root / "landing" / CYCLE / region).is_dir():
            raise RuntimeError(f"extra bundle region {region} is not in the {size.name} cycle")
        bundle = f"{_latest_stamp()}_{region}"
        target = root / "extra" / CYCLE / region / bundle
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        stamp_upload_time(target, bundle)
        extras.append(str(target.relative_to(root)))
    shutil.rmtree(root / "extra-gen")
    return {"params": asdict(size), "format": FORMAT, "regions": summary.regions, "units": summary.units,
            "evaluation_rows": summary.evaluation_rows, "survey_rows": summary.survey_rows,
            "csv_bytes": _tree_bytes(root / "landing"), "extras": extras, "generated_seconds": seconds}


def dataset(size: Size, *, log=print) -> Dataset:  # type: ignore[no-untyped-def]
    """The cached cycle of this size, generating it first when missing or made with other parameters."""
    root = BENCH_ROOT / size.name
    marker = root / "generated.json"
    info = json.loads(marker.read_text()) if marker.exists() else None
    fresh = False
    if info is None or info.get("params") != asdict(size) or info.get("format") != FORMAT:
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        log(f"generating the {size.name} cycle into {root} (once; cached) ...")
        info = _generate(size, root)
        marker.write_text(json.dumps(info, indent=2))
        fresh = True
    return Dataset(size=size, landing=root / "landing", extras=tuple(root / e for e in info["extras"]),
                   regions=info["regions"], units=info["units"], evaluation_rows=info["evaluation_rows"],
                   survey_rows=info["survey_rows"], csv_bytes=info["csv_bytes"],
                   generated_seconds=info["generated_seconds"] if fresh else None)


def link_tree(source: Path, target: Path) -> None:
    """`target` as a copy of `source` (file and directory times kept: they are upload times).

    Real copies, not hard links: the intake refuses a file with a second name outside its bundle (a
    region could otherwise make the pipeline read a host file), so linked bundles would all be rejected.
    """
    shutil.copytree(source, target, copy_function=shutil.copy2, dirs_exist_ok=True)


def add_bundle(extra: Path, landing: Path) -> Path:
    """Put one extra bundle (<...>/<cycle>/<region>/<bundle>) into a run's landing zone (a copy)."""
    target = landing / CYCLE / extra.parent.name / extra.name
    link_tree(extra, target)
    return target
