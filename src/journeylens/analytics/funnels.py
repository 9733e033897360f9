"""Funnels: how many people reach each step, how fast, where they drop off, and who.

The rules (entries, windows, ties, exclusions, count modes) are those of
:mod:`journeylens.analytics._funnel_reference`; this module builds the same thing as one engine
expression. Events are narrowed to those matching a step or an exclusion, numbered per unit, and one
window pass counts, at every event, the unit's events of each step so far (running sums packed into
few integers). The next event of step ``k`` after an event is then the one numbered one more: an
``ordered`` attempt follows its chain with one equi-join per step on ``(unit, number)`` (linear in
the rows, never a cross product), ``any`` looks each step up from the entry, and ``strict`` groups
events on ``position − step`` (an attempt's steps sit on consecutive positions).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import NONE_LABEL, SEGMENT, with_top_values
from journeylens.analytics.filters import in_range
from journeylens.analytics.packing import Layout, pack, unpack
from journeylens.analytics.proportions import ratio, two_proportion_test, wilson
from journeylens.analytics.result import (
    Result,
    frame_records,
    json_ready,
    plot_label,
    plot_labels,
)
from journeylens.analytics.sequence import event_order, has_sequence_keys, sequence_columns
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import (
    Step,
    any_step_predicate,
    check_key,
    key_text,
    parse_duration,
    parse_step,
    step_predicate,
)
from journeylens.store.portable import epoch_seconds, read_once

__all__ = [
    "FunnelResult",
    "FunnelSpec",
    "build_funnel",
    "build_funnel_people",
    "dropped_people",
    "parse_duration",
    "parse_step",
    "run_funnel",
]

ORDERS = ("ordered", "strict", "any")
EXCLUSIONS = ("drop", "restart")
COUNTS = ("people", "attempts", "sessions")
ENTRIES = ("first", "best")
QUANTILES = {"p25": 0.25, "p50": 0.5, "p75": 0.75, "p90": 0.9}
PERIODS = {"day": 86400, "week": 7 * 86400}
# 1970-01-01 was a Thursday: shift by three days so weeks start on Monday.
_WEEK_SHIFT = 3 * 86400


def check_choice(name: str, value: Any, allowed: Sequence[str]) -> None:
    """A ``SpecError`` naming the ``allowed`` values where ``value`` is none of them."""
    if value not in allowed:
        options = ", ".join(repr(a) for a in allowed)
        raise SpecError(f"Invalid {name} {value!r}: use one of {options}.")


def _parse_all(texts: Sequence[str], what: str) -> tuple[Step, ...]:
    parsed = []
    for index, text in enumerate(texts, start=1):
        try:
            parsed.append(parse_step(text))
        except SpecError as error:
            raise SpecError(f"{what} {index}: {error}") from None
    return tuple(parsed)


@dataclass(frozen=True)
class FunnelSpec:
    """What funnel to compute; validated on construction (errors quote the bad value).

    Parameters
    ----------
    steps
        Two or more steps (one is allowed) as ``[kind:]name[filter]`` text, see
        :func:`~journeylens.journey.steps.parse_step`.
    within
        The conversion window from step 1, e.g. ``"14d"``.
    order
        ``"ordered"`` (other events may come between), ``"strict"`` (each step is the very next
        event) or ``"any"`` (steps after step 1 in any order).
    exclude, exclusion
        Exclusion steps and what they do: ``"drop"`` removes the unit, ``"restart"`` ends the
        attempt.
    count
        The unit counted: ``"people"``, ``"sessions"`` or ``"attempts"``.
    entry
        Which of a person's (or session's) attempts counts: ``"first"``, the one its first
        step-1 event starts (with ``exclusion="restart"``, the first that no exclusion ended);
        ``"best"``, the one that gets furthest, whichever step-1 event starts it (as PostHog).
        Attempts counting (``count="attempts"``) counts every attempt either way.
    step_within
        Optional per-step windows (time from the previous step), one per step; the first is None.
    by, by_step, top
        Breakdown column or JSON property, the step whose value is used (``"first"``, ``"last"`` or
        a 1-based step number) and how many values to keep (the rest become ``"(other)"``).
    since, until
        Only events with ``since <= ts < until`` (naive UTC).

    Examples
    --------
    >>> FunnelSpec(steps=["landing", "signup"], within="7d").window
    604800
    """

    steps: Sequence[str]
    within: str = "14d"
    order: Literal["ordered", "strict", "any"] = "ordered"
    exclude: Sequence[str] = ()
    exclusion: Literal["drop", "restart"] = "drop"
    count: Literal["people", "attempts", "sessions"] = "people"
    entry: Literal["first", "best"] = "first"
    step_within: Sequence[str | None] | None = None
    by: str | None = None
    by_step: Literal["first", "last"] | int = "first"
    top: int = 10
    since: datetime | None = None
    until: datetime | None = None
    parsed_steps: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    parsed_exclude: tuple[Step, ...] = field(init=False, repr=False, compare=False)
    window: int = field(init=False, repr=False, compare=False)
    step_windows: tuple[int | None, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", naive_utc_or_none(self.since, "since"))
        object.__setattr__(self, "until", naive_utc_or_none(self.until, "until"))
        if isinstance(self.steps, str) or not self.steps:
            raise SpecError(f"A funnel needs a list of steps, got {self.steps!r}.")
        object.__setattr__(self, "steps", tuple(self.steps))
        exclude = (self.exclude,) if isinstance(self.exclude, str) else tuple(self.exclude)
        object.__setattr__(self, "exclude", exclude)
        object.__setattr__(self, "parsed_steps", _parse_all(self.steps, "Step"))
        object.__setattr__(self, "parsed_exclude", _parse_all(self.exclude, "Exclusion"))
        object.__setattr__(self, "window", parse_duration(self.within, "within"))
        check_choice("order", self.order, ORDERS)
        check_choice("exclusion", self.exclusion, EXCLUSIONS)
        check_choice("count", self.count, COUNTS)
        check_choice("entry", self.entry, ENTRIES)
        self._check_exclusions()
        object.__setattr__(self, "step_windows", self._step_windows())
        self._check_breakdown()
        if self.since and self.until and self.since >= self.until:
            raise SpecError(f"since {self.since} must be before until {self.until}.")

    def _check_exclusions(self) -> None:
        for text in self.exclude:
            if text.strip() in {s.strip() for s in self.steps}:
                raise SpecError(f"Exclusion {text!r} is also a step of the funnel; remove one.")

    def _step_windows(self) -> tuple[int | None, ...]:
        if self.step_within is None:
            return (None,) * len(self.steps)
        if self.order == "any":
            raise SpecError("step_within needs order 'ordered' or 'strict', not 'any'.")
        windows = tuple(self.step_within)
        if len(windows) == len(self.steps) - 1:  # one per step after the first
            windows = (None, *windows)
        if len(windows) != len(self.steps):
            raise SpecError(
                f"step_within has {len(windows)} entries for {len(self.steps)} steps; give one "
                "per step after the first, or one per step starting with None (on the command "
                "line, '-' where there is no limit)."
            )
        if windows[0] is not None:
            raise SpecError(
                f"step_within has a window for step 1 ({windows[0]!r}), which has no step before "
                f"it: give one per step after the first ({len(self.steps) - 1} here), or start "
                "with None (on the command line, '-')."
            )
        return tuple(None if w is None else parse_duration(w, "step_within") for w in windows)

    def _check_breakdown(self) -> None:
        if self.by is not None and not isinstance(self.by, str):
            raise SpecError(f"A funnel breaks down by one key (by='device'), not {self.by!r}.")
        if self.by is not None:
            check_key(self.by, "breakdown")
        if isinstance(self.by_step, bool) or not (
            self.by_step in ("first", "last")
            or (isinstance(self.by_step, int) and 1 <= self.by_step <= len(self.steps))
        ):
            raise SpecError(
                f"Invalid by_step {self.by_step!r}: use 'first', 'last' or a step number from 1 "
                f"to {len(self.steps)}."
            )
        if isinstance(self.top, bool) or not isinstance(self.top, int) or self.top < 1:
            raise SpecError(f"Invalid top {self.top!r}: use a whole number of at least 1.")

    @property
    def unit_columns(self) -> list[str]:
        return ["person_id", "session_id"] if self.count == "sessions" else ["person_id"]

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready data (the ``spec`` member of :meth:`FunnelResult.to_dict`)."""
        return json_ready(
            {
                "steps": list(self.steps),
                "within": self.within,
                "order": self.order,
                "exclude": list(self.exclude),
                "exclusion": self.exclusion,
                "count": self.count,
                "entry": self.entry,
                "step_within": None if self.step_within is None else list(self.step_within),
                "by": self.by,
                "by_step": self.by_step,
                "top": self.top,
                "since": self.since,
                "until": self.until,
            }
        )


# --- the engine expression -----------------------------------------------------------------------


def _any_of(predicates: Sequence[ir.BooleanValue]) -> ir.BooleanValue:
    result: ir.BooleanValue = ibis.literal(False)
    for predicate in predicates:
        result = result | predicate
    return result


def _keys(table: ir.Table, spec: FunnelSpec) -> list[str]:
    """The columns that tell units apart inside the expression.

    Where the step rows carry the stored integer ``person_key`` (see :func:`_rows`), it stands
    in for ``person_id`` (windows and joins then hash and sort integers, not text);
    ``person_id`` rides along.
    """
    person = "person_key" if "person_key" in table.columns else "person_id"
    return [person, "session_id"] if spec.count == "sessions" else [person]


def _carried(table: ir.Table, spec: FunnelSpec) -> list[str]:
    """The unit columns that ride along beside the keys (``person_id`` when keyed, unless
    :func:`_rows` left it out)."""
    return [c for c in spec.unit_columns if c not in _keys(table, spec) and c in table.columns]


def _count_bits(events: ir.Table, rows: ir.Table, spec: FunnelSpec) -> int:
    """Bits enough for any count of a unit's step rows: from the longest stored sequence where
    the rows are keyed (one small query), else from the number of events."""
    if not _roles(spec):
        return 1
    bound = events.person_seq.max() if "person_key" in rows.columns else events.count()
    return max(int(bound.execute() or 0).bit_length(), 1)


def _numbered(table: ir.Table, keys: list[str]) -> ir.IntegerValue:
    return ibis.row_number().over(group_by=keys, order_by=event_order(table))


def _rows(events: ir.Table, spec: FunnelSpec, ids: bool = True) -> ir.Table:
    """Events matching a step or an exclusion, flagged, with their position in the unit.

    The position is the stored ``person_seq`` where the events carry it (gaps do not matter to
    ordered and any-order funnels); strict funnels number the given events, since the next
    event must be the next step among them. ``ids=False``: where the integer key tells people
    apart, ``person_id`` does not ride along (counting needs no names, and text is dear to
    carry through sorts).
    """
    t, keys = unit_events(events, spec)
    carried = _carried(t, spec) if ids else []
    strict = spec.order == "strict"  # strict needs positions among all events
    matched = [*spec.parsed_steps, *spec.parsed_exclude]
    coarse = None if strict else any_step_predicate(matched, t)
    if coarse is not None:  # the step events alone, before anything is computed
        t = t.filter(coarse)
    exact = coarse is not None and not any(step.filters for step in matched)
    flags = {f"m{k}": step_predicate(s, t) for k, s in enumerate(spec.parsed_steps)}
    # The exclusion flag and the breakdown value only where asked for: every column rides
    # through the sort of the running counts (constant ones too, about 5% of a funnel's time).
    if spec.parsed_exclude:
        flags["x"] = _any_of([step_predicate(s, t) for s in spec.parsed_exclude])
    value = {"bv": key_text(t, spec.by)} if spec.by else {}
    sec = epoch_seconds(t.ts)
    ordered = [c for c in sequence_columns(t) if c not in keys]
    t = t.select(*keys, *ordered, sec=sec, **value, **flags)
    if strict:
        t = t.mutate(pos=_numbered(t, keys))
    if not exact:
        t = t.filter(_any_of([t[name] for name in flags]))
    if not strict:
        t = t.mutate(pos=t.person_seq if "person_seq" in t.columns else _numbered(t, keys))
    return t.select(*keys, *carried, "pos", "sec", *value, *flags)


def unit_events(events: ir.Table, spec: FunnelSpec) -> tuple[ir.Table, list[str]]:
    """The events of known units within ``since``/``until``, and the unit's key columns."""
    if not has_sequence_keys(events):
        events = events.drop(*[c for c in ("person_key", "person_seq") if c in events.columns])
    keys = _keys(events, spec)
    # Every event of a known person carries the key where the keys are kept: the same rows.
    return in_range(
        events.filter(*[events[k].notnull() for k in keys]), spec.since, spec.until
    ), keys


def _breakdown_value(rows: ir.Table) -> ir.StringValue:
    """The rows' breakdown value (:func:`_rows` keeps one only for a breakdown), else null."""
    return rows.bv if "bv" in rows.columns else ibis.null("string")


def _first_entry_only(spec: FunnelSpec, every: str | None = None) -> bool:
    """Whether only a unit's first step-1 event can start its counted attempt (see
    ``FunnelSpec.entry``; a trend counts a unit in each period it entered): then no other
    entry needs a chain."""
    restart = spec.exclusion == "restart" and bool(spec.parsed_exclude)
    return spec.entry == "first" and spec.count != "attempts" and not restart and every is None


def _roles(spec: FunnelSpec, first_only: bool = False) -> list[str]:
    """The flags whose events a chain looks up by their number: the later steps, the exclusion;
    and step 1 with ``first_only`` (a unit's first step-1 row is the one numbered 1)."""
    later = [f"m{k}" for k in range(1, len(spec.steps))] + (["x"] if spec.parsed_exclude else [])
    return (["m0"] if first_only and later else []) + later


def _count_layouts(roles: Sequence[str], bits: int) -> list[Layout]:
    """The roles' running counts, ``bits`` each, as few 64-bit sums as hold them."""
    per_sum = max(63 // bits, 1)
    return [
        tuple((role, bits) for role in roles[i : i + per_sum])
        for i in range(0, len(roles), per_sum)
    ]


def _with_counts(
    rows: ir.Table, spec: FunnelSpec, bits: int, roles: Sequence[str]
) -> tuple[ir.Table, dict[str, Any]]:
    """The step rows with, per role (see :func:`_roles`), the number of the unit's rows of that
    role up to and including this one; and per role the expression reading it.

    The next row of a role after a row is then the one whose own number is one more: a join
    on ``(unit, number)``. The counts are running sums packed side by side (:mod:`.packing`),
    so a 12-step funnel sorts its rows once and sums two integers, where a "next row of each
    step" window took an aggregate per step (on 10M events, over twice as long).
    """
    layouts = _count_layouts(roles, bits)
    running = ibis.window(group_by=_keys(rows, spec), order_by=rows.pos, rows=(None, 0))
    sums = {
        f"_c{i}": pack(layout, **{role: rows[role].cast("int64") for role, _ in layout})
        .sum()
        .over(running)
        for i, layout in enumerate(layouts)
    }
    counted = rows.mutate(**sums)
    count = {
        role: unpack(counted[f"_c{i}"], layout, role)
        for i, layout in enumerate(layouts)
        for role, _ in layout
    }
    return counted, count


def _hop(
    chains: ir.Table,
    counted: ir.Table,
    spec: FunnelSpec,
    role: str,
    wanted: str,
    number: ir.IntegerValue,
    named: dict[str, ir.Value],
) -> ir.Table:
    """Join to each chain the row of ``role`` whose ``number`` is in ``wanted``, adding
    ``named`` (expressions over ``counted``)."""
    keys = _keys(counted, spec)
    rows = counted.filter(counted[role])
    look = rows.select(
        **{f"l_{c}": rows[c] for c in keys},
        l_number=number,
        **{f"l_{name}": value for name, value in named.items()},
    )
    look = look.view()  # keeps Ibis from reading the left keys through the nullable right side
    on = [chains[c] == look[f"l_{c}"] for c in keys] + [chains[wanted] == look.l_number]
    joined = chains.left_join(look, on)
    return joined.select(
        *[chains[c] for c in chains.columns], **{name: look[f"l_{name}"] for name in named}
    )


def _chains(rows: ir.Table, spec: FunnelSpec, bits: int, first_only: bool) -> ir.Table:
    """Each entry (a step-1 row; a unit's first alone where only it can count) with, per later
    step, the position ``g{k}`` and time ``t{k}`` of its step-``k`` event, and ``nx``/``nx_sec``,
    the position and time of the next exclusion event after it.

    ``ordered``: step ``k`` is the first step-``k`` event after the step ``k - 1`` event, so the
    chain hops from step to step, one equi-join each on ``(unit, number)``. ``any``: step ``k``
    is the first step-``k`` event after the entry.
    """
    n = len(spec.steps)
    units = [*_keys(rows, spec), *_carried(rows, spec)]
    # A one-step funnel without exclusions looks nothing up: no counts, no window.
    roles = _roles(spec, first_only)
    counted, count = _with_counts(rows, spec, bits, roles) if roles else (rows, {})
    first = counted.filter(counted.m0)
    if "m0" in count:
        first = first.filter(count["m0"] == 1)
    # The numbers wanted next: one more than the rows of that role so far.
    wants = {f"_w{k}": count[f"m{k}"] + 1 for k in range(1, n) if k == 1 or spec.order == "any"}
    if spec.parsed_exclude:
        wants["_wx"] = count["x"] + 1
    chains = first.select(*units, e=first.pos, e_sec=first.sec, bv=_breakdown_value(first), **wants)
    if spec.parsed_exclude:
        named_x = {"nx": counted.pos, "nx_sec": counted.sec}
        chains = _hop(chains, counted, spec, "x", "_wx", count["x"], named_x)
    else:
        chains = chains.mutate(nx=ibis.null("int64"), nx_sec=ibis.null("int64"))
    for k in range(1, n):
        named = {f"g{k}": counted.pos, f"t{k}": counted.sec}
        if spec.order == "ordered" and k + 1 < n:
            named[f"_w{k + 1}"] = count[f"m{k + 1}"] + 1
        chains = _hop(chains, counted, spec, f"m{k}", f"_w{k}", count[f"m{k}"], named)
    return chains.drop(*[c for c in chains.columns if c.startswith("_w")])


def _chains_strict(rows: ir.Table, spec: FunnelSpec) -> ir.Table:
    keys, carried, n = _keys(rows, spec), _carried(rows, spec), len(spec.steps)
    roles = [
        rows.filter(rows[f"m{k}"]).select(
            *keys,
            *carried,
            "pos",
            "sec",
            bv=_breakdown_value(rows),
            k=ibis.literal(k, "int64"),
            diag=rows.pos - k,
        )
        for k in range(n)
    ]
    r = ibis.union(*roles) if n > 1 else roles[0]
    is_entry = r.k == 0
    aggs: dict[str, ir.Value] = {c: r[c].max() for c in carried}
    aggs |= {
        "e": r.pos.max(where=is_entry),
        "e_sec": r.sec.max(where=is_entry),
        "bv": r.bv.max(where=is_entry),
    }
    for k in range(1, n):
        aggs[f"g{k}"] = r.pos.max(where=r.k == k)
        aggs[f"t{k}"] = r.sec.max(where=r.k == k)
    grouped = r.group_by([*keys, "diag"]).aggregate(**aggs)
    grouped = grouped.filter(grouped.e.notnull()).drop("diag")
    # Consecutive steps leave no room to exclude.
    return grouped.mutate(nx=ibis.null("int64"), nx_sec=ibis.null("int64"))


def _times(a: ir.Table, spec: FunnelSpec) -> list[ir.IntegerValue]:
    times: list[ir.IntegerValue] = [a.e_sec]
    for k in range(1, len(spec.steps)):
        t = a[f"t{k}"]
        times.append(ibis.greatest(times[-1], t) if spec.order == "any" else t)
    return times


def _evaluate(a: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Each attempt's reach, step times, last position and exclusion flag."""
    n = len(spec.steps)
    times = _times(a, spec)
    fails = []
    for k in range(1, n):
        ok = a[f"g{k}"].notnull() & (a[f"t{k}"] - a.e_sec <= spec.window)
        limit = spec.step_windows[k]
        if limit is not None:
            ok &= times[k] - times[k - 1] <= limit
        if spec.exclusion == "restart":
            # An exclusion strictly before the step's event ends the attempt; the step's own
            # event may be one (an exclusion that also passes the step's filter).
            ok &= a.nx.isnull() | (a[f"g{k}"] <= a.nx)
        fails.append((~ok.fill_null(False), k))
    reach = ibis.cases(*fails, else_=n) if fails else ibis.literal(n)
    # The reach first, as a column of its own: the expressions below read it many times, and
    # written into each of them the query grew with the square of the steps (41 KB of SQL at 12).
    a = a.mutate(reach=reach.cast("int64"))
    times = _times(a, spec)
    positions: list[ir.IntegerValue] = [a.e]
    for k in range(1, n):
        g = a[f"g{k}"]
        positions.append(ibis.greatest(positions[-1], g) if spec.order == "any" else g)
    last = ibis.cases(*[(a.reach == k + 1, p) for k, p in enumerate(positions)], else_=a.e)
    cols = {f"t{k}": ibis.ifelse(a.reach > k, times[k], ibis.null()) for k in range(n)}
    out = a.mutate(last=last).mutate(
        excluded=(a.nx.notnull() & (a.nx < ibis._.last))
        if spec.exclusion == "drop"
        else ibis.literal(False),
        cut=_cut(a, spec, times),
    )
    return out.select(
        *_keys(a, spec),
        *_carried(a, spec),
        "e",
        "bv",
        "reach",
        "last",
        "excluded",
        "cut",
        "nx",
        "nx_sec",
        *[a[f"g{k}"] for k in range(1, n)],
        **cols,
    )


def _cut(a: ir.Table, spec: FunnelSpec, times: Sequence[ir.IntegerValue]) -> ir.BooleanValue:
    """Whether an exclusion ended the attempt (``restart`` only): it stopped at a step whose
    event, if any, comes after the attempt's next exclusion, and that exclusion came while the
    step could still be reached (within the window, and the step's own window)."""
    if spec.exclusion != "restart":
        return ibis.literal(False)
    in_window = a.nx_sec - a.e_sec <= spec.window
    cuts = []
    for k in range(1, len(spec.steps)):
        open_ = in_window
        limit = spec.step_windows[k]
        if limit is not None:
            open_ &= a.nx_sec - times[k - 1] <= limit
        cuts.append((a.reach == k) & open_ & (a[f"g{k}"].isnull() | (a[f"g{k}"] > a.nx)))
    return a.nx.notnull() & _any_of(cuts).fill_null(False)


# Attempts rank by one integer, since positions stay far below 2**32: by reach, then by entry
# (``best``); or first those no exclusion ended, then by entry (``first``).
_REACH_RANK = 2**32


def _rank(evaluated: ir.Table, spec: FunnelSpec) -> ir.IntegerValue:
    if spec.entry == "best":
        return evaluated.reach * _REACH_RANK - evaluated.e
    return ibis.ifelse(evaluated.cut, 0, _REACH_RANK) - evaluated.e


def _chosen(evaluated: ir.Table, spec: FunnelSpec, within: Sequence[str] = ()) -> ir.Table:
    """Each unit's counted attempt (see :class:`FunnelSpec`'s ``entry``); per value of the
    ``within`` columns too (a trend's period of entry).

    One aggregate and a semi-join on integers rather than a ranking window over the attempts.
    """
    keys = [*_keys(evaluated, spec), *within]
    ranked = evaluated.mutate(rank_=_rank(evaluated, spec))
    best = ranked.group_by(keys).aggregate(best_=ranked.rank_.max()).view()
    on = [ranked[k] == best[k] for k in keys] + [ranked.rank_ == best.best_]
    return ranked.semi_join(best, on).drop("rank_")


def _counted(evaluated: ir.Table, spec: FunnelSpec, within: Sequence[str] = ()) -> ir.Table:
    if spec.count == "attempts":
        chosen = _attempt_sequence(evaluated, spec)
    else:
        chosen = _chosen(evaluated, spec, within)
    return chosen.filter(~chosen.excluded)


def _next_attempts(evaluated: ir.Table, spec: FunnelSpec) -> ir.Table:
    """For each attempt, the entry that opens the next one (null when none).

    Probe rows sort where the attempt closes — just after its last step when it completed, just
    after the exclusion that ended it (``restart``), just after ``entry + within`` otherwise —
    among the entry rows; the next entry is the first entry row following the probe.
    """
    keys, n, a = _keys(evaluated, spec), len(spec.steps), evaluated
    done, cut = a.reach == n, a.cut  # a cut attempt never completed
    zero = ibis.literal(0, "int64")
    entries = a.select(
        *keys, o_sec=a.t0.cast("int64"), o_tie=zero, o_pos=a.e * 2, src=a.e, is_entry=True
    )
    closes = ibis.cases((done, a[f"t{n - 1}"]), (cut, a.nx_sec), else_=a.t0 + spec.window)
    probes = a.select(
        *keys,
        o_sec=closes.cast("int64"),
        o_tie=ibis.ifelse(done | cut, 0, 1).cast("int64"),
        o_pos=ibis.cases((done, a["last"] * 2 + 1), (cut, a.nx * 2 + 1), else_=0).cast("int64"),
        src=a.e,
        is_entry=False,
    )
    both = ibis.union(entries, probes)
    order = [both.o_sec, both.o_tie, both.o_pos]
    after = ibis.window(group_by=keys, order_by=order, rows=(1, None))
    nxt = ibis.ifelse(both.is_entry, both.src, ibis.null()).min().over(after)
    hops = both.mutate(dst=nxt)
    return hops.filter(~hops.is_entry & hops.dst.notnull()).select(*keys, "src", "dst")


# Rounds of the attempts' walk between two tables computed (a plan at most 2**4 times a round).
WALK_ROUNDS = 4


def _attempt_sequence(evaluated: ir.Table, spec: FunnelSpec) -> ir.Table:
    """The attempts Mixpanel-style totals count: from the first entry, each next one in turn.

    Following the chain of next attempts is a pointer walk; it is done by doubling (the set of
    attempts reached in fewer than 2**i hops, with the 2**i-hop pointers), so the expression has
    log2(max entries per unit) rounds. That bound is read with one small query first.
    """
    keys = _keys(evaluated, spec)
    evaluated = read_once(evaluated)
    most = evaluated.group_by(keys).aggregate(n=evaluated.count()).n.max().execute()
    rounds = max(1, math.ceil(math.log2(max(int(most or 1), 1) + 1)))
    # Each round reads the last round's pointers and set twice: on Spark they are computed once
    # (see ``read_once``), or the plan would double every round.
    hops = read_once(_next_attempts(evaluated, spec))
    reached = read_once(evaluated.group_by(keys).aggregate(node=evaluated.e.min()))
    for i in range(rounds):
        # Every few rounds the walk so far is computed into a table on every engine: each
        # round reads the last twice, so its plan would double every round (see ``read_once``).
        now = i % WALK_ROUNDS == WALK_ROUNDS - 1
        jump = hops.view()
        on = [reached[k] == jump[k] for k in keys] + [reached.node == jump.src]
        step = reached.join(jump, on).select(*[reached[k] for k in keys], node=jump.dst)
        reached = read_once(ibis.union(reached, step, distinct=True), now)
        if i < rounds - 1:
            second = hops.view()
            on = [hops[k] == second[k] for k in keys] + [hops.dst == second.src]
            joined = hops.join(second, on)
            hops = read_once(
                joined.select(*[hops[k] for k in keys], src=hops.src, dst=second.dst), now
            )
    on = [evaluated[k] == reached[k] for k in keys] + [evaluated.e == reached.node]
    return evaluated.semi_join(reached, on)


def _segment(counted: ir.Table, rows: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Attach the breakdown value of the chosen step, top values kept, the rest "(other)"."""
    keys = _keys(counted, spec)
    if spec.by is None:
        return counted.mutate(segment=ibis.null("string"))
    if spec.by_step == "first":
        valued = counted.mutate(value=counted.bv)
    else:
        at = (
            _last_step_position(counted, len(spec.steps))
            if spec.by_step == "last"
            else _step_position(counted, spec.by_step)
        )
        look = rows.select(**{f"v_{k}": rows[k] for k in keys}, v_pos=rows.pos, v_bv=rows.bv)
        look = look.view()
        on = [counted[k] == look[f"v_{k}"] for k in keys] + [at == look.v_pos]
        joined = counted.left_join(look, on)
        valued = joined.select(*[counted[c] for c in counted.columns], value=look.v_bv)
    valued = valued.mutate(value=valued.value.fill_null(NONE_LABEL))
    return with_top_values(valued, spec.top).select(*counted.columns, SEGMENT)


def _last_step_position(counted: ir.Table, steps: int) -> ir.IntegerValue:
    """The position of the event that filled the last step reached (in ``any`` order not always
    the latest of the attempt's events: step 3 may be filled before step 2)."""
    return ibis.coalesce(*(_step_position(counted, k) for k in range(steps, 0, -1)))


def _step_position(counted: ir.Table, step: int) -> ir.IntegerValue:
    position = counted.e if step == 1 else counted[f"g{step - 1}"]
    return ibis.ifelse(counted.reach >= step, position, ibis.null())


def period_start(seconds: ir.IntegerValue, every: str) -> ir.IntegerValue:
    """Epoch seconds of the start of the UTC day or Monday week holding ``seconds``."""
    size, shift = PERIODS[every], (_WEEK_SHIFT if every == "week" else 0)
    shifted = seconds + shift
    return shifted - shifted % size - shift


def build_funnel_people(
    events: ir.Table, spec: FunnelSpec, ids: bool = True, every: str | None = None
) -> ir.Table:
    """One row per counted unit: the steps it reached and when (an expression, not executed).

    Columns: the unit columns (``person_id``, plus ``session_id`` for sessions, plus ``attempt``
    — the entry's position — for attempts), ``reach`` (steps reached), ``t0`` … ``t{n-1}`` (epoch
    seconds of reaching each step, null past ``reach``) and ``segment`` (the breakdown value or
    ``"(other)"``; null without ``by``). ``ids=False``: the unit is told by its key, which may be
    the integer ``person_key`` instead of ``person_id`` (for counting). ``every`` (``day`` or
    ``week``): one row per unit and ``period`` (epoch seconds of its start) in which the unit
    entered, with its counted attempt among those entering then.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({"ann": [("a", "2026-01-01"), ("b", "+1h")]}))
    >>> build_funnel_people(events, FunnelSpec(steps=["a", "b"])).execute()["reach"].tolist()
    [2]
    """
    rows = _rows(events, spec, ids)
    if spec.order == "strict":
        chains = _chains_strict(rows, spec)
    else:
        first_only = _first_entry_only(spec, every)
        chains = _chains(rows, spec, _count_bits(events, rows, spec), first_only)
    evaluated = _evaluate(chains, spec)
    within = []
    if every is not None:
        evaluated = evaluated.mutate(period=period_start(evaluated.t0, every))
        within = ["period"]
    counted = _segment(_counted(evaluated, spec, within), rows, spec)
    times = [f"t{k}" for k in range(len(spec.steps))]
    extra = ["e"] if spec.count == "attempts" else []
    units = [*spec.unit_columns] if ids else _keys(counted, spec)
    out = counted.select(*units, *extra, *within, "reach", *times, "segment")
    return out.rename({"attempt": "e"}) if extra else out


def _step_stats(people: ir.Table, spec: FunnelSpec) -> ir.Table:
    """One row per unit and step it reached: ``segment`` (null for the whole funnel; with a
    breakdown each unit also counts in its own segment), ``step``, and seconds from the previous
    step and from step 1.

    The units are read once: each is repeated for its (segment, step) pairs by unnesting a list
    of codes, code ``c`` being step ``c % n`` of the whole funnel (``c < n``) or of the segment.
    """
    n = len(spec.steps)
    codes = list(range(2 * n if spec.by else n))
    each = people.mutate(code=ibis.literal(codes, "array<int64>").unnest())
    k = each.code % n
    each = each.filter(each.reach > k)
    k = each.code % n
    at = ibis.cases(*[(k == j, each[f"t{j}"]) for j in range(n)])
    previous = ibis.cases(*[(k == j, each[f"t{max(j - 1, 0)}"]) for j in range(n)])
    return each.select(
        segment=ibis.ifelse(each.code < n, ibis.null("string"), each.segment),
        step=k + 1,
        from_previous=(at - previous).cast("float64"),
        from_start=(at - each.t0).cast("float64"),
    )


def build_funnel(events: ir.Table, spec: FunnelSpec) -> ir.Table:
    """The funnel as one engine expression: people and timing per step (and breakdown value).

    Rows have ``segment`` (null for the whole funnel, else a breakdown value), ``step``
    (1-based), ``people`` (units reaching the step), ``median_seconds_to_convert`` (from the
    previous step) and ``p25``/``p50``/``p75``/``p90`` seconds from step 1.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({"ann": [("a", "2026-01-01"), ("b", "+1h")]}))
    >>> build_funnel(events, FunnelSpec(steps=["a", "b"])).execute()["people"].tolist()
    [1, 1]
    """
    people = build_funnel_people(events, spec, ids=False)
    both = _step_stats(people, spec)
    aggs: dict[str, ir.Value] = {
        "people": both.count(),
        "median_seconds_to_convert": both.from_previous.median(),
    }
    # The four quantiles in one aggregate (an array), which sorts the values once, not four times.
    aggs["_quantiles"] = both.from_start.quantile(list(QUANTILES.values()))
    grouped = both.group_by(["segment", "step"]).aggregate(**aggs)
    spread = {name: grouped._quantiles[i] for i, name in enumerate(QUANTILES)}
    out = grouped.mutate(**spread).drop("_quantiles")
    return out.order_by(["segment", "step"])


# --- results -------------------------------------------------------------------------------------


def _step_frame(by_step: dict[int, dict[Any, Any]], spec: FunnelSpec) -> pd.DataFrame:
    """Complete per-step rows for one segment from its engine rows by step number (steps nobody
    reached get 0 people)."""
    records, start, previous = [], 0, 0
    for number, label in enumerate(spec.steps, start=1):
        hit = number in by_step
        people = int(by_step[number]["people"]) if hit else 0
        start = people if number == 1 else start
        low, high = wilson(people, start)
        record: dict[str, Any] = {
            "step": label,
            "step_number": number,
            "people": people,
            "conversion_from_start": ratio(people, start),
            "conversion_from_previous": ratio(people, previous) if number > 1 else ratio(1, 1),
            "dropped": previous - people if number > 1 else 0,
            "median_seconds_to_convert": by_step[number]["median_seconds_to_convert"]
            if hit and number > 1
            else None,
        }
        for name in QUANTILES:
            record[f"{name}_seconds_from_start"] = by_step[number][name] if hit else None
        # The documented order: the time quantiles, then the interval.
        record["ci_low"], record["ci_high"] = low, high
        records.append(record)
        previous = people
    frame = pd.DataFrame.from_records(records)
    if start == 0:
        frame["conversion_from_previous"] = None
    # Seconds are numbers even where no step has any (NaN, not None): segments' frames then
    # stack with one type per column.
    seconds = [c for c in frame.columns if "_seconds_" in c]
    return frame.astype(dict.fromkeys(seconds, "float64"))


@dataclass
class FunnelResult(Result):
    """Per-step counts, conversion and timing, overall and per breakdown value.

    ``to_dict()`` is ``{"steps": [...], "breakdown": [...], "spec": {...}}``; each step record has
    ``step`` (the label), ``step_number``, ``people`` (units of ``spec.count``),
    ``conversion_from_start``, ``conversion_from_previous``, ``dropped``,
    ``median_seconds_to_convert``, ``p25``/``p50``/``p75``/``p90_seconds_from_start``, ``ci_low``
    and ``ci_high`` (Wilson 95% of ``conversion_from_start``). ``breakdown`` is present when
    ``spec.by`` is set: one record per value with ``value``, ``entrants``, ``conversions``,
    ``conversion``, ``rest_conversion``, ``z``, ``p_value``, ``significant`` (p < 0.05) and its
    ``steps``.
    """

    spec: FunnelSpec
    steps: pd.DataFrame
    breakdown: dict[str, pd.DataFrame] = field(default_factory=dict)
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        """The overall steps, one row per step."""
        return self.steps

    def display_frame(self) -> pd.DataFrame:
        """The columns a person reads first, for terminal tables."""
        keep = [
            "step",
            "people",
            "conversion_from_start",
            "conversion_from_previous",
            "dropped",
            "median_seconds_to_convert",
            "p90_seconds_from_start",
        ]
        return self.steps[[c for c in keep if c in self.steps.columns]]

    def breakdown_frame(self) -> pd.DataFrame:
        """Steps per breakdown value (column ``value`` first), empty without a breakdown."""
        parts = [frame.assign(value=value) for value, frame in self.breakdown.items()]
        if not parts:
            return pd.DataFrame()
        frame = pd.concat(parts, ignore_index=True)
        return frame[["value", *[c for c in frame.columns if c != "value"]]]

    def significance(self) -> pd.DataFrame:
        """Each breakdown value's overall conversion against all other values (z-test)."""
        total = self.steps["people"].iloc[0], self.steps["people"].iloc[-1]
        rows = []
        for value, frame in self.breakdown.items():
            n1, x1 = int(frame["people"].iloc[0]), int(frame["people"].iloc[-1])
            n2, x2 = int(total[0]) - n1, int(total[1]) - x1
            z, p = two_proportion_test(x1, n1, x2, n2)
            rows.append(
                {
                    "value": value,
                    "entrants": n1,
                    "conversions": x1,
                    "conversion": ratio(x1, n1),
                    "rest_conversion": ratio(x2, n2),
                    "z": z,
                    "p_value": p,
                    "significant": p is not None and p < 0.05,
                }
            )
        return pd.DataFrame.from_records(rows)

    def breakdown_display(self) -> pd.DataFrame:
        """For terminal tables: one row per breakdown value, its people at each step (columns
        ``1. <step>``, ``2. <step>``, ...), then its conversion against the rest's and the test."""
        tests = self.significance()
        if tests.empty:
            return tests
        labels = [f"{n}. {label}" for n, label in enumerate(self.spec.steps, start=1)]
        people = [list(self.breakdown[value]["people"]) for value in tests["value"]]
        steps = pd.DataFrame(people, columns=labels, index=tests.index)
        keep = ["conversion", "rest_conversion", "p_value", "significant"]
        return pd.concat([tests[["value"]], steps, tests[keep]], axis=1)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (see the class docstring)."""
        out: dict[str, Any] = {"steps": frame_records(self.steps)}
        if self.spec.by is not None:
            tests = frame_records(self.significance()) if self.breakdown else []
            for record in tests:
                record["steps"] = frame_records(self.breakdown[record["value"]])
            out["breakdown"] = tests
        out["spec"] = self.spec.to_dict()
        return out

    def figure(self) -> Any:
        """A Plotly funnel: one trace overall, or one per breakdown value."""
        import plotly.graph_objects as go

        series = self.breakdown or {"all": self.steps}
        fig = go.Figure()
        for name, frame in series.items():
            fig.add_trace(
                go.Funnel(
                    name=plot_label(name),
                    y=plot_labels(frame["step"]),
                    x=list(frame["people"]),
                    textinfo="value+percent initial",
                )
            )
        fig.update_layout(title="Funnel", legend_title=plot_label(self.spec.by or ""))
        return fig


def run_funnel(events: ir.Table, spec: FunnelSpec) -> FunnelResult:
    """Compute a funnel: execute :func:`build_funnel` once and shape the small result.

    Parameters
    ----------
    events
        An events table in the canonical schema (any Ibis backend).
    spec
        The funnel to compute.

    Returns
    -------
    FunnelResult
        Steps overall and per breakdown value, with the SQL that ran.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("landing", "2026-01-01 10:00"), ("signup", "+1h")],
    ...     "bob": [("landing", "2026-01-01 11:00")],
    ... }))
    >>> result = run_funnel(events, FunnelSpec(steps=["landing", "signup"]))
    >>> [s["people"] for s in result.to_dict()["steps"]]
    [2, 1]
    """
    expr = build_funnel(events, spec)
    raw = expr.execute()
    # Every row by its segment (None: everyone) and step, in one pass: a breakdown may have
    # thousands of values.
    rows: dict[Any, dict[int, dict[Any, Any]]] = defaultdict(dict)
    for row in raw.to_dict(orient="records"):
        segment = None if pd.isna(row["segment"]) else row["segment"]
        rows[segment][int(row["step"])] = row
    breakdown: dict[str, pd.DataFrame] = {}
    if spec.by is not None:
        entries = raw[raw["segment"].notna() & (raw["step"] == 1)]
        order = entries.sort_values(["people", "segment"], ascending=[False, True])
        for value in order["segment"]:
            breakdown[str(value)] = _step_frame(rows[value], spec)
    return FunnelResult(spec, _step_frame(rows[None], spec), breakdown, (expr,))


def dropped_people(events: ir.Table, spec: FunnelSpec, step: int) -> ir.Table:
    """The units that reached step ``step - 1`` but not ``step`` — an audience to export.

    Parameters
    ----------
    events, spec
        As for :func:`run_funnel`.
    step
        A 1-based step number from 2 to the number of steps.

    Returns
    -------
    ibis.Table
        An expression with the unit columns (``person_id``; ``session_id`` for sessions;
        ``attempt`` for attempts) and ``segment``, ordered by the unit columns.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("landing", "2026-01-01 10:00"), ("signup", "+1h")],
    ...     "bob": [("landing", "2026-01-01 11:00")],
    ... }))
    >>> spec = FunnelSpec(steps=["landing", "signup"])
    >>> dropped_people(events, spec, 2).execute()["person_id"].tolist()
    ['bob']
    """
    if isinstance(step, bool) or not isinstance(step, int) or not 2 <= step <= len(spec.steps):
        raise SpecError(
            f"Invalid step {step!r} for dropped people: use a step number from 2 to "
            f"{len(spec.steps)} (people who reached the step before it but not it)."
        )
    people = build_funnel_people(events, spec)
    units = [c for c in people.columns if c in (*spec.unit_columns, "attempt")]
    # In the units' order, so that an export is the same on every engine and every run.
    return people.filter(people.reach == step - 1).select(*units, "segment").order_by(units)
