"""The one catalogue of what people read (transforms/messages.py): rule texts and award reasons."""

from __future__ import annotations

import string

import polars as pl
import pytest

from transforms.messages import DECIMAL_MARK, LANGUAGES, REASON_TEXT, reason_expr, rule_text


def _fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


@pytest.mark.parametrize("key", sorted(REASON_TEXT))
def test_every_reason_says_the_same_figures_in_both_languages(key: str) -> None:
    bahasa, english = REASON_TEXT[key]
    assert _fields(bahasa) == _fields(english), key
    assert bahasa != english  # a Bahasa text that is the English one copied would pass the field check


def test_reason_expr_fills_fields_from_expressions_and_constants() -> None:
    frame = pl.DataFrame({"n": [47], "required": [48], "users": [51]})
    got = frame.select(id=reason_expr("sample_not_met", "id", n=pl.col("n"), required=pl.col("required"),
                                      users=pl.col("users")),
                       en=reason_expr("sample_not_met", "en", n=pl.col("n"), required=pl.col("required"),
                                      users=pl.col("users")),
                       fixed=reason_expr("eligible_complete", "id", total=30))
    assert got.row(0) == (
        "sampel survei belum terpenuhi: 47 dari 48 responden untuk 51 pengguna layanan per tahun "
        "(Krejcie-Morgan; require_survey_sample)",
        "survey sample not met: 47 of 48 respondents for 51 yearly service users "
        "(Krejcie-Morgan; require_survey_sample)",
        "layak: semua 30 indikator dinilai (require_complete)")


def test_reason_expr_refuses_an_unknown_language_and_a_missing_field() -> None:
    with pytest.raises(ValueError, match="language 'fr'"):
        reason_expr("no_survey", "fr")
    with pytest.raises(KeyError):
        reason_expr("sample_not_met", "id", n=pl.lit(1))


def test_decimal_marks_follow_the_language() -> None:
    assert set(DECIMAL_MARK) == set(LANGUAGES) and DECIMAL_MARK["id"] == "," and DECIMAL_MARK["en"] == "."


def test_rule_text_shows_bahasa_first_and_english_beside_or_english_alone() -> None:
    text, beside = rule_text("not_null", "unit_id must not be empty", table="units", column="unit_id", row=3)
    assert text.startswith("Kolom unit_id kosong") and beside == "unit_id must not be empty"
    assert rule_text("not_null", "unit_id must not be empty", lang="en") == ("unit_id must not be empty", None)
    assert rule_text("no_such_rule", "an English message") == ("an English message", None)
