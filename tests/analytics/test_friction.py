"""Friction: each signal on hand-worked journeys, the ranking on generated data, both engines."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta, timezone
from typing import Any

import ibis
import pyarrow as pa
import pytest

from journeylens.analytics.friction import NONE, FrictionSpec, run_friction
from journeylens.errors import SpecError
from journeylens.schema import FEEDBACK, arrow_schema
from journeylens.testing import journeys

MOBILE, DESKTOP = {"device": "mobile"}, {"device": "desktop"}
# A late event of someone else closes every 14-day window below: the data ends on 1 March.
LATE = {"zed": [("landing", "2026-03-01")]}
# Hand-worked tests look at every segment, however small.
LOOSE = {"by": ["device"], "include_all": True, "min_count": 1, "min_affected": 1}


def table(people: dict[str, Any]) -> ibis.Table:
    return ibis.duckdb.connect().create_table("events", journeys({**people, **LATE}))


def rows(events: ibis.Table, **options: Any) -> dict[tuple[str, str], dict[str, Any]]:
    result = run_friction(events, FrictionSpec(**{**LOOSE, **options}))
    return {(r["touchpoint"], r["segment"]["device"]): r for r in result.to_dict()}


def test_abandonment_is_a_journey_ending_at_the_touchpoint_without_the_goal() -> None:
    # ann pays on mobile and never comes back; bob pays on desktop and buys a minute later;
    # cy pays on mobile, comes back 15 days later (past the 14-day window) and buys.
    found = rows(
        table(
            {
                "ann": [("pay", "2026-01-01", MOBILE)],
                "bob": [("pay", "2026-01-01", DESKTOP), ("purchase", "+1m", DESKTOP)],
                "cy": [("pay", "2026-01-01", MOBILE), ("purchase", "+15d", MOBILE)],
            }
        )
    )
    mobile, desktop = found["pay", "mobile"], found["pay", "desktop"]
    assert (mobile["people"], mobile["decided"], mobile["abandoned"]) == (2, 2, 2)
    assert (desktop["abandoned"], desktop["converted"]) == (0, 1)
    assert mobile["abandonment_rate"] == 1.0
    assert mobile["abandonment_baseline_rate"] == 0.0
    # cy's 15-day gap is also a postponement (over one day before the next step).
    assert mobile["postponed"] == 1


def test_the_terminal_table_shows_each_rate_against_its_baseline_in_one_cell() -> None:
    events = table(
        {
            "ann": [("pay", "2026-01-01", MOBILE)],
            "bob": [("pay", "2026-01-01", DESKTOP), ("purchase", "+1m", DESKTOP)],
        }
    )
    shown = run_friction(events, FrictionSpec(**LOOSE)).display_frame()
    mobile = shown[shown["segment"] == "device=mobile"].iloc[0]
    assert list(shown.columns[:4]) == ["touchpoint", "segment", "people", "abandonment"]
    assert mobile["abandonment"] == "100.0% vs 0.0%"
    assert str(shown["lost_conversions"].dtype) == "Int64"


def test_a_journey_still_inside_its_window_is_open_not_abandoned() -> None:
    # dee pays a day before the data ends (zed's event): undecided, neither abandoned nor counted.
    found = rows(table({"dee": [("pay", "2026-02-28", MOBILE)]}))
    assert (found["pay", "mobile"]["people"], found["pay", "mobile"]["decided"]) == (1, 0)
    assert found["pay", "mobile"]["abandoned"] == 0


def test_only_units_whose_window_has_closed_are_decided_whatever_they_did() -> None:
    # Two weeks before the end (1 March) and later, leavers (dee) cannot be told yet, so the
    # people who carried on then (eli) are not counted either: the rate is that of ann and bob.
    found = rows(
        table(
            {
                "ann": [("pay", "2026-01-01", MOBILE)],
                "bob": [("pay", "2026-01-01", MOBILE), ("purchase", "+1m", MOBILE)],
                "dee": [("pay", "2026-02-25", MOBILE)],
                "eli": [("pay", "2026-02-25", MOBILE), ("purchase", "+1m", MOBILE)],
            }
        )
    )
    mobile = found["pay", "mobile"]
    assert (mobile["people"], mobile["decided"], mobile["abandoned"]) == (4, 2, 1)
    assert mobile["abandonment_rate"] == 0.5


def test_who_reached_the_goal_at_a_touchpoint_did_not_abandon_it() -> None:
    AT_PAYMENT = {**MOBILE, "touchpoint": "payment"}  # the catalog's payment_* pattern
    # The goal is the payment itself: ann pays, meets an error after it and leaves; she reached
    # the goal, so the payment touchpoint lost no one. bob never pays: he abandoned.
    found = rows(
        table(
            {
                "ann": [("payment", "2026-01-01", MOBILE), ("payment_error", "+5s", AT_PAYMENT)],
                "bob": [("payment_error", "2026-01-01", AT_PAYMENT)],
            }
        ),
        goal=["payment"],
    )
    mobile = found["payment", "mobile"]
    assert (mobile["decided"], mobile["abandoned"], mobile["errored"]) == (2, 1, 2)


def test_gaps_are_whole_seconds_as_on_every_engine() -> None:
    # 00:00:00.2 → 00:00:30.9 is 30.7 s on the clock but 30 s in whole seconds (each time
    # floored, as Spark counts them): within the 30-second retry window.
    found = rows(
        table(
            {
                "gus": [
                    ("pay", "2026-01-01T00:00:00.200", MOBILE),
                    ("pay", "2026-01-01T00:00:30.900", MOBILE),
                ]
            }
        )
    )
    assert found["pay", "mobile"]["retries"] == 1


def test_data_spanning_more_than_68_years_counts_as_any_other() -> None:
    # Times are held in 32 bits only where the data spans less than 2**31 seconds: events of
    # 1950 beside those of 2026 take the 64-bit path, with the same signals.
    old = {"ida": [("cart", "1950-01-01", MOBILE), ("pay", "+2d", MOBILE)]}
    recent = {"jo": [("cart", "2026-01-01", MOBILE), ("pay", "+2d", MOBILE)]}
    found = rows(table({**old, **recent}))
    assert (found["cart", "mobile"]["people"], found["cart", "mobile"]["postponed"]) == (2, 2)
    assert found["pay", "mobile"]["abandoned"] == 2


def test_retry_is_the_same_event_again_within_seconds_errors_between_allowed() -> None:
    # eve: pay, payment_error 5 s, pay 5 s → one retry and one error at pay (the error event has
    # no touchpoint of its own: it is placed at the touchpoint before it).
    # fay: pay, pay 60 s later → too slow for a retry (30 s).
    error = {"device": "mobile", "touchpoint": None}
    found = rows(
        table(
            {
                "eve": [
                    ("pay", "2026-01-01", MOBILE),
                    ("payment_error", "+5s", error),
                    ("pay", "+5s", MOBILE),
                ],
                "fay": [("pay", "2026-01-01", DESKTOP), ("pay", "+60s", DESKTOP)],
            }
        )
    )
    mobile, desktop = found["pay", "mobile"], found["pay", "desktop"]
    assert (mobile["retried"], mobile["retries"]) == (1, 1)
    assert (mobile["errored"], mobile["errors"]) == (1, 1)
    assert (desktop["retried"], desktop["errored"]) == (0, 0)
    assert ("payment_error", "mobile") not in found


def test_error_patterns_are_configurable_globs() -> None:
    people = {"gus": [("pay", "2026-01-01", MOBILE), ("card_declined", "+5s", MOBILE)]}
    assert rows(table(people))["card_declined", "mobile"]["errored"] == 0
    found = rows(table(people), error_patterns=["card_*"])
    assert found["card_declined", "mobile"]["errored"] == 1


def test_a_loop_is_back_and_forth_twice_between_two_touchpoints() -> None:
    # hal: a, b, a, b (repeats of a collapsed) → both a and b looped; ida: a, b, a → no loop.
    found = rows(
        table(
            {
                "hal": [
                    ("a", "2026-01-01", MOBILE),
                    ("b", "+1m", MOBILE),
                    ("a", "+1m", MOBILE),
                    ("a", "+1m", MOBILE),
                    ("b", "+1m", MOBILE),
                ],
                "ida": [("a", "2026-01-01", DESKTOP), ("b", "+1m", DESKTOP), ("a", "+1m", DESKTOP)],
            }
        )
    )
    assert (found["a", "mobile"]["looped"], found["b", "mobile"]["looped"]) == (1, 1)
    assert (found["a", "desktop"]["looped"], found["b", "desktop"]["looped"]) == (0, 0)


def test_errors_without_a_touchpoint_and_events_outside_any_are_placed_in_order() -> None:
    # gil: two errors (no touchpoint) between two pays 5 s apart → one retry and two errors at
    # pay. hu: a, page_not_found (no touchpoint: not a step of the loop), b, a, b → loops at a
    # and b; the form_error after it has no touchpoint and is placed at b.
    error = {"touchpoint": None}
    found = rows(
        table(
            {
                "gil": [
                    ("pay", "2026-01-01", MOBILE),
                    ("payment_error", "+5s", {**MOBILE, **error}),
                    ("payment_error", "+5s", {**MOBILE, **error}),
                    ("pay", "+5s", MOBILE),
                ],
                "hu": [
                    ("a", "2026-01-01", DESKTOP),
                    ("page_not_found", "+1m", {**DESKTOP, **error}),
                    ("b", "+1m", DESKTOP),
                    ("a", "+1m", DESKTOP),
                    ("b", "+1m", DESKTOP),
                    ("form_error", "+1m", {**DESKTOP, **error}),
                ],
            }
        )
    )
    pay = found["pay", "mobile"]
    assert (pay["retried"], pay["retries"], pay["errored"], pay["errors"]) == (1, 1, 1, 2)
    assert (found["a", "desktop"]["looped"], found["b", "desktop"]["looped"]) == (1, 1)
    assert (found["a", "desktop"]["errors"], found["b", "desktop"]["errors"]) == (0, 1)


def test_an_error_without_a_touchpoint_counts_in_the_segment_of_the_touchpoint_before() -> None:
    # A shop's log: the error page names no device (nor channel) of its own. It happened to
    # the mobile visitor of pay, so it counts at pay on mobile, not in a segment of its own.
    found = rows(
        table(
            {
                "lu": [("pay", "2026-01-01", MOBILE), ("error_page", "+5s", {"touchpoint": None})],
                "mo": [("pay", "2026-01-01", DESKTOP), ("purchase", "+1m", DESKTOP)],
            }
        )
    )
    assert (found["pay", "mobile"]["errored"], found["pay", "mobile"]["errors"]) == (1, 1)
    assert found["pay", "mobile"]["people"] == 1
    assert ("pay", "(none)") not in found


def test_postponement_is_a_long_gap_before_the_next_step() -> None:
    # jo: cart, then pay 2 days later → postponed at cart; kim: cart, pay an hour later → not.
    found = rows(
        table(
            {
                "jo": [("cart", "2026-01-01", MOBILE), ("pay", "+2d", MOBILE)],
                "kim": [("cart", "2026-01-01", DESKTOP), ("pay", "+1h", DESKTOP)],
            }
        )
    )
    assert (found["cart", "mobile"]["postponed"], found["cart", "desktop"]["postponed"]) == (1, 0)
    assert found["cart", "mobile"]["postponement_rate"] == 1.0


def feedback(answers: list[tuple[str, str, float, str]]) -> pa.Table:
    """Answers as (touchpoint, metric, score, device)."""
    rows_ = []
    for i, (touchpoint, metric, score, device) in enumerate(answers):
        row = dict.fromkeys(FEEDBACK.names)
        row.update(
            feedback_id=f"f{i}",
            ts=datetime(2026, 1, 2),
            person_id=f"p{i}",
            touchpoint=touchpoint,
            metric=metric,
            score=score,
            device=device,
        )
        rows_.append(row)
    return pa.Table.from_pylist(rows_, schema=arrow_schema(FEEDBACK))


def anonymous(answers: list[tuple[str, str, float, str]]) -> pa.Table:
    """:func:`feedback` without people: each answer counts under its own device."""
    table = feedback(answers)
    where = table.schema.get_field_index("person_id")
    return table.set_column(where, "person_id", pa.nulls(len(table), pa.string()))


def test_effort_counts_hard_ces_and_failed_success_answers() -> None:
    # mobile: CES 2 (hard), CES 6 (easy), success 0 (failed) → 2 of 3; desktop: CES 7 → 0 of 1.
    # Anonymous answers, each under its own device.
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys({**LATE, "lu": [("pay", "2026-01-01", MOBILE)]}))
    answers = anonymous(
        [
            ("pay", "ces", 2, "mobile"),
            ("pay", "ces", 6, "mobile"),
            ("pay", "success", 0, "mobile"),
            ("pay", "ces", 7, "desktop"),
            ("pay", "csat", 1, "mobile"),  # not an effort metric
        ]
    )
    result = run_friction(events, FrictionSpec(**LOOSE), con.create_table("feedback", answers))
    mobile = next(r for r in result.to_dict() if r["touchpoint"] == "pay")
    assert (mobile["responses"], mobile["effort"]) == (3, 2)
    assert mobile["effort_rate"] == pytest.approx(2 / 3)


def test_an_answer_counts_in_its_persons_unit_at_the_touchpoint() -> None:
    # Survey exports rarely carry the device or a plan: u1 paid on mobile (pro), u2 on desktop
    # (free); their answers count there. u3 has no event there (or is filtered out): nowhere.
    # An anonymous answer counts under its own device, and under (none) of a plan (the
    # feedback has no plan), a segment no unit has.
    from journeylens.analytics.friction import count_segments

    con = ibis.duckdb.connect()
    events = con.create_table(
        "events",
        journeys(
            {
                "u1": [("pay", "2026-01-01", {"device": "mobile", "plan": "pro"})],
                "u2": [("pay", "2026-01-01", {"device": "desktop", "plan": "free"})],
                "u3": [("cart", "2026-01-01", {"device": "mobile", "plan": "pro"})],
                **LATE,
            }
        ),
    )
    given = [("pay", "ces", 2, None), ("pay", "ces", 6, None), ("pay", "ces", 1, "mobile")]
    given += [("pay", "ces", 1, "desktop")]
    answers = feedback(given)
    people = pa.array(["u1", "u2", "u3", None], pa.string())
    answers = answers.set_column(answers.schema.get_field_index("person_id"), "person_id", people)
    both = con.create_table("feedback", answers)
    spec = FrictionSpec(**{**LOOSE, "by": ["device", "plan"]})

    def found(table: ibis.Table) -> dict[tuple[str, str], tuple[int, int]]:
        counts = count_segments(table, both, spec, datetime(2026, 3, 2))
        at_pay = counts[counts["touchpoint"] == "pay"]
        return {(r.dimension, r.value): (r.responses, r.effort) for r in at_pay.itertuples()}

    assert found(events) == {
        ("device", "mobile"): (1, 1),
        ("device", "desktop"): (2, 1),  # u2's, and the anonymous one
        ("plan", "pro"): (1, 1),
        ("plan", "free"): (1, 0),
        ("plan", NONE): (1, 1),
    }
    # The events analysed decide whose answers count: without u1's, not u1's answer.
    desktop = found(events.filter(events.person_id != "u1"))
    assert desktop == {
        ("device", "desktop"): (2, 1),
        ("plan", "free"): (1, 0),
        ("plan", NONE): (1, 1),
    }


def cohort(prefix: str, n: int, quitters: int, device: str, start: datetime) -> dict[str, Any]:
    """``n`` people paying on ``device``; the first ``quitters`` stop, the rest buy (100)."""
    out: dict[str, Any] = {}
    extra = {"device": device}
    for i in range(n):
        when = (start + timedelta(hours=i)).isoformat()
        steps: list[Any] = [("pay", when, extra)]
        if i >= quitters:
            steps.append(("purchase", "+1m", {**extra, "revenue": 100.0}))
        out[f"{prefix}{i}"] = steps
    return out


@pytest.mark.parametrize("period", ["30d", " 30d "])  # as any duration may be written
def test_planted_abandonment_ranks_with_its_lost_purchases_and_sentence(period: str) -> None:
    # 40 mobile payers, 20 stop (50%); 40 desktop payers, 4 stop (10%). Data from 1 Jan to
    # 31 Jan (30 days). Excess abandonment on mobile: 40 × (0.5 − 0.1) = 16 people; everyone who
    # continued bought, so ~16 lost purchases in 30 days, worth 16 × 100 = 1600.
    start = datetime(2026, 1, 1)
    people = {
        **cohort("m", 40, 20, "mobile", start),
        **cohort("d", 40, 4, "desktop", start),
        "zed": [("landing", "2026-01-31")],
    }
    events = ibis.duckdb.connect().create_table("events", journeys(people))
    result = run_friction(events, FrictionSpec(by=["device"], period=period))
    top = result.to_dict()[0]
    assert (top["touchpoint"], top["segment"]) == ("pay", {"device": "mobile"})
    assert top["abandonment_rate"] == 0.5
    assert top["abandonment_baseline_rate"] == 0.1
    assert top["lost_conversions"] == pytest.approx(16.0)
    assert top["lost_revenue"] == pytest.approx(1600.0)
    assert top["score"] == pytest.approx(16.0)
    assert top["explanation"] == (
        "pay on mobile: 50% abandon vs 10% elsewhere; ~16 lost purchases worth ~1,600 in 30 days"
    )
    assert len(result.to_dict()) == 1  # desktop is better, not worse: no row


def test_lost_revenue_averages_the_goals_that_carry_a_revenue_zero_included() -> None:
    # As above, but of the 36 desktop buyers 10 order for free (revenue 0) and 6 carry no
    # revenue: 50 purchases carry one, worth 20 × 100 (mobile) + 20 × 100 = 4000, so a
    # purchase is worth 80 (not 100, as if 0 were no revenue; nor 4000 / 56).
    start = datetime(2026, 1, 1)
    desktop = cohort("d", 40, 4, "desktop", start)
    for i in range(4, 20):
        pay, (name, when, extra) = desktop[f"d{i}"]
        free = {**extra, "revenue": 0.0} if i < 14 else {"device": "desktop"}
        desktop[f"d{i}"] = [pay, (name, when, free)]
    people = {**cohort("m", 40, 20, "mobile", start), **desktop}
    people["zed"] = [("landing", "2026-01-31")]
    events = ibis.duckdb.connect().create_table("events", journeys(people))
    top = run_friction(events, FrictionSpec(by=["device"])).to_dict()[0]
    assert top["lost_conversions"] == pytest.approx(16.0)
    assert top["lost_revenue"] == pytest.approx(16 * 80.0)


def test_small_segments_do_not_flood_the_list() -> None:
    # Same rates, but 8 people per device: nothing is significant, so nothing is listed.
    start = datetime(2026, 1, 1)
    people = {**cohort("m", 8, 4, "mobile", start), **cohort("d", 8, 1, "desktop", start)}
    events = ibis.duckdb.connect().create_table("events", journeys({**people, **LATE}))
    assert run_friction(events, FrictionSpec(by=["device"])).to_dict() == []
    everything = run_friction(events, FrictionSpec(by=["device"], include_all=True)).to_dict()
    assert {r["significant"] for r in everything} == {False}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"by": []}, "at least one dimension"),
        ({"by": ["touchpoint"]}, "Cannot segment"),
        ({"within": "soon"}, "Invalid duration .soon. for within"),
        ({"alpha": 2}, "alpha"),
    ],
)
def test_bad_specs_say_what_is_wrong(options: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        FrictionSpec(**options)


# --- the demo generator's planted friction -------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from journeylens.workspace import init_workspace

    def load(friction: bool) -> Any:
        ws = init_workspace(tmp_path_factory.mktemp("demo"), "four_stage_delight")
        ws.load_demo(30_000, seed=7, friction=friction)
        return ws

    opened = {flag: load(flag) for flag in (True, False)}
    yield opened
    for ws in opened.values():
        ws.close()


def test_planted_mobile_payment_friction_ranks_first(demo: Any) -> None:
    ws = demo[True]
    result = run_friction(ws.events, FrictionSpec(), ws.feedback).to_dict()
    top = result[0]
    assert (top["touchpoint"], top["segment"]) == ("payment", {"device": "mobile"})
    for signal in ("abandonment", "error", "retry"):
        assert top[f"{signal}_significant"], signal
    assert top["lost_conversions"] > 0
    assert top["lost_revenue"] > 0
    assert top["explanation"].startswith("payment on mobile: ")


def test_no_friction_is_invented_on_clean_data(demo: Any) -> None:
    ws = demo[False]
    spec = FrictionSpec(by=["device", "interaction"], include_all=True)
    result = run_friction(ws.events, spec, ws.feedback).to_dict()
    assert result, "segments were tested"
    assert [r["explanation"] for r in result if r["significant"]] == []


def test_journey_position_does_not_make_channel_friction_on_clean_data(demo: Any) -> None:
    # Nobody arrives through the app, so app touchpoints come later in journeys than the web's.
    # Compared within position strata, the product pages of either channel are not flagged.
    # Left: landing pages seen first by an app's own anonymous id, whose short journeys end
    # there (abandon) where the web's pause (a difference of the data, not of position).
    ws = demo[False]
    result = run_friction(ws.events, FrictionSpec(by=["channel"]), ws.feedback).to_dict()
    assert {r["touchpoint"] for r in result} <= {"landing_page"}


def test_the_baseline_is_the_rest_at_the_same_journey_positions() -> None:
    # At pay, mobile units are all people's first touchpoint and desktop units all second ones
    # (after a landing): no stratum holds both, so nothing is compared or flagged.
    start = datetime(2026, 1, 1)
    people = {**cohort("m", 40, 20, "mobile", start), **cohort("d", 40, 4, "desktop", start)}
    for name, steps in people.items():
        if name.startswith("d"):
            when = steps[0][1]
            steps[0] = ("pay", "+1m", DESKTOP)
            steps.insert(0, ("landing", when, DESKTOP))
    events = ibis.duckdb.connect().create_table("events", journeys({**people, **LATE}))
    found = rows(events, min_count=30, min_affected=10)
    assert found["pay", "mobile"]["abandonment_excess"] == 0
    assert not found["pay", "mobile"]["abandonment_significant"]


def late_payers(mobile_quitters: int) -> ibis.Table:
    """500 mobile payers (``mobile_quitters`` stop) and 500 desktop ones (165 stop), all at
    their first touchpoint; 60 more on mobile pay third, after cart and product, and all stop.
    No desktop payer pays that late."""
    start = datetime(2026, 1, 1)
    people = {
        **cohort("m", 500, mobile_quitters, "mobile", start),
        **cohort("d", 500, 165, "desktop", start),
    }
    for i in range(60):
        when = (start + timedelta(hours=i, minutes=30)).isoformat()
        people[f"l{i}"] = [
            ("cart", when, MOBILE),
            ("product", "+1m", MOBILE),
            ("pay", "+1m", MOBILE),
        ]
    return ibis.duckdb.connect().create_table("events", journeys({**people, **LATE}))


def test_the_rate_and_lift_are_those_of_the_positions_compared() -> None:
    # Where both reach pay (first), mobile abandons 200 of 500 (40%) against 165 of 500 (33%):
    # a lift of 1.21, under min_lift (1.25). The 60 late mobile payers (all stop) have no
    # desktop payer to compare with: 260 of 560 (46%) would read as a lift of 1.41.
    found = rows(late_payers(200), min_count=30, min_affected=10)["pay", "mobile"]
    assert (found["decided"], found["abandoned"]) == (560, 260)
    assert found["abandonment_rate"] == pytest.approx(0.4)
    assert found["abandonment_baseline_rate"] == pytest.approx(0.33)
    assert found["abandonment_lift"] == pytest.approx(0.4 / 0.33)
    assert not found["abandonment_significant"]
    assert run_friction(late_payers(200), FrictionSpec(by=["device"])).to_dict() == []
    # With 250 of 500 stopping, the sentence says 50%, the rate where both are compared.
    (top,) = run_friction(late_payers(250), FrictionSpec(by=["device"])).to_dict()
    assert top["explanation"].startswith("pay on mobile: 50% abandon vs 33% elsewhere; ")


def test_a_where_does_not_move_the_end_of_the_data(tmp_path: Any) -> None:
    # ann pays on mobile on 1 Jan, bob on desktop on 20 Jan: the data ends on 20 Jan, also
    # under --where device=mobile, so ann's unit is decided (she left), not open.
    from journeylens.analytics.changes import run_friction_change
    from journeylens.workspace import init_workspace

    people = {"ann": [("pay", "2026-01-01", MOBILE)], "bob": [("pay", "2026-01-20", DESKTOP)]}
    with init_workspace(tmp_path / "ws") as ws:
        ws.store.write("events", journeys(people))
        (row,) = ws.friction(where=["device=mobile"], **LOOSE).to_dict()
        assert (row["people"], row["decided"], row["abandoned"]) == (1, 1, 1)
    # Before and after a change, the periods end at the data's end (13 Jan), not at the last
    # mobile event (12 Jan): two days either side of 11 Jan.
    events = change_events()
    mobile = events.filter(events.device == "mobile")
    spec = FrictionSpec(by=["device"], within="1h")
    result = run_friction_change(mobile, spec, datetime(2026, 1, 11), "pay", unfiltered=events)
    assert result.before == (datetime(2026, 1, 9), datetime(2026, 1, 11))
    assert {r["before_units"] for r in result.to_dict()} == {40}


# --- the same ranking on every engine ------------------------------------------------------


def parity_people() -> dict[str, Any]:
    """Mobile payers who stop, fail and retry more; desktop loops between pay and help."""
    start = datetime(2026, 1, 1)
    people = {**cohort("m", 12, 6, "mobile", start), **cohort("d", 12, 1, "desktop", start)}
    for i in range(4):
        people[f"r{i}"] = [
            ("pay", f"2026-01-0{i + 2}", MOBILE),
            ("payment_error", "+3s", MOBILE),
            ("pay", "+4s", MOBILE),
        ]
        people[f"l{i}"] = [
            ("pay", f"2026-01-0{i + 2}", DESKTOP),
            ("help", "+1m", DESKTOP),
            ("pay", "+1m", DESKTOP),
            ("help", "+2d", DESKTOP),
        ]
    return {**people, "zed": [("landing", "2026-01-31")]}


def rounded(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: round(v, 9) if isinstance(v, float) else v for k, v in r.items()} for r in records]


def test_the_ranking_is_the_same_on_every_engine(engine: str, make_workspace: Any) -> None:
    spec = FrictionSpec(**LOOSE)
    ws = make_workspace()
    ws.store.write("events", journeys(parity_people()))
    reference = ibis.duckdb.connect().create_table("events", journeys(parity_people()))
    expected = rounded(run_friction(reference, spec).to_dict())
    assert rounded(run_friction(ws.events, spec).to_dict()) == expected
    assert expected[0]["segment"] == {"device": "mobile"}


# --- before and after a change ---------------------------------------------------------------


def change_events() -> ibis.Table:
    # 9-10 Jan: 40 mobile payers, 20 stop (50%). 11-12 Jan, after the fix: 40 payers, 4 stop
    # (10%). zed's event on 13 Jan ends the data: two periods of two days either side of 11 Jan.
    people = {
        **cohort("b", 40, 20, "mobile", datetime(2026, 1, 9)),
        **cohort("a", 40, 4, "mobile", datetime(2026, 1, 11)),
        "zed": [("landing", "2026-01-13")],
    }
    return ibis.duckdb.connect().create_table("events", journeys(people))


def test_friction_before_and_after_a_change_with_its_significance() -> None:
    from journeylens.analytics.changes import run_friction_change

    spec = FrictionSpec(by=["device"], within="1h")
    result = run_friction_change(change_events(), spec, datetime(2026, 1, 11), "pay")
    rows = {(r["signal"], tuple(r["segment"].items())): r for r in result.to_dict()}
    # Everyone at pay: 20/40 → 4/40 abandon. Pooled 24/80 = 0.3,
    # se = √(0.3 × 0.7 × (1/40 + 1/40)) = 0.1025, z = (0.1 − 0.5) / 0.1025 = −3.904.
    row = rows["abandonment", ()]
    assert (row["before_units"], row["after_units"]) == (40, 40)
    assert (row["before_rate"], row["after_rate"]) == (0.5, 0.1)
    assert row["z"] == pytest.approx(-3.904, abs=1e-3)
    assert row["significant"]
    # Everyone at pay is on mobile: the mobile segment is the touchpoint itself, not repeated.
    assert all(r["segment"] == {} for r in result.to_dict())
    assert result.to_dict()[0]["signal"] == "abandonment"
    assert {r["touchpoint"] for r in result.to_dict()} == {"pay"}


def test_a_window_longer_than_the_periods_says_abandonment_is_not_compared() -> None:
    from journeylens.analytics.changes import run_friction_change

    # Two-day periods and a 14-day window: nobody's outcome at pay is known in either.
    spec = FrictionSpec(by=["device"], within="14d")
    result = run_friction_change(change_events(), spec, datetime(2026, 1, 11), "pay")
    assert "abandonment" not in {r["signal"] for r in result.to_dict()}
    assert result.undecided == ("pay",)
    note = result.undecided_note()
    assert note is not None
    assert note.startswith("Abandonment is not compared at pay")
    assert "--within 14d" in note
    assert "periods are 2 days long" in note
    compared = run_friction_change(
        change_events(), FrictionSpec(by=["device"], within="1h"), datetime(2026, 1, 11), "pay"
    )
    assert compared.undecided_note() is None


def test_funnel_conversion_before_and_after_a_change() -> None:
    from journeylens.analytics.changes import run_funnel_change
    from journeylens.analytics.funnels import FunnelSpec

    result = run_funnel_change(
        change_events(), FunnelSpec(steps=["pay", "purchase"]), datetime(2026, 1, 11)
    )
    change = result.change
    # Before 20 of 40 bought, after 36 of 40: 0.5 → 0.9.
    assert (change["before_entrants"], change["after_entrants"]) == (40, 40)
    assert change["before_conversion"] == 0.5
    assert change["after_conversion"] == 0.9
    assert change["significant"]
    assert result.to_dict()["change"]["p_value"] < 0.001


def test_a_change_date_outside_the_data_is_refused() -> None:
    from journeylens.analytics.changes import run_funnel_change
    from journeylens.analytics.funnels import FunnelSpec

    with pytest.raises(SpecError, match="outside the data"):
        run_funnel_change(change_events(), FunnelSpec(steps=["pay"]), datetime(2027, 1, 1))


def test_annotations_are_stored_listed_and_removed(make_workspace: Any, engine: str) -> None:
    from journeylens.annotations import get_annotation, list_annotations, remove_annotation
    from journeylens.errors import UnknownNameError

    ws = make_workspace()
    record = ws.annotate("payment", datetime(2026, 9, 1), "new payment form")
    assert get_annotation(ws.store, record["annotation_id"])["note"] == "new payment form"
    assert list_annotations(ws.store)["touchpoint"].tolist() == ["payment"]
    with pytest.raises(UnknownNameError, match="Did you mean 'payment'"):
        ws.annotate("paymnet", datetime(2026, 9, 1), "typo")
    remove_annotation(ws.store, record["annotation_id"])
    assert list_annotations(ws.store).empty


@pytest.mark.parametrize(
    "when",
    [
        datetime(2026, 9, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))),  # converted, not cut
        "2026-09-01",
        "2026-09-01T02:00+02:00",
        date(2026, 9, 1),
    ],
)
def test_an_annotation_date_may_be_aware_text_or_a_date(make_workspace: Any, when: Any) -> None:
    ws = make_workspace()
    record = ws.annotate("payment", when, "new payment form")
    assert record["ts"] == "2026-09-01T00:00:00"
    json.dumps(record)


def test_a_segment_is_labelled_so_that_none_says_which_dimension() -> None:
    from journeylens.analytics.friction import segment_label

    assert segment_label("device", "mobile") == "mobile"
    assert segment_label("device", NONE) == "device=(none)"
    assert segment_label("channel", "email") == "channel=email"
    assert segment_label("plan", " pro") == "plan=' pro'"
