"""The touchpoint report broken down by a key: hand-worked events on two devices, and Spark."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from journeylens.analytics.touchpoints import run_touchpoint_report
from journeylens.config import Config, Stage, Touchpoint
from journeylens.errors import SpecError
from journeylens.journey.catalog import catalog_table
from journeylens.testing import journeys
from journeylens.workspace import init_workspace

CONFIG = Config(
    "shop", "three_stage", (Stage("awareness"), Stage("consideration"), Stage("decision"))
)
CATALOG = [
    Touchpoint("home", ("home",), "awareness", channel="web"),
    Touchpoint("pricing", ("pricing",), "consideration", channel="web"),
    Touchpoint("purchase", ("purchase",), "decision", channel="web"),
    Touchpoint("chat", ("chat",), "decision", channel="support"),  # nobody uses it
]
# journeys() gives each event the touchpoint of its name; 'error' has none (unmapped).
#   ana: home (mobile, market se), pricing (mobile, se), home (desktop), purchase (desktop, se)
#   bo:  home (desktop, market no), pricing (desktop, no)
#   cy:  home (mobile, market se), pricing (mobile), home (mobile), pricing (mobile)
#   dee: home (no device), home (desktop), error (mobile, no touchpoint)
# Overall: home 7 events / 4 people, pricing 4 / 3, purchase 1 / 1, chat 0 / 0; error unmapped.
PEOPLE = {
    "ana": [
        ("home", "2026-01-01 10:00", {"device": "mobile", "market": "se"}),
        ("pricing", "+1m", {"device": "mobile", "market": "se"}),
        ("home", "+1h", {"device": "desktop"}),
        ("purchase", "+5m", {"device": "desktop", "market": "se"}),
    ],
    "bo": [
        ("home", "2026-01-01 11:00", {"device": "desktop", "market": "no"}),
        ("pricing", "+2m", {"device": "desktop", "market": "no"}),
    ],
    "cy": [
        ("home", "2026-01-01 12:00", {"device": "mobile", "market": "se"}),
        ("pricing", "+1m", {"device": "mobile"}),
        ("home", "+3m", {"device": "mobile"}),
        ("pricing", "+1m", {"device": "mobile"}),
    ],
    "dee": [
        ("home", "2026-01-02 09:00"),
        ("home", "+1h", {"device": "desktop"}),
        ("error", "+1m", {"device": "mobile", "touchpoint": None}),
    ],
}


@pytest.fixture
def tables() -> tuple[Any, Any]:
    con = ibis.duckdb.connect()
    events = con.create_table("events", journeys(PEOPLE))
    return events, con.create_table("touchpoints", catalog_table(CATALOG))


def rows(report: Any) -> list[tuple[Any, ...]]:
    """The breakdown as (value, touchpoint, stage, events, people) tuples, in its order."""
    return [tuple(r.values()) for r in report.to_dict()["breakdown"]]


def test_each_event_counts_under_its_own_device_and_people_under_each_they_have(tables) -> None:
    report = run_touchpoint_report(*tables, CONFIG, by="device")
    # mobile: home ana#1, cy#1, cy#3 (2 people); pricing ana, cy, cy (2 people): 6 events.
    # desktop: home ana#3, bo, dee#2 (3 people); pricing bo; purchase ana: 5 events.
    # (none): home dee#1: 1 event. dee's error is mobile but unmapped: counted nowhere here.
    # ana is under mobile and desktop at home, dee under desktop and (none).
    assert rows(report) == [
        ("mobile", "home", "awareness", 3, 2),
        ("mobile", "pricing", "consideration", 3, 2),
        ("desktop", "home", "awareness", 3, 3),
        ("desktop", "pricing", "consideration", 1, 1),
        ("desktop", "purchase", "decision", 1, 1),
        ("(none)", "home", "awareness", 1, 1),
    ]
    assert report.by == "device"
    assert list(report.to_dict()["breakdown"][0]) == [
        "device",
        "touchpoint",
        "stage",
        "events",
        "people",
    ]


def test_the_values_events_add_up_to_the_catalog_and_their_people_may_not(tables) -> None:
    report = run_touchpoint_report(*tables, CONFIG, by="device")
    summed = report.breakdown.groupby("touchpoint")[["events", "people"]].sum()
    overall = report.catalog.set_index("touchpoint")
    for touchpoint in ("home", "pricing", "purchase"):
        assert summed.loc[touchpoint, "events"] == overall.loc[touchpoint, "events"]
    # home: 4 people overall, 2 + 3 + 1 = 6 over the values (ana and dee counted twice).
    assert (overall.loc["home", "people"], summed.loc["home", "people"]) == (4, 6)
    assert "chat" not in set(report.breakdown["touchpoint"])  # no rows of zeros


def test_the_overall_report_is_the_same_with_a_breakdown(tables) -> None:
    plain = run_touchpoint_report(*tables, CONFIG)
    broken = run_touchpoint_report(*tables, CONFIG, by="device", top=1)
    pd.testing.assert_frame_equal(broken.catalog, plain.catalog)
    pd.testing.assert_frame_equal(broken.unmapped, plain.unmapped)
    expected = plain.to_dict()
    assert "breakdown" not in expected
    assert {k: v for k, v in broken.to_dict().items() if k != "breakdown"} == expected
    overall = plain.catalog.set_index("touchpoint")
    assert overall.loc["home", "events"] == 7
    assert overall.loc["pricing", "people"] == 3
    assert plain.unmapped.to_dict(orient="records") == [
        {"event": "error", "events": 1, "people": 1}
    ]


def test_the_top_values_are_kept_and_the_rest_pooled_as_other(tables) -> None:
    # top 1: mobile (6 events) is kept; desktop and (none) pool. dee's two homes (one on each)
    # count twice as events but once as a person: home 4 events (ana#3, bo, dee#1, dee#2), 3.
    assert rows(run_touchpoint_report(*tables, CONFIG, by="device", top=1)) == [
        ("mobile", "home", "awareness", 3, 2),
        ("mobile", "pricing", "consideration", 3, 2),
        ("(other)", "home", "awareness", 4, 3),
        ("(other)", "pricing", "consideration", 1, 1),
        ("(other)", "purchase", "decision", 1, 1),
    ]
    # top 2: only (none) is left over, and becomes '(other)'.
    values = [r[0] for r in rows(run_touchpoint_report(*tables, CONFIG, by="device", top=2))]
    assert values == ["mobile", "mobile", "desktop", "desktop", "desktop", "(other)"]


@pytest.mark.parametrize("by", ["market", "properties.market"])
def test_a_property_breaks_the_report_down_under_its_bare_name(tables, by) -> None:
    report = run_touchpoint_report(*tables, CONFIG, by=by)
    # (none): home ana#3, cy#3, dee#1, dee#2 (3 people), pricing cy#2, cy#4 (1): 6 events.
    # se: home ana#1, cy#1; pricing ana; purchase ana: 4 events. no: bo's two: 2 events.
    assert rows(report) == [
        ("(none)", "home", "awareness", 4, 3),
        ("(none)", "pricing", "consideration", 2, 1),
        ("se", "home", "awareness", 2, 2),
        ("se", "pricing", "consideration", 1, 1),
        ("se", "purchase", "decision", 1, 1),
        ("no", "home", "awareness", 1, 1),
        ("no", "pricing", "consideration", 1, 1),
    ]
    assert report.by == "market"
    assert [value for value, _ in report.by_value()] == ["(none)", "se", "no"]


@pytest.mark.parametrize(
    ("by", "top", "message"),
    [
        ("markte", 10, r"No event has the property 'markte' \(--by\)\. Did you mean 'market'\?"),
        ("stage", 10, "would share a name with the touchpoints field 'stage'"),
        ("properties.people", 10, "would share a name with the touchpoints field 'people'"),
        ("device", 0, "top must be at least 1, not 0"),
    ],
)
def test_a_breakdown_that_cannot_be_made_is_refused(tables, by, top, message) -> None:
    with pytest.raises(SpecError, match=message):
        run_touchpoint_report(*tables, CONFIG, by=by, top=top)


def test_the_breakdown_is_one_query_grouped_by_value_and_touchpoint(tables) -> None:
    report = run_touchpoint_report(*tables, CONFIG, by="device")
    # the volume per touchpoint, the catalog, the unmapped events, the breakdown
    assert len(report.queries) == 4
    breakdown = str(ibis.to_sql(report.queries[3]))
    assert "GROUP BY" in breakdown.upper()
    assert "mobile" not in breakdown  # no value named: every value comes from the one query


@pytest.mark.spark
def test_spark_breaks_the_report_down_as_duckdb_does(tmp_path: Path, tables) -> None:
    expected = run_touchpoint_report(*tables, CONFIG, by="market", top=2)
    with init_workspace(tmp_path / "spark", "three_stage", engine="spark") as ws:
        ws.store.write("events", journeys(PEOPLE), overwrite=True)
        ws.store.write("touchpoints", catalog_table(CATALOG), overwrite=True)
        got = run_touchpoint_report(ws.events, ws.touchpoints, CONFIG, by="market", top=2)
    pd.testing.assert_frame_equal(got.breakdown, expected.breakdown, check_dtype=False)
    # (none) 6 events and se 4 kept; no (bo's 2) pooled as other.
    assert [r[0] for r in rows(got)][-2:] == ["(other)", "(other)"]
    assert rows(got)[0] == ("(none)", "home", "awareness", 4, 3)
