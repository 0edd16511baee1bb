"""Unit tests of transforms/schemas.py: table declarations and `conform`, the check every output passes."""

from __future__ import annotations

import polars as pl
import pytest

from transforms import schemas


def test_table_spec_names_required_and_polars_schema() -> None:
    """units: annual_service_users is optional and nullable; everything else is required (as the README says)."""
    spec = schemas.UNITS
    assert spec.names == ["unit_id", "unit_name", "unit_type", "region_code", "annual_service_users"]
    assert spec.required_names == ["unit_id", "unit_name", "unit_type", "region_code"]
    assert spec.polars_schema["annual_service_users"] == pl.Int64


def test_skm_spec_has_one_answer_column_per_element_in_order() -> None:
    """The survey table follows the cycle's element list, each answer an Int8 that may be empty."""
    spec = schemas.skm_spec(["persyaratan", "biaya"])
    assert spec.required_names == ["unit_id", "respondent_id", "survey_date", "persyaratan", "biaya"]
    column = {c.name: c for c in spec.columns}["biaya"]
    assert (column.dtype, column.nullable) == (schemas.SURVEY_ANSWER_DTYPE, True)


def test_input_specs_cover_every_input_table() -> None:
    """One spec per input table; units and evaluations are the required ones."""
    specs = schemas.input_specs(["x"])
    assert tuple(specs) == schemas.INPUT_TABLES
    assert set(schemas.REQUIRED_TABLES) <= set(specs)
    assert all(specs[name].name == name for name in specs)


def test_output_tables_are_keyed_by_their_names() -> None:
    assert all(name == spec.name for name, spec in schemas.OUTPUT_TABLES.items())
    assert {"unit_scores", "region_scores", "national_scores", "award_roster", "validation_issues"} \
        <= set(schemas.OUTPUT_TABLES)


def test_empty_issues_has_the_issue_columns() -> None:
    frame = schemas.empty_issues()
    assert (frame.height, frame.columns) == (0, schemas.ISSUE_COLUMNS)


SPEC = schemas.TableSpec("t", (
    schemas.Column("a", pl.Int64), schemas.Column("b", pl.String, nullable=True),
    schemas.Column("c", pl.Float64, only_with="f03", nullable=True),
))


def test_conform_selects_orders_and_casts() -> None:
    """Extra columns go, declared ones come in declared order and type (Int32 -> Int64)."""
    frame = pl.DataFrame({"b": ["x"], "extra": [1], "a": pl.Series([7], dtype=pl.Int32), "c": [1.5]})
    out = schemas.conform(frame, SPEC)
    assert out.columns == ["a", "b", "c"]
    assert out.schema["a"] == pl.Int64


def test_conform_leaves_out_an_only_with_column_the_frame_lacks() -> None:
    """A cycle without F-03 publishes the table without its F-03 columns (present_columns says which)."""
    frame = pl.DataFrame({"a": [1], "b": [None]}, schema={"a": pl.Int64, "b": pl.String})
    assert [c.name for c in schemas.present_columns(frame.columns, SPEC)] == ["a", "b"]
    assert schemas.conform(frame, SPEC).columns == ["a", "b"]


def test_conform_refuses_a_missing_column() -> None:
    with pytest.raises(ValueError, match=r"t: columns missing \['b'\]"):
        schemas.conform(pl.DataFrame({"a": [1]}), SPEC)


def test_conform_refuses_nulls_in_a_non_null_column() -> None:
    """`a` is not nullable: one null is an error naming the table, column and count; `b` may be null."""
    frame = pl.DataFrame({"a": [1, None], "b": [None, None]}, schema={"a": pl.Int64, "b": pl.String})
    with pytest.raises(ValueError, match=r"t\.a: 1 nulls in a non-null column"):
        schemas.conform(frame, SPEC)
