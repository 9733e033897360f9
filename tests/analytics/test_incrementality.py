"""Incrementality on generated people where one touchpoint truly raises conversion."""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import numpy as np
import pyarrow as pa
import pytest

from journeylens.analytics.incrementality import IncrementalitySpec, run_incrementality
from journeylens.errors import SpecError
from journeylens.schema import EVENTS, arrow_schema

PEOPLE = 6000


def generated_events(seed: int = 11) -> tuple[pa.Table, dict[str, float]]:
    """Search visitors convert at 30 %, social at 10 %. ``coupon`` (shown to half of everyone)
    adds 15 points; ``banner`` (half of everyone) and ``retarget`` (80 % of search visitors,
    20 % of social) add nothing — but retarget's raw difference is large."""
    rng = np.random.default_rng(seed)
    search = rng.random(PEOPLE) < 0.5
    exposed = {
        "coupon": rng.random(PEOPLE) < 0.5,
        "banner": rng.random(PEOPLE) < 0.5,
        "retarget": rng.random(PEOPLE) < np.where(search, 0.8, 0.2),
    }
    rate = np.where(search, 0.30, 0.10) + 0.15 * exposed["coupon"]
    buys = rng.random(PEOPLE) < rate
    start = datetime(2026, 1, 1)
    rows: dict[str, list] = {
        k: []
        for k in (
            "event_id",
            "ts",
            "event",
            "person_id",
            "touchpoint",
            "channel",
            "device",
            "stage",
        )
    }

    def add(person: int, hour: int, event: str, touchpoint: str | None) -> None:
        rows["event_id"].append(f"{person}-{hour}")
        rows["ts"].append(start + timedelta(hours=person % 500 + hour))
        rows["event"].append(event)
        rows["person_id"].append(f"p{person}")
        rows["touchpoint"].append(touchpoint)
        rows["channel"].append("search" if search[person] else "social")
        rows["device"].append("mobile")
        rows["stage"].append("awareness")

    for person in range(PEOPLE):
        add(person, 0, "landing", "landing")
        for hour, (name, mask) in enumerate(exposed.items(), start=1):
            if mask[person]:
                add(person, hour, name, name)
        if buys[person]:
            add(person, 9, "purchase", None)
    rows["received_at"] = rows["ts"]
    full = {name: rows.get(name, [None] * len(rows["ts"])) for name in EVENTS.names}
    raw = {name: 100 * (buys[mask].mean() - buys[~mask].mean()) for name, mask in exposed.items()}
    return pa.table(full, schema=arrow_schema(EVENTS)), raw


@pytest.fixture(scope="module")
def outcome():
    table, raw = generated_events()
    result = run_incrementality(ibis.memtable(table), IncrementalitySpec(bootstrap=500, seed=3))
    return result.to_frame().set_index("touchpoint"), raw


def test_touchpoint_that_raises_conversion_has_a_lift_above_zero(outcome):
    lifts, _ = outcome
    coupon = lifts.loc["coupon"]
    assert coupon["lift_low"] > 0
    assert coupon["lift"] == pytest.approx(15, abs=3.5)
    assert coupon["lift_low"] < coupon["lift"] < coupon["lift_high"]


def test_touchpoint_that_does_nothing_has_an_interval_around_zero(outcome):
    lifts, _ = outcome
    assert lifts.loc["banner", "lift_low"] < 0 < lifts.loc["banner", "lift_high"]


def test_strata_remove_a_confounded_raw_difference(outcome):
    lifts, raw = outcome
    assert raw["retarget"] > 8  # exposed people are mostly search visitors
    assert lifts.loc["retarget", "lift_low"] < 0 < lifts.loc["retarget", "lift_high"]


def test_without_strata_the_confounded_difference_comes_back():
    table, raw = generated_events()
    spec = IncrementalitySpec(strata=[], bootstrap=200)
    lifts = run_incrementality(ibis.memtable(table), spec).to_frame().set_index("touchpoint")
    assert lifts.loc["retarget", "lift"] == pytest.approx(raw["retarget"])
    assert lifts.loc["retarget", "lift_low"] > 0


def test_records_carry_lift_fields(outcome):
    table, _ = generated_events()
    result = run_incrementality(ibis.memtable(table), IncrementalitySpec(bootstrap=100))
    record = result.to_dict()[0]
    assert {
        "model",
        "touchpoint",
        "exposed_people",
        "lift",
        "lift_low",
        "lift_high",
        "conversions",
        "revenue",
    } <= set(record)
    assert record["model"] == "incrementality"
    assert outcome[0].loc["landing", "matched_people"] == 0  # everyone saw landing


def test_exposure_after_the_first_conversion_does_not_count():
    from journeylens.testing import journeys

    people = {f"b{i}": [("purchase", "2026-01-01"), ("ad", "+1d")] for i in range(10)}
    people.update({f"n{i}": [("blog", "2026-01-01")] for i in range(10)})
    spec = IncrementalitySpec(strata=[], bootstrap=100)
    lifts = run_incrementality(ibis.memtable(journeys(people)), spec).to_frame()
    assert "ad" not in set(lifts["touchpoint"])


def test_unknown_stratum_is_named():
    with pytest.raises(SpecError, match="Unknown stratum 'country'"):
        IncrementalitySpec(strata=["country"])


def staged_events(seed: int = 5, people: int = 9000) -> pa.Table:
    """A journey of stages: everyone lands (awareness); 30 % go on to pricing (consideration),
    50 % of those to the cart (decision), 60 % of those buy. ``coupon``, shown to half of
    everyone after landing, raises the step to consideration by 20 points (+6 points of
    conversion). ``retarget`` does nothing, but is shown with a 35 % chance at each stage a
    person reaches: the further one gets, the likelier one has seen it."""
    rng = np.random.default_rng(seed)
    coupon = rng.random(people) < 0.5
    consider = rng.random(people) < 0.3 + 0.2 * coupon
    decide = consider & (rng.random(people) < 0.5)
    buy = decide & (rng.random(people) < 0.6)
    shown = rng.random((3, people)) < 0.35
    start = datetime(2026, 1, 1)
    rows: dict[str, list] = {k: [] for k in ("event_id", "ts", "event", "person_id", "stage")}
    steps = [
        (0, "landing", "awareness", np.ones(people, bool)),
        (1, "coupon", "awareness", coupon),
        (2, "retarget", "awareness", shown[0]),
        (10, "pricing", "consideration", consider),
        (11, "retarget", "consideration", consider & shown[1]),
        (20, "cart", "decision", decide),
        (21, "retarget", "decision", decide & shown[2]),
        (30, "purchase", "decision", buy),
    ]
    for hour, event, stage, mask in steps:
        for person in np.flatnonzero(mask):
            rows["event_id"].append(f"{person}-{hour}")
            rows["ts"].append(start + timedelta(hours=int(person) % 500 + hour))
            rows["event"].append(event)
            rows["person_id"].append(f"p{person}")
            rows["stage"].append(stage)
    rows["touchpoint"] = [None if e == "purchase" else e for e in rows["event"]]
    rows["received_at"] = rows["ts"]
    full = {name: rows.get(name, [None] * len(rows["ts"])) for name in EVENTS.names}
    return pa.table(full, schema=arrow_schema(EVENTS))


@pytest.fixture(scope="module")
def staged():
    table = ibis.memtable(staged_events())
    result = run_incrementality(table, IncrementalitySpec(bootstrap=400, seed=1))
    return table, result.to_frame().set_index("touchpoint")


def test_retargeting_that_follows_people_who_get_further_has_no_lift(staged):
    table, lifts = staged
    raw = table.to_pandas()
    buyers = set(raw.loc[raw["event"] == "purchase", "person_id"])
    seen = set(raw.loc[raw["event"] == "retarget", "person_id"])
    everyone = set(raw["person_id"])
    exposed_rate = len(buyers & seen) / len(seen)
    unexposed_rate = len(buyers - seen) / len(everyone - seen)
    assert exposed_rate - unexposed_rate > 0.04  # the raw difference is large
    retarget = lifts.loc["retarget"]
    assert retarget["lift_low"] < 0 < retarget["lift_high"]
    assert retarget["lift"] == pytest.approx(0, abs=1.5)


def test_effective_touchpoint_keeps_its_lift_beside_retargeting(staged):
    _, lifts = staged
    coupon = lifts.loc["coupon"]
    assert coupon["lift_low"] > 0
    assert coupon["lift"] == pytest.approx(6, abs=2)


def test_without_the_stage_landmark_retargeting_looks_effective(staged):
    table, _ = staged
    spec = IncrementalitySpec(strata=["channel", "device", "period"], bootstrap=200)
    lifts = run_incrementality(table, spec).to_frame().set_index("touchpoint")
    assert lifts.loc["retarget", "lift_low"] > 2


def test_the_given_stage_order_is_the_landmark(staged):
    table, lifts = staged
    spec = IncrementalitySpec(
        stages=["awareness", "consideration", "decision"], bootstrap=400, seed=1
    )
    given = run_incrementality(table, spec).to_frame().set_index("touchpoint")
    assert given.loc["retarget", "lift"] == pytest.approx(lifts.loc["retarget", "lift"])


def test_touch_on_another_device_tied_by_a_later_login_is_not_an_exposure():
    from journeylens.testing import journeys

    anonymous = {"anonymous_id": "phone", "user_id": None}
    people = {
        f"b{i}": [("blog", "2026-01-01"), ("ad", "+1h", anonymous), ("purchase", "+1d")]
        for i in range(10)
    }
    people.update({f"n{i}": [("blog", "2026-01-01"), ("ad", "+1h")] for i in range(10)})
    spec = IncrementalitySpec(strata=[], bootstrap=100)
    lifts = run_incrementality(ibis.memtable(journeys(people)), spec).to_frame()
    ad = lifts.set_index("touchpoint").loc["ad"]
    assert ad["exposed_people"] == 10  # only the n* people saw it on the device they came on
    assert ad["lift"] == pytest.approx(-100 * 10 / 10)


def test_a_report_says_why_a_lift_is_blank():
    from journeylens.analytics.attribution_report import run_attribution_report

    table, _ = generated_events()
    report = run_attribution_report(
        ibis.memtable(table), None, models=["incrementality"], bootstrap=100
    )
    note = report.unmeasured_lift()
    assert note is not None
    assert note.startswith("No lift for landing:")  # everyone saw it
    measured = report.to_frame().query("touchpoint != 'landing'")
    assert measured["lift"].notna().all()
    credit_only = run_attribution_report(ibis.memtable(table), None, models=["last_touch"])
    assert credit_only.unmeasured_lift() is None


@pytest.mark.parametrize("models", [["incrementality"], ["linear", "incrementality"], ["all"]])
def test_people_counts_are_whole_numbers_beside_the_credit_models(models):
    from journeylens.analytics.attribution_report import run_attribution_report

    table, _ = generated_events()
    report = run_attribution_report(ibis.memtable(table), None, models=models, bootstrap=100)
    lift = [r for r in report.to_dict() if r["model"] == "incrementality"]
    credit = [r for r in report.to_dict() if r["model"] != "incrementality"]
    assert lift
    for key in ("exposed_people", "matched_people"):
        assert all(type(r[key]) is int for r in lift)
        assert all(r.get(key) is None for r in credit)


@pytest.mark.parametrize("since", [None, datetime(2026, 1, 10)])
def test_first_events_by_the_stored_sequence_match_the_numbering_window(since):
    # With person_key and person_seq filled, each person's first event is the one with the
    # least person_seq among those analysed (a later first one where `since` cuts): the same
    # people and strata as numbering the events by time.
    from journeylens.analytics.incrementality import build_people
    from journeylens.testing import _number_people

    table, _ = generated_events()
    rows = table.to_pylist()
    _number_people(rows)
    keyed = pa.Table.from_pylist(rows, schema=table.schema)
    spec = IncrementalitySpec(since=since)
    by_keys = build_people(ibis.memtable(keyed), spec, ()).execute()
    unkeyed = keyed.drop(["person_key", "person_seq"])
    by_window = build_people(ibis.memtable(unkeyed), spec, ()).execute()
    columns = sorted(by_window.columns)
    ordered = [
        frame[columns].sort_values("person_id", ignore_index=True) for frame in (by_keys, by_window)
    ]
    assert len(ordered[0]) > 0
    assert ordered[0].equals(ordered[1])
