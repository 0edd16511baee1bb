"""Parsing rules for what regions send: all-text cells in, typed columns plus row issues out.

Pure Polars (no file access): the readers in `flows/intake/tables.py` turn every format into an all-String
frame with normalised headers and the source row `_row`; `parse_table` applies one set of rules to
all of them, so a CSV, an Excel sheet and a JSON file with the same content give the same table and
the same issues.

Rules (each cell):

- surrounding whitespace is removed (including non-breaking spaces and byte-order marks Excel and
  Windows tools leave behind); an empty cell is null;
- text columns stay text: codes such as `01` keep their leading zero;
- whole-number columns accept `4`, ` 4 `, `+4`, `4.0`, `4,0` (decimal comma) and `4.00`; `4.5`, `abc`
  and `1.000`/`1,000` (three zeros after the separator: a thousands separator in id-ID or en-US
  spelling, so 1 or 1000 cannot be told apart) are a `type` issue;
- decimal (Float64) columns hold values given to 2 decimals (the Ombudsman's scores): `91.88`, `91,88`
  (decimal comma), `91.8`, `92`; more decimals, thousands separators or text are a `type` issue;
- date columns accept ISO `YYYY-MM-DD`, an ISO date-time (Excel cells, Parquet timestamps: the date
  part is kept) and `DD/MM/YYYY` as written in Indonesia (also with `-` or `.`); anything else,
  including impossible dates such as 30/02/2024, is a `type` issue;
- a non-nullable column whose cell is empty is a `not_null` issue;
- a row with more cells than the header (readers put the surplus in `_extra`) is an `extra_fields`
  issue: a value probably holds the separator without quotes, so its cells may have shifted.

Every issue has severity `row`: the row stays in the typed frame (bad cell null) with `_bad` true,
and the caller sets it aside. Vectorised throughout (a few column-wise passes, no per-row Python):
about 3-5 s for 10 M survey rows on two cores.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from transforms.schemas import BAD, ISSUE_SCHEMA, ROW, SEVERITY_ROW, Column, TableSpec, empty_issues

EXTRA = "_extra"
"""Raw-frame column a reader fills with the surplus cells of a row longer than the header (else null)."""

RESERVED = (ROW, BAD, EXTRA)
"""Column names the pipeline uses itself; a region's header can never produce them."""

RULE_TYPE = "type"
RULE_NOT_NULL = "not_null"
RULE_EXTRA_FIELDS = "extra_fields"

# Invisible characters that are not whitespace but that editors and web copy-paste leave in cells:
# the byte-order mark and the zero-width space.
_INVISIBLE = "\ufeff\u200b"
_WHITESPACE = " \t\r\n\v\f\u00a0\u2007\u202f\u3000"
_HEADER_SPACES = re.compile(r"\s+")

# A whole number written with a zero fraction: "4.0", "4,00". Exactly three zeros is left out on
# purpose: "1.000" is one thousand in Indonesian spelling and one in English.
_ZERO_FRACTION = r"^([+-]?\d+)[.,](?:0{1,2}|0{4,})$"
_ISO_DATE = r"^(\d{4}-\d{1,2}-\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?$"
_DMY_DATE = r"^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$"

_SUPPORTED = "String, integer types, Float64 (2 decimals) and Date"
_TWO_DECIMALS = r"^[+-]?\d+(?:[.,]\d{1,2})?$"


def normalise_header(name: str | None, position: int) -> str:
    """A header cell as a column name: BOM and outer spaces removed, lower case, inner spaces as `_`.

    `Unit ID ` and `unit_id` are the same column. An empty header cell becomes `column_<n>` (1-based
    position) so the frame stays addressable; such columns are outside the contract and ignored.
    Names the pipeline reserves (`_row`, `_bad`, `_extra`) get a `_sent` suffix, and so do names Polars
    would take for a pattern rather than a column (`*`, or `^...$` as a regular expression): a region's
    note column titled `*` made `pl.col` select every column.
    """
    text = (name or "").strip().strip(_INVISIBLE).strip().lower()
    text = _HEADER_SPACES.sub("_", text)
    if not text:
        return f"column_{position}"
    pattern = text == "*" or (text.startswith("^") and text.endswith("$"))
    return f"{text}_sent" if text in RESERVED or pattern else text


def duplicated_headers(names: Sequence[str]) -> list[str]:
    """Normalised names that occur more than once, in order of first repetition."""
    seen: set[str] = set()
    repeated: list[str] = []
    for name in names:
        if name in seen and name not in repeated:
            repeated.append(name)
        seen.add(name)
    return repeated


# ---------------------------------------------------------------- cell rules as expressions


def clean_text(name: str) -> pl.Expr:
    """The cell without surrounding whitespace; an empty or blank-only cell is null.

    Unicode whitespace (non-breaking spaces included) is stripped. The byte-order mark and the
    zero-width space are not whitespace; they are stripped from both ends too, in a second pass that
    only cells containing one of them take (inner ones stay: they are part of what was sent).
    """
    stripped = pl.col(name).cast(pl.String).str.strip_chars()
    stripped = (pl.when(stripped.str.contains(f"[{_INVISIBLE}]"))
                .then(stripped.str.strip_chars(_INVISIBLE + _WHITESPACE))
                .otherwise(stripped))
    return stripped.replace("", None)


def whole_number(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Text as a whole number of `dtype`; null when it is not one (or does not fit the type).

    Plain integers take the fast path; only cells that fail it are matched against the zero-fraction
    pattern (`4,0`).
    """
    direct = text.str.to_integer(strict=False)
    zero_fraction = text.str.extract(_ZERO_FRACTION, 1).str.to_integer(strict=False)
    return pl.when(direct.is_null()).then(zero_fraction).otherwise(direct).cast(dtype, strict=False)


def two_decimals(text: pl.Expr) -> pl.Expr:
    """Text as a number given to at most 2 decimals (decimal point or comma); null otherwise.

    The value is the float nearest to its hundredths, so `rounding.published_cents` recovers them exactly.
    """
    return (pl.when(text.str.contains(_TWO_DECIMALS))
            .then(text.str.replace(",", ".", literal=True).cast(pl.Float64, strict=False)))


def calendar_date(text: pl.Expr) -> pl.Expr:
    """Text as a date (ISO date or date-time, or day/month/year); null when it is not a real date.

    Plain ISO dates take the fast path; only cells that fail it are tried against the other spellings.
    """
    direct = text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    iso = text.str.extract(_ISO_DATE, 1).str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    day_first = (pl.when(text.str.contains(_DMY_DATE))
                 .then(text.str.replace_all(r"[.-]", "/").str.strptime(pl.Date, "%d/%m/%Y", strict=False)))
    return pl.when(direct.is_null()).then(pl.coalesce(iso, day_first)).otherwise(direct)


def _dtype(column: Column) -> pl.DataType:
    """The column's declared type as an instance (specs may give the class, e.g. `pl.Int64`)."""
    return column.dtype() if isinstance(column.dtype, type) else column.dtype


def _typed(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.String:
        return text
    if dtype.is_integer():
        return whole_number(text, dtype)
    if dtype == pl.Date:
        return calendar_date(text)
    if dtype == pl.Float64:
        return two_decimals(text)
    raise TypeError(f"parse_table supports {_SUPPORTED} columns, not {dtype}")


# ---------------------------------------------------------------- messages for the region officer


def _type_message(column: Column) -> pl.Expr:
    """What is wrong with a cell that did not parse and what to do, for the column's type."""
    if _dtype(column).is_integer():
        whole_but_too_big = (clean_text("value").str.to_integer(strict=False).is_not_null()
                             | clean_text("value").str.contains(_ZERO_FRACTION))
        return (pl.when(whole_but_too_big)
                .then(pl.lit(f"{column.name} is a whole number too large for this column; check the cell "
                             "and correct it."))
                .otherwise(pl.lit(f"{column.name} must be a whole number such as 4, without decimals or "
                                  "thousands separators; correct the cell and send the file again.")))
    if _dtype(column) == pl.Float64:
        return pl.lit(f"{column.name} must be a number with at most two decimals such as 91.88 (or 91,88), without "
                      "thousands separators; correct the cell and send the file again.")
    return pl.lit(f"{column.name} must be a date written as YYYY-MM-DD (e.g. 2024-03-15) or DD/MM/YYYY "
                  "(e.g. 15/03/2024) and be a real calendar date; correct the cell and send the file again.")


def _not_null_message(column: Column) -> str:
    return (f"{column.name} is empty but must be filled in; fill in the cell, or delete the row if it is "
            "not a real record.")


_EXTRA_MESSAGE = ("This row has more cells than the header row, so its values may have shifted: a value "
                  "probably contains the separator (',' or ';') without quotes. Put that value in double "
                  "quotes or remove the separator, and send the file again.")


# ---------------------------------------------------------------- the table


def _untidy_columns(raw: pl.DataFrame, names: list[str]) -> set[str]:
    """Columns with at least one cell that cleaning would change (edge blanks, empty text)."""
    if not names:
        return set()
    edge = f"^[\\s{_INVISIBLE}]|[\\s{_INVISIBLE}]$"
    found = raw.select((pl.col(n).cast(pl.String).str.contains(edge) | (pl.col(n).cast(pl.String) == "")).any()
                       for n in names)
    return {n for n in names if found.get_column(n).item()}


def _plain_values(raw: pl.DataFrame, columns: list[Column]) -> dict[str, pl.Series]:
    """Typed values of the columns whose every cell is written the plain way (the common, clean case).

    Plain means: a whole number as digits with an optional sign that fits the type (`str.to_integer`
    takes no blanks, invisible characters or empty text, so such a column is also tidy), or a date as
    ISO `YYYY-MM-DD` (the caller keeps a date column only when it is also tidy: the parser skips a
    leading blank). On those cells the full rules (`whole_number`, `calendar_date` after `clean_text`)
    give these very values, but compute every fallback spelling for every cell; a column with any
    other cell takes them. One query for all columns (a bundle's small files pay per query).
    """
    if not columns or raw.height == 0:
        return {}
    probe = raw.select(_direct(pl.col(c.name).cast(pl.String), _dtype(c)).alias(c.name) for c in columns)
    # a parse is null where the cell is empty or did not parse: equal null counts mean every cell parsed
    # (null counts are kept with the data: no second query per file)
    return {c.name: probe.get_column(c.name) for c in columns
            if probe.get_column(c.name).null_count() == raw.get_column(c.name).null_count()}


def _direct(text: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The plain spelling's parse alone (see `_plain_values`)."""
    if dtype.is_integer():
        return text.str.to_integer(strict=False).cast(dtype, strict=False)
    if dtype == pl.Float64:
        return two_decimals(text)
    return text.str.strptime(pl.Date, "%Y-%m-%d", strict=False)


def _flag(rule: str, name: str) -> str:
    return f"__{rule}__{name}"


def _typed_name(name: str) -> str:
    return f"__typed__{name}"


def parse_table(raw: pl.DataFrame, spec: TableSpec) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Type a reader's all-text frame by the table's spec; return (typed frame, issues).

    `raw` has String columns with normalised headers and `_row` (Int64, source row); it may have
    `_extra` (surplus cells, see module docstring) and columns outside the contract (dropped here).
    The typed frame has exactly the spec's columns in order (absent ones as typed nulls), then `_row`
    and `_bad`. A column the spec requires but `raw` lacks is left null and *not* reported per row:
    that is one bundle-level `missing_column` problem, which the bundle reader reports.
    Issues follow ISSUE_SCHEMA, ordered by source row then column, with the value as sent.

    Performance (10 M survey rows): three eager stages (clean text, typed values, flags), so each
    stage's columns are computed once (nesting the cleaning inside every later expression made Polars
    re-evaluate it). Cleaning copies a string column, so it is only done for columns that have a cell
    to clean; tidy columns pass through untouched.
    """
    if ROW not in raw.columns:
        raise ValueError(f"{spec.name}: the raw frame has no {ROW} column")
    present = [c for c in spec.columns if c.name in raw.columns]
    has_extra = EXTRA in raw.columns
    sources = [c.name for c in present] + ([EXTRA] if has_extra else [])
    converted = [c for c in present if _dtype(c) != pl.String]
    parsed = _plain_values(raw, converted)
    whole = {c.name for c in converted if _dtype(c).is_integer()}
    plain = {name: values for name, values in parsed.items() if name in whole}  # tidy by construction
    untidy = _untidy_columns(raw, [name for name in sources if name not in plain])
    plain |= {name: values for name, values in parsed.items() if name not in whole and name not in untidy}
    text = raw.select(pl.col(ROW).cast(pl.Int64),
                      *(clean_text(name) if name in untidy else pl.col(name).cast(pl.String) for name in sources))
    typed = text.with_columns(plain[c.name].alias(_typed_name(c.name)) if c.name in plain
                              else _typed(pl.col(c.name), _dtype(c)).alias(_typed_name(c.name)) for c in converted)

    flags: list[tuple[str, Column | None, str]] = []  # (flag column, spec column, rule)
    flag_exprs: list[pl.Expr] = []
    for column in present:
        if column in converted:
            flags.append((_flag(RULE_TYPE, column.name), column, RULE_TYPE))
            flag_exprs.append(pl.col(column.name).is_not_null() & pl.col(_typed_name(column.name)).is_null())
        if not column.nullable:
            flags.append((_flag(RULE_NOT_NULL, column.name), column, RULE_NOT_NULL))
            flag_exprs.append(pl.col(column.name).is_null())
    if has_extra:
        flags.append((_flag(RULE_EXTRA_FIELDS, EXTRA), None, RULE_EXTRA_FIELDS))
        flag_exprs.append(pl.col(EXTRA).is_not_null())
    flagged = typed.with_columns(expr.alias(name) for (name, _, _), expr in zip(flags, flag_exprs, strict=True))

    bad = pl.any_horizontal(name for name, _, _ in flags) if flags else pl.lit(False)
    typed_frame = flagged.select(
        *(pl.col(_typed_name(c.name) if c in converted else c.name).alias(c.name) if c in present
          else pl.lit(None, _dtype(c)).alias(c.name)
          for c in spec.columns),
        ROW,
        bad.alias(BAD),
    )
    return typed_frame, _issues(raw, flagged, spec, flags)


def _issues(raw: pl.DataFrame, flagged: pl.DataFrame, spec: TableSpec,
            flags: list[tuple[str, Column | None, str]]) -> pl.DataFrame:
    """One issue row per flagged cell, with the value as sent (only flagged rows are touched)."""
    order = {c.name: n for n, c in enumerate(spec.columns)}
    parts: list[pl.DataFrame] = []
    for flag, column, rule in flags:
        mask = flagged.get_column(flag)
        if not mask.any():
            continue
        source = column.name if column is not None else EXTRA
        if rule == RULE_TYPE and column is not None:
            message = _type_message(column)
        elif column is not None:
            message = pl.lit(_not_null_message(column))
        else:
            message = pl.lit(_EXTRA_MESSAGE)
        parts.append(
            raw.select(pl.col(ROW).cast(pl.Int64).alias("row"), pl.col(source).cast(pl.String).alias("value"))
            .filter(mask)
            .with_columns(column=pl.lit(column.name if column is not None else None, pl.String),
                          rule=pl.lit(rule), message=message,
                          _position=pl.lit(order[source] if column is not None else len(order)))
        )
    if not parts:
        return empty_issues()
    return (pl.concat(parts, how="vertical")
            .sort("row", "_position", maintain_order=True)
            .select(table=pl.lit(spec.name), row="row", column="column", value="value", rule="rule",
                    severity=pl.lit(SEVERITY_ROW), message="message")
            .cast(dict(ISSUE_SCHEMA)))
