"""Revenue in one reporting currency: the config, the conversion, the notes, on both engines."""

from __future__ import annotations

import pytest

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.config import load_config, parse_config, save_config
from journeylens.errors import ConfigError
from journeylens.journey.templates import load_template
from journeylens.testing import journeys

# ann pays 228 SEK (20 EUR), bob 30 EUR, cy 5 in a currency without a rate, dan 12 with none.
PEOPLE = {
    "ann": [("ad", "2026-01-01"), ("purchase", "+1h", {"revenue": 228.0, "currency": "sek"})],
    "bob": [("mail", "2026-01-01"), ("purchase", "+1h", {"revenue": 30.0, "currency": "EUR"})],
    "cy": [("ad", "2026-01-01"), ("purchase", "+1h", {"revenue": 5.0, "currency": "XYZ"})],
    "dan": [("mail", "2026-01-01"), ("purchase", "+1h", {"revenue": 12.0})],
}


def config_with(currency: dict) -> object:
    return parse_config({"workspace": {"name": "c"}, **load_template("five_stage"), **currency})


def test_the_config_reads_rates_in_upper_case_and_writes_them_back(tmp_path):
    config = config_with({"currency": {"report": "eur", "rates": {"sek": 11.4, "EUR": 1}}})
    assert (config.report_currency, config.currency_rates) == ("EUR", (("SEK", 11.4),))
    save_config(config, tmp_path)
    assert load_config(tmp_path).currency_rates == (("SEK", 11.4),)


@pytest.mark.parametrize(
    ("currency", "message"),
    [
        ({"rates": {"SEK": 11.4}}, "needs 'currency.report'"),
        ({"report": "EUR", "rates": {"SEK": 0}}, "'currency.rates.SEK' must be a number above 0"),
        ({"report": "EUR", "rates": {"SEK": "11"}}, "must be a number above 0"),
        ({"report": "EUR", "rates": {"eur": 2}}, "must be 1 \\(EUR is the report currency\\)"),
        ({"report": ""}, "'currency.report' must be a non-empty string"),
    ],
)
def test_bad_currency_settings_name_the_key(currency, message):
    with pytest.raises(ConfigError, match=message):
        config_with({"currency": currency})


def test_attribution_sums_revenue_in_the_report_currency(make_workspace):
    ws = make_workspace("five_stage")
    ws.store.write("events", journeys(PEOPLE))
    ws.rebuild()
    assert ws.currency_note() == (
        "Revenue is in 3 currencies (SEK, EUR, XYZ) and is summed as it is: set [currency] "
        "report and rates in journeylens.toml to convert it to one."
    )
    raw = run_attribution(ws.events, AttributionSpec("last_touch")).totals["revenue"]
    assert raw == pytest.approx(228 + 30 + 5 + 12)

    ws.config = ws.config.with_currency("EUR", {"SEK": 11.4})
    result = run_attribution(ws.events, AttributionSpec("last_touch"))
    # SEK converted, EUR and no currency as they are, XYZ left out (its conversion still counts).
    assert result.totals["revenue"] == pytest.approx(20 + 30 + 12)
    assert result.totals["conversions"] == 4
    credit = result.pivot(measure="revenue")["last_touch"].to_dict()
    assert credit == pytest.approx({"ad": 20.0, "mail": 42.0})
    assert ws.currency_note() == (
        "Revenue in XYZ has no rate to EUR in journeylens.toml ([currency.rates]) and is left "
        "out of revenue figures."
    )
    status = ws.status()
    assert status.revenue_by_currency["SEK"] == {"events": 1, "revenue": 228.0}
    assert status.revenue_by_currency[None] == {"events": 1, "revenue": 12.0}
    assert status.currency_note == ws.currency_note()


def test_status_counts_the_events_with_revenue_above_zero_and_says_so(make_workspace):
    # A free order's 0 is an order worth 0 (friction's average order counts it) but no money in
    # a currency: status lists per currency the events whose revenue is above 0.
    ws = make_workspace("five_stage")
    sek = [{"revenue": r, "currency": "SEK"} for r in (0.0, 50.0)]
    log = {"ann": [("purchase", "2026-01-01", sek[0]), ("purchase", "+1h", sek[1])]}
    ws.store.write("events", journeys(log))
    ws.rebuild()
    status = ws.status()
    assert status.revenue_by_currency == {"SEK": {"events": 1, "revenue": 50.0}}
    assert status.to_frame().set_index("what")["count"]["events with revenue above 0 in SEK"] == 1


def test_the_demo_reports_revenue_in_euros(make_workspace):
    ws = make_workspace("five_stage")
    ws.load_demo(events=5_000, seed=3)
    assert ws.config.report_currency == "EUR"
    assert load_config(ws.path).currency_rates == ws.config.currency_rates
    assert ws.currency_note() is None
    converted = ws.store.execute(ws.events.filter(ws.events.revenue.notnull()))
    assert set(converted["currency"]) == {"EUR"}
    # Every market's purchases come out in the demo's euro range, not in crowns or yuan.
    assert converted["revenue"].median() < 200


def test_revenue_kept_in_a_property_is_the_conversions_revenue(make_workspace):
    # A shop's log with the price on every event: the purchases' prices are their revenue (a
    # purchase with revenue keeps it), the views' are not, and the currency still converts.
    ws = make_workspace("five_stage")
    shop = {
        "ann": [("ad", "2026-01-01", {"price": 9}), ("purchase", "+1h", {"price": "22.8"})],
        "bob": [("mail", "2026-01-01"), ("purchase", "+1h", {"price": 7, "revenue": 30.0})],
    }
    ws.store.write("events", journeys(shop))
    ws.rebuild()
    ws.config = parse_config(
        {
            **ws.config.to_toml(),
            "goals": {"conversion_events": ["purchase"], "revenue_property": "price"},
        }
    )
    assert ws.config.revenue_property == "price"
    revenue = ws.events.order_by("ts", "event").execute()[["event", "revenue"]]
    assert revenue.fillna(0).values.tolist() == [
        ["ad", 0.0],
        ["mail", 0.0],
        ["purchase", 22.8],
        ["purchase", 30.0],
    ]
    assert run_attribution(ws.events, AttributionSpec("last_touch")).totals["revenue"] == 52.8
    ws.config = ws.config.with_currency("EUR", {"SEK": 11.4})
    assert ws.events.revenue.sum().execute() == pytest.approx(52.8)
    save_config(ws.config, ws.path)
    assert load_config(ws.path).revenue_property == "price"
    with pytest.raises(ConfigError, match=r"goals\.revenue_property"):
        config_with({"goals": {"revenue_property": "bad key!"}})
