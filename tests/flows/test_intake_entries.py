"""Unit tests of flows/intake/entries.py (named test_intake_entries: test module names are unique across folders).

What a bundle holds, looked at with lstat only, and its safe copy: links, FIFOs and hard links out of the
bundle are refused, never followed or read.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from flows.intake import entries
from flows.settings import IntakeLimits

LIMITS = IntakeLimits()


def bundle(tmp_path: Path) -> Path:
    folder = tmp_path / "bundle"
    (folder / "sub").mkdir(parents=True)
    (folder / "units.csv").write_bytes(b"unit_id\nU1\n")
    (folder / "sub" / "evaluations.csv").write_bytes(b"x\n")
    return folder


def test_a_clean_folder_lists_its_regular_files_and_size(tmp_path: Path) -> None:
    """Names relative to the bundle, sizes summed (11 + 2 bytes), nothing refused."""
    found = entries.inspect_bundle(bundle(tmp_path), LIMITS)
    assert found.is_dir and found.refused == ()
    assert sorted(f.name for f in found.files) == ["sub/evaluations.csv", "units.csv"]
    assert found.size == 13


def test_links_and_fifos_are_refused_by_rule(tmp_path: Path) -> None:
    folder = bundle(tmp_path)
    (folder / "link.csv").symlink_to(folder / "units.csv")
    os.mkfifo(folder / "pipe.csv")
    found = entries.inspect_bundle(folder, LIMITS)
    assert [(r.name, r.rule) for r in found.refused] == [("link.csv", entries.RULE_SYMLINK),
                                                         ("pipe.csv", entries.RULE_SPECIAL_FILE)]
    assert "named pipe (FIFO)" in found.refused[1].message
    assert "link.csv" not in {f.name for f in found.files}


def test_a_hard_link_out_of_the_bundle_is_refused_but_not_one_inside(tmp_path: Path) -> None:
    folder = bundle(tmp_path)
    os.link(folder / "units.csv", tmp_path / "outside.csv")
    refused = entries.inspect_bundle(folder, LIMITS).refused
    assert [(r.name, r.rule) for r in refused] == [("units.csv", entries.RULE_HARD_LINK)]
    (tmp_path / "outside.csv").unlink()
    os.link(folder / "units.csv", folder / "sub" / "copy.csv")  # both names inside: nothing escapes
    assert entries.inspect_bundle(folder, LIMITS).refused == ()
    allowed = dataclasses.replace(LIMITS, refuse_hard_links=False)
    os.link(folder / "units.csv", tmp_path / "outside.csv")
    assert entries.inspect_bundle(folder, allowed).refused == ()


def test_a_link_named_like_a_bundle_is_refused_itself(tmp_path: Path) -> None:
    (tmp_path / "b.zip").symlink_to("/etc/hostname")
    found = entries.inspect_bundle(tmp_path / "b.zip", LIMITS)
    assert (found.files, [(r.name, r.rule) for r in found.refused]) == ((), [("", entries.RULE_SYMLINK)])


def test_count_and_size_limits(tmp_path: Path) -> None:
    """3 entries (units.csv, sub, sub/evaluations.csv) pass a limit of 3, not 2; 13 bytes pass 13, not 12."""
    folder = bundle(tmp_path)
    assert entries.inspect_bundle(folder, dataclasses.replace(LIMITS, bundle_max_files=3)).refused == ()
    too_many = entries.inspect_bundle(folder, dataclasses.replace(LIMITS, bundle_max_files=2))
    assert [r.rule for r in too_many.refused] == [entries.RULE_TOO_MANY_FILES]
    assert entries.inspect_bundle(folder, dataclasses.replace(LIMITS, bundle_max_bytes=13)).refused == ()
    too_large = entries.inspect_bundle(folder, dataclasses.replace(LIMITS, bundle_max_bytes=12))
    assert [r.rule for r in too_large.refused] == [entries.RULE_TOO_LARGE]
    assert "PEKPPP_BUNDLE_MAX_BYTES" in too_large.refused[0].message


def test_a_single_file_bundle(tmp_path: Path) -> None:
    (tmp_path / "b.zip").write_bytes(b"PK")
    found = entries.inspect_bundle(tmp_path / "b.zip", LIMITS)
    assert (found.is_dir, [f.name for f in found.files], found.size) == (False, ["b.zip"], 2)


def test_copy_bundle_copies_listed_files_with_mtimes_and_skips_refused(tmp_path: Path) -> None:
    folder = bundle(tmp_path)
    os.utime(folder / "units.csv", ns=(1_000_000_000, 1_000_000_000))
    (folder / "link.csv").symlink_to(folder / "units.csv")
    found = entries.inspect_bundle(folder, LIMITS)
    target = tmp_path / "copy"
    entries.copy_bundle(folder, target, found, LIMITS)
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*")) == ["sub", "sub/evaluations.csv",
                                                                              "units.csv"]
    assert (target / "units.csv").read_bytes() == b"unit_id\nU1\n"
    assert (target / "units.csv").stat().st_mtime_ns == 1_000_000_000


def test_an_oversized_bundle_is_not_copied(tmp_path: Path) -> None:
    folder = bundle(tmp_path)
    small = dataclasses.replace(LIMITS, bundle_max_bytes=1)
    entries.copy_bundle(folder, tmp_path / "copy", entries.inspect_bundle(folder, small), small)
    assert list((tmp_path / "copy").iterdir()) == []


def test_open_regular_refuses_a_fifo_without_waiting_and_a_swapped_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe")
    with pytest.raises(entries.UnsafeEntry, match="not a regular file"):
        entries.open_regular(tmp_path / "pipe")
    (tmp_path / "a").write_bytes(b"a")
    (tmp_path / "b").write_bytes(b"b")
    seen = entries.inspect_bundle(tmp_path / "a", LIMITS).files[0]
    with pytest.raises(entries.UnsafeEntry, match="changed while the bundle was read"):
        entries.open_regular(tmp_path / "b", expected=seen)
    with entries.open_regular(tmp_path / "a", expected=seen) as handle:
        assert handle.read() == b"a"
