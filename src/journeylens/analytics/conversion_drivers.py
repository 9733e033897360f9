"""Conversion drivers: the events and property values that go with converting to a funnel's
step, and with dropping before it (odds ratios)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.funnels import FunnelSpec, build_funnel_people
from journeylens.analytics.proportions import ratio
from journeylens.analytics.result import Result, plot_labels
from journeylens.errors import SpecError
from journeylens.journey.steps import any_step_predicate
from journeylens.store.portable import epoch_seconds

__all__ = ["DRIVER_COLUMNS", "ConversionDriversResult", "run_conversion_drivers"]

DRIVER_COLUMNS = ("channel", "device", "interaction", "campaign", "source")


@dataclass
class ConversionDriversResult(Result):
    """Events and property values most associated with converting and with dropping at a step.

    Rows: ``direction`` (``converts`` or ``drops``), ``kind`` (``event`` or a column name),
    ``value``, ``units`` (units with the feature), ``converted`` (of them), ``conversion_with``,
    ``conversion_without`` and ``odds_ratio`` (with 0.5 added to each cell, Haldane).
    """

    spec: FunnelSpec
    step: int
    frame: pd.DataFrame
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def figure(self) -> Any:
        import plotly.graph_objects as go

        labels = plot_labels(
            f"{k}={v}" for k, v in zip(self.frame["kind"], self.frame["value"], strict=True)
        )
        odds = [math.log(x) for x in self.frame["odds_ratio"]]
        fig = go.Figure(go.Bar(x=odds, y=labels, orientation="h"))
        fig.update_layout(title=f"Drivers of step {self.step}", xaxis_title="log odds ratio")
        return fig


def _features(events: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Every feature a unit's events show, one row per event and feature (``kind, value`` with
    the unit's columns and ``ts``): the event's name (for events no step names) and each of
    :data:`DRIVER_COLUMNS` it has a value in."""
    named = [s for s in spec.parsed_steps if s.kind == "event" and s.name]
    steps = any_step_predicate(named, events) if named else None  # by name, not filters
    parts = [
        events.filter(events.event.notnull(), ~steps if steps is not None else True).select(
            *spec.unit_columns, "ts", kind=ibis.literal("event"), value=events.event
        )
    ]
    for column in DRIVER_COLUMNS:
        parts.append(
            events.filter(events[column].notnull()).select(
                *spec.unit_columns, "ts", kind=ibis.literal(column), value=events[column]
            )
        )
    return ibis.union(*parts)


def run_conversion_drivers(
    events: ir.Table, spec: FunnelSpec, step: int, min_count: int = 5, top: int = 10
) -> ConversionDriversResult:
    """What goes with converting to ``step``, and with dropping before it (odds ratios).

    The population is the units that reached step ``step - 1``; a unit converts when it reached
    ``step``. A unit *has* a feature when, between its step-1 event and its step ``step`` event
    (or the end of its window when it dropped), it did an event (other than the funnel's own
    events) or had a ``channel``, ``device``, ``interaction``, ``campaign`` or ``source`` value.
    Features held by fewer than ``min_count`` units, or missing in fewer (a value every unit
    has: no one to compare with), are left out; the ``top`` highest odds ratios are reported as
    ``converts`` and the ``top`` lowest as ``drops``.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("landing", "2026-01-01 10:00"), ("help", "+1m"), ("signup", "+1h")],
    ...     "bob": [("landing", "2026-01-01 11:00"), ("pricing", "+1m")],
    ... }))
    >>> spec = FunnelSpec(steps=["landing", "signup"])
    >>> drivers = run_conversion_drivers(events, spec, 2, min_count=1)
    >>> drivers.to_frame()[["direction", "value"]].values.tolist()
    [['converts', 'help'], ['drops', 'pricing']]
    """
    if isinstance(step, bool) or not isinstance(step, int) or not 2 <= step <= len(spec.steps):
        raise SpecError(f"Invalid step {step!r}: use a step number from 2 to {len(spec.steps)}.")
    people = build_funnel_people(events, spec).filter(ibis._.reach >= step - 1)
    unit = [*spec.unit_columns, *(["attempt"] if spec.count == "attempts" else [])]
    converted = people.reach >= step
    end = ibis.ifelse(converted, people[f"t{step - 1}"], people.t0 + spec.window)
    people = people.select(*unit, "t0", end=end.cast("int64"), converted=converted)
    feats = _features(events, spec).view()
    sec = epoch_seconds(feats.ts)
    on = [people[k] == feats[k] for k in spec.unit_columns]
    joined = people.join(feats, [*on, sec >= people.t0, sec <= people.end])
    have = joined.select(*[people[c] for c in unit], people.converted, feats.kind, feats.value)
    have = have.distinct()
    expr = (
        have.group_by(["kind", "value"])
        .aggregate(units=have.count(), converted=have.converted.sum())
        .filter(ibis._.units >= min_count)
    )
    totals = people.aggregate(n=people.count(), c=people.converted.sum())
    stats, sizes = expr.execute(), totals.execute()
    n, c = int(sizes["n"].iloc[0]), int(sizes["c"].iloc[0] or 0)
    frame = _odds(stats[stats["units"] <= n - min_count], n, c, top)
    return ConversionDriversResult(spec, step, frame, (expr,))


def _odds(stats: pd.DataFrame, n: int, c: int, top: int) -> pd.DataFrame:
    """The features' 2×2 tables (``n`` units, ``c`` converted) as odds ratios with 0.5 added
    to each cell, the ``top`` highest above 1 (``converts``) and the ``top`` lowest below 1
    (``drops``)."""
    rows = []
    for record in stats.to_dict(orient="records"):
        units, a = int(record["units"]), int(record["converted"])
        b, cc = c - a, units - a
        d = (n - c) - cc
        odds = ((a + 0.5) * (d + 0.5)) / ((b + 0.5) * (cc + 0.5))
        rows.append(
            {
                "kind": record["kind"],
                "value": record["value"],
                "units": units,
                "converted": a,
                "conversion_with": a / units,
                "conversion_without": ratio(b, n - units),
                "odds_ratio": odds,
            }
        )
    columns = [
        "direction",
        "kind",
        "value",
        "units",
        "converted",
        "conversion_with",
        "conversion_without",
        "odds_ratio",
    ]
    ranked = sorted(rows, key=lambda r: (-r["odds_ratio"], r["kind"], r["value"]))
    ups = [dict(r, direction="converts") for r in ranked if r["odds_ratio"] > 1][:top]
    downs = [dict(r, direction="drops") for r in reversed(ranked) if r["odds_ratio"] < 1][:top]
    return pd.DataFrame.from_records(ups + downs, columns=columns)
