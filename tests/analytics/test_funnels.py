"""Funnels on hand-worked journeys; each number in these tests is worked out in the comments."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime

import ibis
import numpy as np
import pyarrow as pa
import pytest

from journeylens.analytics import funnels, proportions
from journeylens.analytics._funnel_reference import reference_counts
from journeylens.analytics.conversion_drivers import run_conversion_drivers
from journeylens.analytics.funnel_trends import run_funnel_trend
from journeylens.analytics.funnels import (
    FunnelSpec,
    build_funnel,
    build_funnel_people,
    dropped_people,
    run_funnel,
)
from journeylens.analytics.proportions import two_proportion_test, wilson
from journeylens.errors import SpecError
from journeylens.journey.steps import parse_duration, parse_step, row_key_text, step_matches
from journeylens.schema import EVENTS, arrow_schema
from journeylens.testing import journeys

_names = itertools.count()
Events = Callable[[dict], ibis.Table]


@pytest.fixture(scope="module")
def table_of() -> Iterator[Callable[[pa.Table], ibis.Table]]:
    """Arrow events in, an Ibis table out; the one place that names the engine."""
    con = ibis.duckdb.connect()
    yield lambda arrow: con.create_table(f"events_{next(_names)}", arrow)
    con.disconnect()


@pytest.fixture
def events(table_of: Callable[[pa.Table], ibis.Table]) -> Events:
    return lambda people: table_of(journeys(people))


def people(result: funnels.FunnelResult) -> list[int]:
    return result.to_frame()["people"].tolist()


def test_events_at_the_same_time_count_in_the_order_received(events: Events) -> None:
    # Ids that sort the other way ("z..." before "a..." would be id order): receipt decides.
    at = "2026-01-01T10:00:00"
    first, then = datetime(2026, 1, 1, 10, 0, 1), datetime(2026, 1, 1, 10, 0, 2)
    table = events(
        {
            "ann": [("b", at, {"received_at": then}), ("a", at, {"received_at": first})],
            "bob": [("a", at, {"received_at": then}), ("b", at, {"received_at": first})],
        }
    )
    assert people(funnels.run_funnel(table, FunnelSpec(steps=["a", "b"]))) == [2, 1]
    keyless = table.drop("person_key", "person_seq")  # the text columns order them alike
    assert people(funnels.run_funnel(keyless, FunnelSpec(steps=["a", "b"]))) == [2, 1]


def test_public_surface_is_pinned() -> None:
    assert sorted(funnels.__all__) == [
        "FunnelResult",
        "FunnelSpec",
        "build_funnel",
        "build_funnel_people",
        "dropped_people",
        "parse_duration",
        "parse_step",
        "run_funnel",
    ]


SHOP = {
    # ann converts fully: signup 1h after landing, purchase 1d after signup.
    "ann": [("landing", "2026-01-01 10:00"), ("signup", "+1h"), ("purchase", "+1d")],
    # bob signs up 2h after landing and stops.
    "bob": [("landing", "2026-01-01 11:00"), ("signup", "+2h")],
    # cy only lands.
    "cy": [("landing", "2026-01-02 09:00")],
}


def test_ordered_funnel_counts_conversion_and_drop_off(events: Events) -> None:
    result = run_funnel(events(SHOP), FunnelSpec(steps=["landing", "signup", "purchase"]))
    frame = result.to_frame()
    assert people(result) == [3, 2, 1]
    assert frame["conversion_from_start"].tolist() == pytest.approx([1, 2 / 3, 1 / 3])
    assert frame["conversion_from_previous"].tolist() == pytest.approx([1, 2 / 3, 1 / 2])
    assert frame["dropped"].tolist() == [0, 1, 1]
    # signup: ann 3600 s, bob 7200 s → median 5400; purchase: ann 86400 s after signup.
    assert frame["median_seconds_to_convert"].tolist()[1:] == [5400, 86400]
    assert frame["p90_seconds_from_start"].tolist()[2] == 3600 + 86400
    low, high = wilson(2, 3)
    assert (frame["ci_low"][1], frame["ci_high"][1]) == pytest.approx((low, high))


def test_an_unquoted_name_with_a_wildcard_is_a_glob_and_a_quoted_one_is_exact(
    events: Events,
) -> None:
    # A page per product: any product page is the step. ann views two, bob one, cy none (a
    # product listing is no product page); a quoted '*' is the name itself, which no one has.
    t = events(
        {
            "ann": [("page:/product/7", "2026-01-01"), ("page:/product/9", "+1m"), ("buy", "+1h")],
            "bob": [("page:/product/12", "2026-01-01"), ("page:/products", "+1m")],
            "cy": [("page:/products", "2026-01-01"), ("buy", "+1h")],
        }
    )
    glob = run_funnel(t, FunnelSpec(steps=["event:page:/product/*", "buy"]))
    assert people(glob) == [2, 1]
    assert people(run_funnel(t, FunnelSpec(steps=["event:page:/product/?", "buy"]))) == [1, 1]
    assert people(run_funnel(t, FunnelSpec(steps=['"page:/product/*"', "buy"]))) == [0, 0]
    assert step_matches(parse_step("event:page:/product/*"), {"event": "page:/product/7"})
    assert not step_matches(parse_step('"page:/product/*"'), {"event": "page:/product/7"})


def test_to_dict_has_the_documented_shape(events: Events) -> None:
    spec = FunnelSpec(steps=["landing", "signup"])
    shape = run_funnel(events(SHOP), spec).to_dict()
    assert list(shape) == ["steps", "spec"]
    first = shape["steps"][0]
    for key in ("step", "people", "conversion_from_start", "conversion_from_previous", "dropped"):
        assert key in first
    assert first["step"] == "landing"
    assert shape["spec"]["steps"] == ["landing", "signup"]


def test_window_includes_event_exactly_at_seven_days(events: Events) -> None:
    log = {"ann": [("a", "2026-01-01 00:00"), ("b", "+7d")]}
    assert people(run_funnel(events(log), FunnelSpec(steps=["a", "b"], within="7d"))) == [1, 1]


def test_window_excludes_second_past_seven_days(events: Events) -> None:
    log = {"ann": [("a", "2026-01-01 00:00"), ("b", "+604801s")]}
    assert people(run_funnel(events(log), FunnelSpec(steps=["a", "b"], within="7d"))) == [1, 0]


def test_a_person_enters_at_their_first_step_one_event(events: Events) -> None:
    # The first landing is 15 days before the signup; the second is 1 hour before it.
    log = {"ann": [("a", "2026-01-01 00:00"), ("a", "+15d"), ("b", "+1h")]}
    result = run_funnel(events(log), FunnelSpec(steps=["a", "b"], within="14d"))
    assert people(result) == [1, 0]


def test_with_entry_best_a_later_entry_converts_after_the_first_attempt_expires(
    events: Events,
) -> None:
    log = {"ann": [("a", "2026-01-01 00:00"), ("a", "+15d"), ("b", "+1h")]}
    spec = FunnelSpec(steps=["a", "b"], within="14d", entry="best")
    result = run_funnel(events(log), spec)
    assert people(result) == [1, 1]
    assert result.to_frame()["median_seconds_to_convert"][1] == 3600


def test_restart_with_the_first_entry_counts_the_first_attempt_no_exclusion_ended(
    events: Events,
) -> None:
    log = {
        # x ends the first attempt before b: the second a starts the one that counts.
        "ann": [("a", "2026-01-01 00:00"), ("x", "+1h"), ("a", "+1h"), ("b", "+1h")],
        # x comes 20 days on, after the first attempt's window closed: that attempt counts.
        "bob": [("a", "2026-01-01 00:00"), ("x", "+20d"), ("a", "+1h"), ("b", "+1h")],
        # Every attempt ended by an exclusion: the first counts (it reached b).
        "cy": [("a", "2026-01-01 00:00"), ("b", "+1h"), ("x", "+1h"), ("a", "+1h"), ("x", "+1h")],
    }
    spec = FunnelSpec(steps=["a", "b", "c"], within="14d", exclude=["x"], exclusion="restart")
    people_of = build_funnel_people(events(log), spec).execute()
    assert dict(zip(people_of["person_id"], people_of["reach"], strict=True)) == {
        "ann": 2,
        "bob": 1,
        "cy": 2,
    }


def test_strict_funnel_breaks_on_interleaved_event(events: Events) -> None:
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("z", "+1m"), ("b", "+1m")],  # z between a and b
        "bob": [("a", "2026-01-01 00:00"), ("b", "+1m")],
    }
    table = events(log)
    assert people(run_funnel(table, FunnelSpec(steps=["a", "b"], order="ordered"))) == [2, 2]
    assert people(run_funnel(table, FunnelSpec(steps=["a", "b"], order="strict"))) == [2, 1]


def test_any_order_accepts_steps_out_of_order(events: Events) -> None:
    log = {"ann": [("a", "2026-01-01 00:00"), ("c", "+1m"), ("b", "+1m")]}
    table = events(log)
    steps = ["a", "b", "c"]
    assert people(run_funnel(table, FunnelSpec(steps=steps))) == [1, 1, 0]
    result = run_funnel(table, FunnelSpec(steps=steps, order="any"))
    assert people(result) == [1, 1, 1]
    # In any order, reaching step 3 means b and c both happened: at the later of them (+2m).
    assert result.to_frame()["p50_seconds_from_start"].tolist() == [0, 120, 120]


EXCLUDED = {
    "ann": [("a", "2026-01-01 00:00"), ("x", "+1m"), ("b", "+1m")],  # x inside the attempt
    "bob": [("a", "2026-01-01 00:00"), ("b", "+1m")],
    "cy": [("a", "2026-01-01 00:00"), ("x", "+1m"), ("a", "+1m"), ("b", "+1m")],
}


def test_drop_exclusion_removes_the_person_from_every_step(events: Events) -> None:
    # ann's and cy's counted attempts (their first, reaching b) contain x: both leave the funnel.
    spec = FunnelSpec(steps=["a", "b"], exclude=["x"], exclusion="drop")
    assert people(run_funnel(events(EXCLUDED), spec)) == [1, 1]


def test_restart_exclusion_ends_only_that_attempt(events: Events) -> None:
    # ann: x ends her only attempt at a. cy: the second a (after x) reaches b.
    spec = FunnelSpec(steps=["a", "b"], exclude=["x"], exclusion="restart")
    assert people(run_funnel(events(EXCLUDED), spec)) == [3, 2]


def test_an_exclusion_event_that_is_the_steps_own_event_fills_the_step(events: Events) -> None:
    # x passes step 2's filter: it is the step's event, not an exclusion between the steps.
    log = {"ann": [("a", "2026-01-01 00:00"), ("x", "+1m", {"properties": '{"level": 5}'})]}
    for exclusion in ("restart", "drop"):
        spec = FunnelSpec(steps=["a", "[level>=5]"], exclude=["x"], exclusion=exclusion)
        assert people(run_funnel(events(log), spec)) == [1, 1], exclusion


def test_equal_timestamps_are_ordered_by_event_id(events: Events) -> None:
    log = {
        "ann": [("b", "2026-01-01 00:00", {"event_id": "2"}), ("a", "+0s", {"event_id": "1"})],
        "bob": [("a", "2026-01-01 00:00", {"event_id": "2"}), ("b", "+0s", {"event_id": "1"})],
    }
    # ann's a (id 1) comes before her b (id 2): converted. bob's b (id 1) is before his a.
    assert people(run_funnel(events(log), FunnelSpec(steps=["a", "b"]))) == [2, 1]


SESSIONS = {
    "ann": [
        ("a", "2026-01-01 00:00", {"session_id": "ann#1"}),
        ("b", "+5m", {"session_id": "ann#1"}),
        ("a", "+1d", {"session_id": "ann#2"}),
        ("b", "+1d", {"session_id": "ann#3"}),
    ]
}


def test_sessions_count_each_session_on_its_own(events: Events) -> None:
    table = events(SESSIONS)
    assert people(run_funnel(table, FunnelSpec(steps=["a", "b"]))) == [1, 1]
    # ann#1 converts; ann#2 has a without b; ann#3 has no a.
    assert people(run_funnel(table, FunnelSpec(steps=["a", "b"], count="sessions"))) == [2, 1]


def test_attempts_count_reentry_after_completion_and_expiry(events: Events) -> None:
    log = {
        "ann": [
            ("a", "2026-01-01 00:00"),
            ("a", "+1m"),  # inside the open attempt: not a new one
            ("b", "+1m"),  # attempt 1 completes
            ("a", "+1m"),  # attempt 2 starts, its window (1h) expires unconverted
            ("a", "+2h"),  # attempt 3
            ("b", "+1m"),  # attempt 3 completes
        ]
    }
    spec = FunnelSpec(steps=["a", "b"], within="1h", count="attempts")
    assert people(run_funnel(events(log), spec)) == [3, 2]


def test_with_restart_an_exclusion_closes_the_attempt_and_the_next_a_opens_one(
    events: Events,
) -> None:
    log = {
        # x ends attempt 1 (at a); the a after it opens attempt 2, which reaches b.
        "u1": [("a", "2026-03-01 10:00"), ("x", "+1m"), ("a", "+1m"), ("b", "+1m")],
        # attempt 1 completes at b; x ends attempt 2 (the second a); the third a converts.
        "u2": [("a", "2026-03-01 10:00"), *[(name, "+1m") for name in "baxab"]],
    }
    spec = FunnelSpec(steps=["a", "b"], exclude=["x"], exclusion="restart", count="attempts")
    table = events(log)
    assert people(run_funnel(table, spec)) == [5, 3]
    assert people(run_funnel(table, replace(spec, count="people"))) == [2, 2]
    rows = _reference_log(log)
    assert reference_counts(rows, spec) == [5, 3]
    assert reference_counts([r for r in rows if r[0] == "u1"], spec) == [2, 1]


def _reference_log(log: dict) -> list[tuple]:
    """The journeys as the reference reads them: (person, ts, event id, row)."""
    rows = journeys(log).to_pylist()
    return [(r["person_id"], r["ts"], r["event_id"], r) for r in rows]


def test_thousands_of_attempts_in_one_second_walk_in_bounded_plans(
    events: Events, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 2,000 × (a, b) at one instant (ordered by event id within it) take 11 rounds of the
    # attempts' walk; each reads the last twice, so without a table every few rounds the plan
    # doubled each round (out of memory beside 50,000 other people). The tables change nothing
    # in the counts.
    log = {"heavy": [("a", "2026-06-01 12:00"), ("b", "+0s")] * 2000}
    log |= {f"p{i}": [("x", "2026-06-01 12:00")] for i in range(200)}
    table = events(log)
    spec = FunnelSpec(steps=["a", "b"], within="1d", count="attempts")
    walked = people(run_funnel(table, spec))
    assert walked[0] > 1000
    monkeypatch.setattr(funnels, "WALK_ROUNDS", 100)  # no table: one plan for all rounds
    assert people(run_funnel(table, spec)) == walked


def test_step_window_limits_time_from_previous_step(events: Events) -> None:
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("b", "+1d"), ("c", "+30m")],
        "bob": [("a", "2026-01-01 00:00"), ("b", "+1h"), ("c", "+2h")],
    }
    spec = FunnelSpec(steps=["a", "b", "c"], step_within=[None, None, "1h"])
    assert people(run_funnel(events(log), spec)) == [2, 2, 1]
    # One window per step after the first says the same.
    spec = FunnelSpec(steps=["a", "b", "c"], step_within=[None, "1h"])
    assert people(run_funnel(events(log), spec)) == [2, 2, 1]


BREAKDOWN = {
    "ann": [("a", "2026-01-01 00:00", {"channel": "email"}), ("b", "+1h", {"channel": "ads"})],
    "bob": [("a", "2026-01-01 00:00", {"channel": "ads"})],
}


def test_breakdown_by_first_step_value(events: Events) -> None:
    result = run_funnel(events(BREAKDOWN), FunnelSpec(steps=["a", "b"], by="channel"))
    assert {v: f["people"].tolist() for v, f in result.breakdown.items()} == {
        "email": [1, 1],
        "ads": [1, 0],
    }
    values = [b["value"] for b in result.to_dict()["breakdown"]]
    assert sorted(values) == ["ads", "email"]


def test_breakdown_by_last_step_value(events: Events) -> None:
    # ann's last step is b (ads); bob's is a (ads).
    spec = FunnelSpec(steps=["a", "b"], by="channel", by_step="last")
    result = run_funnel(events(BREAKDOWN), spec)
    assert {v: f["people"].tolist() for v, f in result.breakdown.items()} == {"ads": [2, 1]}


def test_in_any_order_the_last_step_is_the_last_step_reached_not_the_latest_event(
    events: Events,
) -> None:
    # cy reaches all three steps in any order: c (mobile) fills step 3 before b (desktop)
    # fills step 2. The last step's value is c's, though b came later.
    log = {
        "cy": [
            ("a", "2026-01-01 00:00", {"device": "tablet"}),
            ("c", "2026-01-01 00:01", {"device": "mobile"}),
            ("b", "2026-01-01 00:02", {"device": "desktop"}),
        ]
    }
    spec = FunnelSpec(steps=["a", "b", "c"], order="any", by="device", by_step="last")
    result = run_funnel(events(log), spec)
    assert {v: f["people"].tolist() for v, f in result.breakdown.items()} == {"mobile": [1, 1, 1]}


def test_breakdown_keeps_top_values_and_groups_the_rest(events: Events) -> None:
    log = {
        f"p{i}": [("a", "2026-01-01 00:00", {"channel": channel})]
        for i, channel in enumerate(["email", "email", "email", "ads", "ads", "seo"])
    }
    result = run_funnel(events(log), FunnelSpec(steps=["a"], by="channel", top=1))
    assert {v: f["people"].tolist() for v, f in result.breakdown.items()} == {
        "email": [3],
        "(other)": [3],
    }


def test_a_value_named_other_is_not_pooled_with_the_rest(events: Events) -> None:
    # Channels often include a real "other": it keeps its own row beside the pooled "(other)".
    log = {
        f"p{i}": [("a", "2026-01-01 00:00", {"channel": channel})]
        for i, channel in enumerate(["other", "other", "other", "ads", "seo"])
    }
    result = run_funnel(events(log), FunnelSpec(steps=["a"], by="channel", top=1))
    assert {v: f["people"].tolist() for v, f in result.breakdown.items()} == {
        "other": [3],
        "(other)": [2],
    }


def test_breakdown_significance_flags_a_clear_difference(events: Events) -> None:
    log = {}
    for i in range(40):  # email: 18 of 20 convert; ads: 2 of 20.
        channel = "email" if i < 20 else "ads"
        steps = [("a", "2026-01-01 00:00", {"channel": channel})]
        if (i < 18) or (20 <= i < 22):
            steps.append(("b", "+1h"))
        log[f"p{i}"] = steps
    result = run_funnel(events(log), FunnelSpec(steps=["a", "b"], by="channel"))
    tests = result.significance().set_index("value")
    assert tests.loc["email", "conversion"] == pytest.approx(0.9)
    assert tests.loc["email", "rest_conversion"] == pytest.approx(0.1)
    assert bool(tests.loc["email", "significant"])
    assert bool(tests.loc["ads", "significant"])
    shown = result.breakdown_display().set_index("value")
    assert list(shown.columns[:2]) == ["1. a", "2. b"]
    assert shown[["1. a", "2. b"]].to_dict("index") == {
        "email": {"1. a": 20, "2. b": 18},
        "ads": {"1. a": 20, "2. b": 2},
    }


def test_property_filters_on_columns_and_json(events: Events) -> None:
    log = {
        "ann": [
            ("view", "2026-01-01 00:00", {"plan": "pro"}),
            ("purchase", "+1h", {"revenue": 150.0}),
        ],
        "bob": [
            ("view", "2026-01-01 00:00", {"plan": "pro"}),
            ("purchase", "+1h", {"revenue": 50.0}),
        ],
        "cy": [
            ("view", "2026-01-01 00:00", {"plan": "free"}),
            ("purchase", "+1h", {"revenue": 500.0}),
        ],
    }
    spec = FunnelSpec(steps=["view[plan=pro]", "event:purchase[revenue>100]"])
    assert people(run_funnel(events(log), spec)) == [2, 1]
    spec = FunnelSpec(steps=["[plan=pro]", "purchase[revenue>=50][revenue<=100]"])
    assert people(run_funnel(events(log), spec)) == [2, 1]


def test_a_number_written_as_text_in_properties_is_compared_as_a_number(events: Events) -> None:
    # CSV columns (and JSON Lines scalars) reach properties as text: "25", not 25.
    log = {
        "ann": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"price": "25"})],
        "bob": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"price": " 5 "})],
        "cy": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"price": "cheap"})],
        "di": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"price": 30})],
    }
    table = events(log)
    assert people(run_funnel(table, FunnelSpec(steps=["view", "buy[price>10]"]))) == [4, 2]
    assert people(run_funnel(table, FunnelSpec(steps=["view", "buy[price=5]"]))) == [4, 1]
    assert people(run_funnel(table, FunnelSpec(steps=["view", "buy[price=cheap]"]))) == [4, 1]


def test_json_true_and_false_are_read_as_those_words(events: Events) -> None:
    # Segment and Parquet exports keep flags as JSON booleans, not text.
    log = {
        "ann": [("view", "2026-01-01 10:00", {"vip": True}), ("buy", "+1m")],
        "bob": [("view", "2026-01-01 10:00", {"vip": False}), ("buy", "+1m")],
        "cy": [("view", "2026-01-01 10:00", {"vip": "true"})],
        "di": [("view", "2026-01-01 10:00", {"vip": 1}), ("buy", "+1m")],
    }
    table = events(log)
    assert people(run_funnel(table, FunnelSpec(steps=["view[vip=true]", "buy"]))) == [2, 1]
    assert people(run_funnel(table, FunnelSpec(steps=["view[vip!=true]", "buy"]))) == [1, 1]
    assert people(run_funnel(table, FunnelSpec(steps=["view[vip~f*]", "buy"]))) == [1, 1]
    by = FunnelSpec(steps=["view", "buy"], by="vip")
    frame = run_funnel(table, by).breakdown_frame().query("step_number == 1")
    assert frame.set_index("value")["people"].to_dict() == {
        "true": 2,
        "false": 1,
        "1.0": 1,
    }
    rows = journeys(log).to_pylist()
    views = [r for r in rows if r["event"] == "view"]
    assert [step_matches(parse_step("view[vip=true]"), r) for r in views] == [
        True,
        False,
        True,
        False,
    ]
    assert [row_key_text(r, "vip") for r in views] == ["true", "false", "true", "1.0"]


def test_a_dotted_key_reaches_a_property_inside_nested_objects(events: Events) -> None:
    # Amplitude keeps an event's properties in event_properties, GA4 in event_params.
    log = {
        "ann": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"event_properties": {"price": 25}})],
        "bob": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"event_properties": {"price": "5"}})],
        "cy": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"event_properties": "flat"})],
        "di": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"price": 99})],
    }
    table = events(log)
    spec = FunnelSpec(steps=["view", "buy[event_properties.price>10]"])
    assert people(run_funnel(table, spec)) == [4, 1]
    by = FunnelSpec(steps=["view", "buy"], by="event_properties.price", by_step="last")
    frame = run_funnel(table, by).breakdown_frame().query("step_number == 2")
    assert frame.set_index("value")["people"].to_dict() == {"25.0": 1, "5": 1, "(none)": 2}
    rows = journeys(log).to_pylist()
    assert [step_matches(parse_step("buy[event_properties.price>10]"), r) for r in rows[1::2]] == [
        True,
        False,
        False,
        False,
    ]
    with pytest.raises(SpecError, match=r"a\.b for b inside a"):
        parse_step("buy[event_properties..price>1]")


def test_posthog_dollar_keys_are_their_own_properties(events: Events) -> None:
    # PostHog names its own properties $browser, $current_url; a key "browser" is another one.
    log = {
        "ann": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"$browser": "Firefox"})],
        "bob": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"browser": "Firefox"})],
        "cy": [("view", "2026-01-01 10:00"), ("buy", "+1m", {"$set": {"$os": "iOS"}})],
    }
    table = events(log)
    spec = FunnelSpec(steps=["view", "buy[$browser=Firefox]"])
    assert people(run_funnel(table, spec)) == [3, 1]
    assert people(run_funnel(table, FunnelSpec(steps=["view", "buy[$set.$os=iOS]"]))) == [3, 1]
    globbed = FunnelSpec(steps=["view", "buy[$browser~Fire*]"])
    assert people(run_funnel(table, globbed)) == [3, 1]
    by = FunnelSpec(steps=["view", "buy"], by="$browser", by_step="last")
    frame = run_funnel(table, by).breakdown_frame().query("step_number == 2")
    assert frame.set_index("value")["people"].to_dict() == {"Firefox": 1, "(none)": 2}
    rows = journeys(log).to_pylist()
    matches = [step_matches(parse_step("buy[$browser=Firefox]"), r) for r in rows[1::2]]
    assert matches == [True, False, False]
    matches = [step_matches(parse_step("buy[$browser~*fox]"), r) for r in rows[1::2]]
    assert matches == [True, False, False]


def test_a_glob_filter_matches_text_literally(events: Events) -> None:
    log = {
        "ann": [("view", "2026-01-01 10:00", {"url": "https://shop.example/pricing?x=1"})],
        "bob": [("view", "2026-01-01 10:00", {"url": "https://shop.example/pricingXplan"})],
        "cy": [("view", "2026-01-01 10:00", {"url": 7}), ("view", "+1m", {"channel": "email"})],
    }
    table = events(log)
    assert people(run_funnel(table, FunnelSpec(steps=["view[url~*/pricing?x=*]"]))) == [1]
    assert people(run_funnel(table, FunnelSpec(steps=["view[url~*pricing*]"]))) == [2]
    assert people(run_funnel(table, FunnelSpec(steps=["view[channel~e?ail]"]))) == [1]
    with pytest.raises(SpecError, match="numeric column 'revenue'"):
        parse_step("buy[revenue~1*]")


def test_json_numeric_filter(events: Events) -> None:
    log = {
        "ann": [("view", "2026-01-01 00:00", {"items": 3})],
        "bob": [("view", "2026-01-01 00:00", {"items": 1})],
    }
    assert people(run_funnel(events(log), FunnelSpec(steps=["view[items>2]"]))) == [1]


def test_since_and_until_bound_the_events(events: Events) -> None:
    spec = FunnelSpec(
        steps=["landing", "signup"],
        since=datetime(2026, 1, 1, 10, 30),
        until=datetime(2026, 1, 2),
    )
    # Only bob lands inside [10:30, Jan 2): ann at 10:00 is before, cy on Jan 2 is not before.
    assert people(run_funnel(events(SHOP), spec)) == [1, 1]


def test_dropped_people_are_those_who_reached_the_previous_step(events: Events) -> None:
    spec = FunnelSpec(steps=["landing", "signup", "purchase"])
    assert dropped_people(events(SHOP), spec, 2).execute()["person_id"].tolist() == ["cy"]
    assert dropped_people(events(SHOP), spec, 3).execute()["person_id"].tolist() == ["bob"]
    with pytest.raises(SpecError, match="from 2 to 3"):
        dropped_people(events(SHOP), spec, 1)


def test_trend_by_day_of_entry(events: Events) -> None:
    trend = run_funnel_trend(events(SHOP), FunnelSpec(steps=["landing", "signup"]), every="day")
    frame = trend.to_frame()
    assert [str(p.date()) for p in frame["period"]] == ["2026-01-01", "2026-01-02"]
    assert frame["entrants"].tolist() == [2, 1]
    assert frame["conversion"].tolist() == [1.0, 0.0]
    weekly = run_funnel_trend(events(SHOP), FunnelSpec(steps=["landing"]), every="week")
    assert [str(p.date()) for p in weekly.to_frame()["period"]] == ["2025-12-29"]  # a Monday


def test_a_trend_counts_a_unit_in_every_period_it_entered(events: Events) -> None:
    # A 1-day window. dan lands on Jan 1 and leaves, lands again on Jan 3 and signs up: Jan 1
    # has him as an entrant who did not convert, Jan 3 as one who did (counted by his furthest
    # attempt alone, Jan 1 would lose him and Jan 3 look better than it was). eve lands at
    # 23:30 and signs up after midnight: her conversion is Jan 1's, the day she entered.
    log = {
        "dan": [("landing", "2026-01-01 10:00"), ("landing", "+2d"), ("signup", "+1h")],
        "eve": [("landing", "2026-01-01 23:30"), ("signup", "+1h")],
    }
    spec = FunnelSpec(steps=["landing", "signup"], within="1d")
    frame = run_funnel_trend(events(log), spec).to_frame()
    assert [str(p.date()) for p in frame["period"]] == ["2026-01-01", "2026-01-03"]
    assert frame["entrants"].tolist() == [2, 1]
    assert frame["conversions"].tolist() == [1, 1]
    # The data ends at dan's signup, Jan 3 11:00: Jan 1's entries had their day, Jan 3's not.
    assert frame["complete"].tolist() == [True, False]


def test_a_trend_period_is_complete_once_its_latest_entry_had_its_window(events: Events) -> None:
    # The default 14-day window. Jan 5's last entry is p2's at 02:00, whose window closes
    # exactly at the end of the data (p9, Jan 19 02:00): settled, though the day's last second
    # is later. With p3 entering a second after p2 (and again a day on), neither day is.
    log = {
        "p1": [("a", "2026-01-05 00:00"), ("b", "+1h")],
        "p2": [("a", "2026-01-05 02:00")],
        "p3": [("a", "2026-01-05 02:00:01"), ("a", "+1d")],
        "p9": [("z", "2026-01-19 02:00")],
    }
    spec = FunnelSpec(steps=["a", "b"])
    frame = run_funnel_trend(events({k: v for k, v in log.items() if k != "p3"}), spec).to_frame()
    assert [str(p.date()) for p in frame["period"]] == ["2026-01-05"]
    assert frame["complete"].tolist() == [True]
    frame = run_funnel_trend(events(log), spec).to_frame()
    assert [str(p.date()) for p in frame["period"]] == ["2026-01-05", "2026-01-06"]
    assert frame["complete"].tolist() == [False, False]


def test_conversion_drivers_odds_ratios(events: Events) -> None:
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("help", "+1m"), ("b", "+1m")],
        "bob": [("a", "2026-01-01 00:00"), ("help", "+1m"), ("b", "+1m")],
        "cy": [("a", "2026-01-01 00:00"), ("pricing", "+1m")],
        "dan": [("a", "2026-01-01 00:00"), ("b", "+1m")],
    }
    result = run_conversion_drivers(events(log), FunnelSpec(steps=["a", "b"]), 2, min_count=1)
    frame = result.to_frame().set_index("value")
    # help: 2 of 2 convert, without it 1 of 2 → ((2.5)(1.5)) / ((1.5)(0.5)) = 5.
    assert frame.loc["help", "odds_ratio"] == pytest.approx(5.0)
    assert frame.loc["help", "direction"] == "converts"
    # pricing: 0 of 1, without it 3 of 3 → ((0.5)(0.5)) / ((3.5)(1.5)).
    assert frame.loc["pricing", "odds_ratio"] == pytest.approx(0.25 / 5.25)
    assert frame.loc["pricing", "direction"] == "drops"


def test_conversion_drivers_leave_out_a_value_every_unit_has(events: Events) -> None:
    # Every unit came from the web: 7 of 10 convert, which says nothing about the web.
    log = {
        f"p{i}": [("a", "2026-01-01 00:00", {"channel": "web"})]
        + ([("help", "+1m")] if i < 4 else [])
        + ([("b", "+1m", {"channel": "web"})] if i < 7 else [])
        for i in range(10)
    }
    frame = run_conversion_drivers(events(log), FunnelSpec(steps=["a", "b"]), 2, min_count=2)
    assert frame.to_frame()["value"].tolist() == ["help"]
    # Missing in fewer than min_count units is left out too: help, held by 4, lacks in 6.
    frame = run_conversion_drivers(events(log), FunnelSpec(steps=["a", "b"]), 2, min_count=7)
    assert frame.to_frame().empty


def test_figure_is_a_plotly_funnel(events: Events) -> None:
    figure = run_funnel(events(SHOP), FunnelSpec(steps=["landing", "signup"])).figure()
    assert figure.data[0].type == "funnel"
    assert list(figure.data[0].x) == [3, 2]


def test_figure_labels_show_tags_in_names_as_text(events: Events) -> None:
    # Plotly reads tags in labels (a link, a style): a name holding them is shown as written.
    link, big = '<a href="https://example.com">pay</a>', "<span style='font-size:80px'>x</span>"
    log = {"ann": [(link, "2026-01-01 00:00", {"device": big}), ("b&c", "+1m")]}
    spec = FunnelSpec(steps=[f"'{link}'", "b&c"], by="device")
    figure = run_funnel(events(log), spec).figure()
    shown = [*figure.data[0].y, figure.data[0].name]
    assert shown == [
        "'&lt;a href=\"https://example.com\"&gt;pay&lt;/a&gt;'",  # the step as written
        "b&amp;c",
        "&lt;span style='font-size:80px'&gt;x&lt;/span&gt;",
    ]


def test_sql_is_kept_on_the_result(events: Events) -> None:
    result = run_funnel(events(SHOP), FunnelSpec(steps=["landing", "signup"]))
    assert "SELECT" in result.sql


def test_filter_values_are_literals_not_sql(events: Events) -> None:
    nasty = "x' OR '1'='1"
    log = {"ann": [("view", "2026-01-01 00:00", {"channel": nasty})]}
    spec = FunnelSpec(steps=[f"view[channel='{nasty}']"])
    assert people(run_funnel(events(log), spec)) == [1]
    assert people(run_funnel(events(log), FunnelSpec(steps=["view[channel=email]"]))) == [0]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"steps": ["a", "evnt:b"]}, "Step 2: Unknown step kind 'evnt'"),
        ({"steps": ["a", "b[revenue>lots]"]}, "numeric column 'revenue'"),
        ({"steps": ["a", "b[plan>pro]"]}, "'>' with the text value 'pro'"),
        ({"steps": ["a", "b[plan=pro"]}, "Cannot read the filter '\\[plan=pro'"),
        ({"steps": ["a", ""]}, "Step 2: Empty funnel step"),
        ({"steps": ["a", "b"], "within": "2 days"}, "Invalid duration '2 days' for within"),
        ({"steps": ["a", "b"], "order": "sorted"}, "Invalid order 'sorted'"),
        ({"steps": ["a", "b"], "count": "users"}, "Invalid count 'users'"),
        ({"steps": ["a", "b"], "exclude": ["b"]}, "Exclusion 'b' is also a step"),
        ({"steps": ["a", "b"], "step_within": ["1h", None]}, "a window for step 1"),
        ({"steps": ["a", "b"], "step_within": [None, "1h", "2h"]}, "3 entries for 2 steps"),
        ({"steps": ["a", "b"], "by": "plan x"}, "Invalid breakdown 'plan x'"),
        ({"steps": ["a", "b"], "by_step": 3}, "Invalid by_step 3"),
        ({"steps": ["a", "b"], "top": 0}, "Invalid top 0"),
        ({"steps": "a"}, "needs a list of steps"),
        ({"steps": ["Add: to cart"]}, "write 'event:Add: to cart' or quote the name"),
        ({"steps": ['"cart" page']}, "'page' after its quoted name"),
        ({"steps": ["cart [blue]"]}, "quote a name that holds brackets"),
    ],
)
def test_bad_specs_name_the_bad_value(kwargs: dict, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        FunnelSpec(**kwargs)


def test_parse_step_and_duration() -> None:
    step = parse_step("touchpoint:Checkout Page[channel=email][revenue>=10]")
    assert (step.kind, step.name, len(step.filters)) == ("touchpoint", "Checkout Page", 2)
    assert parse_step("event:app:open").name == "app:open"
    assert parse_step("[plan=pro]").name is None
    # Quoted names are taken as written: brackets, colons and '>' included.
    quoted = parse_step('touchpoint:"Home > Shop [beta]"[device=mobile]')
    assert (quoted.kind, quoted.name, quoted.filters[0].key) == (
        "touchpoint",
        "Home > Shop [beta]",
        "device",
    )
    assert parse_step("'Add: to cart [blue]'").name == "Add: to cart [blue]"
    assert [parse_duration(t) for t in ("30s", "30m", "2h", "7d", "1w")] == [
        30,
        1800,
        7200,
        604800,
        604800,
    ]
    assert parse_duration("36500d") == 36500 * 86400
    with pytest.raises(SpecError, match="at most 36500d"):
        parse_duration("999999999999999w")  # would overflow the engines' time arithmetic


def test_statistics_helpers() -> None:
    assert wilson(0, 0) == (None, None)
    low, high = wilson(8, 10)
    assert (round(low, 3), round(high, 3)) == (0.49, 0.943)
    z, p = two_proportion_test(30, 100, 50, 100)
    assert (round(z, 2), round(p, 4)) == (-2.89, 0.0039)


def _numpy_log(rows: int, people: int, names: list[str], seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    person = rng.integers(0, people, rows)
    start = np.datetime64("2026-01-01T00:00:00", "s")
    ts = start + rng.integers(0, 90 * 86400, rows).astype("timedelta64[s]")
    columns = {
        "event_id": pa.array(np.char.add("e", np.arange(rows).astype(str))),
        "ts": pa.array(ts.astype("datetime64[us]")),
        "event": pa.array(np.array(names)[rng.integers(0, len(names), rows)]),
        "person_id": pa.array(np.char.add("p", person.astype(str))),
        "session_id": pa.array(np.char.add("s", person.astype(str))),
    }
    schema = arrow_schema(EVENTS)
    return pa.Table.from_arrays(
        [columns.get(f.name, pa.nulls(rows, f.type)) for f in schema], schema=schema
    )


@pytest.mark.slow
def test_twelve_step_funnel_on_a_million_rows_is_fast(table_of) -> None:
    names = [f"s{i}" for i in range(12)] + ["other"]
    arrow = _numpy_log(1_000_000, 20_000, names)
    table = table_of(arrow)
    spec = FunnelSpec(steps=names[:12], within="30d")
    started = time.perf_counter()
    result = run_funnel(table, spec)
    elapsed = time.perf_counter() - started
    counts = people(result)
    entrants = len(set(np.asarray(arrow["person_id"])[np.asarray(arrow["event"]) == "s0"]))
    assert counts[0] == entrants
    assert counts == sorted(counts, reverse=True)
    assert counts[1] > 0
    assert elapsed < 60, f"12-step funnel on 1M rows took {elapsed:.1f}s"


def test_build_funnel_is_lazy(events: Events) -> None:
    expr = build_funnel(events(SHOP), FunnelSpec(steps=["landing", "signup"]))
    assert isinstance(expr, ibis.Table)
    assert set(expr.columns) >= {"segment", "step", "people", "median_seconds_to_convert"}


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # By hand, margins fixed: 1 hit among 9, in the 2 → P = 2/9 (x1 = 1 is as likely as
        # anything less likely than itself: only x1 = 0, 7/9, is likelier).
        ((1, 2, 0, 7), 2 / 9),
        # 4 hits among 8, 4 and 4: P(x1) = C(4,x)C(4,4-x)/70 = 1,16,36,16,1 /70; x1 = 3 and
        # every table as unlikely: (16 + 1 + 16 + 1) / 70.
        ((3, 4, 1, 4), 34 / 70),
        # 3 hits among 80, 40 and 40: P(0) = P(3) = C(40,3)/C(80,3) = 9880/82160.
        ((0, 40, 3, 40), 2 * 9880 / 82160),
    ],
)
def test_small_tables_are_tested_exactly(counts, expected) -> None:
    z, p = proportions.two_proportion_test(*counts)
    assert z is None
    assert p == pytest.approx(expected, rel=1e-6)


def test_large_tables_keep_the_z_test() -> None:
    z, p = proportions.two_proportion_test(30, 100, 50, 100)
    assert z == pytest.approx(-2.8868, abs=1e-4)
    assert p == pytest.approx(0.003892, rel=1e-3)
