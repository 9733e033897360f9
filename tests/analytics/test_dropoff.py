"""Drop-off classes on hand-worked journeys, against the reference, on Spark, and on demo data."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics import dropoff
from journeylens.analytics._dropoff_reference import reference_dropoff
from journeylens.analytics.dropoff import (
    DropoffSpec,
    build_dropoff_people,
    dropoff_people,
    run_dropoff,
)
from journeylens.analytics.funnels import FunnelSpec
from journeylens.errors import SpecError
from journeylens.schema import EVENTS, arrow_schema
from journeylens.testing import journeys
from journeylens.workspace import Workspace, init_workspace

_names = itertools.count()
Events = Callable[[dict], ibis.Table]
CLASSES = ("dropped", "in_progress", "changed", "postponed", "abandoned")


@pytest.fixture(scope="module")
def table_of() -> Iterator[Callable[[pa.Table], ibis.Table]]:
    con = ibis.duckdb.connect()
    yield lambda arrow: con.create_table(f"events_{next(_names)}", arrow)
    con.disconnect()


@pytest.fixture
def events(table_of: Callable[[pa.Table], ibis.Table]) -> Events:
    return lambda people: table_of(journeys(people))


def counts(result: dropoff.DropoffResult) -> list[list[int]]:
    """Per step from 2: dropped, in_progress, changed, postponed, abandoned."""
    return result.to_frame()[list(CLASSES)].values.tolist()


def kinds(table: ibis.Table, spec: DropoffSpec) -> dict[str, tuple[int, str]]:
    frame = build_dropoff_people(table, spec).execute()
    return {r["person_id"]: (r["step"], r["kind"]) for r in frame.to_dict(orient="records")}


WEB, STORE = {"channel": "web"}, {"channel": "store"}
SHOP = {
    # ann converts online: not a drop-off.
    "ann": [("cart", "2026-01-01 10:00"), ("checkout", "+1h"), ("purchase", "+1h", WEB)],
    # bob starts a checkout and does nothing more: abandoned at purchase.
    "bob": [("cart", "2026-01-01 10:00"), ("checkout", "+1h")],
    # cy never checks out online but buys in the store two days later: changed at checkout.
    "cy": [("cart", "2026-01-01 10:00"), ("purchase", "+2d", STORE)],
    # dan checks out and buys online ten days later, past the 7-day window: postponed at purchase.
    "dan": [("cart", "2026-01-01 10:00"), ("checkout", "+1h"), ("purchase", "+10d", WEB)],
    # eve comes back to the checkout after eight days: postponed at checkout.
    "eve": [("cart", "2026-01-01 10:00"), ("checkout", "+8d")],
    # fay's cart is a day before the end of the data (zed's visit): in progress at checkout.
    "fay": [("cart", "2026-01-30 10:00")],
    "zed": [("visit", "2026-01-31 10:00")],
}
SHOP_FUNNEL = FunnelSpec(steps=["cart", "checkout", "purchase[channel=web]"], within="7d")


def test_each_class_on_a_shop(events: Events) -> None:
    table = events(SHOP)
    spec = DropoffSpec(SHOP_FUNNEL)
    assert spec.goal_step.text == "event:purchase"
    assert kinds(table, spec) == {
        "bob": (3, "abandoned"),
        "cy": (2, "changed"),
        "dan": (3, "postponed"),
        "eve": (2, "postponed"),
        "fay": (2, "in_progress"),
    }
    result = run_dropoff(table, spec)
    # checkout: cy, eve, fay dropped; purchase: bob, dan (the funnel's own dropped numbers).
    assert counts(result) == [[3, 1, 1, 1, 0], [2, 0, 0, 1, 1]]
    first = result.to_dict()[0]
    assert list(first) == [
        "step",
        "step_index",
        *CLASSES,
        "in_progress_share",
        "changed_share",
        "postponed_share",
        "abandoned_share",
    ]
    assert (first["step"], first["step_index"]) == ("checkout", 2)
    # Shares of the settled drop-offs (3 dropped − 1 in progress): cy and eve, one each.
    assert first["in_progress_share"] == pytest.approx(1 / 3)
    assert (first["changed_share"], first["postponed_share"], first["abandoned_share"]) == (
        0.5,
        0.5,
        0.0,
    )


def test_classes_add_up_to_the_funnels_dropped(events: Events) -> None:
    from journeylens.analytics.funnels import run_funnel

    table = events(SHOP)
    funnel = run_funnel(table, SHOP_FUNNEL).to_frame()["dropped"].tolist()[1:]
    frame = run_dropoff(table, DropoffSpec(SHOP_FUNNEL)).to_frame()
    assert frame["dropped"].tolist() == funnel
    assert (frame[["in_progress", "changed", "postponed", "abandoned"]].sum(axis=1) == funnel).all()


def test_goal_can_be_named(events: Events) -> None:
    # With the goal 'refund_request' nobody reached it: cy is abandoned, dan's late purchase is
    # still the funnel's step 3 (postponed).
    table = events(SHOP)
    found = kinds(table, DropoffSpec(SHOP_FUNNEL, goal="refund_request"))
    assert found["cy"] == (2, "abandoned")
    assert found["dan"] == (3, "postponed")


def test_another_plan_is_a_change(events: Events) -> None:
    log = {
        "ann": [("trial", "2026-01-01"), ("buy", "+1d", {"plan": "basic"})],
        "bob": [("trial", "2026-01-01"), ("buy", "+1d", {"plan": "pro"})],
        "zed": [("z", "2026-02-01")],
    }
    spec = DropoffSpec(FunnelSpec(steps=["trial", "buy[plan=pro]"]))
    assert kinds(events(log), spec) == {"ann": (2, "changed")}


# --- window edges --------------------------------------------------------------------------------


def test_goal_exactly_at_the_window_end_is_a_change_one_second_later_a_postponement(
    events: Events,
) -> None:
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("b", "+7d", STORE)],
        "bob": [("a", "2026-01-01 00:00"), ("b", "+604801s", STORE)],
        "cy": [("a", "2026-01-01 00:00"), ("b", "+604801s", WEB)],
    }
    spec = DropoffSpec(FunnelSpec(steps=["a", "b[channel=web]"], within="7d"))
    assert kinds(events(log), spec) == {
        "ann": (2, "changed"),
        "bob": (2, "postponed"),
        "cy": (2, "postponed"),
    }


def test_times_are_floored_to_the_second(events: Events) -> None:
    # 00:00:00.4 and 7 days 00:00:00.9 are 0 and 604800 whole seconds: at the window's end.
    log = {"ann": [("a", "2026-01-01 00:00:00.4"), ("b", "+604800.5s", STORE)]}
    spec = DropoffSpec(FunnelSpec(steps=["a", "b[channel=web]"], within="7d"))
    assert kinds(events(log), spec) == {"ann": (2, "changed")}


def test_window_closing_exactly_at_the_end_of_data_is_settled(events: Events) -> None:
    # The data ends at zed's event, exactly 7 days after ann's entry: ann's window has closed;
    # bob entered one second later, so his window is still open.
    log = {
        "ann": [("a", "2026-01-01 00:00")],
        "bob": [("a", "2026-01-01 00:00:01")],
        "zed": [("z", "2026-01-08 00:00")],
    }
    table = events(log)
    spec = DropoffSpec(FunnelSpec(steps=["a", "b"], within="7d"))
    assert kinds(table, spec) == {"ann": (2, "abandoned"), "bob": (2, "in_progress")}
    later = DropoffSpec(spec.funnel, as_of=datetime(2026, 1, 9))
    assert kinds(table, later) == {"ann": (2, "abandoned"), "bob": (2, "abandoned")}


def test_in_progress_wins_over_a_change(events: Events) -> None:
    # ann bought in the store but her window is still open at the end of the data.
    log = {"ann": [("a", "2026-01-01 00:00"), ("b", "+1d", STORE)]}
    spec = DropoffSpec(FunnelSpec(steps=["a", "b[channel=web]"], within="7d"))
    assert kinds(events(log), spec) == {"ann": (2, "in_progress")}


def test_until_is_the_end_of_the_data(events: Events) -> None:
    # Seen up to Jan 5, ann's b on Jan 4 is past her 1-day window: postponed. Seen up to Jan 3,
    # b is out of sight and the data ends at Jan 3 (exclusive): both windows have closed.
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("b", "+3d"), ("b", "+10d")],
        "bob": [("a", "2026-01-01 00:00")],
    }
    funnel = FunnelSpec(steps=["a", "b"], within="1d", until=datetime(2026, 1, 5))
    assert kinds(events(log), DropoffSpec(funnel)) == {
        "ann": (2, "postponed"),
        "bob": (2, "abandoned"),
    }
    funnel = FunnelSpec(steps=["a", "b"], within="1d", until=datetime(2026, 1, 3))
    assert kinds(events(log), DropoffSpec(funnel)) == {
        "ann": (2, "abandoned"),
        "bob": (2, "abandoned"),
    }


def test_per_step_window_is_the_deadline(events: Events) -> None:
    # c must follow b within 1 hour: ann's c 2 hours after b is late (postponed), though within
    # the 7-day window.
    log = {
        "ann": [("a", "2026-01-01 00:00"), ("b", "+1d"), ("c", "+2h")],
        "zed": [("z", "2026-02-01")],
    }
    funnel = FunnelSpec(steps=["a", "b", "c"], within="7d", step_within=[None, None, "1h"])
    assert kinds(events(log), DropoffSpec(funnel)) == {"ann": (3, "postponed")}


# --- identity, ties, breakdowns, audiences -------------------------------------------------------


def test_a_person_on_several_devices_is_followed_across_them(events: Events) -> None:
    # ann's cart is on her phone, her later purchase on her laptop (another anonymous id,
    # stitched to the same person): postponed. Per session, the laptop purchase within the
    # window is a change of route for the phone session.
    phone = {"anonymous_id": "phone-1", "device": "mobile", "session_id": "ann#1"}
    laptop = {"anonymous_id": "laptop-1", "device": "desktop", "session_id": "ann#2"}
    log = {
        "ann": [("cart", "2026-01-01 10:00", phone), ("purchase", "+20d", laptop)],
        "bob": [
            ("cart", "2026-01-01 10:00", {**phone, "session_id": "bob#1"}),
            ("cart", "+1d", {**laptop, "session_id": "bob#2"}),
            ("purchase", "+5m", {**laptop, "session_id": "bob#2"}),
        ],
    }
    table = events(log)
    spec = DropoffSpec(FunnelSpec(steps=["cart", "purchase"], within="7d"))
    assert kinds(table, spec) == {"ann": (2, "postponed")}
    sessions = DropoffSpec(FunnelSpec(steps=["cart", "purchase"], within="7d", count="sessions"))
    frame = build_dropoff_people(table, sessions).execute()
    found = {r["session_id"]: r["kind"] for r in frame.to_dict(orient="records")}
    assert found == {"ann#1": "postponed", "bob#1": "changed"}


def test_goal_in_the_same_second_as_the_entry_counts(events: Events) -> None:
    # ann: store purchase in the same second as her cart (times are whole seconds) → changed;
    # bob: store purchase one second before his cart → before entering, abandoned.
    log = {
        "ann": [("cart", "2026-01-01 10:00", {"event_id": "2"}), ("purchase", "+0s", STORE)],
        "bob": [("purchase", "2026-01-01 09:59:59", STORE), ("cart", "+1s")],
        "zed": [("z", "2026-02-01")],
    }
    spec = DropoffSpec(FunnelSpec(steps=["cart", "purchase[channel=web]"], within="7d"))
    assert kinds(events(log), spec) == {"ann": (2, "changed"), "bob": (2, "abandoned")}


def test_breakdown_splits_each_step(events: Events) -> None:
    log = {
        "ann": [("a", "2026-01-01", {"channel": "email"})],
        "bob": [("a", "2026-01-01", {"channel": "email"}), ("b", "+30d")],
        "cy": [("a", "2026-01-01", {"channel": "ads"}), ("b", "+1d", STORE)],
    }
    spec = DropoffSpec(FunnelSpec(steps=["a", "b[channel=web]"], within="7d", by="channel"))
    result = run_dropoff(events(log), spec)
    frame = result.to_frame()
    assert frame["segment"].tolist() == [None, "email", "ads"]
    assert counts(result) == [[3, 0, 1, 1, 1], [2, 0, 0, 1, 1], [1, 0, 1, 0, 0]]
    assert result.display_frame()["segment"].tolist() == ["all", "email", "ads"]
    assert json.dumps(result.to_dict())
    assert len(result.figure().data) == 4


def test_steps_nobody_dropped_at_have_zero_rows(events: Events) -> None:
    log = {"ann": [("a", "2026-01-01"), ("b", "+1h")], "zed": [("z", "2026-02-01")]}
    spec = DropoffSpec(FunnelSpec(steps=["a", "b", "c"]))
    assert counts(run_dropoff(events(log), spec)) == [[0, 0, 0, 0, 0], [1, 0, 0, 0, 1]]
    assert run_dropoff(events(log), spec).to_dict()[0]["changed_share"] is None


def test_audience_of_one_class(events: Events) -> None:
    table = events(SHOP)
    spec = DropoffSpec(SHOP_FUNNEL)
    frame = dropoff_people(table, spec, 2, "postponed").execute()
    assert frame["person_id"].tolist() == ["eve"]
    assert set(frame.columns) == {"person_id", "segment", "kind"}
    everyone = dropoff_people(table, spec, 3).execute()
    assert sorted(everyone["person_id"]) == ["bob", "dan"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: DropoffSpec(FunnelSpec(steps=["a"])), "two or more steps"),
        (lambda: DropoffSpec(FunnelSpec(steps=["a", "b"]), goal="nope:x"), "Goal: Unknown step"),
        (lambda: DropoffSpec(["a", "b"]), "needs a FunnelSpec"),  # type: ignore[arg-type]
    ],
)
def test_bad_specs_say_what_to_do(call: Callable[[], object], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        call()


@pytest.mark.parametrize(("step", "kind"), [(1, None), (4, None), (2, "lost")])
def test_bad_audience_arguments_are_refused(events: Events, step: int, kind: str | None) -> None:
    with pytest.raises(SpecError, match=r"step number from 2 to 3|Unknown drop-off kind"):
        dropoff_people(events(SHOP), DropoffSpec(SHOP_FUNNEL), step, kind)


def test_public_surface_is_pinned() -> None:
    assert sorted(dropoff.__all__) == [
        "DropoffResult",
        "DropoffSpec",
        "KINDS",
        "build_dropoff",
        "build_dropoff_people",
        "dropoff_people",
        "run_dropoff",
    ]


# --- the engine against the reference ------------------------------------------------------------

START = datetime(2026, 1, 1)
event_row = st.tuples(
    st.sampled_from(["ann", "bob", "cy"]),
    st.integers(0, 60),  # minutes; small so windows close, ties and edges happen
    st.sampled_from(["a", "b", "c", "z"]),
    st.sampled_from(["web", "store", None]),
    st.sampled_from(["s1", "s2"]),
)
spec_args = st.fixed_dictionaries(
    {
        "steps": st.sampled_from([["a", "b"], ["a", "b", "c[channel=web]"], ["a", "b", "a", "c"]]),
        "within": st.sampled_from(["5m", "10m", "30m"]),
        "order": st.sampled_from(["ordered", "strict", "any"]),
        "count": st.sampled_from(["people", "sessions", "attempts"]),
        "by": st.sampled_from([None, "channel"]),
    }
)


def _log(rows: list[tuple]) -> tuple[pa.Table, list]:
    records, log = [], []
    for index, (person, minute, event, channel, session) in enumerate(rows):
        record = dict.fromkeys(EVENTS.names)
        record.update(
            event_id=f"e{index:03d}",
            ts=START + timedelta(minutes=minute),
            event=event,
            person_id=person,
            session_id=f"{person}-{session}",
            channel=channel,
        )
        records.append(record)
        log.append((person, record["ts"], record["event_id"], record))
    return pa.Table.from_pylist(records, schema=arrow_schema(EVENTS)), log


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(event_row, min_size=1, max_size=25),
    args=spec_args,
    goal=st.sampled_from([None, "c", "[channel=store]"]),
    step_gap=st.booleans(),
)
def test_engine_matches_reference(
    table_of: Callable[[pa.Table], ibis.Table],
    rows: list[tuple],
    args: dict,
    goal: str | None,
    step_gap: bool,
) -> None:
    if step_gap and args["order"] != "any":
        args["step_within"] = [None] + ["3m"] * (len(args["steps"]) - 1)
    spec = DropoffSpec(FunnelSpec(**args), goal=goal)
    arrow, log = _log(rows)
    frame = build_dropoff_people(table_of(arrow), spec).execute()
    engine = sorted(
        (r["person_id"], r["step"], r["segment"] or None, r["kind"])
        for r in frame.to_dict(orient="records")
    )
    expected = sorted(
        (o[0][0], o[1], (o[2] or "(none)") if spec.funnel.by else None, o[3])
        for o in reference_dropoff(log, spec)
    )
    assert engine == expected


# --- the same on every engine --------------------------------------------------------------------


def test_same_classes_on_every_engine(make_workspace: Callable[..., Workspace]) -> None:
    ws = make_workspace()
    ws.store.write("events", journeys(SHOP))
    result = ws.dropoff("cart", "checkout", "purchase[channel=web]", within="7d")
    assert counts(result) == [[3, 1, 1, 1, 0], [2, 0, 0, 1, 1]]
    wrong_goal = r"Unknown event 'purchse' in the goal 'purchse'.*Did you mean 'purchase'"
    with pytest.raises(SpecError, match=wrong_goal):
        ws.dropoff("cart", "checkout", goal="purchse")
    spec = DropoffSpec(SHOP_FUNNEL)
    frame = ws.store.execute(dropoff_people(ws.events, spec, 3))
    assert sorted(zip(frame["person_id"], frame["kind"], strict=True)) == [
        ("bob", "abandoned"),
        ("dan", "postponed"),
    ]


# --- the demo's planted behaviours ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    ws = init_workspace(Path(tmp_path_factory.mktemp("demo")) / "ws", "four_stage_delight")
    ws.load_demo(events=200_000, seed=7)
    yield ws
    ws.close()


def _settled(record: dict) -> int:
    return int(record["dropped"] - record["in_progress"])


@pytest.mark.slow
def test_demo_checkout_abandoners_change_to_store_or_call_centre(demo: Workspace) -> None:
    # 35% of online checkout abandoners go to a store (60%, of whom 70% buy) or call (40%, 55%
    # buy): 0.35 × (0.6 × 0.7 + 0.4 × 0.55) ≈ 22% change. Cart abandoners were not planted.
    online = "purchase[interaction=self_service]"
    steps = ["cart_view", "checkout_start", "checkout_payment", online]
    cart, payment, purchase = run_dropoff(demo.events, DropoffSpec(FunnelSpec(steps))).to_dict()
    changed = payment["changed"] + purchase["changed"]
    assert 0.16 < changed / (_settled(payment) + _settled(purchase)) < 0.30
    assert cart["changed"] / _settled(cart) < 0.02
    assert payment["postponed"] + purchase["postponed"] < 0.02 * changed


@pytest.mark.slow
def test_demo_cart_reachers_postpone(demo: Workspace) -> None:
    # 20% of the people who reach the cart do so 15–45 days after adding to it: past a 14-day
    # window they drop at cart_view and are postponed (fewer when the data ends first).
    funnel = FunnelSpec(["add_to_cart", "cart_view", "checkout_start"], within="14d")
    reached = run_dropoff(demo.events, DropoffSpec(funnel))
    cart = reached.to_dict()[0]
    people = demo.funnel("add_to_cart", "cart_view", within="14d").to_frame()["people"][1]
    assert 0.12 < cart["postponed"] / (people + cart["postponed"]) < 0.25
    assert cart["changed"] / _settled(cart) < 0.02
