"""Shapley attribution: journeys per coalition from the engine, Shapley values in numpy.

A journey's *coalition* is the set of distinct values it touched. The engine returns, per observed
coalition ``T``: journeys ``n(T)``, conversions ``c(T)`` and revenue. The game is the
counterfactual "only the touchpoints in ``S`` exist": every journey keeps the part of its coalition
inside ``S`` and converts at that part's observed rate,

    v(S) = Σ_T n(T) · rate(T ∩ S),   rate(U) = c(U) / n(U),   rate(∅) = 0,

so converting *and* non-converting journeys count, and ``v(all) = Σ c(T)`` — the values add up to
the total (efficiency). A coalition nobody had is given the best rate of the observed coalitions
inside it (0 when there is none): a journey is assumed to do at least as well as the best part of
it that was seen. Values are negative where adding a touchpoint lowered the observed rate.

``v`` is a sum of one game per observed coalition ``T`` in which only ``T``'s members are players,
so each is solved on its own: exactly, over the ``2^|T|`` subsets, when ``|T| ≤ 15``; above that
by permutation sampling (``samples`` random orders of ``T``, seeded), whose marginal contributions
still add up exactly to ``c(T)``. With 15 values or fewer in all, every value is exact.
"""

from __future__ import annotations

from functools import cache
from math import factorial

import ibis.expr.types as ir
import numpy as np
import pandas as pd

SEP = "\x1f"
EXACT_MAX = 15


def build_coalitions(touches: ir.Table) -> ir.Table:
    """Journeys, conversions and revenue per coalition (distinct values, sorted, ``\\x1f``-joined).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> from journeylens.analytics._touches import build_touches
    >>> table = ibis.memtable(journeys({"ann": [("b", "2026-01-01"), ("a", "+1h"), ("b", "+1h")]}))
    >>> build_coalitions(build_touches(table, ["purchase"], 10**7)).execute()["coalition"].tolist()
    ['a\\x1fb']
    """
    journeys = touches.group_by(["person_id", "journey"]).aggregate(
        members=touches.key.collect(distinct=True),
        converted=touches.converted.max(),
        revenue=touches.revenue.max(),
    )
    journeys = journeys.mutate(coalition=journeys.members.sort().join(SEP))
    return journeys.group_by("coalition").aggregate(
        journeys=journeys.count(),
        conversions=journeys.converted.sum(),
        revenue=journeys.revenue.sum(),
    )


class _Game:
    """The observed coalitions as bit masks over the players, with their rates."""

    def __init__(self, coalitions: pd.DataFrame) -> None:
        members = [str(c).split(SEP) for c in coalitions["coalition"]]
        self.players = sorted({m for group in members for m in group})
        bit = {p: 1 << i for i, p in enumerate(self.players)}
        dtype = np.int64 if len(self.players) < 63 else object
        self.masks = np.array([sum(bit[m] for m in group) for group in members], dtype=dtype)
        self.journeys = coalitions["journeys"].to_numpy(float)
        counts = np.column_stack(
            [coalitions["conversions"].to_numpy(float), coalitions["revenue"].to_numpy(float)]
        )
        self.rates = counts / self.journeys[:, None]

    def inside(self, mask: int) -> np.ndarray:
        return (self.masks & ~mask) == 0

    def bits(self, mask: int) -> list[int]:
        return [i for i in range(len(self.players)) if mask >> i & 1]


def _local_index(masks: np.ndarray, bits: list[int]) -> np.ndarray:
    index = np.zeros(len(masks), dtype=np.int64)
    for local, global_bit in enumerate(bits):
        index |= ((masks >> global_bit) & 1).astype(np.int64) << local
    return index


@cache
def _lattice(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Subset sizes of the ``2^k`` subsets, and the Shapley weight of each size."""
    size = np.zeros(1 << k, dtype=np.int64)
    for b in range(k):
        size.reshape(-1, 2, 1 << b)[:, 1] += 1
    weight = np.array([factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)])
    return size, weight


def _exact(game: _Game, row: int) -> np.ndarray:
    bits = game.bits(int(game.masks[row]))
    k = len(bits)
    inside = game.inside(int(game.masks[row]))
    local = _local_index(game.masks[inside], bits)
    rate = np.zeros((1 << k, 2))
    seen = np.zeros(1 << k, bool)
    rate[local], seen[local] = game.rates[inside], True
    f = _subset_best(rate, seen)
    size, weight = _lattice(k)
    phi = np.zeros((k, 2))
    for b in range(k):
        pair = f.reshape(-1, 2, 1 << b, 2)
        without = size.reshape(-1, 2, 1 << b)[:, 0]
        phi[b] = (weight[without][..., None] * (pair[:, 1] - pair[:, 0])).sum(axis=(0, 1))
    return phi * game.journeys[row]


def _subset_best(rate: np.ndarray, seen: np.ndarray) -> np.ndarray:
    best = rate.copy()
    for b in range(len(seen).bit_length() - 1):  # best[U] = max over observed subsets of U
        view = best.reshape(-1, 2, 1 << b, 2)
        view[:, 1] = np.maximum(view[:, 1], view[:, 0])
    return np.where(seen[:, None], rate, best)


def _exact_all(game: _Game) -> np.ndarray:
    """Every value at once on the lattice of all players (few players, many coalitions)."""
    k = len(game.players)
    rate = np.zeros((1 << k, 2))
    seen = np.zeros(1 << k, bool)
    rate[game.masks.astype(np.int64)], seen[game.masks.astype(np.int64)] = game.rates, True
    f = _subset_best(rate, seen)
    subsets = np.arange(1 << k)
    v = np.zeros((1 << k, 2))
    chunk = max(1, (1 << 22) >> k)
    for lo in range(0, len(game.masks), chunk):
        masks = game.masks[lo : lo + chunk].astype(np.int64)
        n = game.journeys[lo : lo + chunk]
        v += np.einsum("t,tsj->sj", n, f[masks[:, None] & subsets[None, :]])
    size, weight = _lattice(k)
    phi = np.zeros((k, 2))
    for b in range(k):
        pair = v.reshape(-1, 2, 1 << b, 2)
        without = size.reshape(-1, 2, 1 << b)[:, 0]
        phi[b] = (weight[without][..., None] * (pair[:, 1] - pair[:, 0])).sum(axis=(0, 1))
    return phi


def _sampled(game: _Game, row: int, samples: int, rng: np.random.Generator) -> np.ndarray:
    mask = int(game.masks[row])
    bits = game.bits(mask)
    k = len(bits)
    inside = game.inside(mask)
    sub_masks, sub_rates = game.masks[inside], game.rates[inside]
    phi = np.zeros((k, 2))
    for _ in range(samples):
        order = rng.permutation(k)
        prefix, previous = 0, np.zeros(2)
        for local in order:
            prefix |= 1 << bits[local]
            held = (sub_masks & ~prefix) == 0
            current = sub_rates[held].max(axis=0) if held.any() else np.zeros(2)
            exact = held & (sub_masks == prefix)
            if exact.any():
                current = sub_rates[exact][0]
            phi[local] += current - previous
            previous = current
    return phi / samples * game.journeys[row]


def shapley_values(coalitions: pd.DataFrame, samples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Shapley conversions and revenue per value: columns ``key``, ``conversions``, ``revenue``.

    Examples
    --------
    >>> rows = pd.DataFrame({"coalition": ["a", "b", "a\\x1fb"], "journeys": [10, 10, 10],
    ...                      "conversions": [2, 2, 6], "revenue": [0.0, 0.0, 0.0]})
    >>> shapley_values(rows)["conversions"].tolist()
    [5.0, 5.0]
    """
    game = _Game(coalitions)
    if len(game.players) <= EXACT_MAX:
        total = _exact_all(game)
        return pd.DataFrame(
            {"key": game.players, "conversions": total[:, 0], "revenue": total[:, 1]}
        )
    total = np.zeros((len(game.players), 2))
    rng = np.random.default_rng(seed)
    for row in range(len(game.masks)):
        bits = game.bits(int(game.masks[row]))
        exact = len(bits) <= EXACT_MAX
        phi = _exact(game, row) if exact else _sampled(game, row, samples, rng)
        total[bits] += phi
    return pd.DataFrame({"key": game.players, "conversions": total[:, 0], "revenue": total[:, 1]})
