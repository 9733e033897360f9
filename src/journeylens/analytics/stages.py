"""The stage flow: how people move through the designed journey stages.

Conventions (the docs quote them):

- A person *reaches* a stage when they have any event in it, whenever it happened: reaching
  stage k does **not** require having been in stage k−1 first. ``people`` therefore counts
  everyone who was ever in the stage, the same number every per-stage view shows, and
  ``conversion_from_previous`` (people in k / people in k−1) can exceed 1 when people enter the
  journey part-way. ``people_in_order`` / ``conversion_in_order`` count only those who reached
  k at or after their first entry into k−1 — the funnel reading, never above 1.
- ``median_seconds_from_previous``: first entry into k−1 to first entry into k, over the people
  in order. ``median_seconds_in_stage``: the same for the move on from k (first entry into k to
  first entry into k+1, over the people in order at k+1): how long people take in the stage
  before moving on; none for the last stage.
- Events at the same instant are taken in the designed stage order, then as received
  (``received_at``), then by ``event_id``; so a tie is never a step back.
- ``went_back``: people with an event in stage k strictly after first entering a later stage.
- ``moved_on_by``: per person who reached k+1, the last touchpoint in stage k at or before their
  first entry into k+1. ``left_after``: per person, the touchpoint of their last staged event,
  counted under its stage (``ended_here`` people). Empty touchpoints count as ``"(unmapped)"``.
- Events without a person, a time, or a stage outside ``stages`` are left out.
- With ``by`` (a column or property), each person counts under the value of their first staged
  event (``"(none)"`` where it has none); the ``top`` values with the most people are kept,
  the rest are ``"(other)"``; every field is then per value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import (
    NONE_LABEL,
    SEGMENT,
    largest_first,
    segment_columns,
    with_top_values,
)
from journeylens.analytics.breakdown import breakdown_field as shared_breakdown_field
from journeylens.analytics.paths import UNMAPPED, fetch
from journeylens.analytics.result import Result, json_ready, plot_labels
from journeylens.analytics.sequence import has_sequence_keys, order_value
from journeylens.errors import SpecError
from journeylens.journey.steps import key_text
from journeylens.store.portable import epoch_seconds

KEYS_AS_TEXT = ("person_id", "event_id")  # the person and the order of ties without the keys
STAGE_FIELDS = (
    "stage",
    "people",
    "conversion_from_previous",
    "people_in_order",
    "conversion_in_order",
    "median_seconds_from_previous",
    "median_seconds_in_stage",
    "went_back",
    "ended_here",
    "moved_on_by",
    "left_after",
)

__all__ = [
    "StageFlowResult",
    "breakdown_field",
    "build_stage_people",
    "build_stage_summary",
    "build_stage_touchpoints",
    "check_stages",
    "run_stage_flow",
    "staged_events",
    "with_segments",
]


def check_stages(stages: Sequence[str]) -> tuple[str, ...]:
    """The designed stage order as a tuple, or a :class:`SpecError` saying what is wrong.

    Examples
    --------
    >>> check_stages(["awareness", "decision"])
    ('awareness', 'decision')
    """
    if isinstance(stages, str):
        raise SpecError(f"stages must be a sequence of stage names, got the string '{stages}'.")
    keys = tuple(stages)
    if not keys:
        raise SpecError("stages must name at least one stage, in the designed journey order.")
    repeated = sorted({s for s in keys if keys.count(s) > 1})
    if repeated:
        raise SpecError(f"Each stage may appear once in the designed order; repeated: {repeated}.")
    return keys


def staged_events(
    events: ir.Table,
    stages: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
) -> ir.Table:
    """Events in one of ``stages``: ``person, ts, seq, touchpoint, idx`` (stage position), and
    with ``by`` its ``value`` as text (``"(none)"`` where null).

    ``person`` and ``seq`` are the stored integers ``person_key`` and ``person_seq`` where every
    event carries them (see :mod:`.sequence`), else ``person_id`` and ``event_id`` with ``at``
    (``received_at``) before it: either way they order a person's events at the same instant
    as the sequence does, and integers are cheaper to group, join and sort than text (the stage
    flow at 10M events took 2.5× less).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("x", "2026-01-01", {"stage": "s2"})]}))
    >>> fetch(staged_events(events, ["s1", "s2"]))["idx"].tolist()
    [1]
    """
    keys = check_stages(stages)
    person, seq = ("person_key", "person_seq") if has_sequence_keys(events) else KEYS_AS_TEXT
    idx = events.stage.cases(*((k, i) for i, k in enumerate(keys)), else_=ibis.null("int64"))
    t = events.mutate(idx=idx)
    t = t.filter(t.idx.notnull(), t.ts.notnull(), t[person].notnull())
    if since is not None:
        t = t.filter(t.ts >= since)
    if until is not None:
        t = t.filter(t.ts < until)
    touchpoint = t.touchpoint.fill_null(UNMAPPED)
    # Without the keys, the time an event was received orders ties before its id does.
    received_first = seq == "event_id" and "received_at" in t.columns
    received = {"at": t.received_at} if received_first else {}
    value = {"value": key_text(t, by).fill_null(NONE_LABEL)} if by else {}
    return t.select(
        person=t[person],
        ts=t.ts,
        **received,
        seq=t[seq],
        touchpoint=touchpoint,
        idx=t.idx,
        **value,
    )


def stage_window(table: ir.Table) -> Any:
    """Each person's staged events in journey order (ties: designed order, then as received,
    then ``seq``)."""
    return ibis.window(group_by=table.person, order_by=_journey(table))


def _journey(table: ir.Table) -> list[ir.Value]:
    """The columns of :func:`stage_window`'s order (``order_value`` of them: the key by which
    an aggregate takes a person's first or last staged event)."""
    return [table[c] for c in ("ts", "idx", *_received(table), "seq")]


def _received(staged: ir.Table) -> list[str]:
    """``["at"]`` where the staged events order ties by when they were received (no keys)."""
    return ["at"] if "at" in staged.columns else []


def with_segments(staged: ir.Table, top: int) -> ir.Table:
    """``staged`` (with the breakdown's ``value`` per event, see :func:`staged_events`) with
    each person's ``segment``: the value of their first staged event; the ``top`` values with
    the most people kept, the rest ``"(other)"``."""
    first = order_value(_journey(staged))
    people = staged.group_by("person").aggregate(value=staged.value.argmin(first))
    segments = with_top_values(people, top).select("person", SEGMENT)
    return staged.drop("value").inner_join(segments, "person")


def build_stage_people(staged: ir.Table, n: int) -> ir.Table:
    """One row per person: first (``f{k}``) and last (``l{k}``) time in each of ``n`` stages
    (and their ``segment``, where there is one)."""
    aggs: dict[str, ir.Value] = {}
    for k in range(n):
        aggs[f"f{k}"] = staged.ts.min(where=staged.idx == k)
        aggs[f"l{k}"] = staged.ts.max(where=staged.idx == k)
    return staged.group_by("person", *segment_columns(staged)).aggregate(**aggs)


def build_stage_summary(staged: ir.Table, n: int) -> ir.Table:
    """One row (per ``segment``, where there is one) with ``persons`` (in any stage) and, per
    stage k, ``people{k}``, ``in_order{k}``, ``median{k}``, ``back{k}``."""
    p = build_stage_people(staged, n)
    aggs: dict[str, ir.Value] = {"persons": p.count()}
    for k in range(n):
        first = p[f"f{k}"]
        aggs[f"people{k}"] = first.count()
        later = [p[f"l{k}"] > p[f"f{j}"] for j in range(k + 1, n)]
        back = ibis.or_(*later).fill_null(False) if later else ibis.literal(False)
        aggs[f"back{k}"] = p.person.count(where=back)
        if k:
            ordered = (first >= p[f"f{k - 1}"]).fill_null(False)
            seconds = epoch_seconds(first) - epoch_seconds(p[f"f{k - 1}"])
            aggs[f"in_order{k}"] = p.person.count(where=ordered)
            # ifelse + median, not median(where=...): Spark refuses a filtered percentile.
            aggs[f"median{k}"] = ibis.ifelse(ordered, seconds, None).median()
    return (
        p.group_by(segment_columns(p)).aggregate(**aggs)
        if segment_columns(p)
        else p.aggregate(**aggs)
    )


def build_stage_touchpoints(staged: ir.Table) -> ir.Table:
    """``kind, idx, touchpoint, people`` for ``moved_on`` (into the next stage) and ``left``."""
    segments = segment_columns(staged)
    firsts = staged.group_by("person", "idx").aggregate(first=staged.ts.min())
    before = staged.join(
        firsts,
        (staged.person == firsts.person)
        & (firsts.idx == staged.idx + 1)
        & (staged.ts <= firsts.first),
    ).select("person", "ts", *_received(staged), "seq", "touchpoint", "idx", *segments)
    latest = order_value([before[c] for c in ("ts", *_received(before), "seq")])
    moved = before.group_by("person", "idx", *segments).aggregate(
        touchpoint=before.touchpoint.argmax(latest)
    )
    moved = moved.group_by("idx", "touchpoint", *segments).aggregate(people=moved.count())
    moved = moved.select(
        *segments,
        kind=ibis.literal("moved_on"),
        idx=moved.idx,
        touchpoint=moved.touchpoint,
        people=moved.people,
    )
    latest = order_value(_journey(staged))
    where = ibis.struct({"idx": staged.idx, "touchpoint": staged.touchpoint})
    last = staged.group_by("person", *segments).aggregate(at=where.argmax(latest))
    left = last.select(*segments, idx=last.at["idx"], touchpoint=last.at["touchpoint"])
    left = left.group_by("idx", "touchpoint", *segments).aggregate(people=left.count())
    left = left.select(
        *segments,
        kind=ibis.literal("left"),
        idx=left.idx,
        touchpoint=left.touchpoint,
        people=left.people,
    )
    return moved.union(left)


@dataclass
class StageFlowResult(Result):
    """People per stage, conversion between stages, time between them and who went back."""

    stages: pd.DataFrame
    touchpoints: pd.DataFrame
    queries: tuple[Any, ...] = ()
    by: str | None = None  # the breakdown's field (its first column in ``stages``), if any

    def to_frame(self) -> pd.DataFrame:
        return self.stages.copy()

    def _touchpoints(self, kind: str, row: Mapping[Any, Any]) -> list[dict[str, Any]]:
        touch = self.touchpoints
        chosen = (touch["kind"] == kind) & (touch["stage"] == row["stage"])
        if self.by is not None:
            chosen &= touch[self.by] == row[self.by]
        rows = touch[chosen]
        pairs = zip(rows["touchpoint"].tolist(), rows["people"].tolist(), strict=True)
        return [{"touchpoint": str(t), "people": int(n)} for t, n in pairs]

    def to_dict(self) -> list[dict[str, Any]]:
        records = []
        for row in self.stages.to_dict(orient="records"):
            row["moved_on_by"] = self._touchpoints("moved_on", row)
            row["left_after"] = self._touchpoints("left", row)
            records.append(json_ready(row))
        return records

    def touchpoint_lines(self, top: int = 3) -> list[str]:
        """Per stage (and breakdown value), one sentence: the ``top`` touchpoints people moved
        on to the next stage from, and the ``top`` they left after, with how many people.

        Examples
        --------
        >>> touches = pd.DataFrame({"kind": ["moved_on", "left", "left"], "stage": ["a"] * 3,
        ...                         "touchpoint": ["ad", "blog", "ad"], "people": [5, 3, 1]})
        >>> StageFlowResult(pd.DataFrame({"stage": ["a", "b"]}), touches).touchpoint_lines()
        ['a: moved on from ad (5); left after blog (3), ad (1)']
        """
        lines = []
        for row in self.stages.to_dict(orient="records"):
            parts = []
            for kind, words in (("moved_on", "moved on from"), ("left", "left after")):
                named = self._touchpoints(kind, row)[:top]
                if named:
                    listed = ", ".join(f"{t['touchpoint']} ({t['people']:,})" for t in named)
                    parts.append(f"{words} {listed}")
            if parts:
                where = f"{self.by}={row[self.by]} · " if self.by is not None else ""
                lines.append(f"{where}{row['stage']}: " + "; ".join(parts))
        return lines

    def figure(self) -> Any:
        """A funnel of people per stage."""
        import plotly.graph_objects as go

        data = go.Funnel(
            y=plot_labels(self.stages["stage"]),
            x=list(self.stages["people"]),
            textinfo="value+percent previous",
        )
        return go.Figure(data, layout={"title": {"text": "People per stage"}})


def _stage_rows(summary: pd.Series, keys: tuple[str, ...]) -> pd.DataFrame:
    rows = []
    for k, stage in enumerate(keys):
        people = int(summary[f"people{k}"])
        before = int(summary[f"people{k - 1}"]) if k else 0
        in_order = int(summary[f"in_order{k}"]) if k else people
        median = _seconds(summary[f"median{k}"]) if k else None
        onward = _seconds(summary[f"median{k + 1}"]) if k + 1 < len(keys) else None
        rows.append(
            {
                "stage": stage,
                "people": people,
                "conversion_from_previous": people / before if before else None,
                "people_in_order": in_order,
                "conversion_in_order": in_order / before if before else None,
                "median_seconds_from_previous": median,
                "median_seconds_in_stage": onward,
                "went_back": int(summary[f"back{k}"]),
            }
        )
    # Rates and seconds are numbers where none is known too (NaN, not None): the rows of
    # several values then stack with one type per column.
    numbers = [c for c in rows[0] if c.startswith(("conversion_", "median_"))] if rows else []
    return pd.DataFrame(rows).astype(dict.fromkeys(numbers, "float64"))


def _seconds(value: Any) -> float | None:
    return None if pd.isna(value) else float(value)


def run_stage_flow(
    events: ir.Table,
    stages: Sequence[str],
    since: datetime | None = None,
    until: datetime | None = None,
    by: str | None = None,
    top: int = 10,
) -> StageFlowResult:
    """The stage flow of the journey, in the designed order ``stages``.

    Fields per stage: ``stage``, ``people``, ``conversion_from_previous``, ``people_in_order``,
    ``conversion_in_order``, ``median_seconds_from_previous``, ``median_seconds_in_stage``,
    ``went_back``, ``ended_here`` and,
    in ``to_dict()``, ``moved_on_by`` and ``left_after`` (``[{"touchpoint", "people"}]``).
    With ``by`` (a column, or a property as ``plan`` or ``properties.plan``), the stages of each
    of its ``top`` values (and ``"(other)"``), the value first in a field named as the key
    (``device``, ``plan``); values with the most people first, ``"(other)"`` last.
    See the module docstring for the exact conventions.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({
    ...     "ana": [("ad", "2026-01-01 10:00", {"stage": "awareness"}),
    ...             ("buy", "+1h", {"stage": "decision"})],
    ...     "bo": [("ad", "2026-01-01 10:00", {"stage": "awareness"})],
    ... }))
    >>> flow = run_stage_flow(events, ["awareness", "decision"]).to_dict()
    >>> flow[1]["people"], flow[1]["conversion_from_previous"], flow[1]["moved_on_by"]
    (1, 0.5, [])
    >>> flow[0]["moved_on_by"]
    [{'touchpoint': 'ad', 'people': 1}]
    """
    keys = check_stages(stages)
    field = breakdown_field(events, by, top)
    staged = staged_events(events, keys, since, until, by)
    if by is not None:
        staged = with_segments(staged, top)
    summary_expr = build_stage_summary(staged, len(keys))
    touch_expr = build_stage_touchpoints(staged)
    summaries = fetch(summary_expr)
    touch = fetch(touch_expr)
    touch["stage"] = [keys[int(i)] for i in touch["idx"]]
    # The breakdown's value last: ties across values in one order on every engine.
    values = [SEGMENT] if field is not None else []
    touch = touch.sort_values(
        ["kind", "idx", "people", "touchpoint", *values],
        ascending=[True, True, False, True, *(True for _ in values)],
    ).reset_index(drop=True)
    if field is None:
        frame = _with_ended(_stage_rows(summaries.iloc[0], keys), touch)
        return StageFlowResult(
            stages=frame,
            touchpoints=touch[["kind", "stage", "touchpoint", "people"]],
            queries=(summary_expr, touch_expr),
        )
    frames = []
    for summary in largest_first(summaries, "persons").to_dict(orient="records"):
        part = touch[touch[SEGMENT] == summary[SEGMENT]]
        rows = _with_ended(_stage_rows(pd.Series(summary), keys), part)
        frames.append(rows.assign(**{field: summary[SEGMENT]}))
    columns = [field, *STAGE_FIELDS[:-2]]  # moved_on_by and left_after: in to_dict()
    frame = (
        pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)
    )
    return StageFlowResult(
        stages=frame,
        touchpoints=touch.rename(columns={SEGMENT: field})[
            [field, "kind", "stage", "touchpoint", "people"]
        ],
        queries=(summary_expr, touch_expr),
        by=field,
    )


def _with_ended(frame: pd.DataFrame, touch: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``ended_here``: the people whose last staged event was in each stage."""
    ended = touch[touch["kind"] == "left"].groupby("stage")["people"].sum()
    return frame.assign(ended_here=[int(ended.get(s, 0)) for s in frame["stage"]])


def breakdown_field(
    events: ir.Table,
    by: str | None,
    top: int,
    fields: Sequence[str] = STAGE_FIELDS,
    clash: str = "a stage field",
) -> str | None:
    """The field of a stage breakdown's value (see :func:`.breakdown.breakdown_field`): not
    one of the records' ``fields`` (the stage records' by default)."""
    return shared_breakdown_field(events, by, fields, clash, top)
