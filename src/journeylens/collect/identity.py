"""Identity stitching: every id a person used resolves to one ``person_id``.

Rules, in the engine:

1. A row that carries both an ``anonymous_id`` and a ``user_id`` (an ``identify`` call, any
   event sent after login, or a feedback answer) links that anonymous id to that user. An
   anonymous id linked to several users (a shared computer) belongs to the *first* user it was
   linked to (earliest ``ts``, ties by user id), events and answers alike, as Mixpanel and
   Amplitude do.
2. An ``alias`` row (``anonymous_id`` holds Segment's ``previousId``, or the existing id of
   Mixpanel's ``$create_alias``) links the previous id, which may itself be a user id, to the new
   ``user_id``: both users become one person, named by the new id. This map resolves one alias
   of an alias; the rebuild follows longer chains to their last id (``journey.rebuild``). A
   chain that loops back (``u1 → u2 → u3 → u1``) has no last id: every id of the loop, and
   every id linked into it, is one person, named by the loop's least id.
3. ``person_id`` is the resolved user if there is one, else the anonymous id, so anonymous events
   before the login, on any device, join the person's journey.
"""

from __future__ import annotations

import ibis
from ibis import _


def build_id_map(events: ibis.Table, answers: ibis.Table | None = None) -> ibis.Table:
    """``(alias_id, canonical_id)``: every id that resolves to a different person id, by the
    links of ``events`` and of feedback ``answers`` (ordinary links: an answer is no alias),
    with one alias of an alias followed (see :func:`build_links`)."""
    links, by_alias = _links_and_aliases(events, answers)
    # One more hop: a link to a user who was later aliased resolves to the alias target.
    hop = by_alias.select(hop_from=by_alias.alias_id, hop_to=by_alias.canonical_id)
    joined = links.left_join(hop, links.canonical_id == hop.hop_from)
    return joined.select(
        alias_id=joined.alias_id,
        canonical_id=ibis.coalesce(joined.hop_to, joined.canonical_id),
    ).distinct()


def build_links(events: ibis.Table, answers: ibis.Table | None = None) -> ibis.Table:
    """``(alias_id, canonical_id)``: every linked id with the one id it links to, one step,
    no hop followed: the graph whose loops :func:`build_id_map`'s hop may shorten."""
    return _links_and_aliases(events, answers)[0]


def _links_and_aliases(
    events: ibis.Table, answers: ibis.Table | None
) -> tuple[ibis.Table, ibis.Table]:
    """The one-step links (:func:`build_links`) and the alias links among them."""
    links = _links(events, events.type == "alias")
    if answers is not None:
        links = links.union(_links(answers, ibis.literal(False)))
    by_anonymous = _first_links(links.filter(~links.is_alias))
    by_alias = _first_links(links.filter(links.is_alias))
    # An alias outranks an ordinary link for the same id.
    merged = by_alias.union(
        by_anonymous.anti_join(by_alias, by_anonymous.alias_id == by_alias.alias_id)
    )
    return merged.filter(merged.alias_id != merged.canonical_id), by_alias


def _links(rows: ibis.Table, alias: ibis.BooleanValue) -> ibis.Table:
    """``anonymous_id, user_id, ts, is_alias`` of the ``rows`` that carry both ids, narrow."""
    narrow = rows.select("anonymous_id", "user_id", "ts", is_alias=alias)
    return narrow.filter(narrow.anonymous_id.notnull() & narrow.user_id.notnull())


def _first_links(linked: ibis.Table) -> ibis.Table:
    """``(alias_id, canonical_id)``: each anonymous id with the user of its first link (earliest
    ``ts``, ties by user id). An aggregate by the id, not a window: no sort of the links."""
    first = ibis.struct({"ts": linked.ts, "user_id": linked.user_id})
    return linked.group_by(alias_id=linked.anonymous_id).aggregate(
        canonical_id=linked.user_id.argmin(first)
    )


def with_person_id(events: ibis.Table, id_map: ibis.Table) -> ibis.Table:
    """``events`` with ``person_id`` resolved through ``id_map``."""
    by_user = id_map.select(u_alias=id_map.alias_id, u_person=id_map.canonical_id)
    by_anon = id_map.select(a_alias=id_map.alias_id, a_person=id_map.canonical_id)
    joined = events.left_join(by_user, events.user_id == by_user.u_alias).left_join(
        by_anon, events.anonymous_id == by_anon.a_alias
    )
    person = ibis.coalesce(joined.u_person, joined.user_id, joined.a_person, joined.anonymous_id)
    return joined.mutate(person_id=person).drop("u_alias", "u_person", "a_alias", "a_person")


def unlinked_shared_ids(events: ibis.Table, examples: int = 3) -> tuple[int, list[str]]:
    """Anonymous ids written the same as a user id that no row links to that user, used before
    that user id's first row: how many, and the first few.

    Ids are one namespace, so such an id is read as that user (see the module); where a file's
    two id columns count separately (visitor ``1`` and customer ``1``), that merges strangers.
    An id used as an anonymous id only from its user's first row on is the user's own, as
    Mixpanel's and PostHog's ``distinct_id`` is once the visitor is identified: no doubt there.
    One query over the ids; the caller says so.
    """
    # An alias row's anonymous id is the previous id, often a user id: it links, it is no visitor.
    anonymous = events.filter(_.anonymous_id.notnull(), _.type.isnull() | (_.type != "alias"))
    linked = anonymous.filter(_.user_id.notnull() & (_.anonymous_id == _.user_id))
    users = (
        events.filter(_.user_id.notnull()).group_by(shared=_.user_id).aggregate(named=_.ts.min())
    )
    seen = anonymous.group_by(shared=_.anonymous_id).aggregate(first=_.ts.min())
    lone = seen.join(users, "shared").filter(_.first < _.named).select("shared")
    lone = lone.anti_join(linked.select(shared=_.anonymous_id).distinct(), "shared")
    n = int(lone.count().execute())
    if not n:
        return 0, []
    listed = lone.order_by("shared").limit(examples).execute()["shared"].tolist()
    return n, [str(value) for value in listed]
