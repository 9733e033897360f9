"""Funnel trends: conversion per period of entry (UTC day, or week starting Monday)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.filters import in_range
from journeylens.analytics.funnels import (
    PERIODS,
    FunnelSpec,
    build_funnel_people,
    check_choice,
    period_start,
    unit_events,
)
from journeylens.analytics.proportions import wilson
from journeylens.analytics.result import Result
from journeylens.journey.steps import step_predicate
from journeylens.store.portable import epoch_seconds

__all__ = ["FunnelTrendResult", "run_funnel_trend"]


def _settled_periods(events: ir.Table, spec: FunnelSpec, every: str) -> ir.Table:
    """``(period, complete)``: whether the window of the period's latest entry (its last step-1
    event) had closed by the end of the data (the last event): entries later than that may
    still convert. A window that closes exactly at the end of data is settled."""
    t, _ = unit_events(events, spec)
    entries = t.filter(step_predicate(spec.parsed_steps[0], t)).select(sec=epoch_seconds(t.ts))
    end = epoch_seconds(in_range(events, spec.since, spec.until).ts.max()).as_scalar()
    latest = entries.group_by(period=period_start(entries.sec, every)).aggregate(
        latest=entries.sec.max()
    )
    return latest.select("period", complete=latest.latest + spec.window <= end)


@dataclass
class FunnelTrendResult(Result):
    """Conversion (entry to last step) per entry period: ``period``, ``entrants``,
    ``conversions``, ``conversion``, ``ci_low``, ``ci_high``."""

    spec: FunnelSpec
    every: str
    frame: pd.DataFrame
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def figure(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure(go.Scatter(x=self.frame["period"], y=self.frame["conversion"]))
        fig.update_layout(title=f"Conversion by {self.every} of entry", yaxis_tickformat=".0%")
        return fig


def run_funnel_trend(events: ir.Table, spec: FunnelSpec, every: str = "day") -> FunnelTrendResult:
    """Funnel conversion per period of entry (UTC day, or week starting Monday).

    A unit enters every period in which it has a step-1 event, and converts there when its counted
    attempt among those entering in that period (see ``FunnelSpec.entry``) reaches the last step
    (within the window, which may end after the period), as PostHog's and Mixpanel's trends count.
    Counted by one attempt overall, the other periods would lose their entrants. With
    ``count="attempts"`` each attempt is in the period of its own entry. ``complete`` is False for a
    period with entries whose window had not closed by the end of the data (its latest entry's:
    see ``_settled_periods``): its conversion may still rise.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("landing", "2026-01-01 10:00"), ("signup", "+1h")],
    ...     "bob": [("landing", "2026-01-02 11:00")],
    ... }))
    >>> trend = run_funnel_trend(events, FunnelSpec(steps=["landing", "signup"]))
    >>> trend.to_frame()["conversion"].tolist()
    [1.0, 0.0]
    """
    check_choice("every", every, tuple(PERIODS))
    people = build_funnel_people(events, spec, every=every)
    done = people.reach == len(spec.steps)
    counts = people.group_by("period").aggregate(entrants=ibis._.count(), conversions=done.sum())
    expr = counts.join(_settled_periods(events, spec, every), "period").order_by("period")
    raw = expr.execute()
    rows = []
    for record in raw.to_dict(orient="records"):
        n, x = int(record["entrants"]), int(record["conversions"])
        low, high = wilson(x, n)
        start = int(record["period"])
        rows.append(
            {
                "period": pd.Timestamp(start, unit="s"),
                "entrants": n,
                "conversions": x,
                "conversion": x / n,
                "ci_low": low,
                "ci_high": high,
                "complete": bool(record["complete"]),
            }
        )
    columns = ["period", "entrants", "conversions", "conversion", "ci_low", "ci_high", "complete"]
    frame = pd.DataFrame.from_records(rows, columns=columns)
    return FunnelTrendResult(spec, every, frame, (expr,))
