"""Build the province and regency reference tables from the ``idn-area-data`` npm package.

Source: npm package ``idn-area-data`` version 4.0.1
(https://github.com/fityannugroho/idn-area-data); code MIT, data ODbL 1.0.
See ``NOTICE.md`` next to this file for attribution and licence terms.

Steps to regenerate (no shell needed to follow them):

1. Download the tarball of ``idn-area-data`` 4.0.1 from the npm registry
   (``npm pack idn-area-data@4.0.1`` yields ``idn-area-data-4.0.1.tgz``).
2. Extract it; it unpacks into a folder named ``package`` holding
   ``data/provinces.csv`` (``code,name``) and ``data/regencies.csv``
   (``code,province_code,name``).
3. Run this script with the path of that ``package`` folder. It writes, next to
   this file (or into ``--out-dir``):

   * ``provinces.csv`` -- columns ``province_code,name``;
   * ``regencies.csv`` -- columns ``regency_code,province_code,name,kind``.

Codes are Kemendagri dotted codes kept as text (``35``, ``35.78``); undotted
regency codes (``3578``) are converted to dotted form. Names are copied exactly
as the package has them. ``kind`` is ``kabupaten`` for a regency suffix 01-69
and ``kota`` for 71-99; any other suffix is an error. Output is UTF-8 with LF
line endings, sorted by code.

The ``make reference`` target does steps 1-3 in one go.
"""

from __future__ import annotations

import argparse
import csv
import re
import sys
from pathlib import Path

PROVINCE_COLUMNS: tuple[str, ...] = ("province_code", "name")
REGENCY_COLUMNS: tuple[str, ...] = ("regency_code", "province_code", "name", "kind")

EXPECTED_PROVINCES = 38
EXPECTED_REGENCIES = 514
EXPECTED_KABUPATEN = 416
EXPECTED_KOTA = 98

_PROVINCE_RE = re.compile(r"^(\d{2})$")
_REGENCY_RE = re.compile(r"^(\d{2})\.?(\d{2})$")


class ReferenceDataError(ValueError):
    """Raised when the package data does not look as expected."""


def province_code(raw: str) -> str:
    """Return a 2-digit province code, e.g. ``"35"``."""
    match = _PROVINCE_RE.match(raw.strip())
    if match is None:
        raise ReferenceDataError(f"bad province code: {raw!r}")
    return match.group(1)


def regency_code(raw: str) -> str:
    """Return a dotted regency code, e.g. ``"3578"`` or ``"35.78"`` -> ``"35.78"``."""
    match = _REGENCY_RE.match(raw.strip())
    if match is None:
        raise ReferenceDataError(f"bad regency code: {raw!r}")
    return f"{match.group(1)}.{match.group(2)}"


def regency_kind(code: str) -> str:
    """Return ``kabupaten`` (suffix 01-69) or ``kota`` (suffix 71-99) for a dotted code."""
    suffix = int(code[3:])
    if 1 <= suffix <= 69:
        return "kabupaten"
    if 71 <= suffix <= 99:
        return "kota"
    raise ReferenceDataError(f"regency code {code} has a suffix outside 01-69 / 71-99")


def _read_rows(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = set(columns) - set(reader.fieldnames or ())
        if missing:
            raise ReferenceDataError(f"{path}: missing columns {sorted(missing)}")
        return list(reader)


def load_provinces(path: Path) -> list[list[str]]:
    """Read the package's ``provinces.csv`` into ``[province_code, name]`` rows."""
    rows = [[province_code(row["code"]), row["name"]] for row in _read_rows(path, ("code", "name"))]
    _check_unique(path, [row[0] for row in rows])
    return sorted(rows, key=lambda row: row[0])


def load_regencies(path: Path, province_codes: set[str]) -> list[list[str]]:
    """Read the package's ``regencies.csv`` into ``[regency_code, province_code, name, kind]`` rows."""
    rows: list[list[str]] = []
    for row in _read_rows(path, ("code", "province_code", "name")):
        code = regency_code(row["code"])
        parent = province_code(row["province_code"])
        if code[:2] != parent:
            raise ReferenceDataError(f"regency {code} listed under province {parent}")
        if parent not in province_codes:
            raise ReferenceDataError(f"regency {code} refers to unknown province {parent}")
        rows.append([code, parent, row["name"], regency_kind(code)])
    _check_unique(path, [row[0] for row in rows])
    return sorted(rows, key=lambda row: row[0])


def _check_unique(path: Path, codes: list[str]) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise ReferenceDataError(f"{path}: duplicate code {code}")
        seen.add(code)


def write_csv(path: Path, header: tuple[str, ...], rows: list[list[str]]) -> None:
    """Write ``rows`` as UTF-8 CSV with LF line endings."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def build(package_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write ``provinces.csv`` and ``regencies.csv`` into ``out_dir``; return row counts."""
    data_dir = package_dir / "data"
    provinces = load_provinces(data_dir / "provinces.csv")
    regencies = load_regencies(data_dir / "regencies.csv", {row[0] for row in provinces})
    out_dir.mkdir(parents=True, exist_ok=True)
    write_csv(out_dir / "provinces.csv", PROVINCE_COLUMNS, provinces)
    write_csv(out_dir / "regencies.csv", REGENCY_COLUMNS, regencies)
    return {
        "provinces": len(provinces),
        "regencies": len(regencies),
        "kabupaten": sum(row[3] == "kabupaten" for row in regencies),
        "kota": sum(row[3] == "kota" for row in regencies),
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(
        description="Build data/reference/{provinces,regencies}.csv from an unpacked idn-area-data package."
    )
    parser.add_argument("package_dir", type=Path, help="unpacked idn-area-data folder (holds data/)")
    parser.add_argument(
        "--out-dir",
        type=Path,
        default=Path(__file__).resolve().parent,
        help="where to write the CSVs (default: the folder of this script)",
    )
    args = parser.parse_args(argv)
    try:
        counts = build(args.package_dir, args.out_dir)
    except (OSError, ReferenceDataError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"provinces={counts['provinces']} regencies={counts['regencies']} "
        f"(kabupaten={counts['kabupaten']} kota={counts['kota']}) -> {args.out_dir}"
    )
    expected = {
        "provinces": EXPECTED_PROVINCES,
        "regencies": EXPECTED_REGENCIES,
        "kabupaten": EXPECTED_KABUPATEN,
        "kota": EXPECTED_KOTA,
    }
    for name, want in expected.items():
        if counts[name] != want:
            print(f"warning: expected {want} {name}, got {counts[name]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
