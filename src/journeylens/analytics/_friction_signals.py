"""Friction signals in the engine: per event, per person at a touchpoint, per segment.

A person's *sequence* is their events ordered by ``(ts, received_at, event_id)``. Each event is
placed at its *touchpoint*; an error event (one matching an error pattern) without a touchpoint
is placed at the last touchpoint before it. Events still without a touchpoint stay in the
sequence (they are a next step) but belong to no touchpoint. Per event:

- **exit**: not a goal, and the next event is more than ``window`` later (or there is none and
  the event is at least ``window`` before the end of the data). The journey ends here.
- **open**: less than ``window`` before the end of the data: what follows is not yet known.
- **goal**: a goal event.
- **retry**: not an error, the same event name as the person's previous non-error event, with
  only error events between them and no gap between consecutive events above ``retry_seconds``.
- **postponed**: the next event comes, but more than ``postpone_seconds`` later.
- **converted**: a goal event at or after it within ``window``.
- **loop**: part of a back-and-forth ``A → B → A → B`` (touchpoint repeats collapsed, all four
  within ``window``); both A and B are credited.

A *unit* is a person at a touchpoint with one value of a segment dimension (a person who paid on
mobile and on desktop is two units). A unit is *decided* when none of its events is open: its
outcome is known, whichever it is (were the people who carried on near the end counted and those
who left not, abandonment would read low, the lower the longer the window). A decided unit
*abandoned* when one of its events is an exit and none is a goal (who reached the goal there and
then left did not abandon). Segment rows count units.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from journeylens.analytics.codes import COMBINED, Coded, code_columns, decode
from journeylens.analytics.filters import in_range
from journeylens.analytics.packing import pack, unpack
from journeylens.analytics.sequence import event_order, has_sequence_keys
from journeylens.journey.steps import glob_test
from journeylens.store.portable import bit_or, epoch_seconds

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
# An event's and a unit's signals, as the bits of one integer column ``signals`` (bit i: FLAGS[i]).
FLAGS = ("exit", "open", "retry", "error", "postponed", "converted", "loop", "goal")
BIT = {flag: 1 << i for i, flag in enumerate(FLAGS)}
EFFORT_CES_MAX = 3.0  # CES 1 (very difficult) … 7 (very easy): 1–3 is a high-effort answer
EFFORT_SUCCESS_MAX = 0.5  # success 0 (did not get it done) … 1
EPOCH = datetime(1970, 1, 1)
# Upper bounds of the journey-position strata (the unit's first touchpoint event is the
# person's 1st, 2nd, 3rd-4th, 5th-8th, 9th-16th or a later one): segments are compared like
# with like within each.
POSITION_STRATA = (1, 2, 4, 8, 16)
# What the sequence pass lags and leads of an event, packed in one integer (see ``.packing``):
# codes are 1, 2, ... and 0 stands for none.
NEIGHBOUR = (("err", 1), ("goal", 1), ("touchpoint", 30), ("event", 31))
VISIT = (("touchpoint", 31), ("pos", 32))  # what the loop pass lags of the visit before
# An event's time is held as seconds before the data's end: in 32 bits where the events are
# known to span less than this (68 years), which narrows every row the passes sort and hold
# (friction takes about 4% less at 10M events).
SHORT_SPAN = 2**31 - 1
Span = tuple[datetime | None, datetime]  # the data's start (None where unknown) and end


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
    return ibis.or_(*(glob_test(event, p) for p in patterns)).fill_null(False)


def _person_window(t: ir.Table, rows: tuple[int | None, int | None] | None = None) -> ibis.Window:
    if rows is None:
        return ibis.window(group_by=t.person, order_by=t.pos)
    return ibis.window(group_by=t.person, order_by=t.pos, rows=rows)


def _narrow(events: ir.Table, dims: Sequence[str], rules: SignalRules, span: Span) -> Coded:
    """The columns the signals read, with the person (``person``) and the event's place in
    their sequence (``pos``) as integers, the time as ``sec``, seconds from the ``span``'s end
    (:func:`_seconds`), and the text columns (event, touchpoint, dimensions) as codes
    (:mod:`.codes`); ``err`` and ``goal`` are matched on the distinct event names.
    The dimensions' values travel together as one code, ``combo``: a unit's events nearly
    always share them, so one comparison finds the units whose values differ, and the units are
    counted once per combination instead of once per dimension.

    The stored ``person_key`` and ``person_seq`` (see :mod:`.sequence`) are those integers, so
    every sort and join below compares integers instead of text; a table without them (or with
    them not yet filled) numbers its sequences here. A dimension's ``(none)`` is its null.
    """
    keyed = has_sequence_keys(events)
    t = events.filter(events.ts.notnull(), events["person_key" if keyed else "person_id"].notnull())
    if keyed:
        # 32 bits are plenty for people and a person's events (a larger key fails the cast
        # loudly), and narrower rows are cheaper to sort, hold and join.
        person, place = t.person_key.cast("int32"), t.person_seq.cast("int32")
    else:
        person = t.person_id
        place = ibis.row_number().over(group_by=t.person_id, order_by=event_order(t))
    narrow = t.select(
        person=person,
        pos=place,
        event=t.event,
        touchpoint=t.touchpoint,
        **{dim: t[dim].nullif(NONE) for dim in dims},
        sec=_seconds(t.ts, span),
    )
    flags = {
        "err": lambda names: is_error(names.event, rules.error_patterns),
        "goal": lambda names: names.event.isin(rules.goals).fill_null(False),
    }
    return code_columns(narrow, ["event", "touchpoint", *dims], flags, combine=dims)


def _seconds(ts: ir.TimestampValue, span: Span) -> ir.IntegerValue:
    """Whole seconds from the ``span``'s end to ``ts`` (no event is later than the end, nor
    earlier than the start where known): in 32 bits where the span is known to be short
    enough (:data:`SHORT_SPAN`), else in 64."""
    start, end = span
    seconds = epoch_seconds(ts) - _epoch(end)
    if start is not None and _epoch(end) - _epoch(start) < SHORT_SPAN:
        return seconds.cast("int32")
    return seconds


def _epoch(moment: datetime) -> int:
    """Whole seconds from 1970 to ``moment``, as :func:`epoch_seconds` counts them."""
    return int((moment - EPOCH).total_seconds())


def _sequence(t: ir.Table, rules: SignalRules) -> ir.Table:
    """Each event of the coded rows of :func:`_narrow` with its neighbours, from windows that
    share one sort of narrow rows, and its own signals (:func:`_event_flags`), which keeps the
    rows every later step reads narrow.

    ``grp`` counts the events with a touchpoint so far: an event without one belongs to the
    touchpoint of its ``grp``.

    Every column is an expression over the windows in one select: the engine computes each
    window once however often it is named, and the rows every later step reads (held once, as
    the query's shared part) are these narrow ones, not the windows' wide packed values.
    """
    # The sort carries the event's own codes and flags packed as they are lagged: one column.
    here = pack(
        NEIGHBOUR,
        err=t.err.ifelse(1, 0),
        goal=t.goal.ifelse(1, 0),
        touchpoint=t.touchpoint.fill_null(0),
        event=t.event.fill_null(0),
    )
    t = t.select("person", "pos", COMBINED, "sec", _here=here)
    w, running, ahead = (
        _person_window(t),
        _person_window(t, (None, 0)),
        _person_window(t, (0, None)),
    )
    previous, following = t._here.lag().over(w), t._here.lead().over(w)
    err, goal = _part(t._here, "err") == 1, _part(t._here, "goal") == 1
    event = _part(t._here, "event").nullif(0).cast("int32")
    touchpoint = _part(t._here, "touchpoint").nullif(0).cast("int32")
    # Counts and a minimum of the rows that meet a condition (``where``), not a sum or minimum
    # of values made for them: DuckDB keeps such an aggregate over a frame for a fraction of
    # the cost (on 10M events, two running counts cost half of one running sum of both packed,
    # the next goal's time a fifth of its minimum over a case).
    grp = t.count(where=touchpoint.notnull())
    # The touchpoint of the event before: null where there is none, 0 where it has none.
    prev_touchpoint = _part(previous, "touchpoint")
    row = {
        "sec": t.sec,
        "err": err,
        "goal": goal,
        "gap_prev": t.sec - t.sec.lag().over(w),
        "gap_next": t.sec.lead().over(w) - t.sec,
        # Forwards over the rows still to come, so it shares the sort of the other windows.
        "next_goal": t.sec.min(where=goal).over(ahead),
        # Null where there is no previous event: a flag reads null as false (see ``_flag``).
        "same_event": _part(previous, "event").nullif(0) == event,
        "prev_err": _part(previous, "err") == 1,
    }
    return t.select(
        "person",
        "pos",
        event=event,
        touchpoint=touchpoint,
        **{COMBINED: t[COMBINED]},
        sec=t.sec,
        err=err,
        gap_prev=row["gap_prev"],
        prev_err=row["prev_err"],
        next_err=_part(following, "err") == 1,
        # The person's first event, or one after an event at another touchpoint (read only at
        # events with a touchpoint); after one without, the touchpoint before is further back.
        moved=prev_touchpoint.isnull() | ((prev_touchpoint != 0) & (prev_touchpoint != touchpoint)),
        after_none=prev_touchpoint == 0,
        next_placed=_part(following, "touchpoint") > 0,
        grp=grp.over(running).cast("int32"),
        **_event_flags(row, rules),
    )


def _part(packed: ir.IntegerValue, name: str) -> ir.IntegerValue:
    """The part ``name`` of an event's packed codes and flags (:data:`NEIGHBOUR`)."""
    return unpack(packed, NEIGHBOUR, name)


def _event_flags(row: Mapping[str, ir.Value], rules: SignalRules) -> dict[str, ir.IntegerValue]:
    """An event's own signals as the bits of ``signals`` (see :data:`FLAGS`); ``retry`` here
    is only a repeat of the event just before. ``row``: the event's values that they read, by
    name, its time ``sec`` counted from the data's end (:func:`_seconds`)."""
    sec, err, goal = row["sec"], row["err"], row["goal"]
    gap_next = row["gap_next"]
    last = gap_next.isnull()
    ended = (last & (sec <= -rules.window)) | (gap_next > rules.window)
    repeat = ~err & ~row["prev_err"] & row["same_event"] & (row["gap_prev"] <= rules.retry)
    flags = {
        "exit": ~goal & ended,
        "open": sec > -rules.window,
        "retry": repeat,
        "error": err,
        "postponed": gap_next > rules.postpone,
        "converted": row["next_goal"] - sec <= rules.window,
        "goal": goal,
    }
    return {"signals": _signals(flags)}


def _near(seq: ir.Table) -> ir.Table:
    """The few events the steps beside the main one read (errors and the events next to them,
    events next to one without a touchpoint), with ``kept``: the non-error events so far among
    them, so that a run of errors has the ``kept`` of the non-error event before it (which is
    next to the run, and so among them too).

    The numbering is a window over these few rows; it also makes the engine hold them once for
    every step that reads them (a plain filter it would repeat over the whole sequence in each).
    """
    beside_none = seq.touchpoint.notnull() & (seq.after_none | (seq.next_placed == False))  # noqa: E712
    near = seq.filter(seq.err | seq.prev_err | seq.next_err | beside_none)
    kept = near.count(where=~near.err).over(_person_window(near, (None, 0)))
    return near.mutate(kept=kept.cast("int32"))


def _anchors(near: ir.Table) -> ir.Table:
    """Events with a touchpoint followed by one without: whose touchpoint (and segment) later
    events borrow. ``near``: the events of :func:`_near`."""
    a = near.filter(near.touchpoint.notnull(), near.next_placed == False)  # noqa: E712
    return a.select(a_person=a.person, a_grp=a.grp, a_touchpoint=a.touchpoint, a_combo=a[COMBINED])


def _placed(seq: ir.Table, near: ir.Table, anchors: ir.Table) -> ir.Table:
    """Events at their touchpoint: their own, or for an error without one, the one before it,
    in that event's segment (an error page names no channel of its own: it happened to the
    visitor of the touchpoint before it, as that visitor)."""
    stray = near.filter(near.touchpoint.isnull(), near.err)
    borrowed = stray.join(
        anchors, [stray.person == anchors.a_person, stray.grp == anchors.a_grp]
    ).mutate(touchpoint=anchors.a_touchpoint, **{COMBINED: anchors.a_combo})
    return seq.filter(seq.touchpoint.notnull()).union(borrowed.select(*seq.columns))


def build_event_signals(seq: ir.Table, near: ir.Table, anchors: ir.Table) -> ir.Table:
    """One row per placed event: ``person, touchpoint, combo`` (its segment values, see
    :func:`_narrow`) and the signal columns.

    ``retry`` here is only a repeat of the event just before; repeats across errors are
    :func:`build_burst_retries`.
    """
    t = _placed(seq, near, anchors)
    return t.select("person", "touchpoint", COMBINED, "grp", "signals")


def _flag(condition: ir.BooleanValue, value: int = 1) -> ir.IntegerValue:
    """``value`` where ``condition`` holds, else 0, also where it is null: ``ifelse`` reads null
    as false (a ``coalesce`` to false around each of an event's flags doubled their cost)."""
    return condition.ifelse(value, 0)


def _signals(flags: dict[str, ir.BooleanValue]) -> ir.IntegerValue:
    """The flags as the bits of one integer: a unit merges them with one ``bit_or``, where a
    maximum per flag cost an aggregate each."""
    bits = [_flag(condition, BIT[name]) for name, condition in flags.items()]
    return functools.reduce(operator.add, bits).cast("int32")


def has(signals: ir.IntegerValue, flag: str) -> ir.BooleanValue:
    """Whether the ``signals`` bits include ``flag``."""
    return (signals & BIT[flag]) != 0


def _only(table: ir.Table, flag: str) -> ir.Table:
    """Rows that contribute one signal to their unit and nothing else."""
    return table.select(
        "person", "touchpoint", COMBINED, "grp", signals=ibis.literal(BIT[flag], "int32")
    )


def build_burst_retries(near: ir.Table, rules: SignalRules) -> ir.Table:
    """Retries across errors: ``pay, payment_error, pay``, every gap within ``retry``.

    Such a repeat's earlier event is the non-error event whose ``kept`` is one less; the errors
    between share that ``kept``. All three sets are small: events next to errors, read from
    ``near`` (:func:`_near`).
    """
    after = near.filter(
        near.touchpoint.notnull(), ~near.err, near.prev_err, near.gap_prev <= rules.retry
    )
    before = near.filter(~near.err, near.next_err)
    before = before.select(b_person=before.person, b_kept=before.kept, b_event=before.event)
    errors = near.filter(near.err)
    slow = errors.gap_prev.isnull() | (errors.gap_prev > rules.retry)
    runs = errors.group_by(r_person=errors.person, r_kept=errors.kept).aggregate(
        slow=_flag(slow).max()
    )
    runs = runs.filter(runs.slow == 0)
    repeats = after.join(
        before,
        [
            after.person == before.b_person,
            after.kept - 1 == before.b_kept,
            after.event == before.b_event,
        ],
    )
    repeats = repeats.join(runs, [repeats.person == runs.r_person, repeats.kept - 1 == runs.r_kept])
    return _only(repeats, "retry")


def _visits(seq: ir.Table, near: ir.Table, anchors: ir.Table) -> ir.Table:
    """Events with a touchpoint other than that of the touchpoint event before them: only
    what the loop pass reads, so its sort carries no dimensions."""
    moved = seq.filter(seq.touchpoint.notnull(), seq.moved)
    # After events without a touchpoint (few, among ``near``), the touchpoint before is that
    # of the previous group, if there is one.
    gap = near.filter(near.touchpoint.notnull(), near.after_none)
    gap = gap.left_join(anchors, [gap.person == anchors.a_person, gap.grp - 1 == anchors.a_grp])
    gap = gap.filter(gap.a_touchpoint.isnull() | (gap.a_touchpoint != gap.touchpoint))
    columns = ("person", "pos", "touchpoint", "sec")
    return moved.select(*columns).union(gap.select(*columns))


def build_loops(seq: ir.Table, visits: ir.Table, rules: SignalRules) -> ir.Table:
    """The touchpoint visits that are part of an ``A → B → A → B`` loop (at its end or one
    before it), in one pass over the visits, with their dimensions from ``seq``.

    The visit one before an end is itself an end's next-to-last visit, so the pass marks the
    ends and names, from the visit before each (lagged packed with its touchpoint), the other.
    """
    w = _person_window(visits)
    tp, sec = visits.touchpoint, visits.sec
    before = pack(VISIT, touchpoint=tp, pos=visits.pos).lag().over(w)
    ends = (
        (tp.lag(2).over(w) == tp)
        & (tp.lag(3).over(w) == unpack(before, VISIT, "touchpoint"))
        & (sec - sec.lag(3).over(w) <= rules.window)
    )
    before_pos = unpack(before, VISIT, "pos").cast(visits.pos.type())
    marked = visits.mutate(end=ends, before=before_pos)  # a null end is not kept
    marked = marked.filter(marked.end)
    at = ibis.union(
        marked.select(l_person=marked.person, l_pos=marked.pos),
        marked.select(l_person=marked.person, l_pos=marked.before),
        distinct=True,
    )
    looped = seq.join(at, [seq.person == at.l_person, seq.pos == at.l_pos])
    return _only(looped, "loop")


# Counted per unit: its rows with the flag (an event's own retry or error, or a burst's retry).
TALLIES = {"retries": "retry", "errors": "error"}
UNIT = ("person", "touchpoint", "value", "signals", *TALLIES, "first")
SEGMENT_KEYS = ("touchpoint", "dimension", "value")


def _merged(table: ir.Table, keys: Sequence[Any], **extra: ir.Scalar) -> ir.Table:
    """Per ``keys``: the union of the signal bits, each tally's sum and the ``first``
    position."""
    return table.group_by(list(keys)).aggregate(
        signals=bit_or(table.signals),
        **{tally: table.count(where=has(table.signals, flag)) for tally, flag in TALLIES.items()},
        first=table.grp.min(),
        **extra,
    )


def _visited(rows: ir.Table) -> ir.Table:
    """Per person and touchpoint: the merged signals and the lowest and highest combination of
    segment values (``_lo``, ``_hi``) of its events."""
    combo = rows[COMBINED]
    return _merged(rows, ["person", "touchpoint"], _lo=combo.min(), _hi=combo.max())


def _single(visited: ir.Table) -> ir.Table:
    """The units of people whose events at a touchpoint share their segment values (nearly
    all): one per person and touchpoint, its ``value`` the combination."""
    single = visited.filter(visited._lo == visited._hi)
    return single.mutate(value=single._lo).select(*UNIT)


def _mixed_rows(rows: ir.Table, visited: ir.Table) -> ir.Table:
    """The rows of people whose events at a touchpoint differ in some segment value (few)."""
    mixed = visited.filter(visited._lo != visited._hi)
    mixed = mixed.select(m_person=mixed.person, m_touchpoint=mixed.touchpoint)
    same = [rows.person == mixed.m_person, rows.touchpoint == mixed.m_touchpoint]
    return rows.join(mixed, same).select(*rows.columns)


def _dimension_counts(rows: ir.Table, visited: ir.Table, values: ir.Table) -> ir.Table:
    """Per ``touchpoint, dimension, value`` and stratum: the unit counts.

    Units whose events share their segment values are counted once per combination, and the
    counts add up by each dimension's value in it. The other people's events are merged again
    by each dimension's value: one unit per person, touchpoint and value (a person who paid on
    mobile and on desktop is two units).
    """
    by_combination = _counts(_single(visited), ["touchpoint", "value"])
    single = by_combination.join(values, by_combination.value == values.c_combo)
    single = single.select("touchpoint", "dimension", "stratum", *COUNTS, value=single.c_value)
    mixed = _mixed_rows(rows, visited)
    mixed = mixed.join(values, mixed[COMBINED] == values.c_combo)
    merged = _merged(mixed, ["person", "touchpoint", "dimension", mixed.c_value.name("value")])
    split = _counts(merged.select(*UNIT, "dimension"), SEGMENT_KEYS)
    both = single.union(split.select(*single.columns))
    summed = both.group_by(*SEGMENT_KEYS, "stratum").aggregate(
        **{c: both[c].sum().cast("int64") for c in COUNTS}
    )
    return summed.select(*SEGMENT_KEYS, "stratum", *COUNTS)


def _stratum(first: ir.IntegerValue) -> ir.IntegerValue:
    """The journey-position stratum of a unit from its first touchpoint event's place."""
    bounds = enumerate(POSITION_STRATA)
    return ibis.cases(*((first <= bound, i) for i, bound in bounds), else_=len(POSITION_STRATA))


def _counts(per: ir.Table, keys: Sequence[str]) -> ir.Table:
    """Per ``keys`` and stratum of units: the unit counts.

    The units are first counted per combination of their signal bits (a few dozen kinds), with
    their tallies summed; each count is then a sum over those few rows. Counting each flag over
    every unit instead (a dozen filtered counts per unit) took three times as long.
    """
    kinds = per.group_by(*keys, stratum=_stratum(per.first), signals=per.signals).aggregate(
        units=per.count(), retries=per.retries.sum(), errors=per.errors.sum()
    )
    signals = {flag: has(kinds.signals, flag) for flag in FLAGS}
    decided = ~signals["open"]
    abandoned = decided & signals["exit"] & ~signals["goal"]
    continued = decided & ~abandoned

    def units(where: ir.BooleanValue | None = None) -> ir.IntegerValue:
        return kinds.units.sum(where=where).fill_null(0)  # 0, not null, where none has it

    return kinds.group_by(*keys, "stratum").aggregate(
        people=units(),
        decided=units(decided),
        abandoned=units(abandoned),
        retried=units(signals["retry"]),
        retries=kinds.retries.sum(),
        errored=units(signals["error"]),
        errors=kinds.errors.sum(),
        looped=units(signals["loop"]),
        postponed=units(signals["postponed"]),
        converted=units(decided & signals["converted"]),
        continued=units(continued),
        continued_converted=units(continued & signals["converted"]),
    )


def build_segment_counts(
    events: ir.Table,
    dims: Sequence[str],
    rules: SignalRules,
    end: datetime,
    touchpoints: Sequence[str] | None = None,
    start: datetime | None = None,
) -> ir.Table:
    """Per ``touchpoint, dimension, value``: the unit counts in :data:`COUNTS`.

    ``end``: the end of the data (no event is later; what is less than a window before it is
    open); ``start``, where known: no event is earlier.

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
    coded = _narrow(events, dims, rules, (start, end))
    seq = _sequence(coded.rows, rules)
    near = _near(seq)
    anchors = _anchors(near)
    rows = build_event_signals(seq, near, anchors).union(build_burst_retries(near, rules))
    rows = rows.union(build_loops(seq, _visits(seq, near, anchors), rules))
    if touchpoints is not None:
        rows = rows.filter(rows.touchpoint.isin(coded.codes_of("touchpoint", touchpoints)))
    counts = _dimension_counts(rows, _visited(rows), _values(coded, dims))
    return decode(counts, "touchpoint", coded.dictionaries["touchpoint"])


def _values(coded: Coded, dims: Sequence[str]) -> ir.Table:
    """Per combination of segment values and dimension: the dimension's value as text
    (:data:`NONE` for none), as ``c_combo, c_value, dimension`` (small)."""
    combos = coded.combinations
    assert combos is not None  # the dimensions are combined in _narrow
    parts = [
        decode(
            combos.select(c_combo=combos[COMBINED], c_value=combos[dim]),
            "c_value",
            coded.dictionaries[dim],
            missing=NONE,
        ).mutate(dimension=ibis.literal(dim))
        for dim in dims
    ]
    return ibis.union(*parts) if len(parts) > 1 else parts[0]


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


def build_effort_counts(
    feedback: ir.Table,
    events: ir.Table,
    dims: Sequence[str],
    values: Mapping[str, ir.Value],
    period: tuple[datetime | None, datetime | None] = (None, None),
) -> ir.Table:
    """Per ``touchpoint, dimension, value``: CES/success ``responses`` and high-``effort`` ones.

    An answer counts in the segment of its person's unit at its touchpoint: the values of the
    dimension on their ``events`` there (in each value, where they had several, as the units
    are counted: once per value of each dimension); an answer by someone with no event there
    (among ``events`` in the ``period``, filtered as the analysis is) counts nowhere. An
    anonymous answer counts in its own value where the feedback has the dimension, else in
    ``(none)``. An answer counts in the ``period`` (``since <= ts < until``) of the event it
    answers (:func:`_answered`).
    ``values``: each dimension's value on an event (text), by its key.
    """
    f = feedback.filter(feedback.touchpoint.notnull(), feedback.metric.isin(("ces", "success")))
    effort = ((f.metric == "ces") & (f.score <= EFFORT_CES_MAX)) | (
        (f.metric == "success") & (f.score < EFFORT_SUCCESS_MAX)
    )
    # The answer's own values, under the dimensions' names (feedback has a ``dimension`` of
    # its own: the aspect asked about).
    own = {d: f[d] if d in f.columns else ibis.null("string") for d in dims}
    answers = f.select("person_id", "touchpoint", "ts", effort=_flag(effort), **own)
    # Only the answering people's events at the answered touchpoints (few of the events).
    pairs = answers.select(a_person=answers.person_id, a_touchpoint=answers.touchpoint)
    pairs = pairs.distinct()
    placed = events.select("person_id", "touchpoint", "ts", **values)
    placed = placed.filter(placed.touchpoint.isin(pairs.a_touchpoint))
    on = [placed.person_id == pairs.a_person, placed.touchpoint == pairs.a_touchpoint]
    # Distinct, which changes neither reader (one takes the latest time, the other distinct
    # units): a step both read, so the events are scanned and joined once, not once for each.
    placed = placed.semi_join(pairs, on).distinct()
    answers = in_range(_answered(answers, placed), *period, column="_answered")
    units = in_range(placed, *period).drop("ts")
    # One unit per value of each dimension, not per combination of the values: who paid on
    # mobile on the web and in the app is one mobile unit.
    long = _long(units, dims).select("person_id", "touchpoint", "dimension", "value").distinct()
    taken = answers.select("person_id", "touchpoint", "effort").join(
        long, ["person_id", "touchpoint"]
    )
    taken = taken.select("touchpoint", "dimension", "value", "effort")
    alone = answers.filter(answers.person_id.isnull())
    alone = _long(alone, dims).select("touchpoint", "dimension", "value", "effort")
    both = taken.union(alone)
    return both.group_by("touchpoint", "dimension", "value").aggregate(
        responses=both.count(), effort=both.effort.sum()
    )


def _answered(answers: ir.Table, placed: ir.Table) -> ir.Table:
    """``answers`` with ``_answered``: the time of the event each answers, its person's last
    event at its touchpoint at or before it (a survey follows the interaction), else its own
    (anonymous, or before any such event). ``placed``: the people's events there."""
    keys = answers.filter(answers.person_id.notnull())
    keys = keys.select(k_person=keys.person_id, k_touchpoint=keys.touchpoint, k_ts=keys.ts)
    keys = keys.distinct()
    seen = placed.select(e_person=placed.person_id, e_touchpoint=placed.touchpoint, e_ts=placed.ts)
    same = [
        keys.k_person == seen.e_person,
        keys.k_touchpoint == seen.e_touchpoint,
        seen.e_ts <= keys.k_ts,
    ]
    before = keys.join(seen, same)
    last = before.group_by("k_person", "k_touchpoint", "k_ts").aggregate(e_last=before.e_ts.max())
    match = [
        answers.person_id == last.k_person,
        answers.touchpoint == last.k_touchpoint,
        answers.ts == last.k_ts,
    ]
    joined = answers.left_join(last, match)
    return joined.select(*answers.columns, _answered=joined.e_last.fill_null(joined.ts))


def build_overview(events: ir.Table, goals: Sequence[str]) -> ir.Table:
    """One row: ``start``, ``end`` (first/last ``ts``), ``orders`` and ``revenue`` of goals, and
    ``paid``, the goals that carry a revenue (0 included: a free order is worth 0; a goal
    without one is of unknown worth), which an order's average value divides by."""
    goal = events.event.isin(list(goals))
    return events.aggregate(
        start=events.ts.min(),
        end=events.ts.max(),
        orders=events.count(where=goal),
        revenue=events.revenue.sum(where=goal),
        paid=events.count(where=goal & events.revenue.notnull()),
    )
