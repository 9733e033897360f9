"""Conformance to the designed stage order: hand-worked journeys and a reference check."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics.conformance import run_conformance
from journeylens.testing import journeys

STAGES = ["awareness", "consideration", "decision"]
A, C, D = ({"stage": s} for s in STAGES)


@pytest.fixture
def con() -> Any:
    return ibis.duckdb.connect()


def test_in_order_skips_and_going_back(con: Any) -> None:
    # ana a c d: in order.       bo a c a: went back (consideration → awareness).
    # cy d: enters late, in order (not a skip).  dee a (no stage) d: skipped consideration.
    # eve c and a at the same instant: taken as a c, in order.
    # ana's repeated awareness events are one entry.
    events = con.create_table(
        "events",
        journeys(
            {
                "ana": [
                    ("ad", "2026-01-01 10:00", {**A, "device": "phone"}),
                    ("ad", "+5m", {**A, "device": "desktop"}),
                    ("compare", "+1h", C),
                    ("buy", "+1h", D),
                ],
                "bo": [("ad", "2026-01-01 10:00", A), ("compare", "+1h", C), ("blog", "+1h", A)],
                "cy": [("buy", "2026-01-01 10:00", D)],
                "dee": [
                    ("ad", "2026-01-01 10:00", {**A, "touchpoint": None}),
                    ("help", "+1h", {"stage": None}),
                    ("buy", "+1d", D),
                ],
                "eve": [("compare", "2026-01-01 10:00", C), ("email", "2026-01-01 10:00", A)],
            }
        ),
    )
    result = run_conformance(events, STAGES).to_dict()
    assert "breakdown" not in result
    # By device: ana's first staged event is on a phone; nobody else names one. The values
    # partition the people, so the totals are the same.
    by = run_conformance(events, STAGES, by="device").to_dict()
    assert by["breakdown"] == [
        {"device": "(none)", "people": 4, "in_order": 3, "in_order_without_skips": 2,
         "skipped": 1, "went_back": 1},
        {"device": "phone", "people": 1, "in_order": 1, "in_order_without_skips": 1,
         "skipped": 0, "went_back": 0},
    ]  # fmt: skip
    assert {k: v for k, v in by.items() if k != "breakdown"} == result
    assert result["people"] == 5
    assert result["in_order"] == 4  # all but bo
    assert result["in_order_without_skips"] == 3  # ana, cy, eve
    assert result["skipped"] == 1
    assert result["went_back"] == 1
    assert {d["deviation"]: (d["kind"], d["count"], d["people"]) for d in result["deviations"]} == {
        "awareness → decision (skipped consideration)": ("skipped", 1, 1),
        "consideration → awareness (went back)": ("went_back", 1, 1),
    }


def test_deviations_count_moves_and_people(con: Any) -> None:
    # p: a c a c a → two steps back (count 2) by one person; q: c a once.
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [(f"e{i}", f"2026-01-01 10:0{i}", s) for i, s in enumerate([A, C, A, C, A])],
                "q": [("e", "2026-01-01 10:00", C), ("f", "+1m", A)],
            }
        ),
    )
    result = run_conformance(events, STAGES)
    (row,) = result.to_dict()["deviations"]
    assert (row["deviation"], row["count"], row["people"]) == (
        "consideration → awareness (went back)",
        3,
        2,
    )
    assert result.figure().data[0].y[-1] == "consideration → awareness (went back)"


def test_a_long_skip_names_every_skipped_stage(con: Any) -> None:
    stages = ["s1", "s2", "s3", "s4"]
    events = con.create_table(
        "events",
        journeys({"p": [("x", "2026-01-01", {"stage": "s1"}), ("y", "+1h", {"stage": "s4"})]}),
    )
    (row,) = run_conformance(events, stages).to_dict()["deviations"]
    assert row["deviation"] == "s1 → s4 (skipped s2, s3)"


def test_no_staged_events_gives_zeros(con: Any) -> None:
    events = con.create_table("events", journeys({"p": [("x", "2026-01-01")]}))
    result = run_conformance(events, STAGES, until=datetime(2027, 1, 1)).to_dict()
    assert result == {
        "people": 0,
        "in_order": 0,
        "in_order_without_skips": 0,
        "skipped": 0,
        "went_back": 0,
        "deviations": [],
    }


@pytest.mark.parametrize("field", ["skipped", "in_order", "in_order_without_skips", "people"])
def test_a_breakdown_named_as_a_total_is_refused(con: Any, field: str) -> None:
    from journeylens.errors import SpecError

    events = con.create_table(
        "events",
        journeys({"p": [("ad", "2026-01-01", {**A, field: "yes"}), ("buy", "+1h", D)]}),
    )
    with pytest.raises(SpecError, match="share a name"):
        run_conformance(events, STAGES, by=field)


EPOCH = datetime(2026, 1, 1)
stage_logs = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.integers(0, 50), st.integers(0, 3)),
    min_size=1,
    max_size=30,
    unique_by=lambda row: (row[0], row[1]),  # one event per person and second: no ties here
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=stage_logs)
def test_conformance_matches_a_reference(log: list[tuple[str, int, int]]) -> None:
    people: dict[str, list[Any]] = defaultdict(list)
    for person, seconds, stage in sorted(log):
        when = (EPOCH + timedelta(seconds=seconds)).isoformat()
        people[person].append(("e", when, {"stage": f"s{stage}"}))
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(people))
    result = run_conformance(events, ["s0", "s1", "s2"]).to_dict()

    moves: Counter[tuple[str, str]] = Counter()
    back, skip, staged = set(), set(), set()
    for person, steps in people.items():
        entries: list[int] = []
        for step in steps:
            stage = int(step[2]["stage"][1])
            if stage < 3 and (not entries or entries[-1] != stage):
                entries.append(stage)
        staged.update([person] if entries else [])
        for a, b in pairwise(entries):
            if b < a or b > a + 1:
                moves[f"s{a}", f"s{b}"] += 1
                (back if b < a else skip).add(person)
    assert result["people"] == len(staged)
    assert result["went_back"] == len(back)
    assert result["skipped"] == len(skip)
    assert result["in_order"] == len(staged - back)
    assert {(d["from"], d["to"]): d["count"] for d in result["deviations"]} == dict(moves)
