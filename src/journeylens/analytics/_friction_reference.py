"""Friction's unit counts, as a tiny pure-Python reference.

The engine (:mod:`journeylens.analytics._friction_signals`) is property-tested against this
module; when they disagree, the engine is wrong. It reads the rules of that module's docstring,
one person and one event at a time, with none of the engine's devices (codes, packed neighbours,
running counts, the visits' second pass).

Rules
-----
A person's events, ordered by ``(ts, received_at, event_id)``; times are whole seconds since the
epoch (``ts`` floored). An event's *touchpoint* is its own; an *error* (its name matches an error
glob) without one takes the touchpoint and the segment values of the last event before it that
has one (none: it is not placed). Per event:

- ``exit``: not a goal, and the next event more than ``window`` later, or none and the event at
  least ``window`` before the end of the data; ``open``: less than ``window`` before the end;
- ``retry``: not an error, the event before not an error either, the same name as it, at most
  ``retry`` seconds after it;
- ``postponed``: the next event more than ``postpone`` later; ``converted``: a goal at or after
  the event within ``window`` (itself, if it is one); ``error``, ``goal``: what it is.

A *burst retry*: a non-error event with a touchpoint whose nearest non-error event before has
the same name, with only errors between them (at least one), each gap of the run (from the
earlier event to the later) at most ``retry`` seconds. It adds a ``retry`` to the later event's
unit (one more retry in its tally).

*Visits* are the events with a touchpoint other than that of the last event before them with one
(or with none before). The last of four visits ``A, B, A, B`` within ``window`` (from the first
to the last) and the one before it are *loop* visits: their events' units get ``loop``.

A *unit*: a person at a touchpoint with one value of a dimension (``(none)`` for none). It has
every signal of its events (and of their burst retries and loops), ``retries`` and ``errors``
(its rows with each), and ``first``: the number of events with a touchpoint up to and including
its earliest (an error placed at another's touchpoint counts the events before it). Its stratum
is the first bound of ``1, 2, 4, 8, 16`` that ``first`` is at most (past them: 5). Per
touchpoint, dimension, value and stratum the units are counted as ``_friction_signals.COUNTS``:
``decided`` (no ``open``), ``abandoned`` (decided, ``exit``, no ``goal``), ``continued``
(decided, not abandoned), ``converted`` (decided and ``converted``), and so on.
"""

from __future__ import annotations

import fnmatch
import itertools
import math
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# Names and bounds only: the rules themselves are this module's own.
from journeylens.analytics._friction_signals import (
    COUNTS,
    EPOCH,
    NONE,
    POSITION_STRATA,
    SignalRules,
)


@dataclass
class _Event:
    sec: int
    event: str | None
    touchpoint: str | None
    values: dict[str, str]
    err: bool
    goal: bool
    grp: int = 0  # events with a touchpoint so far, this one included
    flags: set[str] = field(default_factory=set)


@dataclass
class _Row:
    touchpoint: str
    values: dict[str, str]
    grp: int
    flags: set[str]
    retries: int = 0
    errors: int = 0


def _seconds(ts: datetime) -> int:
    return math.floor((ts - EPOCH).total_seconds())


def _value(raw: Any) -> str:
    return NONE if raw is None or raw == NONE else str(raw)


def reference_counts(
    events: Sequence[Mapping[str, Any]], dims: Sequence[str], rules: SignalRules, end: datetime
) -> dict[tuple[str, str, str, int], dict[str, int]]:
    """``(touchpoint, dimension, value, stratum)`` → the unit counts, from event records
    (``person_id, ts, received_at, event_id, event, touchpoint`` and the ``dims``)."""
    people: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for record in events:
        if record["person_id"] is not None and record["ts"] is not None:
            people[record["person_id"]].append(record)
    end_sec = int((end - EPOCH).total_seconds())
    units: dict[tuple[str, str, str, str], list[_Row]] = defaultdict(list)
    for person, records in people.items():
        records = sorted(records, key=lambda r: (r["ts"], r["received_at"], r["event_id"]))
        sequence = [_event(r, dims, rules) for r in records]
        for row in _rows(sequence, rules, end_sec):
            for dim in dims:
                units[(person, row.touchpoint, dim, row.values[dim])].append(row)
    counts: dict[tuple[str, str, str, int], dict[str, int]] = {}
    for (_, touchpoint, dim, value), rows in units.items():
        flags = set().union(*(row.flags for row in rows))
        first = min(row.grp for row in rows)
        bounds = POSITION_STRATA
        stratum = next((i for i, bound in enumerate(bounds) if first <= bound), len(bounds))
        tally = counts.setdefault((touchpoint, dim, value, stratum), dict.fromkeys(COUNTS, 0))
        decided = "open" not in flags
        abandoned = decided and "exit" in flags and "goal" not in flags
        continued = decided and not abandoned
        tally["people"] += 1
        tally["decided"] += decided
        tally["abandoned"] += abandoned
        tally["retried"] += "retry" in flags
        tally["retries"] += sum(row.retries for row in rows)
        tally["errored"] += "error" in flags
        tally["errors"] += sum(row.errors for row in rows)
        tally["looped"] += "loop" in flags
        tally["postponed"] += "postponed" in flags
        tally["converted"] += decided and "converted" in flags
        tally["continued"] += continued
        tally["continued_converted"] += continued and "converted" in flags
    return counts


def _event(record: Mapping[str, Any], dims: Sequence[str], rules: SignalRules) -> _Event:
    name = record["event"]
    err = name is not None and any(fnmatch.fnmatchcase(name, p) for p in rules.error_patterns)
    return _Event(
        sec=_seconds(record["ts"]),
        event=name,
        touchpoint=record["touchpoint"],
        values={dim: _value(record.get(dim)) for dim in dims},
        err=err,
        goal=name is not None and name in rules.goals,
    )


def _rows(sequence: list[_Event], rules: SignalRules, end_sec: int) -> list[_Row]:
    """One person's rows: each placed event, each burst retry, each loop visit."""
    window, retry, postpone = rules.window, rules.retry, rules.postpone
    count = 0
    for e in sequence:
        count += e.touchpoint is not None
        e.grp = count
    for i, e in enumerate(sequence):
        before = sequence[i - 1] if i else None
        after = sequence[i + 1] if i + 1 < len(sequence) else None
        gap_next = after.sec - e.sec if after else None
        goals_ahead = [x.sec for x in sequence[i:] if x.goal]
        if not e.goal and (
            (gap_next is None and e.sec <= end_sec - window)
            or (gap_next is not None and gap_next > window)
        ):
            e.flags.add("exit")
        if e.sec > end_sec - window:
            e.flags.add("open")
        if (
            before is not None
            and not e.err
            and not before.err
            and e.event is not None
            and before.event == e.event
            and e.sec - before.sec <= retry
        ):
            e.flags.add("retry")
        if e.err:
            e.flags.add("error")
        if gap_next is not None and gap_next > postpone:
            e.flags.add("postponed")
        if goals_ahead and goals_ahead[0] - e.sec <= window:
            e.flags.add("converted")
        if e.goal:
            e.flags.add("goal")
    rows = _placed(sequence)
    rows += _burst_retries(sequence, retry)
    rows += _loops(sequence, window)
    return rows


def _placed(sequence: list[_Event]) -> list[_Row]:
    rows: list[_Row] = []
    last: _Event | None = None  # the last event with a touchpoint
    for e in sequence:
        if e.touchpoint is not None:
            last = e
        place = e if e.touchpoint is not None else last if e.err else None
        if place is None or place.touchpoint is None:
            continue
        retries, errors = int("retry" in e.flags), int("error" in e.flags)
        rows.append(_Row(place.touchpoint, place.values, e.grp, set(e.flags), retries, errors))
    return rows


def _burst_retries(sequence: list[_Event], retry: int) -> list[_Row]:
    rows = []
    for j, later in enumerate(sequence):
        if later.err or later.touchpoint is None:
            continue
        i = j - 1
        while i >= 0 and sequence[i].err:
            i -= 1
        if i < 0 or i == j - 1:  # no non-error before, or no error between
            continue
        earlier = sequence[i]
        run = sequence[i : j + 1]
        quick = all(b.sec - a.sec <= retry for a, b in itertools.pairwise(run))
        if quick and earlier.event is not None and earlier.event == later.event:
            rows.append(_Row(later.touchpoint, later.values, later.grp, {"retry"}, 1, 0))
    return rows


def _loops(sequence: list[_Event], window: int) -> list[_Row]:
    visits: list[tuple[str, _Event]] = []
    for e in sequence:
        if e.touchpoint is not None and (not visits or visits[-1][0] != e.touchpoint):
            visits.append((e.touchpoint, e))
    looped: dict[int, tuple[str, _Event]] = {}
    for k in range(3, len(visits)):
        a, b, c, d = visits[k - 3 : k + 1]
        if d[0] == b[0] and a[0] == c[0] and d[1].sec - a[1].sec <= window:
            looped[id(c[1])], looped[id(d[1])] = c, d
    return [_Row(at, e.values, e.grp, {"loop"}) for at, e in looped.values()]
