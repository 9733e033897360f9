"""Keep every event and answer placed: person, session, sequence keys, touchpoint and stage.

Two ways to the same placement:

- :func:`rebuild_all` recomputes every row and writes each table once. It runs after a catalog
  or session-gap change, for the first rows of a workspace, when the new rows or the rows of
  the people they touch are too many (``APPEND_MAX_SHARE``, ``APPEND_MAX_UPDATES``), and on
  engines that cannot update rows in place.
- :func:`append` stores new rows placed, then updates only the stored rows whose person,
  session or place in their sequence changed: the rows of every person who gained events or
  whose ids were linked by them (or by new answers that carry both ids). Its cost follows the
  new rows, not the stored ones (the identity of every event is still resolved once, on narrow
  rows), and where every incoming event was stored already (a file imported again) it stops
  there. It runs in one transaction: a failure leaves the tables as they were.

``person_key``: :func:`rebuild_all` numbers people 1, 2, ... in ``person_id`` order;
:func:`append` keeps every known person's key and numbers new people after the largest.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

import ibis
import pandas as pd
import pyarrow as pa

from journeylens.collect.identity import build_id_map, build_links, with_person_id
from journeylens.config import Config
from journeylens.journey.catalog import catalog_table, conditional_matches, mapping_table
from journeylens.journey.enrich import (
    build_changed_keys,
    build_enriched_events,
    build_enriched_feedback,
    build_event_keys,
    people_rows,
    place_events,
    relinked_ids,
    touched_people,
    with_inferred_flags,
)
from journeylens.schema import ANSWER_KEY, TABLES, in_schema
from journeylens.store import Store

# An append updates at most this many stored rows, and at most this share of them: beyond,
# a rebuild writes less (the rows of nearly every person change) and holds less in memory.
APPEND_MAX_UPDATES = 4_000_000
APPEND_MAX_SHARE = 0.5
CHAIN_ROUNDS = 32  # alias chains up to 2**32 links long resolve to their last id
SCRATCH = (
    "_event_map",
    "_id_map",
    "_id_map_next",
    "_id_loops",
    "_id_loops_next",
    "_event_keys",
    "_new_rows",
    "_relinked",
    "_touched",
    "_people_rows",
)
# The identity the stored rows were placed with: an append compares it with the new one.
IDENTITY = "_identity"
# What the stored placement was computed with (see ``_fingerprint``): an append needs the same.
PLACEMENT = "_placement"
# Raise when a release places rows differently: its first import rebuilds. 2: events at the
# same time are in the order received (``received_at``), no longer by id alone. 3: events
# without a channel take the one their UTM tags name (``journey.traffic``). 4: rows say which
# placement columns were derived (``derived``), which a new catalog places again. 5: an event no
# entry matches whose own touchpoint the catalog lists takes its stage and channel.
PLACEMENT_RULES = 5


def rebuild(store: Store, config: Config, incoming: Mapping[str, ibis.Table] | None = None) -> None:
    """Fold ``incoming`` rows per table (``{"events": expr}``) in and place everything, by
    :func:`append` where it applies, else by :func:`rebuild_all`."""
    incoming = dict(incoming or {})
    try:
        if incoming and _appendable(store, config, incoming):
            with store.transaction():
                appended = append(store, config, incoming)
            if appended:
                return
            if "events" in incoming:
                incoming["events"] = store.table("_new_rows")  # as ``append`` read them, once
        rebuild_all(store, config, incoming)
    finally:
        for name in SCRATCH:
            store.drop(name)


def rebuild_all(store: Store, config: Config, incoming: Mapping[str, ibis.Table]) -> None:
    """Recompute identity, sessions and the journey placement of every event and answer.

    ``incoming`` rows are folded in during the same rewrite, so each table is written once.
    """
    store.drop(PLACEMENT)  # kept last (``_remember``): until then, the next import rebuilds
    events = _with_incoming(store, "events", incoming)
    store.write("touchpoints", catalog_table(config.touchpoints), overwrite=True)
    _store_event_map(store, config, events)
    if "derived" not in store.table("events").columns:
        # Stored by a version that kept no flags: infer them, so a catalog change reaches
        # what the old catalog derived.
        conditional = conditional_matches(config.touchpoints)
        mapping = store.table("_event_map")
        events = _with_incoming(
            store,
            "events",
            incoming,
            lambda t: with_inferred_flags(t, mapping, conditional, config.touchpoints),
        )
    feedback = _with_incoming(store, "feedback", incoming)
    # Identity and sessions are computed once into narrow scratch tables, which the rewrite of
    # each table joins: the engine never re-derives them per use.
    _store_id_map(store, events, feedback)
    id_map = store.table("_id_map")
    store.materialize("_event_keys", build_event_keys(events, id_map, config.session_gap_minutes))
    conditional = conditional_matches(config.touchpoints)
    enriched = build_enriched_events(
        events,
        store.table("_event_map"),
        store.table("_event_keys"),
        conditional,
        config.touchpoints,
    )
    store.replace("events", enriched)
    store.replace("feedback", build_enriched_feedback(feedback, id_map, store.table("touchpoints")))
    # On every engine: without it, each open of the workspace would place the events again.
    _remember(store, config, id_map)


def append(store: Store, config: Config, incoming: Mapping[str, ibis.Table]) -> bool:
    """Store ``incoming`` rows and update the stored rows they change (see the module).

    Declines (False, nothing written; the new events stay in ``_new_rows``) when the new rows
    would change more stored rows than ``APPEND_MAX_UPDATES`` or ``APPEND_MAX_SHARE``.
    """
    answers = _conformed(incoming["feedback"], "feedback") if "feedback" in incoming else None
    if ("events" in incoming or _answers_link_ids(store, answers)) and not _place_people(
        store, config, incoming
    ):
        return False
    if answers is not None:  # placed by the identity they are part of (``_remember``'s)
        catalog = store.table("touchpoints")
        store.write("feedback", build_enriched_feedback(answers, store.table(IDENTITY), catalog))
    return True


def _answers_link_ids(store: Store, answers: ibis.Table | None) -> bool:
    """Whether any of the new ``answers`` carries both ids: a link that may move events."""
    if answers is None:
        return False
    return bool(
        store.count(answers.filter(answers.anonymous_id.notnull() & answers.user_id.notnull()))
    )


def _place_people(store: Store, config: Config, incoming: Mapping[str, ibis.Table]) -> bool:
    """Store the new events placed, resolve identity again with every event and answer (the
    new ones too), and update the stored events and answers whose person, session or place
    changed. False, nothing written, past the limits (see :func:`append`)."""
    events = store.table("events")
    placed = _placed_new_events(store, config, incoming)
    if placed is not None and "feedback" not in incoming and not store.count("_new_rows"):
        return True  # every event was stored already (a file imported again): nothing moves
    everything = events if placed is None else events.union(placed)
    answers = _with_incoming(store, "feedback", incoming)
    _store_id_map(store, everything, answers)
    id_map = store.table("_id_map")
    store.materialize("_relinked", relinked_ids(id_map, store.table(IDENTITY)))
    store.materialize("_touched", touched_people(everything, id_map, store.table("_relinked")))
    touched = store.table("_touched")
    rows = people_rows(everything, touched)
    updates = store.count(rows)
    if updates > min(APPEND_MAX_UPDATES, APPEND_MAX_SHARE * store.count("events")):
        return False
    store.materialize("_people_rows", rows)
    rows = store.table("_people_rows")
    if placed is not None:
        store.write("events", placed)
    last_key = store.execute(events.aggregate(k=events.person_key.max()))["k"][0]
    first_new_key = 1 if pd.isna(last_key) else int(last_key) + 1
    gap = config.session_gap_minutes
    keys = build_changed_keys(rows, id_map, touched, gap, first_new_key)
    store.update("events", keys, "event_id")
    _update_feedback_people(store, id_map)  # ids the new rows linked
    _remember(store, config, id_map)
    return True


def _placed_new_events(
    store: Store, config: Config, incoming: Mapping[str, ibis.Table]
) -> ibis.Table | None:
    """The incoming events, kept in ``_new_rows``, placed on the catalog (None: no events)."""
    if "events" not in incoming:
        return None
    store.materialize("_new_rows", _conformed(incoming["events"], "events"))
    new = store.table("_new_rows")
    _store_event_map(store, config, new)
    conditional = conditional_matches(config.touchpoints)
    return place_events(new, store.table("_event_map"), conditional, config.touchpoints)


def _appendable(store: Store, config: Config, incoming: Mapping[str, ibis.Table]) -> bool:
    """Whether :func:`append` may apply: an engine that updates in place, rows placed with the
    same catalog and session gap, tables in the current columns, and new events no more than
    ``APPEND_MAX_SHARE`` of the stored ones."""
    if not store.updates_in_place or not all(map(store.has_table, (PLACEMENT, IDENTITY))):
        return False
    if store.execute(store.table(PLACEMENT))["fingerprint"].tolist() != [_fingerprint(config)]:
        return False  # the catalog or the session gap changed since: everything moves
    for name in incoming:
        if set(TABLES[name].names) - set(store.table(name).columns):
            return False  # a table from an earlier version gains its columns in a rebuild
    if "events" not in incoming:
        return True
    stored = store.count("events")
    if not stored:
        return False
    new = store.count(incoming["events"])
    return new <= APPEND_MAX_SHARE * stored


def _store_id_map(store: Store, events: ibis.Table, answers: ibis.Table) -> None:
    """The identity of ``events`` and ``answers`` as ``_id_map``, its alias chains followed to
    their ends.

    An id aliased to an id that was itself aliased on (``u1 → u2 → u3 → u4``) resolves to the
    last: each round maps every target through the map once more, which doubles the length
    of chain resolved, until no target is itself mapped (at most ``CHAIN_ROUNDS`` rounds). A
    round that leaves as many targets mapped as the one before closed no chain: the ids still
    open lead into loops (``u1 → u2 → u3 → u1``), which no round closes (:func:`_name_loops`).
    Data without loops pays nothing for them.
    """
    store.materialize("_id_map", build_id_map(events, answers))
    was_open = -1
    for _ in range(CHAIN_ROUNDS):
        current = store.table("_id_map")
        then = current.select(_hop_from=current.alias_id, _hop_to=current.canonical_id)
        still_open = store.count(current.semi_join(then, current.canonical_id == then._hop_from))
        if not still_open:
            return
        if still_open == was_open:
            _name_loops(store, build_links(events, answers), still_open)
            return
        was_open = still_open
        joined = current.left_join(then, current.canonical_id == then._hop_from)
        target = ibis.coalesce(joined._hop_to, joined.canonical_id)
        # Only an id on a loop can map to itself: it stays, and keeps its loop open to name.
        _rewrite(store, "_id_map", joined.select(alias_id=joined.alias_id, canonical_id=target))


def _name_loops(store: Store, links: ibis.Table, looped: int) -> None:
    """Map the ``looped`` ids of ``_id_map`` that lead into a loop to the loop's least id.

    A loop has no last id, so all its ids, and the ids linked into it, are one person, named
    the same whichever id of it one starts from: the least id of the loop, which a walk of
    ``looped`` steps from any of them passes in full (:func:`_walk_loops`).
    """
    current = store.table("_id_map")
    mapped = current.select(_mapped=current.alias_id)
    open_ids = current.semi_join(mapped, current.canonical_id == mapped._mapped)
    looping = open_ids.select(_looping=open_ids.alias_id)
    _walk_loops(store, links.semi_join(looping, links.alias_id == looping._looping), looped)
    walk = store.table("_id_loops")
    ends = walk.select(_end=walk.alias_id, _name=walk.least)
    named = walk.join(ends, walk.canonical_id == ends._end)
    named = named.select(alias_id=named.alias_id, canonical_id=named._name)
    settled = current.anti_join(looping, current.alias_id == looping._looping)
    _rewrite(store, "_id_map", settled.union(named.filter(named.alias_id != named.canonical_id)))


def _walk_loops(store: Store, steps: ibis.Table, looped: int) -> None:
    """``_id_loops``: from each id of ``steps`` (one link each, ``looped`` ids that lead into
    loops), the id ``looped`` or more links on and the least id passed on the way.

    One link at a time, as the map's hops (which skip ids) would miss ids of the loop; each
    round doubles the links walked. Past ``looped`` links a walk stands on its loop, and the
    walk from there has passed all of the loop.
    """
    store.materialize("_id_loops", steps.mutate(least=steps.canonical_id))
    for _ in range((looped - 1).bit_length()):  # 2**rounds >= looped
        walk = store.table("_id_loops")
        then = walk.select(_from=walk.alias_id, _to=walk.canonical_id, _least=walk.least)
        joined = walk.join(then, walk.canonical_id == then._from)
        least = ibis.least(joined.least, joined._least)
        walked = joined.select(alias_id=joined.alias_id, canonical_id=joined._to, least=least)
        _rewrite(store, "_id_loops", walked)


def _rewrite(store: Store, name: str, expr: ibis.Table) -> None:
    """The scratch table ``name`` replaced by the rows of ``expr``, which may read it."""
    store.materialize(f"{name}_next", expr)
    store.drop(name)
    store.rename(f"{name}_next", name)


def _remember(store: Store, config: Config, id_map: ibis.Table) -> None:
    """Keep what the next append compares with: the identity (on an engine that appends) and
    the placement's settings (which opening the workspace compares with its config)."""
    if store.updates_in_place:
        store.write(IDENTITY, id_map, overwrite=True)
    remembered = {"fingerprint": [_fingerprint(config)], "rules": [PLACEMENT_RULES]}
    store.write(PLACEMENT, pa.table(remembered), overwrite=True)


# Why stored events must be placed again (see :func:`placement_staleness`).
UNFINISHED, UPGRADED, EDITED = "unfinished", "upgraded", "edited"


def placement_staleness(store: Store, config: Config) -> str | None:
    """Why the stored events must be placed again, or None: ``UNFINISHED`` (their placement
    was cut short: an import stopped), ``UPGRADED`` (placed by a journeylens whose rules differ)
    or ``EDITED`` (placed with another catalog or session gap than ``config``'s:
    journeylens.toml edited by hand since)."""
    if not store.count("events"):
        return None
    if not store.has_table(PLACEMENT):
        return UNFINISHED
    stored = store.execute(store.table(PLACEMENT))
    if "rules" not in stored.columns or stored["rules"].tolist() != [PLACEMENT_RULES]:
        return UPGRADED
    return None if stored["fingerprint"].tolist() == [_fingerprint(config)] else EDITED


def refresh_catalog(store: Store, config: Config) -> None:
    """Rewrite the stored ``touchpoints`` table where it differs from ``config``'s catalog in
    what places no event (costs, owners, kinds: edited by hand since)."""
    if not store.has_table("touchpoints"):
        return
    wanted = catalog_table(config.touchpoints)
    stored = pa.Table.from_pandas(store.execute(store.table("touchpoints")), preserve_index=False)
    if stored.to_pylist() != wanted.to_pylist():
        store.write("touchpoints", wanted, overwrite=True)


def _fingerprint(config: Config) -> str:
    """The settings the placement of rows depends on: the session gap and the catalog's names,
    matches, stages and channels (not its costs, owners or kinds, which place nothing)."""
    catalog = [(t.touchpoint, t.match, t.stage, t.channel) for t in config.touchpoints]
    settings = repr((PLACEMENT_RULES, config.session_gap_minutes, catalog))
    return hashlib.sha256(settings.encode()).hexdigest()


def _store_event_map(store: Store, config: Config, events: ibis.Table) -> None:
    """The catalog placement of each distinct event name of ``events``, as ``_event_map``."""
    names = store.execute(events.select("event").distinct())["event"].dropna()
    mapping = mapping_table(names.tolist(), config.touchpoints)
    store.create_scratch("_event_map", mapping.schema)
    store.write("_event_map", mapping)


def _update_feedback_people(store: Store, id_map: ibis.Table) -> None:
    """Answers whose person changed with the identity (an id linked since they were stored)."""
    feedback = store.table("feedback")
    stored = feedback.select(*ANSWER_KEY, "anonymous_id", "user_id", _was=feedback.person_id)
    resolved = with_person_id(stored, id_map)
    moved = resolved.filter(~resolved.person_id.identical_to(resolved._was))
    store.update("feedback", moved.select(*ANSWER_KEY, "person_id"), ANSWER_KEY)


def _with_incoming(
    store: Store,
    table: str,
    incoming: Mapping[str, ibis.Table],
    stored_as: Callable[[ibis.Table], ibis.Table] | None = None,
) -> ibis.Table:
    """The stored rows of ``table`` (through ``stored_as``) with the incoming ones."""
    current = _conformed(store.table(table), table)
    if stored_as is not None:
        current = stored_as(current)
    if table not in incoming:
        return current
    return current.union(_conformed(incoming[table], table))


def _conformed(table: ibis.Table, name: str) -> ibis.Table:
    """``table`` in the canonical column order, with columns added since it was written (a
    workspace from an earlier version) as nulls, which the rebuild then derives."""
    return in_schema(table, TABLES[name])
