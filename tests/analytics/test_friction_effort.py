"""Friction's effort signal: where each CES or success answer counts, worked out by hand."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from journeylens.analytics.changes import run_friction_change
from journeylens.analytics.filters import answers_where
from journeylens.analytics.friction import NONE, FrictionSpec, run_friction
from journeylens.schema import FEEDBACK, arrow_schema
from journeylens.testing import journeys
from journeylens.workspace import init_workspace

LOOSE = {"include_all": True, "min_count": 1, "min_affected": 1, "touchpoint": "pay"}
# m1 paid on mobile, d1 on desktop; zed's late event closes their windows.
PAYERS = {
    "m1": [("pay", "2026-01-01T10:00", {"device": "mobile"})],
    "d1": [("pay", "2026-01-01T10:00", {"device": "desktop"})],
    "zed": [("landing", "2026-02-01", {"device": "desktop"})],
}


def answers(*given: tuple[str | None, str, float, str | None]) -> pa.Table:
    """CES answers at pay as (person, ts, score, device); a person None is anonymous."""
    rows = []
    for i, (person, ts, score, device) in enumerate(given):
        row = dict.fromkeys(FEEDBACK.names)
        row.update(
            feedback_id=f"f{i}",
            ts=datetime.fromisoformat(ts),
            person_id=person,
            touchpoint="pay",
            metric="ces",
            score=score,
            device=device,
        )
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=arrow_schema(FEEDBACK))


# m1 and d1 find paying easy (6); two anonymous answers are hard (1), one on mobile.
GIVEN = (
    ("m1", "2026-01-01T10:05", 6, None),
    ("d1", "2026-01-01T10:05", 6, None),
    (None, "2026-01-01T10:06", 1, None),
    (None, "2026-01-01T10:07", 1, "mobile"),
)


def effort(result: Any) -> dict[str, tuple[int, int, int, float]]:
    """Per segment value: people, responses, high effort, the effort baseline rate."""
    return {
        r["value"]: (r["people"], r["responses"], r["effort"], round(r["effort_baseline_rate"], 3))
        for r in result.to_dict()
    }


def test_anonymous_answers_without_a_unit_make_a_segment_of_their_own() -> None:
    # By device: the anonymous answer without a device is the segment (none), which has no
    # unit; it still counts, and in the others' baselines: mobile (m1 6, anonymous 1) against
    # desktop and (none) together (1 of 2 hard) = 0.5; desktop against mobile and (none)
    # (2 of 3) = 0.667; (none) against mobile and desktop (1 of 3).
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(PAYERS))
    feedback = con.create_table("feedback", answers(*GIVEN))
    by_device = run_friction(events, FrictionSpec(by=["device"], **LOOSE), feedback)
    assert effort(by_device) == {
        "mobile": (1, 2, 1, 0.5),
        "desktop": (1, 1, 0, 0.667),
        NONE: (0, 1, 1, 0.333),
    }
    # By campaign (the feedback has none): every answer under (none), as many as by device.
    by_campaign = run_friction(events, FrictionSpec(by=["campaign"], **LOOSE), feedback)
    (row,) = by_campaign.to_dict()
    assert (row["value"], row["responses"], row["effort"]) == (NONE, 4, 2)


def test_an_anonymous_answer_counts_under_a_where_only_if_its_own_values_pass() -> None:
    # --where device=desktop: d1's answer (placed by d1's desktop event); not the anonymous
    # answers, one on mobile, one with no device. A condition on a column the feedback lacks
    # (campaign) finds it missing: only != passes.
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(PAYERS))
    feedback = con.create_table("feedback", answers(*GIVEN))

    def kept(*where: str) -> list[str]:
        found = answers_where(feedback, events, where).execute()
        return sorted(found["feedback_id"])

    assert kept() == ["f0", "f1", "f2", "f3"]
    assert kept("device=desktop") == ["f0", "f1"]
    assert kept("device!=desktop") == ["f0", "f1", "f2", "f3"]
    assert kept("device=mobile") == ["f0", "f1", "f3"]
    assert kept("campaign=spring") == ["f0", "f1"]
    assert kept("campaign!=spring", "device~mob*") == ["f0", "f1", "f3"]
    assert kept("plan=pro") == ["f0", "f1"]  # a property: missing on an answer
    desktop = events.filter(events.device == "desktop")
    kept_answers = answers_where(feedback, events, ["device=desktop"])
    result = run_friction(desktop, FrictionSpec(by=["campaign"], **LOOSE), kept_answers)
    (row,) = result.to_dict()
    assert (row["responses"], row["effort"], row["effort_rate"]) == (1, 0, 0.0)


def test_the_workspace_reads_the_answers_a_where_keeps(tmp_path: Path) -> None:
    # ws.friction (as the command line and the summary) filters the anonymous answers too.
    with init_workspace(tmp_path / "ws") as ws:
        ws.store.write("events", journeys(PAYERS))
        ws.store.write("feedback", answers(*GIVEN))
        options = {**LOOSE, "by": ["campaign"]}
        (row,) = ws.friction(where=["device=desktop"], **options).to_dict()
        assert (row["responses"], row["effort"]) == (1, 0)
        (row,) = ws.friction(**options).to_dict()
        assert (row["responses"], row["effort"]) == (4, 2)


def test_an_answer_counts_in_the_period_of_the_event_it_answers() -> None:
    # 39 people pay from 11:21 to 11:59, 40 from 12:00 to 12:39 (the data's last event), each
    # answering 2 minutes later; the change at 12:00 makes two periods of 39 minutes. b38's
    # answer (12:01) is about its payment before 12:00; a39's (12:41) comes after the data's
    # last event; an anonymous answer at 12:45 counts by its own time, after.
    at = datetime(2026, 1, 10, 12)
    people: dict[str, Any] = {"zed": [("landing", (at - timedelta(minutes=40)).isoformat())]}
    given = []
    sides = (("b", 39, at - timedelta(minutes=39)), ("a", 40, at))
    for prefix, n, start in sides:
        for i in range(n):
            when = start + timedelta(minutes=i)
            people[f"{prefix}{i}"] = [("pay", when.isoformat(), {"device": "mobile"})]
            given.append((f"{prefix}{i}", (when + timedelta(minutes=2)).isoformat(), 2, None))
    given.append((None, (at + timedelta(minutes=45)).isoformat(), 2, None))
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(people))
    feedback = con.create_table("feedback", answers(*given))
    spec = FrictionSpec(by=["device"], within="1h")
    result = run_friction_change(events, spec, at, "pay", feedback)
    rows = {r["signal"]: r for r in result.to_dict()}
    assert (rows["effort"]["before_units"], rows["effort"]["after_units"]) == (39, 41)
    assert (rows["error"]["before_units"], rows["error"]["after_units"]) == (39, 40)
    # Without a change: an --until cuts at the answered event, not at the answer.
    until = FrictionSpec(by=["device"], until=at, **LOOSE)
    (row,) = [r for r in run_friction(events, until, feedback).to_dict() if r["people"]]
    assert (row["people"], row["responses"]) == (39, 39)


@pytest.mark.parametrize("late", [False, True])
def test_an_answer_before_any_event_there_counts_by_its_own_time(late: bool) -> None:
    # A survey export with dates only: the answer (00:00) precedes the payment (10:00) it is
    # about. It counts by its own time: in a range that holds it, not in one that starts later.
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(PAYERS))
    feedback = con.create_table("feedback", answers(("m1", "2026-01-01T00:00", 2, None)))
    since = datetime(2026, 1, 1, 5) if late else None
    spec = FrictionSpec(by=["device"], since=since, **LOOSE)
    rows = {r["value"]: r for r in run_friction(events, spec, feedback).to_dict()}
    assert rows["mobile"]["responses"] == (0 if late else 1)


def test_an_answer_counts_once_in_each_value_of_each_dimension() -> None:
    # p1 paid on mobile twice, once on the web and once in the app; p2 on desktop on the web.
    # p1's hard answer counts once under mobile and once in each of p1's channels; with no
    # interaction given, both answers count once under (none), not once per combination.
    web, app = {"device": "mobile", "channel": "web"}, {"device": "mobile", "channel": "app"}
    people = {
        "p1": [("pay", "2026-01-01T10:00", web), ("pay", "+1m", app)],
        "p2": [("pay", "2026-01-01T10:00", {"device": "desktop", "channel": "web"})],
        "zed": [("landing", "2026-02-01", {"device": "desktop"})],
    }
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(people))
    given = (("p1", "2026-01-01T10:05", 2, None), ("p2", "2026-01-01T10:05", 6, None))
    feedback = con.create_table("feedback", answers(*given))
    spec = FrictionSpec(by=["channel", "device", "interaction"], **LOOSE)
    found = {
        (r["dimension"], r["value"]): (r["responses"], r["effort"])
        for r in run_friction(events, spec, feedback).to_dict()
    }
    assert found == {
        ("channel", "web"): (2, 1),
        ("channel", "app"): (1, 1),
        ("device", "mobile"): (1, 1),
        ("device", "desktop"): (1, 0),
        ("interaction", NONE): (2, 1),
    }


def test_before_and_after_everyone_counts_each_answer_once() -> None:
    # Before 11 Jan b0 and b1 pay on mobile, then on desktop; after it a0 and a1 on mobile
    # alone. Each answers once: two answers on each side, whatever the devices.
    at = datetime(2026, 1, 11)
    people: dict[str, Any] = {"zed": [("landing", "2026-01-13")]}
    given = []
    for prefix, start, devices in (("b", "2026-01-09", 2), ("a", "2026-01-11", 1)):
        for i in range(2):
            steps = [("pay", f"{start}T1{i}:00", {"device": "mobile"})]
            steps += [("pay", "+1m", {"device": "desktop"})] * (devices - 1)
            people[f"{prefix}{i}"] = [*steps, ("purchase", "+2m")]
            given.append((f"{prefix}{i}", f"{start}T1{i}:05", 2, None))
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(people))
    feedback = con.create_table("feedback", answers(*given))
    spec = FrictionSpec(by=["device"], within="1h", min_count=1)
    result = run_friction_change(events, spec, at, "pay", feedback)
    everyone = {r["signal"]: r for r in result.to_dict() if r["segment"] == {}}
    assert (everyone["effort"]["before_units"], everyone["effort"]["after_units"]) == (2, 2)
    assert (everyone["error"]["before_units"], everyone["error"]["after_units"]) == (2, 2)
