"""Drop-off: what became of the people who left a funnel — changed, postponed or abandoned.

Each unit that dropped at a step is classified ``in_progress`` (its window is still open at the
end of the data), ``changed`` (it reached the goal another way within the window), ``postponed``
(it came back and moved on after the window) or ``abandoned``. The exact rules are the docstring
of :mod:`journeylens.analytics._dropoff_reference`, which the engine is property-tested against.

It runs as one engine expression on top of
:func:`~journeylens.analytics.funnels.build_funnel_people` (each counted unit's reach and step
times): the dropped units are joined on ``person_id`` to the few events that match the goal or a
step, and each unit's flags are aggregated in the engine.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.filters import in_range
from journeylens.analytics.funnels import FunnelSpec, build_funnel_people
from journeylens.analytics.proportions import ratio
from journeylens.analytics.result import Result, frame_records, json_ready, plot_labels
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import Step, check_step_names, parse_step, step_predicate
from journeylens.store.portable import epoch_seconds

__all__ = [
    "KINDS",
    "DropoffResult",
    "DropoffSpec",
    "build_dropoff",
    "build_dropoff_people",
    "dropoff_people",
    "run_dropoff",
]

# In the order the rules test them; the first that holds wins.
KINDS = ("in_progress", "changed", "postponed", "abandoned")
# Shares of the drop-offs that are settled (in-progress units are not drop-offs yet).
SETTLED = ("changed", "postponed", "abandoned")


def route_free(step: Step) -> Step:
    """The step's kind and name without its filters (a filters-only step is kept as it is).

    Examples
    --------
    >>> route_free(parse_step("event:purchase[channel=web]")).text
    'event:purchase'
    """
    if step.name is None or not step.filters:
        return step
    return Step(f"{step.kind}:{step.name}", step.kind, step.name, pattern=step.pattern)


@dataclass(frozen=True)
class DropoffSpec:
    """Which funnel's drop-offs to classify; validated on construction.

    Parameters
    ----------
    funnel
        The funnel (two or more steps); its window, order, count, breakdown and time range apply.
    goal
        The step that counts as reaching the goal by any route (``[kind:]name[filter]``);
        default: the funnel's last step without its filters.
    as_of
        The end of the data (naive UTC): windows ending after it are in progress; default the
        time of the latest event (at most the funnel's ``until``).

    Examples
    --------
    >>> spec = DropoffSpec(FunnelSpec(steps=["cart", "purchase[channel=web]"]))
    >>> spec.goal_step.text
    'event:purchase'
    """

    funnel: FunnelSpec
    goal: str | None = None
    as_of: datetime | None = None
    goal_step: Step = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "as_of", naive_utc_or_none(self.as_of, "as_of"))
        if not isinstance(self.funnel, FunnelSpec):
            raise SpecError(f"Drop-off needs a FunnelSpec, got {self.funnel!r}.")
        if len(self.funnel.steps) < 2:
            raise SpecError(
                f"Drop-off needs a funnel of two or more steps, got {list(self.funnel.steps)!r}."
            )
        try:
            goal = parse_step(self.goal) if self.goal is not None else None
        except SpecError as error:
            raise SpecError(f"Goal: {error}") from None
        object.__setattr__(self, "goal_step", goal or route_free(self.funnel.parsed_steps[-1]))

    def to_dict(self) -> dict[str, Any]:
        return json_ready(
            {"funnel": self.funnel.to_dict(), "goal": self.goal_step.text, "as_of": self.as_of}
        )


def check_goal_name(events: ir.Table, goal: str | None) -> None:
    """Raise :class:`SpecError` when the goal names an event (or touchpoint, stage) never seen."""
    if goal is not None:
        check_step_names(events, [goal], role=f"in the goal {goal!r}")


# --- the engine expression -----------------------------------------------------------------------


def _deadline(dropped: ir.Table, funnel: FunnelSpec) -> ir.IntegerValue:
    """The last second the missing step could have counted (window, per-step window)."""
    window = dropped.t0 + funnel.window
    cases = [
        (dropped.reach == k, ibis.least(window, dropped[f"t{k - 1}"] + limit))
        for k, limit in enumerate(funnel.step_windows)
        if limit is not None
    ]
    return (ibis.cases(*cases, else_=window) if cases else window).cast("int64")


def _hits(events: ir.Table, spec: DropoffSpec) -> ir.Table:
    """Events of a person matching the goal or a step after step 1, flagged (``h2`` … ``hn``)."""
    steps = spec.funnel.parsed_steps
    flags = {"h_goal": step_predicate(spec.goal_step, events)}
    flags |= {f"h{k + 1}": step_predicate(steps[k], events) for k in range(1, len(steps))}
    t = events.filter(events.person_id.notnull())
    t = t.select(h_person=t.person_id, h_sec=epoch_seconds(t.ts), **flags)
    matched: ir.BooleanValue = ibis.literal(False)
    for name in flags:
        matched = matched | t[name]
    return t.filter(matched)


def _end(events: ir.Table, spec: DropoffSpec) -> ir.Table:
    """A one-row table with the end of the data (``d_end``, epoch seconds)."""
    if spec.as_of is not None:
        end = ibis.literal(_epoch(spec.as_of), "int64")
        return events.limit(1).select(d_end=end)
    latest = epoch_seconds(events.ts).max()
    if spec.funnel.until is not None:  # nothing after until can be seen
        latest = ibis.least(latest, _epoch(spec.funnel.until) - 1)
    return events.aggregate(d_end=latest)


def _epoch(moment: datetime) -> int:
    return calendar.timegm(moment.utctimetuple())


def _flag(condition: ir.BooleanValue) -> ir.IntegerValue:
    return ibis.ifelse(condition.fill_null(False), 1, 0)


def build_dropoff_people(events: ir.Table, spec: DropoffSpec) -> ir.Table:
    """One row per dropped unit: where it dropped and what became of it (not executed).

    Columns: the unit columns of :func:`~journeylens.analytics.funnels.build_funnel_people`
    (``person_id``; ``session_id``; ``attempt``), ``segment``, ``step`` (1-based, the step not
    reached), ``deadline`` (epoch seconds) and ``kind`` (one of :data:`KINDS`).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("cart", "2026-01-01 10:00"), ("purchase", "+1d", {"channel": "store"})],
    ...     "bob": [("cart", "2026-01-01 11:00"), ("purchase", "+30d", {"channel": "web"})],
    ... }))
    >>> funnel = FunnelSpec(steps=["cart", "purchase[channel=web]"], within="7d")
    >>> people = build_dropoff_people(events, DropoffSpec(funnel)).execute()
    >>> people.sort_values("person_id")["kind"].tolist()
    ['changed', 'postponed']
    """
    funnel, n = spec.funnel, len(spec.funnel.steps)
    people = build_funnel_people(events, funnel)
    units = [c for c in people.columns if c in (*funnel.unit_columns, "attempt")]
    dropped = people.filter(people.reach < n)
    dropped = dropped.mutate(
        step=(dropped.reach + 1).cast("int64"), deadline=_deadline(dropped, funnel)
    )
    scope = in_range(events, funnel.since, funnel.until)
    hits = _hits(scope, spec).view()
    joined = dropped.left_join(hits, dropped.person_id == hits.h_person)
    again = ibis.cases(*[(dropped.step == k, hits[f"h{k}"]) for k in range(2, n + 1)], else_=False)
    sec, goal = hits.h_sec, hits.h_goal
    changed = goal & (sec >= dropped.t0) & (sec <= dropped.deadline)
    later = (goal | again) & (sec > dropped.deadline)
    keys = [*units, "segment", "step", "deadline"]
    flags = joined.select(*[dropped[c] for c in keys], changed=_flag(changed), later=_flag(later))
    per_unit = flags.group_by(keys).aggregate(changed=flags.changed.max(), later=flags.later.max())
    withend = per_unit.cross_join(_end(events, spec))
    kind = ibis.cases(
        (withend.deadline > withend.d_end, "in_progress"),
        (withend.changed == 1, "changed"),
        (withend.later == 1, "postponed"),
        else_="abandoned",
    )
    return withend.select(*keys, kind=kind)


def build_dropoff(events: ir.Table, spec: DropoffSpec) -> ir.Table:
    """Units per class at each step, overall (``segment`` null) and per breakdown value.

    Rows: ``segment``, ``step`` (1-based), ``dropped`` and one count per class in :data:`KINDS`.
    Steps and segments nobody dropped at are absent (:func:`run_dropoff` fills them in).
    """
    people = build_dropoff_people(events, spec)
    overall = people.mutate(segment=ibis.null("string"))
    both = ibis.union(overall, people) if spec.funnel.by else overall
    counts = {kind: ibis.ifelse(both.kind == kind, 1, 0).sum() for kind in KINDS}
    return both.group_by(["segment", "step"]).aggregate(dropped=both.count(), **counts)


def dropoff_people(
    events: ir.Table, spec: DropoffSpec, step: int, kind: str | None = None
) -> ir.Table:
    """The units that dropped at ``step`` (of class ``kind``, or all) — an audience to export.

    Returns an expression with the unit columns, ``segment`` and ``kind``, ordered by the unit
    columns.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("cart", "2026-01-01 10:00")],
    ...     "bob": [("cart", "2026-01-01 11:00"), ("purchase", "+30d")],
    ... }))
    >>> spec = DropoffSpec(FunnelSpec(steps=["cart", "purchase"], within="7d"))
    >>> dropoff_people(events, spec, 2, "abandoned").execute()["person_id"].tolist()
    ['ann']
    """
    n = len(spec.funnel.steps)
    if isinstance(step, bool) or not isinstance(step, int) or not 2 <= step <= n:
        raise SpecError(
            f"Invalid step {step!r} for drop-off: use a step number from 2 to {n} (people who "
            "reached the step before it but not it)."
        )
    if kind is not None and kind not in KINDS:
        raise SpecError(f"Unknown drop-off kind {kind!r}: use one of {', '.join(KINDS)}.")
    people = build_dropoff_people(events, spec)
    people = people.filter(people.step == step)
    if kind is not None:
        people = people.filter(people.kind == kind)
    units = [c for c in people.columns if c in (*spec.funnel.unit_columns, "attempt")]
    return people.drop("step", "deadline").order_by(units)  # the same on every engine


# --- the result ----------------------------------------------------------------------------------

COLUMNS = ["step", "step_index", "segment", "dropped", *KINDS]


def _records(raw: pd.DataFrame, spec: DropoffSpec, segment: str | None) -> list[dict[str, Any]]:
    mine = raw[raw["segment"].isna()] if segment is None else raw[raw["segment"] == segment]
    found = {int(r["step"]): r for r in mine.to_dict(orient="records")}
    records = []
    for index in range(2, len(spec.funnel.steps) + 1):
        row = found.get(index, {})
        counts = {name: int(row.get(name, 0)) for name in ("dropped", *KINDS)}
        settled = counts["dropped"] - counts["in_progress"]
        record = {"step": spec.funnel.steps[index - 1], "step_index": index, "segment": segment}
        record |= counts
        record["in_progress_share"] = ratio(counts["in_progress"], counts["dropped"])
        record |= {f"{name}_share": ratio(counts[name], settled) for name in SETTLED}
        records.append(record)
    return records


def _frame(raw: pd.DataFrame, spec: DropoffSpec) -> pd.DataFrame:
    segments: list[str | None] = [None]
    if spec.funnel.by is not None:
        named = raw[raw["segment"].notna()].groupby("segment")["dropped"].sum()
        segments += [str(v) for v in sorted(named.index, key=lambda v: (-named[v], str(v)))]
    records = [r for segment in segments for r in _records(raw, spec, segment)]
    frame = pd.DataFrame.from_records(records)
    return frame if spec.funnel.by is not None else frame.drop(columns="segment")


@dataclass
class DropoffResult(Result):
    """What became of the units that dropped at each step (and per breakdown value).

    One record per step from 2 (and per segment with ``by``; the overall rows have ``segment``
    null): ``step`` (as written), ``step_index`` (1-based, as ``--dropped-at``), ``dropped`` (the
    funnel's drop-off), ``in_progress``, ``changed``, ``postponed``, ``abandoned`` (they add up to
    ``dropped``), ``in_progress_share`` (of ``dropped``) and ``changed_share``,
    ``postponed_share``, ``abandoned_share`` (of the settled drop-offs, ``dropped − in_progress``).
    """

    spec: DropoffSpec
    frame: pd.DataFrame
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.frame

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.frame)

    def display_frame(self) -> pd.DataFrame:
        """Counts and the settled shares, for terminal tables (overall rows as ``all``)."""
        keep = [*COLUMNS, *(f"{name}_share" for name in SETTLED)]
        frame = self.frame[[c for c in keep if c in self.frame.columns and c != "step_index"]]
        if "segment" in frame.columns:
            frame = frame.assign(segment=frame["segment"].fillna("all"))
        return frame

    def figure(self) -> Any:
        """Stacked bars: per step, the dropped units by class."""
        import plotly.graph_objects as go

        overall = self.frame[self.frame["segment"].isna()] if self.spec.funnel.by else self.frame
        fig = go.Figure(
            [
                go.Bar(name=kind, x=plot_labels(overall["step"]), y=list(overall[kind]))
                for kind in KINDS
            ]
        )
        fig.update_layout(barmode="stack", title="Drop-off: changed, postponed or abandoned")
        return fig


def run_dropoff(events: ir.Table, spec: DropoffSpec) -> DropoffResult:
    """Classify the drop-off of a funnel: execute :func:`build_dropoff` once and shape it.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("e", journeys({
    ...     "ann": [("cart", "2026-01-01 10:00"), ("purchase", "+1d", {"channel": "store"})],
    ...     "bob": [("cart", "2026-01-01 11:00"), ("purchase", "+30d", {"channel": "web"})],
    ...     "cy": [("cart", "2026-01-02 09:00")],
    ... }))
    >>> funnel = FunnelSpec(steps=["cart", "purchase[channel=web]"], within="7d")
    >>> record = run_dropoff(events, DropoffSpec(funnel)).to_dict()[0]
    >>> [record[k] for k in ("dropped", "in_progress", "changed", "postponed", "abandoned")]
    [3, 0, 1, 1, 1]
    """
    expr = build_dropoff(events, spec)
    return DropoffResult(spec, _frame(expr.execute(), spec), (expr,))
