"""Property-based fuzzing of the CSV and JSON readers (hypothesis): any bytes give a frame or one
clear `UnreadableFile`, never another exception; well-formed tables read back cell for cell."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from flows.intake.tables import UnreadableFile, read_raw
from transforms.schemas import ROW

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# cells as regions type them: letters (Indonesian and a few accented), digits, punctuation, quotes,
# separators and line breaks inside quotes; no control characters and no surrounding blanks
cell_text = st.text(alphabet=st.characters(whitelist_categories=("L", "N", "P", "S", "Zs"),
                                           blacklist_characters="\x00\ufeff\u2028\u2029\x85"),
                    min_size=1, max_size=20).map(str.strip).filter(bool)
header_names = st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,11}", fullmatch=True), min_size=1, max_size=6,
                        unique=True)


def read(data: bytes, suffix: str) -> pl.DataFrame | UnreadableFile:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"units{suffix}"
        path.write_bytes(data)
        try:
            return read_raw(path, "units")
        except UnreadableFile as err:
            return err


@FUZZ
@given(st.binary(max_size=2048))
@example(b"x\x01\x95")  # a zlib header: Polars tried to inflate it and raised OSError (found in CI)
@example(b"\x1f\x8b\x08\x00")  # a gzip header
def test_any_bytes_as_csv_give_a_frame_or_one_clear_line(data: bytes) -> None:
    result = read(data, ".csv")
    if isinstance(result, UnreadableFile):
        assert result.message and "\n" not in result.message and "None" not in result.message.split()
    else:
        assert ROW in result.columns and result[ROW].is_sorted() and (result.height == 0 or result[ROW].min() >= 2)


@FUZZ
@given(st.binary(max_size=2048))
@example(b"(\xb5/\xfd")  # a zstd header: Polars tried to inflate the JSON and raised OSError (found by a long run)
@example(b"\xef\xbb\xbf(\xb5/\xfd")  # the same behind a byte-order mark
def test_any_bytes_as_json_and_jsonl_give_a_frame_or_one_clear_line(data: bytes) -> None:
    for suffix in (".json", ".jsonl"):
        result = read(data, suffix)
        if isinstance(result, UnreadableFile):
            assert result.message and "\n" not in result.message
        else:
            assert ROW in result.columns


@FUZZ
@given(header_names.flatmap(lambda names: st.tuples(
    st.just(names), st.lists(st.lists(cell_text, min_size=len(names), max_size=len(names)), min_size=1, max_size=8),
    st.sampled_from([",", ";", "\t"]), st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]))))
def test_a_well_formed_csv_reads_back_cell_for_cell(table: tuple[list[str], list[list[str]], str, str]) -> None:
    names, rows, separator, encoding = table
    text = io.StringIO()
    csv.writer(text, delimiter=separator, lineterminator="\n", quoting=csv.QUOTE_ALL).writerows([names, *rows])
    try:
        data = text.getvalue().encode(encoding)
    except UnicodeEncodeError:
        return  # a character Windows-1252 cannot hold: not a file a region could save
    result = read(data, ".csv")
    assert not isinstance(result, UnreadableFile), result
    assert result.select(names).rows() == [tuple(r) for r in rows]
    assert result[ROW].to_list() == list(range(2, 2 + len(rows)))


json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), cell_text)


@FUZZ
@given(header_names.flatmap(lambda names: st.lists(
    st.fixed_dictionaries({n: json_scalar for n in names}), min_size=1, max_size=8)))
def test_json_records_read_back_as_text(records: list[dict]) -> None:
    for suffix, data in ((".json", json.dumps(records)), (".jsonl", "\n".join(json.dumps(r) for r in records))):
        result = read(data.encode(), suffix)
        assert not isinstance(result, UnreadableFile), result
        names = list(records[0])
        expected = [tuple(None if r[n] is None else str(r[n]).lower() if isinstance(r[n], bool) else str(r[n])
                          for n in names) for r in records if any(v is not None for v in r.values())]
        assert result.select(names).rows() == expected


@FUZZ
@given(st.dictionaries(st.from_regex(r"[a-z]{1,6}", fullmatch=True), json_scalar, min_size=1, max_size=5),
       st.integers(0, 4))
def test_a_repeated_json_key_is_always_refused(record: dict, position: int) -> None:
    key = sorted(record)[position % len(record)]
    body = json.dumps(record)[:-1] + f", {json.dumps(key)}: 1}}"
    for suffix, data in ((".json", f"[{body}]"), (".jsonl", body)):
        result = read(data.encode(), suffix)
        assert isinstance(result, UnreadableFile) and result.rule == "duplicate_key", (suffix, data)
