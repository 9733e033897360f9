"""Journeys for attribution, built in the engine: every touch with its journey, position and value.

A *journey* is a person's run of touches up to and including the time of a conversion (an event
named as a goal), starting after the person's previous conversion. Touches after a person's last
conversion form one more, non-converting journey. A touch is an event that is not itself a goal
event and has a ``touchpoint`` or, at channel (campaign) level, a ``channel`` (``campaign``): an
ad impression that names its channel but matches no catalogued touchpoint is a channel's touch.
A touch at the same second as a conversion belongs to that conversion. Only touches within the
lookback window before the journey's end count: the conversion for a converting journey, the
last touch for a non-converting one.

The engine sorts the events once (one window pass per person); the rest is hash aggregates and
equi-joins per journey and whole-second arithmetic, so the same expression runs on DuckDB and on
Spark. The run materialises the result once and every model reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import NONE_LABEL, OTHER_LABEL, SEGMENT, with_top_values
from journeylens.analytics.packing import pack, unpack
from journeylens.analytics.sequence import has_sequence_keys, order_columns
from journeylens.journey.steps import key_text
from journeylens.store.portable import epoch_seconds, value_code

LEVELS = ("touchpoint", "channel", "campaign")
PERSON = "person"
RUNNING = (("touches", 32), ("conversions", 31))  # a person's counts so far (see ``_stream``)
# Touches may carry how many identical journeys each row stands for (path counts, see
# ``.path_counts``); every model is linear in it. Touches built from events have none (one each).
WEIGHT = "weight"
# With a breakdown key: its value on each touch, and on the journey's conversion (see ``by``).
BY_VALUE, GOAL_BY_VALUE = "by_value", "goal_by_value"


def _key(events: ir.Table, level: str) -> ir.StringValue:
    column = events[level]
    return column if level == "touchpoint" else column.fill_null(NONE_LABEL)


def key_codes(events: ir.Table, level: str = "touchpoint") -> ir.Table:
    """Every value at ``level`` of ``events`` that could be a touch's (``key``; a goal event's
    too) with its ``code`` (see :func:`build_touches`' ``coded``): the names of the coded
    touches' keys. Distinct values
    may share a code (a hash's collision): the caller checks before it codes.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> sorted(key_codes(table).execute()["key"])
    ['ad', 'purchase']
    """
    touches = events.filter(is_touch(events, level))
    key = _key(touches, level)
    return touches.select(key=key, code=value_code(key)).distinct()


@dataclass(frozen=True)
class TouchKeys:
    """What the touches' ``key`` column holds: the values themselves, or (``names`` given) the
    codes of :func:`build_touches`' ``coded``, each with its value's name."""

    names: Mapping[Any, str] | None = None

    @classmethod
    def of(cls, codes: pd.DataFrame) -> TouchKeys | None:
        """The names of :func:`key_codes`' rows; None where two values share a code."""
        if codes["code"].duplicated().any():
            return None
        return cls(dict(zip(codes["code"].tolist(), codes["key"].tolist(), strict=True)))

    def named(self, keys: pd.Series) -> pd.Series:
        """Each of ``keys``'s value by name."""
        return keys if self.names is None else keys.map(self.names)

    def keys(self, names: Sequence[str]) -> list[Any]:
        """The keys of the values ``names``, as the touches hold them."""
        if self.names is None:
            return list(names)
        code = {name: key for key, name in self.names.items()}
        return [code[name] for name in names]


def is_touch(events: ir.Table, level: str) -> ir.BooleanValue:
    """Whether an event (not a goal) is a touch at ``level`` (see the module's docstring)."""
    touched = events.touchpoint.notnull()
    return touched if level == "touchpoint" else touched | events[level].notnull()


def is_direct_channel(channel: ir.StringValue, direct_channels: Sequence[str]) -> ir.BooleanValue:
    """Whether ``channel`` names direct traffic: one of ``direct_channels`` in any case, or as
    Google Analytics writes it, "(direct)" or "(direct) / (none)" (source/medium)."""
    lower = channel.lower()
    named = lower.isin([c.lower() for c in direct_channels]) | lower.startswith("(direct)")
    return named.fill_null(False)


def _is_direct(events: ir.Table, direct_channels: Sequence[str]) -> ir.BooleanValue:
    unknown = events.channel.isnull() & events.source.isnull()
    return (is_direct_channel(events.channel, direct_channels) | unknown).cast("boolean")


def _stream(
    events: ir.Table,
    goals: Sequence[str],
    level: str,
    direct_channels: Sequence[str],
    lags: int,
    by: str | None = None,
    coded: bool = False,
) -> ir.Table:
    keyed = has_sequence_keys(events)
    # Known people: every event of one carries the integer key where ``keyed``, cheaper to read.
    known = events["person_key" if keyed else "person_id"].notnull()
    rows = events.filter(known, events.event.isin(list(goals)) | is_touch(events, level))
    is_goal = rows.event.isin(list(goals))
    # Within a second, events keep the person's sequence order (see `.sequence`); the stored
    # integer keys, where every event carries them, sort faster than the text id and time.
    tiebreak = (
        {"person_seq": rows.person_seq.cast("int32")}
        if keyed
        else {c: rows[c] for c in order_columns(rows)}
    )
    value = {BY_VALUE: key_text(rows, by).fill_null(NONE_LABEL)} if by is not None else {}
    # Narrow integers (a larger person key fails the cast loudly), and with ``coded`` the keys'
    # codes, not their text (10M events: a second less): the rows the sort carries and
    # the run keeps are about a third smaller; 10M events build their journeys an eighth faster,
    # a quarter under the store's memory limit (where the wider rows spilled).
    rows = rows.select(
        person=rows.person_key.cast("int32") if keyed else rows.person_id,
        **tiebreak,
        t=epoch_seconds(rows.ts),
        conv=is_goal.cast("int8"),
        key=value_code(_key(rows, level)) if coded else _key(rows, level),
        direct=_is_direct(rows, direct_channels),
        revenue=ibis.ifelse(is_goal, rows.revenue.fill_null(0.0), 0.0).cast("float64"),
        **value,
    )
    # The one sort of the whole pass. A touch and a conversion at the same second: the touch
    # sorts first and joins that journey. `ordinal` numbers a person's touches; the touches of a
    # journey are consecutive in it, so the lags are the journey's earlier touches wherever
    # they lie within the journey (pos > lag).
    order = ["t", "conv", *tiebreak]
    running = ibis.cumulative_window(group_by=PERSON, order_by=order)
    ordered = ibis.window(group_by=PERSON, order_by=order)
    # Conversions and touches so far, counted by one running sum of the two packed side by side.
    # Unpacked in the windows' own select (the engine computes the sum once): the rows the
    # later steps share are the unpacked counts, not the packed sum beside them.
    so_far = pack(RUNNING, conversions=rows.conv, touches=1 - rows.conv).sum().over(running)
    return rows.select(
        *(c for c in rows.columns if c not in tiebreak),
        journey=(unpack(so_far, RUNNING, "conversions") - rows.conv).cast("int32"),
        ordinal=unpack(so_far, RUNNING, "touches").cast("int32"),
        **{f"prev_{b}": rows.key.lag(b).over(ordered) for b in range(1, lags + 1)},
    )


def build_touches(
    events: ir.Table,
    goals: Sequence[str],
    lookback: int,
    level: str = "touchpoint",
    direct_channels: Sequence[str] = ("direct",),
    lags: int = 0,
    by: str | None = None,
    coded: bool = False,
) -> ir.Table:
    """Every touch of every journey, one row each.

    Columns: ``person`` (the stored integer ``person_key`` where every event carries one, else
    ``person_id``), ``journey`` (0, 1, ... per person), ``t`` (epoch seconds),
    ``key`` (the touch's value at ``level``), ``direct``, ``pos`` (1-based within the journey),
    ``n`` (touches in the journey), ``dt`` (seconds before the journey's end), ``converted``
    (0/1), ``revenue`` (the conversion's revenue, 0 when not converted), and per journey
    ``latest_dt`` (the smallest ``dt``) and ``last_non_direct_pos`` (0 when every touch is
    direct); with ``lags``, ``prev_1`` … ``prev_<lags>``: the keys 1 … ``lags`` touches earlier in
    the journey (meaningful where ``pos`` is larger than the lag); with ``by`` (a column or
    property), ``by_value`` (its value on the touch, as text, ``"(none)"`` where null) and
    ``goal_by_value`` (its value on the journey's conversion; null if it did not convert).
    With ``coded``, ``key`` and the lags are ``int64`` codes of the values (see
    :func:`key_codes` for their names), cheaper to sort, join and group than the text.

    One window pass (sorted once per person), then hash aggregates and equi-joins per journey:
    no second sort.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> touches = build_touches(table, ["purchase"], 86400 * 30).execute()
    >>> touches[["key", "pos", "n"]].values.tolist()
    [['ad', 1, 1]]
    """
    stream = _stream(events, goals, level, direct_channels, lags, by, coded)
    group = [PERSON, "journey"]
    # Seconds before the journey's end are at most the lookback.
    seconds = "int32" if lookback < 2**31 else "int64"
    # A journey holds at most one conversion (the next journey starts after it).
    goal_value = (
        {GOAL_BY_VALUE: stream[BY_VALUE].max(where=stream.conv == 1)} if by is not None else {}
    )
    touch, goal = stream.conv == 0, stream.conv == 1
    # Per journey, its end and its touches' span: the touches kept are its last ones (those
    # within the lookback of its end), consecutive ordinals up to ``last``.
    ends = stream.group_by(group).aggregate(
        goal_t=stream.t.max(where=goal),
        c_rev=stream.revenue.max(where=goal),
        last_t=stream.t.max(where=touch),
        first_t=stream.t.min(where=touch),
        first=stream.ordinal.min(where=touch),
        last=stream.ordinal.max(where=touch),
        last_non_direct=stream.ordinal.max(where=touch & ~stream.direct),
        **goal_value,
    )
    ends = ends.mutate(end_t=ends.goal_t.fill_null(ends.last_t))
    # Only the few journeys that began before the lookback lose touches: their first kept
    # one is found among their own touches (10M demo events: 2.4% of the journeys), not by a
    # second aggregate and join over every touch.
    cut = ends.filter(ends.end_t - ends.first_t > lookback).select(*group, "end_t")
    cut_touches = stream.filter(touch).inner_join(cut, group)
    kept_firsts = (
        cut_touches.filter(cut_touches.end_t - cut_touches.t <= lookback)
        .group_by(group)
        .aggregate(kept_first=cut_touches.ordinal.min())
    )
    spans = ends.left_join(kept_firsts, group)
    spans = spans.mutate(first=spans.kept_first.fill_null(spans["first"]))
    raw = stream.filter(touch).drop("conv", "revenue")
    both = raw.inner_join(spans, group)
    both = both.filter(both.end_t - both.t <= lookback)
    first, last = both["first"], both["last"]
    return both.select(
        "person",
        "journey",
        "t",
        "key",
        "direct",
        converted=both.goal_t.notnull().cast("int8"),
        revenue=both.c_rev.fill_null(0.0),
        pos=(both.ordinal - first + 1).cast("int32"),
        n=(last - first + 1).cast("int32"),
        dt=(both.end_t - both.t).cast(seconds),
        latest_dt=(both.end_t - both.last_t).cast(seconds),
        last_non_direct_pos=ibis.ifelse(
            both.last_non_direct >= first, both.last_non_direct - first + 1, 0
        ).cast("int32"),
        **{f"prev_{b}": both[f"prev_{b}"] for b in range(1, lags + 1)},
        **{c: both[c] for c in (BY_VALUE, GOAL_BY_VALUE) if by is not None},
    )


def with_journey_segments(touches: ir.Table, top: int) -> ir.Table:
    """``touches`` (built with ``by``) with each journey's ``segment`` instead of the values:
    the value on its conversion, or on its last touch when it did not convert; the ``top``
    values with the most journeys kept, the rest ``"(other)"`` (see :mod:`.breakdown`).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({
    ...     "ann": [("ad", "2026-01-01", {"device": "pc"}), ("purchase", "+1d", {"device": "ios"})],
    ...     "bob": [("ad", "2026-01-01", {"device": "pc"})]}))
    >>> touches = build_touches(table, ["purchase"], 10**7, by="device")
    >>> sorted(with_journey_segments(touches, 10).execute()["segment"])
    ['ios', 'pc']
    """
    ends = touches.filter(touches.pos == touches.n)
    units = ends.select(PERSON, "journey", value=ends[GOAL_BY_VALUE].coalesce(ends[BY_VALUE]))
    segments = with_top_values(units, top).select(PERSON, "journey", SEGMENT)
    return touches.drop(BY_VALUE, GOAL_BY_VALUE).inner_join(segments, [PERSON, "journey"])


def with_goal_values(goals: ir.Table, by: str) -> ir.Table:
    """The conversion events ``goals`` with their ``by_value`` of ``by`` (``"(none)"``)."""
    return goals.mutate(**{BY_VALUE: key_text(goals, by).fill_null(NONE_LABEL)})


def goal_segments(goals: ir.Table, touches: ir.Table) -> ir.Table:
    """The conversion events ``goals`` (with their ``by_value``) as ``revenue`` and the
    ``segment`` they count under among ``touches`` (with segments): their value where it is a
    segment, else ``"(other)"`` (a value that only conversions without a touch to credit have)."""
    kept = touches.select(kept=touches[SEGMENT]).distinct()
    joined = goals.left_join(kept, goals[BY_VALUE] == kept.kept)
    segment = ibis.ifelse(joined.kept.isnull(), ibis.literal(OTHER_LABEL), joined[BY_VALUE])
    return joined.select(revenue=joined.revenue, **{SEGMENT: segment})


def weight_of(table: ir.Table) -> dict[str, ir.IntegerValue]:
    """The ``weight`` column to carry along in a ``select``, where ``table`` has one."""
    return {WEIGHT: table.weight} if WEIGHT in table.columns else {}


def kept_weight(table: ir.Table) -> dict[str, ir.IntegerValue]:
    """The ``weight`` to keep through an aggregate per journey (the same on each of its rows),
    where ``table`` has one."""
    return {WEIGHT: table.weight.max()} if WEIGHT in table.columns else {}


def journeys_of(table: ir.Table) -> ir.IntegerValue:
    """How many journeys the rows of ``table`` stand for: their ``weight`` summed where the
    touches carry one (a path-counts row is one journey counted many times), else the rows."""
    return table.weight.sum() if WEIGHT in table.columns else table.count()


def summed(value: ir.NumericValue, table: ir.Table) -> ir.NumericValue:
    """``value`` summed over the journeys the rows of ``table`` stand for (see
    :func:`journeys_of`)."""
    return (value * table.weight).sum() if WEIGHT in table.columns else value.sum()


def goal_names(goal: str | Sequence[str]) -> tuple[str, ...]:
    """The conversion events ``goal`` names: one name, or several."""
    return (goal,) if isinstance(goal, str) else tuple(goal)


def conversion_events(events: ir.Table, goals: Sequence[str]) -> ir.Table:
    """The goal events of known people (every conversion, attributed or not).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> int(conversion_events(table, ["purchase"]).count().execute())
    1
    """
    return events.filter(events.person_id.notnull(), events.event.isin(list(goals)))
