"""Rule-based attribution on hand-worked journeys, the side-by-side table and the JSON shape."""

from __future__ import annotations

from datetime import datetime

import ibis
import pytest

from journeylens.analytics.attribution import (
    ALL_MODELS,
    AttributionSpec,
    run_attribution,
)
from journeylens.analytics.attribution_report import why_nothing_attributed
from journeylens.errors import SpecError
from journeylens.testing import journeys

# alice: ad (paid) 14 days, blog (organic) 7 days and home (direct) 0 days before buying for 100;
# bob: ad 2 days and mail 1 day before buying for 50; carol: home only, buys for 20;
# dave never buys; erin's only touch is 40 days before her purchase (outside the 30-day lookback).
PEOPLE = {
    "alice": [
        ("ad", "2026-01-01", {"channel": "paid", "source": "google"}),
        ("blog", "+7d", {"channel": "organic"}),
        ("home", "+7d", {"channel": "direct"}),
        ("purchase", "+0s", {"revenue": 100.0}),
    ],
    "bob": [
        ("ad", "2026-01-02", {"channel": "paid"}),
        ("mail", "+1d", {"channel": "email"}),
        ("purchase", "+1d", {"revenue": 50.0}),
    ],
    "carol": [
        ("home", "2026-01-03", {"channel": "direct"}),
        ("purchase", "+1h", {"revenue": 20.0}),
    ],
    "dave": [("ad", "2026-01-03", {"channel": "paid"})],
    "erin": [("ad", "2026-01-01", {"channel": "paid"}), ("purchase", "+40d", {"revenue": 5.0})],
}
REVENUE = {"alice": 100.0, "bob": 50.0, "carol": 20.0}
A, B = 2 ** (-2 / 7), 2 ** (-1 / 7)  # bob's time-decay weights before normalising

# Weights each converting journey gives its touches, worked out by hand.
EXPECTED = {
    "first_touch": {"alice": {"ad": 1}, "bob": {"ad": 1}, "carol": {"home": 1}},
    "last_touch": {"alice": {"home": 1}, "bob": {"mail": 1}, "carol": {"home": 1}},
    "last_non_direct": {"alice": {"blog": 1}, "bob": {"mail": 1}, "carol": {"home": 1}},
    "linear": {
        "alice": {"ad": 1 / 3, "blog": 1 / 3, "home": 1 / 3},
        "bob": {"ad": 1 / 2, "mail": 1 / 2},
        "carol": {"home": 1},
    },
    "time_decay": {  # 2^(-14/7), 2^(-7/7), 2^0 = 1/4, 1/2, 1 of 7/4
        "alice": {"ad": 1 / 7, "blog": 2 / 7, "home": 4 / 7},
        "bob": {"ad": A / (A + B), "mail": B / (A + B)},
        "carol": {"home": 1},
    },
    "u_shape": {
        "alice": {"ad": 0.4, "blog": 0.2, "home": 0.4},
        "bob": {"ad": 0.5, "mail": 0.5},
        "carol": {"home": 1},
    },
    "j_shape": {
        "alice": {"ad": 0.2, "blog": 0.2, "home": 0.6},
        "bob": {"ad": 0.25, "mail": 0.75},
        "carol": {"home": 1},
    },
    "inverse_j": {
        "alice": {"ad": 0.6, "blog": 0.2, "home": 0.2},
        "bob": {"ad": 0.75, "mail": 0.25},
        "carol": {"home": 1},
    },
}


def expected_totals(model: str) -> dict[str, tuple[float, float]]:
    totals: dict[str, tuple[float, float]] = {}
    for person, weights in EXPECTED[model].items():
        for touchpoint, weight in weights.items():
            conversions, revenue = totals.get(touchpoint, (0.0, 0.0))
            totals[touchpoint] = (conversions + weight, revenue + weight * REVENUE[person])
    return totals


@pytest.fixture(scope="module")
def result():
    return run_attribution(ibis.memtable(journeys(PEOPLE)), AttributionSpec("all"))


@pytest.mark.parametrize("model", list(EXPECTED))
def test_rule_model_matches_hand_worked_weights(result, model):
    frame = result.to_frame()
    rows = frame[frame["model"] == model].set_index("touchpoint")
    for touchpoint, (conversions, revenue) in expected_totals(model).items():
        assert rows.loc[touchpoint, "conversions"] == pytest.approx(conversions)
        assert rows.loc[touchpoint, "revenue"] == pytest.approx(revenue)
    assert rows["conversions"].sum() == pytest.approx(3)


def test_touch_outside_lookback_leaves_conversion_unattributed(result):
    assert result.totals == {
        "conversions": 3.0,
        "revenue": 170.0,
        "unattributed": 1.0,
        "unattributed_revenue": 5.0,
    }


def test_a_report_names_the_conversions_it_could_not_attribute():
    from journeylens.analytics.attribution_report import run_attribution_report

    events = ibis.memtable(journeys(PEOPLE))
    note = run_attribution_report(events, None, models=["linear"]).unattributed()
    assert note == (
        "1 conversion(s) (25.0%, revenue 5.00) had no touch within the lookback and are not in "
        "the table: a longer --lookback reaches further back."
    )
    assert (
        run_attribution_report(events, None, models=["linear"], lookback="60d").unattributed()
        is None
    )


def test_the_note_on_unattributed_conversions_names_since_where_it_cut_the_touches():
    from journeylens.analytics.attribution_report import run_attribution_report

    # From 2026-01-04, bob's ad and mail are not read: his purchase has no touch, whatever the
    # lookback.
    events = ibis.memtable(journeys(PEOPLE))
    since = datetime(2026, 1, 4)
    kept = events.filter(events.ts >= since)
    report = run_attribution_report(kept, None, models=["linear"], lookback="365d", since=since)
    note = report.unattributed()
    assert note is not None
    assert note.endswith(
        "are not in the table; touches before --since 2026-01-04 00:00:00 are not read: an "
        "earlier --since (or a longer --lookback) reaches further back."
    )


def test_longer_lookback_attributes_erins_purchase():
    spec = AttributionSpec("first_touch", lookback="60d")
    result = run_attribution(ibis.memtable(journeys(PEOPLE)), spec)
    assert result.pivot().loc["ad", "first_touch"] == pytest.approx(3)
    assert result.totals["unattributed"] == 0


def test_every_model_shares_out_the_totals(result):
    sums = result.to_frame().groupby("model")[["conversions", "revenue"]].sum()
    assert list(result.pivot().columns) == list(ALL_MODELS)
    assert sums["conversions"].tolist() == pytest.approx([3.0] * len(ALL_MODELS))
    assert sums["revenue"].tolist() == pytest.approx([170.0] * len(ALL_MODELS))


def test_custom_position_weights_apply_to_two_touch_journeys():
    spec = AttributionSpec("u_shape", u_shape=(0.3, 0.4, 0.3))
    pivot = run_attribution(ibis.memtable(journeys(PEOPLE)), spec).pivot()
    assert pivot.loc["ad", "u_shape"] == pytest.approx(0.3 + 0.5)
    assert pivot.loc["blog", "u_shape"] == pytest.approx(0.4)


def test_touches_at_the_same_second_as_the_purchase_belong_to_it():
    people = {"ann": [("ad", "2026-01-01"), ("purchase", "+0s"), ("mail", "+0s")]}
    frame = run_attribution(ibis.memtable(journeys(people)), AttributionSpec("linear")).to_frame()
    assert frame.set_index("touchpoint")["conversions"].to_dict() == {"ad": 0.5, "mail": 0.5}


def test_second_purchase_starts_a_new_journey():
    people = {
        "ann": [("ad", "2026-01-01"), ("purchase", "+1d"), ("mail", "+1d"), ("purchase", "+1d")]
    }
    pivot = run_attribution(ibis.memtable(journeys(people)), AttributionSpec("first_touch")).pivot()
    assert pivot["first_touch"].to_dict() == {"ad": 1.0, "mail": 1.0}


def test_channel_level_names_missing_channels():
    spec = AttributionSpec("last_touch", level="channel")
    people = {"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}
    frame = run_attribution(ibis.memtable(journeys(people)), spec).to_frame()
    assert frame[["channel", "conversions"]].values.tolist() == [["(none)", 1.0]]


def test_at_channel_level_an_event_that_names_its_channel_is_a_touch():
    # Ad impressions as attribution data sets give them: each names its channel and none is a
    # catalogued touchpoint. A page view with neither is no touch; the purchase's own channel
    # is the goal's, not a touch.
    none = {"touchpoint": None}
    people = {
        "ann": [
            ("impression", "2026-01-01", {**none, "channel": "Facebook"}),
            ("impression", "+1d", {**none, "channel": "Paid Search"}),
            ("page_view", "+1h", none),
            ("purchase", "+1h", {**none, "channel": "Paid Search", "revenue": 10.0}),
        ],
        "bob": [
            ("impression", "2026-01-01", {**none, "channel": "Facebook"}),
            ("purchase", "+1d", {**none, "revenue": 4.0}),
        ],
    }
    events = ibis.memtable(journeys(people))
    spec = AttributionSpec(["linear", "markov"], level="channel")
    result = run_attribution(events, spec)
    assert result.pivot("conversions")["linear"].to_dict() == {"Facebook": 1.5, "Paid Search": 0.5}
    assert result.pivot("revenue")["linear"].to_dict() == {"Facebook": 9.0, "Paid Search": 5.0}
    assert result.totals["conversions"] == 2.0
    # At touchpoint level the same events have no touch, and the note says why.
    assert run_attribution(events, AttributionSpec("linear")).to_frame().empty
    assert why_nothing_attributed(events, "purchase", "30d").startswith(
        "No event but the goal's ('purchase') has a touchpoint, but events name their channel: "
        "attribute by channel with --level channel"
    )


def test_catalog_limits_touchpoints():
    catalog = ibis.memtable({"touchpoint": ["ad", "mail", "blog"]})
    result = run_attribution(
        ibis.memtable(journeys(PEOPLE)), AttributionSpec("last_touch"), catalog
    )
    assert "home" not in set(result.to_frame()["touchpoint"])


def test_json_records_have_the_documented_fields(result):
    records = result.to_dict()
    assert {"model", "touchpoint", "conversions", "revenue"} <= set(records[0])
    assert len(records) == len(ALL_MODELS) * 4
    figure = result.figure()
    assert figure.layout.barmode == "group"
    assert len(figure.data) == len(ALL_MODELS)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"model": "lienar"}, "Unknown attribution model 'lienar'"),
        ({"model": "linear", "level": "device"}, "Invalid level 'device'"),
        ({"model": "linear", "lookback": "soon"}, "Invalid duration 'soon' for lookback"),
        ({"model": "u_shape", "u_shape": (0.5, 0.5, 0.5)}, "Invalid u_shape"),
        ({"model": "markov", "markov_order": 4}, "Invalid markov_order 4"),
    ],
)
def test_spec_errors_quote_the_bad_value(arguments, message):
    with pytest.raises(SpecError, match=message):
        AttributionSpec(**arguments)


def test_unattributed_revenue_is_the_leftover_to_the_precision_of_the_sums():
    from journeylens.analytics.attribution import leftover_revenue

    # Sums of 1e6 and cents in another order differ by ~1e-10: no revenue is left over.
    assert leftover_revenue(1_000_020.51, 1_000_020.51 + 2.3e-10, 0) == 0.0
    assert leftover_revenue(1_000_020.51 + 4.6e-10, 1_000_020.51, 1) == 0.0
    assert leftover_revenue(-5.0, -4.0, 1) == 0.0  # never negative
    # A value of 1e20 rounds its sums by 65,536: a conversion without revenue leaves none.
    assert leftover_revenue(1e20 + 131_072, 1e20, 1) == 0.0
    assert leftover_revenue(1_000_050.0, 1_000_000.0, 2) == 50.0


def test_coded_keys_give_the_result_the_names_give(monkeypatch):
    """Journeys are built on codes of the touchpoints' names; where two names share a code the
    run falls back to the names themselves, and either way every model gives the same credit."""
    from journeylens.analytics import _touches

    table = ibis.memtable(journeys(PEOPLE))
    spec = AttributionSpec([*ALL_MODELS, "shapley_ordered"], markov_order=2)
    coded = run_attribution(table, spec)
    codes = _touches.key_codes(table).execute()
    assert _touches.TouchKeys.of(codes) is not None
    # Codes by length: "ad" and the other two-letter names would share one.
    monkeypatch.setattr(_touches, "value_code", lambda value: value.length().cast("int64"))
    clashing = _touches.key_codes(table).execute()
    assert _touches.TouchKeys.of(clashing) is None
    named = run_attribution(table, spec)
    columns = ["model", "touchpoint", "conversions", "revenue"]
    left, right = (r.to_frame()[columns].round(9) for r in (coded, named))
    assert left.equals(right)
    assert coded.transition_matrix.equals(named.transition_matrix)
    assert set(coded.transition_matrix["from"]) >= {"(start)", "ad", "ad>blog"}
