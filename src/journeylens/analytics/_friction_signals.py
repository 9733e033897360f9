"""Friction signals in the engine: per event, per person at a touchpoint, per segment.

A person's *sequence* is their events ordered by ``(ts, event_id)``. Each event is placed at its
*touchpoint*; an error event (one matching an error pattern) without a touchpoint is placed at
the last touchpoint before it. Events still without a touchpoint stay in the sequence (they are
a next step) but belong to no touchpoint. Per event:

- **exit**: not a goal, and the next event is more than ``window`` later (or there is none and
  the event is at least ``window`` before the end of the data). The journey ends here.
- **open**: not a goal, no next event, less than ``window`` before the end: still in progress.
- **retry**: not an error, the same event name as the person's previous non-error event, with
  only error events between them and no gap between consecutive events above ``retry_seconds``.
- **postponed**: the next event comes, but more than ``postpone_seconds`` later.
- **converted**: a goal event at or after it within ``window``.
- **loop**: part of a back-and-forth ``A → B → A → B`` (touchpoint repeats collapsed, all four
  within ``window``); both A and B are credited.

A *unit* is a person at a touchpoint with one value of a segment dimension (a person who paid on
mobile and on desktop is two units). A unit *abandoned* when one of its events is an exit; it is
*decided* when it abandoned or none of its events is open. Segment rows count units.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import ibis
import ibis.expr.types as ir

from journeylens.analytics.filters import glob_to_regex

NONE = "(none)"
COUNTS = (
    "people",
    "decided",
    "abandoned",
    "retried",
    "retries",
    "errored",
    "errors",
    "looped",
    "postponed",
    "converted",
    "continued",
    "continued_converted",
)
EFFORT_CES_MAX = 3.0  # CES 1 (very difficult) … 7 (very easy): 1–3 is a high-effort answer
EFFORT_SUCCESS_MAX = 0.5  # success 0 (did not get it done) … 1
EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class SignalRules:
    """The thresholds that turn events into signals (seconds, event names, glob patterns)."""

    window: int
    retry: int
    postpone: int
    goals: tuple[str, ...]
    error_patterns: tuple[str, ...]


def is_error(event: ir.StringValue, patterns: Sequence[str]) -> ir.BooleanValue:
    """Whether an event name matches any of the error ``patterns`` (globs)."""
    if not patterns:
        return ibis.literal(False)
    return ibis.or_(*(event.re_search(glob_to_regex(p)) for p in patterns)).fill_null(False)


def in_range(
    table: ir.Table, since: datetime | None, until: datetime | None, column: str = "ts"
) -> ir.Table:
    """Rows with ``since <= column < until`` (either bound optional)."""
    if since is not None:
        table = table.filter(table[column] >= since)
    if until is not None:
        table = table.filter(table[column] < until)
    return table


def _person_window(t: ir.Table, *partition: str) -> ibis.Window:
    return ibis.window(group_by=[t.person_id, *partition], order_by=[t.ts, t.event_id])


def _sequence(events: ir.Table, dims: Sequence[str], rules: SignalRules) -> ir.Table:
    """Events with their place in the sequence: gaps, breaks and touchpoint groups."""
    t = events.filter(events.ts.notnull(), events.person_id.notnull())
    t = t.select(
        "person_id",
        "ts",
        "event_id",
        "event",
        "touchpoint",
        *dims,
        sec=t.ts.epoch_seconds(),
        err=is_error(t.event, rules.error_patterns),
        goal=t.event.isin(rules.goals).fill_null(False),
    )
    w = _person_window(t)
    t = t.mutate(gap_prev=t.sec - t.sec.lag().over(w), gap_next=t.sec.lead().over(w) - t.sec)
    running = ibis.cumulative_window(group_by=t.person_id, order_by=[t.ts, t.event_id])
    reverse = ibis.cumulative_window(
        group_by=t.person_id, order_by=[t.ts.desc(), t.event_id.desc()]
    )
    quick = t.gap_prev.notnull() & (t.gap_prev <= rules.retry)
    return t.mutate(
        brk=quick.ifelse(0, 1).sum().over(running),
        grp=t.touchpoint.notnull().ifelse(1, 0).sum().over(running),
        next_goal=t.goal.ifelse(t.sec, ibis.null("int64")).min().over(reverse),
    )


def build_event_signals(
    events: ir.Table, dims: Sequence[str], rules: SignalRules, end: datetime
) -> ir.Table:
    """One row per placed event: ``person_id, touchpoint, <dims>`` and 0/1 signal columns."""
    t = _sequence(events, dims, rules)
    carried = t.touchpoint.max().over(ibis.window(group_by=[t.person_id, t.grp]))
    t = t.mutate(touchpoint=t.touchpoint.fill_null(t.err.ifelse(carried, ibis.null("string"))))
    same_kind = _person_window(t, "err")
    same_burst = (t.event.lag().over(same_kind) == t.event) & (t.brk.lag().over(same_kind) == t.brk)
    # The retry flag is computed before events without a touchpoint are dropped: a window in the
    # same select as the filter would only see the kept events.
    t = t.mutate(retry=_flag(~t.err & same_burst))
    t = t.filter(t.touchpoint.notnull())
    end_sec = int((end - EPOCH).total_seconds())
    last = t.gap_next.isnull()
    ended = (last & (t.sec <= end_sec - rules.window)) | (t.gap_next > rules.window)
    return t.select(
        "person_id",
        "touchpoint",
        "ts",
        "event_id",
        "sec",
        *dims,
        "retry",
        exit=_flag(~t.goal & ended),
        open=_flag(~t.goal & last & (t.sec > end_sec - rules.window)),
        error=_flag(t.err),
        postponed=_flag(t.gap_next > rules.postpone),
        converted=_flag(t.next_goal - t.sec <= rules.window),
        loop=ibis.literal(0),
    )


def _flag(condition: ir.BooleanValue) -> ir.IntegerValue:
    return condition.fill_null(False).ifelse(1, 0)


def build_loops(signals: ir.Table, dims: Sequence[str], rules: SignalRules) -> ir.Table:
    """The touchpoint visits (repeats collapsed) that are part of an ``A → B → A → B`` loop."""
    w = _person_window(signals)
    # The previous touchpoint as a column first: Spark cannot resolve a window inside a filter.
    marked = signals.mutate(before=signals.touchpoint.lag().over(w))
    visits = marked.filter(marked.before.isnull() | (marked.before != marked.touchpoint))
    w = _person_window(visits)
    tp = visits.touchpoint
    ends = (
        (tp.lag(2).over(w) == tp)
        & (tp.lag(3).over(w) == tp.lag(1).over(w))
        & (visits.sec - visits.sec.lag(3).over(w) <= rules.window)
    )
    visits = visits.mutate(ends=_flag(ends))
    w = _person_window(visits)
    in_loop = (visits.ends == 1) | (visits.ends.lead().over(w) == 1)
    return visits.select("person_id", "touchpoint", *dims, loop=_flag(in_loop))


FLAGS = ("exit", "open", "retry", "error", "postponed", "converted", "loop")
TALLIES = {"retries": "retry", "errors": "error"}  # summed, from the flag of each event


def _merge(table: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Per ``keys``: each flag's maximum and each tally's sum."""
    return table.group_by(list(keys)).aggregate(
        **{flag: table[flag].max() for flag in FLAGS},
        **{tally: table[tally].sum() for tally in TALLIES},
    )


def _units(signals: ir.Table, loops: ir.Table, dims: Sequence[str]) -> ir.Table:
    """Per person, touchpoint and combination of segment values: the signal counts."""
    zero = ibis.literal(0)
    keys = ["person_id", "touchpoint", *dims]
    rows = signals.select(
        *keys,
        *FLAGS,
        **{tally: signals[flag] for tally, flag in TALLIES.items()},
    )
    looped = loops.select(
        *keys,
        **{flag: loops.loop if flag == "loop" else zero for flag in FLAGS},
        **dict.fromkeys(TALLIES, zero),
    )
    return _merge(rows.union(looped), keys)


def _long(table: ir.Table, dims: Sequence[str]) -> ir.Table:
    """One row per row and dimension, with its ``dimension`` and ``value`` (``(none)``)."""
    pairs = ibis.array(
        [
            ibis.struct({"dimension": ibis.literal(d), "value": table[d].cast("string")})
            for d in dims
        ]
    )
    long = table.mutate(seg=pairs.unnest())
    return long.mutate(dimension=long.seg.dimension, value=long.seg.value.fill_null(NONE))


def _by_dimension(units: ir.Table, dims: Sequence[str]) -> ir.Table:
    """Units re-keyed by ``(dimension, value)`` per dimension, merged per person again."""
    per = _merge(_long(units, dims), ["person_id", "touchpoint", "dimension", "value"])
    return per.mutate(decided=((per.exit == 1) | (per.open == 0)).ifelse(1, 0))


def build_segment_counts(
    events: ir.Table,
    dims: Sequence[str],
    rules: SignalRules,
    end: datetime,
    touchpoints: Sequence[str] | None = None,
) -> ir.Table:
    """Per ``touchpoint, dimension, value``: the unit counts in :data:`COUNTS`.

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("pay", "2026-01-01")]}))
    >>> rules = SignalRules(86400, 10, 86400, ("purchase",), ("*error*",))
    >>> expr = build_segment_counts(events, ["device"], rules, datetime(2026, 2, 1))
    >>> expr.execute()[["touchpoint", "value", "people", "abandoned"]].values.tolist()
    [['pay', '(none)', 1, 1]]
    """
    signals = build_event_signals(events, dims, rules, end)
    loops = build_loops(signals, dims, rules)
    if touchpoints is not None:
        signals = signals.filter(signals.touchpoint.isin(list(touchpoints)))
        loops = loops.filter(loops.touchpoint.isin(list(touchpoints)))
    per = _by_dimension(_units(signals, loops, dims), dims)
    decided = per.decided == 1
    continued = decided & (per.exit == 0)
    return per.group_by("touchpoint", "dimension", "value").aggregate(
        people=per.count(),
        decided=per.count(where=decided),
        abandoned=per.count(where=per.exit == 1),
        retried=per.count(where=per.retry == 1),
        retries=per.retries.sum(),
        errored=per.count(where=per.error == 1),
        errors=per.errors.sum(),
        looped=per.count(where=per.loop == 1),
        postponed=per.count(where=per.postponed == 1),
        converted=per.count(where=decided & (per.converted == 1)),
        continued=per.count(where=continued),
        continued_converted=per.count(where=continued & (per.converted == 1)),
    )


def build_effort_counts(feedback: ir.Table, dims: Sequence[str]) -> ir.Table:
    """Per ``touchpoint, dimension, value``: CES/success ``responses`` and high-``effort`` ones."""
    f = feedback.filter(feedback.touchpoint.notnull(), feedback.metric.isin(("ces", "success")))
    effort = ((f.metric == "ces") & (f.score <= EFFORT_CES_MAX)) | (
        (f.metric == "success") & (f.score < EFFORT_SUCCESS_MAX)
    )
    long = _long(f.mutate(effort=_flag(effort)), dims)
    return long.group_by("touchpoint", "dimension", "value").aggregate(
        responses=long.count(), effort=long.effort.sum()
    )


def build_overview(events: ir.Table, goals: Sequence[str]) -> ir.Table:
    """One row: ``start``, ``end`` (first/last ``ts``), ``orders`` and ``revenue`` of goals."""
    goal = events.event.isin(list(goals))
    return events.aggregate(
        start=events.ts.min(),
        end=events.ts.max(),
        orders=events.count(where=goal),
        revenue=events.revenue.sum(where=goal),
        paid=events.count(where=goal & events.revenue.notnull()),
    )
