"""What a workspace holds: counts of events, people, sessions, feedback and rejected rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result
from journeylens.analytics.sequence import person_column
from journeylens.journey.currency import revenue_currencies

if TYPE_CHECKING:
    from journeylens.workspace import Workspace


@dataclass
class StatusResult(Result):
    """Counts per table; ``rejected_by_reason`` maps reason codes to row counts."""

    events: int
    people: int
    sessions: int
    feedback: int
    rejected: int
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    first_event: Any = None
    last_event: Any = None
    # Per currency of the events with revenue above 0 (money in that currency; a free order's 0
    # is in none), as stored: {"SEK": {"events": n, "revenue": x}}.
    revenue_by_currency: dict[str | None, dict[str, float]] = field(default_factory=dict)
    report_currency: str | None = None
    currency_note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        from journeylens.analytics.result import json_ready

        return json_ready(
            {
                "events": self.events,
                "people": self.people,
                "sessions": self.sessions,
                "feedback": self.feedback,
                "rejected": self.rejected,
                "rejected_by_reason": self.rejected_by_reason,
                "first_event": self.first_event,
                "last_event": self.last_event,
                "revenue_by_currency": {
                    code or "(none)": totals for code, totals in self.revenue_by_currency.items()
                },
                "report_currency": self.report_currency,
                "currency_note": self.currency_note,
            }
        )

    def to_frame(self) -> pd.DataFrame:
        rows = [
            ("events", self.events),
            ("people", self.people),
            ("sessions", self.sessions),
            ("feedback", self.feedback),
            ("rejected", self.rejected),
        ]
        rows += [(f"rejected: {reason}", n) for reason, n in self.rejected_by_reason.items()]
        rows += [
            (f"events with revenue above 0 in {code or '(no currency)'}", int(totals["events"]))
            for code, totals in self.revenue_by_currency.items()
        ]
        return pd.DataFrame(rows, columns=["what", "count"])

    def figure(self) -> go.Figure:
        frame = self.to_frame()
        return go.Figure(go.Bar(x=frame["what"], y=frame["count"]))


def run_status(workspace: Workspace) -> StatusResult:
    """Count what ``workspace`` holds, one aggregate query per table."""
    events = workspace.events
    totals = workspace.store.execute(
        events.aggregate(
            events=events.count(),
            people=events[person_column(events)].nunique(),
            sessions=events.session_id.nunique(),
            first_event=events.ts.min(),
            last_event=events.ts.max(),
        )
    ).iloc[0]
    rejected = workspace.rejected
    reasons = workspace.store.execute(
        rejected.group_by("reason").aggregate(n=rejected.count()).order_by(["reason"])
    )
    by_reason = {str(r): int(n) for r, n in zip(reasons["reason"], reasons["n"], strict=True)}
    by_reason = dict(sorted(by_reason.items(), key=lambda kv: (-kv[1], kv[0])))
    currencies = revenue_currencies(workspace.store.table("events"))
    by_currency = {
        code: {"events": int(n), "revenue": float(total)}
        for code, n, total in zip(
            currencies["currency"], currencies["events"], currencies["revenue"], strict=True
        )
    }
    return StatusResult(
        events=int(totals["events"]),
        people=int(totals["people"]),
        sessions=int(totals["sessions"]),
        feedback=workspace.store.count("feedback"),
        rejected=sum(by_reason.values()),
        rejected_by_reason=by_reason,
        first_event=None if pd.isna(totals["first_event"]) else totals["first_event"],
        last_event=None if pd.isna(totals["last_event"]) else totals["last_event"],
        revenue_by_currency=by_currency,
        report_currency=workspace.config.report_currency,
        currency_note=workspace.currency_note(list(by_currency)),
    )
