"""Conformance: how closely people follow the designed order of journey stages.

A person's *stage entries* are their staged events in journey order (ties: designed order, then
``event_id``) with consecutive repeats removed — ``awareness awareness decision`` enters
``awareness`` then ``decision``. Between two consecutive entries a person:

- moves on (the next stage in the designed order),
- *skips* (a later stage further on: ``awareness → decision (skipped consideration)``), or
- *goes back* (an earlier stage: ``decision → awareness (went back)``).

A person *follows the designed order* when they never go back (skipping is still in order);
``in_order_without_skips`` also never skip. Entering the journey at a later stage is not a skip:
a skip is a jump between two stages the person was in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import SEGMENT, largest_first
from journeylens.analytics.paths import fetch
from journeylens.analytics.result import Result, frame_records, json_ready, plot_labels
from journeylens.analytics.stages import (
    STAGE_FIELDS,
    breakdown_field,
    check_stages,
    segment_columns,
    stage_window,
    staged_events,
    with_segments,
)

# The totals of a conformance result, and the fields of each value's record in its breakdown.
TOTALS = ("people", "in_order", "in_order_without_skips", "skipped", "went_back")

__all__ = [
    "ConformanceResult",
    "build_stage_moves",
    "deviation_label",
    "run_conformance",
]


def build_stage_moves(staged: ir.Table) -> ir.Table:
    """Moves between consecutive stage entries: ``person, from_idx, to_idx``.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [
    ...     ("x", "2026-01-01", {"stage": "s1"}), ("y", "+1h", {"stage": "s1"}),
    ...     ("z", "+1h", {"stage": "s3"})]}))
    >>> moves = fetch(build_stage_moves(staged_events(events, ["s1", "s2", "s3"])))
    >>> moves[["from_idx", "to_idx"]].values.tolist()
    [[0, 2]]
    """
    # A run of events in one stage ends where the next event is in another: that is the move
    # from the stage entered at the run's start to the next one entered (one window, where
    # finding the entries and then each entry's next took two). The lead is a column before
    # the filter reads it: Ibis's Spark SQL for a window function inside a filter loses the
    # table the other columns come from.
    moves = staged.select(
        "person", from_idx=staged.idx, to_idx=staged.idx.lead().over(stage_window(staged))
    )
    return moves.filter(moves.to_idx.notnull(), moves.to_idx != moves.from_idx)


def _kinds(moves: ir.Table) -> tuple[ir.BooleanValue, ir.BooleanValue]:
    return moves.to_idx < moves.from_idx, moves.to_idx > moves.from_idx + 1


def build_conformance_summary(staged: ir.Table) -> ir.Table:
    """One row (per ``segment``, where the staged events carry one): ``people``, ``in_order``,
    ``in_order_without_skips``, ``skipped``, ``went_back``."""
    segments = segment_columns(staged)
    moves = build_stage_moves(staged)
    back, skip = _kinds(moves)
    per_person = moves.group_by("person").aggregate(
        back=back.cast("int64").max(), skip=skip.cast("int64").max()
    )
    people = staged.select("person", *segments).distinct()
    joined = people.left_join(per_person, people.person == per_person.person)
    went_back = joined.back.fill_null(0) == 1
    skipped = joined.skip.fill_null(0) == 1
    counts = {
        "people": joined.count(),
        "in_order": joined.count(where=~went_back),
        "in_order_without_skips": joined.count(where=~went_back & ~skipped),
        "skipped": joined.count(where=skipped),
        "went_back": joined.count(where=went_back),
    }
    return joined.group_by(segments).aggregate(**counts) if segments else joined.aggregate(**counts)


def build_deviations(staged: ir.Table) -> ir.Table:
    """Skips and steps back by ``from_idx, to_idx``, with ``count`` (moves) and ``people``."""
    moves = build_stage_moves(staged)
    back, skip = _kinds(moves)
    moves = moves.filter(back | skip)
    return moves.group_by("from_idx", "to_idx").aggregate(
        count=moves.count(), people=moves.person.nunique()
    )


def deviation_label(stages: Sequence[str], from_idx: int, to_idx: int) -> str:
    """A deviation in words.

    Examples
    --------
    >>> deviation_label(["awareness", "consideration", "decision"], 0, 2)
    'awareness → decision (skipped consideration)'
    >>> deviation_label(["awareness", "consideration", "decision"], 2, 0)
    'decision → awareness (went back)'
    """
    move = f"{stages[from_idx]} → {stages[to_idx]}"
    if to_idx < from_idx:
        return f"{move} (went back)"
    return f"{move} (skipped {', '.join(stages[from_idx + 1 : to_idx])})"


@dataclass
class ConformanceResult(Result):
    """How many people follow the designed stage order, and the most common deviations."""

    summary: dict[str, Any]
    deviations: pd.DataFrame
    queries: tuple[Any, ...] = ()
    breakdown: pd.DataFrame | None = None  # with ``by``: the summary per value, value first

    def to_frame(self) -> pd.DataFrame:
        return self.deviations.copy()

    def to_dict(self) -> dict[str, Any]:
        out = {**json_ready(self.summary), "deviations": frame_records(self.deviations)}
        if self.breakdown is not None:
            out["breakdown"] = frame_records(self.breakdown)
        return out

    def figure(self) -> Any:
        """A bar chart of the most common deviations."""
        import plotly.graph_objects as go

        top = self.deviations.head(15).iloc[::-1]
        data = go.Bar(x=list(top["people"]), y=plot_labels(top["deviation"]), orientation="h")
        return go.Figure(data, layout={"title": {"text": "Deviations from the designed order"}})


def run_conformance(
    events: ir.Table,
    stages: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    top: int = 10,
) -> ConformanceResult:
    """Who follows the designed stage order, who skips stages and who goes back.

    ``to_dict()``: ``{"people", "in_order", "in_order_without_skips", "skipped", "went_back",
    "deviations": [{"deviation", "from", "to", "kind", "count", "people"}]}`` — ``people``
    counts persons with a staged event; deviations are most frequent (by people) first. With
    ``by`` (a column or property, as the stage flow's breakdown: each person under the value of
    their first staged event, the ``top`` values kept, the rest ``"(other)"``), also
    ``"breakdown": [{<by>, "people", "in_order", ...}]``, values with the most people first and
    ``"(other)"`` last; its counts sum to the totals.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({
    ...     "ana": [("ad", "2026-01-01 10:00", {"stage": "awareness"}),
    ...             ("buy", "+1h", {"stage": "decision"})],
    ...     "bo": [("ad", "2026-01-01 10:00", {"stage": "awareness"}),
    ...            ("compare", "+1h", {"stage": "consideration"})],
    ... }))
    >>> result = run_conformance(events, ["awareness", "consideration", "decision"]).to_dict()
    >>> result["in_order"], result["skipped"], result["deviations"][0]["deviation"]
    (2, 1, 'awareness → decision (skipped consideration)')
    """
    keys = check_stages(stages)
    field = breakdown_field(events, by, top, (*STAGE_FIELDS, *TOTALS), "a conformance field")
    staged = staged_events(events, keys, since, until, by)
    if by is not None:
        staged = with_segments(staged, top)
    summary_expr = build_conformance_summary(staged)
    deviations_expr = build_deviations(staged)
    summaries = fetch(summary_expr)
    breakdown = None
    if field is not None:
        # The values partition the people: the totals are their sums.
        summaries = largest_first(summaries, "people")
        counted = [c for c in summaries.columns if c != SEGMENT]
        breakdown = summaries.rename(columns={SEGMENT: field})[[field, *counted]]
        breakdown = breakdown.astype(dict.fromkeys(counted, "int64")).reset_index(drop=True)
        summary = {c: int(breakdown[c].sum()) for c in counted}
    else:
        summary = {str(k): int(v) for k, v in summaries.iloc[0].items()}
    raw = fetch(deviations_expr).sort_values(
        ["people", "count", "from_idx", "to_idx"], ascending=[False, False, True, True]
    )
    deviations = pd.DataFrame(
        {
            "deviation": [
                deviation_label(keys, int(a), int(b))
                for a, b in zip(raw["from_idx"], raw["to_idx"], strict=True)
            ],
            "from": [keys[int(a)] for a in raw["from_idx"]],
            "to": [keys[int(b)] for b in raw["to_idx"]],
            "kind": [
                "went_back" if b < a else "skipped"
                for a, b in zip(raw["from_idx"], raw["to_idx"], strict=True)
            ],
            "count": raw["count"].astype(int).tolist(),
            "people": raw["people"].astype(int).tolist(),
        }
    )
    return ConformanceResult(
        summary=summary,
        deviations=deviations,
        queries=(summary_expr, deviations_expr),
        breakdown=breakdown,
    )
