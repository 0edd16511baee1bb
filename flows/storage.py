"""Durable files of the warehouse: atomic writes, the one Parquet writer, read-only raw copies.

Everything the pipeline writes goes through here, so "a crash never leaves a half-written file a
reader can see" is kept in one place: write beside the target under a hidden name, fsync, rename.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.schemas import TableSpec, conform

PARQUET_COMPRESSION = "zstd"
PARQUET_ROW_GROUP_ROWS = 256_000


class WarehouseError(RuntimeError):
    """The warehouse cannot be written (permissions, disk full, ...); the previous state is intact."""


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
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def arrow_table(frame: pl.DataFrame, spec: TableSpec, *, drop: tuple[str, ...] = ()) -> pa.Table:
    """The frame conformed to its declared schema, as Arrow with nullability from the declaration."""
    conformed = conform(frame, spec).drop(list(drop))
    table = conformed.to_arrow()
    fields = [pa.field(f.name, f.type, nullable=next(c.nullable for c in spec.columns if c.name == f.name),
                       metadata={"description": next(c.description for c in spec.columns if c.name == f.name)})
              for f in table.schema]
    schema = pa.schema(fields, metadata={"table": spec.name, "schema_version": str(spec.version)})
    return table.cast(schema)


def write_parquet(frame: pl.DataFrame, spec: TableSpec, target: Path, *, drop: tuple[str, ...] = ()) -> int:
    """Write one declared table as zstd Parquet with statistics, atomically; returns rows written."""
    table = arrow_table(frame, spec, drop=drop)
    with atomic_path(target) as tmp:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION, write_statistics=True,
                       row_group_size=PARQUET_ROW_GROUP_ROWS)
    return table.num_rows


def content_hash(frame: pl.DataFrame, *, exclude: tuple[str, ...] = ()) -> str:
    """A hash of a table's content (names, types, values in order), stable across releases.

    Hashed as schema plus CSV text: Arrow/IPC buffers of equal frames can differ in layout, text
    cannot.
    """
    kept = frame.drop([c for c in exclude if c in frame.columns])
    digest = hashlib.sha256(repr(list(kept.schema.items())).encode())
    digest.update(kept.write_csv().encode())
    return digest.hexdigest()


def make_read_only(root: Path) -> None:
    """Strip write permission from a stored tree so nothing a region sent is altered later."""
    for path in sorted(root.rglob("*"), reverse=True):
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    root.chmod(root.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


def store_raw(source: Path, target: Path) -> Path:
    """Copy a bundle (folder or zip) byte for byte to `target/<name>`, read-only; a no-op if stored.

    The copy is made under a hidden temporary folder and renamed into place, so a crash leaves
    either nothing or the whole bundle.
    """
    final = target / source.name
    if final.exists():
        return final
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        if source.is_dir():
            shutil.copytree(source, staging / source.name, symlinks=False)
        else:
            shutil.copy2(source, staging / source.name)
        make_read_only(staging)
        os.replace(staging, target)
    except OSError as err:
        if target.exists():  # another run stored the same bytes first
            return final
        raise WarehouseError(f"cannot keep the raw copy of {source} under {target}: {err.strerror}") from err
    finally:
        if staging.exists():
            remove_tree(staging)
    return final


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
