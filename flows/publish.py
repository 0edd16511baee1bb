"""Publish a cycle: score its accepted submissions and make a new release visible all at once.

Layout: each release's tables are written under `<warehouse>/_store/<cycle>/<release_id>/<table>/`,
then every `<warehouse>/<table>/cycle=<C>` is switched to it by an atomic symlink rename. A reader
scanning `<table>/cycle=*/` sees the previous release or the new one, never a mix inside a table.
The manifest `_releases/<C>/<release_id>.json` records what produced the release.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import polars as pl

from flows.ledger import Ledger
from flows.settings import PROJECT_ROOT, Places, methodology_path, regions_reference
from flows.storage import WarehouseError, content_hash, remove_tree, write_bytes_atomic, write_parquet
from transforms.cycle import CycleInputs, score_cycle
from transforms.methodology import Methodology
from transforms.schemas import EVALUATIONS, OUTPUT_TABLES, UNITS, skm_spec
from transforms.submissions import ACCEPTED

PARTITION_KEY = "cycle"
RELEASES_KEPT = 3


@dataclass(frozen=True)
class Release:
    release_id: str
    cycle: str
    manifest: Path
    row_counts: dict[str, int]
    content_hashes: dict[str, str]
    tables: dict[str, pl.DataFrame]


def code_version() -> str:
    """The git commit of the code when available, else the package version."""
    try:
        commit = subprocess.run(["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True, timeout=5, check=True).stdout.strip()
        if commit:
            return f"git:{commit}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"pekppp=={version('pekppp')}"
    except PackageNotFoundError:
        return "unknown"


def _input_schemas(methodology: Methodology) -> dict[str, pl.Schema]:
    owner = {"region_code": pl.String, "submission_id": pl.String}
    survey = skm_spec(methodology.survey.element_codes)
    return {
        "units": pl.Schema({**UNITS.polars_schema, **owner}),
        "evaluations": pl.Schema({**EVALUATIONS.polars_schema, **owner}),
        "skm_responses": pl.Schema({**survey.polars_schema, **owner}),
    }


def cycle_inputs(places: Places, methodology: Methodology, submission_ids: list[str],
                 previous_ids: list[str] | None = None, previous_cycle: str | None = None) -> CycleInputs:
    """Lazy frames over the kept rows of the submissions that count."""
    ledger = Ledger(places, methodology.cycle)
    schemas = _input_schemas(methodology)
    previous = None
    if previous_cycle and previous_ids:
        previous = Ledger(places, previous_cycle).accepted_table(previous_ids, "evaluations", schemas["evaluations"])
    return CycleInputs(
        units=ledger.accepted_table(submission_ids, "units", schemas["units"]),
        evaluations=ledger.accepted_table(submission_ids, "evaluations", schemas["evaluations"]),
        responses=ledger.accepted_table(submission_ids, "skm_responses", schemas["skm_responses"]),
        regions=regions_reference().lazy(),
        previous_evaluations=previous,
    )


def previous_cycle_of(places: Places, cycle: str) -> tuple[str | None, list[str]]:
    """The cycle before this one (by year) and its submissions that counted, if it has a ledger."""
    if not cycle.isdigit():
        return None, []
    previous = str(int(cycle) - 1)
    entries = Ledger(places, previous).load()
    return previous, entries.filter(pl.col("status") == ACCEPTED)["submission_id"].to_list()


def release_tables(places: Places, methodology: Methodology, entries: pl.DataFrame,
                   release_id: str) -> dict[str, pl.DataFrame]:
    """Every output table of the cycle for this release, conformed to the declared schemas."""
    ledger = Ledger(places, methodology.cycle)
    used = entries.filter(pl.col("status") == ACCEPTED)["submission_id"].to_list()
    previous_cycle, previous_ids = previous_cycle_of(places, methodology.cycle)
    scored = score_cycle(cycle_inputs(places, methodology, used, previous_ids, previous_cycle), methodology)
    issues = ledger.issues(entries["submission_id"].to_list()).join(
        entries.select("submission_id", "region_code").unique(), on="submission_id", how="left")
    tables = {
        **scored,
        "submissions": entries.select("cycle", "region_code", "submission_id", "bundle", "received_at", "status",
                                      "reason", "superseded_by", "n_issues"),
        "validation_issues": issues.with_columns(cycle=pl.lit(methodology.cycle))
        .sort(["region_code", "submission_id", "table", "row", "column", "rule"], nulls_last=True),
    }
    return {name: frame.with_columns(release_id=pl.lit(release_id)) for name, frame in tables.items()}


def new_release_id(cycle: str, now: datetime) -> str:
    return f"{cycle}-{now:%Y%m%dT%H%M%S%fZ}"


def _switch(link: Path, target: Path) -> None:
    """Point `link` at `target` by renaming a fresh symlink over it (atomic on POSIX)."""
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = link.parent / f".{link.name}.{os.getpid()}.tmp"
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.relpath(target, link.parent), tmp)
    if link.exists() and not link.is_symlink():
        raise WarehouseError(f"{link} is a real folder, not a release link; move it away and re-run")
    os.replace(tmp, link)


def publish(places: Places, methodology: Methodology, *, now: datetime | None = None) -> Release:
    """Score the cycle from the ledger and publish all its tables as one new release."""
    now = now or datetime.now(UTC)
    ledger = Ledger(places, methodology.cycle)
    entries = ledger.load()
    release_id = new_release_id(methodology.cycle, now)
    tables = release_tables(places, methodology, entries, release_id)
    store = places.warehouse / "_store" / methodology.cycle / release_id
    counts: dict[str, int] = {}
    hashes: dict[str, str] = {}
    try:
        for name, spec in OUTPUT_TABLES.items():
            counts[name] = write_parquet(tables[name], spec, store / name / "part-0.parquet", drop=(PARTITION_KEY,))
            hashes[name] = content_hash(tables[name], exclude=("release_id",))
        manifest = write_manifest(places, methodology, release_id, now, entries, counts, hashes)
        for name in OUTPUT_TABLES:
            _switch(places.warehouse / name / f"{PARTITION_KEY}={methodology.cycle}", store / name)
        write_bytes_atomic(places.releases / methodology.cycle / "current.json",
                           json.dumps({"release_id": release_id, "manifest": manifest.name}).encode())
    except OSError as err:
        raise WarehouseError(f"cannot publish cycle {methodology.cycle} into {places.warehouse}: "
                             f"{err.strerror or err}; the previous release is still the one readers see") from err
    prune_stores(places, methodology.cycle, keep=RELEASES_KEPT)
    return Release(release_id, methodology.cycle, manifest, counts, hashes, tables)


def write_manifest(places: Places, methodology: Methodology, release_id: str, now: datetime,
                   entries: pl.DataFrame, counts: dict[str, int], hashes: dict[str, str]) -> Path:
    """Record what produced a release: methodology hash, code version, submissions, counts, hashes."""
    used = entries.filter(pl.col("status") == ACCEPTED).sort("region_code")
    manifest = {
        "release_id": release_id,
        "cycle": methodology.cycle,
        "created_at": now.isoformat(),
        "methodology": {"file": methodology_path(methodology.cycle).name, "sha256": methodology.sha256},
        "code_version": code_version(),
        "submissions_used": used.select("region_code", "submission_id", "bundle").to_dicts(),
        "tables": {
            name: {"rows": counts[name], "content_sha256": hashes[name], "schema_version": spec.version,
                   "path": f"{name}/{PARTITION_KEY}={methodology.cycle}"}
            for name, spec in OUTPUT_TABLES.items()
        },
        "inputs_sha256": hashlib.sha256(
            (methodology.sha256 + "".join(sorted(used["submission_id"].to_list()))).encode()).hexdigest(),
    }
    path = places.releases / methodology.cycle / f"{release_id}.json"
    write_bytes_atomic(path, json.dumps(manifest, indent=2, ensure_ascii=False).encode())
    return path


def prune_stores(places: Places, cycle: str, keep: int) -> None:
    """Drop table files of old releases (manifests stay); the newest `keep` remain for readers in flight."""
    root = places.warehouse / "_store" / cycle
    if not root.is_dir():
        return
    releases = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    for old in releases[:-keep]:
        remove_tree(old)


def current_release(places: Places, cycle: str) -> dict[str, object] | None:
    """The manifest of the release readers currently see, or None before the first publish."""
    pointer = places.releases / cycle / "current.json"
    if not pointer.exists():
        return None
    name = json.loads(pointer.read_text())["manifest"]
    return json.loads((places.releases / cycle / name).read_text())
