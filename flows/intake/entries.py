"""What a bundle holds, found without following anything out of it, and its safe copy.

Every entry is looked at with lstat (through directory file descriptors opened O_NOFOLLOW, so a
folder swapped for a link mid-walk is not entered) before a byte is read. Only regular files are
ever opened, with O_NOFOLLOW | O_NONBLOCK, and checked to be the very file lstat saw: a symbolic
link, FIFO, socket or device is never opened, and a file with another name outside the bundle (a
hard link) is not read. Such a bundle is refused whole, with one line naming the entry.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from flows.settings import IntakeLimits, intake_limits

RULE_SYMLINK = "symlink"
RULE_SPECIAL_FILE = "special_file"
RULE_HARD_LINK = "hard_link"
RULE_TOO_MANY_FILES = "bundle_too_many_files"
RULE_TOO_LARGE = "bundle_too_large"

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC
_CHUNK = 1 << 22


class UnsafeEntry(OSError):
    """An entry changed between its lstat and its open (a race), or is not what it claimed to be."""


@dataclass(frozen=True)
class Refusal:
    """An entry refused before anything of it was read: `name` inside the bundle ('' = the bundle itself)."""

    name: str
    rule: str
    message: str


@dataclass(frozen=True)
class FileEntry:
    """A regular file of the bundle as lstat saw it."""

    name: str
    dev: int
    ino: int
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class BundleEntries:
    """A bundle's regular files and refused entries; `size` and `mtime_ns` describe its upload."""

    is_dir: bool
    files: tuple[FileEntry, ...]
    refused: tuple[Refusal, ...]
    size: int
    mtime_ns: int


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "special file"


def _refuse_type(name: str, shown: str, mode: int) -> Refusal:
    if stat.S_ISLNK(mode):
        return Refusal(name, RULE_SYMLINK, (
            f"The bundle holds a symbolic link '{shown}'; links are refused for safety and what they point at "
            "is never read. Upload the real files."))
    return Refusal(name, RULE_SPECIAL_FILE, (
        f"'{shown}' in the bundle is a {_kind(mode)}, not a file; it is refused for safety and was not opened. "
        "Upload the real files."))


def _hard_link(name: str, links: int) -> Refusal:
    return Refusal(name, RULE_HARD_LINK, (
        f"'{name}' in the bundle is a hard link with {links} names, some outside the bundle; it is refused for "
        "safety and was not read. Upload a copy of the file."))


class _TooMany(Exception):
    pass


def _walk(fd: int, prefix: str, visit: Callable[[str, int, str, os.stat_result], None], budget: list[int]) -> None:
    """Call `visit(relative name, parent fd, name, lstat)` for every entry under the open folder `fd`."""
    with os.scandir(fd) as listing:
        names = sorted(entry.name for entry in listing)
    for name in names:
        budget[0] -= 1
        if budget[0] < 0:
            raise _TooMany
        info = os.stat(name, dir_fd=fd, follow_symlinks=False)
        relative = f"{prefix}{name}"
        visit(relative, fd, name, info)
        if stat.S_ISDIR(info.st_mode):
            sub = os.open(name, _DIR_FLAGS, dir_fd=fd)
            try:
                if os.fstat(sub).st_ino != info.st_ino:
                    raise UnsafeEntry(f"{relative} changed while it was read")
                _walk(sub, relative + "/", visit, budget)
            finally:
                os.close(sub)


def inspect_bundle(path: Path, limits: IntakeLimits | None = None) -> BundleEntries:
    """The bundle's regular files and what is refused in it, without opening any file.

    A bundle is a folder or a regular file (a .zip): the path itself is looked at with lstat, so a
    link named like a bundle is refused, not followed. Raises OSError only when the path cannot be
    looked at at all (gone, no permission on the folder).
    """
    limits = limits or intake_limits()
    top = os.lstat(path)
    if not stat.S_ISDIR(top.st_mode):
        if not stat.S_ISREG(top.st_mode):
            return BundleEntries(False, (), (_refuse_type("", path.name, top.st_mode),), 0, top.st_mtime_ns)
        refused: list[Refusal] = []
        if top.st_nlink > 1 and limits.refuse_hard_links:
            refused.append(_hard_link(path.name, top.st_nlink))
        if top.st_size > limits.bundle_max_bytes:
            refused.append(_too_large(path.name, top.st_size, limits))
        entry = FileEntry(path.name, top.st_dev, top.st_ino, top.st_size, top.st_mtime_ns)
        return BundleEntries(False, () if refused else (entry,), tuple(refused), top.st_size, top.st_mtime_ns)

    files: list[tuple[FileEntry, int]] = []
    refused = []
    newest = [top.st_mtime_ns]

    def visit(relative: str, _fd: int, _name: str, info: os.stat_result) -> None:
        newest[0] = max(newest[0], info.st_mtime_ns)
        if stat.S_ISREG(info.st_mode):
            files.append((FileEntry(relative, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns),
                          info.st_nlink))
        elif not stat.S_ISDIR(info.st_mode):
            refused.append(_refuse_type(relative, relative, info.st_mode))

    fd = os.open(path, _DIR_FLAGS)
    try:
        _walk(fd, "", visit, [limits.bundle_max_files])
    except _TooMany:
        return BundleEntries(True, (), (Refusal("", RULE_TOO_MANY_FILES, (
            f"The bundle folder {path.name} holds more than {limits.bundle_max_files} entries; put only the table "
            "files in it and upload again (limit: setting PEKPPP_BUNDLE_MAX_FILES).")),), 0, newest[0])
    finally:
        os.close(fd)
    names_inside: dict[tuple[int, int], int] = {}
    for entry, _links in files:
        names_inside[(entry.dev, entry.ino)] = names_inside.get((entry.dev, entry.ino), 0) + 1
    kept = []
    for entry, links in files:
        if limits.refuse_hard_links and links > names_inside[(entry.dev, entry.ino)]:
            refused.append(_hard_link(entry.name, links))
        else:
            kept.append(entry)
    size = sum(e.size for e in kept)
    if size > limits.bundle_max_bytes:
        refused.append(_too_large(path.name, size, limits))
    return BundleEntries(True, tuple(kept), tuple(sorted(refused, key=lambda r: r.name)), size, newest[0])


def _too_large(name: str, size: int, limits: IntakeLimits) -> Refusal:
    return Refusal("", RULE_TOO_LARGE, (
        f"The bundle {name} holds {size} bytes, more than the {limits.bundle_max_bytes} allowed; send only the "
        "table files, or contact the evaluation team (limit: setting PEKPPP_BUNDLE_MAX_BYTES)."))


def open_regular(path: Path, at: int | None = None, expected: FileEntry | None = None) -> BinaryIO:
    """Open a regular file for reading without following a link; refuse anything else (no FIFO wait).

    With `at` (a folder fd) `path` is a name inside it. With `expected`, the opened file must be the
    one lstat saw (same device and inode), so a swap between looking and opening is refused.
    """
    fd = os.open(path, _FILE_FLAGS, dir_fd=at)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeEntry(f"{path} is not a regular file")
        if expected is not None and (info.st_dev, info.st_ino) != (expected.dev, expected.ino):
            raise UnsafeEntry(f"{path} changed while the bundle was read")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _copy_stream(source: BinaryIO, target: Path, budget: list[int], what: str) -> None:
    """Copy in the kernel (sendfile), counting: a file growing past the bundle's limit is stopped."""
    with target.open("xb") as sink:
        offset = 0
        while sent := os.sendfile(sink.fileno(), source.fileno(), offset, _CHUNK):
            offset += sent
            budget[0] -= sent
            if budget[0] < 0:
                raise UnsafeEntry(f"{what} grew beyond the bundle limit while it was copied")


def copy_bundle(source: Path, target: Path, entries: BundleEntries, limits: IntakeLimits | None = None) -> None:
    """Copy the bundle's regular files (those `entries` lists) to `target`, keeping names and mtimes.

    Refused entries are not copied (a link is not followed, a FIFO not opened, a hard link not read);
    folders are recreated, so an empty one stays. `target` must not exist. A refused bundle itself
    (a link, a FIFO) and a bundle over the size or count limit give an empty folder: the refusals
    are what is recorded about it.
    """
    limits = limits or intake_limits()
    budget = [limits.bundle_max_bytes]
    wanted = {e.name: e for e in entries.files}
    if any(r.rule in (RULE_TOO_LARGE, RULE_TOO_MANY_FILES) for r in entries.refused):
        target.mkdir()  # an oversized upload is not kept: keeping it is the harm it would do
        return
    if not entries.is_dir:
        if not wanted:
            target.mkdir()
            return
        entry = next(iter(wanted.values()))
        with open_regular(source, expected=entry) as handle:
            _copy_stream(handle, target, budget, source.name)
        os.utime(target, ns=(entry.mtime_ns, entry.mtime_ns))
        return
    target.mkdir()
    folders: list[tuple[Path, int]] = []

    def visit(relative: str, fd: int, name: str, info: os.stat_result) -> None:
        here = target / relative
        if stat.S_ISDIR(info.st_mode):
            here.mkdir()
            folders.append((here, info.st_mtime_ns))
        elif relative in wanted:
            with open_regular(Path(name), at=fd, expected=wanted[relative]) as handle:
                _copy_stream(handle, here, budget, relative)
            os.utime(here, ns=(info.st_mtime_ns, info.st_mtime_ns))

    fd = os.open(source, _DIR_FLAGS)
    try:
        _walk(fd, "", visit, [limits.bundle_max_files])
    except _TooMany:
        pass  # refused already: what was copied so far is kept as it is
    finally:
        os.close(fd)
    for folder, mtime_ns in reversed(folders):
        os.utime(folder, ns=(mtime_ns, mtime_ns))
