"""Every setting and every place: the project's data (methodology, reference), the run's landing and
warehouse with each path inside it, and every `PEKPPP_*` environment setting (`SETTINGS`).

Settings are read when called, never at import, so an operator or a test can change them between
runs of one process. Other modules read a setting only through `setting(name)` (a test checks no
module reads `PEKPPP_*` from the environment itself, and that the README lists every one). The
methodology and reference data are found beside the code, so commands work from any directory.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass, fields
from functools import lru_cache
from pathlib import Path

import polars as pl

from documents.blocks import Signatory
from transforms.methodology import Methodology, MethodologyError
from transforms.methodology_parser import parse_methodology

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
REFERENCE_DIR = DATA_DIR / "reference"


class SettingError(ValueError):
    """An environment setting cannot be used (not a number, out of range)."""


@dataclass(frozen=True)
class Setting:
    """One `PEKPPP_*` environment setting: its name, what it holds when unset, and what it changes."""

    name: str
    default: str
    meaning: str


_SETTINGS: tuple[Setting, ...] = (
    Setting("PEKPPP_LANDING", "data/landing", "the landing zone regions upload into (or --landing)"),
    Setting("PEKPPP_WAREHOUSE", "data/warehouse", "the warehouse the pipeline owns (or --warehouse)"),
    Setting("PEKPPP_METHODOLOGY", "data/methodology beside the code", "the folder of the per-cycle methodology "
            "files (<cycle>.toml)"),
    Setting("PEKPPP_TASK_RUNNER", "threads", "the bundle tasks' runner: threads, threads:N or dask://host:port"),
    Setting("PEKPPP_INGEST_PROCESSES", "0", "worker processes for the chunks on the thread runner: 0 (none: each "
            "chunk in its task's thread), auto (one per core) or a number; used when a run has two chunks or more"),
    Setting("PEKPPP_INGEST_CHUNK_MB", "96", "megabytes of bundles validated in one chunk (one GE call per table)"),
    Setting("PEKPPP_LOCK_WAIT_SECONDS", "300", "how long a run waits for a cycle another run is working on"),
    Setting("PEKPPP_WAREHOUSE_DSN", "(none)", "the PostgreSQL to load after each publish (or --dsn)"),
    Setting("PEKPPP_DELTA_URI", "<warehouse>/_delta", "where the Delta feed is written; `off` switches it off"),
    Setting("PEKPPP_DELTA_STORAGE_OPTIONS", "(none)", "JSON object of storage options for a remote Delta URI"),
    Setting("PEKPPP_ALERT_BLOCK", "custom-webhook/pekppp-alerts", "the Prefect block the alerts are sent to"),
    Setting("PEKPPP_NIGHTLY_OVERDUE_HOURS", "26", "hours without a completed nightly before the overdue alert"),
    Setting("PEKPPP_SIGNATORY", "(blank block)", "the signature block: place, position, name and NIP joined by "
            "vertical bars"),
    Setting("PEKPPP_PROJECT_DIR", "(required to deploy)", "the checkout a Prefect worker runs (prefect.yaml, "
            "resolved at deploy time)"),
    Setting("PEKPPP_DEBUG", "(off)", "1: an unexpected error prints its traceback after the one-line message"),
    Setting("PEKPPP_TEST_CRASH_AT", "(off)", "test hook: SIGKILL the process at a named step (kill tests only)"),
)


def setting(name: str) -> str:
    """A setting's value now, stripped ('' when unset); a name not declared in SETTINGS is a bug."""
    if name not in SETTINGS:
        raise KeyError(f"{name} is not a declared setting (flows/settings.py SETTINGS)")
    return os.environ.get(name, "").strip()


def methodology_dir() -> Path:
    """The folder of the per-cycle methodology files: PEKPPP_METHODOLOGY, else data/methodology."""
    return Path(setting("PEKPPP_METHODOLOGY") or DATA_DIR / "methodology")


@dataclass(frozen=True)
class Places:
    """The landing zone regions upload into and the warehouse the pipeline owns."""

    landing: Path
    warehouse: Path

    @classmethod
    def from_env(cls, landing: str | Path | None = None, warehouse: str | Path | None = None) -> Places:
        return cls(
            landing=Path(landing or setting("PEKPPP_LANDING") or "data/landing").resolve(),
            warehouse=Path(warehouse or setting("PEKPPP_WAREHOUSE") or "data/warehouse").resolve(),
        )

    @property
    def raw(self) -> Path:
        """Content-addressed, read-only copies of every bundle received."""
        return self.warehouse / "_raw"

    @property
    def ledger(self) -> Path:
        return self.warehouse / "_ledger"

    @property
    def releases(self) -> Path:
        return self.warehouse / "_releases"

    @property
    def reports(self) -> Path:
        return self.warehouse / "_reports"

    @property
    def runs(self) -> Path:
        """Each cycle's last run (`pekppp status`)."""
        return self.warehouse / "_runs"

    @property
    def locks(self) -> Path:
        return self.warehouse / "_locks"

    @property
    def delta(self) -> Path:
        """The Delta feed's default root (PEKPPP_DELTA_URI may point elsewhere)."""
        return self.warehouse / "_delta"

    def store(self, cycle: str) -> Path:
        """Every kept release of a cycle, one folder each, and the `current` pointer."""
        return self.warehouse / "_store" / cycle

    def table_folder(self, table: str, cycle: str) -> Path:
        """The folder readers scan for one table and cycle: `<warehouse>/<table>/cycle=<C>`."""
        return self.warehouse / table / f"cycle={cycle}"


def methodology_path(cycle: str, directory: Path | None = None) -> Path:
    """The cycle's methodology file (.toml); a cycle without one is an error, never a default."""
    directory = directory or methodology_dir()
    path = directory / f"{cycle}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.toml"))) or "none"
        raise MethodologyError(f"no methodology for cycle {cycle!r}: expected {path} (cycles known: {known})")
    return path


def load_methodology(cycle: str, directory: Path | None = None) -> Methodology:
    """Read, hash and type one cycle's methodology file."""
    path = methodology_path(cycle, directory)
    data = path.read_bytes()
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise MethodologyError(f"{path}: not valid TOML ({err})") from err
    return parse_methodology(raw, cycle=cycle, source=str(path), sha256=hashlib.sha256(data).hexdigest())


def known_cycles(directory: Path | None = None) -> list[str]:
    """Every cycle with a methodology file, oldest first."""
    return sorted(p.stem for p in (directory or methodology_dir()).glob("*.toml"))


@lru_cache(maxsize=1)
def regions_reference() -> pl.DataFrame:
    """Provinces and kabupaten/kota with code, name, province_code and level (provinsi/kabupaten/kota)."""
    provinces = pl.read_csv(REFERENCE_DIR / "provinces.csv", schema_overrides={"province_code": pl.String})
    regencies = pl.read_csv(REFERENCE_DIR / "regencies.csv",
                            schema_overrides={"regency_code": pl.String, "province_code": pl.String})
    return pl.concat([
        provinces.select(pl.col("province_code").alias("region_code"), "name", "province_code",
                         pl.lit("provinsi").alias("level")),
        regencies.select(pl.col("regency_code").alias("region_code"), "name", "province_code",
                         pl.col("kind").alias("level")),
    ]).sort("region_code")


@lru_cache(maxsize=1)
def kl_reference() -> pl.DataFrame:
    """Ministries and agencies (K/L): kl_code (3-digit kode Bagian Anggaran, text) and name (see NOTICE.md)."""
    return pl.read_csv(REFERENCE_DIR / "kl.csv", schema_overrides={"kl_code": pl.String}).sort("kl_code")


@lru_cache(maxsize=1)
def bodies_reference() -> pl.DataFrame:
    """Every body that may submit: the regions, then the K/L (level `kl`, no province), as regions_reference."""
    return pl.concat([
        regions_reference(),
        kl_reference().select(pl.col("kl_code").alias("region_code"), "name",
                              pl.lit(None, dtype=pl.String).alias("province_code"), pl.lit("kl").alias("level")),
    ]).sort("region_code")


# ---------------------------------------------------------------- intake limits


@dataclass(frozen=True)
class IntakeLimits:
    """What one bundle may hold before it is refused, whatever its cycle: the ingest edge's own guard.

    Each figure is read from the environment (`PEKPPP_<NAME>` in capitals, e.g.
    PEKPPP_BUNDLE_MAX_BYTES) when called, else the default below. The defaults sit far above any
    real region's bundle (a national-size bundle is a few MB and ~20 k rows per table) and far below
    what would exhaust the machine, so one hostile upload is refused alone and the run goes on.
    """

    bundle_max_bytes: int = 2 * 2**30
    """Bytes of a bundle's files (a folder's files, or a zip's own size) before anything is copied."""
    bundle_max_files: int = 256
    """Entries (files, folders, anything) in a bundle folder."""
    table_max_bytes: int = 1 * 2**30
    """Bytes of one table's file as it is read (a zip's member, unpacked)."""
    table_max_rows: int = 5_000_000
    """Rows of one table."""
    table_max_columns: int = 2_000
    """Columns of one table (the contract has ~15; regions add a few of their own)."""
    cell_max_chars: int = 100_000
    """Characters in one cell (Excel itself stops at 32,767)."""
    xlsx_max_cells: int = 20_000_000
    """Cells of one sheet's bounding box (rows x columns), checked in the sheet's XML before the
    Excel reader allocates it (it allocates the whole box: one far cell costs the whole box)."""
    xlsx_max_unpacked_bytes: int = 1 * 2**30
    """Bytes of an XLSX's parts unpacked (sheets, shared strings)."""
    xlsx_reader_child: bool = True
    """Read each Excel sheet in a child process (~0.2 s a file) under the two limits below, so an abort or
    out-of-memory of the native reader rejects the file instead of killing the run; 0 reads in-process."""
    xlsx_reader_memory_bytes: int = 4 * 2**30
    """Address space of that child (RLIMIT_AS): a sheet of `xlsx_max_cells` text cells fits well inside."""
    xlsx_reader_timeout_seconds: int = 600
    """Seconds that child may take."""
    refuse_hard_links: bool = True
    """Refuse a file with another name outside its bundle (env PEKPPP_REFUSE_HARD_LINKS=0 allows them,
    for landing zones staged from hard links such as the benchmark's)."""

    @classmethod
    def from_env(cls) -> IntakeLimits:
        values: dict[str, int | bool] = {}
        for item in fields(cls):
            name = f"PEKPPP_{item.name.upper()}"
            raw = setting(name)
            if not raw:
                continue
            if item.type in (bool, "bool"):
                if raw.lower() not in ("0", "1", "true", "false", "yes", "no"):
                    raise SettingError(f"{name}={raw!r} is not 0 or 1")
                values[item.name] = raw.lower() in ("1", "true", "yes")
                continue
            try:
                number = int(raw.replace("_", ""))
            except ValueError:
                raise SettingError(f"{name}={raw!r} is not a whole number") from None
            if number <= 0:
                raise SettingError(f"{name}={raw!r} must be a positive number")
            values[item.name] = number
        return cls(**values)  # type: ignore[arg-type]


_INTAKE_NAMES = tuple(f"PEKPPP_{item.name.upper()}" for item in fields(IntakeLimits))


def intake_limits() -> IntakeLimits:
    """The intake limits now (environment read when called, so a test or operator can change them)."""
    return _intake_limits(tuple(os.environ.get(name) for name in _INTAKE_NAMES))


@lru_cache(maxsize=8)
def _intake_limits(_environment: tuple[str | None, ...]) -> IntakeLimits:
    return IntakeLimits.from_env()  # cached per environment: several calls a bundle, one parse


SIGNATORY_ENV = "PEKPPP_SIGNATORY"


def signatory() -> Signatory:
    """The signature block's text now (environment read when called); blank fields when unset."""
    raw = setting(SIGNATORY_ENV)
    if not raw:
        return Signatory()
    parts = [part.strip() for part in raw.split("|")]
    if len(parts) > 4:
        raise SettingError(f"{SIGNATORY_ENV}={raw!r}: give at most place|position|name|NIP")
    return Signatory(*parts)


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    *_SETTINGS,
    *(Setting(f"PEKPPP_{item.name.upper()}", str(int(item.default)),  # type: ignore[call-overload]
              f"intake limit: {item.name.replace('_', ' ')} (see The ingest edge)")
      for item in fields(IntakeLimits)),
)}
"""Every `PEKPPP_*` setting the code reads (the README's settings table lists the same)."""


PREFECT_DEFAULTS: dict[str, str] = {
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",  # a cold start on a busy 2-core machine
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",  # no internet to send it to
    "DO_NOT_TRACK": "1",  # Prefect's client-side telemetry, likewise
    "PREFECT_LOGGING_LEVEL": "WARNING",
}
"""Prefect's settings for embedded local mode, set unless the operator set them (CLI, tests, Makefile)."""


def prefect_defaults(home: str | Path) -> None:
    """Set PREFECT_HOME (to `home`) and PREFECT_DEFAULTS in this process's environment, unless already set."""
    os.environ.setdefault("PREFECT_HOME", str(home))
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
