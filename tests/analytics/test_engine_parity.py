"""Every analysis gives the same result on DuckDB and on Spark.

One data set — a small demo workspace plus hand-built journeys with the awkward cases (events at
the same instant, JSON properties, a refund between steps, a second attempt) — is loaded once
into DuckDB, enriched there, and copied as it is to a Spark workspace, so what is compared is the
analyses alone. Each case runs on both engines; counts must match exactly and floats to 1e-9.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from journeylens.analytics import conversion_drivers, funnel_trends, funnels, paths
from journeylens.analytics.attribution import RULE_MODELS as RULES
from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.analytics.conformance import run_conformance
from journeylens.analytics.friction import count_segments, run_friction
from journeylens.analytics.funnels import FunnelSpec
from journeylens.analytics.incrementality import IncrementalitySpec, run_incrementality
from journeylens.analytics.paths import PathsSpec
from journeylens.testing import journeys
from journeylens.workspace import Workspace, init_workspace

pytestmark = pytest.mark.spark

TEMPLATE = "four_stage_delight"

# Demo event names, so these people mix with the generated ones.
EDGES = {
    # Landing and pricing at the same instant (ties broken by event id), a purchase with a
    # JSON property, then a second attempt.
    "tia": [
        ("landing_page_view", "2026-05-03 10:00", {"channel": "web", "plan": "pro"}),
        ("pricing_view", "+0s", {"channel": "web"}),
        # A number written as text, as a CSV column arrives in properties.
        # PostHog's $-prefixed keys, and a key with a dash inside an object.
        (
            "purchase",
            "+2h",
            {
                "revenue": 80.0,
                "plan": "pro",
                "items": "3",
                "cart": {"size": 3, "gift-wrap": "yes"},
                "$browser": "Firefox",
                "vip": True,
            },
        ),
        ("landing_page_view", "+3d", {"channel": "email"}),
        ("pricing_view", "+1d"),
    ],
    # A payment error between pricing and purchase (the exclusion), then a purchase.
    "rex": [
        ("landing_page_view", "2026-05-04 08:00", {"channel": "search", "plan": "free"}),
        ("pricing_view", "+20m"),
        ("payment_error", "+5m"),
        (
            "purchase",
            "+1h",
            {
                "revenue": 30.5,
                "items": 1,
                "cart": {"size": 1, "kind": "gift"},
                "$browser": "Safari",
                "vip": False,
            },
        ),
    ],
    # Forty attempts: counting attempts walks them in log2 rounds, each of which read the last
    # round's pointers twice, so Spark's plan doubled every round (42 s at 63 attempts).
    "ivo": [
        step
        for k in range(40)
        for step in (
            ("landing_page_view", "2026-06-01 09:00" if k == 0 else "+2d"),
            ("pricing_view", "+1h"),
        )
    ],
    # Steps in reverse order, exactly seven days apart.
    "uma": [
        ("purchase", "2026-05-05 09:00", {"revenue": 12.0}),
        ("pricing_view", "+7d"),
        ("landing_page_view", "+7d"),
    ],
}


def _load(directory: Path) -> Workspace:
    ws = init_workspace(directory / "duckdb", TEMPLATE)
    ws.load_demo(events=3000, seed=7)  # into the empty workspace; the edge cases join it
    ws.store.write("events", journeys(EDGES))
    ws.rebuild()
    return ws


def _copy(source: Workspace, directory: Path) -> Workspace:
    ws = init_workspace(directory / "spark", TEMPLATE, engine="spark")
    assert source.config.report_currency is not None  # the demo reports euros: so does the copy
    rates = dict(source.config.currency_rates)
    ws.config = ws.config.with_currency(source.config.report_currency, rates)
    for table in ("events", "feedback", "touchpoints"):
        ws.store.write(table, source.store.to_arrow(source.store.table(table)), overwrite=True)
    return ws


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Workspace]]:
    directory = tmp_path_factory.mktemp("parity")
    duck = _load(directory)
    spark = _copy(duck, directory)
    yield {"duckdb": duck, "spark": spark}
    spark.close()
    duck.close()


def assert_same(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns, rows and order; integers exact, floats to 1e-9."""
    assert list(left.columns) == list(right.columns)
    left, right = left.reset_index(drop=True), right.reset_index(drop=True)
    for name in left.columns:
        kinds = {left[name].dtype.kind, right[name].dtype.kind}
        assert len(kinds) == 1 or kinds <= {"i", "u"}, (name, left[name].dtype, right[name].dtype)
    pd.testing.assert_frame_equal(left, right, check_dtype=False, rtol=1e-9, atol=1e-9)


Case = Callable[[Workspace], list[pd.DataFrame]]


def funnel(*steps: str, **options: Any) -> Case:
    def run(ws: Workspace) -> list[pd.DataFrame]:
        result = funnels.run_funnel(ws.events, FunnelSpec(steps=steps, **options))
        return [result.to_frame(), result.breakdown_frame(), result.significance()]

    return run


STEPS = ("landing_page_view", "pricing_view", "purchase")

CASES: dict[str, Case] = {
    "funnel_ordered": funnel(*STEPS, within="7d"),
    "funnel_entry_best": funnel(*STEPS, within="1d", entry="best"),
    "funnel_restart_best": funnel(
        *STEPS, exclude=["payment_error"], exclusion="restart", entry="best"
    ),
    "funnel_strict": funnel(*STEPS, order="strict"),
    "funnel_any": funnel(*STEPS, order="any", within="7d"),
    "funnel_exclusion_drop": funnel(*STEPS, exclude=["payment_error"]),
    "funnel_exclusion_restart": funnel(*STEPS, exclude=["payment_error"], exclusion="restart"),
    "funnel_attempts": funnel(*STEPS, count="attempts", within="1d"),
    "funnel_attempts_restart": funnel(
        *STEPS, count="attempts", exclude=["payment_error"], exclusion="restart"
    ),
    "funnel_sessions": funnel("landing_page_view", "pricing_view", count="sessions"),
    "funnel_step_windows": funnel(*STEPS, step_within=[None, "1h", "1d"]),
    "funnel_property_step": funnel("landing_page_view", "purchase[revenue>50]", "[plan=pro]"),
    "funnel_property_number_as_text": funnel("landing_page_view", "purchase[items>=2]"),
    "funnel_nested_property": funnel("landing_page_view", "purchase[cart.size>=2]"),
    "funnel_by_nested_property": funnel(*STEPS, by="cart.kind", by_step="last"),
    "funnel_dollar_and_dash_keys": funnel("landing_page_view", "purchase[cart.gift-wrap=yes]"),
    "funnel_by_dollar_key": funnel(*STEPS, by="$browser", by_step="last"),
    # JSON true/false read as the words: a filter compares them, a breakdown shows them.
    "funnel_boolean_property": funnel("landing_page_view", "purchase[vip=true]"),
    "funnel_by_boolean_property": funnel(*STEPS, by="vip", by_step="last"),
    "funnel_glob_filter": funnel("landing_page_view[channel~s*]", "purchase[$browser~*ri]"),
    "funnel_glob_names": funnel("landing_*", "*_view", "purch?se", exclude=["*_error"]),
    "funnel_by_channel": funnel(*STEPS, by="channel", top=3),
    "funnel_by_last_step": funnel(*STEPS, by="device", by_step="last"),
    "funnel_by_property": funnel(*STEPS, by="plan", by_step=2),
}

ATTRIBUTION = [
    AttributionSpec("all"),
    AttributionSpec(list(RULES), level="channel", value="revenue", half_life="2d"),
    AttributionSpec(["markov", "shapley"], level="campaign", markov_order=2),
    AttributionSpec("markov", markov_order=3, lookback="7d"),
    AttributionSpec(["shapley_ordered", "last_touch"], level="channel"),
]


def _trend(every: str) -> Case:
    spec = FunnelSpec(steps=STEPS, within="7d")
    return lambda ws: [funnel_trends.run_funnel_trend(ws.events, spec, every).to_frame()]


def _drivers(ws: Workspace) -> list[pd.DataFrame]:
    spec = FunnelSpec(steps=STEPS, within="7d")
    return [conversion_drivers.run_conversion_drivers(ws.events, spec, 3, min_count=2).to_frame()]


def _dropped(ws: Workspace) -> list[pd.DataFrame]:
    spec = FunnelSpec(steps=STEPS, within="3d", by="channel")
    people = funnels.dropped_people(ws.events, spec, 2)
    return [ws.store.execute(people.order_by(list(people.columns)))]


def _paths(spec: PathsSpec) -> Case:
    def run(ws: Workspace) -> list[pd.DataFrame]:
        if spec.from_node is None and spec.to_node is None:
            result = paths.run_transitions(ws.events, spec)
            flows = result.flows.sort_values(["step", "from_", "to"], ignore_index=True)
            joined = paths.run_transitions(ws.events, spec, whole=True).to_frame()
            return [result.to_frame(), flows, joined]
        return [paths.run_top_paths(ws.events, spec).to_frame()]

    return run


def _friction(ws: Workspace) -> list[pd.DataFrame]:
    """The unit counts behind the ranking (every segment, stratum and signal), then the ranking
    with no minimum size, so that small segments are compared too."""
    spec = ws.friction_spec(by=["channel", "device", "plan"], min_count=1, min_affected=1)
    ranked = run_friction(ws.events, spec, ws.feedback)
    end = ranked.overview["end"]
    counts = count_segments(ws.events, ws.feedback, spec, end, everyone=True, strata=True)
    order = ["touchpoint", "dimension", "value", "stratum"]
    # The answers a --where keeps, and those of each period of a change (by the event each
    # answers: a join on an inequality).
    mobile = ws.friction(where="device=mobile", by=["channel"], include_all=True, min_count=1)
    middle = (ranked.overview["start"] + (end - ranked.overview["start"]) / 2).floor("D")
    at = middle.to_pydatetime()
    change = ws.friction_change(at, by=["device"], within="1d", min_count=1).to_frame()
    change = change.assign(segment=change["segment"].astype(str))
    change = change.sort_values(["touchpoint", "segment", "signal"], ignore_index=True)
    frames = [counts.sort_values(order, ignore_index=True), ranked.to_frame(), mobile.to_frame()]
    return [*frames, change]


def _conformance(ws: Workspace) -> list[pd.DataFrame]:
    result = run_conformance(ws.events, ws.config.stage_keys)
    return [result.to_frame(), pd.DataFrame([result.summary])]


def _by_channel(ws: Workspace) -> list[pd.DataFrame]:
    """The stage flow and conformance broken down by each person's first staged channel."""
    flow = ws.stages(by="channel", top=4)
    fits = run_conformance(ws.events, ws.config.stage_keys, by="channel", top=4)
    assert fits.breakdown is not None
    return [flow.to_frame(), flow.touchpoints, fits.breakdown]


def _attribution(spec: AttributionSpec) -> Case:
    def run(ws: Workspace) -> list[pd.DataFrame]:
        result = run_attribution(ws.events, spec, ws.touchpoints)
        frames = [result.to_frame(), pd.DataFrame([result.totals])]
        extra = (result.transition_matrix, result.removal_effects, result.shapley_positions)
        frames += [f for f in extra if f is not None]
        return frames

    return run


CASES |= {
    "funnel_trend_day": _trend("day"),
    "funnel_trend_week": _trend("week"),
    "funnel_drivers": _drivers,
    "funnel_dropped_at": _dropped,
    "transitions": _paths(PathsSpec()),
    "transitions_cleaned": _paths(
        PathsSpec(level="stage", collapse_repeats=True, min_share=0.05, include_end=False)
    ),
    "transitions_top_nodes": _paths(PathsSpec(top_nodes=6, max_depth=4)),
    "transitions_filtered": lambda ws: [
        paths.run_transitions(
            ws.events, PathsSpec(from_node="pricing_page"), whole=True
        ).to_frame(),
        paths.run_transitions(ws.events, PathsSpec(to_node="(end)", level="channel")).to_frame(),
    ],
    "top_paths_from": _paths(PathsSpec(from_node="pricing_page", max_depth=4)),
    # checkout, 2% of events, is grouped away by either option but stays itself as the anchor.
    "paths_anchor_grouped_away": lambda ws: [
        paths.run_top_paths(
            ws.events, PathsSpec(from_node="checkout", top_nodes=6, max_depth=4)
        ).to_frame(),
        paths.run_transitions(
            ws.events, PathsSpec(to_node="checkout", min_share=0.05), whole=True
        ).to_frame(),
    ],
    # Deeper than any journey: the node columns past the longest are nulls.
    "top_paths_deep": _paths(PathsSpec(to_node="(conversion)", max_depth=50, top=5)),
    "top_paths_to_conversion": _paths(PathsSpec(to_node="(conversion)", max_depth=4)),
    "top_paths_to_end": _paths(PathsSpec(to_node="(end)", level="channel", top=50)),
    "conformance": _conformance,
    "stages_and_conformance_by_channel": _by_channel,
    "friction": _friction,
    "dropoff": lambda ws: [ws.dropoff(*STEPS, within="7d").to_frame()],
    **{
        f"attribution_{i}_{s.level}_{'_'.join(s.models) if len(s.models) < 3 else 'models'}": (
            _attribution(s)
        )
        for i, s in enumerate(ATTRIBUTION)
    },
    "incrementality": lambda ws: [
        run_incrementality(ws.events, IncrementalitySpec(bootstrap=200, seed=3)).to_frame()
    ],
    "roi": lambda ws: [ws.attribution(roi=True, bootstrap=200).to_frame()],
    "cut_list": lambda ws: [ws.attribution(cut_list=True, bootstrap=200).to_frame()],
}


@pytest.mark.parametrize("case", list(CASES))
def test_analysis_agrees_across_engines(workspaces: dict[str, Workspace], case: str) -> None:
    duck, spark = (CASES[case](workspaces[e]) for e in ("duckdb", "spark"))
    assert len(duck) == len(spark)
    for left, right in zip(duck, spark, strict=True):
        assert_same(left, right)
    assert any(len(frame) for frame in duck)  # the case has something to compare
