"""Touchpoint ROI and the cut list: what each touchpoint costs, earns under each model, and adds.

Costs come from the touchpoint catalog — ``cost`` per ``cost_period`` (day, week, month = 365.25/12
days, quarter, year), prorated over the analysed date range; ``total`` is a one-off cost counted
in full — or from a cost table with ``day``, ``touchpoint`` (or ``campaign``) and ``cost``, summed
over the range. The range is the spec's ``since``/``until``, else the span of the events.

The cut list names touchpoints a team could stop paying for, and why:

- ``harmful``: the whole lift interval is below zero;
- ``no_effect``: the top of the interval is under ``min_lift`` points — a measured "does
  nothing worth paying for", whether or not the interval includes zero;
- ``uncertain``: the interval includes zero but also a lift of ``min_lift`` or more — not enough
  data to tell, keep measuring before cutting;
- ``never_converts``: it is among the first ``early_positions`` touches of at least
  ``min_reach`` of people, yet no converting journey contains it.

The first three only for touchpoints whose cost is not trivial: at least ``min_cost_share`` of
the total, or at least the average costed touchpoint's cost where that is less (see
:func:`material_floor`); :meth:`CutListResult.skipped_note` counts the others. Each row carries
``savings``: its cost over the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ibis.expr.types as ir
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.attribution import (
    AttributionSpec,
    build_journey_touches,
    run_attribution,
)
from journeylens.analytics.incrementality import IncrementalitySpec, run_incrementality
from journeylens.analytics.result import Result, frame_records, listed, plot_labels
from journeylens.errors import SpecError
from journeylens.store.portable import epoch_seconds

__all__ = [
    "CutListResult",
    "RoiResult",
    "RoiSpec",
    "cost_per_touchpoint",
    "material_floor",
    "run_cut_list",
    "run_roi",
    "why_no_costs",
]

PERIOD_DAYS = {"day": 1.0, "week": 7.0, "month": 365.25 / 12, "quarter": 365.25 / 4, "year": 365.25}
DAY = 86400.0


@dataclass(frozen=True)
class RoiSpec:
    """ROI and cut-list settings.

    Parameters
    ----------
    attribution, incrementality
        The attribution (at ``touchpoint`` or ``campaign`` level) and incrementality to use.
    min_cost_share
        A touchpoint's cost is non-trivial from this share of the total cost (or from the
        average costed touchpoint's cost, where that is less: see :func:`material_floor`).
    min_lift
        The smallest lift (percentage points) worth paying for.
    early_positions, min_reach
        "Reaches many people early": among the first ``early_positions`` touches of at least
        ``min_reach`` (a share) of people.

    Examples
    --------
    >>> RoiSpec().attribution.models[0]
    'first_touch'
    """

    attribution: AttributionSpec = field(default_factory=lambda: AttributionSpec("all"))
    incrementality: IncrementalitySpec = field(default_factory=IncrementalitySpec)
    min_cost_share: float = 0.01
    min_lift: float = 1.0
    early_positions: int = 3
    min_reach: float = 0.05

    def __post_init__(self) -> None:
        if self.attribution.level == "channel":
            raise SpecError("ROI needs costs per touchpoint or campaign: use level 'touchpoint'.")
        if not 0 <= self.min_cost_share < 1 or not 0 <= self.min_reach <= 1:
            raise SpecError("min_cost_share and min_reach are shares between 0 and 1.")


def _range_days(events: ir.Table, spec: AttributionSpec) -> tuple[float, float, float]:
    seconds = epoch_seconds(events.ts)
    span = events.aggregate(lo=seconds.min(), hi=seconds.max()).execute().iloc[0]
    found = [None if pd.isna(span[side]) else float(span[side]) for side in ("lo", "hi")]
    lo = spec.since.timestamp() if spec.since else found[0]
    hi = spec.until.timestamp() if spec.until else found[1]
    # No events (an empty workspace, a filter that keeps none): a side without a bound takes
    # the other side's, and the range is the shortest, one day, as for events in one second.
    lo = lo if lo is not None else hi if hi is not None else 0.0
    hi = hi if hi is not None else lo
    return lo, hi, max(hi - lo, DAY) / DAY


def cost_per_touchpoint(
    catalog: pd.DataFrame, days: float, costs: pd.DataFrame | None = None, key: str = "touchpoint"
) -> pd.Series:
    """Cost per touchpoint (or campaign) over ``days``.

    ``catalog`` has ``touchpoint``, ``cost``, ``cost_period``; ``costs`` (already limited to the
    range) has ``key`` and ``cost`` and takes precedence where given.

    Examples
    --------
    >>> catalog = pd.DataFrame({"touchpoint": ["ad", "tv"], "cost": [70.0, 500.0],
    ...                         "cost_period": ["week", "total"]})
    >>> cost_per_touchpoint(catalog, 14).to_dict()
    {'ad': 140.0, 'tv': 500.0}
    """
    if costs is not None:
        return costs.groupby(key)["cost"].sum().astype(float)
    period = catalog["cost_period"].fillna("month")
    unknown = sorted(set(period) - set(PERIOD_DAYS) - {"total"})
    if unknown:
        raise SpecError(
            f"Unknown cost_period {unknown[0]!r}: use day, week, month, quarter, year or total."
        )
    scale = period.map(lambda p: 1.0 if p == "total" else days / PERIOD_DAYS[p])
    cost = catalog["cost"].fillna(0.0).astype(float) * scale
    return pd.Series(cost.to_numpy(), index=catalog[key]).groupby(level=0).sum()


def material_floor(cost: pd.Series, share: float) -> float:
    """The least cost at which the cut list weighs a touchpoint's lift: ``share`` of all costs,
    but never more than the average costed touchpoint's cost. 1% of the total is a trivial
    cost among a few touchpoints, but past 100 costed ones it is more than each of 500 equal
    costs, none of which is trivial.

    Examples
    --------
    >>> material_floor(pd.Series([5.0, 995.0]), 0.01)  # 1% of 1,000
    10.0
    >>> round(material_floor(pd.Series([1000.0] * 500), 0.01))  # the average, not 5,000
    1000
    """
    paid = cost[cost > 0]
    if paid.empty:
        return 0.0
    return float(min(share * paid.sum(), paid.mean()))


def why_no_costs(catalog: ir.Table) -> str | None:
    """A note when no touchpoint of ``catalog`` costs anything (ROI and the cut list then have
    nothing to weigh), else None."""
    if int(catalog.filter(catalog.cost > 0).count().execute()):
        return None
    return (
        "No touchpoint in the catalog has a cost: set cost and cost_period per touchpoint in "
        "journeylens.toml (or import a catalog with a cost column) for ROI and the cut list."
    )


def _check_amounts(costs: ir.Table, key: str) -> None:
    """Refuse a cost table with a negative or missing cost: an amount spent is 0 or more, and
    either would otherwise lower or drop a touchpoint's spend without a word."""
    bad = costs.filter(costs.cost.isnull() | (costs.cost < 0))
    count = int(bad.count().execute())
    if count:
        first = bad.select("day", key, "cost").limit(1).execute().iloc[0]
        raise SpecError(
            f"The cost table has {count:,} row(s) with a negative or missing cost, the first on "
            f"{first['day']} for {key} {first[key]!r} ({first['cost']}): a cost is the amount "
            "spent, 0 or more."
        )


def _costs(
    events: ir.Table,
    spec: RoiSpec,
    catalog: ir.Table | None,
    costs: ir.Table | None,
) -> pd.Series:
    key = spec.attribution.level
    lo, hi, days = _range_days(events, spec.attribution)
    if costs is not None:
        _check_amounts(costs, key)
        seconds = epoch_seconds(costs.day.cast("timestamp"))
        inside = costs.filter(seconds >= lo - DAY + 1, seconds <= hi)
        # Keys as text, as the events name them: a table of campaign ids read as numbers
        # (pandas' default for ``26037572``) must meet the events' ``"26037572"``.
        named = inside.mutate(**{key: inside[key].cast("string")})
        frame = named.group_by(key).aggregate(cost=named.cost.sum()).execute()
        return cost_per_touchpoint(pd.DataFrame(), days, frame, key)
    if catalog is None:
        raise SpecError("No costs: give the touchpoint catalog or a cost table.")
    if key != "touchpoint":
        raise SpecError("The catalog has costs per touchpoint: give a cost table for campaigns.")
    frame = catalog.select("touchpoint", "cost", "cost_period").execute()
    return cost_per_touchpoint(frame, days)


@dataclass
class RoiResult(Result):
    """Per model and touchpoint: ``conversions``, ``revenue``, ``cost``, ``cpa``, ``roas``,
    ``roi`` (``(revenue − cost) / cost``)."""

    roi: pd.DataFrame
    level: str = "touchpoint"
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.roi

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.roi)

    def figure(self) -> go.Figure:
        figure = go.Figure()
        for model, rows in self.roi.groupby("model", sort=False):
            figure.add_bar(x=plot_labels(rows[self.level]), y=rows["roas"], name=str(model))
        figure.update_layout(barmode="group", yaxis_title="ROAS (revenue / cost)")
        return figure


def run_roi(
    events: ir.Table,
    spec: RoiSpec,
    catalog: ir.Table | None = None,
    costs: ir.Table | None = None,
) -> RoiResult:
    """Cost, CPA, ROAS and ROI of every touchpoint under every attribution model.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> events = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"),
    ...                                          ("purchase", "+1d", {"revenue": 30.0})]}))
    >>> catalog = ibis.memtable(pd.DataFrame({"touchpoint": ["ad"], "cost": [10.0],
    ...                                       "cost_period": ["day"]}))
    >>> spec = RoiSpec(attribution=AttributionSpec("last_touch"))
    >>> run_roi(events, spec, catalog).to_frame()[["cost", "cpa", "roas"]].values.tolist()
    [[10.0, 10.0, 3.0]]

    A touchpoint that costs money but earns no credit under a model is listed with none
    (its ROI −100%), not left out.
    """
    attribution = run_attribution(events, spec.attribution)
    cost = _costs(events, spec, catalog, costs)
    level = spec.attribution.level
    frame = _with_unearning(attribution.to_frame(), cost, level, spec.attribution.models)
    frame["cost"] = frame[level].map(cost).fillna(0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["cpa"] = np.where(
            frame["conversions"] > 0, frame["cost"] / frame["conversions"], np.nan
        )
        frame["roas"] = np.where(frame["cost"] > 0, frame["revenue"] / frame["cost"], np.nan)
        frame["roi"] = np.where(frame["cost"] > 0, frame["roas"] - 1, np.nan)
    return RoiResult(frame, level, attribution.queries)


def _with_unearning(
    frame: pd.DataFrame, cost: pd.Series, level: str, models: Sequence[str]
) -> pd.DataFrame:
    """The attribution's rows, and per model a row of no conversions for every value that
    costs money but earned no credit under it (the costliest waste must show, at ROI −100%,
    even where nothing earned any)."""
    paid = set(cost.index[cost > 0])
    extra = [
        {"model": model, level: key, "conversions": 0.0, "revenue": 0.0}
        for model in models
        for key in sorted(paid - set(frame.loc[frame["model"] == model, level]))
    ]
    if not extra:
        return frame.copy()
    return pd.concat([frame, pd.DataFrame(extra)], ignore_index=True)


@dataclass
class CutListResult(Result):
    """Touchpoints to consider cutting: ``touchpoint``, ``cost``, ``lift``, ``lift_low``,
    ``lift_high``, ``reason``, ``savings``, ``explanation``; the costliest first.

    ``skipped``: the costed touchpoints whose lift was not weighed, as they cost under
    ``floor`` (see :func:`material_floor`, of ``min_cost_share``). ``unmeasured``: those at
    or over it whose lift could not be measured (no comparable people went without them);
    ``never_reached``: the costed ones no event reaches."""

    cuts: pd.DataFrame
    queries: tuple[Any, ...] = ()
    skipped: int = 0
    floor: float = 0.0
    min_cost_share: float = 0.01
    unmeasured: tuple[str, ...] = ()
    never_reached: tuple[str, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.cuts

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.cuts)

    def skipped_note(self) -> str | None:
        """Why costed touchpoints may be missing: those under the floor, or None."""
        if not self.skipped:
            return None
        return (
            f"{self.skipped:,} costed touchpoint(s) cost under {self.floor:,.2f} over the range "
            f"(min_cost_share, {self.min_cost_share:.1%} of all costs, or the average costed "
            "touchpoint's cost where that is less), so their lift was not weighed: lower it "
            "with --min-cost-share (0 weighs every costed touchpoint)."
        )

    def unweighed_note(self) -> str | None:
        """Why costed touchpoints at or over the floor may be missing: no lift could be
        measured, or no event reaches them; or None."""
        parts = []
        if self.unmeasured:
            parts.append(
                f"{len(self.unmeasured):,} costed touchpoint(s) have no measurable lift "
                f"({listed(self.unmeasured)}): everyone at the point where they met it had it, so "
                "there is no one comparable without it to weigh it against."
            )
        if self.never_reached:
            parts.append(
                f"{len(self.never_reached):,} costed touchpoint(s) are reached by no event "
                f"({listed(self.never_reached)}): nothing to weigh, their whole cost buys nothing "
                "in this range (see --roi)."
            )
        return " ".join(parts) or None

    def figure(self) -> go.Figure:
        figure = go.Figure()
        for reason, rows in self.cuts.groupby("reason", sort=False):
            figure.add_bar(x=plot_labels(rows["touchpoint"]), y=rows["savings"], name=str(reason))
        figure.update_layout(yaxis_title="savings over the range")
        return figure


def _reach(events: ir.Table, spec: RoiSpec) -> pd.DataFrame:
    touches = build_journey_touches(events, spec.attribution)
    early = touches.pos <= spec.early_positions
    by_key = touches.group_by("key").aggregate(
        early_people=touches.person.nunique(where=early),
        converting=touches.converted.max(),
    )
    people = events.filter(events.person_id.notnull()).person_id.nunique()
    return by_key.mutate(people=people.as_scalar()).execute()


_EXPLAIN = {
    "harmful": "lowers conversion by {a:.1f} to {b:.1f} points",  # a, b: the drop, positive
    "no_effect": "adds no conversion worth paying for (lift {a:.1f} to {b:.1f} points)",
    "uncertain": "lift {a:.1f} to {b:.1f} points: not enough data to tell",
    "never_converts": "reaches {a:.0%} of people early but is in no converting journey",
}


def _reason(row: pd.Series, spec: RoiSpec, material: bool) -> str | None:
    if material and row["lift_high"] < 0:
        return "harmful"
    if material and row["lift_high"] < spec.min_lift:
        return "no_effect"
    if material and row["lift_low"] <= 0:
        return "uncertain"
    if row["early_share"] >= spec.min_reach and row["converting"] == 0:
        return "never_converts"
    return None


def run_cut_list(
    events: ir.Table,
    spec: RoiSpec,
    catalog: ir.Table | None = None,
    costs: ir.Table | None = None,
) -> CutListResult:
    """Touchpoints whose cost buys no measurable conversion, with the reason and the savings.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> people = {f"p{i}": [("ad", "2026-01-01"), ("purchase", "+1d")] for i in range(30)}
    >>> people.update({f"q{i}": [("banner", "2026-01-01")] for i in range(30)})
    >>> catalog = ibis.memtable(pd.DataFrame({"touchpoint": ["ad", "banner"],
    ...                                       "cost": [10.0, 50.0], "cost_period": ["day"] * 2}))
    >>> spec = RoiSpec(incrementality=IncrementalitySpec(strata=[]))
    >>> run_cut_list(ibis.memtable(journeys(people)), spec, catalog).to_dict()[0]["reason"]
    'harmful'
    """
    cost = _costs(events, spec, catalog, costs)
    lifts = run_incrementality(events, spec.incrementality).to_frame()
    reach = _reach(events, spec).rename(columns={"key": "touchpoint"})
    frame = reach.merge(lifts, on="touchpoint", how="left")
    frame["cost"] = frame["touchpoint"].map(cost).fillna(0.0)
    frame["early_share"] = frame["early_people"] / frame["people"].clip(lower=1)
    floor = material_floor(cost, spec.min_cost_share)
    paid = frame["cost"] > 0
    # A hair under the floor counts: the average of equal costs may be a rounding above each.
    material = paid & (frame["cost"] >= floor * (1 - 1e-9))
    frame["reason"] = [
        _reason(row, spec, weighed)
        for (_, row), weighed in zip(frame.iterrows(), material, strict=True)
    ]
    cuts = frame.loc[frame["reason"].notna()].copy()
    cuts["savings"] = cuts["cost"]
    cuts["explanation"] = [
        _EXPLAIN[r].format(a=-hi, b=-lo)
        if r == "harmful"
        else _EXPLAIN[r].format(a=s if r == "never_converts" else lo, b=hi)
        for r, s, lo, hi in zip(
            cuts["reason"], cuts["early_share"], cuts["lift_low"], cuts["lift_high"], strict=True
        )
    ]
    cuts["exposed_people"] = cuts["exposed_people"].astype("Int64")  # NaN where unmeasured
    columns = [
        "touchpoint",
        "cost",
        "lift",
        "lift_low",
        "lift_high",
        "reason",
        "savings",
        "explanation",
        "exposed_people",
        "early_people",
    ]
    cuts = cuts[columns].sort_values(["savings", "touchpoint"], ascending=[False, True])
    skipped = int((paid & ~material).sum())
    unmeasured = frame.loc[material & frame["lift"].isna() & frame["reason"].isna(), "touchpoint"]
    return CutListResult(
        cuts.reset_index(drop=True),
        skipped=skipped,
        floor=floor,
        min_cost_share=spec.min_cost_share,
        unmeasured=tuple(sorted(map(str, unmeasured))),
        never_reached=tuple(sorted(map(str, set(cost.index[cost > 0]) - set(frame["touchpoint"])))),
    )
