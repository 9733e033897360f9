"""Journeys for attribution, built in the engine: every touch with its journey, position and value.

A *journey* is a person's run of touches up to and including the time of a conversion (an event
named as a goal), starting after the person's previous conversion. Touches after a person's last
conversion form one more, non-converting journey. A touch is an event with a ``touchpoint`` that
is not itself a goal event. A touch at the same second as a conversion belongs to that conversion.
Only touches within the lookback window before the journey's end count: the conversion for a
converting journey, the last touch for a non-converting one.

Everything is window functions, one equi-join and whole-second arithmetic, so the same
expression runs on DuckDB and on Spark.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from journeylens.store.portable import epoch_seconds

LEVELS = ("touchpoint", "channel", "campaign")
NONE_LABEL = "(none)"
PERSON = "person_id"


def _key(events: ir.Table, level: str) -> ir.StringValue:
    column = events[level]
    return column if level == "touchpoint" else column.fill_null(NONE_LABEL)


def _is_direct(events: ir.Table, direct_channels: Sequence[str]) -> ir.BooleanValue:
    channel = events.channel.lower()
    named = channel.isin([c.lower() for c in direct_channels])
    unknown = events.channel.isnull() & events.source.isnull()
    return (named.fill_null(False) | unknown).cast("boolean")


def _stream(
    events: ir.Table, goals: Sequence[str], level: str, direct_channels: Sequence[str]
) -> ir.Table:
    is_goal = events.event.isin(list(goals))
    rows = events.filter(events.person_id.notnull(), is_goal | events.touchpoint.notnull())
    is_goal = rows.event.isin(list(goals))
    rows = rows.select(
        person_id=rows.person_id,
        event_id=rows.event_id,
        t=epoch_seconds(rows.ts),
        conv=is_goal.cast("int64"),
        key=_key(rows, level),
        direct=_is_direct(rows, direct_channels),
        revenue=ibis.ifelse(is_goal, rows.revenue.fill_null(0.0), 0.0).cast("float64"),
    )
    # A touch and a conversion at the same second: the touch sorts first and joins that journey.
    running = ibis.cumulative_window(group_by=PERSON, order_by=["t", "conv", "event_id"])
    return rows.mutate(journey=rows.conv.sum().over(running) - rows.conv)


def build_touches(
    events: ir.Table,
    goals: Sequence[str],
    lookback: int,
    level: str = "touchpoint",
    direct_channels: Sequence[str] = ("direct",),
) -> ir.Table:
    """Every touch of every journey, one row each.

    Columns: ``person_id``, ``journey`` (0, 1, ... per person), ``event_id``, ``t`` (epoch seconds),
    ``key`` (the touch's value at ``level``), ``direct``, ``pos`` (1-based within the journey),
    ``n`` (touches in the journey), ``dt`` (seconds before the journey's end), ``converted``
    (0/1) and ``revenue`` (the conversion's revenue, 0 when not converted).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> touches = build_touches(table, ["purchase"], 86400 * 30).execute()
    >>> touches[["key", "pos", "n"]].values.tolist()
    [['ad', 1, 1]]
    """
    stream = _stream(events, goals, level, direct_channels)
    conversions = stream.filter(stream.conv == 1).select(
        c_person=stream.person_id, c_journey=stream.journey, end_t=stream.t, c_rev=stream.revenue
    )
    raw = stream.filter(stream.conv == 0)
    raw = raw.mutate(last_t=raw.t.max().over(group_by=[PERSON, "journey"]))
    joined = raw.left_join(
        conversions,
        [raw.person_id == conversions.c_person, raw.journey == conversions.c_journey],
    )
    touches = joined.select(
        person_id=joined.person_id,
        journey=joined.journey,
        event_id=joined.event_id,
        t=joined.t,
        key=joined.key,
        direct=joined.direct,
        end_t=joined.end_t.fill_null(joined.last_t),
        converted=joined.end_t.notnull().cast("int64"),
        revenue=joined.c_rev.fill_null(0.0),
    )
    touches = touches.filter(touches.end_t - touches.t <= lookback)
    group = [PERSON, "journey"]
    ordered = ibis.window(group_by=group, order_by=["t", "event_id"])
    return touches.mutate(
        pos=(ibis.row_number().over(ordered) + 1).cast("int64"),
        n=touches.count().over(group_by=group).cast("int64"),
        dt=(touches.end_t - touches.t).cast("int64"),
    ).drop("end_t")


def build_conversions(events: ir.Table, goals: Sequence[str]) -> ir.Table:
    """One row per person: ``conversions`` and ``revenue`` of all goal events (for totals).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> int(build_conversions(table, ["purchase"]).conversions.sum().execute())
    1
    """
    goal = events.filter(events.person_id.notnull(), events.event.isin(list(goals)))
    return goal.group_by(PERSON).aggregate(
        conversions=goal.count(), revenue=goal.revenue.fill_null(0.0).sum()
    )
