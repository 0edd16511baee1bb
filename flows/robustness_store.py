"""What the robustness engine keeps per cycle beside the ledger: its inputs per submission, its last draws.

Every publish runs the engine (issue 23). Its inputs (evaluator sheets, indicator means, survey spread,
small surveys' answers) are functions of one unit's rows, so they are kept per submission, stamped like
the ledger's per-unit sums (`Ledger.stamps`), and a publish after one new bundle computes that bundle's
alone. The draws are a pure function of the engine's arguments: they are kept with a digest of those
arguments (and of the code computing them) and reused when a publish asks the same question again.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
from collections.abc import Callable
from pathlib import Path

import polars as pl

from flows.ledger import STAMP, Ledger
from flows.storage import write_frame
from transforms import robustness as engine
from transforms.methodology import Methodology
from transforms.robustness_tables import RobustnessTables, as_release_tables, empty_tables
from transforms.unit_scores import UNIT_KEY

INPUTS_VERSION = 2
"""Bump when `robustness_inputs` changes what it computes: kept inputs of another version are recomputed."""
PARTS = ("sheets", "indicators", "survey", "small_surveys", "f03")
_STAMPS = len(PARTS)
TRANSFORMS = Path(engine.__file__).parent
DRAWS_FOLDER = "robustness-draws"


def _digest(*parts: bytes | str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def inputs_path(ledger: Ledger, methodology: Methodology) -> Path:
    """One file per inputs version and methodology (weights, D, survey settings all shape the inputs)."""
    return ledger.root / f"robustness-inputs-v{INPUTS_VERSION}-{_digest(repr(methodology))[:12]}.parquet"


def _owners(ledger: Ledger, submission_ids: list[str]) -> pl.DataFrame | None:
    """region_code → submission_id of these submissions; None unless each region has exactly one."""
    entries = ledger.load().filter(pl.col("submission_id").is_in(submission_ids)).select(
        "region_code", "submission_id").unique()
    if entries.height != len(set(submission_ids)) or entries["region_code"].n_unique() != entries.height:
        return None
    return entries


def _as_parts(inputs: engine.RobustnessInputs, owners: pl.DataFrame) -> pl.DataFrame:
    """The engine's inputs as one frame: each part's rows with its number and their unit's submission."""
    nothing = pl.DataFrame(schema=dict.fromkeys(UNIT_KEY, pl.String))
    frames = [inputs.sheets, inputs.indicators, inputs.survey,
              inputs.small_surveys if inputs.small_surveys is not None else nothing,
              inputs.f03 if inputs.f03 is not None else nothing]
    return pl.concat([frame.join(owners, on="region_code", how="left", maintain_order="left")
                      .with_columns(_part=pl.lit(n, pl.Int8)) for n, frame in enumerate(frames)],
                     how="diagonal_relaxed")


def _from_parts(frame: pl.DataFrame, template: engine.RobustnessInputs,
                small_schema: pl.Schema) -> engine.RobustnessInputs:
    """The engine's inputs again, each part in the order `robustness_inputs` gives it."""
    schemas = (template.sheets.schema, template.indicators.schema, template.survey.schema, small_schema,
               pl.Schema({**dict.fromkeys(UNIT_KEY, pl.String), "f03_sd": pl.Float64}))

    def part(n: int) -> pl.DataFrame:
        columns = (pl.col(c).cast(t) if c in frame.columns else pl.lit(None, t).alias(c) for c, t in schemas[n].items())
        return frame.filter(pl.col("_part") == n).select(columns)

    small = part(3).sort(UNIT_KEY, maintain_order=True)  # a unit's respondents stay in their file's order
    return engine.RobustnessInputs(
        sheets=part(0).sort([*UNIT_KEY, "evaluator_id", "aspect_code"]),
        indicators=part(1).sort([*UNIT_KEY, "indicator_code"]),
        survey=part(2).sort(UNIT_KEY),
        small_surveys=small if small.height else None,
        f03=part(4).sort(UNIT_KEY) if template.f03 is not None else None,
    )


Rows = Callable[[list[str]], tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None]]
"""Submission ids → their kept evaluation, survey and F-03 rows (lazy; F-03 None when the cycle does not blend)."""


def inputs_of(rows: tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame | None],
              methodology: Methodology) -> engine.RobustnessInputs:
    """The engine's inputs computed from (evaluation, survey, F-03) rows."""
    evaluations, responses, f03 = rows
    return engine.robustness_inputs(evaluations, responses, methodology, f03)


def kept_inputs(ledger: Ledger, methodology: Methodology, submission_ids: list[str],
                rows_of: Rows) -> engine.RobustnessInputs:
    """The engine's inputs over these submissions: kept ones reused, the others computed (in one pass).

    Without one submission per region (never the case for the submissions that count) everything is
    computed and nothing kept.
    """
    def compute(ids: list[str]) -> engine.RobustnessInputs:
        return inputs_of(rows_of(ids), methodology)

    owners = _owners(ledger, submission_ids)
    if owners is None:
        return compute(submission_ids)
    path = inputs_path(ledger, methodology)
    stamps = ledger.stamps(submission_ids)
    stored = pl.read_parquet(path) if path.exists() else None
    kept = None
    if stored is not None:
        valid = stored.filter(pl.col("_part") == _STAMPS).join(stamps, on=["submission_id", STAMP], how="semi")
        kept = stored.filter(pl.col("submission_id").is_in(valid["submission_id"].implode()))
    have = set() if kept is None else set(kept["submission_id"].unique().to_list())
    missing = [sid for sid in submission_ids if sid not in have]
    frames = [] if kept is None else [kept]
    fresh = None
    if missing:
        fresh = compute(missing)
        done = stamps.filter(pl.col("submission_id").is_in(missing)).with_columns(_part=pl.lit(_STAMPS, pl.Int8))
        frames.append(pl.concat([_as_parts(fresh, owners), done], how="diagonal_relaxed"))
    frame = pl.concat(frames, how="diagonal_relaxed")
    if missing or stored is None or kept is None or kept.height != stored.height:
        write_frame(frame, path)  # only the submissions asked for: superseded ones' inputs go
    if fresh is not None and not have:
        return fresh  # all computed just now: as they came
    responses = rows_of([])[1]
    small_schema = responses.select(*UNIT_KEY, *methodology.survey.element_codes).collect_schema()
    return _from_parts(frame, fresh or compute([]), small_schema)


def draws_key(inputs: engine.RobustnessInputs, units: pl.DataFrame, regions: pl.DataFrame,
              methodology: Methodology) -> str:
    """A digest of everything `robustness.robustness` reads and of the code and libraries computing it."""
    code = sorted(TRANSFORMS.glob("*.py"))
    frames = [inputs.sheets, inputs.indicators, inputs.survey, inputs.small_surveys, inputs.f03, units, regions]
    return _digest(
        repr(methodology),
        *(importlib.metadata.version(p) for p in ("polars", "numpy")),
        *(path.read_bytes() for path in code),
        *(b"-" if f is None else repr(f.schema).encode() + f.hash_rows(seed=0).to_numpy().tobytes()
          for f in frames),
    )


def kept_draws(ledger: Ledger, key: str,
               compute: Callable[[], RobustnessTables]) -> RobustnessTables:
    """The engine's tables for `key`: the kept ones when the last publish asked the same, else computed (and kept)."""
    folder = ledger.root / DRAWS_FOLDER
    units, regions = folder / f"{key}-units.parquet", folder / f"{key}-regions.parquet"
    if units.exists() and regions.exists():
        return RobustnessTables(pl.read_parquet(units), pl.read_parquet(regions))
    tables = compute()
    write_frame(tables.units, units)
    write_frame(tables.regions, regions)
    for old in folder.glob("*.parquet"):  # the last question only
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
    return tables


def release_robustness(ledger: Ledger, methodology: Methodology, submission_ids: list[str], rows_of: Rows,
                       scored: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """`unit_robustness` and `region_robustness` of a release: kept inputs, and the kept draws when unchanged.

    The same tables, byte for byte, as `robustness.cycle_robustness` over the submissions' rows.
    """
    if not engine.robustness_applies(scored, methodology):
        return as_release_tables(empty_tables())
    inputs = kept_inputs(ledger, methodology, submission_ids, rows_of)
    units, regions = scored["unit_scores"], scored["region_scores"]
    key = draws_key(inputs, units, regions, methodology)
    return as_release_tables(
        kept_draws(ledger, key, lambda: engine.robustness(units, regions, inputs, methodology)))
