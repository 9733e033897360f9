"""Place events on the journey: person, session, sequence keys, touchpoint, stage and channel.

A login today can re-assign last month's anonymous events to a person, so placement follows
every import (:mod:`journeylens.journey.rebuild` runs these expressions): either over the whole
table (:func:`build_event_keys`, :func:`build_enriched_events`) or over the people an import
touched (:func:`touched_people`, :func:`people_rows`, :func:`build_changed_keys`).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis

from journeylens.collect.identity import with_person_id
from journeylens.collect.sessions import build_session_ids, build_session_numbers, session_id
from journeylens.config import Touchpoint
from journeylens.journey.catalog import ConditionalMatch, conditional_placement
from journeylens.journey.traffic import tagged_channel
from journeylens.schema import DERIVED_BITS, DERIVED_EVENT_COLUMNS, EVENTS, FEEDBACK

DERIVED_KEYS = ("event_id", *DERIVED_EVENT_COLUMNS)  # the columns a rebuild keys by event


def build_event_keys(events: ibis.Table, id_map: ibis.Table, gap_minutes: int) -> ibis.Table:
    """``event_id, person_id, session_n, person_key, person_seq`` of every event (``session_n``
    numbers the person's sessions: :func:`build_enriched_events` names them).

    Narrow rows only: the windows sort four columns, not whole events. The rebuild stores this
    once and joins it back (see :func:`build_enriched_events`); the session's name, as long as
    the person's, is made there, as the row is written, not kept in between.
    """
    narrow = events.select("event_id", "ts", "received_at", "anonymous_id", "user_id")
    narrow = with_person_id(narrow, id_map)
    keys = build_session_numbers(
        narrow.select("event_id", "person_id", "ts", "received_at"), gap_minutes
    )
    return keys.select("event_id", "person_id", "session_n", "person_key", "person_seq")


def build_enriched_events(
    events: ibis.Table,
    mapping: ibis.Table,
    keys: ibis.Table,
    conditional: Sequence[ConditionalMatch] = (),
    catalog: Sequence[Touchpoint] = (),
) -> ibis.Table:
    """The events table with derived columns recomputed.

    ``keys`` are the events' :func:`build_event_keys` (stored: it is read once per use); the
    placement is :func:`place_events`'.
    """
    keys = keys.rename(_key_event="event_id")
    derived = [c for c in EVENTS.names if c in DERIVED_EVENT_COLUMNS]
    with_keys = events.drop(*derived).join(keys, events.event_id == keys._key_event)
    with_keys = with_keys.mutate(session_id=session_id(with_keys.person_id, with_keys.session_n))
    return place_events(with_keys, mapping, conditional, catalog)


def place_events(
    events: ibis.Table,
    mapping: ibis.Table,
    conditional: Sequence[ConditionalMatch] = (),
    catalog: Sequence[Touchpoint] = (),
) -> ibis.Table:
    """``events`` in the canonical columns with touchpoint, stage and channel from the catalog.

    ``mapping`` is the catalog's ``event → map_touchpoint, map_stage, map_channel`` table
    (see :func:`journeylens.journey.catalog.mapping_table`); ``conditional`` the catalog's
    entries with property conditions, which win over it. What the row gives is kept: a row
    with its own touchpoint keeps it whatever entry matches its event, and takes that
    touchpoint's stage and channel where the catalog lists it; a stage given is kept too. A
    channel given on the row is kept, else the touchpoint's, else the one its UTM tags name
    (:mod:`journeylens.journey.traffic`). (A given value the catalog overrode could not be
    given back when the catalog changed: it was stored nowhere.)
    """
    given = _as_given(events, ("touchpoint", "stage", "channel"))
    joined = _catalog_values(given, mapping, conditional, catalog, own_first=True)
    placed = joined.mutate(
        touchpoint=ibis.coalesce(joined.touchpoint, joined.map_touchpoint),
        stage=ibis.coalesce(joined.stage, joined.map_stage),
        channel=ibis.coalesce(joined.channel, joined.map_channel),
        derived=_flags(
            touchpoint=joined.touchpoint.isnull() & joined.map_touchpoint.notnull(),
            stage=joined.stage.isnull() & joined.map_stage.notnull(),
            channel=joined.channel.isnull() & joined.map_channel.notnull(),
        ),
    )
    return placed.select(*EVENTS.names)


def with_inferred_flags(
    events: ibis.Table,
    mapping: ibis.Table,
    conditional: Sequence[ConditionalMatch] = (),
    catalog: Sequence[Touchpoint] = (),
) -> ibis.Table:
    """Events stored before rows kept their ``derived`` flags, flagged by what the catalog
    derives for them: a touchpoint, stage or channel equal to the catalog's (or, for the
    channel, its UTM tags') was derived. Read with the catalog they were placed with (the
    config as a new version first opens it), that is what placed them; a value given the same
    as the catalog's is taken for derived."""
    joined = _catalog_values(events, mapping, conditional, catalog)
    inferred = joined.mutate(
        derived=_flags(
            touchpoint=(joined.touchpoint == joined.map_touchpoint).fill_null(False),
            stage=(joined.stage == joined.map_stage).fill_null(False),
            channel=(joined.channel == joined.map_channel).fill_null(False),
        )
    )
    return inferred.select(*events.columns)


def _catalog_values(
    events: ibis.Table,
    mapping: ibis.Table,
    conditional: Sequence[ConditionalMatch],
    catalog: Sequence[Touchpoint],
    own_first: bool = False,
) -> ibis.Table:
    """``events`` with what the catalog gives each: ``map_touchpoint``, ``map_stage`` and
    ``map_channel`` (the touchpoint's channel, else the one the UTM tags name); an event no
    entry matches (``own_first``: any event) whose own touchpoint the catalog lists, that
    touchpoint's stage and channel (``map_touchpoint`` stays null: the touchpoint is the
    row's)."""
    joined = events.left_join(mapping, events.event == mapping.event)
    placement = conditional_placement(joined, conditional)
    if placement is not None:  # the winning touchpoint's stage and channel, not a mix
        touchpoint, stage, channel = placement
        won = touchpoint.notnull()
        joined = joined.mutate(
            map_touchpoint=won.ifelse(touchpoint, joined.map_touchpoint),
            map_stage=won.ifelse(stage, joined.map_stage),
            map_channel=won.ifelse(channel, joined.map_channel),
        )
    if own_first:  # the row's own touchpoint, not the one its event's entry names
        none = ibis.null("string")
        owned = joined.touchpoint.notnull()
        joined = joined.mutate(
            map_touchpoint=owned.ifelse(none, joined.map_touchpoint),
            map_stage=owned.ifelse(none, joined.map_stage),
            map_channel=owned.ifelse(none, joined.map_channel),
        )
    own = _own_touchpoint(joined, catalog)
    if own is not None:
        stage, channel = own
        joined = joined.mutate(
            map_stage=ibis.coalesce(joined.map_stage, stage),
            map_channel=ibis.coalesce(joined.map_channel, channel),
        )
    tagged = tagged_channel(joined.source, joined.medium)
    return joined.mutate(map_channel=ibis.coalesce(joined.map_channel, tagged))


def _own_touchpoint(
    joined: ibis.Table, catalog: Sequence[Touchpoint]
) -> tuple[ibis.StringValue, ibis.StringValue] | None:
    """The stage and channel of a row's own touchpoint where no catalog entry matched the row
    and the catalog lists it (null elsewhere); None without a catalog."""
    if not catalog:
        return None
    unmatched = joined.map_touchpoint.isnull() & joined.touchpoint.notnull()
    none = ibis.null("string")
    values = []
    for part in ("stage", "channel"):  # a catalog's touchpoint names are unique
        known = {t.touchpoint: getattr(t, part) for t in catalog if getattr(t, part) is not None}
        looked_up = joined.touchpoint.substitute(known, else_=none) if known else none
        values.append(ibis.ifelse(unmatched, looked_up, none))
    return values[0], values[1]


def _as_given(table: ibis.Table, columns: Sequence[str]) -> ibis.Table:
    """``table`` with the placement ``columns`` journeylens derived (bits of ``derived``) as
    null: what came with the data, for placing again. Rows without flags (new rows, or stored
    by a version that kept none) are as given."""
    if "derived" not in table.columns:
        return table
    flags = table.derived.cast("int64").fill_null(0)
    given = {
        column: ibis.ifelse(flags % (2 * bit) >= bit, ibis.null("string"), table[column])
        for column in columns
        for bit in [DERIVED_BITS[column]]
    }
    return table.mutate(**given)


def _flags(**derived: ibis.BooleanValue) -> ibis.IntegerValue:
    """The ``derived`` bits of the columns whose test holds."""
    bits = [test.ifelse(DERIVED_BITS[column], 0) for column, test in derived.items()]
    return sum(bits[1:], bits[0]).cast("int8")


def relinked_ids(id_map: ibis.Table, before: ibis.Table) -> ibis.Table:
    """``id``: every id that resolves to another person in ``id_map`` than in ``before`` (both
    :func:`~journeylens.collect.identity.build_id_map`), linked or unlinked since."""
    old = before.select(_old_alias=before.alias_id, _old_canonical=before.canonical_id)
    both = id_map.outer_join(old, id_map.alias_id == old._old_alias)
    moved = both.filter(~both.canonical_id.identical_to(both._old_canonical))
    return moved.select(id=ibis.coalesce(moved.alias_id, moved._old_alias))


def touched_people(events: ibis.Table, id_map: ibis.Table, relinked: ibis.Table) -> ibis.Table:
    """``person_id``: the people, before and after, of the stored events that have no keys yet
    (rows just added) or whose person changes with ``id_map`` (an id in ``relinked``).

    Every event of a touched person gets its session and place again (:func:`build_changed_keys`).
    """

    def unkeyed(table: ibis.Table) -> ibis.BooleanValue:
        return ibis.or_(*(table[c].isnull() for c in DERIVED_EVENT_COLUMNS))

    candidates = (
        events.filter(unkeyed(events))
        .union(events.semi_join(relinked, events.anonymous_id == relinked.id))
        .union(events.semi_join(relinked, events.user_id == relinked.id))
    )
    stored = candidates.select(
        "anonymous_id", "user_id", _was=candidates.person_id, _unkeyed=unkeyed(candidates)
    )
    resolved = with_person_id(stored, id_map)
    moved = resolved.filter(resolved._unkeyed | ~resolved.person_id.identical_to(resolved._was))
    before = moved.filter(moved._was.notnull()).select(person_id=moved._was)
    after = moved.filter(moved.person_id.notnull()).select("person_id")
    return after.union(before).distinct()


def people_rows(events: ibis.Table, touched: ibis.Table) -> ibis.Table:
    """The stored events of the ``touched`` people, and those without a person yet, narrow:
    what :func:`build_changed_keys` reads (with the stored keys as ``_was_*``)."""
    rows = events.filter(events.person_id.isnull()).union(
        events.semi_join(touched, events.person_id == touched.person_id)
    )
    return rows.select(
        "event_id",
        "ts",
        "received_at",
        "anonymous_id",
        "user_id",
        _was_person=rows.person_id,
        _was_session=rows.session_id,
        _was_key=rows.person_key,
        _was_seq=rows.person_seq,
    )


def build_changed_keys(
    rows: ibis.Table,
    id_map: ibis.Table,
    touched: ibis.Table,
    gap_minutes: int,
    first_new_key: int,
) -> ibis.Table:
    """``event_id, person_id, session_id, person_key, person_seq`` of the :func:`people_rows`
    whose keys change: each touched person's events get their session and place again.

    Known people keep their ``person_key``; new people are numbered from ``first_new_key`` in
    ``person_id`` order.
    """
    resolved = with_person_id(rows, id_map)
    mine = resolved.semi_join(touched, resolved.person_id == touched.person_id)
    known = (
        rows.filter(rows._was_person.notnull() & rows._was_key.notnull())
        .group_by(person_id=rows._was_person)
        .aggregate(person_key=ibis._._was_key.min())
    )
    known = known.semi_join(touched, known.person_id == touched.person_id)
    new = touched.anti_join(known, touched.person_id == known.person_id)
    numbered = new.select(
        "person_id", person_key=ibis.row_number().over(order_by=new.person_id) + first_new_key
    )
    keys = build_session_ids(mine, gap_minutes, people=known.union(numbered))
    changed = (
        ~keys.person_id.identical_to(keys._was_person)
        | ~keys.session_id.identical_to(keys._was_session)
        | ~keys.person_key.identical_to(keys._was_key)
        | ~keys.person_seq.identical_to(keys._was_seq)
    )
    return keys.filter(changed).select(*DERIVED_KEYS)


def build_enriched_feedback(
    feedback: ibis.Table, id_map: ibis.Table, catalog: ibis.Table
) -> ibis.Table:
    """Feedback with ``person_id`` resolved like the events (``id_map`` is their
    :func:`~journeylens.collect.identity.build_id_map`), and stage filled from the catalog."""
    people = with_person_id(_as_given(feedback, ("stage",)).drop("person_id"), id_map)
    stages = catalog.select(cat_touchpoint=catalog.touchpoint, cat_stage=catalog.stage)
    joined = people.left_join(stages, people.touchpoint == stages.cat_touchpoint)
    placed = joined.mutate(
        stage=ibis.coalesce(joined.stage, joined.cat_stage),
        derived=_flags(stage=joined.stage.isnull() & joined.cat_stage.notnull()),
    )
    return placed.select(*FEEDBACK.names)
