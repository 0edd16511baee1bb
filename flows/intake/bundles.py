"""Opening a bundle (folder or zip) safely, and its content-derived submission id.

A zip is checked header by header before a byte is unpacked (paths leaving the folder, links, entry count,
declared size, compression ratio, duplicate names) and unpacked only into a temporary folder, counting
real bytes; such problems raise `UnsafeBundle`, a bundle that is neither folder nor readable zip
`SubmissionRejected`. Names are canonical (junk files left out, a single top folder skipped), so a folder
and the same files zipped open alike and get the same id.
"""

from __future__ import annotations

import hashlib
import re
import stat
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from flows.intake.entries import BundleEntries, FileEntry, Refusal, inspect_bundle, open_regular
from flows.intake.tables import RULE_UNREADABLE, error_line, table_issue
from transforms.methodology import Limits

BUNDLE_TABLE = "bundle"
"""The `table` of problems with the bundle as a whole (zip, folder)."""

RULE_NOT_A_BUNDLE = "not_a_bundle"
RULE_SYMLINK = "symlink"
RULE_ZIP_SLIP = "zip_slip"
RULE_ZIP_ABSOLUTE_PATH = "zip_absolute_path"
RULE_ZIP_SYMLINK = "zip_symlink"
RULE_ZIP_TOO_MANY_FILES = "zip_too_many_files"
RULE_ZIP_TOO_LARGE = "zip_too_large"
RULE_ZIP_BOMB = "zip_bomb"
RULE_ZIP_DUPLICATE_ENTRY = "zip_duplicate_entry"

_CHUNK = 1 << 22
"""Bytes read at a time when hashing and extracting (bounded memory)."""
_RATIO_CHECK_MIN_BYTES = 1 << 20
"""Entries smaller than this are not judged on compression ratio: they cannot be a bomb, and small
CSVs of empty rows (`;;;;;;`) legitimately compress far beyond any sensible ratio."""
_JUNK_NAMES = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


# ---------------------------------------------------------------- typed errors


class SubmissionRejected(Exception):
    """The bundle cannot be used as a whole; `issues` are the critical problems (ISSUE_SCHEMA dicts)."""

    def __init__(self, issues: list[dict[str, Any]]) -> None:
        self.issues = issues
        first = issues[0]["message"] if issues else "the bundle was rejected"
        more = f" ({len(issues) - 1} more problem(s) listed in the issues)" if len(issues) > 1 else ""
        super().__init__(f"{first}{more}")


class UnsafeBundle(SubmissionRejected):
    """A zip (or folder) that could write outside its folder or blow up in size; it is never unpacked."""


# ---------------------------------------------------------------- bundles: folder or zip


def _parts(name: str) -> tuple[str, ...]:
    return tuple(p for p in name.replace("\\", "/").split("/") if p not in ("", "."))


def is_junk(parts: tuple[str, ...]) -> bool:
    """Files operating systems add to folders and zips (macOS resource forks, thumbnails): not content."""
    return parts[0] == "__MACOSX" or parts[-1].lower() in _JUNK_NAMES or parts[-1].startswith("._")


def _canonical(names: list[tuple[str, ...]]) -> tuple[int, list[str]]:
    """(top folders to skip, relative names): the names as if the bundle's content were zipped bare.

    When every file sits under the same single top folder (someone zipped the folder, or uploaded a
    folder inside the bundle folder), that folder is skipped, repeatedly.
    """
    depth = 0
    while names and all(len(p) > depth + 1 for p in names) and len({p[depth] for p in names}) == 1:
        depth += 1
    return depth, ["/".join(p[depth:]) for p in names]


def refusal_issues(refused: Sequence[Refusal], bundle_name: str) -> list[dict[str, Any]]:
    """The refused entries as critical issues naming each entry (the bundle's name for the bundle itself)."""
    return [table_issue(BUNDLE_TABLE, r.rule, r.message, value=r.name or bundle_name) for r in refused]


def _zip_issue(rule: str, name: str, message: str) -> dict[str, Any]:
    return table_issue(BUNDLE_TABLE, rule, message, value=name)


def _checked_members(archive: zipfile.ZipFile, limits: Limits) -> list[tuple[zipfile.ZipInfo, str]]:
    """The zip's files with their canonical names, after checking every header against the limits.

    Checks headers only (nothing is decompressed): entry count, paths that leave the folder
    (`..`, absolute), symbolic links, declared total size and per-entry compression ratio, duplicate
    names. All problems are collected, then raised together as `UnsafeBundle`.
    """
    infos = archive.infolist()
    if len(infos) > limits.zip_max_files:
        raise UnsafeBundle([_zip_issue(RULE_ZIP_TOO_MANY_FILES, f"{len(infos)} entries", (
            f"The zip holds {len(infos)} entries, more than the {limits.zip_max_files} allowed; put only the "
            "bundle's table files in it and upload again."))])
    issues: list[dict[str, Any]] = []
    seen: set[tuple[str, ...]] = set()
    total = 0
    files: list[tuple[zipfile.ZipInfo, tuple[str, ...]]] = []
    for info in infos:
        name = info.filename
        parts = _parts(name)
        if name.replace("\\", "/").startswith("/") or re.match(r"^[A-Za-z]:", name):
            issues.append(_zip_issue(RULE_ZIP_ABSOLUTE_PATH, name, (
                f"The zip entry '{name}' has an absolute path, which would be written outside the bundle; it "
                "is refused for safety. Zip the files (or their folder) with relative names and upload again.")))
        elif ".." in parts:
            issues.append(_zip_issue(RULE_ZIP_SLIP, name, (
                f"The zip entry '{name}' points outside the bundle folder ('..'); it is refused for safety. "
                "Zip only the bundle's files (or their folder) and upload again.")))
        if stat.S_ISLNK(info.external_attr >> 16):
            issues.append(_zip_issue(RULE_ZIP_SYMLINK, name, (
                f"The zip entry '{name}' is a symbolic link; links are refused for safety. Zip the real "
                "files and upload again.")))
            continue
        if info.is_dir() or not parts:
            continue
        if parts in seen:
            issues.append(_zip_issue(RULE_ZIP_DUPLICATE_ENTRY, name, (
                f"The zip holds '{name}' twice, so it is unclear which one counts; zip each file once and "
                "upload again.")))
        seen.add(parts)
        total += info.file_size
        if info.file_size > _RATIO_CHECK_MIN_BYTES and info.file_size > limits.zip_max_ratio * info.compress_size:
            issues.append(_zip_issue(RULE_ZIP_BOMB, name, (
                f"The zip entry '{name}' unpacks to {info.file_size} bytes from {info.compress_size}, more "
                f"than {limits.zip_max_ratio} times its packed size; it is refused as a possible zip bomb. "
                "Send the tables as plain files or in a normal zip.")))
        if not is_junk(parts):
            files.append((info, parts))
    if total > limits.zip_max_bytes:
        issues.append(_zip_issue(RULE_ZIP_TOO_LARGE, f"{total} bytes", (
            f"The zip unpacks to {total} bytes, more than the {limits.zip_max_bytes} allowed; split the "
            "survey over fewer columns or contact the evaluation team.")))
    if issues:
        raise UnsafeBundle(issues)
    _, names = _canonical([parts for _, parts in files])
    return [(info, name) for (info, _), name in zip(files, names, strict=True)]


def _extract(archive: zipfile.ZipFile, members: list[tuple[zipfile.ZipInfo, str]], folder: Path,
             limits: Limits) -> None:
    """Stream the members into `folder`, counting real bytes so a lying header cannot exceed the limit."""
    root = folder.resolve()
    total = 0
    for info, name in members:
        target = (root / name).resolve()
        if not target.is_relative_to(root):
            raise UnsafeBundle([_zip_issue(RULE_ZIP_SLIP, info.filename, (
                f"The zip entry '{info.filename}' points outside the bundle folder; it is refused for safety."))])
        target.parent.mkdir(parents=True, exist_ok=True)
        written = 0
        with archive.open(info) as source, target.open("xb") as sink:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                total += len(chunk)
                if written > info.file_size or total > limits.zip_max_bytes:
                    raise UnsafeBundle([_zip_issue(RULE_ZIP_BOMB, info.filename, (
                        f"The zip entry '{info.filename}' unpacks to more bytes than its header declares or "
                        "than the bundle limit; it is refused as a possible zip bomb."))])
                sink.write(chunk)


_ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, RuntimeError, ValueError,
                    NotImplementedError, zlib.error)
"""What a damaged, encrypted or exotic zip raises while being read."""


def _unreadable_bundle(name: str, err: BaseException) -> SubmissionRejected:
    return SubmissionRejected([table_issue(BUNDLE_TABLE, RULE_UNREADABLE, (
        f"The bundle {name} could not be opened as a zip ({error_line(err)}); zip the table files "
        "again (without a password) and upload again."), value=name)])


@contextmanager
def open_bundle(path: Path, limits: Limits, name: str | None = None) -> Iterator[Path]:
    """The folder holding the bundle's files: the folder itself, or a zip safely unpacked in a temp dir.

    A single top folder inside (a zipped folder) is stepped into. Zips are checked before anything is
    written (`UnsafeBundle`); unpacking writes only inside a `TemporaryDirectory`, removed on exit.
    A folder with symbolic links is refused too. Other problems raise `SubmissionRejected`.
    """
    name = name or path.name
    entries = inspect_bundle(path)
    if entries.refused:
        raise UnsafeBundle(refusal_issues(entries.refused, name))
    if entries.is_dir:
        files = [(parts, path / entry.name) for entry in entries.files
                 for parts in [_parts(entry.name)] if parts and not is_junk(parts)]
        depth, _ = _canonical([parts for parts, _ in files])
        yield path.joinpath(*files[0][0][:depth]) if files else path
        return
    if path.suffix.lower() != ".zip":
        raise SubmissionRejected([table_issue(BUNDLE_TABLE, RULE_NOT_A_BUNDLE, (
            f"{name} is not a bundle: upload a folder or a .zip holding the table files."),
            value=name)])
    try:
        archive = zipfile.ZipFile(open_regular(path, expected=entries.files[0]))
    except _ZIP_READ_ERRORS as err:
        raise _unreadable_bundle(name, err) from err
    with archive, tempfile.TemporaryDirectory(prefix="pekppp-bundle-") as temp:
        members = _checked_members(archive, limits)
        try:
            _extract(archive, members, Path(temp), limits)
        except UnsafeBundle:
            raise
        except _ZIP_READ_ERRORS as err:
            raise _unreadable_bundle(name, err) from err
        yield Path(temp)


# ---------------------------------------------------------------- submission id


def _digest(entries: list[tuple[str, Callable[[], IO[bytes]]]], limit: int | None = None
            ) -> tuple[str, list[dict[str, Any]]]:
    """sha256 over the sorted (name, content sha256) list, and that list; contents are streamed."""
    files: list[dict[str, Any]] = []
    total = 0
    for name, opener in sorted(entries, key=lambda entry: entry[0]):
        content = hashlib.sha256()
        size = 0
        with opener() as stream:
            while chunk := stream.read(_CHUNK):
                content.update(chunk)
                size += len(chunk)
                total += len(chunk)
                if limit is not None and total > limit:
                    raise UnsafeBundle([_zip_issue(RULE_ZIP_BOMB, name, "unpacks beyond the bundle limit")])
        files.append({"name": name, "size": size, "sha256": content.hexdigest()})
    overall = hashlib.sha256()
    for file in files:
        overall.update(file["name"].encode() + b"\0" + file["sha256"].encode() + b"\n")
    return overall.hexdigest(), files


def bundle_fingerprint(path: Path, limits: Limits | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Content-derived submission id (64 hex) and the files it covers ({name, size, sha256}).

    The id is sha256 over the bundle's files sorted by relative name (name and content hash of each),
    with the same canonical names `open_bundle` uses (junk files left out, a single top folder
    skipped): a folder and the same files zipped get the same id, any changed byte a new one. Zip
    members are streamed, never written to disk.

    A bundle that cannot be opened as a folder or zip (damaged zip, not a zip) is identified by its
    file's own sha256. With `limits`, a zip whose headers break them (see `open_bundle`) is identified
    the same way without being decompressed: pass the cycle's limits for bundles not yet checked.
    """
    try:
        entries = inspect_bundle(path)
    except FileNotFoundError:
        return missing_fingerprint()
    if entries.refused:  # nothing of a refused bundle is read: its id comes from what was refused
        return _refused_digest(path, entries)
    if entries.is_dir:
        listed = [(parts, entry) for entry in entries.files
                  for parts in [_parts(entry.name)] if parts and not is_junk(parts)]
        _, names = _canonical([parts for parts, _ in listed])
        return _digest([(name, _opener(path / entry.name, entry))
                        for name, (_, entry) in zip(names, listed, strict=True)])
    try:
        with zipfile.ZipFile(open_regular(path, expected=entries.files[0])) as archive:
            if limits is not None:
                members = _checked_members(archive, limits)
            else:
                listed = [(i, _parts(i.filename)) for i in archive.infolist() if not i.is_dir()]
                listed = [(i, p) for i, p in listed if p and not is_junk(p)]
                _, names = _canonical([p for _, p in listed])
                members = [(info, name) for (info, _), name in zip(listed, names, strict=True)]
            return _digest([(name, _member_opener(archive, info)) for info, name in members],
                           limit=limits.zip_max_bytes if limits is not None else None)
    except (UnsafeBundle, *_ZIP_READ_ERRORS):
        pass
    _, files = _digest([(path.name, _opener(path, entries.files[0]))])
    return files[0]["sha256"], files


def _refused_digest(path: Path, entries: BundleEntries) -> tuple[str, list[dict[str, Any]]]:
    """The id of a bundle refused for what it holds: its safe files' names and sizes and its refused
    entries (never a byte of content: a refused bundle is not read)."""
    overall = hashlib.sha256(b"refused\0" + (b"dir" if entries.is_dir else path.suffix.lower().encode()))
    for entry in entries.files:
        overall.update(f"{entry.name}\0{entry.size}\n".encode())
    for refusal in entries.refused:
        overall.update(f"!{refusal.rule}\0{refusal.name}\0{refusal.message}\n".encode())
    return overall.hexdigest(), [{"name": e.name, "size": e.size, "sha256": None} for e in entries.files]


def _opener(path: Path, entry: FileEntry | None = None) -> Callable[[], IO[bytes]]:
    return lambda: open_regular(path, expected=entry)


def _member_opener(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Callable[[], IO[bytes]]:
    return lambda: archive.open(info)


def missing_fingerprint() -> tuple[str, list[dict[str, Any]]]:
    """A path that does not exist (or cannot be listed): the id of nothing, so the attempt can be recorded."""
    return hashlib.sha256(b"").hexdigest(), []


__all__ = ["BUNDLE_TABLE", "SubmissionRejected", "UnsafeBundle", "bundle_fingerprint", "open_bundle"]
