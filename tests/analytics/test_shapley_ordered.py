"""Ordered Shapley: position-indexed players, worked by hand, the axioms and a brute force."""

from __future__ import annotations

import itertools
from math import factorial

import ibis
import numpy as np
import pandas as pd
import pytest

from journeylens.analytics import _shapley_ordered
from journeylens.analytics._shapley import SEP, shapley_values
from journeylens.analytics._shapley_ordered import coefficients, ordered_shapley_values
from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.testing import journeys

Player = tuple[str, int]


def sequences(rows: list[tuple[str, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(SEP.join(s.split(">")), n, k, v) for s, n, k, v in rows],
        columns=["sequence", "journeys", "conversions", "revenue"],
    )


def credit(frame: pd.DataFrame, measure: str = "conversions") -> dict[Player, float]:
    values = ordered_shapley_values(frame)
    return {(k, p): c for k, p, c in values[["key", "position", measure]].itertuples(index=False)}


def brute_force(frame: pd.DataFrame) -> dict[Player, float]:
    """Shapley over every subset of the position-indexed players, with the documented game:
    v(S) = Σ_T n(T)·f(T ∩ S), f the observed rate, else the best observed part inside, else 0."""
    rate: dict[frozenset[Player], float] = {}
    count: dict[frozenset[Player], int] = {}
    for s, n, k in frame[["sequence", "journeys", "conversions"]].itertuples(index=False):
        players = frozenset((v, i + 1) for i, v in enumerate(s.split(SEP)))
        rate[players], count[players] = k / n, n

    def f(group: frozenset[Player]) -> float:
        if group in rate:
            return rate[group]
        return max([r for s, r in rate.items() if s <= group] + [0.0])

    def v(members: frozenset[Player]) -> float:
        return sum(count[t] * f(t & members) for t in rate)

    players = sorted(set().union(*rate))
    size = len(players)
    values = {}
    for player in players:
        others = [p for p in players if p != player]
        values[player] = sum(
            factorial(k) * factorial(size - k - 1) / factorial(size) * (v(s | {player}) - v(s))
            for k in range(size)
            for s in map(frozenset, itertools.combinations(others, k))
        )
    return values


def test_later_touch_gets_what_it_adds_after_the_earlier_one():
    # a alone: 10 journeys, 2 conversions (rate 0.2); a > b: 10 journeys, 6 conversions (0.6).
    # In a > b, (b, 2) alone holds no observed part (rate 0): (a, 1) gets ½(0.2 + 0.6) = 0.4,
    # (b, 2) gets ½(0.4 + 0) = 0.2, times 10. (a, 1) keeps a's own 2.
    frame = sequences([("a", 10, 2, 0.0), ("a>b", 10, 6, 0.0)])
    assert credit(frame) == pytest.approx({("a", 1): 6.0, ("b", 2): 2.0})


def test_the_same_touchpoints_in_another_order_are_other_players():
    # b > a is not a > b: (a, 1) alone is not inside b > a, so b > a's conversions are shared
    # only between (b, 1) and (a, 2), neither of which was seen alone: half each.
    frame = sequences([("a", 10, 2, 0.0), ("a>b", 10, 6, 0.0), ("b>a", 4, 2, 0.0)])
    assert credit(frame) == pytest.approx(
        {("a", 1): 6.0, ("b", 2): 2.0, ("b", 1): 1.0, ("a", 2): 1.0}
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_efficiency_credit_adds_up_to_all_conversions_and_revenue(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for length in (1, 2, 3, 4, 5):
        for order in itertools.permutations("abcde", length):
            if rng.random() < 0.1:
                n = int(rng.integers(1, 40))
                rows.append((">".join(order), n, int(rng.integers(0, n + 1)), rng.random() * 50))
    frame = sequences(rows)
    values = ordered_shapley_values(frame)
    assert values["conversions"].sum() == pytest.approx(frame["conversions"].sum())
    assert values["revenue"].sum() == pytest.approx(frame["revenue"].sum())


def test_symmetric_players_get_the_same_credit():
    # Swapping (a, 1) and (b, 1) leaves every journey's rate unchanged.
    frame = sequences(
        [("a", 10, 4, 0.0), ("b", 10, 4, 0.0), ("a>c", 5, 3, 0.0), ("b>c", 5, 3, 0.0)]
    )
    values = credit(frame)
    assert values[("a", 1)] == pytest.approx(values[("b", 1)])
    assert values[("c", 2)] == pytest.approx(2 * 5 * (0.6 - 0.4) / 2)


def test_null_player_gets_nothing():
    # (z, 2) only follows a, and a converts at the same rate with or without it.
    frame = sequences([("a", 10, 5, 0.0), ("a>z", 20, 10, 0.0), ("b", 4, 1, 0.0)])
    assert credit(frame)[("z", 2)] == pytest.approx(0.0)


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_brute_force_on_random_games(seed):
    rng = np.random.default_rng(seed)
    chosen: set[tuple[str, ...]] = set()
    while len(chosen) < 4:
        chosen.add(tuple(rng.permutation(list("abc"))[: int(rng.integers(1, 4))]))
    rows = []
    for order in sorted(chosen):
        n = int(rng.integers(1, 20))
        rows.append((">".join(order), n, int(rng.integers(0, n + 1)), 0.0))
    frame = sequences(rows)
    assert credit(frame) == pytest.approx(brute_force(frame))


@pytest.mark.parametrize("seed", range(3))
def test_is_the_unordered_solver_on_position_indexed_names(seed):
    rng = np.random.default_rng(seed)
    rows = []
    for length in (1, 2, 3):
        for order in itertools.permutations("abcd", length):
            if rng.random() < 0.3:
                n = int(rng.integers(1, 30))
                rows.append((">".join(order), n, int(rng.integers(0, n + 1)), 0.0))
    frame = sequences(rows)
    renamed = frame.assign(
        coalition=[
            SEP.join(sorted(f"{v}@{i + 1}" for i, v in enumerate(s.split(SEP))))
            for s in frame["sequence"]
        ]
    )
    unordered = shapley_values(renamed.drop(columns="sequence")).set_index("key")["conversions"]
    assert {f"{k}@{p}": c for (k, p), c in credit(frame).items()} == pytest.approx(
        unordered.to_dict()
    )


@pytest.mark.parametrize("m", range(1, 9))
def test_coefficients_agree_with_the_whole_lattice(m):
    # f(U) = e[L] when U is the prefix of length L it holds whole, else h[L]; Shapley by the
    # subset formula over all 2^m subsets.
    rng = np.random.default_rng(m)
    e, h = rng.random(m + 1), rng.random(m + 1)
    e[0] = h[0] = 0.0
    phi = np.zeros(m)
    for u in range(1 << m):
        held = 0
        while held < m and u >> held & 1:
            held += 1
        value = e[held] if u == (1 << held) - 1 else h[held]
        size = bin(u).count("1")
        for i in range(m):
            if u >> i & 1:
                phi[i] += value * factorial(size - 1) * factorial(m - size) / factorial(m)
            else:
                phi[i] -= value * factorial(size) * factorial(m - size - 1) / factorial(m)
    a, b = coefficients(m)
    assert e @ a + h @ b == pytest.approx(phi)
    assert (e @ a + h @ b).sum() == pytest.approx(e[m])  # efficiency: f(T) − f(∅)


def test_ordered_shapley_through_the_engine():
    # ann: ad > email > ad buys; bob: email > ad, no purchase; cy: ad buys. Sequences: ad > email
    # (rate 1), email > ad (0), ad (1). In ad > email, (ad, 1) alone converts at 1 already:
    # (ad, 1) gets 1, (email, 2) 0. The unordered game pools ann and bob (rate ½) and gives
    # email −0.5; the ordered one tells them apart.
    people = {
        "ann": [("ad", "2026-01-01"), ("email", "+1h"), ("ad", "+1h"), ("purchase", "+1h")],
        "bob": [("email", "2026-01-01"), ("ad", "+1h")],
        "cy": [("ad", "2026-01-01"), ("purchase", "+1h", {"revenue": 8.0})],
    }
    result = run_attribution(
        ibis.memtable(journeys(people)), AttributionSpec(["shapley", "shapley_ordered"])
    )
    pivot = result.pivot()
    assert pivot["shapley_ordered"].to_dict() == pytest.approx({"ad": 2.0, "email": 0.0})
    assert pivot["shapley"].to_dict() == pytest.approx({"ad": 2.5, "email": -0.5})
    positions = result.shapley_positions.set_index(["touchpoint", "position"])
    assert positions["conversions"].to_dict() == pytest.approx(
        {("ad", 1): 2.0, ("ad", 2): 0.0, ("email", 1): 0.0, ("email", 2): 0.0}
    )
    assert positions["revenue"].sum() == pytest.approx(8.0)


def test_all_leaves_ordered_shapley_out_and_names_it_in():
    assert "shapley_ordered" not in AttributionSpec("all").models
    assert AttributionSpec("shapley_ordered").models == ("shapley_ordered",)


def test_no_touches_give_no_credit_rather_than_an_error():
    # Events, none of them a touch (no touchpoint): there are no players to order.
    events = ibis.memtable(journeys({"ann": [("visit", "2026-01-01", {"touchpoint": None})]}))
    result = run_attribution(events, AttributionSpec(["shapley", "shapley_ordered"]))
    assert result.to_dict() == []
    assert result.totals["conversions"] == 0


def test_codes_give_what_names_give_across_words_and_row_orders():
    # 70 values: 7 bits a position, 9 positions a word, so sequences of up to 12 take two
    # words; prefixes shared at every length, rows shuffled as an engine may return them.
    rng = np.random.default_rng(4)
    players = [f"v{i:02d}" for i in range(70)]
    bits, per_word, _ = _shapley_ordered._layout(players)
    chosen: set[tuple[int, ...]] = set()
    for _ in range(80):
        order = tuple(int(i) for i in rng.permutation(70)[: int(rng.integers(1, 13))])
        chosen.update(order[:cut] for cut in range(1, len(order) + 1) if rng.random() < 0.5)
    rows = []
    for order in sorted(chosen):
        words = [0, 0]
        for r, index in enumerate(order):
            words[r // per_word] += (index + 1) << (bits * (r % per_word))
        n = int(rng.integers(1, 40))
        rows.append((*words, SEP.join(players[i] for i in order), n, int(rng.integers(0, n + 1))))
    frame = pd.DataFrame(rows, columns=["seq_0", "seq_1", "sequence", "journeys", "conversions"])
    frame["revenue"] = rng.random(len(frame)) * 100
    by_name = ordered_shapley_values(frame.drop(columns=["seq_0", "seq_1"]))
    shuffled = frame.drop(columns="sequence").sample(frac=1.0, random_state=2, ignore_index=True)
    by_code = _shapley_ordered.code_values(shuffled, players)
    assert (
        by_code[["key", "position"]].values.tolist() == by_name[["key", "position"]].values.tolist()
    )
    for column in ("conversions", "revenue"):
        assert by_code[column].to_numpy() == pytest.approx(by_name[column].to_numpy(), rel=1e-12)
    assert by_code["conversions"].sum() == pytest.approx(frame["conversions"].sum())
