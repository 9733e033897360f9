"""Paths broken down by a key: each person's pairs and paths counted under one value.

A person counts under the value of ``by`` (a column, or a property as ``plan`` or
``properties.plan``) at their first analysed event: the first of their sequence, after
``since``/``until`` and any filter (the stage flow takes the first *staged* event). Without a
value it is ``"(none)"``; the ``top`` values with the most people are kept and the rest pooled
as ``"(other)"`` (:mod:`.breakdown`). The graph and the top paths are then grouped by the value
too, in the one query that groups them by node: never a query per value. The same query
counts every row a second time under a null value, which gives the overall result: the pairs
(or paths) are made once for both.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import NONE_LABEL, SEGMENT, largest_first, with_top_values
from journeylens.analytics.sequence import text_order
from journeylens.journey.steps import key_text

MEMBERS = "members"  # people under a value, which orders the values (most first)

__all__ = [
    "MEMBERS",
    "in_value_order",
    "person_segments",
    "with_members",
    "with_overall",
    "with_segment",
]


def person_segments(analysed: ir.Table, by: str, top: int, keyed: bool) -> ir.Table:
    """One row per person of ``analysed`` (events already cut by rule 1): ``person_``, and the
    ``segment`` of the value at their first event.

    ``keyed``: people are told by the stored ``person_key`` and ordered by ``person_seq``, so
    the first event is an aggregate (``argmin``) instead of a window sorting every event.
    """
    value = key_text(analysed, by).fill_null(NONE_LABEL)
    if keyed:
        people = analysed.group_by(person=analysed.person_key).aggregate(
            value=value.argmin(analysed.person_seq)
        )
    else:
        window = ibis.window(group_by=analysed.person_id, order_by=text_order(analysed))
        ranked = analysed.select(
            person=analysed.person_id, value=value, rank=ibis.row_number().over(window)
        )
        people = ranked.filter(ranked.rank == 0).select("person", "value")
    segments = with_top_values(people, top)
    return segments.select(person_=segments.person, segment=segments[SEGMENT])


def with_segment(rows: ir.Table, person: str, segments: ir.Table) -> ir.Table:
    """``rows`` with the ``segment`` of the person in their column ``person``."""
    joined = rows.join(segments, rows[person] == segments.person_)
    return joined.select(*rows.columns, SEGMENT)


def with_overall(rows: ir.Table, person: str | None = None) -> ir.Table:
    """``rows`` (each with its ``segment``) and again with a null ``segment``: grouped by the
    segment, the copies are the overall result, made in the same query as each value's.

    ``person``: a column left null in the copies, where the caller sums the values' distinct
    people instead of counting them again (right when every group of the overall has all its
    values' groups: each person has one value).

    A join with two rows rather than a union of two selects, which DuckDB may make twice.
    Measured at 10M events, ``Workspace.paths(by="device")`` took 1.25× the time (and CPU
    time) of ``paths()`` so; with the people counted twice 1.4×, with a union 1.45×, and as a
    second query 1.6×."""
    copies = ibis.memtable({"overall_": [False, True]})
    both = rows.cross_join(copies)
    overall = both.overall_
    columns = {c: both[c] for c in rows.columns if c != SEGMENT}
    if person is not None:
        columns[person] = overall.ifelse(ibis.null(both[person].type()), both[person])
    columns[SEGMENT] = overall.ifelse(ibis.null("string"), both[SEGMENT])
    return both.select(**columns)


def with_members(grouped: ir.Table, segments: ir.Table) -> ir.Table:
    """``grouped`` (rows with a ``segment``) with the people under each value, ``members``
    (null for the overall rows, whose ``segment`` is null)."""
    sizes = segments.group_by(segment_=segments[SEGMENT]).aggregate(**{MEMBERS: segments.count()})
    joined = grouped.left_join(sizes, grouped[SEGMENT] == sizes.segment_)
    return joined.select(*grouped.columns, MEMBERS)


def in_value_order(frame: pd.DataFrame, field: str, columns: Sequence[str]) -> pd.DataFrame:
    """``frame`` (engine rows with ``segment`` and ``members``, each value's rows in order)
    with the values most people first, ``"(other)"`` last; the value first, named ``field``."""
    sizes = largest_first(frame[[SEGMENT, MEMBERS]].drop_duplicates(), MEMBERS)
    place = {value: i for i, value in enumerate(sizes[SEGMENT])}
    ordered = frame.assign(_place=frame[SEGMENT].map(place)).sort_values("_place", kind="stable")
    ordered = ordered.rename(columns={SEGMENT: field})
    return ordered[[field, *columns]].reset_index(drop=True)
