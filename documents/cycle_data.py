"""What the pages of one cycle are made from, read once by flows/reports.py: the release's tables with the
figures the pages share computed once (per region split once, so 500 cards cost one pass)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import polars as pl

from documents.region_card import unit_rows_html
from transforms import report_data
from transforms.methodology import Methodology


@dataclass(frozen=True)
class Published:
    """The tables of one release of a cycle, all read from the same release."""

    cycle: str
    release_id: str | None
    manifest: dict | None
    tables: dict[str, pl.DataFrame]

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.tables[name]


TOP_INDICATORS = 8


@dataclass(frozen=True)
class CycleData:
    """Everything the pages of one cycle are made from, read once."""

    cycle: str
    methodology: Methodology
    published: Published
    units: pl.DataFrame
    previous_cycle: str | None
    previous_national: pl.DataFrame | None
    indicator_totals: pl.DataFrame | None
    """The released units' indicator sums (see `Ledger.unit_totals`), or None without their kept rows."""
    reference: pl.DataFrame
    robustness: tuple[pl.DataFrame | None, ...] = (None, None)
    """unit_robustness and region_robustness of the release (None each for releases from before them)."""
    compliance: pl.DataFrame | None = None
    """compliance_scores of the release (issue 20; None for releases from before it, empty without a feed)."""

    def __getitem__(self, name: str) -> pl.DataFrame:
        return self.units if name == "unit_scores" else self.published[name]

    @cached_property
    def region_names(self) -> dict[str, str]:
        """Region code → name: the published name, else the reference's (for regions without a score)."""
        names = dict(zip(self.reference["region_code"].to_list(), self.reference["name"].to_list(), strict=True))
        published = self["region_scores"]
        names.update(zip(published["region_code"].to_list(), published["region_name"].fill_null("").to_list(),
                         strict=True))
        return {code: name for code, name in names.items() if name}

    @cached_property
    def _by_region(self) -> dict[str, dict[str, pl.DataFrame]]:
        return {}

    def of_region(self, name: str, region_code: str) -> pl.DataFrame:
        """The rows of a table (a published one, or `losses`) for one region: the table is split once,
        so 500 region cards cost one pass over it, not 500 filters."""
        if name not in self._by_region:
            frame = (self.top_losses if name == "losses" and self.indicator_losses else
                     self.unit_rows if name == "unit_rows" else
                     self.unit_rows_html if name == "unit_rows_html" else
                     self.submissions_newest_first if name == "submissions" else
                     self.region_aspect_rows if name == "region_aspects" else
                     self.standing if name == "standing" else self[name])
            self._by_region[name] = {key[0]: part for key, part in  # type: ignore[misc]
                                     frame.partition_by("region_code", as_dict=True, maintain_order=True).items()}
            self._by_region[name][""] = frame.clear()
        parts = self._by_region[name]
        return parts.get(region_code, parts[""])

    @cached_property
    def unit_rows(self) -> pl.DataFrame:
        """Every unit with its aspect scores as columns, ordered by region, unit type and name."""
        return report_data.unit_table(self.units.lazy(), self["aspect_scores"].lazy(), self.methodology).collect()

    @cached_property
    def unit_rows_html(self) -> pl.DataFrame:
        """`unit_rows` as the cards' table rows (region_code, `html`), built for all units at once."""
        return unit_rows_html(self.unit_rows, self.methodology)

    @cached_property
    def submissions_newest_first(self) -> pl.DataFrame:
        return self["submissions"].sort("region_code", pl.col("received_at"), descending=[False, True],
                                        maintain_order=True)

    @cached_property
    def region_aspects(self) -> pl.DataFrame:
        """Mean score per region and aspect (each card's own aspect chart), for all regions at once."""
        return report_data.aspect_summary(self["aspect_scores"].lazy(), self.methodology, ["region_code"]).collect()

    @cached_property
    def region_aspect_rows(self) -> pl.DataFrame:
        """Each region's aspects beside the national mean, weakest first (nulls last, then aspect order)."""
        return (self.region_aspects.join(self.national_aspects, on="aspect_code", how="left")
                .sort(["region_code", "mean", "aspect_order"], nulls_last=True))

    @cached_property
    def national_aspects(self) -> pl.DataFrame:
        """Mean score per aspect over every unit of the cycle (the cards' national marker)."""
        return report_data.aspect_summary(self["aspect_scores"].lazy(), self.methodology).select(
            "aspect_code", national=pl.col("mean")).collect()

    @cached_property
    def standing(self) -> pl.DataFrame:
        return report_data.region_standing(self["region_scores"].lazy()).collect()

    @cached_property
    def issue_groups(self) -> pl.DataFrame:
        return report_data.issue_groups(self["validation_issues"].lazy()).collect()

    @cached_property
    def _issue_groups_by_submission(self) -> dict[str, pl.DataFrame]:
        return {key[0]: part for key, part in  # type: ignore[misc]
                self.issue_groups.partition_by("submission_id", as_dict=True, maintain_order=True).items()}

    def issue_groups_of(self, submission_id: str) -> pl.DataFrame:
        """One submission's issue groups (split once for all cards, as `of_region`)."""
        return self._issue_groups_by_submission.get(submission_id, self.issue_groups.clear())

    @cached_property
    def top_losses(self) -> pl.DataFrame:
        """Each region's costliest indicators (at most TOP_INDICATORS) beside the national mean score."""
        assert self.indicator_losses is not None
        by_region, national = self.indicator_losses
        return (by_region.filter(pl.int_range(pl.len()).over("region_code") < TOP_INDICATORS)
                .join(national.select("indicator_code", national=pl.col("mean")), on="indicator_code", how="left",
                      maintain_order="left"))

    @cached_property
    def indicator_losses(self) -> tuple[pl.DataFrame, pl.DataFrame] | None:
        """Indicator costs per region and nationally, or None without the kept evaluations."""
        if self.indicator_totals is None:
            return None
        evaluations, units = self.indicator_totals.lazy(), self.units.lazy()
        by_region, national = pl.collect_all([  # one plan: the units' indicator scores are computed once
            report_data.indicator_losses(evaluations, units, self.methodology, ["region_code"]),
            report_data.indicator_losses(evaluations, units, self.methodology)])
        return by_region, national
