"""The touchpoint catalog against the data: volume and reach per touchpoint, and the gaps.

Gaps are the events no touchpoint maps (so they are invisible on the journey) and the stages
with no touchpoint, or none that anyone used (content gaps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result, frame_records
from journeylens.analytics.sequence import person_column
from journeylens.config import Config


@dataclass
class TouchpointReport(Result):
    """``catalog``: one row per touchpoint; ``unmapped``: event names no touchpoint matches."""

    catalog: pd.DataFrame
    unmapped: pd.DataFrame
    stages_without_touchpoints: list[str]
    stages_without_events: list[str]

    def to_frame(self) -> pd.DataFrame:
        return self.catalog

    def to_dict(self) -> dict[str, Any]:
        return {
            "touchpoints": frame_records(self.catalog),
            "unmapped_events": frame_records(self.unmapped),
            "stages_without_touchpoints": self.stages_without_touchpoints,
            "stages_without_events": self.stages_without_events,
        }

    def figure(self) -> go.Figure:
        frame = self.catalog.sort_values("people")
        return go.Figure(
            go.Bar(x=frame["people"], y=frame["touchpoint"], orientation="h", name="people")
        )


def run_touchpoint_report(
    events: ibis.Table, catalog: ibis.Table, config: Config
) -> TouchpointReport:
    """Join the catalog to per-touchpoint volume and reach; list unmapped events."""
    person = person_column(events)
    mapped = events.filter(events.touchpoint.notnull())
    volume = mapped.group_by("touchpoint").aggregate(
        events=mapped.count(), people=mapped[person].nunique()
    )
    joined = catalog.left_join(volume, catalog.touchpoint == volume.touchpoint)
    table = joined.select(
        touchpoint=joined.touchpoint,
        stage=joined.stage,
        channel=joined.channel,
        kind=joined.kind,
        owner=joined.owner,
        cost=joined.cost,
        cost_period=joined.cost_period,
        events=joined.events.fill_null(0),
        people=joined.people.fill_null(0),
    )
    frame = table.execute()
    order = {key: i for i, key in enumerate(config.stage_keys)}
    frame = frame.assign(_o=frame["stage"].map(order)).sort_values(
        ["_o", "people"], ascending=[True, False]
    )
    frame = frame.drop(columns="_o").reset_index(drop=True)
    frame[["events", "people"]] = frame[["events", "people"]].astype("int64")
    orphans = events.filter(events.touchpoint.isnull())
    unmapped = (
        orphans.group_by("event")
        .aggregate(events=orphans.count(), people=orphans[person].nunique())
        .order_by([ibis.desc("events"), "event"])
        .execute()
    )
    staged = set(frame["stage"])
    used = set(frame.loc[frame["events"] > 0, "stage"])
    return TouchpointReport(
        catalog=frame,
        unmapped=unmapped,
        stages_without_touchpoints=[s for s in config.stage_keys if s not in staged],
        stages_without_events=[s for s in config.stage_keys if s in staged and s not in used],
    )
