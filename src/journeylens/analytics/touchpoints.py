"""The touchpoint catalog against the data: volume and reach per touchpoint, and the gaps.

Gaps are the events no touchpoint maps (so they are invisible on the journey), the touchpoints
the data names that the catalog does not list, and the stages with no touchpoint, or none that
anyone used (content gaps).

With a breakdown ``by`` (a column such as ``device``, or a property as ``market`` or
``properties.market``), the events and people per catalogued touchpoint are also counted per
value of the key:

- An event counts under the value on **the event itself** (``"(none)"`` where it has none), so
  the values' ``events`` add up to the overall catalog's.
- A person counts under every value they have at least one event at the touchpoint with: a
  person on mobile and on desktop counts in both, so the values' ``people`` may add up to more
  than the overall ``people``.
- The ``top`` values with the most events (at catalogued touchpoints) are kept, the rest pooled
  as ``"(other)"`` (ties: the value's text in order); a person counts once in ``"(other)"``.
- A value lists the touchpoints it has events at (no rows of zeros); the unmapped events and
  the content gaps are the overall report's only.
- One engine query groups the events by (value, touchpoint), never a query per value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.breakdown import (
    NONE_LABEL,
    SEGMENT,
    breakdown_field,
    by_value_frames,
    largest_first,
    with_top_values,
)
from journeylens.analytics.paths import fetch
from journeylens.analytics.result import Result, frame_records, plot_labels
from journeylens.analytics.sequence import person_column
from journeylens.config import Config
from journeylens.journey.steps import key_text

BREAKDOWN_FIELDS = ("touchpoint", "stage", "events", "people")  # after the key, in each record
CATALOG_FIELDS = ("touchpoint", "stage", "channel", "kind", "owner", "cost", "cost_period")
UNCATALOGUED_FIELDS = ("touchpoint", "events", "people", "answers")

__all__ = [
    "BREAKDOWN_FIELDS",
    "TouchpointReport",
    "build_touchpoint_breakdown",
    "build_uncatalogued_answers",
    "run_touchpoint_report",
]


@dataclass
class TouchpointReport(Result):
    """``catalog``: one row per touchpoint; ``unmapped``: event names no touchpoint matches;
    ``uncatalogued``: touchpoints the events or the feedback answers carry (given in the data)
    that the catalog lacks, with their ``events``, ``people`` and ``answers``; ``breakdown``
    (with ``by``): events and people per value of ``by`` and touchpoint, the value first in a
    column named ``by``."""

    catalog: pd.DataFrame
    unmapped: pd.DataFrame
    stages_without_touchpoints: list[str]
    stages_without_events: list[str]
    breakdown: pd.DataFrame | None = None
    by: str | None = None  # the breakdown's field (its first column), if any
    # Touchpoints the events or answers name (given in the data) that the catalog does not list.
    uncatalogued: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(UNCATALOGUED_FIELDS))
    )
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.catalog

    def to_dict(self) -> dict[str, Any]:
        """The report; with a breakdown also ``"breakdown": [{by, "touchpoint", "stage",
        "events", "people"}]``, values with the most events first, ``"(other)"`` last."""
        report = {
            "touchpoints": frame_records(self.catalog),
            "unmapped_events": frame_records(self.unmapped),
            "stages_without_touchpoints": self.stages_without_touchpoints,
            "stages_without_events": self.stages_without_events,
            "uncatalogued_touchpoints": frame_records(self.uncatalogued),
        }
        if self.breakdown is not None:
            report["breakdown"] = frame_records(self.breakdown)
        return report

    def breakdown_frame(self) -> pd.DataFrame:
        """The breakdown's rows, the key first (empty without a breakdown)."""
        if self.breakdown is None:
            return pd.DataFrame(columns=list(BREAKDOWN_FIELDS))
        return self.breakdown

    def by_value(self) -> list[tuple[str, pd.DataFrame]]:
        """Each value of the breakdown and its rows without the value, in the result's order."""
        return by_value_frames(self.breakdown, self.by)

    def figure(self) -> go.Figure:
        frame = self.catalog.sort_values("people")
        return go.Figure(
            go.Bar(
                x=frame["people"],
                y=plot_labels(frame["touchpoint"]),
                orientation="h",
                name="people",
            )
        )


def run_touchpoint_report(
    events: ibis.Table,
    catalog: ibis.Table,
    config: Config,
    by: str | None = None,
    top: int = 10,
    feedback: ibis.Table | None = None,
) -> TouchpointReport:
    """Join the catalog to per-touchpoint volume and reach; list unmapped events, and the
    touchpoints the events or the ``feedback`` answers name that the catalog does not list.

    With ``by`` (a column, or a property as ``market`` or ``properties.market``), also the
    events and people per value and catalogued touchpoint in ``breakdown``: each event under
    its own value, each person under every value they have an event with; the ``top`` values
    with the most events kept, the rest ``"(other)"`` (see the module docstring).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.config import Config, Stage, Touchpoint
    >>> from journeylens.journey.catalog import catalog_table
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({
    ...     "ana": [("ad", "2026-01-01", {"device": "mobile"}), ("ad", "+1h", {"device": "pc"})],
    ...     "bo": [("ad", "2026-01-01", {"device": "mobile"})],
    ... }))
    >>> config = Config("shop", "three_stage", (Stage("awareness"),))
    >>> tps = con.create_table("tps", catalog_table([Touchpoint("ad", ("ad",), "awareness")]))
    >>> report = run_touchpoint_report(events, tps, config, by="device")
    >>> [(r["device"], r["events"], r["people"]) for r in report.to_dict()["breakdown"]]
    [('mobile', 2, 2), ('pc', 1, 1)]
    """
    by_field = breakdown_field(events, by, BREAKDOWN_FIELDS, "the touchpoints field '{field}'", top)
    person = person_column(events)
    mapped = events.filter(events.touchpoint.notnull())
    volume = mapped.group_by("touchpoint").aggregate(
        events=mapped.count(), people=mapped[person].nunique()
    )
    listed = catalog.select(*CATALOG_FIELDS)
    # One row per touchpoint the events name (small): the catalog's rows take their volume,
    # and those the catalog does not list are reported apart.
    counted = volume.execute()
    frame = listed.execute().merge(counted, on="touchpoint", how="left")
    frame[["events", "people"]] = frame[["events", "people"]].fillna(0)
    answers = None if feedback is None else build_uncatalogued_answers(feedback, catalog)
    uncatalogued = _uncatalogued(
        counted[~counted["touchpoint"].isin(frame["touchpoint"])],
        None if answers is None else answers.execute(),
    )
    order = {key: i for i, key in enumerate(config.stage_keys)}
    frame = frame.assign(_o=frame["stage"].map(order)).sort_values(
        ["_o", "people"], ascending=[True, False]
    )
    frame = frame.drop(columns="_o").reset_index(drop=True)
    frame[["events", "people"]] = frame[["events", "people"]].astype("int64")
    orphans = events.filter(events.touchpoint.isnull())
    unmapped_expr = (
        orphans.group_by("event")
        .aggregate(events=orphans.count(), people=orphans[person].nunique())
        .order_by([ibis.desc("events"), "event"])
    )
    unmapped = unmapped_expr.execute()
    staged = set(frame["stage"])
    used = set(frame.loc[frame["events"] > 0, "stage"])
    queries: tuple[Any, ...] = (volume, listed, unmapped_expr)
    if answers is not None:
        queries = (*queries, answers)
    breakdown = None
    if by is not None and by_field is not None:
        expr = build_touchpoint_breakdown(events, catalog, by, top, person)
        breakdown = _breakdown_rows(fetch(expr), by_field, config.stage_keys)
        queries = (*queries, expr)
    return TouchpointReport(
        catalog=frame,
        unmapped=unmapped,
        uncatalogued=uncatalogued,
        stages_without_touchpoints=[s for s in config.stage_keys if s not in staged],
        stages_without_events=[s for s in config.stage_keys if s in staged and s not in used],
        breakdown=breakdown,
        by=by_field,
        queries=queries,
    )


def build_uncatalogued_answers(feedback: ir.Table, catalog: ir.Table) -> ir.Table:
    """``touchpoint, answers``: the feedback answers at each touchpoint they name that the
    catalog does not list (touchpoints match as written, case included)."""
    named = feedback.filter(feedback.touchpoint.notnull())
    listed = catalog.select(c_touchpoint=catalog.touchpoint)
    missing = named.anti_join(listed, named.touchpoint == listed.c_touchpoint)
    return missing.group_by("touchpoint").aggregate(answers=missing.count())


def _uncatalogued(events: pd.DataFrame, answers: pd.DataFrame | None) -> pd.DataFrame:
    """The uncatalogued touchpoints of the events and of the answers in one frame: most events
    first, then most answers."""
    if answers is None:
        answers = pd.DataFrame(columns=["touchpoint", "answers"])
    both = events.merge(answers, on="touchpoint", how="outer")
    counts = ["events", "people", "answers"]
    both = both.fillna(dict.fromkeys(counts, 0)).astype(dict.fromkeys(counts, "int64"))
    both = both.sort_values(["events", "answers", "touchpoint"], ascending=[False, False, True])
    return both[list(UNCATALOGUED_FIELDS)].reset_index(drop=True)


def build_touchpoint_breakdown(
    events: ir.Table, catalog: ir.Table, by: str, top: int, person: str = "person_id"
) -> ir.Table:
    """``segment, touchpoint, stage, events, people``: the events at each catalogued
    touchpoint grouped by their own value of ``by`` (``"(none)"`` where null; beyond the ``top``
    values with the most events, ``"(other)"``) and the distinct people among them (``person``:
    the column that tells them apart)."""
    mapped = events.filter(events.touchpoint.notnull())
    units = mapped.select(
        person=mapped[person],
        touchpoint=mapped.touchpoint,
        value=key_text(mapped, by).fill_null(NONE_LABEL),
    )
    # Only catalogued touchpoints, as in the overall rows; their events rank the values.
    places = catalog.select(c_touchpoint=catalog.touchpoint, stage=catalog.stage)
    placed = units.join(places, units.touchpoint == places.c_touchpoint)
    placed = placed.select("person", "touchpoint", "stage", "value")
    segmented = with_top_values(placed, top)
    return segmented.group_by(SEGMENT, "touchpoint", "stage").aggregate(
        events=segmented.count(), people=segmented.person.nunique()
    )


def _breakdown_rows(frame: pd.DataFrame, field: str, stage_keys: tuple[str, ...]) -> pd.DataFrame:
    """The engine's rows in the report's order, the value first in a column named ``field``:
    values with the most events first, ``"(other)"`` last; within a value, in stage order, most
    people first (ties: most events, then the touchpoint's name)."""
    totals = frame.groupby(SEGMENT, as_index=False).agg(events=("events", "sum"))
    place = {value: i for i, value in enumerate(largest_first(totals, "events")[SEGMENT])}
    stage = {key: i for i, key in enumerate(stage_keys)}
    ordered = frame.assign(_v=frame[SEGMENT].map(place), _o=frame["stage"].map(stage))
    ordered = ordered.sort_values(
        ["_v", "_o", "people", "events", "touchpoint"],
        ascending=[True, True, False, False, True],
        na_position="last",
        kind="stable",
    )
    rows = ordered.drop(columns=["_v", "_o"]).rename(columns={SEGMENT: field})
    rows = rows[[field, *BREAKDOWN_FIELDS]].reset_index(drop=True)
    rows[["events", "people"]] = rows[["events", "people"]].astype("int64")
    return rows
