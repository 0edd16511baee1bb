"""Ingest: find bundles in the landing zone, keep their raw bytes, read and validate them, ledger them.

The landing zone is only ever read, and only through the intake guards (flows/intake/): each bundle's
regular files are copied byte for byte into the raw area keyed by content first (links, FIFOs and
the like are refused, never followed), and everything after that reads the copy, so what was
validated is what is kept. `pekppp validate` goes the same way through a temporary copy.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from expectations.report import batch_report_pages
from flows.intake.bundles import SubmissionRejected, bundle_fingerprint
from flows.intake.entries import Refusal, inspect_bundle
from flows.ledger import Entry, Ledger
from flows.readers import read_bundle, read_feed
from flows.settings import Places, bodies_reference
from flows.storage import (
    TMP_SUFFIX,
    WarehouseError,
    crash_point,
    ensure_writable,
    remove_temporaries,
    remove_tree,
    store_raw,
    stored_refusals,
    write_pages,
)
from transforms.bodies import KL_CODE_PATTERN, REGION_CODE_PATTERN
from transforms.methodology import Methodology
from transforms.schemas import BAD, ISSUE_SCHEMA, OMBUDSMAN_FEED, SEVERITY_CRITICAL
from transforms.submissions import ACCEPTED, LATE, REJECTED

REGION_CODE = re.compile(REGION_CODE_PATTERN)
FEED_NAME = "Ombudsman Republik Indonesia (penilaian kepatuhan)"
KL_CODE = re.compile(KL_CODE_PATTERN)


@dataclass(frozen=True)
class LandedBundle:
    """A bundle as found in the landing zone (a folder or a .zip under <cycle>/<region>/)."""

    cycle: str
    region_code: str
    path: Path
    size: int
    mtime_ns: int
    sent_as: str | None = None
    """The name it was uploaded under, when `path` is its kept raw copy (a re-run): the raw store is
    keyed by content, so one copy may hold the same bytes two regions sent under two names."""

    @property
    def name(self) -> str:
        return self.sent_as or self.path.name

    @property
    def received_at(self) -> datetime:
        """Upload time: the newest modification time of the bundle's files."""
        return datetime.fromtimestamp(self.mtime_ns / 1e9, UTC)


@dataclass(frozen=True)
class IngestResult:
    """What ingesting one bundle leaves for the run: its ledger entry (its issues are kept in the ledger)."""

    entry: Entry


def _visible(path: Path) -> bool:
    return not path.name.startswith((".", "_", "~"))


def is_feed(region_code: str) -> bool:
    """The landing folder (and ledger `region_code`) of the Ombudsman's compliance feed, not a body's."""
    return region_code == OMBUDSMAN_FEED


def landed_bundle(cycle: str, region_code: str, path: Path) -> LandedBundle:
    """Describe a bundle by size and newest mtime (cheap), with lstat only: nothing is followed or read."""
    try:
        entries = inspect_bundle(path)
        size, mtime = entries.size, entries.mtime_ns
    except OSError:  # a folder that cannot be listed: its reading will say why
        info = path.lstat()
        size, mtime = info.st_size, info.st_mtime_ns
    return LandedBundle(cycle, region_code, path, size, mtime)


def _is_folder(path: Path) -> bool:
    """A real folder (a link to one is not: nothing outside the landing zone is entered)."""
    return path.is_dir() and not path.is_symlink()


def discover(landing: Path, cycle: str) -> list[LandedBundle]:
    """Every bundle of a cycle in the landing zone, oldest upload first.

    Every visible entry of a region folder is a bundle to record: a folder or zip is read, anything
    else (a .rar, a link, a FIFO) is rejected with its reason, so no upload goes unrecorded. The
    Ombudsman's feed folder `_ombudsman` is read the same way (its bundles carry that name as their
    region). What is not under a region folder is listed by `landing_strays`.
    """
    root = landing / cycle
    if not _is_folder(root):
        return []
    found = []
    for region_dir in sorted(p for p in root.iterdir() if _is_folder(p) and (_visible(p) or is_feed(p.name))):
        for item in sorted(p for p in region_dir.iterdir() if _visible(p) and not _is_junk_name(p.name)):
            found.append(landed_bundle(cycle, region_dir.name, item))
    return sorted(found, key=lambda b: (b.mtime_ns, b.region_code, b.name))


_JUNK = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


def _is_junk_name(name: str) -> bool:
    return name.lower() in _JUNK


def landing_strays(landing: Path, cycle: str) -> list[tuple[str, str]]:
    """Entries of a cycle's landing folder that are not under a region folder: (path, why not used).

    Hidden names (a leading dot) are not uploads and are not listed; the Ombudsman feed folder is read by
    `discover` (a link named `_ombudsman` is not followed, and listed here).
    """
    root = landing / cycle
    if root.is_symlink():
        return [(str(root), "the cycle folder is a symbolic link; nothing under it is read")]
    if not root.is_dir():
        return []
    strays = []
    for entry in sorted(root.iterdir()):
        name = entry.name
        if name.startswith(".") or (is_feed(name) and _is_folder(entry)) or _is_junk_name(name):
            continue
        if entry.is_symlink():
            strays.append((str(entry), "a symbolic link, not a region folder; it is not followed"))
        elif not entry.is_dir():
            strays.append((str(entry), "a file directly under the cycle folder; bundles go under "
                                       f"{cycle}/<region_code>/"))
        elif not _visible(entry):
            strays.append((str(entry), f"folder name {name!r} starts with '_' or '~', so it is not a region "
                                       "folder; upload under <cycle>/<region_code>/"))
    return strays


def region_problem(region_code: str) -> str | None:
    """Why a landing folder name is not a body we know (region or K/L), or None when it is one (or the feed)."""
    if is_feed(region_code):
        return None
    if KL_CODE.match(region_code):
        if region_code not in set(bodies_reference()["region_code"].to_list()):
            return (f"K/L code {region_code} is not a kode Bagian Anggaran in the K/L reference list "
                    "(data/reference/kl.csv)")
        return None
    if not REGION_CODE.match(region_code):
        return (f"folder name {region_code!r} is not a Kemendagri region code like 35 or 35.78, nor a K/L's "
                "3-digit kode Bagian Anggaran like 027; upload under <cycle>/<region_code>/")
    if region_code not in set(bodies_reference()["region_code"].to_list()):
        return f"region code {region_code} is not a province or kabupaten/kota in the reference list"
    return None


def bundle_issue(rule: str, message: str, table: str = "bundle", column: str | None = None,
                 value: str | None = None) -> pl.DataFrame:
    return pl.DataFrame([{"table": table, "row": None, "column": column, "value": value, "rule": rule,
                          "severity": SEVERITY_CRITICAL, "message": message}], schema=ISSUE_SCHEMA)


def with_owner(tables: dict[str, pl.DataFrame], region_code: str, submission_id: str) -> dict[str, pl.DataFrame]:
    """Stamp each kept table with its region and submission (units already carry region_code)."""
    stamped = {}
    for name, frame in tables.items():
        extra = {"submission_id": pl.lit(submission_id)}
        if name != "units":
            extra["region_code"] = pl.lit(region_code)
        stamped[name] = frame.with_columns(**extra)
    return stamped


@dataclass(frozen=True)
class CheckedBundle:
    """The verdict on one bundle's content: its issues and, when accepted, the rows to keep."""

    rejected: bool
    reason: str | None
    issues: pl.DataFrame
    tables: dict[str, pl.DataFrame]
    ge_results: dict[str, Any] = field(default_factory=dict)  # GE's results by table, when asked for


def _read_checked(path: Path, methodology: Methodology, region_code: str, *, name: str | None = None,
                  refused: Sequence[Refusal] = ()) -> CheckedBundle:
    """Read a bundle; `rejected` when the folder or the files already decide it (before validation).

    Not rejected, `tables` are the reader's typed frames and `issues` its row-level problems.
    `name` is the bundle's name as uploaded; `refused` the entries its copy left out (links, FIFOs...).
    """
    problem = region_problem(region_code)
    if problem:
        return CheckedBundle(True, problem, bundle_issue("unknown_region", problem, value=region_code), {})
    try:
        read = (read_feed(path, methodology, name=name, refused=refused) if is_feed(region_code) else
                read_bundle(path, methodology, region_code, name=name, refused=refused))
    except SubmissionRejected as err:
        issues = pl.DataFrame(err.issues, schema=ISSUE_SCHEMA) if err.issues else bundle_issue("unreadable", str(err))
        return CheckedBundle(True, str(err), issues, {})
    # A rejected bundle keeps the tables that could be read: validation still reports their problems,
    # so the region fixes everything in one upload (nothing of it is used: see `_validated`).
    return CheckedBundle(read.rejected, read.reason, read.issues, read.tables)


def _validated(reads: list[tuple[str, CheckedBundle]], methodology: Methodology, *,
               keep_results: bool = False) -> list[CheckedBundle]:
    """Validate every read bundle in one batched call, those already rejected by the reader too.

    A bundle the reader rejected (a table missing, unreadable or without a column) keeps its verdict
    and reason, but the tables it could read are validated as well, so its issue list holds every
    problem at once (tables and columns present are the reader's checks only, so each is reported
    once). Bundles with nothing read (refused, unknown region, late) pass through.
    """
    from expectations.compliance import validate_feed  # GE is slow to import: only where validation runs
    from expectations.runner import validate_bundles

    readable = [n for n, (_region, read) in enumerate(reads) if read.tables or not read.rejected]
    pending = [n for n in readable if not is_feed(reads[n][0])]
    validations = validate_bundles([(reads[n][0], reads[n][1].tables) for n in pending], methodology,
                                   keep_results=keep_results) if pending else []
    feeds = [n for n in readable if is_feed(reads[n][0])]
    codes = bodies_reference()["region_code"].to_list() if feeds else []
    pending += feeds
    validations += [validate_feed(reads[n][1].tables, methodology, codes, keep_results=keep_results) for n in feeds]
    checked = [read for _region, read in reads]
    for n, validation in zip(pending, validations, strict=True):
        read = reads[n][1]
        found = validation.issues.select(list(ISSUE_SCHEMA))
        issues = pl.concat([read.issues, found], how="vertical_relaxed")
        if read.rejected:
            checked[n] = CheckedBundle(True, read.reason, issues, {}, validation.ge_results)
        elif validation.rejected:
            checked[n] = CheckedBundle(True, validation.reason, issues, {}, validation.ge_results)
        else:
            clean = {name: frame.drop([c for c in (BAD,) if c in frame.columns])
                     for name, frame in validation.clean.items()}
            checked[n] = CheckedBundle(False, None, issues, clean, validation.ge_results)
    return checked


def check_bundle(path: Path, methodology: Methodology, region_code: str, *,
                 keep_results: bool = False) -> CheckedBundle:
    """Read and validate a bundle exactly as the pipeline does; `pekppp validate` calls this too.

    The same path as a run: the bundle is first copied the way the raw store copies it (regular files
    only, nothing followed; into a temporary folder), then the copy is read with what was refused.
    """
    work = Path(tempfile.mkdtemp(prefix="pekppp-validate-"))
    try:
        copy = store_raw(path, work / "raw")
        read = _read_checked(copy, methodology, region_code, name=path.name, refused=stored_refusals(copy))
    except WarehouseError as err:  # the bundle could not be copied: say why, as a run would fail it
        read = CheckedBundle(True, str(err), bundle_issue("unreadable", str(err), value=path.name), {})
    finally:
        remove_tree(work)
    return _validated([(region_code, read)], methodology, keep_results=keep_results)[0]


def region_name(region_code: str) -> str:
    """The region's (or K/L's) name in the reference lists, or "" for a code they do not know."""
    if is_feed(region_code):
        return FEED_NAME
    names = bodies_reference().filter(pl.col("region_code") == region_code).get_column("name")
    return names.item() if names.len() == 1 else ""


@dataclass(frozen=True)
class OpenedBundle:
    """A landed bundle whose raw bytes are kept and which is read: the input of batched validation.

    `read` is the reader's verdict (already `rejected` for an unknown region or unreadable files);
    `late` holds the reason when the cycle had closed before the upload (then nothing was read).
    """

    bundle: LandedBundle
    submission_id: str
    raw: Path
    read: CheckedBundle
    late: str | None = None


def open_bundle(bundle: LandedBundle, methodology: Methodology, places: Places,
                submission_id: str | None = None) -> OpenedBundle:
    """Keep the bundle's raw bytes (content-addressed) and read the kept copy; never raises for content."""
    if submission_id is None:
        submission_id, _files = bundle_fingerprint(bundle.path, methodology.limits)
    raw = store_raw(bundle.path, places.raw / submission_id[:2] / submission_id,
                    staging=raw_staging(places, bundle.cycle))
    crash_point("ingest:raw")
    if methodology.is_late(bundle.received_at):
        reason = (f"cycle {methodology.cycle} closed at {methodology.closes_at}; bundle uploaded "
                  f"{bundle.received_at:%Y-%m-%d %H:%M} UTC is kept but not used")
        return OpenedBundle(bundle, submission_id, raw, CheckedBundle(True, reason, bundle_issue("late", reason), {}),
                            late=reason)
    name = bundle.name if bundle.sent_as or not bundle.path.is_relative_to(places.raw) else raw.name
    return OpenedBundle(bundle, submission_id, raw, _read_checked(raw, methodology, bundle.region_code, name=name,
                                                                  refused=stored_refusals(raw)))


def raw_staging(places: Places, cycle: str) -> Path:
    """Where a cycle's raw copies are made before their rename: cleaned under the cycle's lock."""
    return places.raw / ".staging" / cycle


def prepare_cycle(places: Places, cycle: str) -> int:
    """Before a cycle's work, under its lock: fail early on a warehouse that cannot be written, and
    remove what a killed run left (raw copies half made, temporary files of the ledger and reports).

    Returns how many leftovers were removed.
    """
    ensure_writable(places.warehouse)
    removed = 0
    staging = raw_staging(places, cycle)
    if staging.is_dir():
        removed += len(list(staging.iterdir()))
        remove_tree(staging)
    removed += remove_temporaries(places.ledger, prefix=f".{cycle}.")
    for root in (places.ledger / cycle, places.reports / cycle):
        if root.is_dir():
            for folder in {p.parent for p in root.rglob(f"*{TMP_SUFFIX}")}:
                removed += remove_temporaries(folder)
    return removed


def validate_opened(opened: list[OpenedBundle], methodology: Methodology) -> list[CheckedBundle]:
    """Validate read bundles of one cycle together (one GE call per table and batch), verdicts in order."""
    return _validated([(o.bundle.region_code, o.read) for o in opened], methodology)


def _status(opened: OpenedBundle, checked: CheckedBundle) -> str:
    return LATE if opened.late else REJECTED if checked.rejected else ACCEPTED


def report_pages(bundles: Sequence[tuple[OpenedBundle, CheckedBundle]]) -> list[dict[str, tuple[str, bytes]]]:
    """The region reports of validated bundles (format -> (file name, bytes)), rendered in one batch.

    A chunk's reports are grouped and counted in one query over all its issues: one query per
    bundle cost more than the rows it grouped.
    """
    return batch_report_pages([(checked.issues, {
        "cycle": opened.bundle.cycle, "region_code": opened.bundle.region_code,
        "region_name": region_name(opened.bundle.region_code), "bundle": opened.bundle.name,
        "submission_id": opened.submission_id, "status": _status(opened, checked), "reason": checked.reason,
    }) for opened, checked in bundles])


def keep_checked(opened: OpenedBundle, checked: CheckedBundle, places: Places, ledger: Ledger,
                 pages: dict[str, tuple[str, bytes]] | None = None) -> IngestResult:
    """Keep a validated bundle's accepted rows and issues, write its region report; its ledger entry.

    Writes only this submission's files (rows, issues, reports), so bundles can be kept in parallel.
    Reports go under `_reports/<cycle>/<region>/<submission_id>/` (report.html and report.md; no GE
    Data Docs: their pages need CDN assets GE does not ship, see the README). `pages` are the report
    as `report_pages` rendered it with the bundle's chunk; without them it is rendered here.
    """
    bundle, submission_id = opened.bundle, opened.submission_id
    status = _status(opened, checked)
    kept = with_owner(checked.tables, bundle.region_code, submission_id) if status == ACCEPTED else {}
    ledger.keep_rows(submission_id, kept, checked.issues, region_code=bundle.region_code)
    crash_point("ingest:kept")
    reports = places.reports / bundle.cycle / bundle.region_code / submission_id
    write_pages(reports, report_pages([(opened, checked)])[0] if pages is None else pages)
    return IngestResult(Entry(
        cycle=bundle.cycle, region_code=bundle.region_code, submission_id=submission_id, bundle=bundle.name,
        landing_path=str(bundle.path), size=bundle.size, mtime_ns=bundle.mtime_ns, received_at=bundle.received_at,
        status=status, reason=checked.reason, n_issues=checked.issues.height, raw_path=str(opened.raw),
    ))


def ingest_bundles(work: list[tuple[LandedBundle, str | None]], methodology: Methodology, places: Places,
                   ledger: Ledger) -> list[IngestResult]:
    """Keep, read, validate (together) and ledger bundles of one cycle, in order, without Prefect.

    The flow does the same in chunks on its task runner (flows/chunked_ingest.py); this is for tools and tests.
    The same submission id twice (same bytes from two regions) is kept one after the other, in order.
    """
    opened = [open_bundle(bundle, methodology, places, submission_id) for bundle, submission_id in work]
    checked = validate_opened(opened, methodology)
    pages = report_pages(list(zip(opened, checked, strict=True)))
    return [keep_checked(o, c, places, ledger, p) for o, c, p in zip(opened, checked, pages, strict=True)]


def ingest_bundle(bundle: LandedBundle, methodology: Methodology, places: Places, ledger: Ledger,
                  submission_id: str | None = None) -> IngestResult:
    """Keep, read, validate and ledger one bundle; never raises for anything a region sent."""
    return ingest_bundles([(bundle, submission_id)], methodology, places, ledger)[0]
