"""Attribution broken down by a key (``by``): every model within each value, worked by hand."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from journeylens.analytics.attribution import (
    MODELS,
    AttributionResult,
    AttributionSpec,
    run_attribution,
)
from journeylens.analytics.attribution_report import run_attribution_report
from journeylens.errors import SpecError
from journeylens.testing import converting_events, journeys
from journeylens.workspace import init_workspace

EVERY = list(MODELS)  # the rule models, markov, shapley and shapley_ordered

# Two devices, worked by hand (lookback 30 days, time-decay half-life 7 days). A journey counts
# under its purchase's device, or its last touch's when it has no purchase:
# mobile:  ann  ad (on desktop!) > email 7 days later, buys for 10 on mobile at once
#          bob  ad, buys for 0            cy  ad, no purchase        dee  email, no purchase
# desktop: eve  ad > mail 7 days later, buys for 30 at once
#          fay  mail, buys for 20         gus  ad, no purchase       hal  mail, no purchase
#          ivy  ad 40 days before buying for 5: no touch in the lookback, unattributed
# tablet:  kit  ad, buys for 7
# (none):  lou  mail (on mobile), buys for 3 with no device
PEOPLE = {
    "ann": [
        ("ad", "2026-01-01", {"device": "desktop"}),
        ("email", "+7d", {"device": "mobile"}),
        ("purchase", "+0s", {"device": "mobile", "revenue": 10.0, "market": "se"}),
    ],
    "bob": [
        ("ad", "2026-01-02", {"device": "mobile"}),
        ("purchase", "+1d", {"device": "mobile", "revenue": 0.0, "market": "se"}),
    ],
    "cy": [("ad", "2026-01-03", {"device": "mobile", "market": "se"})],
    "dee": [("email", "2026-01-03", {"device": "mobile", "market": "se"})],
    "eve": [
        ("ad", "2026-01-01", {"device": "desktop"}),
        ("mail", "+7d", {"device": "desktop"}),
        ("purchase", "+0s", {"device": "desktop", "revenue": 30.0, "market": "no"}),
    ],
    "fay": [
        ("mail", "2026-01-02", {"device": "desktop"}),
        ("purchase", "+1d", {"device": "desktop", "revenue": 20.0, "market": "no"}),
    ],
    "gus": [("ad", "2026-01-03", {"device": "desktop", "market": "no"})],
    "hal": [("mail", "2026-01-03", {"device": "desktop", "market": "no"})],
    "ivy": [
        ("ad", "2025-11-01", {"device": "desktop"}),
        ("purchase", "+40d", {"device": "desktop", "revenue": 5.0, "market": "no"}),
    ],
    "kit": [
        ("ad", "2026-01-04", {"device": "tablet"}),
        ("purchase", "+1h", {"device": "tablet", "revenue": 7.0}),
    ],
    "lou": [
        ("mail", "2026-01-04", {"device": "mobile"}),
        ("purchase", "+1h", {"revenue": 3.0}),
    ],
}

# (conversions, revenue) per device, model and touchpoint.
#
# mobile — converting: ann ad > email (10), bob ad (0).
#   first_touch: ad 2 (10). last_touch: ad 1 (0), email 1 (10). linear: ad ½ + 1, email ½.
#   time_decay: ann's ad 7 days earlier weighs 2^-1 = ½ against email's 1: ⅓ and ⅔.
#   markov (the chain of ann, bob, cy, dee only): start → ad ¾, → email ¼; ad → email ⅓,
#     → conversion ⅓, → null ⅓; email → conversion ½. P = ¾(⅓ + ⅓·½) + ¼·½ = ½. Without ad:
#     ⅛ → effect ¾; without email: ¼ → ½; 2 conversions split 1.2 / 0.8. Value: only email's
#     conversion (ann's 10) carries revenue: E = P(reach email)·½·10 = ½·½·10 = 2.5; without ad
#     ¼·½·10 = 1.25 → ½; without email 0 → 1: 10 splits ⅓ / ⅔.
#   shapley: coalitions {ad, email} 1 journey 1 conversion (10), {ad} 2 journeys 1 (0),
#     {email} 1 journey 0. v(ad) = 2·½ + 1·½ = 1.5, v(email) = 0, v(both) = 2:
#     ad ½(1.5 + 2) = 1.75, email ½(0 + 0.5) = 0.25; revenue v(ad) = v(email) = 0, v(both) =
#     10: 5 each.
#   shapley_ordered: in ad > email, (ad, 1) alone is the prefix "ad" (rate ½), (email, 2)
#     alone no prefix (0): (ad, 1) ½(½ + 1) = 0.75, (email, 2) ½(0 + ½) = 0.25; "ad" journeys
#     give ad 2·½ = 1: ad 1.75, email 0.25; revenue 5 and 5 (as unordered).
# desktop — converting: eve ad > mail (30), fay mail (20).
#   first_touch: ad 1 (30), mail 1 (20). last_touch: mail 2 (50). linear: ad ½, mail 1½.
#   time_decay: eve's ad ⅓, mail ⅔.
#   markov: start → ad ½, → mail ½; ad → mail ½, → null ½; mail → conversion ⅔, → null ⅓.
#     P = (¼ + ½)·⅔ = ½; without ad ½·⅔ = ⅓ → effect ⅓; without mail 0 → 1: 2 conversions split
#     ½ / 1½; value (mail's conversions carry 25 each) the same: 50 splits 12.5 / 37.5.
#   shapley: {ad, mail} 1 journey 1 conversion (30), {mail} 2 journeys 1 (20), {ad} 1 journey
#     0. v(ad) = 0, v(mail) = 2·½ + 1·½ = 1.5, v(both) = 2: ad ½(0 + 0.5) = 0.25, mail
#     ½(1.5 + 2) = 1.75; revenue v(mail) = 3·10 = 30, v(both) = 50: ad ½(0 + 20) = 10, mail 40.
#   shapley_ordered: in ad > mail, (mail, 2) alone is no prefix (rate 0, not mail's ½):
#     (ad, 1) ½(0 + 1) = ½, (mail, 2) ½(0 + 1) = ½, revenue 15 each; "mail" journeys give mail 1
#     (20): ad ½ (15), mail 1½ (35).
T = 1 / 3
HAND: dict[str, dict[str, dict[str, tuple[float, float]]]] = {
    "mobile": {
        "first_touch": {"ad": (2, 10), "email": (0, 0)},
        "last_touch": {"ad": (1, 0), "email": (1, 10)},
        "linear": {"ad": (1.5, 5), "email": (0.5, 5)},
        "time_decay": {"ad": (1 + T, 10 * T), "email": (2 * T, 20 * T)},
        "markov": {"ad": (1.2, 10 * T), "email": (0.8, 20 * T)},
        "shapley": {"ad": (1.75, 5), "email": (0.25, 5)},
        "shapley_ordered": {"ad": (1.75, 5), "email": (0.25, 5)},
    },
    "desktop": {
        "first_touch": {"ad": (1, 30), "mail": (1, 20)},
        "last_touch": {"ad": (0, 0), "mail": (2, 50)},
        "linear": {"ad": (0.5, 15), "mail": (1.5, 35)},
        "time_decay": {"ad": (T, 10), "mail": (1 + 2 * T, 40)},
        "markov": {"ad": (0.5, 12.5), "mail": (1.5, 37.5)},
        "shapley": {"ad": (0.25, 10), "mail": (1.75, 40)},
        "shapley_ordered": {"ad": (0.5, 15), "mail": (1.5, 35)},
    },
}
# Journeys, conversions, revenue, unattributed conversions and their revenue per device, in the
# breakdown's order: most journeys first, ties by name.
TOTALS = [
    ("desktop", 4, 2, 50.0, 1, 5.0),
    ("mobile", 4, 2, 10.0, 0, 0.0),
    ("(none)", 1, 1, 3.0, 0, 0.0),
    ("tablet", 1, 1, 7.0, 0, 0.0),
]
TOTAL_COLUMNS = [
    "device",
    "journeys",
    "conversions",
    "revenue",
    "unattributed",
    "unattributed_revenue",
]


@pytest.fixture(scope="module")
def events() -> ibis.Table:
    return ibis.duckdb.connect().create_table("events", journeys(PEOPLE))


@pytest.fixture(scope="module")
def by_device(events: ibis.Table) -> AttributionResult:
    return run_attribution(events, AttributionSpec(EVERY), by="device")


def credit(result: AttributionResult, value: str, model: str) -> dict[str, tuple[float, float]]:
    assert result.breakdown is not None
    rows = result.breakdown.attribution
    rows = rows[(rows[result.breakdown.field] == value) & (rows["model"] == model)]
    return {r.touchpoint: (r.conversions, r.revenue) for r in rows.itertuples(index=False)}


def flat(credits: Mapping[str, tuple[float, float]]) -> dict[tuple[str, int], float]:
    """``{touchpoint: (conversions, revenue)}`` as one number per key, for ``pytest.approx``."""
    return {(k, i): float(v) for k, pair in credits.items() for i, v in enumerate(pair)}


@pytest.mark.parametrize("device", ["mobile", "desktop"])
@pytest.mark.parametrize("model", list(HAND["mobile"]))
def test_each_model_credits_each_device_as_worked_by_hand(by_device, device, model):
    got = credit(by_device, device, model)
    expected = HAND[device][model]
    assert set(got) == set(expected)
    for touchpoint, (conversions, revenue) in expected.items():
        assert got[touchpoint] == pytest.approx((conversions, revenue), abs=1e-9), touchpoint


def test_segment_totals_count_journeys_conversions_and_unattributed_by_hand(by_device):
    totals = by_device.breakdown.totals
    assert list(totals.columns) == TOTAL_COLUMNS
    assert [tuple(r) for r in totals.itertuples(index=False)] == TOTALS


def test_markov_removal_effects_come_from_each_devices_own_chain(by_device):
    effects = by_device.breakdown.removal_effects
    mobile = effects[effects["device"] == "mobile"].set_index("touchpoint")
    assert mobile["removal_effect"].to_dict() == pytest.approx({"ad": 0.75, "email": 0.5})
    assert mobile["value_removal_effect"].to_dict() == pytest.approx({"ad": 0.5, "email": 1.0})
    desktop = effects[effects["device"] == "desktop"].set_index("touchpoint")
    assert desktop["removal_effect"].to_dict() == pytest.approx({"ad": T, "mail": 1.0})
    matrix = by_device.breakdown.transition_matrix
    ad = matrix[(matrix["device"] == "mobile") & (matrix["from"] == "ad")]
    assert dict(zip(ad["to"], ad["count"], strict=True)) == {
        "(conversion)": 1,
        "(null)": 1,
        "email": 1,
    }


def test_ordered_shapley_positions_are_per_device(by_device):
    positions = by_device.breakdown.shapley_positions
    desktop = positions[positions["device"] == "desktop"]
    got = {(r.touchpoint, r.position): r.conversions for r in desktop.itertuples(index=False)}
    assert got == pytest.approx({("ad", 1): 0.5, ("mail", 1): 1.0, ("mail", 2): 0.5})


def test_every_model_sums_to_its_device_and_the_devices_sum_to_the_whole(by_device):
    assert_sums(by_device, "device")


def assert_sums(result: AttributionResult, field: str) -> None:
    breakdown = result.breakdown
    assert breakdown is not None
    totals = breakdown.totals.set_index(field)
    sums = breakdown.attribution.groupby([field, "model"])[["conversions", "revenue"]].sum()
    for (value, model), row in sums.iterrows():
        expected = totals.loc[value, ["conversions", "revenue"]].astype(float).to_numpy()
        assert row.to_numpy() == pytest.approx(expected, abs=1e-6), (value, model)
    for measure in ("conversions", "revenue", "unattributed", "unattributed_revenue"):
        assert totals[measure].sum() == pytest.approx(result.totals[measure]), measure


def test_the_whole_result_is_the_same_with_or_without_a_breakdown(events, by_device):
    plain = run_attribution(events, AttributionSpec(EVERY))
    assert plain.breakdown is None
    pd.testing.assert_frame_equal(by_device.attribution, plain.attribution)
    assert by_device.totals == plain.totals
    pd.testing.assert_frame_equal(by_device.removal_effects, plain.removal_effects)
    pd.testing.assert_frame_equal(by_device.transition_matrix, plain.transition_matrix)
    pd.testing.assert_frame_equal(by_device.shapley_positions, plain.shapley_positions)
    assert by_device.to_dict()["attribution"] == plain.to_dict()


def test_top_pools_the_values_with_fewer_journeys_as_other_last(events):
    # desktop and mobile have 4 journeys each; kit (tablet) and lou ((none)) one each, pooled:
    # other is ad 7 and mail 3, two one-touch journeys that both convert. Every model gives
    # each its own conversion; Markov's removal effects are ½ and ½ (value 0.7 and 0.3).
    result = run_attribution(events, AttributionSpec(EVERY), by="device", top=2)
    totals = result.breakdown.totals
    assert totals["device"].tolist() == ["desktop", "mobile", "(other)"]
    assert tuple(totals.iloc[2, 1:]) == (2, 2, 10.0, 0, 0.0)
    for model in EVERY:
        assert flat(credit(result, "(other)", model)) == pytest.approx(
            flat({"ad": (1, 7), "mail": (1, 3)})
        ), model
    assert flat(credit(result, "mobile", "markov")) == pytest.approx(flat(HAND["mobile"]["markov"]))
    assert_sums(result, "device")


def test_top_one_keeps_the_value_first_by_name_among_equals(events):
    result = run_attribution(events, AttributionSpec("first_touch"), by="device", top=1)
    totals = result.breakdown.totals
    assert totals[["device", "journeys", "conversions"]].values.tolist() == [
        ["desktop", 4, 2],
        ["(other)", 6, 4],
    ]
    # other: ann and bob (ad first), cy, dee, kit (ad first, 7) and lou (mail first, 3).
    assert credit(result, "(other)", "first_touch") == {
        "ad": (3.0, 17.0),
        "email": (0.0, 0.0),
        "mail": (1.0, 3.0),
    }


def test_a_conversion_without_the_value_counts_under_none(by_device):
    # lou's mail was on mobile, but her purchase names no device.
    assert credit(by_device, "(none)", "linear") == {"mail": (1.0, 3.0)}
    assert "(none)" not in set(credit(by_device, "mobile", "linear"))


def test_a_journey_counts_under_its_conversion_else_its_last_touch():
    # yan buys on mobile after a desktop ad, then reads mail on desktop and leaves (a second,
    # non-converting journey); zed sees an ad on mobile and mail on desktop, and never buys.
    people = {
        "yan": [
            ("ad", "2026-01-01", {"device": "desktop"}),
            ("purchase", "+1h", {"device": "mobile", "revenue": 4.0}),
            ("mail", "+1d", {"device": "desktop"}),
        ],
        "zed": [
            ("ad", "2026-01-01", {"device": "mobile"}),
            ("mail", "+1h", {"device": "desktop"}),
        ],
    }
    events = ibis.memtable(journeys(people))
    result = run_attribution(events, AttributionSpec(["first_touch", "markov"]), by="device")
    totals = result.breakdown.totals
    assert totals[["device", "journeys", "conversions", "revenue"]].values.tolist() == [
        ["desktop", 2, 0, 0.0],
        ["mobile", 1, 1, 4.0],
    ]
    assert credit(result, "mobile", "first_touch") == {"ad": (1.0, 4.0)}
    assert credit(result, "desktop", "markov") == {"ad": (0.0, 0.0), "mail": (0.0, 0.0)}


@pytest.mark.parametrize("key", ["market", "properties.market"])
def test_a_property_breaks_down_by_either_name(events, by_device, key):
    # Every mobile person's purchase or last touch says se, every desktop one's no (ivy's
    # unattributed purchase too); kit's and lou's purchases have no market.
    result = run_attribution(events, AttributionSpec(EVERY), by=key)
    totals = result.breakdown.totals
    assert result.breakdown.field == "market"
    assert totals["market"].tolist() == ["no", "se", "(none)"]
    assert totals["unattributed"].tolist() == [1, 0, 0]
    for market, device in (("se", "mobile"), ("no", "desktop")):
        for model in HAND[device]:
            expected = flat(credit(by_device, device, model))
            assert flat(credit(result, market, model)) == pytest.approx(expected)
    assert credit(result, "(none)", "first_touch") == {"ad": (1.0, 7.0), "mail": (1.0, 3.0)}


def test_an_unknown_key_is_one_clear_error(events):
    with pytest.raises(
        SpecError,
        match=r"No event has the property 'markt' \(--by\)\. "
        r"Did you mean 'market'\?",
    ):
        run_attribution(events, AttributionSpec("linear"), by="markt")


@pytest.mark.parametrize(
    ("by", "top", "message"),
    [
        ("device", 0, "top must be at least 1, not 0"),
        ("revenue", 10, "share a name with the 'revenue' field"),
        ("touchpoint", 10, "share a name with the 'touchpoint' field"),
    ],
)
def test_a_breakdown_that_cannot_be_shown_is_refused(events, by, top, message):
    with pytest.raises(SpecError, match=message):
        run_attribution(events, AttributionSpec("linear"), by=by, top=top)


def test_json_adds_the_breakdown_beside_the_records(by_device):
    data = json.loads(json.dumps(by_device.to_dict()))
    assert set(data) == {"attribution", "breakdown"}
    first = data["breakdown"][0]
    assert list(first) == [*TOTAL_COLUMNS, "credit"]
    assert (first["device"], first["journeys"], first["unattributed_revenue"]) == (
        "desktop",
        4,
        5.0,
    )
    assert first["credit"][0] == {
        "model": "first_touch",
        "touchpoint": "ad",
        "conversions": 1.0,
        "revenue": 30.0,
    }
    assert [b["device"] for b in data["breakdown"]] == [t[0] for t in TOTALS]


def test_the_report_refuses_named_incrementality_and_keeps_the_whole_lift_with_all(events):
    with pytest.raises(SpecError, match="--model incrementality with --by device"):
        run_attribution_report(events, None, models=["incrementality"], by="device")
    report = run_attribution_report(events, None, models=["all"], by="device", bootstrap=100)
    assert "incrementality" in set(report.records["model"])
    assert "incrementality" not in set(report.breakdown.attribution["model"])
    assert "not broken down by device" in report.lift_not_broken_down()
    assert report.breakdown_frame().columns[0] == "device"


def with_devices(table: pa.Table, seed: int) -> pa.Table:
    """``table`` with a device per person (the same on all their events)."""
    people = np.unique(table["person_id"].to_numpy(zero_copy_only=False))
    chosen = np.random.default_rng(seed).choice(["ios", "android", "web"], len(people))
    device = dict(zip(people, chosen, strict=True))
    values = [device[p] for p in table["person_id"].to_pylist()]
    return table.set_column(table.schema.get_field_index("device"), "device", pa.array(values))


@pytest.mark.parametrize("order", [1, 2])
def test_a_device_is_attributed_as_if_its_people_were_all_the_data(order):
    # Each person keeps one device, so a device's journeys are its people's: attributing only
    # their events must give the device's credit, for every model.
    table = with_devices(converting_events(seed=5, people=300), seed=5)
    con = ibis.duckdb.connect()
    spec = AttributionSpec(EVERY, markov_order=order)
    result = run_attribution(con.create_table("events", table), spec, by="device")
    assert_sums(result, "device")
    for device in ("ios", "android", "web"):
        mine = table.filter(pc.equal(table["device"], device))
        alone = run_attribution(con.create_table(f"only_{device}", mine), spec)
        part = result.breakdown.attribution
        part = part[part["device"] == device].drop(columns="device").reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone.attribution, rtol=1e-9, atol=1e-9)
        effects = result.breakdown.removal_effects
        effects = effects[effects["device"] == device].drop(columns="device")
        pd.testing.assert_frame_equal(
            effects.reset_index(drop=True), alone.removal_effects, rtol=1e-9, atol=1e-9
        )


def frames(result: AttributionResult) -> Mapping[str, pd.DataFrame]:
    breakdown = result.breakdown
    assert breakdown is not None
    return {
        "totals": breakdown.totals,
        "attribution": breakdown.attribution,
        "removal_effects": breakdown.removal_effects,
        "transition_matrix": breakdown.transition_matrix,
        "shapley_positions": breakdown.shapley_positions,
    }


@pytest.mark.spark
def test_spark_breaks_down_as_duckdb_does(tmp_path: Path):
    results = {}
    for engine in ("duckdb", "spark"):
        ws = init_workspace(tmp_path / engine, engine=engine)
        try:
            ws.store.write("events", journeys(PEOPLE))
            spec = AttributionSpec(EVERY, markov_order=2)
            results[engine] = run_attribution(ws.store.table("events"), spec, by="device", top=3)
        finally:
            ws.close()
    duck, spark = frames(results["duckdb"]), frames(results["spark"])
    # Three kept: (none) sorts before tablet among the one-journey values; tablet is other.
    assert duck["totals"]["device"].tolist() == ["desktop", "mobile", "(none)", "(other)"]
    for name, frame in duck.items():
        pd.testing.assert_frame_equal(
            frame, spark[name], check_dtype=False, rtol=1e-9, atol=1e-9, obj=name
        )
    pd.testing.assert_frame_equal(
        results["duckdb"].attribution, results["spark"].attribution, check_dtype=False
    )
