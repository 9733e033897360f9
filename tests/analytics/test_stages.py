"""Stage flow and conformance on one hand-worked set of journeys, plus reference checks."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics.conformance import run_conformance
from journeylens.analytics.stages import run_stage_flow
from journeylens.errors import SpecError
from journeylens.testing import journeys

STAGES = ["awareness", "consideration", "decision"]
A, C, D = ({"stage": s} for s in STAGES)


@pytest.fixture
def events() -> Any:
    # ana: awareness 10:00 (ad, phone) → consideration 11:00 (compare, desktop) → decision 13:00
    # bo:  awareness 10:00 (no touchpoint) → consideration 10:30 → awareness 11:30 (blog): back
    # cy:  decision only (enters the journey late)
    # dee: awareness 10:00 (ad) → an event with no stage → decision next day: skips consideration
    # eve: consideration and awareness at the same instant → taken in designed order
    con = ibis.duckdb.connect()
    return con.create_table(
        "events",
        journeys(
            {
                "ana": [
                    ("ad", "2026-01-01 10:00", {**A, "device": "phone"}),
                    ("compare", "+1h", {**C, "device": "desktop"}),
                    ("buy", "+2h", {**D, "device": "desktop"}),
                ],
                "bo": [
                    ("ad", "2026-01-01 10:00", {**A, "touchpoint": None}),
                    ("compare", "+30m", C),
                    ("blog", "+1h", A),
                ],
                "cy": [("buy", "2026-01-01 10:00", D)],
                "dee": [
                    ("ad", "2026-01-01 10:00", A),
                    ("help", "+1h", {"stage": None}),
                    ("buy", "+1d", D),
                ],
                "eve": [
                    ("compare", "2026-01-01 10:00", C),
                    ("email", "2026-01-01 10:00", A),
                ],
            }
        ),
    )


def test_people_conversion_and_time_between_stages(events: Any) -> None:
    rows = {r["stage"]: r for r in run_stage_flow(events, STAGES).to_dict()}
    # awareness: ana, bo, dee, eve.
    assert rows["awareness"]["people"] == 4
    assert rows["awareness"]["conversion_from_previous"] is None
    # consideration: ana, bo, eve → 3/4; all three after awareness (eve at the same instant).
    assert rows["consideration"]["people"] == 3
    assert rows["consideration"]["conversion_from_previous"] == pytest.approx(0.75)
    assert rows["consideration"]["people_in_order"] == 3
    # ana 3600 s, bo 1800 s, eve 0 s → median 1800.
    assert rows["consideration"]["median_seconds_from_previous"] == pytest.approx(1800)
    # decision: ana, cy, dee → 3/3 = 1.0, but only ana came from consideration: 1/3 in order.
    assert rows["decision"]["people"] == 3
    assert rows["decision"]["conversion_from_previous"] == pytest.approx(1.0)
    assert rows["decision"]["people_in_order"] == 1
    assert rows["decision"]["conversion_in_order"] == pytest.approx(1 / 3)
    assert rows["decision"]["median_seconds_from_previous"] == pytest.approx(7200)
    # Time in a stage: to the first entry into the next, as the next stage's time from it.
    in_stage = [rows[s]["median_seconds_in_stage"] for s in STAGES]
    assert in_stage == [pytest.approx(1800), pytest.approx(7200), None]


def test_went_back_counts_an_earlier_stage_after_a_later_one(events: Any) -> None:
    rows = {r["stage"]: r for r in run_stage_flow(events, STAGES).to_dict()}
    # Only bo: awareness (blog 11:30) after first entering consideration (10:30).
    # eve's awareness event at the consideration instant is not a step back.
    assert [rows[s]["went_back"] for s in STAGES] == [1, 0, 0]


def test_touchpoints_that_move_people_on_and_that_precede_leaving(events: Any) -> None:
    rows = {r["stage"]: r for r in run_stage_flow(events, STAGES).to_dict()}
    # Into consideration: ana via ad, bo via an unmapped event, eve via email (same instant).
    assert rows["awareness"]["moved_on_by"] == [
        {"touchpoint": "(unmapped)", "people": 1},
        {"touchpoint": "ad", "people": 1},
        {"touchpoint": "email", "people": 1},
    ]
    assert rows["consideration"]["moved_on_by"] == [{"touchpoint": "compare", "people": 1}]
    assert rows["decision"]["moved_on_by"] == []
    # Last staged event: bo blog (awareness), eve compare (consideration), ana/cy/dee buy.
    assert rows["awareness"]["left_after"] == [{"touchpoint": "blog", "people": 1}]
    assert rows["consideration"]["left_after"] == [{"touchpoint": "compare", "people": 1}]
    assert rows["decision"]["left_after"] == [{"touchpoint": "buy", "people": 3}]
    assert [rows[s]["ended_here"] for s in STAGES] == [1, 1, 3]


def test_json_shape_is_the_documented_contract(events: Any) -> None:
    first = run_stage_flow(events, STAGES).to_dict()[0]
    for key in (
        "stage",
        "people",
        "conversion_from_previous",
        "median_seconds_from_previous",
        "median_seconds_in_stage",
        "went_back",
        "moved_on_by",
        "left_after",
    ):
        assert key in first


def test_since_until_and_figure(events: Any) -> None:
    flow = run_stage_flow(events, STAGES, since=datetime(2026, 1, 2))
    # Only dee's decision event (next day) is left.
    assert list(flow.to_frame()["people"]) == [0, 0, 1]
    assert list(flow.figure().data[0].x) == [0, 0, 1]


def test_a_breakdown_counts_each_person_under_their_first_staged_events_value(events) -> None:
    # ana's first staged event is on a phone; bo, cy, dee and eve name no device (eve's first is
    # her awareness event, taken before the consideration at the same instant).
    flow = run_stage_flow(events, STAGES, by="device")
    rows = flow.to_frame()
    assert list(rows.columns[:2]) == ["device", "stage"]
    people = {(r["device"], r["stage"]): r for r in flow.to_dict()}
    assert [people["(none)", s]["people"] for s in STAGES] == [3, 2, 2]
    assert [people["phone", s]["people"] for s in STAGES] == [1, 1, 1]
    assert list(rows["device"]) == ["(none)"] * 3 + ["phone"] * 3  # most people first
    assert people["phone", "decision"]["median_seconds_from_previous"] == 7200
    assert people["phone", "consideration"]["moved_on_by"] == [
        {"touchpoint": "compare", "people": 1}
    ]
    assert people["(none)", "awareness"]["went_back"] == 1  # bo
    assert people["(none)", "decision"]["conversion_from_previous"] == 1.0
    # Together the values hold everyone once: the flow without a breakdown.
    whole = run_stage_flow(events, STAGES).to_frame()
    summed = rows.groupby("stage", sort=False)[["people", "went_back", "ended_here"]].sum()
    assert summed.reset_index().to_dict("list") == whole[
        ["stage", "people", "went_back", "ended_here"]
    ].to_dict("list")


def test_a_breakdown_keeps_the_top_values_and_groups_the_rest(events) -> None:
    rows = run_stage_flow(events, STAGES, by="device", top=1).to_frame()
    assert list(rows["device"].unique()) == ["(none)", "(other)"]
    assert list(rows[rows["device"] == "(other)"]["people"]) == [1, 1, 1]


@pytest.mark.parametrize(
    ("by", "top", "message"),
    [
        ("properties.nosuch", 10, "No event has the property 'properties.nosuch'"),
        ("people", 10, "share a name with a stage field"),
        ("device", 0, "top must be at least 1"),
    ],
)
def test_a_breakdown_that_cannot_be_made_is_refused(events, by, top, message) -> None:
    with pytest.raises(SpecError, match=message):
        run_stage_flow(events, STAGES, by=by, top=top)


@pytest.mark.parametrize("stages", [[], ["a", "a"], "awareness"])
def test_stage_lists_that_make_no_sense_are_refused(events: Any, stages: Any) -> None:
    with pytest.raises(SpecError):
        run_stage_flow(events, stages)


EPOCH = datetime(2026, 1, 1)
stage_logs = st.lists(
    st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.integers(0, 20), st.integers(0, 3)),
    min_size=1,
    max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=stage_logs)
def test_stage_counts_match_a_reference(log: list[tuple[str, int, int]]) -> None:
    names = ["s0", "s1", "s2", None]  # index 3: an event outside the journey
    people: dict[str, list[Any]] = defaultdict(list)
    for person, seconds, stage in log:
        when = (EPOCH + timedelta(seconds=seconds)).isoformat()
        people[person].append(("e", when, {"stage": names[stage]}))
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(people))
    rows = run_stage_flow(events, names[:3]).to_dict()

    firsts: dict[str, dict[int, int]] = defaultdict(dict)
    lasts: dict[str, dict[int, int]] = defaultdict(dict)
    for person, seconds, stage in log:
        if stage < 3:
            firsts[person][stage] = min(firsts[person].get(stage, seconds), seconds)
            lasts[person][stage] = max(lasts[person].get(stage, seconds), seconds)
    for k in range(3):
        reached = [p for p in firsts if k in firsts[p]]
        back = [p for p in reached if any(lasts[p][k] > firsts[p][j] for j in firsts[p] if j > k)]
        assert rows[k]["people"] == len(reached)
        assert rows[k]["went_back"] == len(back)
        if k:
            ordered = [
                p for p in reached if k - 1 in firsts[p] and firsts[p][k] >= firsts[p][k - 1]
            ]
            assert rows[k]["people_in_order"] == len(ordered)
    assert sum(r["ended_here"] for r in rows) == len(firsts)


tied_logs = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3"]),
        st.integers(0, 4),  # few instants: many events at the same one
        st.integers(0, 3),
        st.sampled_from(["ad", "blog", "cart", None]),
        st.integers(0, 2),  # seconds after the instant it was received: orders ties first
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=tied_logs, data=st.data())
def test_the_stored_keys_give_the_flow_the_text_columns_give(log: list[tuple], data) -> None:
    names = ["s0", "s1", "s2", None]
    people: dict[str, list[Any]] = defaultdict(list)
    for person, minutes, stage, touchpoint, late in log:
        ts = EPOCH + timedelta(minutes=minutes)
        extra = {"stage": names[stage], "touchpoint": touchpoint}
        extra["received_at"] = ts + timedelta(seconds=late)
        people[person].append(("e", ts.isoformat(), extra))
    rows = journeys(people)
    rows = rows.take(data.draw(st.permutations(range(rows.num_rows))))  # stored in any order
    keyed = ibis.duckdb.connect().create_table("events", rows)
    text = keyed.drop("person_key", "person_seq")
    assert run_stage_flow(keyed, names[:3]).to_dict() == run_stage_flow(text, names[:3]).to_dict()
    assert run_conformance(keyed, names[:3]).to_dict() == run_conformance(text, names[:3]).to_dict()
