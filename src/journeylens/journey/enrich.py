"""Place every stored event on the journey: person, session, touchpoint, stage and channel.

Run after each import over the whole table, because a login today can re-assign last month's
anonymous events to a person: the id map and the narrow per-event keys are stored once, then the
table is rewritten in one statement that joins them.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from journeylens.collect.identity import with_person_id
from journeylens.collect.sessions import build_session_ids
from journeylens.journey.catalog import ConditionalMatch, conditional_placement
from journeylens.schema import DERIVED_EVENT_COLUMNS, EVENTS, FEEDBACK


def build_event_keys(events: ibis.Table, id_map: ibis.Table, gap_minutes: int) -> ibis.Table:
    """``event_id, person_id, session_id, person_key, person_seq`` of every event.

    Narrow rows only: the windows sort four columns, not whole events. The rebuild stores this
    once and joins it back (see :func:`build_enriched_events`).
    """
    narrow = with_person_id(events.select("event_id", "ts", "anonymous_id", "user_id"), id_map)
    keys = build_session_ids(narrow.select("event_id", "person_id", "ts"), gap_minutes)
    return keys.select("event_id", "person_id", "session_id", "person_key", "person_seq")


def build_enriched_events(
    events: ibis.Table,
    mapping: ibis.Table,
    keys: ibis.Table,
    conditional: Sequence[ConditionalMatch] = (),
) -> ibis.Table:
    """The events table with derived columns recomputed.

    ``mapping`` is the catalog's ``event → map_touchpoint, map_stage, map_channel`` table
    (see :func:`journeylens.journey.catalog.mapping_table`); ``conditional`` the catalog's
    entries with property conditions, which win over it. A catalog match overrides the row's
    touchpoint and stage; a channel given on the row is kept, else the touchpoint's.
    ``keys`` are the events' :func:`build_event_keys` (stored: it is read once per use).
    """
    keys = keys.rename(_key_event="event_id")
    derived = [c for c in EVENTS.names if c in DERIVED_EVENT_COLUMNS]
    with_keys = events.drop(*derived).join(keys, events.event_id == keys._key_event)
    joined = with_keys.left_join(mapping, with_keys.event == mapping.event)
    placement = conditional_placement(joined, conditional)
    if placement is not None:  # the winning touchpoint's stage and channel, not a mix
        touchpoint, stage, channel = placement
        won = touchpoint.notnull()
        joined = joined.mutate(
            map_touchpoint=won.ifelse(touchpoint, joined.map_touchpoint),
            map_stage=won.ifelse(stage, joined.map_stage),
            map_channel=won.ifelse(channel, joined.map_channel),
        )
    placed = joined.mutate(
        touchpoint=ibis.coalesce(joined.map_touchpoint, joined.touchpoint),
        stage=ibis.coalesce(joined.map_stage, joined.stage),
        channel=ibis.coalesce(joined.channel, joined.map_channel),
    )
    return placed.select(*EVENTS.names)


def build_enriched_feedback(
    feedback: ibis.Table, id_map: ibis.Table, catalog: ibis.Table
) -> ibis.Table:
    """Feedback with ``person_id`` resolved like the events (``id_map`` is their
    :func:`~journeylens.collect.identity.build_id_map`), and stage filled from the catalog."""
    people = with_person_id(feedback.drop("person_id"), id_map)
    stages = catalog.select(cat_touchpoint=catalog.touchpoint, cat_stage=catalog.stage)
    joined = people.left_join(stages, people.touchpoint == stages.cat_touchpoint)
    placed = joined.mutate(stage=ibis.coalesce(joined.stage, joined.cat_stage))
    return placed.select(*FEEDBACK.names)
