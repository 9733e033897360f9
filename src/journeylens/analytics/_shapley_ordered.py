"""Ordered Shapley attribution: credit to a value *at the place it joined the journey*.

A journey's *sequence* is its distinct values in the order they first appear (``b > a > b``
is ``b, a``). Players are position-indexed, as in the ordered Shapley value of Zhao, Mahboobi
and Bagheri (2018): ``(b, 1)`` and ``(a, 2)`` are the players of ``b, a``, and ``(a, 1)`` is a
different player. The game is the one of :mod:`~journeylens.analytics._shapley` over those
players — every journey keeps its players inside ``S`` and converts at that part's observed
rate, a part nobody had taking the best rate among the observed parts inside it (0 if none):

    v(S) = Σ_T n(T) · f(T ∩ S)

so the values of all players add up to all conversions (efficiency), players with the same role
get the same credit (symmetry) and a player that never changes a rate gets 0 (null player). A
value's credit is the sum over its positions.

Positions make the game small. The observed coalitions inside a sequence ``T`` are its observed
*prefixes* (a journey's positions are always 1…m), so ``f`` on a subset ``U`` of ``T`` depends
only on ``L(U)``, the length of the prefix of ``T`` that ``U`` holds whole, and on whether ``U``
is that prefix: ``f(U) = e(L)`` when it is, else ``h(L)``, where ``h(l)`` is the best observed
prefix rate up to length ``l`` (at least 0) and ``e(l)`` the prefix's own rate when observed
(else ``h(l)``). Each player's Shapley value is then ``Σ_l e(l)·A[l, i] + h(l)·B[l, i]`` with
coefficients that depend only on ``m`` (:func:`coefficients`), exact for any length, no sampling.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from math import comb
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeylens.analytics._shapley import SEP, with_players
from journeylens.analytics._touches import journeys_of, kept_weight, summed
from journeylens.analytics.breakdown import segment_columns

DIGIT_BITS = 6  # bits per position in a sequence code: players 1-63 (0 = no player)


def _layout(players: Sequence[Any]) -> tuple[int, int, int]:
    """Bits per position, positions per int64 word, and words for the longest sequence."""
    bits = max(DIGIT_BITS, len(players).bit_length())
    per_word = 63 // bits
    return bits, per_word, max(1, -(-len(players) // per_word))


def build_sequences(touches: ir.Table, players: Sequence[Any]) -> ir.Table:
    """Journeys, conversions and revenue per sequence of distinct values in first-touch order.

    The sequence is coded in ``seq_0``, ``seq_1``, … : position ``r`` (0-based) holds the
    1-based index of its value in ``players`` (sorted) in bits ``[bits·r, bits·(r+1))`` of word
    ``r // per_word``, as laid out by :func:`_layout`. One group-by for first touches, one
    window over those (ranking a journey's values), two group-bys. Where the touches carry a
    breakdown's ``segment`` (one per journey), the sequences are per segment (its first column).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> from journeylens.analytics._touches import build_touches
    >>> table = ibis.memtable(journeys({"ann": [("b", "2026-01-01"), ("a", "+1h"), ("b", "+1h")]}))
    >>> frame = build_sequences(build_touches(table, ["purchase"], 10**7), ["a", "b"]).execute()
    >>> _digits(frame, ["a", "b"]).tolist()  # b (player 2) first, then a (player 1)
    [[2, 1]]
    """
    bits, per_word, words = _layout(players)
    group = ["person", "journey"]
    segments = segment_columns(touches)
    firsts = touches.group_by([*group, *segments, "key"]).aggregate(
        first=touches.pos.min(),
        converted=touches.converted.max(),
        revenue=touches.revenue.max(),
        **kept_weight(touches),
    )
    rank = ibis.row_number().over(ibis.window(group_by=group, order_by="first"))
    placed = with_players(firsts, players)
    ranked = placed.mutate(rank=rank, digit=(placed._index + 1).fill_null(0).cast("int64"))
    shift = {r: 1 << (bits * r) for r in range(per_word)}
    code = ranked.digit * (ranked.rank % per_word).substitute(shift, else_=0).cast("int64")
    parts = {
        f"seq_{w}": ibis.ifelse(ranked.rank // per_word == w, code, 0).sum() for w in range(words)
    }
    journeys = ranked.group_by([*group, *segments]).aggregate(
        converted=ranked.converted.max(),
        revenue=ranked.revenue.max(),
        **parts,
        **kept_weight(ranked),
    )
    return journeys.group_by([*segments, *parts]).aggregate(
        journeys=journeys_of(journeys),
        conversions=summed(journeys.converted, journeys),
        revenue=summed(journeys.revenue, journeys),
    )


@cache
def coefficients(m: int) -> tuple[np.ndarray, np.ndarray]:
    """``A`` and ``B``, each ``(m + 1) × m``: player ``i``'s Shapley value in a sequence of
    length ``m`` is ``Σ_l e(l)·A[l, i] + h(l)·B[l, i]``.

    A subset ``U`` contributes ``f(U)·w(|U| − 1)`` to a player in it and ``−f(U)·w(|U|)`` to a
    player outside, ``w(s) = s!(m − s − 1)!/m!``. ``A[l]`` is the prefix of length ``l`` itself;
    ``B[l]`` sums over the other subsets holding the prefix ``1…l`` whole and not ``l + 1``:
    the prefix plus a non-empty choice among the ``q = m − l − 1`` later players.

    Examples
    --------
    >>> a, b = coefficients(1)
    >>> a.tolist(), b.tolist()
    ([[-1.0], [1.0]], [[0.0], [0.0]])
    """
    a = np.zeros((m + 1, m))
    b = np.zeros((m + 1, m))

    def w(s: int) -> float:
        return 0.0 if s < 0 or s >= m else 1.0 / (m * comb(m - 1, s))

    for length in range(m + 1):
        q = m - length - 1
        for i in range(m):
            a[length, i] = w(length - 1) if i < length else -w(length)
            if q < 1:
                continue
            if i < length:
                b[length, i] = sum(comb(q, r) * w(length + r - 1) for r in range(1, q + 1))
            elif i == length:
                b[length, i] = -sum(comb(q, r) * w(length + r) for r in range(1, q + 1))
            else:
                inside = sum(comb(q - 1, r - 1) * w(length + r - 1) for r in range(1, q + 1))
                outside = sum(comb(q - 1, r) * w(length + r) for r in range(1, q))
                b[length, i] = inside - outside
    return a, b


def ordered_shapley_values(sequences: pd.DataFrame) -> pd.DataFrame:
    """Ordered Shapley conversions and revenue per value and position: columns ``key``,
    ``position`` (1-based), ``conversions``, ``revenue``; the sequences by name (``sequence``:
    values in order, joined by ``\\x1f``).

    Examples
    --------
    >>> rows = pd.DataFrame({"sequence": ["a", "a\\x1fb"], "journeys": [10, 10],
    ...                      "conversions": [2, 6], "revenue": [0.0, 0.0]})
    >>> ordered_shapley_values(rows).round(6)[["key", "position", "conversions"]].values.tolist()
    [['a', 1, 6.0], ['b', 2, 2.0]]
    """
    members = [str(s).split(SEP) for s in sequences["sequence"]]
    players = sorted({m for group in members for m in group})
    place = {p: i + 1 for i, p in enumerate(players)}
    digits = np.zeros((len(members), max(map(len, members), default=0)), dtype=np.int64)
    for row, group in enumerate(members):
        digits[row, : len(group)] = [place[m] for m in group]
    return _values(digits, sequences, players)


def code_values(rows: pd.DataFrame, players: Sequence[str]) -> pd.DataFrame:
    """:func:`ordered_shapley_values` of the rows of :func:`build_sequences` over ``players``,
    read from their codes.

    Examples
    --------
    >>> rows = pd.DataFrame({"seq_0": [1, 1 + (2 << 6)], "journeys": [10, 10],
    ...                      "conversions": [2, 6], "revenue": [0.0, 0.0]})
    >>> code_values(rows, ["a", "b"]).round(6)[["key", "position", "conversions"]].values.tolist()
    [['a', 1, 6.0], ['b', 2, 2.0]]
    """
    return _values(_digits(rows, players), rows, players)


def _digits(rows: pd.DataFrame, players: Sequence[str]) -> np.ndarray:
    """The codes of :func:`build_sequences` as one column per position: each value's 1-based
    index in ``players``, 0 past the sequence's end."""
    bits, per_word, _ = _layout(players)
    words = sorted((c for c in rows.columns if c.startswith("seq_")), key=lambda c: int(c[4:]))
    digits = np.zeros((len(rows), len(words) * per_word), dtype=np.int64)
    for w, name in enumerate(words):
        code = rows[name].to_numpy(np.int64)
        for r in range(per_word):
            digits[:, w * per_word + r] = (code >> (bits * r)) & ((1 << bits) - 1)
    return digits[:, : int((digits != 0).sum(axis=1).max(initial=0))]


def _values(digits: np.ndarray, rows: pd.DataFrame, players: Sequence[str]) -> pd.DataFrame:
    """Every player's credit from sequences given as ``digits`` (see :func:`_digits`), with
    the journeys, conversions and revenue of ``rows``. The sequences are taken in the order of
    their digits, so that sums never depend on the engine's row order."""
    order = np.lexsort(digits.T[::-1]) if digits.shape[1] else np.arange(len(digits))
    digits = digits[order]
    n = rows["journeys"].to_numpy(float)[order]
    counts = np.column_stack([rows["conversions"].to_numpy(float), rows["revenue"].to_numpy(float)])
    lengths = (digits != 0).sum(axis=1)
    e, h = _prefix_rates(digits, lengths, counts[order] / n[:, None])
    longest = digits.shape[1]
    cells = (len(players) + 1) * (longest + 1)  # by digit and position
    credit = np.zeros((2, cells))
    held = np.zeros(cells, dtype=np.int64)
    for m in np.unique(lengths[lengths > 0]):
        m = int(m)
        same = np.flatnonzero(lengths == m)
        a, b = coefficients(m)
        phi = np.einsum("clj,li->cij", e[same, : m + 1], a)
        phi += np.einsum("clj,li->cij", h[same, : m + 1], b)
        phi *= n[same, None, None]
        at = (digits[same, :m] * (longest + 1) + np.arange(1, m + 1)).ravel()
        for j in range(2):
            credit[j] += np.bincount(at, phi[..., j].ravel(), cells)
        held += np.bincount(at, minlength=cells)
    digit, position = np.divmod(np.flatnonzero(held), longest + 1)
    cell = digit * (longest + 1) + position
    return pd.DataFrame(
        {
            "key": [players[d - 1] for d in digit],
            "position": position,
            "conversions": credit[0, cell],
            "revenue": credit[1, cell],
        }
    )


def _prefix_rates(
    digits: np.ndarray, lengths: np.ndarray, rates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``e`` and ``h`` ((sequences, longest + 1, 2)) at every prefix length of each sequence
    (``digits`` in order, see :func:`_values`): the prefix's own rate where it was observed,
    and the best observed prefix rate so far (at least 0).

    In that order the sequences that share their first ``l`` values are consecutive, the
    sequence of exactly those values (if observed) the first of them: a prefix is found by
    where its run of sequences starts, one pass per length over all sequences."""
    count, longest = digits.shape
    own = np.zeros((count, longest + 1, 2))
    seen = np.zeros((count, longest + 1), dtype=bool)
    place = np.arange(count)
    same = place > 0  # as the sequence before, so far: the empty prefix, but for the first
    for length in range(1, longest + 1):
        same[1:] &= digits[1:, length - 1] == digits[:-1, length - 1]
        start = np.maximum.accumulate(np.where(same, 0, place))
        hit = (lengths >= length) & (lengths[start] == length)
        seen[hit, length] = True
        own[hit, length] = rates[start[hit]]
    best = np.maximum.accumulate(own, axis=1)  # unseen prefixes are 0: the best is at least 0
    return np.where(seen[..., None], own, best), best
