"""The touchpoint catalog: which events are which touchpoint.

A match entry is an event name, a glob pattern of names (``checkout_*``), or either followed by
property conditions in the funnel steps' filter syntax (``$pageview[$current_url~*/pricing*]``),
for tools that send one event name for many touchpoints. Names are matched on the *distinct*
event names (a few, or hundreds of thousands where names carry ids), never per event: the
resulting name → touchpoint table is joined onto the events in the engine. Entries with
conditions become one ``CASE`` over the events, also in the engine, and win over names: they are
the more specific.
"""

from __future__ import annotations

import fnmatch
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from journeylens.config import Touchpoint
from journeylens.errors import ConfigError, SpecError
from journeylens.journey.steps import (
    Filter,
    Step,
    glob_test,
    has_conditions,
    split_conditions,
    step_predicate,
)

MAPPING_SCHEMA = pa.schema(
    [
        ("event", pa.string()),
        ("map_touchpoint", pa.string()),
        ("map_stage", pa.string()),
        ("map_channel", pa.string()),
    ]
)

# What to do about events no catalog entry maps (notes of the analyses that find none mapped).
UNMAPPED_HINT = (
    "'journeylens touchpoints' lists the unmapped events; map them in [[touchpoints]] of "
    "journeylens.toml or import a catalog (--kind touchpoints)."
)


@dataclass(frozen=True)
class ConditionalMatch:
    """A match entry with property conditions: events named ``name`` (a name or a glob; empty
    for any event) whose properties pass ``filters`` are ``touchpoint``."""

    touchpoint: Touchpoint
    name: str
    filters: tuple[Filter, ...]

    def predicate(self, events: ir.Table) -> ir.BooleanValue:
        glob = is_pattern(self.name)
        exact = self.name if self.name and not glob else None
        matched = step_predicate(Step(self.name, "event", exact, self.filters), events)
        if glob:
            return matched & glob_test(events.event, self.name).fill_null(False)
        return matched


def is_pattern(match: str) -> bool:
    return any(ch in match for ch in "*?[")


def conditional_matches(touchpoints: Sequence[Touchpoint]) -> list[ConditionalMatch]:
    """The catalog's entries with property conditions, in catalog order; a condition that does
    not parse is a :class:`ConfigError` naming the touchpoint."""
    found = []
    for tp in touchpoints:
        for entry in tp.match:
            try:
                split = split_conditions(entry)
            except SpecError as exc:
                raise ConfigError(f"Touchpoint {tp.touchpoint!r}, match {entry!r}: {exc}") from exc
            if split is not None:
                found.append(ConditionalMatch(tp, *split))
    return found


class NameMatcher:
    """Which touchpoint an event name belongs to, by the catalog's names and patterns.

    An exact name beats a pattern; among patterns the first in catalog order wins, so a catalog
    reads top to bottom like a routing table. Entries with property conditions are not matched
    here (see :class:`ConditionalMatch`). Built once per catalog: a dictionary of the exact
    names, and the patterns as one regular expression whose alternatives are tried in catalog
    order (a web shop's event names — one per product page — number in the hundreds of
    thousands; each is matched in microseconds).
    """

    def __init__(self, touchpoints: Sequence[Touchpoint]) -> None:
        self.exact: dict[str, Touchpoint] = {}
        self.by_pattern: list[Touchpoint] = []
        alternatives = []
        for tp in touchpoints:
            for entry in tp.match:
                if not is_pattern(entry):
                    self.exact.setdefault(entry, tp)
        for tp in touchpoints:
            for entry in tp.match:
                if is_pattern(entry) and not has_conditions(entry):
                    # ``fnmatch.translate`` has no capturing group of its own: the number of
                    # the group that matched names the entry.
                    alternatives.append(f"({fnmatch.translate(entry)})")
                    self.by_pattern.append(tp)
        self.patterns = re.compile("|".join(alternatives)) if alternatives else None

    def __call__(self, name: str) -> Touchpoint | None:
        found = self.exact.get(name)
        if found is not None or self.patterns is None:
            return found
        matched = self.patterns.match(name)
        return None if matched is None else self.by_pattern[(matched.lastindex or 1) - 1]


def shadowed_entries(touchpoints: Sequence[Touchpoint]) -> list[tuple[str, str, str]]:
    """``(touchpoint, entry, owner)`` for each match entry that can never place an event: the
    same exact name, or the same pattern, as an entry of ``owner``, earlier in the catalog
    (entries with property conditions are tried apart, and are left out).

    >>> from journeylens.config import Touchpoint
    >>> shadowed_entries([Touchpoint("cart", ("cart",), "decision"),
    ...                   Touchpoint("basket", ("cart", "basket_view"), "decision")])
    [('basket', 'cart', 'cart')]
    """
    owners: dict[str, str] = {}
    found = []
    for tp in touchpoints:
        for entry in tp.match:
            if has_conditions(entry):
                continue
            owner = owners.setdefault(entry, tp.touchpoint)
            if owner != tp.touchpoint:
                found.append((tp.touchpoint, entry, owner))
    return found


@functools.lru_cache(maxsize=8)
def _matcher(touchpoints: tuple[Touchpoint, ...]) -> NameMatcher:
    return NameMatcher(touchpoints)


def match_event(name: str, touchpoints: Sequence[Touchpoint]) -> Touchpoint | None:
    """The touchpoint an event name belongs to (see :class:`NameMatcher`).

    >>> from journeylens.config import Touchpoint
    >>> cat = [Touchpoint("checkout", ("checkout_*",), "decision"),
    ...        Touchpoint("payment", ("checkout_payment",), "decision")]
    >>> match_event("checkout_payment", cat).touchpoint
    'payment'
    >>> match_event("checkout_start", cat).touchpoint
    'checkout'
    """
    return _matcher(tuple(touchpoints))(name)


def mapping_table(event_names: Iterable[str], touchpoints: Sequence[Touchpoint]) -> pa.Table:
    """The name → (touchpoint, stage, channel) table for the given distinct event names."""
    match = _matcher(tuple(touchpoints))
    rows: dict[str, list[str | None]] = {f.name: [] for f in MAPPING_SCHEMA}
    for name in event_names:
        tp = match(name)
        if tp is None:
            continue
        rows["event"].append(name)
        rows["map_touchpoint"].append(tp.touchpoint)
        rows["map_stage"].append(tp.stage)
        rows["map_channel"].append(tp.channel)
    return pa.table(rows, schema=MAPPING_SCHEMA)


def catalog_table(touchpoints: Sequence[Touchpoint]) -> pa.Table:
    """The catalog as the canonical ``touchpoints`` table (match patterns joined by '|')."""
    from journeylens.schema import TOUCHPOINTS, arrow_schema

    rows = [
        {
            "touchpoint": t.touchpoint,
            "match": "|".join(t.match),
            "stage": t.stage,
            "channel": t.channel,
            "kind": t.kind,
            "cost": t.cost,
            "cost_period": t.cost_period,
            "owner": t.owner,
            "content_type": t.content_type,
        }
        for t in touchpoints
    ]
    return pa.Table.from_pylist(rows, schema=arrow_schema(TOUCHPOINTS))


def conditional_placement(
    events: ir.Table, matches: Sequence[ConditionalMatch]
) -> tuple[ir.StringValue, ir.StringValue, ir.StringValue] | None:
    """The touchpoint, stage and channel of the first entry in ``matches`` an event passes
    (null where none does); None without entries."""
    if not matches:
        return None
    tests = [match.predicate(events) for match in matches]

    def pick(values: list[str | None]) -> ir.StringValue:
        cases = [(test, ibis.literal(v, "string")) for test, v in zip(tests, values, strict=True)]
        return ibis.cases(*cases, else_=ibis.null("string"))

    return (
        pick([m.touchpoint.touchpoint for m in matches]),
        pick([m.touchpoint.stage for m in matches]),
        pick([m.touchpoint.channel for m in matches]),
    )
