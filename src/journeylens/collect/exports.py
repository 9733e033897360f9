"""Other tools' exports as they are: canonical columns found inside a row's nested values.

- **Mixpanel** exports nest all but the event name in ``properties``: ``{"event": "Signed Up",
  "properties": {"time": 1700000000, "distinct_id": ..., "$insert_id": ..., "$device_id": ...,
  "$user_id": ..., "utm_source": ...}}``. ``distinct_id`` is the event's identity: the user's id
  where ``$user_id`` is absent (older SDKs, custom trackers, the original ID merge), unless it
  names the device (its ``$device_id``, or ``$device:<id>``: see :func:`identified`). Its
  ``$create_alias`` event links ``properties.distinct_id`` to ``properties.alias`` (see
  :func:`alias_link`).
- **PostHog** exports keep the device's kind in ``properties.$device_type`` (``Desktop``,
  ``Mobile``, ``Tablet``), read in lower case. Its ``$identify`` event is sent under the user's
  new ``distinct_id`` and names the anonymous one it links in ``properties.$anon_distinct_id``
  (see :func:`identify_link`); its batch exports carry the ``person_id`` PostHog merged the ids
  into, which is read as the user id (``columns.ALIASES``), so there an ``$identify`` keeps its
  own ``distinct_id`` as its anonymous id, as every other row does. **Amplitude** exports keep the
  campaign of the user's visit in ``user_properties`` (``utm_source``, ...) and an order's
  revenue in ``event_properties`` (``$revenue`` or ``revenue``); their ``event_id`` is no id
  (see ``columns.NOT_OURS``).
- **GA4**'s BigQuery export gives the event's parameters as a list of key/value pairs
  (``event_params``, each value under ``string_value``, ``int_value``, ``float_value`` or
  ``double_value``), the device as an object (``device.category``), the order's revenue as
  ``ecommerce.purchase_revenue`` and the event's campaign as ``collected_traffic_source``.

A canonical column the file does not have is taken from the first of its :data:`NESTED_SOURCES`
the row holds (``revenue`` and ``currency`` also when the column is empty on the row, as
Segment sends an order's revenue in ``properties``). GA4's user-level ``traffic_source`` (how
the user was first acquired) is not an event's campaign: it stays in ``properties``.

Each function returns DuckDB SQL over an arranged batch ``b`` (see ``columns.arrange``):
``properties`` is a canonical column, the other nested columns are fields of ``b._extra``.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence

import pyarrow as pa

# canonical column → (nested column, key) pairs, best first.
NESTED_SOURCES: dict[str, tuple[tuple[str, str], ...]] = {
    "ts": (("properties", "time"),),
    "event_id": (("properties", "$insert_id"),),
    "anonymous_id": (("properties", "$device_id"), ("properties", "distinct_id")),
    "user_id": (("properties", "$user_id"), ("properties", "distinct_id")),
    "source": (
        ("properties", "utm_source"),
        ("user_properties", "utm_source"),
        ("event_params", "source"),
        ("collected_traffic_source", "manual_source"),
    ),
    "medium": (
        ("properties", "utm_medium"),
        ("user_properties", "utm_medium"),
        ("event_params", "medium"),
        ("collected_traffic_source", "manual_medium"),
    ),
    "campaign": (
        ("properties", "utm_campaign"),
        ("user_properties", "utm_campaign"),
        ("event_params", "campaign"),
        ("collected_traffic_source", "manual_campaign_name"),
    ),
    "device": (("properties", "$device_type"),),
    "revenue": (
        ("properties", "revenue"),
        ("ecommerce", "purchase_revenue"),
        ("event_properties", "$revenue"),
        ("event_properties", "revenue"),
    ),
    "currency": (("properties", "currency"), ("event_params", "currency")),
}
# Taken from the row's nested values only when the file has no such column.
WHEN_ABSENT = (
    "ts",
    "event_id",
    "anonymous_id",
    "user_id",
    "source",
    "medium",
    "campaign",
    "device",
)
# Values other tools write in another case than journeylens's (PostHog's ``Desktop``).
LOWERED = ("device",)
PARAMS = "_params"  # the column GA4's parameters are computed into, once per row
# GA4's event parameter: one of these holds its value.
_PARAM_SHAPE = (
    '[{"key": "VARCHAR", "value": {"string_value": "VARCHAR", "int_value": "BIGINT", '
    '"float_value": "DOUBLE", "double_value": "DOUBLE"}}]'
)


def lifted_columns(nested_keys: Mapping[str, Collection[str]]) -> set[str]:
    """The canonical columns a file can take from its nested values, given the keys seen in
    each nested column (for the up-front check of required columns).

    >>> sorted(lifted_columns({"properties": {"time", "distinct_id"}}))
    ['anonymous_id', 'ts', 'user_id']
    """
    return {
        canonical
        for canonical, sources in NESTED_SOURCES.items()
        if any(key in nested_keys.get(column, ()) for column, key in sources)
    }


def extra_type(types: Mapping[str, pa.DataType], name: str) -> pa.DataType | None:
    """The type of the unknown column ``name`` (a field of ``_extra``), None without it."""
    extra = types.get("_extra")
    if extra is None or not pa.types.is_struct(extra) or extra.get_field_index(name) < 0:
        return None
    return extra.field(extra.get_field_index(name)).type


def is_nested(dtype: pa.DataType | None) -> bool:
    """Whether a column holds objects or lists: JSON (JSON Lines) or a struct, map or list."""
    if dtype is None:
        return False
    if isinstance(dtype, pa.JsonType):
        return True
    return pa.types.is_struct(dtype) or pa.types.is_map(dtype) or pa.types.is_list(dtype)


def is_structured(dtype: pa.DataType | None) -> bool:
    """Whether a column holds objects or lists as engine values (a struct, map or list, as
    Parquet types them), not as JSON."""
    return is_nested(dtype) and not isinstance(dtype, pa.JsonType)


def json_text(column: str, dtype: pa.DataType | None) -> str:
    """SQL for the column ``column`` (SQL) as JSON text: a struct, map or list written as JSON,
    text and JSON as they are."""
    if is_structured(dtype):
        return f"CAST(to_json({column}) AS VARCHAR)"
    return f"CAST({column} AS VARCHAR)"


def extra_json_text(types: Mapping[str, pa.DataType], name: str) -> str:
    """The unknown column ``name`` as JSON text (see :func:`json_text`)."""
    return json_text(f"b._extra.{_quoted(name)}", extra_type(types, name))


def params_object(types: Mapping[str, pa.DataType]) -> str | None:
    """GA4's ``event_params`` as one JSON object, once :func:`with_params` has computed it as
    the column ``_params``; None for a file without them."""
    return f"b.{PARAMS}" if PARAMS in types else None


def _params_sql(types: Mapping[str, pa.DataType]) -> str | None:
    """GA4's ``event_params`` list as one JSON object ``{key: value}``; None without it."""
    if not is_nested(extra_type(types, "event_params")):
        return None
    params = "to_json(b._extra.event_params)"
    entry = (
        "{'k': p.key, 'v': coalesce(to_json(p.value.string_value), to_json(p.value.int_value), "
        "to_json(p.value.double_value), to_json(p.value.float_value))}"
    )
    pairs = f"list_transform(from_json({params}, '{_PARAM_SHAPE}'), p -> {entry})"
    return (
        f"CASE WHEN json_type({params}) = 'ARRAY' "
        f"THEN to_json(map_from_entries(list_filter({pairs}, e -> e.k IS NOT NULL))) END"
    )


def with_params(
    source: str, types: Mapping[str, pa.DataType]
) -> tuple[str, dict[str, pa.DataType]]:
    """``source`` with GA4's parameters as one object in the column ``_params``, built once
    per row for every lookup that reads it (five of them took half the import's time)."""
    params = None if PARAMS in types else _params_sql(types)
    if params is None:
        return source, dict(types)
    return f"(SELECT *, {params} AS {PARAMS} FROM {source} AS b)", {**types, PARAMS: pa.string()}


def nested_lookups(
    canonical: str,
    types: Mapping[str, pa.DataType],
    properties: str,
    decimal_comma: bool = False,
) -> list[str]:
    """SQL for each of ``canonical``'s nested sources this file has, best first, as text;
    ``properties`` is SQL for the row's ``properties`` column as text. ``decimal_comma``: a
    JSON number is written with a decimal comma, as the import reads text numbers then (a
    number is unambiguous: ``0.125`` is no 125)."""
    found = []
    for column, key in NESTED_SOURCES.get(canonical, ()):
        document: str | None
        if column == "properties":
            document = properties
        elif column == "event_params":
            document = params_object(types)
        elif is_nested(extra_type(types, column)):
            document = extra_json_text(types, column)
        else:
            document = None
        if document is not None:
            value = json_at(document, key)
            if decimal_comma:
                value = _comma_number(document, key, value)
            if canonical in LOWERED:
                value = f"lower({value})"
            elif canonical == "anonymous_id":
                value = without_device_prefix(value)
            elif canonical == "user_id" and key == "distinct_id":
                value = identified(value, json_at(document, "$device_id"))
            found.append(value)
    if canonical == "device":
        found += _snowplow_device(types) + _device_by_system(types, properties)
    return found


# Snowplow's ``dvce_type`` (from the user agent) as journeylens's device, any case; its other
# kinds (Game console, Wearable computer, Unknown, ...) are none of ours: they stay in
# ``properties`` only.
SNOWPLOW_DEVICES = {"computer": "desktop", "mobile": "mobile", "tablet": "tablet"}


def _snowplow_device(types: Mapping[str, pa.DataType]) -> list[str]:
    """``device`` from Snowplow's ``dvce_type`` (``Computer``, ``Mobile``, ``Tablet``), where
    the file has that column."""
    if not _is_string(extra_type(types, "dvce_type")):
        return []
    given = f"lower(trim(b._extra.{_quoted('dvce_type')}))"
    cases = " ".join(f"WHEN '{kind}' THEN '{ours}'" for kind, ours in SNOWPLOW_DEVICES.items())
    return [f"CASE {given} {cases} END"]


# Operating systems by the device they run on, as analytics SDKs name them (any case).
MOBILE_SYSTEMS = ("ios", "android")
DEVICES = ("desktop", "mobile", "tablet")
DESKTOP_SYSTEMS = ("windows", "mac os x", "macos", "linux", "chrome os", "ubuntu")
# Devices by their name, where the system says nothing (a web platform): regular expressions.
MOBILE_NAMES = r"iPhone|iPod|Android|Galaxy|Pixel|Phone|Mobile"
DESKTOP_NAMES = (
    r"^(Mac|Macintosh|MacBook|iMac|Windows|Linux|Chromebook|Chrome OS|Ubuntu|Desktop|PC)\b"
)


def _device_by_system(types: Mapping[str, pa.DataType], properties: str) -> list[str]:
    """``device`` from the operating system where an export names it: Mixpanel's
    ``properties.$os`` (with ``properties.$device``, ``iPad`` for a tablet) and Amplitude's
    ``platform`` (``iOS``, ``Android``; ``Web`` says nothing; a shop's log may name the device
    itself: ``desktop``, ``mobile``, ``tablet``) with its ``device_type``.
    ``tablet`` when the device's name says iPad or Tablet, ``mobile`` on iOS and Android,
    ``desktop`` on Windows, macOS, Linux and ChromeOS. A substring test first, so rows without
    ``$os`` cost no JSON parse."""
    found = []
    dtype = types.get("properties")
    if dtype is not None and not pa.types.is_null(dtype):
        system, name = json_at(properties, "$os"), json_at(properties, "$device")
        found.append(
            f"CASE WHEN contains({properties}, '\"$os\"') THEN {_by_system(system, name)} END"
        )
    if _is_string(extra_type(types, "platform")):
        names = [n for n in ("device_type", "device_family") if _is_string(extra_type(types, n))]
        name = f"b._extra.{_quoted(names[0])}" if names else "NULL"
        found.append(_by_system(f"b._extra.{_quoted('platform')}", name))
    return found


def _is_string(dtype: pa.DataType | None) -> bool:
    return dtype is not None and pa.types.is_string(dtype)


def _by_system(system: str, name: str) -> str:
    """The device from an operating system, or from a ``platform`` that names the device
    itself (``desktop``, ``mobile``, ``tablet``, as shops' logs do); where neither says (a web
    platform), from the device's name (Amplitude's ``device_type``: ``Mac``, ``Windows``,
    ``Apple iPhone``, ``Samsung Galaxy S9``)."""
    said = f"lower(trim({system}))"
    named = f"coalesce({name}, '')"
    return (
        f"CASE WHEN regexp_matches({named}, 'iPad|Tablet', 'i') THEN 'tablet' "
        f"WHEN {said} IN ({sql_strings(DEVICES)}) THEN {said} "
        f"WHEN {said} IN ({sql_strings(MOBILE_SYSTEMS)}) THEN 'mobile' "
        f"WHEN {said} IN ({sql_strings(DESKTOP_SYSTEMS)}) THEN 'desktop' "
        f"WHEN regexp_matches({named}, '{MOBILE_NAMES}', 'i') THEN 'mobile' "
        f"WHEN regexp_matches({named}, '{DESKTOP_NAMES}', 'i') THEN 'desktop' END"
    )


def sql_strings(values: Sequence[str]) -> str:
    """journeylens's own constant strings (never user input) as the items of a SQL list.

    >>> sql_strings(("ios", "android"))
    "'ios', 'android'"
    """
    return ", ".join(f"'{v}'" for v in values)


# White space as Unicode counts it (its White_Space property), a regex class: tab to carriage
# return, the next-line control, and the space, line and paragraph separators (the no-break,
# ideographic and other spaces among them). DuckDB's ``trim`` removes only the spaces.
WHITE_SPACE = r"[\t-\r\x{85}\p{Z}]"


def blank(text: str) -> str:
    """SQL: whether the SQL text ``text`` is white space alone (:data:`WHITE_SPACE`), or
    empty. Only text that starts with a byte below ``!`` (a space, a tab, a line break) or
    above ASCII (the lead byte of the other spaces) can be: other text pays no pattern."""
    return f"({text} < '!' OR {text} >= chr(128)) AND regexp_full_match({text}, '{WHITE_SPACE}*')"


TEXT_PREFIX = "__text_"  # the batch's columns as text (see ``batch_text``)


def batch_text(col: str) -> str:
    """A column as text, with empty strings (and strings of white space: spaces, tabs, line
    breaks, no-break spaces; see :func:`blank`) as missing.

    A column :func:`with_texts` adds to the batch ``b``: the parsing reads each text in many
    places, and naming it keeps its SQL from being repeated there (the staging query was twice
    as long, and the engine took twice as long to plan it, which a small import pays in full).
    """
    return f'b."{TEXT_PREFIX}{col}"'


def with_texts(source: str, columns: Iterable[str], replace: bool = False) -> str:
    """``source`` with ``columns`` also as text (:func:`batch_text`), or with their text replaced
    (where their values were replaced); the engine computes only those the parsing reads."""
    texts = []
    for col in columns:
        text = f'CAST("{col}" AS VARCHAR)'
        texts.append(f'CASE WHEN {blank(text)} THEN NULL ELSE {text} END AS "{TEXT_PREFIX}{col}"')
    if not texts:
        return source
    listed = f"* REPLACE ({', '.join(texts)})" if replace else f"*, {', '.join(texts)}"
    return f"(SELECT {listed} FROM {source})"


def trimmed(text: str) -> str:
    """SQL: the SQL text ``text`` without the white space around it (:data:`WHITE_SPACE`)."""
    return f"regexp_replace({text}, '^{WHITE_SPACE}+|{WHITE_SPACE}+$', '', 'g')"


def one_of(text: str, values: tuple[str, ...]) -> str:
    """Whether the SQL text ``text`` is one of ``values`` (journeylens's own constants). A
    function, where ``IN`` a list of constants becomes a join that carries every column of the
    batch: a file of a thousand columns then ran out of memory."""
    return f"list_contains([{sql_strings(values)}], {text})"


def lowered_in(text: str, values: str) -> str:
    """SQL: whether the SQL text ``text``, white space around it left out (:func:`trimmed`),
    is in lower case one of the SQL list ``values`` (of lower-case text)."""
    return f"list_contains({values}, lower({trimmed(text)}))"


# The characters other than A-Z whose lower case (DuckDB's ``lower``) is an ASCII letter: the
# dotted capital I and the Kelvin sign.
LOWERS_TO_ASCII = {"i": "\u0130", "k": "\u212a"}


def lower_match(values: Sequence[str]) -> str:
    r"""A pattern (RE2, for ``regexp_full_match``) that every text :func:`lowered_in`
    ``values`` matches: a cheap test before that exact one, which most text fails at its first
    characters.

    Each ASCII letter matches its two cases (and what else lowers to it); a character beyond
    ASCII matches any one character (lower case keeps the number of characters).

    >>> lower_match(["n/a", "nil"])
    '[\\t-\\r\\x{85}\\p{Z}]*(?:[nN]/[aA]|[nN][iI\\x{130}][lL])[\\t-\\r\\x{85}\\p{Z}]*'
    """

    def one(char: str) -> str:
        if char.isascii() and char.isalpha():
            extra = "".join(f"\\x{{{ord(c):x}}}" for c in LOWERS_TO_ASCII.get(char, ""))
            return f"[{char}{char.upper()}{extra}]"
        return re.escape(char) if char.isascii() else "."

    alternatives = "|".join("".join(one(c) for c in value) for value in values)
    return f"{WHITE_SPACE}*(?:{alternatives}){WHITE_SPACE}*"


# PostHog's $identify event: the anonymous distinct_id that the event's distinct_id now owns.
IDENTIFY_LINK = "$anon_distinct_id"
# Mixpanel's SDKs name an anonymous visitor ``$device:<id>`` in ``distinct_id`` (and in an
# ``$identify``'s ``$anon_distinct_id``) and ``<id>`` in ``$device_id``: the same visitor.
DEVICE_PREFIX = "$device:"


def without_device_prefix(value: str) -> str:
    """SQL: the anonymous id ``value`` (SQL text) without Mixpanel's ``$device:`` prefix."""
    cut = len(DEVICE_PREFIX) + 1
    return (
        f"CASE WHEN starts_with({value}, '{DEVICE_PREFIX}') THEN substr({value}, {cut}) "
        f"ELSE {value} END"
    )


def identified(distinct_id: str, device_id: str) -> str:
    """SQL: Mixpanel's ``distinct_id`` (SQL text) as the user's id; NULL where it names the
    device, as the row's ``$device_id`` (``device_id``, SQL) or as ``$device:<id>``."""
    return (
        f"CASE WHEN NOT starts_with({distinct_id}, '{DEVICE_PREFIX}') "
        f"AND {distinct_id} IS DISTINCT FROM {device_id} THEN {distinct_id} END"
    )


def identify_link(types: Mapping[str, pa.DataType], properties: str) -> str | None:
    """SQL for the anonymous id a row links to its own id (PostHog's ``$identify`` names it in
    ``properties.$anon_distinct_id``), NULL on other rows; None when the file has no
    ``properties``. A substring test first, so rows without it cost no JSON parse."""
    dtype = types.get("properties")
    if dtype is None or pa.types.is_null(dtype):
        return None
    found = without_device_prefix(trimmed(json_at(properties, IDENTIFY_LINK)))
    return f"CASE WHEN contains({properties}, '{IDENTIFY_LINK}') THEN nullif({found}, '') END"


def _comma_number(document: str, key: str, value: str) -> str:
    """SQL: ``value`` (``document``'s value at ``key`` as text) with a decimal comma where it
    is a JSON number."""
    path = _json_path(key)
    number = f"try(json_type({document}, '{path}')) IN ('DOUBLE', 'BIGINT', 'UBIGINT')"
    return f"CASE WHEN {number} THEN replace({value}, '.', ',') ELSE {value} END"


def _json_path(key: str) -> str:
    """The JSON path to the dotted ``key``, each part quoted."""
    return "$" + "".join('."' + part.replace('"', '\\"') + '"' for part in key.split("."))


# Mixpanel's alias call: ``properties.alias`` (the new id) names the person the existing
# ``properties.distinct_id`` is, as Segment's alias names its ``previousId``.
CREATE_ALIAS = "$create_alias"


def alias_link(
    types: Mapping[str, pa.DataType], properties: str, event: str
) -> tuple[str, str] | None:
    """SQL for the ids a Mixpanel ``$create_alias`` event (``event`` is SQL for the row's event
    name) links, ``(existing id, new id)``: ``properties.distinct_id`` without the ``$device:``
    prefix and ``properties.alias``, NULL on other rows; None when the file has no
    ``properties``."""
    dtype = types.get("properties")
    if dtype is None or pa.types.is_null(dtype):
        return None

    def on_alias(value: str) -> str:
        return f"CASE WHEN {event} = '{CREATE_ALIAS}' THEN nullif({trimmed(value)}, '') END"

    existing = without_device_prefix(trimmed(json_at(properties, "distinct_id")))
    return on_alias(existing), on_alias(json_at(properties, "alias"))


def json_at(text: str, key: str) -> str:
    """The JSON text ``text``'s value at the dotted ``key`` (a constant) as text; NULL when
    ``text`` is not valid JSON. Each part of the key is quoted, so ``$insert_id`` is one key."""
    path = _json_path(key)
    return f"CASE WHEN json_valid({text}) THEN json_extract_string({text}, '{path}') END"


def device_category(types: Mapping[str, pa.DataType]) -> str | None:
    """GA4's ``device`` object's ``category`` (desktop, mobile, tablet); None when the file's
    ``device`` is not an object."""
    if not is_nested(types.get("device")):
        return None
    return json_at(json_text("b.device", types["device"]), "category")


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
