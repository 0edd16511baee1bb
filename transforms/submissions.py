"""Ledger rules: which of a region's bundles counts (the newest accepted one) and which are superseded."""

from __future__ import annotations

import polars as pl

ACCEPTED = "accepted"
REJECTED = "rejected"
SUPERSEDED = "superseded"
LATE = "late"


def resolve_superseded(entries: pl.DataFrame) -> pl.DataFrame:
    """Mark every accepted bundle but a region's newest as superseded by that newest one.

    Newest means latest `received_at`, then bundle name, then submission id, so the choice is
    deterministic even for bundles uploaded in the same second.
    """
    usable = pl.col("status").is_in([ACCEPTED, SUPERSEDED])
    order = ["received_at", "bundle", "submission_id"]
    newest = (
        entries.filter(usable)
        .sort(order)
        .group_by(["cycle", "region_code"], maintain_order=True)
        .agg(newest_id=pl.col("submission_id").last())
    )
    return (
        entries.join(newest, on=["cycle", "region_code"], how="left")
        .with_columns(
            status=pl.when(usable & (pl.col("submission_id") == pl.col("newest_id"))).then(pl.lit(ACCEPTED))
            .when(usable).then(pl.lit(SUPERSEDED))
            .otherwise(pl.col("status")),
            superseded_by=pl.when(usable & (pl.col("submission_id") != pl.col("newest_id")))
            .then(pl.col("newest_id")),
        )
        .drop("newest_id")
        .sort(["cycle", "region_code", *order])
    )
