"""Breakdowns: the values a unit (a person, an attempt) is counted under, the largest kept.

A unit without a value counts under ``"(none)"``; the ``top`` values with the most units are
kept and the rest become ``"(other)"`` (ties: the value's text in order).
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.errors import SpecError
from journeylens.journey.steps import check_keys_present, property_key

NONE_LABEL = "(none)"
OTHER_LABEL = "(other)"
SEGMENT = "segment"

__all__ = [
    "NONE_LABEL",
    "OTHER_LABEL",
    "SEGMENT",
    "breakdown_field",
    "by_value_frames",
    "largest_first",
    "segment_columns",
    "with_top_values",
]


def segment_columns(table: ir.Table) -> list[str]:
    """``["segment"]`` where ``table`` carries a breakdown's segment, else ``[]``: what to add
    to a group-by so that one query answers every segment."""
    return [SEGMENT] if SEGMENT in table.columns else []


def with_top_values(units: ir.Table, top: int) -> ir.Table:
    """``units`` (one row per unit, its breakdown value in ``value``) with its ``segment``: the
    value where it is among the ``top`` with the most units, else ``"(other)"``.

    Examples
    --------
    >>> units = ibis.memtable({"value": ["a", "a", "b", "c"]})
    >>> sorted(with_top_values(units, 1).execute()["segment"])
    ['(other)', '(other)', 'a', 'a']
    """
    sizes = units.group_by("value").aggregate(members=units.count())
    ranked = sizes.select(
        r_value=sizes.value,
        place=ibis.row_number().over(order_by=[sizes.members.desc(), sizes.value.asc()]),
    )
    joined = units.join(ranked, units.value == ranked.r_value)
    segment = ibis.ifelse(joined.place < top, joined.value, ibis.literal(OTHER_LABEL))
    return joined.select(*[units[c] for c in units.columns], **{SEGMENT: segment})


def largest_first(frame: pd.DataFrame, size: str) -> pd.DataFrame:
    """Rows of a breakdown (a ``segment`` each) with the largest ``size`` first, ``"(other)"``
    last, ties by the value."""
    last = frame[SEGMENT] == OTHER_LABEL
    return (
        frame.assign(_other=last)
        .sort_values(["_other", size, SEGMENT], ascending=[True, False, True])
        .drop(columns="_other")
    )


def breakdown_field(
    events: ir.Table, by: str | None, fields: Sequence[str], clash: str, top: int = 10
) -> str | None:
    """The field a breakdown's value goes in (the key, a property without ``properties.``), or
    a :class:`SpecError` for ``top`` < 1, a key that names one of the records' ``fields``
    (``clash`` says what it would share a name with; ``{field}`` stands for the name) or a key
    no event has.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01", {"market": "se"})]}))
    >>> breakdown_field(table, "properties.market", ["count"], "the field '{field}'")
    'market'
    """
    if by is None:
        return None
    if not isinstance(by, str):
        raise SpecError(f"A breakdown is by one key (by='device'), not {by!r}.")
    if isinstance(top, bool) or not isinstance(top, int):
        raise SpecError(f"top must be a whole number, not {top!r}.")
    if top < 1:
        raise SpecError(f"top must be at least 1, not {top}.")
    field = property_key(by)
    if field in fields:
        raise SpecError(
            f"A breakdown by '{by}' would share a name with {clash.format(field=field)}."
        )
    check_keys_present(events, [by], "--by")
    return field


def by_value_frames(
    frame: pd.DataFrame | None, field: str | None
) -> list[tuple[str, pd.DataFrame]]:
    """Each value of a breakdown and its rows without the value, in the frame's order (none
    without a breakdown: no ``frame`` or no ``field``)."""
    if frame is None or field is None:
        return []
    values = list(dict.fromkeys(frame[field].tolist()))
    rest = [c for c in frame.columns if c != field]
    return [(str(v), frame.loc[frame[field] == v, rest].reset_index(drop=True)) for v in values]
