"""Tracking calls as their tools mean them, beyond their columns (DuckDB SQL over an arranged
batch ``b``, as in :mod:`.exports`).

- **Segment**: a page or screen call without an event name is named by its call
  (:func:`event_name`); its ``context`` gives the campaign (:func:`from_context`) and the device
  (:func:`device_value`); an alias call's ``previousId`` is its anonymous id, and the
  ``anonymousId`` it displaced is kept in ``properties`` (:func:`displaced_id`).
- **PostHog**'s ``$identify`` and **Mixpanel**'s ``$create_alias`` link two ids (:func:`ids`).
- Placeholder ids (``undefined``, ``null``, ...) are missing ids (:func:`unless_placeholder`).
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

from journeylens.collect.exports import (
    alias_link,
    batch_text,
    device_category,
    extra_json_text,
    identify_link,
    is_structured,
    json_at,
    json_text,
    lowered_in,
    nested_lookups,
)


def event_name(types: Mapping[str, pa.DataType]) -> str:
    """The event name; when the row has none, Segment's naming for its call type: a page or
    screen call is ``Viewed <name> Page`` (``<name> Screen``), or ``Loaded a Page`` (``a
    Screen``) without a name; identify, alias and group calls are named by their type."""
    name = "NULL"
    if "name" in _segment_fields(types):
        name = "CASE WHEN trim(CAST(b._extra.name AS VARCHAR)) <> '' THEN b._extra.name END"
    call = f"lower(trim({batch_text('type')}))"
    return (
        f"coalesce({batch_text('event')}, CASE {call} "
        f"WHEN 'page' THEN coalesce('Viewed ' || {name} || ' Page', 'Loaded a Page') "
        f"WHEN 'screen' THEN coalesce('Viewed ' || {name} || ' Screen', 'Loaded a Screen') "
        "WHEN 'identify' THEN 'identify' WHEN 'alias' THEN 'alias' WHEN 'group' THEN 'group' "
        "END)"
    )


def properties_text(types: Mapping[str, pa.DataType]) -> str:
    """The ``properties`` column as JSON text; a Parquet struct or map is written as JSON,
    without the members it holds as null (a struct has every field on every row: a key one
    row had is no property of the others)."""
    dtype = types.get("properties")
    if is_structured(dtype):
        return f"json_merge_patch('{{}}', {json_text('b.properties', dtype)})"
    return batch_text("properties")


def nested_value(
    column: str, types: Mapping[str, pa.DataType], decimal_comma: bool = False
) -> str | None:
    """``column``'s value from the row's nested values (see :mod:`.exports`); None when the
    file has none of its sources. ``decimal_comma``: JSON numbers written so (see
    :func:`.exports.nested_lookups`)."""
    lookups = nested_lookups(column, types, properties_text(types), decimal_comma)
    return f"coalesce({', '.join(lookups)})" if lookups else None


# Segment's context.campaign (the page's UTM parameters): canonical column → its key there.
CONTEXT_CAMPAIGN = {"source": "source", "medium": "medium", "campaign": "name"}


def from_context(column: str, types: Mapping[str, pa.DataType]) -> str:
    """``column`` as given, else from the unknown ``context`` column's ``campaign``."""
    if "context" not in _segment_fields(types):
        return batch_text(column)
    context = extra_json_text(types, "context")
    campaign = json_at(context, "campaign." + CONTEXT_CAMPAIGN[column])
    return f"coalesce({batch_text(column)}, {campaign})"


def device_value(types: Mapping[str, pa.DataType]) -> str:
    """``device`` as given, else from Segment's ``context``: ``mobile`` for a phone app
    (``device.type`` ios or android), else from the browser's ``userAgent``: ``tablet`` (iPad,
    Tablet, PlayBook, Silk, or Android without Mobi), ``mobile`` (Mobi, iPhone, iPod), else
    ``desktop`` (an iPad asking for desktop pages says Macintosh and is read as desktop)."""
    category = device_category(types)
    if category is not None:
        return category
    if "context" not in _segment_fields(types):
        return batch_text("device")
    context = extra_json_text(types, "context")
    app = json_at(context, "device.type")
    agent = json_at(context, "userAgent")

    def says(pattern: str) -> str:
        return f"regexp_matches({agent}, '{pattern}', 'i')"

    tablet = f"{says('iPad|Tablet|PlayBook|Silk')} OR ({says('Android')} AND NOT {says('Mobi')})"
    return (
        f"coalesce({batch_text('device')}, "
        f"CASE WHEN lower({app}) IN ('ios', 'android') THEN 'mobile' END, "
        f"CASE WHEN {tablet} THEN 'tablet' WHEN {says('Mobi|iPhone|iPod')} THEN 'mobile' "
        f"WHEN {agent} IS NOT NULL THEN 'desktop' END)"
    )


def _segment_fields(types: Mapping[str, pa.DataType]) -> frozenset[str]:
    """Which of Segment's ``name`` (a page or screen call's name, when ``event`` took the event
    name), ``context`` and ``previousId`` (when ``anonymousId`` took ``anonymous_id``) are among
    the unknown columns (``_extra``)."""
    extra = types.get("_extra")
    if extra is None or not pa.types.is_struct(extra):
        return frozenset()
    fields = ("name", "context", "previousId")
    return frozenset(f for f in fields if extra.get_field_index(f) >= 0)


def _previous_id(types: Mapping[str, pa.DataType]) -> str | None:
    """SQL for an alias call's ``previousId``, as Segment sends it beside the device's
    ``anonymousId``, NULL on other rows; None when the file has no ``previousId`` beside
    ``anonymousId``."""
    if "previousId" not in _segment_fields(types):
        return None
    previous = "CAST(b._extra.previousId AS VARCHAR)"
    return (
        f"CASE WHEN lower(trim({batch_text('type')})) = 'alias' "
        f"AND trim({previous}) <> '' THEN {previous} END"
    )


def _anonymous_id(types: Mapping[str, pa.DataType]) -> str:
    """The anonymous id; for an alias call, the ``previousId`` it links to the user."""
    previous = _previous_id(types)
    if previous is None:
        return batch_text("anonymous_id")
    return f"coalesce({previous}, {batch_text('anonymous_id')})"


def displaced_id(types: Mapping[str, pa.DataType]) -> str | None:
    """SQL for an alias call's own ``anonymousId``, which its ``previousId`` displaced from
    ``anonymous_id``: kept in ``properties`` (later events of the device carry it beside the
    user id, and link it). NULL on other rows; None when the file has no ``previousId``."""
    previous = _previous_id(types)
    if previous is None:
        return None
    return f"CASE WHEN {previous} IS NOT NULL THEN {batch_text('anonymous_id')} END"


def ids(kind: str, types: Mapping[str, pa.DataType]) -> list[str]:
    """``anonymous_id`` and ``user_id``, placeholders (``undefined``) read as missing.

    An event that names the anonymous id it links (PostHog's ``$identify``) has that id as
    the anonymous one and its own id as the user's, where it has no user id of its own (none,
    or its own id again): a row with PostHog's ``person_id`` has its ids merged already, and
    keeps them like every other row. Mixpanel's ``$create_alias`` has its existing id as the
    anonymous one and the new id as the user's.
    """
    anonymous = unless_placeholder(
        _anonymous_id(types) if kind == "events" else batch_text("anonymous_id")
    )
    user = unless_placeholder(batch_text("user_id"))
    if kind == "events":
        anonymous, user = _linked(types, anonymous, user)
    return [f"{anonymous} AS anonymous_id", f"{user} AS user_id"]


def _linked(types: Mapping[str, pa.DataType], anonymous: str, user: str) -> tuple[str, str]:
    """``(anonymous_id, user_id)`` SQL of an event, given the row's own ids, with the ids that
    a PostHog ``$identify`` or a Mixpanel ``$create_alias`` links (see :func:`ids`)."""
    properties = properties_text(types)
    link = identify_link(types, properties)
    if link is not None:
        link = unless_placeholder(link)
        links = f"{link} IS NOT NULL AND ({user} IS NULL OR {user} = {anonymous})"
        anonymous, user = (
            f"CASE WHEN {links} THEN {link} ELSE {anonymous} END",
            f"CASE WHEN {links} THEN {anonymous} ELSE {user} END",
        )
    alias = alias_link(types, properties, batch_text("event"))
    if alias is not None:
        existing, new = (unless_placeholder(id_) for id_ in alias)
        anonymous = (
            f"CASE WHEN {new} IS NULL THEN {anonymous} ELSE coalesce({existing}, {anonymous}) END"
        )
        user = f"coalesce({new}, {user})"
    return anonymous, user


def call_type(types: Mapping[str, pa.DataType]) -> str:
    """The call's type in lower case, ``track`` without one; Mixpanel's ``$create_alias`` is
    an alias call."""
    alias = alias_link(types, properties_text(types), batch_text("event"))
    new = "NULL" if alias is None else unless_placeholder(alias[1])
    aliased = f"CASE WHEN {new} IS NOT NULL THEN 'alias' END"
    return f"coalesce(lower({batch_text('type')}), {aliased}, 'track')"


def unless_placeholder(text: str) -> str:
    """The id ``text`` (SQL), NULL when it is one of ``import.placeholder_ids`` (any case,
    white space around it: see :func:`exports.trimmed`); a whole number written as a float
    (``17850.0``: pandas writes a column of ids with gaps so) is the number, the same person
    as ``17850`` elsewhere (a suffix test first: other ids pay no pattern for it)."""
    whole = (
        f"CASE WHEN suffix({text}, '.0') "
        f"THEN regexp_replace({text}, '^(-?[0-9]+)[.]0$', '\\1') ELSE {text} END"
    )
    # The exact test only where a cheap pattern matches (most ids fail it at their first
    # characters): trimming and lowering every id took a quarter of the staging's checks.
    exact = lowered_in(text, "$placeholder_ids")
    placeholder = f"CASE WHEN regexp_full_match({text}, $placeholder_pattern) THEN {exact} END"
    return f"CASE WHEN {placeholder} THEN NULL ELSE {whole} END"
