"""The funnel semantics, as a tiny pure-Python reference the engine is property-tested against.

It is written for clarity, not speed, and it is the spec of truth: when the engine and this module
disagree, the engine is wrong.

Rules
-----
Input is a list of events ``(person, ts, event_id, row)``; ``row`` holds the canonical columns.

Order and time.
    A unit's events are ordered by ``(ts, received_at, event_id)``; this total order is the
    *position* of an event. Times are compared in whole seconds since the epoch (``ts`` floored to
    the second). Events at the same timestamp are therefore ordered as they were received (a
    file's rows in the file's order), then by ``event_id``: a later step may share its timestamp
    with the previous step when it was received after it. One event fills at most
    one step of an attempt (except in ``any`` order, below).

Units.
    ``count="people"``: a unit is a ``person_id``; ``"sessions"``: a ``(person_id, session_id)``
    pair, the funnel evaluated inside each session; ``"attempts"``: see *Attempts* below. Events
    without a ``person_id`` (or, for sessions, without a ``session_id``) are ignored. ``since`` is
    inclusive and ``until`` exclusive.

Attempts.
    Every event matching step 1 is an *entry* that starts an attempt. From the entry the attempt is
    extended step by step (``n`` steps in all) and stops at the first step that fails:

    ``ordered``
        step *k* is the first event matching step *k* positioned after the event of step *k − 1*
        (other events may come between);
    ``strict``
        step *k* must be the unit's very next event after step *k − 1* (among all its events);
    ``any``
        step *k* (k ≥ 2) is the first event matching step *k* after the entry, wherever the other
        steps are; the attempt reaches step *k* when steps 2…k all occurred. An event may match
        several steps here. The time of reaching step *k* is the latest of those events.

    A step also fails when its event is more than ``within`` after the entry (exactly ``within``
    still counts), when ``step_within[k]`` is set and the event is more than that after step
    *k − 1*, and — with ``exclusion="restart"`` — when an exclusion event lies strictly between the
    entry and the step's event. An attempt's *reach* is the number of steps it filled.

The counted attempt.
    For people and sessions, with ``entry="first"`` (the default) a unit's counted attempt is the
    one its first entry starts: a person enters at their first step-1 event, and one whose first try
    expired does not convert through a later one. With ``exclusion="restart"`` it is the first
    attempt that no exclusion *ended* (else the first): an exclusion ends an attempt that stopped at
    step *k* when it lies before step *k*'s event (or there is none) and came while step *k* could
    still be reached — at most ``within`` after the entry and, with ``step_within[k]``, at most that
    after step *k − 1* (in ``strict`` order none can). With ``entry="best"`` the counted attempt is
    the one with the highest reach, among those the earliest entry (as in PostHog): a person whose
    first try failed still converts through a later one, and times are measured on the first attempt
    that got furthest.

    With ``count="attempts"`` every attempt is a unit of its own, Mixpanel's *totals*: the first
    step-1 event opens an attempt; while it is open, further step-1 events belong to it. It closes
    at its last step when it completes the funnel; at the exclusion that ended it (``restart``, as
    above); otherwise when its window expires. The first step-1 event after it closes (after the
    last step's or the exclusion's position, or more than ``within`` after the entry) opens the
    next attempt.

Exclusions.
    ``drop`` (PostHog): a counted attempt with an exclusion event strictly between its entry and its
    last reached step is removed — with people and sessions the whole unit leaves the funnel, even
    from step 1. ``restart`` (Mixpanel): the exclusion ends that attempt (the steps after it are not
    filled); a later entry starts a fresh attempt that may count.

Breakdown.
    The value of ``by`` (a canonical column or a JSON property; JSON numbers as float text) on the
    counted attempt's step-1 event (``by_step="first"``), its last reached step (``"last"``) or its
    step ``k`` (an int, 1-based; no value when the attempt did not reach step ``k``).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from journeylens.journey.steps import row_key_text, step_matches

if TYPE_CHECKING:
    from journeylens.analytics.funnels import FunnelSpec

Event = tuple[str, datetime, str, Mapping[str, Any]]


@dataclass(frozen=True)
class Attempt:
    """One evaluated attempt: positions and times (seconds) of the steps it filled."""

    entry: int
    positions: tuple[int, ...]
    times: tuple[int, ...]
    excluded: bool
    cut: bool = False
    closed_at: int | None = None  # the exclusion's position where one ended it

    @property
    def reach(self) -> int:
        return len(self.positions)


@dataclass(frozen=True)
class Outcome:
    """What one unit contributes to the funnel."""

    unit: tuple[str, ...]
    reach: int
    times: tuple[int, ...]
    segment: str | None


def seconds(ts: datetime) -> int:
    return calendar.timegm(ts.utctimetuple())


class _Unit:
    def __init__(self, events: list[Event], spec: FunnelSpec) -> None:
        self.events = sorted(events, key=lambda e: (e[1], e[3].get("received_at") or e[1], e[2]))
        self.sec = [seconds(e[1]) for e in self.events]
        self.spec = spec
        rows = [e[3] for e in self.events]
        self.matches = [[step_matches(s, r) for r in rows] for s in spec.parsed_steps]
        self.excl = [any(step_matches(s, r) for s in spec.parsed_exclude) for r in rows]
        self.entries = [i for i, hit in enumerate(self.matches[0]) if hit]

    def first_after(self, k: int, pos: int) -> int | None:
        return next((j for j in range(pos + 1, len(self.events)) if self.matches[k][j]), None)

    def next_step(self, k: int, previous: int, entry: int) -> int | None:
        if self.spec.order == "strict":
            nxt = previous + 1
            return nxt if nxt < len(self.events) and self.matches[k][nxt] else None
        return self.first_after(k, entry if self.spec.order == "any" else previous)

    def excluded_between(self, start: int, end: int) -> bool:
        return any(self.excl[start + 1 : end])

    def attempt(self, entry: int) -> Attempt:
        spec, sec = self.spec, self.sec
        positions, times = [entry], [sec[entry]]
        n = len(spec.parsed_steps)
        for k in range(1, n):
            j = self.next_step(k, positions[-1], entry)
            if j is None or sec[j] - sec[entry] > spec.window:
                break
            limit = spec.step_windows[k]
            if limit is not None and sec[j] - times[-1] > limit:
                break
            if spec.exclusion == "restart" and self.excluded_between(entry, j):
                break
            positions.append(j)
            times.append(max(times[-1], sec[j]))
        k = len(positions)  # the step it stopped at, if it did
        x = next((i for i in range(entry + 1, len(self.events)) if self.excl[i]), None)
        cut = spec.exclusion == "restart" and k < n
        cut = cut and self.ends(entry, x, k, self.next_step(k, positions[-1], entry), times[-1])
        last = max(positions)
        excluded = spec.exclusion == "drop" and self.excluded_between(entry, last)
        return Attempt(entry, tuple(positions), tuple(times), excluded, cut, x if cut else None)

    def ends(self, entry: int, x: int | None, k: int, j: int | None, previous: int) -> bool:
        """Whether ``x``, the first exclusion after ``entry``, ends the attempt waiting for step
        ``k`` (whose event is ``j``; step ``k − 1`` was at ``previous`` seconds)."""
        if self.spec.order == "strict":  # consecutive steps leave no room for one
            return False
        if x is None or (j is not None and j <= x):
            return False
        limit = self.spec.step_windows[k]
        late = limit is not None and self.sec[x] - previous > limit
        return self.sec[x] - self.sec[entry] <= self.spec.window and not late

    def counted(self) -> list[Attempt]:
        if not self.entries:
            return []
        if self.spec.count != "attempts":
            attempts = [self.attempt(e) for e in self.entries]
            if self.spec.entry == "first":
                return [min(attempts, key=lambda a: (a.cut, a.entry))]
            return [min(attempts, key=lambda a: (-a.reach, a.entry))]
        chosen: list[Attempt] = []
        entry: int | None = self.entries[0]
        while entry is not None:
            attempt = self.attempt(entry)
            chosen.append(attempt)
            entry = next((e for e in self.entries if self._after(attempt, e)), None)
        return chosen

    def _after(self, attempt: Attempt, entry: int) -> bool:
        if attempt.reach == len(self.spec.parsed_steps):
            return entry > max(attempt.positions)
        if attempt.closed_at is not None:
            return entry > attempt.closed_at
        return self.sec[entry] - self.sec[attempt.entry] > self.spec.window

    def segment(self, attempt: Attempt) -> str | None:
        by, by_step = self.spec.by, self.spec.by_step
        if by is None:
            return None
        if by_step == "first":
            pos: int | None = attempt.entry
        elif by_step == "last":
            pos = attempt.positions[-1]
        else:
            pos = attempt.positions[by_step - 1] if attempt.reach >= by_step else None
        return None if pos is None else row_key_text(self.events[pos][3], by)


def _unit_key(spec: FunnelSpec) -> Callable[[Event], tuple[str, ...] | None]:
    def key(event: Event) -> tuple[str, ...] | None:
        person, ts, row = event[0], event[1], event[3]
        if person is None or (spec.since is not None and ts < spec.since):
            return None
        if spec.until is not None and ts >= spec.until:
            return None
        if spec.count == "sessions":
            session = row.get("session_id")
            return None if session is None else (person, session)
        return (person,)

    return key


def reference_outcomes(events: Sequence[Event], spec: FunnelSpec) -> list[Outcome]:
    """Every counted unit's reach, step times (seconds) and breakdown value, by the rules above.

    Examples
    --------
    >>> from datetime import datetime as d
    >>> from journeylens.analytics.funnels import FunnelSpec
    >>> log = [("ann", d(2026, 1, 1), "1", {"event": "a"})]
    >>> log.append(("ann", d(2026, 1, 2), "2", {"event": "b"}))
    >>> [o.reach for o in reference_outcomes(log, FunnelSpec(steps=["a", "b"]))]
    [2]
    """
    key = _unit_key(spec)
    units: dict[tuple[str, ...], list[Event]] = {}
    for event in events:
        unit = key(event)
        if unit is not None:
            units.setdefault(unit, []).append(event)
    outcomes = []
    for unit, unit_events in sorted(units.items()):
        state = _Unit(unit_events, spec)
        for attempt in state.counted():
            if attempt.excluded:
                continue
            name = (*unit, str(attempt.entry)) if spec.count == "attempts" else unit
            outcomes.append(Outcome(name, attempt.reach, attempt.times, state.segment(attempt)))
    return outcomes


def reference_counts(events: Sequence[Event], spec: FunnelSpec) -> list[int]:
    """The number of units reaching each step.

    Examples
    --------
    >>> from datetime import datetime as d
    >>> from journeylens.analytics.funnels import FunnelSpec
    >>> log = [("ann", d(2026, 1, 1), "1", {"event": "a"})]
    >>> reference_counts(log, FunnelSpec(steps=["a", "b"]))
    [1, 0]
    """
    outcomes = reference_outcomes(events, spec)
    return [sum(o.reach >= k for o in outcomes) for k in range(1, len(spec.parsed_steps) + 1)]
