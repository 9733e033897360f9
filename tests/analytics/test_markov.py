"""Markov-chain attribution: a chain worked out by hand, and ChannelAttribution as an oracle."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ibis
import numpy as np
import pandas as pd
import pytest

from journeylens.analytics._markov import Chain
from journeylens.analytics.attribution import (
    AttributionSpec,
    run_attribution,
)
from journeylens.testing import converting_events, journey_paths, journeys

# ann: ad > email > buys 10, then ad (no purchase yet); bob: ad (40 days before, outside the
# lookback) then ad > buys 0; cy: email, never buys.
PEOPLE = {
    "ann": [
        ("ad", "2026-01-01"),
        ("email", "+1d"),
        ("purchase", "+1h", {"revenue": 10.0}),
        ("ad", "+1d"),
    ],
    "bob": [("ad", "2026-01-01"), ("ad", "+40d"), ("purchase", "+1d")],
    "cy": [("email", "2026-01-01")],
}


def test_removal_effects_match_the_chain_worked_by_hand():
    result = run_attribution(ibis.memtable(journeys(PEOPLE)), AttributionSpec("markov"))
    # Transitions: start→ad 3, start→email 1; ad→email 1, ad→conv 1, ad→null 1;
    # email→conv 1, email→null 1. P(conv) = 3/4·(1/3 + 1/3·1/2) + 1/4·1/2 = 1/2.
    # Without ad: 1/4·1/2 = 1/8 → RE 3/4. Without email: 3/4·1/3 = 1/4 → RE 1/2.
    effects = result.removal_effects.set_index("touchpoint")
    assert effects["removal_effect"].to_dict() == pytest.approx({"ad": 0.75, "email": 0.5})
    # Value: ad→conv carries 0, email→conv 10. E = 3/4·1/3·1/2·10 + 1/4·1/2·10 = 2.5;
    # without ad 1.25 (RE 1/2), without email 0 (RE 1).
    assert effects["value_removal_effect"].to_dict() == pytest.approx({"ad": 0.5, "email": 1.0})
    pivot = result.pivot("conversions")["markov"]
    assert pivot.to_dict() == pytest.approx({"ad": 2 * 0.75 / 1.25, "email": 2 * 0.5 / 1.25})
    revenue = result.pivot("revenue")["markov"]
    assert revenue.to_dict() == pytest.approx({"ad": 10 / 3, "email": 20 / 3})


def test_transition_matrix_rows_sum_to_one():
    result = run_attribution(ibis.memtable(journeys(PEOPLE)), AttributionSpec("markov"))
    matrix = result.transition_matrix
    assert matrix.groupby("from")["probability"].sum().tolist() == pytest.approx([1, 1, 1])
    start = matrix[matrix["from"] == "(start)"].set_index("to")["count"].to_dict()
    assert start == {"ad": 3, "email": 1}


def test_second_order_states_are_the_last_two_touches():
    # a > b buys, a alone does not, b alone buys. Order 2: start→a 2, start→b 1, a→a>b 1,
    # a→null 1, a>b→conv 1, b→conv 1. P = 2/3·1/2 + 1/3 = 2/3. Without a (states a, a>b):
    # 1/3 → RE 1/2. Without b (states b, a>b): 0 → RE 1.
    people = {
        "p": [("a", "2026-01-01"), ("b", "+1h"), ("purchase", "+1h")],
        "q": [("a", "2026-01-01")],
        "r": [("b", "2026-01-01"), ("purchase", "+1h")],
    }
    result = run_attribution(
        ibis.memtable(journeys(people)), AttributionSpec("markov", markov_order=2)
    )
    states = set(result.transition_matrix["to"])
    assert "a>b" in states
    effects = result.removal_effects.set_index("touchpoint")["removal_effect"].to_dict()
    assert effects == pytest.approx({"a": 0.5, "b": 1.0})


@pytest.mark.parametrize("order", [1, 2])
def test_a_name_with_the_shown_separator_stays_one_value(order):
    # Page titles and breadcrumbs are named "Home > Shop": the chain must not split them.
    people = {
        "p": [("Home > Shop", "2026-01-01"), ("mail", "+1h"), ("purchase", "+1h")],
        "q": [("Home > Shop", "2026-01-01"), ("purchase", "+1h")],
        "r": [("mail", "2026-01-01")],
    }
    plain = {n: [(e.replace("Home > Shop", "shop"), t) for e, t in p] for n, p in people.items()}
    spec = AttributionSpec("markov", markov_order=order)
    named = run_attribution(ibis.memtable(journeys(people)), spec).removal_effects
    renamed = run_attribution(ibis.memtable(journeys(plain)), spec).removal_effects
    got = named.set_index("touchpoint")["removal_effect"].to_dict()
    want = renamed.set_index("touchpoint")["removal_effect"].to_dict()
    assert got == pytest.approx({"Home > Shop" if k == "shop" else k: v for k, v in want.items()})
    assert got["Home > Shop"] > 0


def test_removal_effects_are_never_negative_and_deterministic():
    rng = np.random.default_rng(3)
    counts = pd.DataFrame(
        {
            "from": ["(start)", "(start)", "a", "a", "b", "b", "a"],
            "to": ["a", "b", "b", "(conversion)", "a", "(null)", "(null)"],
            "count": rng.integers(1, 50, 7),
            "revenue": [0, 0, 0, 30.0, 0, 0, 0],
        }
    )
    first = Chain.from_counts(counts).removal_effects()
    assert (first[["removal_effect", "value_removal_effect"]] >= 0).all().all()
    pd.testing.assert_frame_equal(first, Chain.from_counts(counts).removal_effects())


def _removed_one_by_one(chain: Chain) -> dict[str, tuple[float, float]]:
    """Removal effects the long way: the chain solved again without each value's states."""

    def solve(reward: np.ndarray, keep: np.ndarray) -> float:
        q = chain.q[np.ix_(keep, keep)]
        return float(np.linalg.solve(np.eye(int(keep.sum())) - q, reward[keep])[0])

    parts = [set(state.split("\x1f")) for state in chain.states]
    rewards = (chain.to_conversion, chain.to_conversion * chain.value)
    every = np.ones(len(parts), bool)
    base = [solve(r, every) for r in rewards]
    effects = {}
    for key in sorted(set().union(*parts[1:])):
        keep = np.array([i == 0 or key not in p for i, p in enumerate(parts)])
        effects[key] = tuple(1 - solve(r, keep) / b for r, b in zip(rewards, base, strict=True))
    return effects


@pytest.mark.parametrize("order_two", [False, True])
@pytest.mark.parametrize("seed", range(5))
def test_one_inversion_gives_the_removal_effects_of_solving_without_each_value(seed, order_two):
    # Random chains over five values (order 2: states of one or two values, with loops).
    rng = np.random.default_rng(seed)
    values = list("abcde")
    states = values + ([f"{a}\x1f{b}" for a in values for b in values] if order_two else [])
    rows = [("(start)", s, int(rng.integers(1, 9)), 0.0) for s in rng.choice(values, 3)]
    for state in states:
        for target in rng.choice(states, 3):
            rows.append((state, str(target), int(rng.integers(1, 9)), 0.0))
        end = "(conversion)" if rng.random() < 0.6 else "(null)"
        rows.append((state, end, int(rng.integers(1, 9)), float(rng.integers(5, 90))))
    counts = pd.DataFrame(rows, columns=["from", "to", "count", "revenue"])
    counts = counts.groupby(["from", "to"], as_index=False).sum()
    chain = Chain.from_counts(counts)
    reference = _removed_one_by_one(chain)
    effects = chain.removal_effects().set_index("key")
    for key, (effect, value_effect) in reference.items():
        assert effects.loc[key, "removal_effect"] == pytest.approx(np.clip(effect, 0, 1))
        assert effects.loc[key, "value_removal_effect"] == pytest.approx(
            np.clip(value_effect, 0, 1)
        )


# --- ChannelAttribution as an oracle -------------------------------------------------------

PEERS = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", "/work/peers-venv"))
PEER_PYTHON = PEERS / "bin" / "python"

PEER_SCRIPT = """
import json, sys
import pandas as pd
import ChannelAttribution as ca
paths = pd.DataFrame(json.load(sys.stdin))
heuristic = ca.heuristic_models(paths, "path", "conv", var_value="value", flg_pro=False)
markov = ca.markov_model(paths, "path", "conv", var_value="value", var_null="null",
                         out_more=True, flg_pro=False, verbose=False, nsim_start=1e6, seed=1,
                         max_step=200)
print(json.dumps({"heuristic": heuristic.to_dict("records"),
                  "removal": markov["removal_effects"].to_dict("records")}))
"""


@pytest.fixture(scope="module")
def peer():
    if not PEER_PYTHON.exists():
        pytest.skip(f"ChannelAttribution's virtualenv {PEERS} is absent (see docs/attribution.md)")
    events = ibis.memtable(converting_events(seed=7, people=3000))
    spec = AttributionSpec(["first_touch", "last_touch", "linear", "markov"])
    paths = journey_paths(events, spec)
    output = subprocess.run(
        [str(PEER_PYTHON), "-c", PEER_SCRIPT],
        input=json.dumps(paths.to_dict("records")),
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    line = output.stdout.strip().splitlines()[-1]
    return run_attribution(events, spec), json.loads(line)


@pytest.mark.parametrize(
    ("model", "theirs"),
    [("first_touch", "first_touch"), ("last_touch", "last_touch"), ("linear", "linear_touch")],
)
def test_heuristics_agree_with_channelattribution(peer, model, theirs):
    ours, peer_output = peer
    heuristic = pd.DataFrame(peer_output["heuristic"]).set_index("channel_name")
    assert ours.pivot("conversions")[model].to_dict() == pytest.approx(
        heuristic[f"{theirs}_conversions"].to_dict()
    )
    assert ours.pivot("revenue")[model].to_dict() == pytest.approx(
        heuristic[f"{theirs}_value"].to_dict()
    )


def test_markov_removal_effects_agree_with_channelattribution(peer):
    # ChannelAttribution simulates the chain (1e6 paths here); ours is exact, so they agree
    # to within its sampling error. By default it cuts simulated paths at the longest observed
    # path, which lowers removal effects by a few points: max_step=200 lifts that cut. Its
    # transition matrix drops self-loops (a > a); order-1 removal effects do not depend on them.
    ours, peer_output = peer
    removal = pd.DataFrame(peer_output["removal"]).set_index("channel_name")
    effects = ours.removal_effects.set_index("touchpoint")
    for channel in removal.index:
        theirs = removal.loc[channel, "removal_effects_conversion"]
        assert effects.loc[channel, "removal_effect"] == pytest.approx(theirs, rel=0.02)
        theirs = removal.loc[channel, "removal_effects_conversion_value"]
        assert effects.loc[channel, "value_removal_effect"] == pytest.approx(theirs, rel=0.02)
