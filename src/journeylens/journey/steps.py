"""Funnel steps and durations: parse the user's text once, then match events in the engine or in
Python with the same rules.

A step is ``[kind:]name[filter]...`` where ``kind`` is ``event`` (the default), ``touchpoint`` or
``stage``, and each ``[key op value]`` filter compares a canonical column or a JSON property of the
event. A name with ``*`` or ``?`` is a glob (``page_view:/product/*``), unless it is in quotes. A
step may be filters alone (``[plan=pro]``: any event with that property).
"""

from __future__ import annotations

import json
import math
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir

from journeylens.errors import SpecError, did_you_mean
from journeylens.schema import EVENTS
from journeylens.store.portable import (
    KEY_CHARS,
    KEY_PART,
    KEY_START,
    json_boolean,
    json_number,
    json_string,
)

# Which column each step kind matches its name against.
KIND_COLUMNS: dict[str, str] = {"event": "event", "touchpoint": "touchpoint", "stage": "stage"}

DURATION_UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DURATION_WORDS: dict[str, str] = {
    "s": "second",
    "m": "minute",
    "h": "hour",
    "d": "day",
    "w": "week",
}

OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
    "=": operator.eq,
    "~": lambda value, pattern: glob_matches(value, pattern),
}
# Characters that make a step's unquoted name a glob: ``*`` any text, ``?`` one character.
GLOB_CHARS = "*?"
# The operators that take text: ``~`` matches a glob (``*pricing*``), as ``--where`` does.
EQUALITY = frozenset({"=", "!=", "~"})

# Columns a filter may not name: times have since/until, properties are reached by key.
UNFILTERABLE = frozenset({"ts", "received_at", "properties"})

_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$")
_KIND = re.compile(r"^([A-Za-z_]+):(.*)$", re.DOTALL)
# A name in quotes, for names that hold ``[`` or start like a kind (``"Add: to cart [blue]"``).
_QUOTED_NAME = re.compile(
    r"""^\s*(?:"(?P<double>[^"]*)"|'(?P<single>[^']*)')(?P<tail>.*)$""", re.DOTALL
)
# A filter's opening: "[", a key (checked apart by ``check_key``, for a clear message) and an
# operator.
_FILTER_START = rf"\[\s*(?P<key>[{KEY_START}][.{KEY_CHARS}]*)\s*(?P<op>>=|<=|!=|>|<|=|~)"
_FILTER = re.compile(_FILTER_START + r"""\s*(?P<value>"[^"]*"|'[^']*'|[^\]]*?)\s*\]""")
# A JSON property: a name, or names joined by dots for a value inside nested objects
# (``event_properties.plan``, ``event_params.page_location``).
_PROPERTY_KEY = re.compile(rf"^{KEY_PART}(\.{KEY_PART})*$")
# A property written as text that a numeric filter reads as a number (CSV columns and JSON
# Lines scalars reach ``properties`` as text): a decimal with an optional exponent.
NUMBER_TEXT = r"[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?"
_NUMBER_TEXT = re.compile(NUMBER_TEXT)


@dataclass(frozen=True)
class Filter:
    """One ``[key op value]`` condition; ``value`` is a float when it was written as a number."""

    key: str
    op: str
    value: str | float
    raw: str = ""

    @property
    def is_column(self) -> bool:
        return self.key in EVENTS.names


@dataclass(frozen=True)
class Step:
    """A parsed funnel step: what it matches and how it was written."""

    text: str
    kind: str
    name: str | None
    filters: tuple[Filter, ...] = ()
    pattern: bool = False  # ``name`` is a glob (see ``GLOB_CHARS``)

    @property
    def label(self) -> str:
        return self.text


MAX_DURATION = 36_500 * 86_400  # 100 years: longer windows overflow the engines' time arithmetic


@dataclass(frozen=True)
class Duration:
    """A duration as written: a positive whole ``number`` of a ``unit`` (s, m, h, d or w).

    Examples
    --------
    >>> d = Duration.parse(" 30d ")
    >>> d.seconds, d.words(), str(d)
    (2592000, '30 days', '30d')
    >>> Duration.parse("1w").words()
    '1 week'
    """

    number: int
    unit: str

    @classmethod
    def parse(cls, text: str, what: str = "") -> Duration:
        """Read ``text`` (spaces around it and between number and unit allowed); a
        :class:`SpecError` naming ``what`` (the option, ``within``) when it is no positive
        duration or longer than :data:`MAX_DURATION`."""
        match = _DURATION.match(text) if isinstance(text, str) else None
        given = f" for {what}" if what else ""
        if not match or int(match[1]) == 0:
            raise SpecError(
                f"Invalid duration {text!r}{given}: write a positive whole number and a unit "
                "(s, m, h, d or w), for example '30m', '2h', '7d' or '1w'."
            )
        duration = cls(int(match[1]), match[2])
        if duration.seconds > MAX_DURATION:
            raise SpecError(
                f"Invalid duration {text!r}{given}: at most {MAX_DURATION // 86400}d "
                "(100 years), which already spans any data."
            )
        return duration

    def __str__(self) -> str:
        return f"{self.number}{self.unit}"

    @property
    def seconds(self) -> int:
        return self.number * DURATION_UNITS[self.unit]

    def words(self) -> str:
        """``30 days``, ``1 week``."""
        return f"{self.number} {DURATION_WORDS[self.unit]}{'' if self.number == 1 else 's'}"


def parse_duration(text: str, what: str = "") -> int:
    """Parse a duration such as ``30s``, ``30m``, ``2h``, ``7d`` or ``1w`` into whole seconds.

    Parameters
    ----------
    text
        A positive whole number followed by one unit: ``s``, ``m``, ``h``, ``d`` or ``w``.
    what
        The option it was given as, named in the error (``within``).

    Returns
    -------
    int
        The duration in seconds (see :class:`Duration`).

    Raises
    ------
    SpecError
        When the text is not a positive duration.

    Examples
    --------
    >>> parse_duration("2h")
    7200
    >>> parse_duration("14d")
    1209600
    """
    return Duration.parse(text, what).seconds


def unquoted(raw: str) -> str:
    """A filter's value without the quotes around it (``"spring sale"``, ``'pro'``)."""
    return raw[1:-1] if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "\"'" else raw


def _value(raw: str) -> str | float:
    if unquoted(raw) != raw:
        return raw[1:-1]
    try:
        number = float(raw)
    except ValueError:
        return raw
    return number if math.isfinite(number) else raw


def _check_filter(item: Filter, text: str, what: str = "step") -> None:
    if not item.is_column:
        check_key(item.key, "filter key")
    dtype = EVENTS[item.key] if item.is_column else None
    if item.key in UNFILTERABLE:
        raise SpecError(
            f"{what.capitalize()} {text!r} filters on {item.key!r}, which cannot be filtered "
            "by a condition; "
            "use since/until for times and name JSON properties directly, e.g. [plan=pro]."
        )
    if dtype is not None and dtype.is_numeric() and not isinstance(item.value, float):
        raise SpecError(
            f"{what.capitalize()} {text!r} compares the numeric column {item.key!r} with "
            f"{item.value!r}; "
            "write a number, e.g. [revenue>100]."
        )
    numeric_target = dtype.is_numeric() if dtype is not None else isinstance(item.value, float)
    if item.op not in EQUALITY and not numeric_target:
        raise SpecError(
            f"{what.capitalize()} {text!r} uses {item.op!r} with the text value {item.value!r}; "
            "only =, != and ~ compare text, >, >=, <, <= need a number."
        )


def _parse_filters(rest: str, text: str, what: str = "step") -> tuple[str, tuple[Filter, ...]]:
    start = rest.find("[")
    if start < 0:
        return rest.strip(), ()
    name, tail = rest[:start].strip(), rest[start:]
    filters: list[Filter] = []
    while tail.strip():
        match = _FILTER.match(tail.strip())
        if not match:
            raise SpecError(
                f"Cannot read the filter {tail.strip()!r} in {what} {text!r}: write "
                "[key op value] with op one of =, !=, >, >=, <, <=, ~ (a glob), "
                "e.g. event:purchase[revenue>100]; quote a name that holds brackets, "
                'e.g. "Add to cart [blue]".'
            )
        raw = match["value"]
        value = _value(raw) if match["op"] != "~" else unquoted(raw)  # a glob is text
        item = Filter(match["key"], match["op"], value, raw.strip("\"'"))
        _check_filter(item, text, what)
        filters.append(item)
        tail = tail.strip()[match.end() :]
    return name, tuple(filters)


# Where a catalog entry's property conditions start (a glob's character class, ``[ab]``, has no
# operator).
_CONDITIONS = re.compile(_FILTER_START)


# A glob's set of characters: "[", one or more characters, "]".
_GLOB_CLASS = re.compile(r"\[[^\[\]]+\]")


def has_conditions(entry: str) -> bool:
    """Whether a catalog match entry carries property conditions (without parsing them)."""
    return _CONDITIONS.search(entry) is not None


def split_conditions(entry: str) -> tuple[str, tuple[Filter, ...]] | None:
    """A catalog match entry's event name (or glob, or ``""``) and its property conditions;
    None when it has none. A condition that does not parse is a :class:`SpecError`.

    >>> split_conditions("$pageview[$current_url~*/pricing*]")[1][0].op
    '~'
    >>> split_conditions("checkout_[ab]*") is None
    True
    """
    start = _CONDITIONS.search(entry)
    if start is None:
        if "[" in _GLOB_CLASS.sub("", entry):
            raise SpecError(
                f"Catalog entry {entry!r}: a '[' opens neither a property condition "
                "([key op value], e.g. [plan=pro]) nor a set of characters ([ab])."
            )
        return None
    tail = entry[start.start() :]
    _, filters = _parse_filters(tail, entry, "catalog entry")
    return entry[: start.start()].strip(), filters


def parse_step(text: str) -> Step:
    """Parse one funnel step written as ``[kind:]name[key op value]...``.

    Parameters
    ----------
    text
        ``event:NAME``, ``touchpoint:NAME`` or ``stage:NAME``; a bare ``NAME`` means
        ``event:NAME``. A name in quotes is taken as written (``"Add to cart [blue]"``, whose
        brackets are no filter). Filters in brackets compare a canonical column (``channel``,
        ``revenue``, ...) or a JSON property; numbers compare numerically, quoted or other
        values compare as text (``=`` and ``!=`` only). A step may be filters alone.

    Returns
    -------
    Step
        The parsed step; its ``label`` is the text as written (stripped).

    Raises
    ------
    SpecError
        When the kind is unknown, the name is empty or a filter cannot be read.

    Examples
    --------
    >>> step = parse_step("event:purchase[revenue>100]")
    >>> step.kind, step.name, step.filters[0].op, step.filters[0].value
    ('event', 'purchase', '>', 100.0)
    >>> parse_step("signup").kind
    'event'
    >>> parse_step('touchpoint:"Home > Shop [beta]"[device=mobile]').name
    'Home > Shop [beta]'
    >>> parse_step("event:page_view:/product/*").pattern, parse_step('"What?"').pattern
    (True, False)
    """
    if not isinstance(text, str) or not text.strip():
        raise SpecError(f"Empty funnel step {text!r}: name an event, e.g. 'event:signup'.")
    clean = text.strip()
    kind, rest = "event", clean
    match = _KIND.match(clean)
    if match and "[" not in match[1]:
        kind, rest = match[1], match[2]
        if kind not in KIND_COLUMNS:
            raise SpecError(
                f"Unknown step kind {kind!r} in step {clean!r}.{did_you_mean(kind, KIND_COLUMNS)}"
                f" Known: {', '.join(repr(k) for k in KIND_COLUMNS)}; for an event whose name "
                f"contains ':', write 'event:{clean}' or quote the name."
            )
    quoted = _quoted_name(rest, clean)
    name, filters = quoted or _parse_filters(rest, clean)
    if not name and not filters:
        raise SpecError(f"Step {clean!r} names nothing: write e.g. 'event:signup' or '[plan=pro]'.")
    pattern = quoted is None and any(ch in name for ch in GLOB_CHARS)
    return Step(text=clean, kind=kind, name=name or None, filters=filters, pattern=pattern)


def _quoted_name(rest: str, text: str) -> tuple[str, tuple[Filter, ...]] | None:
    """A quoted name and the filters after it; None when the name is not quoted."""
    match = _QUOTED_NAME.match(rest)
    if match is None:
        return None
    tail = match["tail"].strip()
    if tail and not tail.startswith("["):
        raise SpecError(
            f"Step {text!r} has {tail!r} after its quoted name: only [key op value] filters "
            "may follow it."
        )
    name = match["double"] if match["double"] is not None else match["single"]
    return name, _parse_filters(tail, text)[1]


def check_key(key: str, what: str) -> str:
    """Validate a breakdown or filter key: a canonical column or a JSON property name."""
    if key in UNFILTERABLE or not _PROPERTY_KEY.match(key or ""):
        raise SpecError(
            f"Invalid {what} {key!r}: name a canonical column such as 'channel' or 'device', "
            "or a JSON property made of letters, digits, '_', '$' and '-' (a.b for b inside a)."
        )
    return key


def glob_to_regex(pattern: str) -> str:
    """A glob (``*error*``) as an anchored regular expression: ``*`` any text, ``?`` one character.

    A regular expression rather than LIKE: engines disagree on LIKE's escape character, which
    matters for the ``_`` in names such as ``card_declined``.

    >>> glob_to_regex("card_*")
    '^card_.*$'
    """
    parts = ("." if c == "?" else ".*" if c == "*" else re.escape(c) for c in pattern)
    return "^" + "".join(parts) + "$"


def glob_matches(value: str, pattern: str) -> bool:
    """Whether ``value`` matches the glob, in Python (the twin of :func:`glob_test`)."""
    return re.search(glob_to_regex(pattern), value) is not None


def glob_test(text: ir.StringValue, pattern: str) -> ir.BooleanValue:
    """Whether ``text`` matches the glob, in the engine: a substring, prefix, suffix or exact
    test where the glob is one (ten times cheaper than a regular expression), else the
    regular expression."""
    inner = pattern.strip("*")
    if not inner or "*" in inner or "?" in pattern:
        return text.re_search(glob_to_regex(pattern))
    starts, ends = pattern.startswith("*"), pattern.endswith("*")
    if starts and ends:
        return text.contains(inner)
    if ends:
        return text.startswith(inner)
    return text.endswith(inner) if starts else text == inner


# --- in the engine -------------------------------------------------------------------------------


def key_text(table: ir.Table, key: str) -> ir.StringValue:
    """A canonical column or JSON property as text (numbers as their float text, ``true`` and
    ``false`` as those words); a property may be named as ``--where`` names it,
    ``properties.KEY``."""
    if key in EVENTS.names:
        return table[key].cast("string")
    key = property_key(key)
    number = json_number(table.properties, key).cast("string")
    return property_text(table, key).coalesce(number)


def property_text(table: ir.Table, key: str) -> ir.StringValue:
    """A JSON property that is text, or ``true``/``false`` as those words (how a filter such
    as ``[vip=true]`` compares it); null for numbers, objects, lists and nulls.

    Examples
    --------
    >>> t = ibis.memtable({"properties": ['{"vip": true}', '{"vip": "gold"}', '{"vip": 1}']})
    >>> property_text(t, "vip").execute().tolist()
    ['true', 'gold', None]
    """
    # Both engines write a boolean as text as "true" or "false".
    words = json_boolean(table.properties, key).cast("string")
    return json_string(table.properties, key).coalesce(words)


def property_key(key: str) -> str:
    """``key`` without a leading ``properties.``: the JSON property it names.

    >>> property_key("properties.plan"), property_key("plan")
    ('plan', 'plan')
    """
    return key.removeprefix("properties.")


def property_number(table: ir.Table, key: str) -> ir.FloatingValue:
    """A JSON property as a number: a JSON number, or text that reads as one (``"25"``)."""
    text = json_string(table.properties, key).strip()
    from_text = text.re_search(f"^{NUMBER_TEXT}$").ifelse(
        text.try_cast("float64"), ibis.null("float64")
    )
    return json_number(table.properties, key).coalesce(from_text)


def with_revenue_from(events: ir.Table, key: str, goals: Sequence[str]) -> ir.Table:
    """``events`` whose conversions (events named one of ``goals``), where they have no
    ``revenue``, take the number in their property ``key`` as it (a shop's log that keeps an
    order's value as ``price`` or ``amount``, on its views too).

    Examples
    --------
    >>> t = ibis.memtable({"event": ["purchase", "purchase", "view"], "revenue": [None, 5.0, None],
    ...                    "properties": ['{"price": "12.5"}', '{"price": 9}', '{"price": 3}']})
    >>> with_revenue_from(t, "price", ["purchase"]).revenue.to_list()
    [12.5, 5.0, None]
    """
    check_key(key, "revenue property")
    converted = events.event.isin(list(goals)).fill_null(False)
    from_property = converted.ifelse(property_number(events, key), ibis.null("float64"))
    return events.mutate(revenue=events.revenue.coalesce(from_property))


def property_condition(table: ir.Table, key: str, op: str, raw: str, text: str) -> ir.BooleanValue:
    """``properties.key op raw`` as a step's ``[key op raw]`` compares it: a value written as
    a number compares numerically, with JSON numbers and numeric text alike (``text``: the
    condition as written, for errors)."""
    value = _value(raw) if op != "~" else unquoted(raw)
    item = Filter(key, op, value, raw.strip("\"'"))
    _check_filter(item, text, "filter")
    return _filter_expr(table, item)


def _filter_expr(table: ir.Table, item: Filter) -> ir.BooleanValue:
    if item.op == "~":
        text = table[item.key].cast("string") if item.is_column else key_text(table, item.key)
        return glob_test(text, str(item.value))
    compare = OPERATORS[item.op]
    if item.is_column:
        column = table[item.key]
        if column.type().is_numeric():
            return compare(column.cast("float64"), ibis.literal(item.value, "float64"))
        return compare(column, ibis.literal(item.raw, "string"))
    if isinstance(item.value, float):
        return compare(property_number(table, item.key), ibis.literal(item.value, "float64"))
    return compare(property_text(table, item.key), ibis.literal(item.value, "string"))


def step_predicate(step: Step, table: ir.Table) -> ir.BooleanValue:
    """The engine predicate of a step over an events table (never null: missing means no match).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.schema import EVENTS
    >>> t = ibis.table(EVENTS, name="events")
    >>> _ = step_predicate(parse_step("purchase[revenue>100]"), t)
    """
    parts: list[ir.BooleanValue] = []
    if step.name is not None:
        parts.append(_name_test(step, table))
    parts.extend(_filter_expr(table, item) for item in step.filters)
    predicate = parts[0]
    for part in parts[1:]:
        predicate = predicate & part
    return predicate.fill_null(False)


def _name_test(step: Step, table: ir.Table) -> ir.BooleanValue:
    column = table[KIND_COLUMNS[step.kind]]
    if step.pattern:
        return glob_test(column, str(step.name))
    return column == ibis.literal(step.name, "string")


def any_step_predicate(steps: Sequence[Step], table: ir.Table) -> ir.BooleanValue | None:
    """A cheap predicate every event matching one of ``steps`` satisfies (None when there is
    none: a step of filters alone can match any event).

    Names become one ``IN`` list per column, which the engine tests far faster than a chain of
    equalities (globs are tested each); the exact step predicates are then evaluated on the few
    rows that pass.
    """
    names: dict[str, set[str]] = {}
    tests: list[ir.BooleanValue] = []
    for step in steps:
        if step.name is None:
            return None
        if step.pattern:
            tests.append(_name_test(step, table))
        else:
            names.setdefault(KIND_COLUMNS[step.kind], set()).add(step.name)
    tests += [table[column].isin(sorted(values)) for column, values in names.items()]
    if not tests:
        return None
    predicate = tests[0]
    for test in tests[1:]:
        predicate = predicate | test
    return predicate  # a filter: null (no value) keeps nothing, as False would


# --- in Python (the reference) -------------------------------------------------------------------


def _row_value(row: Mapping[str, Any], item: Filter) -> Any:
    if item.is_column:
        return row.get(item.key)
    value = _property(row, item.key)
    if isinstance(item.value, float):
        return json_value_number(value)
    return json_value_text(value)


def json_value_text(value: Any) -> str | None:
    """A JSON value as :func:`property_text` reads it: text as it is, ``true``/``false`` as
    those words; None for anything else."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else None


def json_value_number(value: Any) -> float | None:
    """A JSON value as :func:`property_number` reads it: a number, or text that reads as one
    (``"25"``); None for anything else (``true``, ``"n/a"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        return float(value)
    return None


def _property(row: Mapping[str, Any], key: str) -> Any:
    """The value at ``key`` of the row's ``properties`` (dots step into nested objects)."""
    try:
        value: Any = json.loads(row.get("properties") or "{}")
    except ValueError:
        return None
    for name in key.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def step_matches(step: Step, row: Mapping[str, Any]) -> bool:
    """Whether one event (a dict of canonical columns) matches the step, in plain Python.

    Examples
    --------
    >>> step_matches(parse_step("purchase[revenue>100]"), {"event": "purchase", "revenue": 120.0})
    True
    """
    if step.name is not None and not name_matches(step, row.get(KIND_COLUMNS[step.kind])):
        return False
    for item in step.filters:
        value = _row_value(row, item)
        if value is None:
            return False
        target: Any = item.value
        if item.is_column and EVENTS[item.key].is_numeric():
            value = float(value)
        elif item.is_column:
            target = item.raw
        if not OPERATORS[item.op](value, target):
            return False
    return True


def name_matches(step: Step, value: str | None) -> bool:
    """Whether a step's name (a glob where ``step.pattern``) matches ``value``, in Python."""
    if value is None or step.name is None:
        return False
    if step.pattern:
        return glob_matches(value, step.name)
    return value == step.name


def row_key_text(row: Mapping[str, Any], key: str) -> str | None:
    """The Python twin of :func:`key_text` for the reference."""
    if key in EVENTS.names:
        value = row.get(key)
        return None if value is None else str(value)
    value = _property(row, key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(float(value))
    return json_value_text(value)


def distinct_values(events: ir.Table, column: str) -> set[str]:
    """The values ``column`` takes in ``events`` (one small query), for checking names."""
    values = events.select(column).distinct().to_pyarrow().column(0).to_pylist()
    return {value for value in values if value is not None}


PROPERTY_SAMPLE = 2000  # events whose property names a "did you mean" is drawn from


def property_names(events: ir.Table, sample: int = PROPERTY_SAMPLE) -> set[str]:
    """The property names (``a`` and ``a.b`` one level down) of a sample of events."""
    rows = events.filter(events.properties.notnull()).select("properties").limit(sample)
    names: set[str] = set()
    for text in rows.to_pyarrow().column(0).to_pylist():
        try:
            found = json.loads(text)
        except ValueError:
            continue
        if isinstance(found, dict):
            for name, value in found.items():
                names.add(name)
                if isinstance(value, dict):
                    names.update(f"{name}.{inner}" for inner in value)
    return names


def check_keys_present(events: ir.Table, keys: Sequence[str], what: str) -> None:
    """Raise :class:`SpecError` for a property key that no event carries.

    A canonical column is always there (its nulls are the value ``(none)``); a property
    nobody has would put every person in ``(none)``, which is nearly always a typo: "No event
    has the property 'platfrom' (--by). Did you mean 'platform'?". One query per property
    key, which stops at the first event that has it.
    """
    for key in keys:
        if key in EVENTS.names:
            continue
        if events.filter(key_text(events, key).notnull()).limit(1).count().execute():
            continue
        seen = property_names(events)
        if property_key(key) in seen:
            raise SpecError(
                f"The property '{key}' ({what}) holds no text, number, true or false on any "
                "event (only objects, lists or nulls): name a key inside it, e.g. "
                f"'{property_key(key)}.name'."
            )
        shown = ", ".join(sorted(seen)[:30]) or "none"
        near = did_you_mean(property_key(key), [*seen, *EVENTS.names])
        raise SpecError(
            f"No event has the property '{key}' ({what}).{near} "
            f"Properties seen: {shown}; or a column such as channel, device, campaign."
        )


def _step_place(number: int, text: str, steps: int) -> str:
    """Where a step text stands: ``in step 2 ('checkout')`` or ``in --exclude ('refund')``."""
    return f"in step {number} ('{text}')" if number <= steps else f"in --exclude ('{text}')"


def check_event_names(events: ir.Table, names: Sequence[str], role: str) -> None:
    """Raise :class:`SpecError` for a name that no event has, taken as it is written (as
    goals are: ``[x]`` is a name, not a filter; ``purch*`` no pattern). One small query."""
    known = distinct_values(events, "event")
    for name in names:
        if name not in known:
            raise SpecError(
                f"Unknown event '{name}' {role}.{did_you_mean(name, known)} "
                "No event in the data has it."
            )


def check_step_names(
    events: ir.Table, texts: Sequence[str], role: str | None = None, exclusions: int = 0
) -> None:
    """Raise :class:`SpecError` for a step whose name occurs nowhere in ``events``.

    One small query per step kind used (the distinct values of its column), so a typo is
    caught before a funnel quietly counts zero: "Unknown event 'chekout' in step 2. Did you
    mean 'checkout'?". ``role`` names what the steps are for instead ("as the goal").
    """
    steps = [parse_step(text) for text in texts]
    known: dict[str, set[str]] = {}
    for number, step in enumerate(steps, start=1):
        if step.name is None:
            continue
        column = KIND_COLUMNS[step.kind]
        if column not in known:
            known[column] = distinct_values(events, column)
        if step.pattern and not any(name_matches(step, value) for value in known[column]):
            where = role or _step_place(number, step.text, len(steps) - exclusions)
            raise SpecError(f"No {step.kind} in the data matches '{step.name}' {where}.")
        if not step.pattern and step.name not in known[column]:
            where = role or _step_place(number, step.text, len(steps) - exclusions)
            raise SpecError(
                f"Unknown {step.kind} '{step.name}' {where}."
                f"{did_you_mean(step.name, known[column])} No event in the data has it."
            )
