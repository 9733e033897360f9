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
still add up exactly to ``c(T)``. The exact games are solved one of two ways, which give the same
values: coalitions of one size side by side (their lattices at once, the values by one matrix
product), or, where coalitions are large and share most of their subsets, all at once on the
subsets they share (see :func:`_shared_games`). With 15 values or fewer in all, every value is
exact: ``v`` is computed for all ``2^n`` coalitions at once, in ``n · 2^n`` steps (see
:func:`_game`). Coalitions are taken in the order of their bit masks (bit ``i``: the
``i``-th value in name order) and each sampled one draws from its own stream, seeded by the
seed and its mask, so neither the sums nor the sampling depend on the engine's row order.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cache, cached_property
from math import factorial
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import pyarrow as pa

from journeylens.analytics._touches import journeys_of, kept_weight, summed, weight_of
from journeylens.analytics.breakdown import segment_columns
from journeylens.store.portable import bit_or

SEP = "\x1f"
EXACT_MAX = 15
WORD = 62  # players per int64 mask column
LATTICE_MAX = 22  # sampled coalitions up to this size read their rates off the 2^k lattice
LOOKUP_CELLS = 1 << 21  # subsets × observed coalitions tested at once above that size
# Past 62 players a coalition finds the observed coalitions inside it by listing its own subsets
# (up to 2^12 look-ups) where it has this many members or fewer, instead of testing every
# observed coalition with masks too wide for int64.
LISTED_MAX = 12
LATTICE_CELLS = 1 << 21  # subsets held at once when coalitions are solved side by side
SHORT_BITS = 4  # a lattice's lowest bits, turned to lead where its inner runs are short
# A sampled coalition's lowest bits, turned to lead SHORT_BITS at a time (see
# ``_lattice_places``). On 16 members (uint16 places), a pass over one of the 8 lowest bits
# takes 0.02-0.35 ms, over a higher one 0.005-0.02 ms, a turn 0.04 ms; the demo's 1,176
# sampled coalitions: 0.52 s with 4 bits turned, 0.43 s with 8 or 12.
TURNED_BITS = 8
BLOCK_CELLS = 1 << 24  # (coalition, observed coalition) pairs tested at once
LOOKUP_COST = 5  # a hash look-up of a subset, in tests of a pair of masks
HASH_SEED = 20260101  # the players' keys past 62 of them (see ``_player_keys``)
# The exact games are solved on their shared subsets (``_shared_games``) where their lattices
# hold more than this many cells per coalition and player: a coalition's lattice doubles with
# each member, its share of the shared subsets grows far slower.
SHARED_CELLS = 10
# At most this many cells for the shared subsets (each holds a few arrays of them, and a pair
# per member): beyond, the coalitions share too little, and their lattices, solved in bounded
# chunks, go on.
SHARED_MAX = 1 << 23
# The shared subsets' blocks (see ``_Blocks``): at most LOW_MAX players laid out densely in
# each, their cells at most SPREAD per cell of the coalitions' lattices by a count that shares
# nothing (see ``_low_players``), and at least LOW_MIN: blocks of 2 to 8 cells cost more than
# each subset alone (800,500 coalitions of up to 8 of 36: 7.0 CPU-s in blocks of 4, 4.5 alone).
LOW_MAX = 12
LOW_MIN = 4
SPREAD = 2
THREADS = min(4, os.cpu_count() or 1)  # for independent numpy work, which lets go of the GIL


def build_coalitions(touches: ir.Table, players: Sequence[Any]) -> ir.Table:
    """Journeys, conversions and revenue per coalition, the coalition as bit masks over
    ``players`` (sorted by name; their keys as the touches hold them): ``mask_0`` holds
    players 0-61 (bit ``i`` for player ``i``), ``mask_1`` players 62-123, and so on. Two hash
    aggregates (a bitwise OR per journey); no lists, no sort. Where the touches carry a
    breakdown's ``segment``, the coalitions are per segment (its first column).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> from journeylens.analytics._touches import build_touches
    >>> table = ibis.memtable(journeys({"ann": [("b", "2026-01-01"), ("a", "+1h"), ("b", "+1h")]}))
    >>> build_coalitions(build_touches(table, ["purchase"], 10**7), ["a", "b"]).execute()["mask_0"]
    0    3
    Name: mask_0, dtype: int64
    """
    placed = with_players(touches, players)
    words = {
        f"mask_{w}": ibis.ifelse(placed._word == w, placed._bit, 0).fill_null(0).cast("int64")
        for w in range(max(1, -(-len(players) // WORD)))
    }
    segments = segment_columns(touches)
    bits = placed.select(
        "person", "journey", *segments, "converted", "revenue", **words, **weight_of(placed)
    )
    journeys = bits.group_by(["person", "journey", *segments]).aggregate(
        converted=bits.converted.max(),
        revenue=bits.revenue.max(),
        **{w: bit_or(bits[w]) for w in words},
        **kept_weight(bits),
    )
    return journeys.group_by([*segments, *words]).aggregate(
        journeys=journeys_of(journeys),
        conversions=summed(journeys.converted, journeys),
        revenue=summed(journeys.revenue, journeys),
    )


def with_players(table: ir.Table, players: Sequence[Any]) -> ir.Table:
    """``table`` with its ``key``'s place among ``players`` as ``_index`` (0-based), and as
    the mask word ``_word`` and bit ``_bit`` it sets (null for a key that is none of them).

    A join on a small table of the players: naming each player in the expression would cost
    every row a comparison per player (a thousand campaigns: seventeen times the join).
    """
    places = range(len(players))
    lookup = ibis.memtable(
        pa.table(
            {
                "_player": pa.array(players, table.key.type().to_pyarrow()),
                "_index": pa.array(places, pa.int64()),
                "_word": pa.array([i // WORD for i in places], pa.int64()),
                "_bit": pa.array([1 << (i % WORD) for i in places], pa.int64()),
            }
        )
    )
    return table.left_join(lookup, table.key == lookup._player).drop("_player")


def _words(frame: pd.DataFrame) -> list[np.ndarray]:
    """The mask columns of :func:`build_coalitions`' rows, lowest players first."""
    names = sorted((c for c in frame.columns if c.startswith("mask_")), key=lambda c: int(c[5:]))
    return [frame[c].to_numpy(np.int64) for c in names]


def _kept_bits(words: Sequence[np.ndarray], players: Sequence[str]) -> list[int]:
    """The players (their bits over all the words) some coalition holds."""
    return [
        w * WORD + b
        for w, word in enumerate(words)
        for b in _members(int(np.bitwise_or.reduce(word)) if len(word) else 0)
        if w * WORD + b < len(players)
    ]


def _packed(words: Sequence[np.ndarray], kept: Sequence[int]) -> list[np.ndarray]:
    """The masks over the ``kept`` players only (bit ``i``: ``kept[i]``), in int64 words of
    ``WORD`` players each."""
    rows = len(words[0]) if words else 0
    packed = [np.zeros(rows, dtype=np.int64) for _ in range(max(1, -(-len(kept) // WORD)))]
    for i, bit in enumerate(kept):
        held = (words[bit // WORD] >> (bit % WORD)) & 1
        packed[i // WORD] |= held << (i % WORD)
    return packed


def _joined(words: Sequence[np.ndarray]) -> np.ndarray:
    """One mask per row: the int64 word where there is one, else Python integers."""
    if len(words) == 1:
        return words[0]
    masks = words[0].astype(object)
    for w, word in enumerate(words[1:], start=1):
        masks = masks + (word.astype(object) << (WORD * w))
    return masks


class _Game:
    """The observed coalitions as bit masks over the players, with their rates, in mask order
    (so that sums never depend on the engine's row order)."""

    def __init__(self, words: list[np.ndarray], players: list[str], rows: pd.DataFrame) -> None:
        # By the highest word first: the order of the masks as numbers.
        order = np.lexsort(words) if words else np.arange(len(rows))
        self.players = players
        self.words = [word[order] for word in words]
        self.journeys = rows["journeys"].to_numpy(float)[order]
        counts = np.column_stack(
            [rows["conversions"].to_numpy(float), rows["revenue"].to_numpy(float)]
        )[order]
        self.rates = counts / self.journeys[:, None]
        self.sizes = sum(np.bitwise_count(word).astype(np.int64) for word in self.words)

    @classmethod
    def of_masks(cls, rows: pd.DataFrame, players: Sequence[str]) -> _Game:
        """The game of :func:`build_coalitions`' rows over ``players``: the players no
        coalition holds are left out."""
        words = _words(rows)
        kept = _kept_bits(words, players)
        return cls(_packed(words, kept), [players[b] for b in kept], rows)

    @classmethod
    def of_names(cls, coalitions: pd.DataFrame) -> _Game:
        """The game of coalitions given by name (members joined by ``\\x1f``)."""
        members = [str(c).split(SEP) for c in coalitions["coalition"]]
        players = sorted({m for group in members for m in group})
        place = {p: i for i, p in enumerate(players)}
        words = np.zeros((max(1, -(-len(players) // WORD)), len(members)), dtype=np.int64)
        for row, group in enumerate(members):
            for i in {place[m] for m in group}:
                words[i // WORD, row] |= 1 << (i % WORD)
        return cls(list(words), players, coalitions)

    @cached_property
    def masks(self) -> np.ndarray:
        """Each coalition's mask: int64 up to 62 players, else Python integers."""
        return _joined(self.words)

    @cached_property
    def rows(self) -> dict[int, int]:
        """Each mask's row."""
        return {int(mask): row for row, mask in enumerate(self.masks)}

    @cached_property
    def ranks(self) -> list[_Ranks]:
        """The rates of each measure (conversions, revenue) in order (see :class:`_Ranks`)."""
        return [_Ranks(self.rates[:, j]) for j in range(2)]

    @cached_property
    def index(self) -> Any:  # pandas-stubs want an Index for get_indexer; an array works
        """The coalitions' masks, to look a mask's row up (-1: not observed)."""
        return pd.Index(self.masks)

    def inside(self, row: int) -> np.ndarray:
        """The rows of the observed coalitions inside coalition ``row`` (itself included)."""
        if len(self.words) == 1:
            return np.flatnonzero((self.words[0] & ~self.words[0][row]) == 0)
        if self.sizes[row] > LISTED_MAX:
            held = np.ones(len(self.sizes), dtype=bool)
            for word in self.words:  # inside in every word
                held &= (word & ~word[row]) == 0
            return np.flatnonzero(held)
        # Past 62 players, a small coalition lists its own subsets (see ``LISTED_MAX``).
        mask = self.masks[row]
        found, subset = [], int(mask)
        while True:  # every subset of the mask, the empty one last
            if (known := self.rows.get(subset)) is not None:
                found.append(known)
            if not subset:
                break
            subset = (subset - 1) & int(mask)
        return np.array(sorted(found), dtype=np.int64)

    def inside_pairs(self, rows: np.ndarray, most: int) -> tuple[np.ndarray, np.ndarray]:
        """``(i, w)``: observed coalition ``w`` is inside coalition ``rows[i]``, for every
        pair; only coalitions of at most ``most`` members are tested. Blocks of rows at once
        while the masks are int64, else row by row."""
        if self.masks.dtype == object:
            listed = [self.inside(int(row)) for row in rows]
            at = np.repeat(np.arange(len(rows)), [len(found) for found in listed])
            return at, np.concatenate(listed)
        candidates = np.flatnonzero(self.sizes <= most)
        masks = self.masks[candidates]
        block = max(1, BLOCK_CELLS // max(len(candidates), 1))
        pairs = []
        for lo in range(0, len(rows), block):
            i, w = np.nonzero((masks[None, :] & ~self.masks[rows[lo : lo + block], None]) == 0)
            pairs.append((i + lo, candidates[w]))
        return np.concatenate([i for i, _ in pairs]), np.concatenate([w for _, w in pairs])

    def observed_subsets(self, rows: np.ndarray, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(cell, w)``: observed coalition ``w`` is subset ``s`` of coalition ``rows[i]``
        (bit ``j`` of ``s``: its member ``bits[i, j]``), ``cell = s · len(rows) + i``, for
        every pair. Where a coalition has fewer subsets than there are coalitions to test, each
        subset is looked up (a hash look-up costs about ``LOOKUP_COST`` tests); else see
        :meth:`inside_pairs`. Past 62 players every subset is looked up by its hashes."""
        k = bits.shape[1]
        if len(self.words) > 1:
            if self.hash_index.is_unique:  # two coalitions alike in one hash: tested instead
                return self._hashed_subsets(bits)
        elif (1 << k) * LOOKUP_COST < (self.sizes <= k).sum():
            subsets = _subset_codes((np.int64(1) << bits.T)[None])
            found = self.index.get_indexer(subsets.ravel())
            cells = np.flatnonzero(found >= 0)
            return cells, found[cells]
        at, which = self.inside_pairs(rows, k)
        return _local_index(self.masks[which], bits[at].T) * len(rows) + at, which

    def _hashed_subsets(self, bits: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`observed_subsets` past 62 players: each subset's two hashes (see
        :attr:`hashes`) built along its lattice as the int64 masks are, the first looked up,
        the second compared."""
        first, second = _subset_codes(_player_keys(len(self.players))[:, bits.T]).reshape(2, -1)
        found = self.hash_index.get_indexer(first)
        hit = found >= 0
        hit[hit] = self.hashes[1, found[hit]] == second[hit]
        cells = np.flatnonzero(hit)
        return cells, found[cells]

    @cached_property
    def listed(self) -> tuple[np.ndarray, np.ndarray]:
        """Every coalition's members, lowest first, one run after another, and where each
        coalition's run starts (one more: the end)."""
        players, rows = [], []
        for w, word in enumerate(self.words):
            left = word.copy()
            while len(held := np.flatnonzero(left)):  # each round takes every lowest bit
                low = left[held] & -left[held]
                rows.append(held)
                players.append(w * WORD + np.bitwise_count(low - 1).astype(np.int64))
                left[held] ^= low
        row = np.concatenate(rows or [np.zeros(0, np.int64)])
        player = np.concatenate(players or [np.zeros(0, np.int64)])
        order = np.argsort(row * len(self.players) + player, kind="stable")
        starts = np.zeros(len(self.sizes) + 1, dtype=np.int64)
        np.cumsum(self.sizes, out=starts[1:])
        return player[order], starts

    @cached_property
    def hashes(self) -> np.ndarray:
        """Two hashes of each coalition: the exclusive or of its members' keys (see
        :func:`_player_keys`). A subset taken for an observed coalition that differs from it
        matches it on both by chance: about one look-up in 2^126 per coalition (a million
        coalitions: under one in 10^31)."""
        members, starts = self.listed
        keys = _player_keys(len(self.players))[:, members]
        hashes = np.zeros((2, len(self.sizes)), dtype=np.int64)
        held = np.flatnonzero(self.sizes > 0)
        if len(held):
            hashes[:, held] = np.bitwise_xor.reduceat(keys, starts[held], axis=1)
        return hashes

    @cached_property
    def hash_index(self) -> Any:
        """The coalitions' first hashes, to look a subset's row up (-1: not observed)."""
        return pd.Index(self.hashes[0])

    def members(self, rows: np.ndarray, k: int) -> np.ndarray:
        """The players of coalitions ``rows`` (each of ``k``), lowest first: one row each."""
        members, starts = self.listed
        return members[starts[rows][:, None] + np.arange(k)]

    def bits(self, mask: int) -> list[int]:
        return _members(mask)


def _subset_codes(codes: np.ndarray) -> np.ndarray:
    """Every subset's code on the lattices of coalitions whose members have ``codes``
    (``(planes, k, coalitions)``): the exclusive or of its members' (their bits where the codes
    are bits), as ``(planes, 2^k, coalitions)``, bit ``j`` of a subset's place standing for
    member ``j``. Filled in place, member by member: one array, not one per member."""
    planes, k, coalitions = codes.shape
    subsets = np.empty((planes, 1 << k, coalitions), dtype=np.int64)
    subsets[:, 0] = 0
    for j in range(k):
        without = subsets[:, : 1 << j]
        np.bitwise_xor(without, codes[:, None, j], out=subsets[:, 1 << j : 2 << j])
    return subsets


@cache
def _player_keys(players: int) -> np.ndarray:
    """Two random 63-bit keys per player (fixed: the same every run), which hash a set of
    players past 62 of them (see :attr:`_Game.hashes`)."""
    return np.random.default_rng(HASH_SEED).integers(0, 1 << 63, (2, players), dtype=np.int64)


def _members(mask: int) -> list[int]:
    """The positions of the set bits of ``mask``, lowest first."""
    found = []
    while mask:
        low = mask & -mask
        found.append(low.bit_length() - 1)
        mask ^= low
    return found


def _local_index(masks: np.ndarray, bits: Sequence[int] | np.ndarray) -> np.ndarray:
    """Each of ``masks`` on a coalition's lattice: bit ``i`` set where it holds ``bits[i]``
    (one player for every mask, or a row of one per mask)."""
    index = np.zeros(len(masks), dtype=np.int64)
    for local, global_bit in enumerate(bits):
        index |= ((masks >> global_bit) & 1).astype(np.int64) << local
    return index


def _member_index(words: Sequence[np.ndarray], bits: Sequence[int]) -> np.ndarray:
    """:func:`_local_index` of masks given as their int64 ``words`` (see :func:`_packed`), on
    the lattice of the coalition of members ``bits`` (lowest first), a byte at a time: each
    byte's part is one look-up (see :func:`_byte_parts`), where ``_local_index`` takes several
    steps per member."""
    index = np.zeros(len(words[0]) if words else 0, dtype=np.int64)
    below = 0  # members in the bytes before
    for w, word in enumerate(words):
        own = sum(1 << (b - w * WORD) for b in bits if b // WORD == w)
        octets = word.astype("<i8", copy=False).view(np.uint8).reshape(-1, 8)
        for q in range(8):
            if byte := (own >> (8 * q)) & 0xFF:
                index |= (_byte_parts()[byte] << below).take(octets[:, q])
                below += byte.bit_count()
    return index


@cache
def _byte_parts() -> np.ndarray:
    """``parts[m, v]``: the members of byte ``m`` that byte ``v`` holds, as bits over ``m``'s
    members (bit ``i``: its ``i``-th lowest)."""
    m, v = np.arange(256)[:, None], np.arange(256)[None, :]
    parts = np.zeros((256, 256), dtype=np.int64)
    for b in range(8):
        rank = np.bitwise_count(m & ((1 << b) - 1)).astype(np.int64)  # m's members below b
        parts |= ((m >> b) & (v >> b) & 1) << rank
    return parts


@cache
def _lattice(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Subset sizes of the ``2^k`` subsets, and the Shapley weight of each size."""
    size = np.zeros(1 << k, dtype=np.int64)
    for b in range(k):
        size.reshape(-1, 2, 1 << b)[:, 1] += 1
    weight = np.array([factorial(s) * factorial(k - s - 1) / factorial(k) for s in range(k)])
    return size, weight


@cache
def _credit_matrix(k: int) -> np.ndarray:
    """``C`` with ``phi = C @ v`` for a game ``v`` on the ``2^k`` subsets of ``k`` players:
    ``C[i, S]`` is the Shapley weight of ``S`` as player ``i``'s coalition with it (``S``
    holds ``i``) or without it (it does not), signed."""
    size, weight = _lattice(k)
    credit = np.empty((k, 1 << k))
    for b in range(k):
        holds = ((np.arange(1 << k) >> b) & 1).astype(bool)
        credit[b] = np.where(
            holds, weight[np.maximum(size - 1, 0)], -weight[np.minimum(size, k - 1)]
        )
    return credit


def _small_games(game: _Game, rows: np.ndarray) -> np.ndarray:
    """Every value's credit (conversions, revenue) from the games of coalitions ``rows`` (each
    solved exactly on its own members), the coalitions of one size side by side: their rates
    on their subsets' lattices, the best seen part of each subset, then one matrix product."""
    total = np.zeros((len(game.players), 2))
    for k in np.unique(game.sizes[rows]):
        k = int(k)
        same = rows[game.sizes[rows] == k]
        step = max(1, LATTICE_CELLS >> k)
        for lo in range(0, len(same), step):
            chunk = same[lo : lo + step]
            bits = game.members(chunk, k)
            cells, which = game.observed_subsets(chunk, bits)
            best = _best_places(game, cells, which, (1 << k, len(chunk)))
            for j, ranks in enumerate(game.ranks):
                f = ranks.values[best[j]].reshape(1 << k, len(chunk))
                # One product for the chunk: (k, 2^k) @ (2^k, coalitions).
                phi = _credit_matrix(k) @ f
                phi *= game.journeys[chunk]
                total[:, j] += np.bincount(
                    bits.T.ravel(), weights=phi.ravel(), minlength=len(game.players)
                )
    return total


def _shares_subsets(game: _Game, rows: np.ndarray) -> bool:
    """Whether to solve the games of coalitions ``rows`` on the subsets they share
    (:func:`_shared_games`) rather than lattice by lattice (:func:`_small_games`): where their
    lattices hold more than ``SHARED_CELLS`` cells per coalition and player, and the masks are
    one int64 word. Both give the same values. Measured on 36 touchpoints (CPU-seconds, medians
    of 3, a busy 2-core machine): the demo's 10M events (74,474 coalitions of up to 15, 262M
    lattice cells, 4.2M shared subsets in 4.7M cells of blocks of 6 players) 58–92 s lattice
    by lattice, 1.3 s shared (5.9 s each subset alone); ``bench/attribution.py``'s (800,500
    coalitions of up to 8, 72M lattice cells, 3.0M shared subsets, each alone) 5.7 s and 4.0 s
    (8.5 s and 6.0 s wall; 2.0 s and 2.6 s wall in an earlier, quieter measure)."""
    if len(game.words) != 1 or not len(rows):
        return False
    cells = np.ldexp(1.0, game.sizes[rows]).sum()
    return bool(cells > SHARED_CELLS * len(rows) * len(game.players))


def _shared_games(game: _Game, rows: np.ndarray) -> np.ndarray | None:
    """Every value's credit (conversions, revenue) from the games of coalitions ``rows``, all
    at once on the subsets they share (masks of one int64 word); None where those take more
    than ``SHARED_MAX`` cells.

    ``T``'s game is ``n(T) · f(T ∩ S)``, ``f`` the rates with each unseen subset given its best
    seen part (as on the lattices). With ``m`` the Möbius transform of ``f`` (``f(U) =
    Σ_{V ⊆ U} m(V)``), player ``j``'s Shapley value in it is ``n(T) · Σ_{j ∈ V ⊆ T} m(V) / |V|``,
    so over all of them ``Σ_{V ∋ j} m(V) · N(V) / |V|``, where ``N(V)`` counts the journeys of
    the coalitions that hold ``V``. ``V`` runs over the subsets of the coalitions, which they
    largely share: far fewer than their lattices' cells. They are laid out in blocks (see
    :class:`_Blocks`); the best seen parts, ``m`` and ``N`` are each one pass per player.

    A cell of a block that is no such subset takes part in the passes but never reaches one
    that is: every subset of a subset is one (the best parts and ``m`` flow from a set to those
    holding it), and no coalition holds the cell, so its ``N`` stays exactly 0 and its finite
    ``m`` adds nothing to the credit."""
    blocks = _Blocks.of(game.words[0][rows], len(game.players))
    if blocks is None:
        return None
    cells, present = blocks.places(game.words[0])
    seen = np.flatnonzero(present)  # the observed coalitions with a block
    held = np.bincount(cells[rows], game.journeys[rows], blocks.cells)
    # N and each measure's parts are independent passes, and numpy lets go of the GIL in them.
    with ThreadPoolExecutor(THREADS) as pool:
        journeys = pool.submit(blocks.superset_sums, held.reshape(blocks.shape))
        measures = range(game.rates.shape[1])
        parts = list(pool.map(lambda j: blocks.parts(cells[seen], game.rates[seen, j]), measures))
        scale = journeys.result() / blocks.sizes
        credit = list(pool.map(lambda m: blocks.credit(m * scale), parts))
    total = np.empty((len(game.players), len(credit)))
    total[blocks.order] = np.column_stack(credit)
    return total


class _Blocks:
    """The subsets of some coalitions, laid out for passes over the players: the players
    reordered (``order``: the player of each new bit), the ``low`` first, each subset goes in
    a block of ``2^low`` cells, one per part of it among the low players (bit ``i``: the
    ``i``-th low player), keyed by its other members (``keys``, the high bits shifted down,
    sorted). The passes over a low player are strided runs inside every block; over a high one,
    whole blocks pair with the blocks without the player (``pairs``). With ``low`` 0, every
    subset is a block of its own and each pass looks its pairs up one by one.

    The blocks hold every part of the low players, so some cells are no subset: ``low`` is the
    most that keeps them few (see :func:`_low_players`)."""

    def __init__(self, order: np.ndarray, low: int, keys: np.ndarray) -> None:
        self.order, self.low, self.keys = order, low, keys
        self.shape = (len(keys), 1 << low)
        self.cells = len(keys) << low
        self.sizes = np.maximum(np.bitwise_count(keys)[:, None] + _lattice(low)[0][None, :], 1)
        # Each high player's pairs are independent look-ups: side by side.
        with ThreadPoolExecutor(THREADS) as pool:
            bits = range(len(order) - low)
            self.pairs = list(pool.map(lambda b: _pairs(keys, np.int64(1) << b), bits))

    @classmethod
    def of(cls, masks: np.ndarray, players: int) -> _Blocks | None:
        """The blocks of the subsets of ``masks`` (int64); None past ``SHARED_MAX`` cells."""
        order = _dense_first(masks, players)
        local = _local_index(masks, order)
        for low in dict.fromkeys((_low_players(local, players), 0)):
            keys = _down_set(np.unique(local >> low), players - low, low)
            if keys is not None:
                return cls(order, low, keys)
        return None

    def places(self, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each of ``masks``' cell (flat), and whether it has one (its block is there)."""
        local = _local_index(masks, self.order)
        block, present = _places(self.keys, local >> self.low)
        return (block << self.low) | (local & ((1 << self.low) - 1)), present

    def passes(self, cells: np.ndarray, op: np.ufunc, upward: bool) -> None:
        """One pass per player over ``cells`` (shaped as the blocks), in place: where
        ``upward``, each set holding the player becomes ``op`` of itself and the set without
        it, else each set without it ``op`` of itself and the set with it."""
        to, of = (1, 0) if upward else (0, 1)  # the sets without the player, then with it
        for b in range(self.low):
            split = cells.reshape(len(cells), -1, 2, 1 << b)
            op(split[:, :, to], split[:, :, of], out=split[:, :, to])
        for pair in self.pairs:
            part = cells[pair[to]]
            op(part, cells[pair[of]], out=part)
            cells[pair[to]] = part

    def superset_sums(self, held: np.ndarray) -> np.ndarray:
        """``N(V)``: from the journeys of each subset's own coalition, those of every coalition
        that holds it (``held`` is overwritten)."""
        self.passes(held, np.add, upward=False)
        return held

    def parts(self, at: np.ndarray, own: np.ndarray) -> np.ndarray:
        """``m`` for one measure: each subset's best seen part (a seen subset its own rate
        ``own``, at flat cells ``at``; 0 where none), then its Möbius transform."""
        rates = np.zeros(self.shape)
        rates.flat[at] = own
        self.passes(rates, np.maximum, upward=True)
        rates.flat[at] = own
        self.passes(rates, np.subtract, upward=True)
        return rates

    def credit(self, cells: np.ndarray) -> list[float]:
        """Per player (in the new order), the sum of ``cells`` over the sets that hold it."""
        by_part, by_block = cells.sum(axis=0), cells.sum(axis=1)
        parts = np.arange(1 << self.low)
        low = [float(by_part[(parts >> b) & 1 == 1].sum()) for b in range(self.low)]
        return low + [float(by_block[holding].sum()) for _, holding in self.pairs]


def _dense_first(masks: np.ndarray, players: int) -> np.ndarray:
    """The players by the cells of the coalitions' lattices that hold them, most first: those
    whose parts fill the blocks best."""
    cells = np.ldexp(1.0, np.bitwise_count(masks).astype(np.int64) - 1)
    held = [cells[(masks >> i) & 1 == 1].sum() for i in range(players)]
    return np.argsort(-np.array(held), kind="stable")


def _low_players(local: np.ndarray, players: int) -> int:
    """How many players (the first bits of ``local``) to lay out in blocks: the most, up to
    ``LOW_MAX``, whose blocks would hold at most ``SPREAD`` cells per cell of the coalitions'
    lattices were no subset shared (each coalition's lattice spread over blocks of every part
    of those players); 0 below ``LOW_MIN``. Shared subsets fill the blocks further: on the
    demo's coalitions (36 touchpoints), 6 players, 2.0 cells counted so, 1.1 per subset."""
    lattices = np.ldexp(1.0, np.bitwise_count(local).astype(np.int64))
    for low in range(min(LOW_MAX, players), LOW_MIN - 1, -1):
        parts = np.bitwise_count(local & ((1 << low) - 1)).astype(np.int64)
        if np.ldexp(lattices, low - parts).sum() <= SPREAD * lattices.sum():
            return low
    return 0


def _pairs(down: np.ndarray, bit: np.int64) -> tuple[np.ndarray, np.ndarray]:
    """The places in ``down`` of the sets holding ``bit`` without it, and of those sets
    (int32: half the memory)."""
    holding = np.flatnonzero((down & bit) != 0)
    return np.searchsorted(down, down[holding] ^ bit).astype(np.int32), holding.astype(np.int32)


def _down_set(masks: np.ndarray, players: int, low: int = 0) -> np.ndarray | None:
    """Every subset of ``masks`` (int64 bit masks), the empty one too, sorted: player by player,
    each set holding the player is joined by itself without it. None past ``SHARED_MAX`` cells,
    each set a block of ``2^low``."""
    down = np.unique(np.append(masks, 0))
    for i in range(players):
        bit = np.int64(1) << i
        without = down[(down & bit) != 0] ^ bit  # in order: the sets lose the same bit
        at, present = _places(down, without)
        new = ~present
        if (len(down) + np.count_nonzero(new)) << low > SHARED_MAX:
            return None
        if new.any():
            down = np.insert(down, at[new], without[new])
    return down


def _places(down: np.ndarray, masks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``masks`` is, or would go, in the sorted ``down``, and whether it is there."""
    at = np.searchsorted(down, masks)
    return at, down[np.minimum(at, len(down) - 1)] == masks


def _best_places(
    game: _Game, cells: np.ndarray, which: np.ndarray, shape: tuple[int, ...]
) -> np.ndarray:
    """Per measure, on lattices of ``shape`` (the first axis a coalition's ``2^k`` subsets),
    the place among the rates (see :class:`_Ranks`) of every subset's best seen part; a seen
    subset (flat ``cells``, observed coalitions ``which``) its own. Places, not rates: a
    quarter or half the bytes to carry through the ``k`` passes."""
    seen = _seen_places(game, which)
    best = _seeded(game, cells, seen, math.prod(shape))
    _subset_max(best.reshape(2, *shape), axis=1)
    for j in range(2):
        best[j, cells] = seen[j]
    return best


def _lattice_places(game: _Game, local: np.ndarray, which: np.ndarray, k: int) -> np.ndarray:
    """:func:`_best_places` on the lattice of one coalition of ``k`` members (``local``: the
    observed coalitions ``which`` on it). As in :func:`_subset_max`, the passes over its
    lowest bits (``TURNED_BITS``) run where they lead, on copies that turn ``SHORT_BITS`` of
    them at a time from the bottom to the top; the lattice is filled with its bits rotated by
    as many, so that the last copy is the lattice in order: nothing is turned back."""
    low = TURNED_BITS if k >= 2 * TURNED_BITS else 0
    rotated = ((local << low) | (local >> (k - low))) & ((1 << k) - 1)
    seen = _seen_places(game, which)
    best = _seeded(game, rotated, seen, 1 << k)
    _max_passes(best, range(low, k))
    for _ in range(low // SHORT_BITS):
        turned = best.reshape(2, -1, 1 << SHORT_BITS).transpose(0, 2, 1)
        best = np.ascontiguousarray(turned).reshape(2, 1 << k)
        _max_passes(best, range(k - SHORT_BITS, k))
    for j in range(2):
        best[j, local] = seen[j]
    return best


def _seen_places(game: _Game, which: np.ndarray) -> np.ndarray:
    """The places of observed coalitions ``which``, one row per measure."""
    return np.stack([ranks.of[which] for ranks in game.ranks])


def _seeded(game: _Game, cells: np.ndarray, seen: np.ndarray, size: int) -> np.ndarray:
    """Per measure, ``size`` cells of 0's place, the places ``seen`` at ``cells``."""
    best = np.empty((2, size), seen.dtype)
    for j, ranks in enumerate(game.ranks):
        best[j] = ranks.zero
        best[j, cells] = seen[j]
    return best


def _max_passes(lattices: np.ndarray, bits: range) -> None:
    """One pass per bit of ``bits`` over ``lattices`` (side by side on the first axis, flat),
    in place: each set holding the bit becomes the maximum of itself and the set without it."""
    for b in bits:
        view = lattices.reshape(len(lattices), -1, 2, 1 << b)
        np.maximum(view[:, :, 1], view[:, :, 0], out=view[:, :, 1])


class _Ranks:
    """The distinct observed rates and 0 (an unseen subset's) in order: ``values``, each
    observed coalition's place among them (``of``) and 0's (``zero``). The larger place, the
    larger rate, equal rates one place, so a maximum over places is one over rates. Places fit
    ``dtype``: uint16 up to 65,536 distinct rates (the demo's 10M events: 608 and 20,246),
    halving the bytes carried through a lattice's passes, else int32."""

    def __init__(self, rates: np.ndarray) -> None:
        values = np.append(rates, 0.0)
        order = np.argsort(values, kind="stable")
        ordered = values[order]
        # A new place where the rate differs from the one before (a NaN from everything).
        new = np.append(True, ordered[1:] != ordered[:-1])
        self.dtype = np.dtype(np.uint16 if np.count_nonzero(new) <= 1 << 16 else np.int32)
        places = np.empty(len(values), dtype=self.dtype)
        places[order] = np.cumsum(new) - 1
        self.values, self.of, self.zero = ordered[new], places[:-1], int(places[-1])


def _subset_max(lattice: np.ndarray, axis: int = 0) -> None:
    """``lattice[..., U, ...]`` (``U`` on ``axis``) becomes the maximum over the subsets of
    ``U``, in place, one pass per bit. The axes after it ride along as the passes' inner runs;
    where they are short (one lattice alone), the passes over the four lowest bits run on a
    copy where those bits lead, so that no pass has runs of fewer than 16 cells."""
    lead, tail = lattice.shape[:axis], math.prod(lattice.shape[axis + 1 :])
    bits = lattice.shape[axis].bit_length() - 1
    low = SHORT_BITS if tail < 1 << SHORT_BITS and bits >= 2 * SHORT_BITS else 0
    for b in range(low, bits):
        view = lattice.reshape(*lead, -1, 2, 1 << b, tail)
        np.maximum(view[..., 1, :, :], view[..., 0, :, :], out=view[..., 1, :, :])
    if low:
        cells = lattice.reshape(*lead, -1, 1 << low, tail)
        turned = np.ascontiguousarray(np.moveaxis(cells, -2, len(lead)))
        _subset_max(turned, axis=len(lead))
        cells[...] = np.moveaxis(turned, len(lead), -2)


def _rates_at(game: _Game, best: np.ndarray, subsets: Any) -> np.ndarray:
    """The rates (conversions, revenue) of the places ``best`` (:func:`_best_places`) at
    ``subsets`` (an index into one lattice), side by side on a last axis."""
    return np.stack([r.values[best[j][subsets]] for j, r in enumerate(game.ranks)], axis=-1)


def _exact_all(game: _Game) -> np.ndarray:
    """Every value at once on the lattice of all players (few players, many coalitions)."""
    k = len(game.players)
    seen = np.arange(len(game.masks))
    f = _rates_at(game, _best_places(game, game.masks.astype(np.int64), seen, (1 << k,)), ...)
    return _credit_matrix(k) @ _game(game, f)


def _game(game: _Game, f: np.ndarray) -> np.ndarray:
    """``v(S) = Σ_T n(T) f(T ∩ S)`` for every ``S``, in ``k · 2^k`` steps whatever the number
    of coalitions (``f``: the rates on the lattice, measures on a last axis; overwritten).

    Written as the sum of its parts over subsets, ``f(U) = Σ_{V ⊆ U} m(V)`` (``m``: the
    Möbius transform), ``f(T ∩ S)`` sums ``m(V)`` over the ``V`` inside both ``T`` and ``S``,
    so ``v(S) = Σ_{V ⊆ S} m(V) · N(V)``, where ``N(V)`` counts the journeys whose coalition
    holds ``V``: ``m`` and ``N`` one pass over the players each, their product summed over
    subsets in one more."""
    k = len(game.players)
    parts = f
    held = np.bincount(game.masks.astype(np.int64), weights=game.journeys, minlength=1 << k)
    for b in range(k):
        # The lattice's subsets split by player b: [:, 0] without it, [:, 1] with it.
        by_player = parts.reshape(-1, 2, 1 << b, parts.shape[-1])
        by_player[:, 1] -= by_player[:, 0]
        journeys = held.reshape(-1, 2, 1 << b)
        journeys[:, 0] += journeys[:, 1]
    parts *= held[:, None]
    for b in range(k):
        by_player = parts.reshape(-1, 2, 1 << b, parts.shape[-1])
        by_player[:, 1] += by_player[:, 0]
    return parts


def _sampled(
    game: _Game,
    row: int,
    bits: list[int],
    inside: np.ndarray,
    samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Coalition ``row``'s credit to its members ``bits`` from ``samples`` random orders."""
    k = len(bits)
    orders = rng.permuted(np.tile(np.arange(k), (samples, 1)), axis=1)  # a random order a row
    # Each order's first members: along the members, all samples at once.
    prefixes = np.bitwise_or.accumulate(np.left_shift(1, orders.T), axis=0).T
    value = _rates_inside(game, bits, inside)(prefixes)
    gain = np.empty(value.shape)  # each member's gain where it joins: one subtraction, flat
    np.subtract(value.ravel()[1:], value.ravel()[:-1], out=gain.ravel()[1:])
    gain[..., 0] = value[..., 0]
    # Each member's gains summed sample after sample, in the order drawn.
    members = orders.ravel()
    credit = [np.bincount(members, weights=measure.ravel(), minlength=k) for measure in gain]
    return np.column_stack(credit) / samples * game.journeys[row]


def _rates_inside(
    game: _Game, bits: list[int], inside: np.ndarray
) -> Callable[[np.ndarray], np.ndarray]:
    """``f`` on subsets of the coalition of members ``bits`` (``inside``: the observed
    coalitions inside it) given as local bit masks (bit ``i``: its ``i``-th member): the
    observed rate, else the best observed subset's, else 0 (as on the lattice); the measures
    (conversions, revenue) on a first axis."""
    local = _member_index([word[inside] for word in game.words], bits)
    if len(bits) <= LATTICE_MAX:
        best = _lattice_places(game, local, inside, len(bits))
        return lambda subsets: np.stack(
            [ranks.values.take(best[j].take(subsets)) for j, ranks in enumerate(game.ranks)]
        )
    rates = game.rates[inside]

    def lookup(subsets: np.ndarray) -> np.ndarray:
        unique, where = np.unique(subsets, return_inverse=True)
        out = np.zeros((len(unique), 2))
        # Every subset against every observed coalition inside at once (in chunks of bounded
        # memory): the observed rate where one is the subset, else the best of those it holds
        # (0 where it holds none, as the rows it does not hold count 0).
        step = max(1, LOOKUP_CELLS // max(len(local), 1))
        for start in range(0, len(unique) if len(local) else 0, step):
            chunk = unique[start : start + step, None]
            held = (local[None, :] & ~chunk) == 0
            exact = held & (local[None, :] == chunk)
            best = np.where(held[..., None], rates[None, :, :], 0.0).max(axis=1)
            found = exact.any(axis=1)[:, None]
            out[start : start + step] = np.where(found, rates[exact.argmax(axis=1)], best)
        return out.T[:, where.reshape(subsets.shape)]

    return lookup


def shapley_values(coalitions: pd.DataFrame, samples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Shapley conversions and revenue per value: columns ``key``, ``conversions``, ``revenue``;
    the coalitions by name (``coalition``: members joined by ``\\x1f``).

    Examples
    --------
    >>> rows = pd.DataFrame({"coalition": ["a", "b", "a\\x1fb"], "journeys": [10, 10, 10],
    ...                      "conversions": [2, 2, 6], "revenue": [0.0, 0.0, 0.0]})
    >>> shapley_values(rows)["conversions"].tolist()
    [5.0, 5.0]
    """
    return _values(_Game.of_names(coalitions), samples, seed)


def coalition_values(
    rows: pd.DataFrame, players: Sequence[str], samples: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """:func:`shapley_values` of the rows of :func:`build_coalitions` over ``players``, read
    from their masks.

    Examples
    --------
    >>> rows = pd.DataFrame({"mask_0": [1, 2, 3], "journeys": [10, 10, 10],
    ...                      "conversions": [2, 2, 6], "revenue": [0.0, 0.0, 0.0]})
    >>> coalition_values(rows, ["a", "b", "c"])["conversions"].tolist()
    [5.0, 5.0]
    """
    return _values(_Game.of_masks(rows, players), samples, seed)


def _values(game: _Game, samples: int, seed: int) -> pd.DataFrame:
    if len(game.players) <= EXACT_MAX:
        total = _exact_all(game)
    else:
        rows = np.arange(len(game.sizes))
        exact, large = rows[game.sizes <= EXACT_MAX], rows[game.sizes > EXACT_MAX]
        # The sampled games run beside the exact ones: numpy lets go of the GIL in both. What
        # both read is worked out first, once.
        _ = (game.masks, game.ranks)
        with ThreadPoolExecutor(1) as pool:
            sampled = pool.submit(_sampled_games, game, large, samples, seed)
            shared = _shared_games(game, exact) if _shares_subsets(game, exact) else None
            total = shared if shared is not None else _small_games(game, exact)
            total += sampled.result()
    return pd.DataFrame({"key": game.players, "conversions": total[:, 0], "revenue": total[:, 1]})


def _sampled_games(game: _Game, rows: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """Every value's credit (conversions, revenue) from the games of coalitions ``rows``, each
    by permutation sampling (:func:`_sampled`), summed in row order."""
    total = np.zeros((len(game.players), 2))
    for row in rows:
        # Each coalition's orders from its own stream: the same draws in any row order.
        mask = int(game.masks[row])
        rng = np.random.default_rng([seed, mask])
        bits = game.bits(mask)
        total[bits] += _sampled(game, int(row), bits, game.inside(int(row)), samples, rng)
    return total
