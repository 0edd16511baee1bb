"""Where things are: the project's own data (methodology, reference) and the run's landing/warehouse.

The methodology and reference data are found beside the code, so commands work from any directory.
"""

from __future__ import annotations

import hashlib
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import polars as pl

from transforms.methodology import Methodology, MethodologyError, parse_methodology

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "data"
METHODOLOGY_DIR = Path(os.environ.get("PEKPPP_METHODOLOGY", DATA_DIR / "methodology"))
REFERENCE_DIR = DATA_DIR / "reference"


@dataclass(frozen=True)
class Places:
    """The landing zone regions upload into and the warehouse the pipeline owns."""

    landing: Path
    warehouse: Path

    @classmethod
    def from_env(cls, landing: str | Path | None = None, warehouse: str | Path | None = None) -> Places:
        return cls(
            landing=Path(landing or os.environ.get("PEKPPP_LANDING", "data/landing")).resolve(),
            warehouse=Path(warehouse or os.environ.get("PEKPPP_WAREHOUSE", "data/warehouse")).resolve(),
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


def methodology_path(cycle: str, directory: Path | None = None) -> Path:
    """The cycle's methodology file (.toml); a cycle without one is an error, never a default."""
    directory = directory or METHODOLOGY_DIR
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
    return sorted(p.stem for p in (directory or METHODOLOGY_DIR).glob("*.toml"))


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
