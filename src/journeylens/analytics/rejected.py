"""The rejected rows, newest first, for people fixing their input."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result


@dataclass
class RejectedResult(Result):
    rows: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.rows

    def figure(self) -> go.Figure:
        counts = self.rows["reason"].value_counts()
        return go.Figure(go.Bar(x=counts.index, y=counts.values))


def run_rejected(rejected: ibis.Table, limit: int = 50) -> RejectedResult:
    """The latest ``limit`` rejected rows, with the row text shortened for display."""
    query = rejected.order_by([ibis.desc("rejected_at"), "source", "line"]).limit(limit)
    frame = query.select(
        "source", "line", "field", "reason", "detail", row=query.row.substr(0, 120)
    ).execute()
    return RejectedResult(frame)
