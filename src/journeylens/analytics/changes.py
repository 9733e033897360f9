"""Before and after a change: friction signals and funnel conversion either side of a date.

A change (an annotation's date, or any ``at``) splits the data into two periods of the same
length: *after* runs from ``at`` to the end of the data, *before* is as long and ends at ``at``
(both shortened to the shorter side when the data starts less than that before ``at``). Each
period is analysed as if the data ended at the period's end, so a journey cut by ``at`` is
"in progress", never abandoned. A feedback answer counts in the period of the event it
answers (see :func:`._friction_signals.build_effort_counts`). Rates are compared with a
two-sided two-proportion z-test.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.filters import in_range
from journeylens.analytics.friction import (
    EVERYONE,
    SIGNALS,
    FrictionSpec,
    count_segments,
    data_span,
    segment_label,
)
from journeylens.analytics.funnels import FunnelSpec, run_funnel
from journeylens.analytics.proportions import two_proportion_test
from journeylens.analytics.result import Result, frame_records, json_ready, plot_labels
from journeylens.errors import SpecError

__all__ = [
    "FrictionChangeResult",
    "FunnelChangeResult",
    "periods",
    "run_friction_change",
    "run_funnel_change",
]

ALPHA = 0.05


def periods(start: datetime, end: datetime, at: datetime) -> tuple[datetime, datetime]:
    """``(before_start, after_end)``: two periods of equal length either side of ``at``.

    Examples
    --------
    >>> periods(datetime(2026, 1, 1), datetime(2026, 1, 31), datetime(2026, 1, 21))
    (datetime.datetime(2026, 1, 11, 0, 0), datetime.datetime(2026, 1, 31, 0, 0, 0, 1))
    """
    if not start < at <= end:
        raise SpecError(
            f"The change date {at:%Y-%m-%d} is outside the data ({start:%Y-%m-%d} to "
            f"{end:%Y-%m-%d}): pick a date with data before and after it."
        )
    length = min(at - start, end - at)
    # ``until`` is exclusive: one microsecond more keeps the last event of a full after-period.
    return at - length, at + length + timedelta(microseconds=1)


def _periods(
    events: ir.Table,
    unfiltered: ir.Table | None,
    since: datetime | None,
    until: datetime | None,
    at: datetime,
) -> tuple[datetime, datetime, datetime]:
    """``(before_start, after_end, end)``: the two periods either side of ``at`` (see
    :func:`periods`) over the data's span, ``unfiltered`` (the events before a ``where``
    filtered ``events``; default: ``events``) within ``since``/``until``, and its end."""
    span = data_span(in_range(events if unfiltered is None else unfiltered, since, until))
    if span is None:
        raise SpecError("There are no events to compare before and after.")
    start, end = span
    return (*periods(start, end, at), end)


def compare_rates(x1: int, n1: int, x2: int, n2: int) -> dict[str, Any]:
    """Before ``x1/n1`` against after ``x2/n2``: rates, difference, z, p-value, significance."""
    z, p = two_proportion_test(x2, n2, x1, n1)
    before = x1 / n1 if n1 else None
    after = x2 / n2 if n2 else None
    return {
        "before_rate": before,
        "after_rate": after,
        "difference": after - before if before is not None and after is not None else None,
        "z": z,
        "p_value": p,
        "significant": p is not None and p < ALPHA,
    }


@dataclass
class FrictionChangeResult(Result):
    """Each friction signal before and after ``at`` per touchpoint and segment.

    ``to_dict()`` is a list of records: ``touchpoint``, ``segment`` (``{}`` for everyone),
    ``signal``, ``before_units``, ``after_units``, ``before_rate``, ``after_rate``,
    ``difference``, ``z``, ``p_value``, ``significant``, ``explanation``; significant changes
    first.
    """

    at: datetime
    before: tuple[datetime, datetime]
    after: tuple[datetime, datetime]
    rows: pd.DataFrame = field(default_factory=pd.DataFrame)
    queries: tuple[Any, ...] = ()
    # Touchpoints with people enough on both sides but too few decided units on one to compare
    # abandonment (see ``undecided_note``), and the window that decides them.
    undecided: tuple[str, ...] = ()
    window: str = ""

    def to_frame(self) -> pd.DataFrame:
        return self.rows

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.rows)

    def undecided_note(self) -> str | None:
        """Why abandonment is missing for some touchpoints (None when it is not)."""
        if not self.undecided:
            return None
        days = min(b - a for a, b in (self.before, self.after)) / timedelta(days=1)
        names = ", ".join(self.undecided[:5]) + (", ..." if len(self.undecided) > 5 else "")
        return (
            f"Abandonment is not compared at {names}: too few people there in a period have a "
            f"known outcome (no event within --within {self.window} of the period's end). The "
            f"periods are {days:.0f} days long: a shorter --within, or a date further from the "
            "data's ends, compares it."
        )

    def display_frame(self) -> pd.DataFrame:
        frame = self.rows.assign(
            segment=[
                ", ".join(f"{k}={v}" for k, v in s.items()) or "all" for s in self.rows.segment
            ]
        )
        return frame.drop(columns=["explanation"])

    def figure(self) -> Any:
        import plotly.graph_objects as go

        labels = plot_labels(
            f"{r.touchpoint} · {r.signal}" for r in self.display_frame().itertuples()
        )
        fig = go.Figure()
        for side in ("before", "after"):
            fig.add_trace(go.Bar(name=side, x=list(self.rows[f"{side}_rate"]), y=labels))
        fig.update_traces(orientation="h")
        fig.update_layout(title=f"Friction before and after {self.at:%Y-%m-%d}")
        return fig


CHANGE_COLUMNS = [
    "touchpoint",
    "segment",
    "signal",
    "before_units",
    "after_units",
    "before_rate",
    "after_rate",
    "difference",
    "z",
    "p_value",
    "significant",
    "explanation",
]


SEGMENT_KEYS = ["touchpoint", "dimension", "value"]


def _paired(before: pd.DataFrame, after: pd.DataFrame) -> pd.DataFrame:
    """Each segment's counts of both periods side by side (``<count>_before``, ``_after``)."""
    return before.merge(after, on=SEGMENT_KEYS, suffixes=("_before", "_after"))


def _compare(both: pd.DataFrame, spec: FrictionSpec) -> pd.DataFrame:
    """Each signal's rates before and after, per segment of :func:`_paired` rows."""
    counts = [c for c in both.columns if c not in SEGMENT_KEYS]
    # A segment that is the whole touchpoint (the one value of its dimension there: every
    # event on the web, no interaction given) repeats the touchpoint's own rows: left out.
    whole = both[both["dimension"] == EVERYONE].set_index("touchpoint")[counts]
    same = both[counts].eq(whole.reindex(both["touchpoint"]).set_axis(both.index)).all(axis=1)
    both = both[(both["dimension"] == EVERYONE) | ~same]
    records = []
    for row in both.to_dict(orient="records"):
        for signal, (hit, over) in SIGNALS.items():
            n1, n2 = int(row[f"{over}_before"]), int(row[f"{over}_after"])
            if min(n1, n2) < spec.min_count:
                continue
            change = compare_rates(int(row[f"{hit}_before"]), n1, int(row[f"{hit}_after"]), n2)
            everyone = row["dimension"] == EVERYONE
            where = row["touchpoint"]
            if not everyone:
                where += f" on {segment_label(row['dimension'], row['value'])}"
            records.append(
                {
                    "touchpoint": row["touchpoint"],
                    "segment": {} if everyone else {row["dimension"]: row["value"]},
                    "signal": signal,
                    "before_units": n1,
                    "after_units": n2,
                    **change,
                    "explanation": f"{where}: {signal} {change['before_rate']:.0%} → "
                    f"{change['after_rate']:.0%} (p = {change['p_value'] or 1:.2g})",
                }
            )
    frame = pd.DataFrame.from_records(records, columns=CHANGE_COLUMNS)
    if frame.empty:
        return frame
    frame = frame.assign(_p=frame.p_value.astype(float).fillna(1.0))
    frame = frame.sort_values(
        ["significant", "_p", "touchpoint", "signal"], ascending=[False, True, True, True]
    )
    return frame.drop(columns="_p").reset_index(drop=True)


def run_friction_change(
    events: ir.Table,
    spec: FrictionSpec,
    at: datetime,
    touchpoint: str | None = None,
    feedback: ir.Table | None = None,
    unfiltered: ir.Table | None = None,
) -> FrictionChangeResult:
    """Friction signals before and after ``at`` (for one ``touchpoint``, or all of them).

    Every touchpoint is also compared as a whole (``segment == {}``). The periods span the
    data: ``unfiltered``, the events before a ``where`` filtered ``events`` (default:
    ``events``), within ``since``/``until``.
    """
    first, last, end = _periods(events, unfiltered, spec.since, spec.until, at)
    # An after-period that runs to the end of the data selects the same events without that
    # bound, and keeps the answers given after the last event (surveys follow it).
    open_end = spec.until if last > end else last
    sides = []
    for since, until, bound in ((first, at, at), (at, last, open_end)):
        side = replace(spec, since=since, until=bound)
        sides.append(count_segments(events, feedback, side, until, everyone=True))
    if touchpoint is not None:
        sides = [side[side.touchpoint == touchpoint] for side in sides]
    both = _paired(*sides)
    return FrictionChangeResult(
        at=at,
        before=(first, at),
        after=(at, last),
        rows=_compare(both, spec),
        undecided=_undecided(both, spec.min_count),
        window=str(spec.durations["within"]),
    )


def _undecided(both: pd.DataFrame, min_count: int) -> tuple[str, ...]:
    """Touchpoints (as a whole) with ``min_count`` people on both sides whose abandonment is
    not compared: fewer decided units than that on a side (of :func:`_paired` rows)."""
    whole = both[both["dimension"] == EVERYONE]
    people = whole[["people_before", "people_after"]].min(axis=1) >= min_count
    decided = whole[["decided_before", "decided_after"]].min(axis=1) >= min_count
    return tuple(sorted(whole.loc[people & ~decided, "touchpoint"]))


@dataclass
class FunnelChangeResult(Result):
    """A funnel before and after ``at`` and the change of its overall conversion.

    ``to_dict()`` is ``{"at", "before": {"since", "until", "steps"}, "after": {...},
    "change": {"before_conversion", "after_conversion", "difference", "z", "p_value",
    "significant", "before_entrants", "after_entrants"}}``.
    """

    at: datetime
    before: Any
    after: Any
    windows: tuple[tuple[datetime, datetime], tuple[datetime, datetime]]
    change: dict[str, Any] = field(default_factory=dict)
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        parts = [
            side.to_frame().assign(period=name)
            for name, side in (("before", self.before), ("after", self.after))
        ]
        frame = pd.concat(parts, ignore_index=True)
        return frame[["period", *[c for c in frame.columns if c != "period"]]]

    def display_frame(self) -> pd.DataFrame:
        keep = ["period", "step", "people", "conversion_from_start", "conversion_from_previous"]
        return self.to_frame()[keep]

    def to_dict(self) -> dict[str, Any]:
        sides = {}
        for name, result, (since, until) in (
            ("before", self.before, self.windows[0]),
            ("after", self.after, self.windows[1]),
        ):
            sides[name] = {"since": since, "until": until, "steps": result.to_dict()["steps"]}
        return json_ready({"at": self.at, **sides, "change": self.change})

    def figure(self) -> Any:
        import plotly.graph_objects as go

        fig = go.Figure()
        for name, side in (("before", self.before), ("after", self.after)):
            frame = side.to_frame()
            fig.add_trace(go.Funnel(name=name, y=plot_labels(frame.step), x=list(frame.people)))
        fig.update_layout(title=f"Funnel before and after {self.at:%Y-%m-%d}")
        return fig


def run_funnel_change(
    events: ir.Table, spec: FunnelSpec, at: datetime, unfiltered: ir.Table | None = None
) -> FunnelChangeResult:
    """The funnel in the period before ``at`` and the one after, and the conversion change.

    Each period's funnel sees only that period's events: an attempt still open at the period's
    end counts as not (yet) converted, alike on both sides. The periods span the data:
    ``unfiltered``, the events before a ``where`` filtered ``events`` (default: ``events``),
    within ``since``/``until``.
    """
    first, last, _ = _periods(events, unfiltered, spec.since, spec.until, at)
    before = run_funnel(in_range(events, first, at), spec)
    after = run_funnel(in_range(events, at, last), spec)
    counts = []
    for result in (before, after):
        people = result.to_frame()["people"]
        counts.append((int(people.iloc[-1]), int(people.iloc[0])))
    change = compare_rates(counts[0][0], counts[0][1], counts[1][0], counts[1][1])
    change = {
        "before_conversion": change.pop("before_rate"),
        "after_conversion": change.pop("after_rate"),
        **change,
        "before_entrants": counts[0][1],
        "after_entrants": counts[1][1],
    }
    return FunnelChangeResult(
        at=at, before=before, after=after, windows=((first, at), (at, last)), change=change
    )
