"""Paths broken down by a key: hand-worked journeys on two devices, and the same on Spark."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import pandas as pd
import pytest

from journeylens.analytics.paths import PathsSpec, run_top_paths, run_transitions
from journeylens.errors import SpecError
from journeylens.testing import journeys
from journeylens.workspace import init_workspace

# With the ends (PathsSpec's default) and the goal 'purchase' shown as (conversion):
#   ana (mobile at her first event, desktop later; market se):
#       home → cart (60 s) → (conversion) (120 s) → (end)
#   bo (desktop; market no): home → home (30 s) → cart (90 s) → (end)
#   cy (mobile; no market): home → search (60 s) → home (180 s) → (end)
#   dee (no device; market se, the next day): cart → (conversion) (300 s) → (end)
PEOPLE = {
    "ana": [
        ("home", "2026-01-01 10:00", {"device": "mobile", "market": "se"}),
        ("cart", "+1m", {"device": "desktop"}),
        ("purchase", "+2m", {"device": "desktop"}),
    ],
    "bo": [
        ("home", "2026-01-01 11:00", {"device": "desktop", "market": "no"}),
        ("home", "+30s", {"device": "desktop"}),
        ("cart", "+90s", {"device": "desktop"}),
    ],
    "cy": [
        ("home", "2026-01-01 12:00", {"device": "mobile"}),
        ("search", "+1m", {"device": "mobile"}),
        ("home", "+3m", {"device": "mobile"}),
    ],
    "dee": [("cart", "2026-01-02 09:00", {"market": "se"}), ("purchase", "+5m")],
}
DEVICES = PathsSpec(by="device")


@pytest.fixture
def events() -> Any:
    return ibis.duckdb.connect().create_table("events", journeys(PEOPLE))


def graph_of(result: Any, value: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """Edges by ``(from, to)``: the overall graph, or one value's of the breakdown."""
    if value is None:
        return {(r["from"], r["to"]): r for r in result.edges.to_dict(orient="records")}
    key = result.by
    return {(r["from"], r["to"]): r for r in result.to_dict() if r[key] == value}


def test_each_persons_pairs_count_under_the_device_of_their_first_event(events) -> None:
    result = run_transitions(events, DEVICES)
    # mobile is ana and cy: 6 pairs. Out of home 3 (→ cart, → search, → (end)): 1/3 each.
    mobile = graph_of(result, "mobile")
    assert {edge: r["count"] for edge, r in mobile.items()} == {
        ("home", "cart"): 1,
        ("cart", "(conversion)"): 1,  # ana's later desktop events stay under mobile
        ("(conversion)", "(end)"): 1,
        ("home", "search"): 1,
        ("search", "home"): 1,
        ("home", "(end)"): 1,
    }
    assert mobile["home", "cart"]["probability"] == pytest.approx(1 / 3)
    assert mobile["home", "(end)"]["probability"] == pytest.approx(1 / 3)
    # Into (end) in mobile: from home (cy) and from (conversion) (ana): 1/2 each.
    assert mobile["home", "(end)"]["probability_in"] == pytest.approx(1 / 2)
    assert mobile["search", "home"]["probability_in"] == pytest.approx(1)
    assert mobile["home", "cart"]["share"] == pytest.approx(1 / 6)
    assert mobile["search", "home"]["median_seconds"] == 180
    # desktop is bo alone: home → home, home → cart, cart → (end); out of home 1/2 each, and
    # the pairs into cart are his alone here (overall ana's count too).
    desktop = graph_of(result, "desktop")
    assert set(desktop) == {("home", "home"), ("home", "cart"), ("cart", "(end)")}
    assert desktop["home", "cart"]["probability"] == pytest.approx(1 / 2)
    assert desktop["home", "cart"]["probability_in"] == pytest.approx(1)
    assert desktop["cart", "(end)"]["probability"] == pytest.approx(1)
    assert desktop["home", "cart"]["share"] == pytest.approx(1 / 3)
    assert desktop["home", "cart"]["median_seconds"] == 90
    # dee has no device: (none), cart → (conversion) → (end).
    nobody = graph_of(result, "(none)")
    assert nobody["cart", "(conversion)"]["count"] == 1
    assert nobody["cart", "(conversion)"]["share"] == pytest.approx(1 / 2)
    assert nobody["cart", "(conversion)"]["median_seconds"] == 300


def test_the_overall_graph_is_kept_as_without_a_breakdown(events) -> None:
    result = run_transitions(events, DEVICES)
    pd.testing.assert_frame_equal(result.edges, run_transitions(events).edges)
    overall = graph_of(result)
    # home → cart: ana (60 s) and bo (90 s); out of home 5 pairs (ana 1, bo 2, cy 2).
    assert overall["home", "cart"]["count"] == 2
    assert overall["home", "cart"]["probability"] == pytest.approx(2 / 5)
    assert overall["home", "cart"]["median_seconds"] == 75
    # cart → (conversion): ana (120 s) and dee (300 s), 2 of the 3 pairs out of cart.
    assert overall["cart", "(conversion)"]["probability"] == pytest.approx(2 / 3)
    assert overall["cart", "(conversion)"]["median_seconds"] == 210
    assert result.figure().data[0].type == "sankey"


def test_the_values_counts_and_people_sum_to_the_overall_graph(events) -> None:
    result = run_transitions(events, DEVICES)
    per_value = result.to_frame().groupby(["from", "to"])[["count", "people"]].sum()
    overall = result.edges.set_index(["from", "to"])[["count", "people"]]
    pd.testing.assert_frame_equal(per_value.sort_index(), overall.sort_index())
    assert per_value["count"].sum() == 11


def test_values_come_most_people_first_then_by_name(events) -> None:
    # mobile has two people; (none) and desktop one each, "(none)" sorting before "desktop".
    frame = run_transitions(events, DEVICES).to_frame()
    assert list(frame.columns) == ["device", "from", "to", "count", "people", "probability",
                                   "probability_in", "share", "median_seconds"]  # fmt: skip
    assert list(dict.fromkeys(frame["device"])) == ["mobile", "(none)", "desktop"]
    # Within a value, most frequent first: desktop's three edges once each, by name.
    desktop = frame[frame["device"] == "desktop"]
    assert list(zip(desktop["from"], desktop["to"], strict=True)) == [
        ("cart", "(end)"),
        ("home", "cart"),
        ("home", "home"),
    ]


def test_the_top_values_are_kept_and_the_rest_pooled_as_other(events) -> None:
    result = run_transitions(events, PathsSpec(by="device", top_values=1))
    frame = result.to_frame()
    assert list(dict.fromkeys(frame["device"])) == ["mobile", "(other)"]
    # other is bo and dee: 5 pairs; out of cart one to (end) (bo), one to (conversion) (dee).
    other = graph_of(result, "(other)")
    assert sum(r["count"] for r in other.values()) == 5
    assert other["cart", "(end)"]["probability"] == pytest.approx(1 / 2)
    assert other["cart", "(conversion)"]["people"] == 1
    assert other["home", "cart"]["share"] == pytest.approx(1 / 5)


def test_the_value_is_the_first_of_the_analysed_events(events) -> None:
    # From 10:00:30 ana's first event is her desktop cart: she joins bo under desktop.
    spec = PathsSpec(by="device", since=datetime(2026, 1, 1, 10, 0, 30))
    desktop = graph_of(run_transitions(events, spec), "desktop")
    assert desktop["cart", "(conversion)"]["count"] == 1
    assert desktop["cart", "(end)"]["probability"] == pytest.approx(1 / 2)
    assert desktop["home", "cart"]["people"] == 1


@pytest.mark.parametrize("by", ["market", "properties.market"])
def test_a_property_breaks_the_graph_down_under_its_bare_name(events, by) -> None:
    result = run_transitions(events, PathsSpec(by=by))
    assert result.by == "market"
    assert list(result.to_dict()[0])[:2] == ["market", "from"]
    # se is ana and dee (both convert after cart), no is bo, cy has no market.
    se = graph_of(result, "se")
    assert se["cart", "(conversion)"]["count"] == 2
    assert se["cart", "(conversion)"]["people"] == 2
    assert se["cart", "(conversion)"]["median_seconds"] == 210
    assert se["(conversion)", "(end)"]["probability_in"] == pytest.approx(1)
    assert set(graph_of(result, "(none)")) == {("home", "search"), ("search", "home"),
                                               ("home", "(end)")}  # fmt: skip
    assert list(dict.fromkeys(result.to_frame()["market"])) == ["se", "(none)", "no"]


def test_whole_sequences_ordered_by_their_numbers_give_the_same_breakdown(events) -> None:
    # The stored keys take the first event by an aggregate; elsewhere a window finds it.
    keyed = run_transitions(events, PathsSpec(by="device", include_end=False), whole=True)
    windowed = run_transitions(events, PathsSpec(by="device", include_end=False))
    pd.testing.assert_frame_equal(keyed.to_frame(), windowed.to_frame())
    assert graph_of(keyed, "mobile")["home", "cart"]["probability"] == pytest.approx(1 / 2)


def test_collapsed_repeats_and_a_from_node_per_value(events) -> None:
    spec = PathsSpec(by="device", collapse_repeats=True, from_node="home")
    desktop = graph_of(run_transitions(events, spec), "desktop")
    # bo's home home cart becomes home cart: one pair out of home, all of it.
    assert desktop == {("home", "cart"): desktop["home", "cart"]}
    assert desktop["home", "cart"]["probability"] == 1
    assert desktop["home", "cart"]["median_seconds"] == 120  # 11:00 → 11:02, from the first


def test_rare_nodes_are_grouped_once_over_every_value(events) -> None:
    # top_nodes=2: home (5 events) and cart (3) stay; purchase (2) and search (1) are other.
    result = run_transitions(events, PathsSpec(by="device", top_nodes=2, include_end=False))
    mobile = graph_of(result, "mobile")
    assert {edge: r["count"] for edge, r in mobile.items()} == {
        ("home", "cart"): 1,
        ("cart", "(other)"): 1,
        ("home", "(other)"): 1,
        ("(other)", "home"): 1,
    }
    # dee's cart → purchase is cart → other too, though cart is dee's most frequent node.
    assert set(graph_of(result, "(none)")) == {("cart", "(other)")}


def test_a_rare_anchor_stays_itself_in_every_value(events) -> None:
    # top_nodes=2 keeps home and cart; search (cy's, mobile) is the anchor, so it stays search.
    spec = PathsSpec(by="device", from_node="search", top_nodes=2, max_depth=3)
    records = run_top_paths(events, spec).to_dict()
    assert [(r["device"], r["path"], r["count"]) for r in records] == [
        ("mobile", ["search", "home", "(end)"], 1)
    ]
    graph = run_transitions(events, PathsSpec(by="device", to_node="search", top_nodes=2))
    assert [(r["device"], r["from"], r["count"]) for r in graph.to_dict()] == [
        ("mobile", "home", 1)
    ]
    assert graph_of(graph)["home", "search"]["people"] == 1


def test_top_paths_from_a_node_per_value(events) -> None:
    # home occurs 5 times: in mobile ana's once, cy's twice; in desktop bo's twice.
    result = run_top_paths(events, PathsSpec(by="device", from_node="home", max_depth=3))
    records = result.to_dict()
    assert list(records[0])[:2] == ["device", "path"]
    mobile = [(r["path"], r["count"], r["share"]) for r in records if r["device"] == "mobile"]
    assert mobile == [
        (["home", "(end)"], 1, pytest.approx(1 / 3)),
        (["home", "cart", "(conversion)"], 1, pytest.approx(1 / 3)),
        (["home", "search", "home"], 1, pytest.approx(1 / 3)),
    ]
    desktop = [(r["path"], r["people"], r["share"]) for r in records if r["device"] == "desktop"]
    assert desktop == [(["home", "cart", "(end)"], 1, 0.5), (["home", "home", "cart"], 1, 0.5)]
    assert {r["device"] for r in records} == {"mobile", "desktop"}  # dee never passes home
    overall = run_top_paths(events, PathsSpec(from_node="home", max_depth=3))
    pd.testing.assert_frame_equal(result.paths, overall.paths)
    assert result.paths["count"].sum() == 5


def test_top_keeps_the_most_frequent_paths_of_each_value(events) -> None:
    spec = PathsSpec(by="device", from_node="home", max_depth=3, top=1)
    records = run_top_paths(events, spec).to_dict()
    assert [(r["device"], r["path"]) for r in records] == [
        ("mobile", ["home", "(end)"]),
        ("desktop", ["home", "cart", "(end)"]),
    ]


def test_top_paths_to_conversion_per_value(events) -> None:
    spec = PathsSpec(by="device", to_node="(conversion)", max_depth=3)
    records = run_top_paths(events, spec).to_dict()
    assert [(r["device"], r["path"], r["share"]) for r in records] == [
        ("mobile", ["home", "cart", "(conversion)"], 1.0),
        ("(none)", ["cart", "(conversion)"], 1.0),
    ]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (PathsSpec(by="markte"), "No event has the property 'markte' \\(--by\\). Did you mean"),
        (PathsSpec(by="count"), "share a name with the paths field 'count'"),
        (PathsSpec(by="properties.path", from_node="home"), "paths field 'path'"),
    ],
)
def test_a_breakdown_that_cannot_be_made_is_refused(events, spec, message) -> None:
    run = run_transitions if spec.from_node is None else run_top_paths
    with pytest.raises(SpecError, match=message):
        run(events, spec)


def test_top_values_below_one_is_refused() -> None:
    with pytest.raises(SpecError, match="top_values must be at least 1"):
        PathsSpec(by="device", top_values=0)


@pytest.mark.spark
def test_spark_breaks_the_graph_and_the_paths_down_as_duckdb_does(tmp_path: Path) -> None:
    duck = ibis.duckdb.connect().create_table("events", journeys(PEOPLE))
    with init_workspace(tmp_path / "spark", engine="spark") as ws:
        ws.store.write("events", journeys(PEOPLE), overwrite=True)
        spark = ws.events
        for whole in (True, False):
            spec = PathsSpec(level="event", by="market", top_values=1)
            expected = run_transitions(duck, spec, whole=whole)
            got = run_transitions(spark, spec, whole=whole)
            pd.testing.assert_frame_equal(got.to_frame(), expected.to_frame(), check_dtype=False)
            pd.testing.assert_frame_equal(got.edges, expected.edges, check_dtype=False)
        spec = PathsSpec(level="event", by="device", from_node="home", max_depth=3)
        expected_paths = run_top_paths(duck, spec).to_frame()
        got_paths = run_top_paths(spark, spec).to_frame()
        pd.testing.assert_frame_equal(got_paths, expected_paths, check_dtype=False)
        assert graph_of(got, "se")["cart", "(conversion)"]["count"] == 2
