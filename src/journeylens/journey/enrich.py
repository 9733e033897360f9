"""Place every stored event on the journey: person, session, touchpoint, stage and channel.

Run after each import as one engine expression over the whole table, because a login today can
re-assign last month's anonymous events to a person.
"""

from __future__ import annotations

import ibis

from journeylens.collect.identity import build_id_map, with_person_id
from journeylens.collect.sessions import with_session_id
from journeylens.schema import EVENTS, FEEDBACK


def build_enriched_events(events: ibis.Table, mapping: ibis.Table, gap_minutes: int) -> ibis.Table:
    """The events table with derived columns recomputed.

    ``mapping`` is the catalog's ``event → map_touchpoint, map_stage, map_channel`` table
    (see :func:`journeylens.journey.catalog.mapping_table`). A catalog match overrides the
    row's touchpoint and stage; a channel given on the row is kept, else the touchpoint's.
    """
    people = with_person_id(events.drop("person_id"), build_id_map(events))
    joined = people.left_join(mapping, people.event == mapping.event)
    placed = joined.select(
        *[c for c in people.columns if c not in ("touchpoint", "stage", "channel")],
        touchpoint=ibis.coalesce(joined.map_touchpoint, joined.touchpoint),
        stage=ibis.coalesce(joined.map_stage, joined.stage),
        channel=ibis.coalesce(joined.channel, joined.map_channel),
    )
    sessions = with_session_id(placed.drop("session_id", "person_key", "person_seq"), gap_minutes)
    return sessions.select(*EVENTS.names)


def build_enriched_feedback(
    feedback: ibis.Table, events: ibis.Table, catalog: ibis.Table
) -> ibis.Table:
    """Feedback with ``person_id`` resolved like the events, and stage filled from the catalog."""
    id_map = build_id_map(events)
    people = with_person_id(feedback.drop("person_id"), id_map)
    stages = catalog.select(cat_touchpoint=catalog.touchpoint, cat_stage=catalog.stage)
    joined = people.left_join(stages, people.touchpoint == stages.cat_touchpoint)
    placed = joined.mutate(stage=ibis.coalesce(joined.stage, joined.cat_stage))
    return placed.select(*FEEDBACK.names)
