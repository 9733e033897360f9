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

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeylens.analytics._shapley import SEP, with_players
from journeylens.analytics._touches import journeys_of, kept_weight, summed
from journeylens.analytics.breakdown import segment_columns

DIGIT_BITS = 6  # bits per position in a sequence code: players 1-63 (0 = no player)


def _layout(players: Sequence[str]) -> tuple[int, int, int]:
    """Bits per position, positions per int64 word, and words for the longest sequence."""
    bits = max(DIGIT_BITS, len(players).bit_length())
    per_word = 63 // bits
    return bits, per_word, max(1, -(-len(players) // per_word))


def build_sequences(touches: ir.Table, players: Sequence[str]) -> ir.Table:
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
    >>> sequence_names(frame, ["a", "b"])["sequence"].tolist()
    ['b\\x1fa']
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


def sequence_names(codes: pd.DataFrame, players: Sequence[str]) -> pd.DataFrame:
    """The rows of :func:`build_sequences` with ``sequence`` (values in order, ``\\x1f``-joined),
    ordered by sequence so that sums never depend on the engine's row order.

    Examples
    --------
    >>> rows = pd.DataFrame({"seq_0": [2 + (1 << 6)], "journeys": [3], "conversions": [1],
    ...                      "revenue": [9.0]})
    >>> sequence_names(rows, ["a", "b"])["sequence"].tolist()
    ['b\\x1fa']
    """
    bits, per_word, _ = _layout(players)
    words = sorted((c for c in codes.columns if c.startswith("seq_")), key=lambda c: int(c[4:]))
    names = []
    for row in codes[words].itertuples(index=False):
        members = []
        for word in row:
            for r in range(per_word):
                digit = (int(word) >> (bits * r)) & ((1 << bits) - 1)
                if digit:
                    members.append(players[digit - 1])
        names.append(SEP.join(members))
    frame = codes.drop(columns=words).assign(sequence=names)
    frame = frame[["sequence", "journeys", "conversions", "revenue"]]
    return frame.sort_values("sequence", ignore_index=True)


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


def _prefix_rates(
    sequences: list[list[str]], rates: dict[tuple[str, ...], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """``e`` and ``h`` ((count, m + 1, 2)) of sequences of one length ``m``."""
    m = len(sequences[0])
    e = np.zeros((len(sequences), m + 1, 2))
    h = np.zeros((len(sequences), m + 1, 2))
    for row, members in enumerate(sequences):
        best = np.zeros(2)
        for length in range(1, m + 1):
            own = rates.get(tuple(members[:length]))
            if own is not None:
                best = np.maximum(best, own)
            h[row, length] = best
            e[row, length] = best if own is None else own
    return e, h


def ordered_shapley_values(sequences: pd.DataFrame) -> pd.DataFrame:
    """Ordered Shapley conversions and revenue per value and position: columns ``key``,
    ``position`` (1-based), ``conversions``, ``revenue``.

    Examples
    --------
    >>> rows = pd.DataFrame({"sequence": ["a", "a\\x1fb"], "journeys": [10, 10],
    ...                      "conversions": [2, 6], "revenue": [0.0, 0.0]})
    >>> ordered_shapley_values(rows).round(6)[["key", "position", "conversions"]].values.tolist()
    [['a', 1, 6.0], ['b', 2, 2.0]]
    """
    members = [str(s).split(SEP) for s in sequences["sequence"]]
    n = sequences["journeys"].to_numpy(float)
    counts = np.column_stack(
        [sequences["conversions"].to_numpy(float), sequences["revenue"].to_numpy(float)]
    )
    rate_rows = counts / n[:, None]
    rates = {tuple(m): rate_rows[i] for i, m in enumerate(members)}
    lengths = np.array([len(m) for m in members])
    keys: list[str] = []
    positions: list[int] = []
    credit: list[np.ndarray] = []
    for m in np.unique(lengths):
        rows = np.flatnonzero(lengths == m)
        e, h = _prefix_rates([members[r] for r in rows], rates)
        a, b = coefficients(int(m))
        phi = np.einsum("clj,li->cij", e, a) + np.einsum("clj,li->cij", h, b)
        phi *= n[rows, None, None]
        for c, r in enumerate(rows):
            keys.extend(members[r])
            positions.extend(range(1, int(m) + 1))
            credit.append(phi[c])
    values = np.concatenate(credit) if credit else np.zeros((0, 2))
    frame = pd.DataFrame(
        {"key": keys, "position": positions, "conversions": values[:, 0], "revenue": values[:, 1]}
    )
    return frame.groupby(["key", "position"], as_index=False, sort=True).sum()
