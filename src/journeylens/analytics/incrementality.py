"""Incrementality: does a touchpoint raise conversion, compared with comparable people without it?

A person is *exposed* to a touchpoint when they had it before their first conversion (any time,
if they never converted). Exposed and unexposed people are compared within *strata* of what was
fixed before any exposure — the channel, device and stage of their first event and the period
(calendar month or week) it fell in — never as a raw difference, so a touchpoint shown mostly to
people who arrive from a channel that converts well gets no credit for that channel.

The lift is the average, over exposed people in strata that also have unexposed people, of the
difference in conversion rates within the stratum, in percentage points (the effect on the
exposed). Its confidence interval is a percentile bootstrap that resamples people with
replacement: as a person counts only through their cell (stratum × exposed × converted),
resampling people is drawing the cell counts from a multinomial, which is done exactly and seeded.
Only those cell counts come back from the engine.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result, frame_records
from journeylens.errors import SpecError
from journeylens.store.portable import epoch_seconds

__all__ = ["IncrementalityResult", "IncrementalitySpec", "run_incrementality"]

STRATA = ("channel", "device", "stage", "period")
PERIODS = ("month", "week")
WEEK = 7 * 86400


@dataclass(frozen=True)
class IncrementalitySpec:
    """How to estimate each touchpoint's lift.

    Parameters
    ----------
    goal
        The conversion event name(s).
    strata
        First-event attributes people are compared within: any of ``channel``, ``device``,
        ``stage``, ``period``.
    period
        ``"month"`` or ``"week"`` of the first event, for the ``period`` stratum.
    bootstrap, confidence, seed
        Bootstrap replicates, the interval's coverage and the random seed.
    since, until
        Only events with ``since <= ts < until`` (naive UTC).

    Examples
    --------
    >>> IncrementalitySpec(strata=["channel"]).strata
    ('channel',)
    """

    goal: str | Sequence[str] = "purchase"
    strata: Sequence[str] = STRATA
    period: Literal["month", "week"] = "month"
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    since: datetime | None = None
    until: datetime | None = None
    goals: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        strata = (self.strata,) if isinstance(self.strata, str) else tuple(self.strata)
        for name in strata:
            if name not in STRATA:
                raise SpecError(f"Unknown stratum {name!r}: use any of {', '.join(STRATA)}.")
        if self.period not in PERIODS:
            raise SpecError(f"Invalid period {self.period!r}: use 'month' or 'week'.")
        if self.bootstrap < 100:
            raise SpecError(f"Invalid bootstrap {self.bootstrap!r}: use 100 replicates or more.")
        if not 0 < self.confidence < 1:
            raise SpecError(f"Invalid confidence {self.confidence!r}: use a number in (0, 1).")
        goals = (self.goal,) if isinstance(self.goal, str) else tuple(self.goal)
        object.__setattr__(self, "strata", strata)
        object.__setattr__(self, "goals", goals)


@dataclass
class IncrementalityResult(Result):
    """One row per touchpoint: ``exposed_people``, ``matched_people`` (exposed with comparable
    unexposed people), ``lift`` with ``lift_low``/``lift_high`` in percentage points, and the
    incremental ``conversions`` and ``revenue`` it implies among the matched exposed people."""

    lifts: pd.DataFrame
    sql: str = ""

    def to_frame(self) -> pd.DataFrame:
        return self.lifts

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.lifts)

    def figure(self) -> go.Figure:
        frame = self.lifts.sort_values("lift")
        error = {
            "type": "data",
            "array": frame["lift_high"] - frame["lift"],
            "arrayminus": frame["lift"] - frame["lift_low"],
        }
        figure = go.Figure(
            go.Bar(x=frame["lift"], y=frame["touchpoint"], orientation="h", error_x=error)
        )
        figure.update_layout(xaxis_title="lift (percentage points)", yaxis_title="touchpoint")
        return figure


def _people(events: ir.Table, spec: IncrementalitySpec) -> ir.Table:
    ordered = ibis.window(group_by="person_id", order_by=["ts", "event_id"])
    ranked = events.mutate(_rank=ibis.row_number().over(ordered))
    first = ranked.filter(ranked._rank == 0)
    seconds = epoch_seconds(first.ts)
    period = (
        (first.ts.year() * 100 + first.ts.month()).cast("string")
        if spec.period == "month"
        else (seconds // WEEK).cast("string")
    )
    attributes = {
        "channel": first.channel,
        "device": first.device,
        "stage": first.stage,
        "period": period,
    }
    entry = first.select(
        "person_id", **{f"s_{k}": attributes[k].fill_null("(none)") for k in spec.strata}
    )
    goal = events.filter(events.event.isin(list(spec.goals)))
    converted = goal.group_by("person_id").aggregate(
        conv_t=epoch_seconds(goal.ts).min(), value=goal.revenue.fill_null(0.0).sum()
    )
    joined = entry.left_join(converted, entry.person_id == converted.person_id)
    return joined.select(
        *entry.columns,
        conv_t=joined.conv_t,
        converted=joined.conv_t.notnull().cast("int64"),
        value=joined.value.fill_null(0.0),
    )


def build_incrementality(events: ir.Table, spec: IncrementalitySpec) -> tuple[ir.Table, ir.Table]:
    """Two small aggregates: people per (stratum, converted), and exposed people per
    (touchpoint, stratum, converted).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> people, exposed = build_incrementality(table, IncrementalitySpec(strata=["channel"]))
    >>> exposed.execute()[["touchpoint", "converted", "people"]].values.tolist()
    [['ad', 1, 1]]
    """
    if spec.since is not None:
        events = events.filter(events.ts >= spec.since)
    if spec.until is not None:
        events = events.filter(events.ts < spec.until)
    events = events.filter(events.person_id.notnull())
    people = _people(events, spec)
    strata = [f"s_{k}" for k in spec.strata]
    touches = events.filter(events.touchpoint.notnull(), ~events.event.isin(list(spec.goals)))
    first = touches.group_by(["person_id", "touchpoint"]).aggregate(
        first_t=epoch_seconds(touches.ts).min()
    )
    joined = first.inner_join(people, first.person_id == people.person_id)
    exposed = joined.filter(joined.conv_t.isnull() | (joined.first_t <= joined.conv_t))
    totals = people.group_by([*strata, "converted"]).aggregate(
        people=people.count(), value=people.value.sum()
    )
    by_touchpoint = exposed.group_by(["touchpoint", *strata, "converted"]).aggregate(
        people=exposed.count()
    )
    return totals, by_touchpoint


def _cells(totals: pd.DataFrame, exposed: pd.DataFrame, strata: list[str]) -> np.ndarray:
    """Counts per stratum: [exposed converted, exposed not, unexposed converted, unexposed not]."""
    key = strata or ["_all"]
    wide = totals.pivot_table(index=key, columns="converted", values="people", aggfunc="sum")
    wide = wide.reindex(columns=[1, 0]).fillna(0)
    hit = exposed.pivot_table(index=key, columns="converted", values="people", aggfunc="sum")
    hit = hit.reindex(index=wide.index, columns=[1, 0]).fillna(0)
    return np.column_stack([hit.to_numpy(), wide.to_numpy() - hit.to_numpy()])


def _lift(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lift (pp) and matched exposed people from cells (..., strata, 4)."""
    n1 = cells[..., 0] + cells[..., 1]
    n0 = cells[..., 2] + cells[..., 3]
    both = (n1 > 0) & (n0 > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(both, cells[..., 0] / n1 - cells[..., 2] / n0, 0.0)
        matched = np.where(both, n1, 0).sum(axis=-1)
        lift = 100 * (diff * np.where(both, n1, 0)).sum(axis=-1) / matched
    return lift, matched


def _estimate(cells: np.ndarray, spec: IncrementalitySpec, rng: np.random.Generator) -> list[Any]:
    lift, matched = _lift(cells)
    flat = cells.reshape(-1)
    draws = rng.multinomial(int(flat.sum()), flat / flat.sum(), size=spec.bootstrap)
    boot, _ = _lift(draws.reshape(spec.bootstrap, *cells.shape))
    boot = boot[~np.isnan(boot)]
    tail = (1 - spec.confidence) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail]) if boot.size else (np.nan, np.nan)
    return [float(lift), int(matched), float(low), float(high)]


def run_incrementality(events: ir.Table, spec: IncrementalitySpec) -> IncrementalityResult:
    """Lift of every touchpoint on conversion, in percentage points, with a bootstrap interval.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> people = {f"p{i}": [("ad", "2026-01-01")] + [("purchase", "+1d")] * (i % 2)
    ...           for i in range(40)}
    >>> people.update({f"q{i}": [("blog", "2026-01-01")] for i in range(40)})
    >>> result = run_incrementality(ibis.memtable(journeys(people)), IncrementalitySpec(
    ...     strata=[]))
    >>> float(result.to_frame().set_index("touchpoint").loc["ad", "lift"])
    50.0
    """
    totals_expr, exposed_expr = build_incrementality(events, spec)
    totals, exposed = totals_expr.execute(), exposed_expr.execute()
    strata = [f"s_{k}" for k in spec.strata]
    if not strata:
        totals, exposed = totals.assign(_all=""), exposed.assign(_all="")
    converters = totals.loc[totals["converted"] == 1]
    per_conversion = converters["value"].sum() / max(converters["people"].sum(), 1)
    rng = np.random.default_rng(spec.seed)
    rows = []
    for touchpoint, rows_of in exposed.groupby("touchpoint", sort=True):
        cells = _cells(totals, rows_of, strata)
        lift, matched, low, high = _estimate(cells, spec, rng)
        incremental = lift / 100 * matched if matched else 0.0
        rows.append(
            {
                "model": "incrementality",
                "touchpoint": touchpoint,
                "exposed_people": int(rows_of["people"].sum()),
                "matched_people": matched,
                "lift": lift,
                "lift_low": low,
                "lift_high": high,
                "conversions": incremental,
                "revenue": incremental * per_conversion,
            }
        )
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    sql = f"{ibis.to_sql(totals_expr)};\n{ibis.to_sql(exposed_expr)}"
    return IncrementalityResult(frame.sort_values("lift", ascending=False, ignore_index=True), sql)


_COLUMNS = [
    "model",
    "touchpoint",
    "exposed_people",
    "matched_people",
    "lift",
    "lift_low",
    "lift_high",
    "conversions",
    "revenue",
]
