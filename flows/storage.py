"""Durable files of the warehouse: atomic writes and links, the one Parquet writer, read-only raw copies.

Everything the pipeline writes goes through here, so "a crash never leaves a half-written file a
reader can see" is kept in one place: write beside the target under a hidden name, fsync, rename.
Hidden is not invisible: Polars and DuckDB globs (`*/*.parquet`) match names starting with a dot, so
temporary names end in `.tmp` and temporary links are made outside the folders readers scan.

`crash_point(step)` is a test hook: when the environment variable PEKPPP_TEST_CRASH_AT names the
step, the process kills itself with SIGKILL there, as a power cut would. The kill tests
(tests/flows/test_publish_kill.py) use it; unset, it costs one environment lookup per step.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import shutil
import signal
import stat
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from flows.intake.entries import BundleEntries, Refusal, copy_bundle, inspect_bundle
from flows.settings import setting
from transforms.schemas import TableSpec, conform

PARQUET_COMPRESSION = "zstd"
PARQUET_ROW_GROUP_ROWS = 256_000
TMP_SUFFIX = ".tmp"
CRASH_ENV = "PEKPPP_TEST_CRASH_AT"
_UMASK = os.umask(0o022)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
"""Mode of written files: what a plain open() would give. mkstemp's 0600 would lock out reader accounts."""


class WarehouseError(RuntimeError):
    """The warehouse cannot be written (permissions, disk full, ...); the message says what readers see."""


class SchemaViolation(WarehouseError):
    """A table does not fit its declared schema (type, nulls); raised before any of its bytes are written."""


def one_line(err: BaseException | str) -> str:
    """An error message on one line (Polars and OS messages can span several)."""
    return " ".join(str(err).split())


def os_reason(err: OSError) -> str:
    """The OS's words for a failure, e.g. 'No space left on device'; never 'None'."""
    return err.strerror or (errno.errorcode.get(err.errno or 0) if err.errno else None) or one_line(err) \
        or type(err).__name__


def crash_point(step: str) -> None:
    """Test hook: SIGKILL this process at `step` when PEKPPP_TEST_CRASH_AT names it (see module doc)."""
    if setting(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """A hidden temporary path beside `target`, renamed onto it only when the block succeeds."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        crash_point(f"atomic:{target.name}")
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def _dtype_problem(values: pl.Series, declared: pl.DataType | type[pl.DataType]) -> str | None:
    """Why a column cannot be stored as its declared type without changing a value, or None.

    Only exact types, all-null columns, numbers that survive the cast unchanged (an UInt32 rank into
    Int64) and another unit of the same temporal type pass; a string of digits is not a number here.
    """
    actual = values.dtype
    if actual == declared or actual == pl.Null:
        return None
    if actual.is_numeric() and declared.is_numeric():
        try:
            cast = values.cast(declared, strict=True)
        except pl.exceptions.PolarsError:
            return f"is {actual} with values out of range for {declared}"
        if not cast.cast(actual).eq_missing(values).all():
            return f"is {actual} with values that would change as {declared}"
        return None
    if actual.is_temporal() and actual.base_type() == declared.base_type() \
            and getattr(actual, "time_zone", None) == getattr(declared, "time_zone", None):
        return None
    return f"is {actual}, declared {declared}"


def arrow_table(frame: pl.DataFrame, spec: TableSpec, *, drop: tuple[str, ...] = ()) -> pa.Table:
    """The frame conformed to its declared schema, as Arrow with nullability and descriptions from the
    declaration; a wrong type or a null in a non-null column raises SchemaViolation."""
    problems = [f"{spec.name}.{c.name} {problem}" for c in spec.columns if c.name in frame.columns
                for problem in [_dtype_problem(frame[c.name], c.dtype)] if problem]
    if problems:
        raise SchemaViolation("; ".join(problems) + " (declared in transforms/schemas.py); nothing was written")
    try:
        conformed = conform(frame, spec).drop(list(drop))
    except (ValueError, pl.exceptions.PolarsError) as err:
        raise SchemaViolation(f"{one_line(err)} (declared in transforms/schemas.py); nothing was written") from err
    declared = {c.name: c for c in spec.columns}
    table = conformed.to_arrow()
    fields = [pa.field(f.name, f.type, nullable=declared[f.name].nullable,
                       metadata={"description": declared[f.name].description})
              for f in table.schema]
    schema = pa.schema(fields, metadata={"table": spec.name, "schema_version": str(spec.version),
                                         "description": spec.description})
    return table.cast(schema)


def write_table(table: pa.Table, target: Path) -> int:
    """The one Parquet writer: zstd, statistics, bounded row groups, atomically; returns rows written."""
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION, write_statistics=True,
                       row_group_size=PARQUET_ROW_GROUP_ROWS)
    return table.num_rows


def write_parquet(frame: pl.DataFrame, spec: TableSpec, target: Path, *, drop: tuple[str, ...] = ()) -> int:
    """Write one declared table as zstd Parquet with statistics, atomically; returns rows written."""
    return write_table(arrow_table(frame, spec, drop=drop), target)


def content_hash(frame: pl.DataFrame, *, exclude: tuple[str, ...] = ()) -> str:
    """A hash of a table's content (names, types, values in order), stable across releases.

    Hashed as schema plus CSV text: Arrow/IPC buffers of equal frames can differ in layout, text
    cannot.
    """
    kept = frame.drop([c for c in exclude if c in frame.columns])
    digest = hashlib.sha256(repr(list(kept.schema.items())).encode())
    digest.update(kept.write_csv().encode())
    return digest.hexdigest()


def make_read_only(root: Path, *, include_root: bool = True) -> None:
    """Strip write permission from a stored tree so nothing a region sent is altered later."""
    for path in sorted(root.rglob("*"), reverse=True):
        mode = path.lstat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    if include_root:
        root.chmod(root.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


RAW_REFUSED = ".refused.json"
"""Beside a raw copy: the entries of the bundle that were refused and not copied (links, FIFOs, ...)."""


def stored_bundle(target: Path) -> Path | None:
    """The bundle kept under a raw store folder, whatever name it arrived under; None when none is."""
    if not target.is_dir():
        return None
    kept = sorted(p for p in target.iterdir() if not p.name.startswith("."))
    return kept[0] if kept else None


def stored_refusals(raw: Path) -> list[Refusal]:
    """The refused entries recorded beside a raw copy (none for a clean bundle or an older copy)."""
    sidecar = raw.parent / RAW_REFUSED
    if not sidecar.exists():
        return []
    return [Refusal(**item) for item in json.loads(sidecar.read_text())]


def store_raw(source: Path, target: Path, entries: BundleEntries | None = None, *,
              staging: Path | None = None) -> Path:
    """Keep a bundle's bytes under `target` (its content's folder), read-only; the kept bundle's path.

    The raw store is keyed by content alone: when `target` already holds these bytes (sent under
    another name, by another region, or by an earlier run) nothing is copied and the kept copy is
    returned, whatever its name. Only the regular files `entries` lists are copied, through
    O_NOFOLLOW opens (flows/intake/entries.py): links, FIFOs, devices and hard links out of the bundle
    are never followed or read; they are listed in `.refused.json` beside the copy. The copy is made
    under `staging` (default: a hidden folder beside `target`) and renamed into place, so a crash
    leaves either nothing or the whole bundle.
    """
    existing = stored_bundle(target)
    if existing is not None:
        return existing
    entries = entries if entries is not None else inspect_bundle(source)
    staging_root = staging if staging is not None else target.parent
    staging_root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TMP_SUFFIX, dir=staging_root))
    try:
        copy_bundle(source, work / source.name, entries)
        if entries.refused:
            (work / RAW_REFUSED).write_text(json.dumps([r.__dict__ for r in entries.refused], indent=1))
        make_read_only(work, include_root=False)  # a folder moved to another parent must be writable (its '..')
        target.parent.mkdir(parents=True, exist_ok=True)
        crash_point("raw:copied")
        os.replace(work, target)
        target.chmod(target.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    except OSError as err:
        kept = stored_bundle(target)
        if kept is not None:  # another run stored the same bytes first
            return kept
        where = f" ({err.filename})" if getattr(err, "filename", None) else ""
        raise WarehouseError(f"cannot keep the raw copy of {source} under {target}: {os_reason(err)}{where}") from err
    finally:
        if work.exists():
            remove_tree(work)
    return target / source.name


def remove_tree(path: Path) -> None:
    """Remove a tree we own, read-only parts included."""
    def _make_writable_and_retry(func, failed_path, _exc_info):  # type: ignore[no-untyped-def]
        Path(failed_path).parent.chmod(0o755)
        with contextlib.suppress(OSError):
            Path(failed_path).chmod(0o755)
        func(failed_path)

    shutil.rmtree(path, onerror=_make_writable_and_retry)


def write_frame(frame: pl.DataFrame, target: Path) -> None:
    """Write an internal (undeclared) frame, e.g. a submission's accepted rows, atomically as Parquet."""
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp, compression=PARQUET_COMPRESSION, statistics=True)


def switch_link(link: Path, target: Path, staging: Path) -> None:
    """Point `link` at `target` (relatively) by renaming a fresh symlink over it: atomic on POSIX.

    The fresh link is made in `staging` (same file system, outside any folder readers scan) and
    renamed into place, so no temporary name ever shows up beside `link`.
    """
    link.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir(parents=True, exist_ok=True)
    if link.exists() and not link.is_symlink():
        raise WarehouseError(f"{link} is a real folder, not a release link; move it away and re-run")
    relative = os.path.relpath(target, link.parent)
    if link.is_symlink() and os.readlink(link) == relative:
        return
    fd, tmp_name = tempfile.mkstemp(prefix=f".{link.name}.", suffix=TMP_SUFFIX, dir=staging)
    os.close(fd)
    tmp = Path(tmp_name)
    tmp.unlink()
    try:
        os.symlink(relative, tmp)
        crash_point(f"link:{link.parent.name}/{link.name}")
        os.replace(tmp, link)
        _fsync_dir(link.parent)
    finally:
        tmp.unlink(missing_ok=True)


def exchange(a: Path, b: Path) -> None:
    """Swap the names `a` and `b` in one atomic step (Linux `renameat2` with RENAME_EXCHANGE).

    Where the kernel or file system cannot (an old kernel, some network file systems), `b` is renamed
    aside and `a` into its place: two renames, so a reader listing `b` at that instant finds nothing
    and retries. `a` then names what `b` held.
    """
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except AttributeError:
        renameat2 = None
    if renameat2 is not None:
        if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        code = ctypes.get_errno()
        if code not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
            raise OSError(code, os.strerror(code), str(a), None, str(b))
    aside = a.with_name(a.name + ".old")
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def show_folder(folder: Path, files: dict[str, Path], staging: Path, retired: Path | None = None) -> bool:
    """Make `folder` a real folder holding exactly `files` (name -> the file to hard-link), switched in at once.

    The new folder is built in `staging` (same file system, outside every folder readers scan) with
    hard links to the release's files, then exchanged with `folder` atomically, so a reader listing
    `folder` sees the old files or the new ones, never both or none. Real files in real folders: any
    reader's recursive glob finds them and `cp -r`/`rsync -a`/`tar` of a table copy them. Returns
    False when `folder` already holds exactly those files.

    With `retired`, the folder swapped out is moved there instead of deleted at once: a reader that
    resolved `folder` just before the switch and lists it just after still finds the old release's
    files (deleting them at once let such a reader list an empty folder and read an empty cycle). The
    caller empties `retired` at its next switch.
    """
    if folder.is_dir() and not folder.is_symlink():
        present = set(os.listdir(folder))
        if present == set(files) and all((folder / name).samefile(source) for name, source in files.items()):
            return False
    staging.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", suffix=TMP_SUFFIX, dir=staging))
    try:
        for name, source in files.items():
            os.link(source, fresh / name)
        fresh.chmod(DIR_MODE)  # mkdtemp's 0700 would hide the table from other accounts
        folder.parent.mkdir(parents=True, exist_ok=True)
        crash_point(f"show:{folder.parent.name}/{folder.name}")
        if folder.exists() or folder.is_symlink():
            exchange(fresh, folder)  # `fresh` now names what readers saw before
            if retired is not None and fresh.is_dir() and not fresh.is_symlink():
                retired.mkdir(parents=True, exist_ok=True)
                os.rename(fresh, retired / f"{folder.parent.name}.{folder.name}.{time.time_ns()}")
        else:
            os.rename(fresh, folder)
        _fsync_dir(folder.parent)
    finally:
        if fresh.is_symlink():
            fresh.unlink()
        elif fresh.exists():
            remove_tree(fresh)
    return True


def write_pages(folder: Path, pages: dict[str, tuple[str, bytes]]) -> dict[str, Path]:
    """Write rendered pages (kind -> (file name, bytes)) into `folder`, each atomically; their paths by kind."""
    written = {}
    for kind, (name, data) in pages.items():
        write_bytes_atomic(folder / name, data)
        written[kind] = folder / name
    return written


def remove_temporaries(directory: Path, prefix: str = ".") -> int:
    """Delete what crashed writers left in `directory`: entries named `<prefix>...tmp`; returns how many."""
    if not directory.is_dir():
        return 0
    stale = [p for p in directory.iterdir() if p.name.startswith(prefix) and p.name.endswith(TMP_SUFFIX)]
    for path in stale:
        if path.is_dir() and not path.is_symlink():
            remove_tree(path)
        else:
            path.unlink(missing_ok=True)
    return len(stale)


def ensure_writable(directory: Path) -> None:
    """Fail early, saying why, when `directory` cannot be created or written into (as root too)."""
    probe = directory
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise WarehouseError(f"warehouse {directory} cannot be created: {probe} is a file, not a folder; "
                             "choose another --warehouse")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise WarehouseError(f"warehouse {directory} is not writable ({probe}: permission denied or read-only "
                             "file system); choose another --warehouse or fix its permissions")


@contextlib.contextmanager
def exclusive_lock(path: Path, *, timeout: float, what: str) -> Iterator[None]:
    """Hold an advisory lock on `path` (released by the kernel if the process dies); waits up to `timeout` s."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise WarehouseError(f"{what} is busy: another process holds {path} (waited {timeout:.0f} s); "
                                         "let it finish and re-run") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock
