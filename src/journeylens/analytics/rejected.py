"""The rejected rows, newest first, for people fixing their input."""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result

# Characters of a row's text a terminal table shows; JSON and CSV carry it whole.
SHOWN = 120


@dataclass
class RejectedResult(Result):
    rows: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.rows

    def display_frame(self) -> pd.DataFrame:
        """The rows with each row's text cut to :data:`SHOWN` characters (``…`` where cut)."""
        text = self.rows["row"].astype("string")
        cut = text.str.len() > SHOWN
        shown = text.where(~cut, text.str.slice(0, SHOWN - 1) + "…")
        return self.rows.assign(row=shown)

    def figure(self) -> go.Figure:
        counts = self.rows["reason"].value_counts()
        return go.Figure(go.Bar(x=counts.index, y=counts.values))


def run_rejected(rejected: ibis.Table, limit: int = 50) -> RejectedResult:
    """The latest ``limit`` rejected rows, each with the row as given (up to 64 KiB)."""
    query = rejected.order_by([ibis.desc("rejected_at"), "source", "line"]).limit(limit)
    frame = query.select("source", "line", "field", "reason", "detail", "row").execute()
    return RejectedResult(frame)
