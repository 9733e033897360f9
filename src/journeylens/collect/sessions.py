"""Sessions: a person's events split wherever they were inactive for longer than the gap.

A session starts at a person's first event and whenever more than ``gap_minutes`` passed since
their previous event (strictly more: an event exactly at the gap continues the session). The id
is ``<person_id>#<n>`` with ``n`` counting the person's sessions from 1 in time order. Gaps are
in whole seconds, each time floored to its second, which every engine computes alike.
"""

from __future__ import annotations

import ibis
from ibis import _

from journeylens.schema import SEQUENCE_ORDER
from journeylens.store.portable import epoch_seconds


def build_session_ids(
    events: ibis.Table, gap_minutes: int, people: ibis.Table | None = None
) -> ibis.Table:
    """``event_id, person_id, ts, received_at`` → the same with ``session_id``, ``person_key``
    and ``person_seq`` (see :func:`build_session_numbers`)."""
    numbered = build_session_numbers(events, gap_minutes, people)
    return numbered.mutate(session_id=session_id(_.person_id, _.session_n)).drop("session_n")


def session_id(person_id: ibis.StringValue, number: ibis.IntegerValue) -> ibis.StringValue:
    """``<person_id>#<n>``: the ``n``-th session of the person."""
    return person_id.concat("#", number.cast("string"))


def build_session_numbers(
    events: ibis.Table, gap_minutes: int, people: ibis.Table | None = None
) -> ibis.Table:
    """``event_id, person_id, ts, received_at`` → the same with ``session_n`` (the person's
    sessions numbered from 1 in time order: :func:`session_id` names them), ``person_key`` and
    ``person_seq`` (the person's events numbered from 1 in ``(ts, received_at, event_id)``
    order: events at the same time in the order they were received, a file's in its order).

    ``people`` (``person_id, person_key``) gives the people's keys; by default they are
    numbered 1, 2, ... in ``person_id`` order. Give it narrow rows: sorting three columns is
    much cheaper than sorting whole events (the rebuild stores the result and joins it back by
    ``event_id``)."""
    # ``received_at`` orders ties where the rows have it (the stored events always do).
    order = [_[c] for c in SEQUENCE_ORDER if c in events.columns]
    seconds = epoch_seconds(_.ts)
    previous = seconds.lag().over(group_by=_.person_id, order_by=order)
    starts = events.mutate(
        _session_start=ibis.ifelse(
            previous.isnull() | ((seconds - previous) > gap_minutes * 60), 1, 0
        ),
        person_seq=ibis.row_number().over(group_by=_.person_id, order_by=order) + 1,
    )
    # person_seq numbers the same order: one integer to sort on, where the order's columns
    # (a text event id among them) cost a second sort of whole keys.
    running = ibis.cumulative_window(group_by=_.person_id, order_by=_.person_seq)
    numbered = starts.mutate(session_n=_._session_start.sum().over(running))
    if people is None:
        # From the numbered rows, not ``events``: the query's shared part is then these narrow
        # rows, not the rows ``events`` was made from (wide ones, where ids were resolved).
        people = numbered.select("person_id").distinct()
        people = people.mutate(person_key=ibis.row_number().over(order_by=people.person_id) + 1)
    people = people.select(_key_person=people.person_id, person_key=people.person_key)
    numbered = numbered.join(people, numbered.person_id == people._key_person)
    return numbered.drop("_session_start", "_key_person")
