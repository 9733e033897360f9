"""Paths: hand-worked journeys, and the engine held against a pure-Python reference."""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

import ibis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics.paths import (
    MAX_DEPTH,
    PathsSpec,
    build_sequences,
    build_top_paths,
    check_anchor,
    fetch,
    run_top_paths,
    run_transitions,
)
from journeylens.errors import SpecError
from journeylens.testing import journeys


@pytest.fixture
def con() -> Any:
    return ibis.duckdb.connect()


def edges(result: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(r["from"], r["to"]): r for r in result.to_dict()}


def test_raw_graph_counts_every_pair_including_repeats(con: Any) -> None:
    # ana: home → home → product → purchase. bo: home → product.
    # pairs: home→home 1, home→product 2 (ana, bo), product→(conversion) 1,
    # (conversion)→(end) 1, product→(end) 1 (bo). Out of home: 3 pairs → 1/3 and 2/3.
    events = con.create_table(
        "events",
        journeys(
            {
                "ana": [
                    ("home", "2026-01-01 10:00"),
                    ("home", "+1m"),
                    ("product", "+2m"),
                    ("purchase", "+10m"),
                ],
                "bo": [("home", "2026-01-02 09:00"), ("product", "+4m")],
            }
        ),
    )
    graph = edges(run_transitions(events))
    assert set(graph) == {
        ("home", "home"),
        ("home", "product"),
        ("product", "(conversion)"),
        ("(conversion)", "(end)"),
        ("product", "(end)"),
    }
    assert graph["home", "product"]["count"] == 2
    assert graph["home", "product"]["people"] == 2
    assert graph["home", "product"]["probability"] == pytest.approx(2 / 3)
    assert graph["home", "home"]["probability"] == pytest.approx(1 / 3)
    # Into (end): from (conversion) and from product, one each; 6 pairs in all.
    assert graph["product", "(end)"]["probability_in"] == pytest.approx(1 / 2)
    assert graph["home", "product"]["probability_in"] == pytest.approx(1)
    assert graph["home", "product"]["share"] == pytest.approx(2 / 6)
    # An edge kept by to_node keeps its probability out of its from: product → (end) is 1 of 2.
    into_end = run_transitions(events, PathsSpec(to_node="(end)")).to_dict()
    assert {(r["from"], r["probability"]) for r in into_end} == {
        ("product", 0.5),
        ("(conversion)", 1.0),
    }
    # ana waited 2 min, bo 4 min: the median of (120, 240) is 180 s.
    assert graph["home", "product"]["median_seconds"] == pytest.approx(180)
    assert graph["product", "(end)"]["median_seconds"] is None
    assert graph["product", "(conversion)"]["median_seconds"] == pytest.approx(600)


def test_json_shape_is_the_documented_contract(con: Any) -> None:
    events = con.create_table("events", journeys({"a": [("x", "2026-01-01"), ("y", "+1h")]}))
    rows = run_transitions(events).to_dict()
    assert list(rows[0]) == [
        "from",
        "to",
        "count",
        "people",
        "probability",
        "probability_in",
        "share",
        "median_seconds",
    ]


def test_repeat_visits_by_one_person_count_each_pair_but_one_person(con: Any) -> None:
    # a → b → a → b: a→b twice (count 2) by one person (people 1), b→a once.
    events = con.create_table(
        "events",
        journeys({"p": [("a", "2026-01-01"), ("b", "+1s"), ("a", "+1s"), ("b", "+1s")]}),
    )
    graph = edges(run_transitions(events, PathsSpec(include_end=False)))
    assert graph["a", "b"]["count"] == 2
    assert graph["a", "b"]["people"] == 1
    assert graph["b", "a"]["count"] == 1
    assert ("b", "(end)") not in graph


def test_collapse_repeats_only_when_asked(con: Any) -> None:
    # a a a b → collapsed a b: a→b 1 and b→(end) 1, no a→a.
    events = con.create_table(
        "events",
        journeys({"p": [("a", "2026-01-01"), ("a", "+1s"), ("a", "+1s"), ("b", "+1m")]}),
    )
    raw = edges(run_transitions(events))
    assert raw["a", "a"]["count"] == 2
    clean = edges(run_transitions(events, PathsSpec(collapse_repeats=True)))
    assert set(clean) == {("a", "b"), ("b", "(end)")}
    # After collapsing, the time runs from the first a (kept) to b: 1 s + 1 s + 60 s.
    assert clean["a", "b"]["median_seconds"] == pytest.approx(62)


def test_equal_timestamps_are_ordered_by_event_id(con: Any) -> None:
    # Two events at the same instant: the one with the smaller event_id comes first.
    table = journeys({"p": [("a", "2026-01-01 10:00"), ("b", "2026-01-01 10:00")]})
    ids = table.column("event_id").to_pylist()
    events = con.create_table("events", table)
    graph = edges(run_transitions(events, PathsSpec(include_end=False)))
    first, second = ("a", "b") if ids[0] < ids[1] else ("b", "a")
    assert set(graph) == {(first, second)}
    assert graph[first, second]["median_seconds"] == 0


def test_unmapped_touchpoints_stay_in_the_sequence(con: Any) -> None:
    # The middle event has no touchpoint: it is "(unmapped)", not dropped, so a→b is not invented.
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [
                    ("a", "2026-01-01"),
                    ("mystery", "+1m", {"touchpoint": None}),
                    ("b", "+1m"),
                ]
            }
        ),
    )
    graph = edges(run_transitions(events, PathsSpec(include_end=False)))
    assert set(graph) == {("a", "(unmapped)"), ("(unmapped)", "b")}


def test_people_on_several_devices_are_one_sequence(con: Any) -> None:
    # Stitched person on phone then desktop: one journey across devices, in time order.
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [
                    ("ad", "2026-01-01 08:00", {"device": "phone", "session_id": "s1"}),
                    ("product", "+3h", {"device": "desktop", "session_id": "s2"}),
                    ("purchase", "+5m", {"device": "desktop", "session_id": "s2"}),
                ]
            }
        ),
    )
    graph = edges(run_transitions(events))
    assert graph["ad", "product"]["median_seconds"] == pytest.approx(3 * 3600)
    assert ("product", "(conversion)") in graph


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("stage", {("awareness", "decision"), ("decision", "(end)")}),
        ("channel", {("paid", "web"), ("web", "(end)")}),
        ("event", {("ad_click", "signup"), ("signup", "(end)")}),
    ],
)
def test_levels_use_their_column(con: Any, level: str, expected: set[tuple[str, str]]) -> None:
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [
                    ("ad_click", "2026-01-01", {"stage": "awareness", "channel": "paid"}),
                    ("signup", "+1h", {"stage": "decision", "channel": "web"}),
                ]
            }
        ),
    )
    assert set(edges(run_transitions(events, PathsSpec(level=level)))) == expected  # type: ignore[arg-type]


def test_rare_nodes_are_grouped_into_other(con: Any) -> None:
    # 6 events: a ×3, b ×2, c ×1. top_nodes=1 keeps a; b and c become other.
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [("a", "2026-01-01"), ("b", "+1s"), ("a", "+1s")],
                "q": [("a", "2026-01-01"), ("b", "+1s"), ("c", "+1s")],
            }
        ),
    )
    spec = PathsSpec(top_nodes=1, include_end=False)
    assert set(edges(run_transitions(events, spec))) == {
        ("a", "(other)"),
        ("(other)", "a"),
        ("(other)", "(other)"),
    }
    # min_share 0.3: a 3/6 and b 2/6 stay, c 1/6 goes.
    spec = PathsSpec(min_share=0.3, include_end=False)
    assert ("b", "(other)") in edges(run_transitions(events, spec))


def test_a_node_named_other_stays_apart_from_the_grouped_ones(con: Any) -> None:
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [("other", "2026-01-01"), ("b", "+1s"), ("other", "+1s")],
                "q": [("other", "2026-01-01"), ("b", "+1s"), ("c", "+1s")],
            }
        ),
    )
    spec = PathsSpec(top_nodes=1, include_end=False)
    assert set(edges(run_transitions(events, spec))) == {
        ("other", "(other)"),
        ("(other)", "other"),
        ("(other)", "(other)"),
    }


@pytest.fixture
def rare_checkout(con: Any) -> Any:
    # 12 events: home ×6, cart ×2, and once each help, checkout, search and an event with no
    # touchpoint, (unmapped). top_nodes=2 and min_share=0.15 keep home and cart (2/12) alone.
    return con.create_table(
        "events",
        journeys(
            {
                "p": [
                    ("home", "2026-01-01 10:00"),
                    ("cart", "+1m"),
                    ("help", "+1m"),
                    ("checkout", "+1m"),
                    ("home", "+1m"),
                ],
                "q": [
                    ("home", "2026-01-01 10:00"),
                    ("cart", "+1m"),
                    ("mystery", "+1m", {"touchpoint": None}),
                    ("home", "+1m"),
                ],
                "r": [("home", "2026-01-01 10:00"), ("search", "+1m")],
            }
        ),
    )


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"from_node": "checkout", "top_nodes": 2}, ["checkout", "home", "(end)"]),
        ({"to_node": "checkout", "min_share": 0.15}, ["cart", "(other)", "checkout"]),
        ({"from_node": "(unmapped)", "min_share": 0.15}, ["(unmapped)", "home", "(end)"]),
        ({"to_node": "(unmapped)", "top_nodes": 2}, ["home", "cart", "(unmapped)"]),
    ],
)
def test_a_rare_anchor_stays_itself_when_rare_nodes_are_grouped(
    rare_checkout: Any, options: dict[str, Any], expected: list[str]
) -> None:
    # The anchor is never '(other)': its paths were empty. help, as rare, is still grouped.
    result = run_top_paths(rare_checkout, PathsSpec(max_depth=3, **options))
    assert [(r["path"], r["count"], r["share"]) for r in result.to_dict()] == [(expected, 1, 1.0)]


def test_a_rare_anchor_keeps_its_edges_and_only_it_leaves_other(rare_checkout: Any) -> None:
    # 11 pairs with the ends (p 5, q 4, r 2). '(other)' is help, (unmapped) and search: 3 pairs
    # out of it, one of them help → checkout; checkout itself is no longer among them.
    graph = edges(run_transitions(rare_checkout, PathsSpec(to_node="checkout", top_nodes=2)))
    assert list(graph) == [("(other)", "checkout")]
    edge = graph["(other)", "checkout"]
    assert (edge["count"], edge["probability"]) == (1, pytest.approx(1 / 3))
    assert (edge["probability_in"], edge["share"]) == (1.0, pytest.approx(1 / 11))
    # Every other node is what the grouping makes of it without an anchor.
    for grouping in ({"top_nodes": 2}, {"min_share": 0.15}):
        specs = (PathsSpec(from_node="checkout", **grouping), PathsSpec(**grouping))
        frames = [fetch(build_sequences(rare_checkout, spec)) for spec in specs]
        nodes = [frame.sort_values("event_id")["node"].tolist() for frame in frames]
        assert [a if a != "checkout" else "(other)" for a in nodes[0]] == nodes[1]
        assert nodes[0].count("checkout") == 1


def test_since_until_cut_the_window(con: Any) -> None:
    events = con.create_table(
        "events", journeys({"p": [("a", "2026-01-01"), ("b", "2026-01-02"), ("c", "2026-01-03")]})
    )
    spec = PathsSpec(since=datetime(2026, 1, 2), until=datetime(2026, 1, 3))
    assert set(edges(run_transitions(events, spec))) == {("b", "(end)")}


def test_from_node_filters_the_graph(con: Any) -> None:
    events = con.create_table("events", journeys({"p": [("a", "2026-01-01"), ("b", "+1s")]}))
    assert set(edges(run_transitions(events, PathsSpec(from_node="b")))) == {("b", "(end)")}


@pytest.mark.parametrize("whole", [False, True], ids=["window", "joined"])
def test_node_filters_pick_pairs_by_name_not_by_code(con: Any, whole: bool) -> None:
    # p: it's → b → it's, q: b. Pairs: it's→b, b→it's, it's→(end), b→(end). The graph groups
    # nodes by codes numbered in name order (b before it's); the answer must name them again.
    events = con.create_table(
        "events",
        journeys(
            {
                "p": [("it's", "2026-01-01"), ("b", "+1s"), ("it's", "+1s")],
                "q": [("b", "2026-01-01")],
            }
        ),
    )

    def graph(**options: Any) -> dict[tuple[str, str], int]:
        result = run_transitions(events, PathsSpec(**options), whole=whole)
        return {pair: row["count"] for pair, row in edges(result).items()}

    assert graph(from_node="it's") == {("it's", "b"): 1, ("it's", "(end)"): 1}
    assert graph(to_node="b") == {("it's", "b"): 1}
    assert graph(to_node="(end)") == {("it's", "(end)"): 1, ("b", "(end)"): 1}
    assert graph(from_node="nowhere") == {}


@pytest.fixture
def shop(con: Any) -> Any:
    # ana: home → cart → purchase → home
    # bo: home → cart → home → cart → purchase
    # cy: home → search
    return con.create_table(
        "events",
        journeys(
            {
                "ana": [
                    ("home", "2026-01-01 10:00"),
                    ("cart", "+1m"),
                    ("purchase", "+1m"),
                    ("home", "+1d"),
                ],
                "bo": [
                    ("home", "2026-01-01 10:00"),
                    ("cart", "+1m"),
                    ("home", "+1m"),
                    ("cart", "+1m"),
                    ("purchase", "+1m"),
                ],
                "cy": [("home", "2026-01-01 10:00"), ("search", "+1m")],
            }
        ),
    )


def test_top_paths_from_a_node_count_every_occurrence(shop: Any) -> None:
    # home occurs 5 times (ana 2, bo 2, cy 1). Depth 3 paths:
    #   home cart (conversion)  ← ana#1, bo#2   → count 2, people 2
    #   home cart home          ← bo#1          → 1
    #   home search (end)       ← cy            → 1
    #   home (end)              ← ana#2         → 1
    result = run_top_paths(shop, PathsSpec(from_node="home", max_depth=3))
    rows = {tuple(r["path"]): r for r in result.to_dict()}
    assert rows["home", "cart", "(conversion)"]["count"] == 2
    assert rows["home", "cart", "(conversion)"]["people"] == 2
    assert rows["home", "cart", "(conversion)"]["share"] == pytest.approx(2 / 5)
    assert rows["home", "(end)"]["steps"] == 2
    assert set(rows) == {
        ("home", "cart", "(conversion)"),
        ("home", "cart", "home"),
        ("home", "search", "(end)"),
        ("home", "(end)"),
    }
    assert result.to_dict()[0]["path"] == ["home", "cart", "(conversion)"]


def test_top_paths_to_conversion_and_to_leaving(shop: Any) -> None:
    to_conversion = run_top_paths(shop, PathsSpec(to_node="(conversion)", max_depth=3))
    assert {tuple(r["path"]): r["count"] for r in to_conversion.to_dict()} == {
        ("home", "cart", "(conversion)"): 2
    }
    # Leaving: ana after home, bo after (conversion), cy after search.
    leaving = run_top_paths(shop, PathsSpec(to_node="(end)", max_depth=3))
    assert {tuple(r["path"]) for r in leaving.to_dict()} == {
        ("(conversion)", "home", "(end)"),
        ("cart", "(conversion)", "(end)"),
        ("home", "search", "(end)"),
    }


def test_top_paths_to_a_node_start_at_the_first_event_when_short(shop: Any) -> None:
    result = run_top_paths(shop, PathsSpec(to_node="cart", max_depth=4))
    # cart occurs 3 times: ana#1 (home cart), bo#1 (home cart), bo#2 (home cart home cart).
    paths = {tuple(r["path"]): r["count"] for r in result.to_dict()}
    assert paths == {("home", "cart"): 2, ("home", "cart", "home", "cart"): 1}


def test_top_paths_compute_no_more_nodes_than_the_longest_journey(shop: Any) -> None:
    # bo's 5 events are the longest journey: a path has at most 6 nodes (5 and an end), so
    # depth 50 computes 6 columns (5 lags, not 49) and finds the paths of depth 6.
    for table in (shop, shop.drop("person_key", "person_seq")):
        sql = ibis.to_sql(build_top_paths(table, PathsSpec(to_node="cart", max_depth=50)))
        assert sql.upper().count("LAG(") == 5
        deep = run_top_paths(table, PathsSpec(from_node="home", max_depth=50)).to_frame()
        six = run_top_paths(table, PathsSpec(from_node="home", max_depth=6)).to_frame()
        assert deep.equals(six)
        assert deep["steps"].max() == 6  # bo: home cart home cart (conversion) (end)


def test_a_path_deeper_than_the_limit_is_refused_naming_it() -> None:
    with pytest.raises(SpecError, match=r"max_depth must be from 2 .* to 50 .*got 1000"):
        PathsSpec(to_node="(conversion)", max_depth=1000)
    assert PathsSpec(from_node="home", max_depth=MAX_DEPTH).max_depth == 50


def test_top_limits_the_number_of_paths(shop: Any) -> None:
    assert len(run_top_paths(shop, PathsSpec(from_node="home", max_depth=3, top=2)).paths) == 2


def test_figures_are_acyclic_sankeys(shop: Any) -> None:
    fig = run_transitions(shop, PathsSpec(max_depth=4)).figure()
    sankey = fig.data[0]
    labels = list(sankey.node.label)
    assert labels.count("home") >= 2  # home at step 0 and again later: distinct nodes
    assert all(s != t for s, t in zip(sankey.link.source, sankey.link.target, strict=True))
    paths_fig = run_top_paths(shop, PathsSpec(from_node="home", max_depth=3)).figure()
    assert sum(paths_fig.data[0].link.value) > 0


def test_sankey_flows_run_only_when_read(con: Any) -> None:
    # ana: home → product → purchase; bo: home → home. Steps: 0 home→product, home→home;
    # 1 product→(conversion); 2 (conversion)→(end); bo 1 home→(end).
    events = con.create_table(
        "events",
        journeys(
            {
                "ana": [("home", "2026-01-01 10:00"), ("product", "+1m"), ("purchase", "+2m")],
                "bo": [("home", "2026-01-02 09:00"), ("home", "+4m")],
            }
        ),
    )
    result = run_transitions(events, PathsSpec(max_depth=4))
    assert result._flows is None  # the graph alone ran
    flows = result.flows.sort_values(["step", "from_", "to"]).values.tolist()
    assert flows == [
        [0, "home", "home", 1],
        [0, "home", "product", 1],
        [1, "home", "(end)", 1],
        [1, "product", "(conversion)", 1],
        [2, "(conversion)", "(end)", 1],
    ]
    assert result.flows is result.flows  # fetched once
    assert sum(result.figure().data[0].link.value) == 5


@pytest.mark.parametrize(
    "kwargs",
    [
        {"level": "page"},
        {"min_share": 1.5},
        {"top": 0},
        {"max_depth": 1},
        {"max_depth": 51},
        {"from_node": "a", "to_node": "b"},
        {"from_node": "(end)"},
        {"since": datetime(2026, 2, 1), "until": datetime(2026, 1, 1)},
    ],
)
def test_nonsense_specs_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(SpecError):
        PathsSpec(**kwargs)


def test_top_paths_need_an_anchor(shop: Any) -> None:
    with pytest.raises(SpecError, match="from_node or a to_node"):
        run_top_paths(shop, PathsSpec())


# --- the engine against a pure-Python reference --------------------------------------------


def reference_transitions(
    rows: list[dict[str, Any]], include_end: bool, collapse: bool
) -> dict[tuple[str, str], tuple[int, int, float | None]]:
    """(from, to) → (count, people, median seconds), by walking each person's ordered events."""
    by_person: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_person[row["person_id"]].append(row)
    counts: Counter[tuple[str, str]] = Counter()
    people: dict[tuple[str, str], set[str]] = defaultdict(set)
    gaps: dict[tuple[str, str], list[float]] = defaultdict(list)
    for person, events in by_person.items():
        events.sort(key=lambda r: (r["ts"], r["event_id"]))
        nodes = [
            (
                "(conversion)"
                if include_end and r["event"] == "purchase"
                else r["touchpoint"] or "(unmapped)",
                r["ts"],
            )
            for r in events
        ]
        if collapse:
            nodes = [n for i, n in enumerate(nodes) if i == 0 or nodes[i - 1][0] != n[0]]
        for (a, ta), (b, tb) in pairwise(nodes):
            counts[a, b] += 1
            people[a, b].add(person)
            gaps[a, b].append((tb - ta).total_seconds())
        if include_end:
            counts[nodes[-1][0], "(end)"] += 1
            people[nodes[-1][0], "(end)"].add(person)
    return {
        k: (n, len(people[k]), statistics.median(gaps[k]) if gaps[k] else None)
        for k, n in counts.items()
    }


EPOCH = datetime(2026, 1, 1)
logs = st.lists(
    st.tuples(
        st.sampled_from(["p1", "p2", "p3", "p4"]),
        st.integers(0, 40),  # seconds after EPOCH: small range → many equal timestamps
        st.sampled_from(["a", "b", "c", "purchase", None]),
    ),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs, include_end=st.booleans(), collapse=st.booleans(), whole=st.booleans())
def test_engine_matches_reference_on_random_logs(
    log: list[tuple[str, int, str | None]], include_end: bool, collapse: bool, whole: bool
) -> None:
    people: dict[str, list[Any]] = defaultdict(list)
    for person, seconds, name in log:
        ts = (EPOCH + timedelta(seconds=seconds)).isoformat()
        extra = {"touchpoint": name, "event": name or "view"}
        people[person].append((name or "view", ts, extra))
    table = journeys(people)
    rows = table.to_pylist()
    con = ibis.duckdb.connect()
    events = con.create_table("events", table)
    spec = PathsSpec(include_end=include_end, collapse_repeats=collapse)
    got = {
        (r["from"], r["to"]): (r["count"], r["people"], r["median_seconds"])
        for r in run_transitions(events, spec, whole).to_dict()
    }
    assert got == reference_transitions(rows, include_end, collapse)
    sequence_rows = fetch(build_sequences(events, spec))
    assert len(sequence_rows) <= len(rows)


@pytest.fixture(scope="module")
def demo_events() -> Any:
    import tempfile
    from pathlib import Path

    from journeylens.workspace import init_workspace

    directory = Path(tempfile.mkdtemp()) / "ws"
    ws = init_workspace(directory)
    ws.load_demo(events=20_000, seed=3)
    yield ws
    ws.close()


@pytest.mark.parametrize(
    "spec",
    [
        PathsSpec(include_end=False, goal=()),
        PathsSpec(),
        PathsSpec(level="stage", top_nodes=3),
        PathsSpec(since=datetime(2026, 6, 1), until=datetime(2026, 8, 1)),
    ],
    ids=["raw", "ends", "grouped", "time-cut"],
)
def test_whole_sequences_ordered_by_their_numbers_give_the_window_graph(demo_events, spec):
    # The window over person_seq (whole sequences) and the one over (ts, event_id) agree.
    by_time = run_transitions(demo_events.events, spec).to_frame()
    by_number = run_transitions(demo_events.events, spec, whole=True).to_frame()
    assert by_number.equals(by_time)
    assert len(by_number) > 3


@pytest.mark.parametrize(
    "spec",
    [
        PathsSpec(from_node="product_page", max_depth=4),
        PathsSpec(to_node="(conversion)", max_depth=4),
        PathsSpec(to_node="(end)", max_depth=3, collapse_repeats=True),
        PathsSpec(collapse_repeats=True),
    ],
    ids=["from", "to-conversion", "to-end-collapsed", "graph-collapsed"],
)
def test_sequences_ordered_by_the_stored_keys_give_what_the_text_order_gives(demo_events, spec):
    # Events that carry person_key and person_seq are ordered by them (two integers); the same
    # events without them by person id and (ts, received_at, event_id): the same paths, graph
    # and flows, filtered by a condition or not.
    events = demo_events.events
    for table in (events, events.filter(events.device == "mobile")):
        text = table.drop("person_key", "person_seq")
        if spec.from_node or spec.to_node:
            keyed, plain = run_top_paths(table, spec), run_top_paths(text, spec)
            assert keyed.to_frame().equals(plain.to_frame())
            assert len(keyed.to_frame()) > 2
        else:
            keyed, plain = run_transitions(table, spec), run_transitions(text, spec)
            assert keyed.to_frame().equals(plain.to_frame())
            flows = [
                f.sort_values(["step", "from_", "to"], ignore_index=True)
                for f in (keyed.flows, plain.flows)
            ]
            assert flows[0].equals(flows[1])


def test_an_anchor_that_is_no_node_of_the_data_is_named_with_a_suggestion(con: Any) -> None:
    events = con.create_table(
        "events", journeys({"ana": [("checkout", "2026-01-01 10:00"), ("purchase", "+1m")]})
    )
    with pytest.raises(SpecError, match=r"No touchpoint 'chekout'.*Did you mean 'checkout'"):
        check_anchor(events, PathsSpec(from_node="chekout"))
    with pytest.raises(SpecError, match="No event 'nowhere'"):
        check_anchor(events, PathsSpec(level="event", to_node="nowhere"))
    # The synthetic nodes are always known.
    check_anchor(events, PathsSpec(to_node="(end)"))
    check_anchor(events, PathsSpec(from_node="checkout"))
    # A node of goal events alone is (conversion) where paths end: no path reaches it by name.
    with pytest.raises(SpecError, match=r"'purchase' holds only goal events.*'\(conversion\)'"):
        check_anchor(events, PathsSpec(level="event", to_node="purchase"))
    check_anchor(events, PathsSpec(level="event", to_node="purchase", include_end=False))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"to_node": "(end)", "include_end": False}, r"'\(end\)' follows each journey only"),
        ({"from_node": "(conversion)", "include_end": False}, r"'\(conversion\)' is a path end"),
        ({"to_node": "(conversion)", "include_end": False}, r"drop --no-ends"),
        ({"to_node": "(conversion)", "goal": ()}, r"no goal event is named"),
        ({"from_node": "(other)"}, r"'\(other\)' groups rare nodes.*--min-share or --top-nodes"),
        ({"to_node": "(other)", "min_share": 0.0}, r"'\(other\)' groups rare nodes"),
    ],
)
def test_an_anchor_the_options_make_impossible_is_refused_saying_why(
    kwargs: dict[str, Any], message: str
) -> None:
    # Each was an empty result: no '(end)' or '(conversion)' without the ends, no '(other)'
    # without a grouping.
    with pytest.raises(SpecError, match=message):
        PathsSpec(**kwargs)


def test_anchors_the_options_make_possible_are_taken() -> None:
    assert PathsSpec(from_node="(conversion)").from_node == "(conversion)"
    assert PathsSpec(to_node="(other)", top_nodes=3).to_node == "(other)"
    assert PathsSpec(from_node="(other)", min_share=0.01).from_node == "(other)"


def test_anchoring_at_unmapped_where_every_event_is_mapped_is_an_error(con: Any) -> None:
    mapped = con.create_table(
        "mapped", journeys({"ana": [("home", "2026-01-01"), ("purchase", "+1m")]})
    )
    for spec in (PathsSpec(from_node="(unmapped)"), PathsSpec(to_node="(unmapped)")):
        with pytest.raises(SpecError, match=r"No event has an empty touchpoint here"):
            check_anchor(mapped, spec)
    # Only a goal event lacks a touchpoint: with the ends it is '(conversion)', without them
    # '(unmapped)'.
    goal_only = con.create_table(
        "goal_only",
        journeys({"bo": [("home", "2026-01-01"), ("purchase", "+1m", {"touchpoint": None})]}),
    )
    with pytest.raises(SpecError, match=r"No event but a goal event has an empty touchpoint"):
        check_anchor(goal_only, PathsSpec(to_node="(unmapped)"))
    check_anchor(goal_only, PathsSpec(to_node="(unmapped)", include_end=False))
    path = run_top_paths(goal_only, PathsSpec(to_node="(unmapped)", include_end=False)).to_dict()
    assert [r["path"] for r in path] == [["home", "(unmapped)"]]


def test_anchoring_at_the_conversion_without_any_goal_event_is_an_error():
    from journeylens.analytics.paths import check_anchor

    events = ibis.memtable(journeys({"ann": [("Register", "2026-01-01"), ("Pay", "+1h")]}))
    spec = PathsSpec(level="event", to_node="(conversion)", goal=("purchase",))
    with pytest.raises(SpecError, match="No event in the data is a goal \\('purchase'\\)"):
        check_anchor(events, spec)
    check_anchor(events, PathsSpec(level="event", to_node="(conversion)", goal=("Pay",)))


def test_sankey_labels_show_tags_in_names_as_text(con: Any) -> None:
    events = con.create_table(
        "events", journeys({"p": [("<b>home</b>", "2026-01-01"), ("cart<br>", "+1s")]})
    )
    figure = run_transitions(events, PathsSpec(level="event", include_end=False)).figure()
    assert list(figure.data[0].node.label) == ["&lt;b&gt;home&lt;/b&gt;", "cart&lt;br&gt;"]
