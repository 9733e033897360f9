"""The touchpoint catalog: which event names are which touchpoint.

Matching runs on the *distinct* event names (a small set), never per event: the resulting
name → touchpoint table is joined onto the events in the engine.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

import pyarrow as pa

from journeylens.config import Touchpoint

MAPPING_SCHEMA = pa.schema(
    [
        ("event", pa.string()),
        ("map_touchpoint", pa.string()),
        ("map_stage", pa.string()),
        ("map_channel", pa.string()),
    ]
)


def is_pattern(match: str) -> bool:
    return any(ch in match for ch in "*?[")


def match_event(name: str, touchpoints: Sequence[Touchpoint]) -> Touchpoint | None:
    """The touchpoint an event name belongs to.

    An exact name beats a pattern; among patterns the first in catalog order wins, so a catalog
    reads top to bottom like a routing table.

    >>> from journeylens.config import Touchpoint
    >>> cat = [Touchpoint("checkout", ("checkout_*",), "decision"),
    ...        Touchpoint("payment", ("checkout_payment",), "decision")]
    >>> match_event("checkout_payment", cat).touchpoint
    'payment'
    >>> match_event("checkout_start", cat).touchpoint
    'checkout'
    """
    for tp in touchpoints:
        if any(m == name for m in tp.match if not is_pattern(m)):
            return tp
    for tp in touchpoints:
        if any(fnmatch.fnmatchcase(name, m) for m in tp.match if is_pattern(m)):
            return tp
    return None


def mapping_table(event_names: Iterable[str], touchpoints: Sequence[Touchpoint]) -> pa.Table:
    """The name → (touchpoint, stage, channel) table for the given distinct event names."""
    rows: dict[str, list[str | None]] = {f.name: [] for f in MAPPING_SCHEMA}
    for name in event_names:
        tp = match_event(name, touchpoints)
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
