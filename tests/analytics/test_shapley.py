"""Shapley attribution: the axioms, a brute-force reference, and sampling above 15 values."""

from __future__ import annotations

import itertools
from math import factorial
from types import SimpleNamespace

import ibis
import numpy as np
import pandas as pd
import pytest

from journeylens.analytics import _shapley
from journeylens.analytics._shapley import SEP, shapley_values
from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.testing import journeys


def coalitions(rows: list[tuple[str, int, int, float]]) -> pd.DataFrame:
    return pd.DataFrame(
        [(SEP.join(sorted(c.split(","))), n, k, v) for c, n, k, v in rows],
        columns=["coalition", "journeys", "conversions", "revenue"],
    )


def brute_force(frame: pd.DataFrame, games: pd.Series | None = None) -> dict[str, float]:
    """Shapley over every order of the players, v(S) = Σ_T n(T)·rate(T ∩ S) as documented, the
    sum over the coalitions where ``games`` (default: every one; "" is the empty coalition)."""
    rate = {
        frozenset(filter(None, c.split(SEP))): k / n
        for c, n, k in frame[["coalition", "journeys", "conversions"]].itertuples(index=False)
    }
    counted = frame["journeys"] if games is None else frame["journeys"].where(games, 0)

    def f(group: frozenset[str]) -> float:
        if group in rate:
            return rate[group]
        return max((r for s, r in rate.items() if s <= group), default=0.0)

    def v(members: frozenset[str]) -> float:
        return sum(n * f(t & members) for t, n in zip(rate, counted, strict=True) if n)

    players = sorted(set().union(*rate))
    totals = dict.fromkeys(players, 0.0)
    for order in itertools.permutations(players):
        seen: frozenset[str] = frozenset()
        for player in order:
            totals[player] += v(seen | {player}) - v(seen)
            seen = seen | {player}
    return {p: total / factorial(len(players)) for p, total in totals.items()}


def values(frame: pd.DataFrame) -> dict[str, float]:
    return shapley_values(frame).set_index("key")["conversions"].to_dict()


def test_efficiency_values_add_up_to_all_conversions_and_revenue():
    frame = coalitions(
        [("a", 10, 3, 30.0), ("b", 8, 1, 5.0), ("a,b", 5, 4, 60.0), ("a,b,c", 4, 1, 9.0)]
    )
    result = shapley_values(frame)
    assert result["conversions"].sum() == pytest.approx(9)
    assert result["revenue"].sum() == pytest.approx(104)


def test_symmetric_touchpoints_get_the_same_credit():
    frame = coalitions([("a", 10, 4, 0.0), ("b", 10, 4, 0.0), ("a,b", 10, 6, 0.0)])
    # Each single journey type keeps its own 4; in a,b each adds 0.4 alone and 0.2 after the
    # other, so each gets 10·(0.4 + 0.2)/2 = 3.
    assert values(frame) == pytest.approx({"a": 7.0, "b": 7.0})


def test_null_player_gets_nothing():
    # z only ever joins a, and a converts at the same rate with or without it.
    frame = coalitions([("a", 10, 5, 0.0), ("a,z", 20, 10, 0.0), ("b", 4, 1, 0.0)])
    assert values(frame)["z"] == pytest.approx(0.0)


def test_unseen_coalition_takes_the_best_seen_part():
    # a,b,c was seen, a,b was not: it is given a's rate (the best seen subset), so c's
    # marginal after a,b is 0.9 - 0.5.
    frame = coalitions([("a", 10, 5, 0.0), ("b", 10, 1, 0.0), ("a,b,c", 10, 9, 0.0)])
    assert values(frame) == pytest.approx(brute_force(frame))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_agrees_with_brute_force_on_random_games(seed):
    rng = np.random.default_rng(seed)
    players = list("abcde")
    rows = []
    for size in (1, 2, 3):
        for group in itertools.combinations(players, size):
            if rng.random() < 0.6:
                n = int(rng.integers(1, 30))
                rows.append((",".join(group), n, int(rng.integers(0, n + 1)), 0.0))
    frame = coalitions(rows)
    assert values(frame) == pytest.approx(brute_force(frame))


@pytest.mark.parametrize(
    ("lookup_cost", "shared_cells"), [(0, float("inf")), (10**9, float("inf")), (0, 0)]
)
@pytest.mark.parametrize("seed", [0, 1])
def test_per_coalition_exact_agrees_with_brute_force(monkeypatch, seed, lookup_cost, shared_cells):
    # Above 15 values in all, each coalition's game is solved on its own members: lattice by
    # lattice, the observed coalitions inside each found by looking its subsets up (cost 0) or
    # by testing them all, or all games at once on their shared subsets (shared_cells 0).
    monkeypatch.setattr(_shapley, "LOOKUP_COST", lookup_cost)
    monkeypatch.setattr(_shapley, "SHARED_CELLS", shared_cells)
    rng = np.random.default_rng(seed)
    rows = [
        (",".join(g), int(n), int(rng.integers(0, n + 1)), 0.0)
        for g in itertools.combinations("abcde", 2)
        if (n := rng.integers(1, 30)) and rng.random() < 0.7
    ]
    rows += [("a", 10, 3, 0.0), ("b,c,d", 7, 5, 0.0)]
    frame = coalitions(rows)
    monkeypatch.setattr(_shapley, "EXACT_MAX", 3)
    assert values(frame) == pytest.approx(brute_force(frame))


def test_sampling_approximates_the_exact_values_and_keeps_the_total(monkeypatch):
    frame = coalitions(
        [
            ("a", 10, 2, 0.0),
            ("b", 10, 3, 0.0),
            ("a,b", 6, 3, 0.0),
            ("a,b,c,d", 8, 6, 0.0),
            ("c,d", 5, 1, 0.0),
        ]
    )
    exact = values(frame)
    monkeypatch.setattr(_shapley, "EXACT_MAX", 1)
    sampled = shapley_values(frame, samples=4000, seed=5).set_index("key")["conversions"]
    assert sampled.sum() == pytest.approx(sum(exact.values()))
    assert sampled.to_dict() == pytest.approx(exact, abs=0.1)
    again = shapley_values(frame, samples=4000, seed=5).set_index("key")["conversions"]
    assert again.to_dict() == sampled.to_dict()


def test_shapley_through_the_engine_uses_non_converting_journeys():
    # a converts 1 of 2 journeys alone (ann, bob), a,b converts 1 of 1 (cy): b raises a's rate.
    people = {
        "ann": [("a", "2026-01-01"), ("purchase", "+1h")],
        "bob": [("a", "2026-01-01")],
        "cy": [("b", "2026-01-01"), ("a", "+1h"), ("b", "+1h"), ("purchase", "+1h")],
    }
    result = run_attribution(ibis.memtable(journeys(people)), AttributionSpec("shapley"))
    # a,b: b alone was never seen (rate 0), a alone 1/2 → a gets (1/2 + 1)/2, b gets 1/4.
    assert result.pivot()["shapley"].to_dict() == pytest.approx({"a": 1.75, "b": 0.25})


@pytest.mark.parametrize(("seed", "players"), [(0, 6), (1, 6), (2, 1), (3, 9)])
def test_the_lattice_game_is_the_sum_over_coalitions_of_their_parts(seed, players):
    # v(S) = Σ_T n(T) f(T ∩ S), summed coalition by coalition, against the transforms.
    rng = np.random.default_rng(seed)
    masks = np.unique(rng.integers(1, 1 << players, 3 * players))
    journeys = rng.integers(1, 30, len(masks))
    game = SimpleNamespace(players=list(range(players)), masks=masks, journeys=journeys)
    f = rng.random((1 << players, 2)) * [1.0, 100.0]
    f[0] = 0.0
    subsets = np.arange(1 << players)
    expected = sum(n * f[t & subsets] for t, n in zip(masks, journeys, strict=True))
    assert _shapley._game(game, f.copy()) == pytest.approx(expected, rel=1e-12, abs=1e-9)


def without_hashes(monkeypatch) -> None:
    """Every player's keys 0: every coalition alike in its hashes, so each coalition tests
    every observed one instead of looking its subsets up."""
    monkeypatch.setattr(_shapley, "_player_keys", lambda n: np.zeros((2, n), dtype=np.int64))


@pytest.mark.parametrize("hashed", [True, False])
def test_past_62_players_each_coalition_finds_its_observed_subsets(monkeypatch, hashed):
    # 40 independent pairs (80 players, masks wider than int64): each pair's credit is what
    # the pair alone gets, as in a game of two; subsets looked up by their hashes, or (two
    # coalitions alike in a hash) every observed coalition tested.
    if not hashed:
        without_hashes(monkeypatch)
    pair = pd.DataFrame(
        {
            "coalition": ["a", "a" + SEP + "b", "b"],
            "journeys": [10, 10, 10],
            "conversions": [2, 7, 1],
            "revenue": [20.0, 70.0, 10.0],
        }
    )
    alone = shapley_values(pair).set_index("key")
    rows = [
        pair.assign(
            coalition=pair["coalition"].str.replace("a", f"a{i:02d}").str.replace("b", f"b{i:02d}")
        )
        for i in range(40)
    ]
    values = shapley_values(pd.concat(rows, ignore_index=True)).set_index("key")
    assert len(values) == 80
    for i in (0, 17, 39):
        for player in ("a", "b"):
            got = values.loc[f"{player}{i:02d}", ["conversions", "revenue"]].tolist()
            assert got == pytest.approx(alone.loc[player, ["conversions", "revenue"]].tolist())
    assert values["conversions"].sum() == pytest.approx(40 * 10)


@pytest.mark.parametrize("seed", [0, 1])
def test_hashed_look_ups_find_what_testing_every_coalition_finds(monkeypatch, seed):
    # 70 players; coalitions of 3-6 with some of their subsets observed too.
    rng = np.random.default_rng(seed)
    names = [f"p{i:02d}" for i in range(70)]
    groups: set[tuple[str, ...]] = set()
    for _ in range(60):
        group = sorted(rng.choice(names, int(rng.integers(3, 7)), replace=False))
        groups.add(tuple(group))
        for _ in range(3):
            part = [m for m in group if rng.random() < 0.5]
            if part:
                groups.add(tuple(part))
    rows = []
    for group in sorted(groups):
        n = int(rng.integers(1, 40))
        rows.append((",".join(group), n, int(rng.integers(0, n + 1)), float(rng.random() * 99)))
    hashed = shapley_values(coalitions(rows))
    without_hashes(monkeypatch)
    tested = shapley_values(coalitions(rows))
    assert len(hashed) > 62
    assert hashed["key"].tolist() == tested["key"].tolist()
    for measure in ("conversions", "revenue"):
        assert hashed[measure].tolist() == pytest.approx(tested[measure].tolist(), rel=1e-12)
    assert hashed["conversions"].sum() == pytest.approx(sum(r[2] for r in rows))


def test_a_sampled_coalition_past_62_players_credits_as_among_few(monkeypatch):
    # A coalition of 17 (sampled) with some of its parts, beside 60 players of pairs of their
    # own: its members (the lowest names, so the same masks and draws) get what they get when
    # they are the only players.
    rng = np.random.default_rng(3)
    members = [f"a{i:02d}" for i in range(17)]
    rows = [(",".join(members), 40, 21, 900.0)]
    for _ in range(25):
        part = [m for m in members if rng.random() < 0.4] or members[:1]
        rows.append((",".join(part), int(rng.integers(5, 30)), int(rng.integers(0, 5)), 10.0))
    rows = list({r[0]: r for r in rows}.values())
    others = [(f"z{i:02d},z{i + 1:02d}", 10, 3, 30.0) for i in range(0, 60, 2)]
    few = shapley_values(coalitions(rows), samples=200).set_index("key")
    many = shapley_values(coalitions(rows + others), samples=200).set_index("key")
    assert len(many) == 77
    for measure in ("conversions", "revenue"):
        got = many.loc[members, measure].tolist()
        assert got == pytest.approx(few.loc[members, measure].tolist(), rel=1e-9)
    assert many["conversions"].sum() == pytest.approx(sum(r[2] for r in rows + others))


def as_masks(frame: pd.DataFrame, players: list[str]) -> pd.DataFrame:
    """``frame``'s coalitions as :func:`build_coalitions` gives them: int64 masks of 62 players."""
    words = -(-len(players) // _shapley.WORD)
    masks = np.zeros((len(frame), words), dtype=np.int64)
    for row, coalition in enumerate(frame["coalition"]):
        for member in coalition.split(SEP):
            i = players.index(member)
            masks[row, i // _shapley.WORD] |= 1 << (i % _shapley.WORD)
    columns = {f"mask_{w}": masks[:, w] for w in range(words)}
    return pd.DataFrame(columns).join(frame.drop(columns="coalition"))


@pytest.mark.parametrize(("players", "exact_max"), [(8, 15), (20, 15), (20, 4), (70, 15)])
def test_masks_give_the_values_names_give_in_any_row_order(monkeypatch, players, exact_max):
    # The engine's masks (over every player, some held by no coalition) and the names agree;
    # neither the exact sums nor the sampling (coalitions past exact_max) follow the row order.
    monkeypatch.setattr(_shapley, "EXACT_MAX", exact_max)
    rng = np.random.default_rng(players)
    names = [f"p{i:02d}" for i in range(players + 3)]
    rows = []
    for _ in range(60):
        size = int(rng.integers(1, 7))
        members = rng.choice(players, size, replace=False)
        n = int(rng.integers(1, 40))
        rows.append((",".join(names[m] for m in members), n, int(rng.integers(0, n + 1)), 9.5))
    frame = coalitions(rows).drop_duplicates("coalition", ignore_index=True)
    by_name = shapley_values(frame, samples=50, seed=3)
    shuffled = as_masks(frame, names).sample(frac=1.0, random_state=1, ignore_index=True)
    by_mask = _shapley.coalition_values(shuffled, names, samples=50, seed=3)
    assert by_mask["key"].tolist() == by_name["key"].tolist()
    for column in ("conversions", "revenue"):
        assert by_mask[column].to_numpy() == pytest.approx(by_name[column].to_numpy(), rel=1e-12)
    assert by_mask["conversions"].sum() == pytest.approx(frame["conversions"].sum())


@pytest.mark.parametrize(
    ("shape", "axis"), [((512,), 0), ((2, 512), 1), ((512, 3), 0), ((8, 40), 0)]
)
def test_subset_max_is_the_maximum_over_each_subset(shape, axis):
    # Every layout the solver uses: a lattice alone (its low bits turned to lead), several side
    # by side, and a small lattice.
    rng = np.random.default_rng(len(shape) + axis)
    lattice = rng.integers(0, 1000, shape).astype(np.int32)
    expected = np.empty_like(lattice)
    size = shape[axis]
    for u in range(size):
        inside = [s for s in range(size) if s & ~u == 0]
        expected.swapaxes(0, axis)[u] = lattice.swapaxes(0, axis)[inside].max(axis=0)
    _shapley._subset_max(lattice, axis)
    assert (lattice == expected).all()


def test_member_index_is_the_local_index_a_byte_at_a_time():
    # Masks over three words (past 62 players), members spread over all of them.
    rng = np.random.default_rng(11)
    words = [rng.integers(0, 1 << _shapley.WORD, 300) for _ in range(3)]
    for size in (0, 1, 9, 40):
        bits = sorted(rng.choice(3 * _shapley.WORD, size, replace=False).tolist())
        expected = _shapley._local_index(_shapley._joined(words), bits).astype(np.int64)
        assert (_shapley._member_index(words, bits) == expected).all()


def test_a_sampled_lattice_ends_in_order_as_the_lattice_solved_alone():
    # 18 members: the lattice filled rotated, its 8 lowest bits turned to the top 4 at a time.
    rng = np.random.default_rng(12)
    masks = {(1 << 18) - 1} | {int(m) for m in rng.integers(1, 1 << 18, 3000)}
    game = _shapley._Game.of_masks(mask_rows(masks, rng), [f"p{i:02d}" for i in range(18)])
    inside = game.inside(len(game.sizes) - 1)
    local = game.masks[inside]
    expected = _shapley._best_places(game, local, inside, (1 << 18,))
    assert (_shapley._lattice_places(game, local, inside, 18) == expected).all()


def test_rates_share_a_place_and_fit_uint16_up_to_65536():
    ranks = _shapley._Ranks(np.array([0.5, 0.0, 0.25, 0.5]))
    assert ranks.values.tolist() == [0.0, 0.25, 0.5]
    assert ranks.of.tolist() == [2, 0, 1, 2]
    assert ranks.zero == 0
    assert ranks.dtype == np.uint16
    assert _shapley._Ranks(np.arange(1, 1 << 16) / (1 << 16)).dtype == np.uint16
    many = _shapley._Ranks(np.arange(1, 1 << 17) / (1 << 17))
    assert many.dtype == np.int32
    assert many.of.max() == (1 << 17) - 1


def mask_rows(masks: set[int], rng: np.random.Generator) -> pd.DataFrame:
    """Coalitions by mask with random journeys, conversions and revenue."""
    n = rng.integers(1, 50, len(masks))
    return pd.DataFrame(
        {
            "mask_0": np.array(sorted(masks), dtype=np.int64),
            "journeys": n,
            "conversions": rng.integers(0, n + 1),
            "revenue": rng.random(len(masks)) * 500,
        }
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shared_subsets_give_what_the_lattices_give(seed):
    # 24 players, coalitions of up to 12 sharing many subsets, one of them empty (journeys
    # that touched none of the players): the two ways of solving the exact games agree, and
    # the choice between them goes to the shared subsets for such large coalitions.
    rng = np.random.default_rng(seed)
    players = [f"p{i:02d}" for i in range(24)]
    masks = {0}
    for _ in range(150):
        members = rng.choice(24, int(rng.integers(1, 13)), replace=False)
        masks.add(int(np.bitwise_or.reduce(np.left_shift(1, members))))
        masks.add(int(np.bitwise_or.reduce(np.left_shift(1, members[: len(members) // 2]))))
    rows = mask_rows(masks, rng)
    game = _shapley._Game.of_masks(rows, players)
    every = np.arange(len(game.sizes))
    assert _shapley._shares_subsets(game, every)
    shared, lattices = _shapley._shared_games(game, every), _shapley._small_games(game, every)
    assert shared == pytest.approx(lattices, rel=1e-12, abs=1e-9)
    # Every coalition's values add up to its conversions and revenue but the empty one's.
    assert shared.sum(axis=0) == pytest.approx(
        rows.loc[rows["mask_0"] != 0, ["conversions", "revenue"]].sum().to_numpy()
        - rows.loc[rows["mask_0"] != 0, "journeys"].sum() * game.rates[0]
    )


def blocks_of_width(monkeypatch: pytest.MonkeyPatch, low: int) -> None:
    """The shared subsets laid out with ``low`` players in each block, whatever they hold."""
    monkeypatch.setattr(_shapley, "LOW_MAX", low)
    monkeypatch.setattr(_shapley, "LOW_MIN", 0)
    monkeypatch.setattr(_shapley, "SPREAD", float("inf"))


@pytest.mark.parametrize("low", [0, 1, 3, 6, 20])
@pytest.mark.parametrize("seed", [0, 1])
def test_blocks_of_any_width_give_what_the_lattices_give(monkeypatch, seed, low):
    # 20 players, coalitions of 1 to 12 members and the empty one: each subset a block of its
    # own (low 0), blocks of 2, 8 or 64 parts, or one block of all 2^20 (low 20).
    rng = np.random.default_rng(seed)
    masks = {0}
    for size in rng.integers(1, 13, 120):
        members = rng.choice(20, int(size), replace=False)
        masks.add(int(np.bitwise_or.reduce(np.left_shift(1, members))))
    game = _shapley._Game.of_masks(mask_rows(masks, rng), [f"p{i:02d}" for i in range(20)])
    every = np.arange(len(game.sizes))
    blocks_of_width(monkeypatch, low)
    assert _shapley._Blocks.of(game.words[0], 20).low == low
    shared = _shapley._shared_games(game, every)
    assert shared == pytest.approx(_shapley._small_games(game, every), rel=1e-12, abs=1e-9)


EDGES = {
    "a single coalition": lambda sizes: sizes == 5,
    "the empty coalition": lambda sizes: sizes == 0,
    "every coalition of one member": lambda sizes: sizes == 1,
    "every coalition": lambda sizes: sizes >= 0,
}


@pytest.mark.parametrize("low", [0, 2, 6])
@pytest.mark.parametrize("edge", EDGES)
def test_blocks_solve_the_games_of_few_coalitions_as_brute_force(monkeypatch, edge, low):
    # Six players, coalitions of none to five members; the games of some of them solved on
    # their shared subsets, each subset's rate read from every observed coalition.
    rng = np.random.default_rng(3)
    names = list("abcdef")
    masks = {0, 1, 2, 4, 8, 16, 32, 0b11, 0b110, 0b1001, 0b110000, 0b10101, 0b111000, 0b11111}
    rows = mask_rows(masks, rng)
    game = _shapley._Game.of_masks(rows, names)
    chosen = np.flatnonzero(EDGES[edge](game.sizes))
    blocks_of_width(monkeypatch, low)
    shared = _shapley._shared_games(game, chosen)
    assert shared == pytest.approx(_shapley._small_games(game, chosen), rel=1e-12, abs=1e-12)
    by_name = coalitions(
        [
            (",".join(n for i, n in enumerate(names) if mask >> i & 1), journeys, won, 0.0)
            for mask, journeys, won in rows[["mask_0", "journeys", "conversions"]].to_numpy()
        ]
    )
    chosen_masks = set(game.words[0][chosen].tolist())
    expected = brute_force(by_name, rows["mask_0"].isin(chosen_masks))
    assert dict(zip(names, shared[:, 0], strict=True)) == pytest.approx(expected, abs=1e-12)


def random_coalitions(rng: np.random.Generator, chances: np.ndarray) -> np.ndarray:
    """One coalition's mask per row of ``chances``, holding player ``i`` with chance ``[:, i]``."""
    held = rng.random(chances.shape) < chances
    return held.astype(np.int64) @ (np.int64(1) << np.arange(chances.shape[1]))


def test_blocks_are_wide_where_the_coalitions_share_their_first_players():
    # Coalitions holding most of eight common players and a few of 28 others: blocks of the
    # common ones are nearly full. Coalitions of about three players out of 36 fill no block.
    rng = np.random.default_rng(2)
    common = random_coalitions(rng, np.where(np.arange(36) < 8, 0.9, 0.1) * np.ones((300, 1)))
    wide = _shapley._Blocks.of(common, 36)
    assert wide.low >= _shapley.LOW_MIN
    assert set(wide.order[:8]) == set(range(8))  # the common ones first
    spread = random_coalitions(rng, np.full((300, 36), 3 / 36))
    assert _shapley._Blocks.of(spread, 36).low == 0


def test_blocks_too_many_cells_fall_back_to_one_subset_each(monkeypatch):
    # Blocks of all 2^12 parts of twelve players, one per subset of the thirteenth (2 blocks,
    # 2^12 + 1 subsets): past SHARED_MAX cells, the subsets go one by one; past it with them
    # too, None.
    masks = np.array([(1 << 12) - 1, 1 << 12], dtype=np.int64)
    blocks_of_width(monkeypatch, 12)
    assert _shapley._Blocks.of(masks, 13).cells == 2 << 12
    monkeypatch.setattr(_shapley, "SHARED_MAX", (2 << 12) - 1)
    one_each = _shapley._Blocks.of(masks, 13)
    assert (one_each.low, one_each.cells) == (0, (1 << 12) + 1)
    monkeypatch.setattr(_shapley, "SHARED_MAX", 1 << 12)
    assert _shapley._Blocks.of(masks, 13) is None


def test_the_down_set_holds_every_subset_once(monkeypatch):
    masks = np.array([0b1011, 0b0110], dtype=np.int64)
    expected = sorted({s for m in (0b1011, 0b0110) for s in range(16) if s & ~m == 0})
    assert _shapley._down_set(masks, 4).tolist() == expected
    monkeypatch.setattr(_shapley, "SHARED_MAX", len(expected) - 1)  # one subset too many
    assert _shapley._down_set(masks, 4) is None
    monkeypatch.setattr(_shapley, "SHARED_MAX", 2 * len(expected))  # each a block of 2 cells
    assert _shapley._down_set(masks, 4, low=1) is not None
    assert _shapley._down_set(masks, 4, low=2) is None


def test_coalitions_sharing_too_few_subsets_are_solved_lattice_by_lattice(monkeypatch):
    # Past SHARED_MAX subsets the shared way gives up and the lattices give the same values.
    rng = np.random.default_rng(7)
    players = [f"p{i:02d}" for i in range(20)]
    masks = np.unique(rng.integers(1, 1 << 20, 60))
    n = rng.integers(1, 30, len(masks))
    rows = pd.DataFrame(
        {"mask_0": masks, "journeys": n, "conversions": rng.integers(0, n + 1), "revenue": 1.0}
    )
    monkeypatch.setattr(_shapley, "SHARED_CELLS", 0)  # the shared way wanted
    shared = _shapley.coalition_values(rows, players)
    game = _shapley._Game.of_masks(rows, players)
    assert _shapley._shared_games(game, np.arange(len(game.sizes))) is not None
    monkeypatch.setattr(_shapley, "SHARED_MAX", 100)
    assert _shapley._shared_games(game, np.arange(len(game.sizes))) is None
    fallen_back = _shapley.coalition_values(rows, players)
    for column in ("conversions", "revenue"):
        assert fallen_back[column].to_numpy() == pytest.approx(shared[column].to_numpy(), rel=1e-12)


def test_a_coalition_past_the_lattice_reads_each_subsets_rate_as_documented():
    # 30 members (past LATTICE_MAX): each subset's f is the observed rate where the subset is
    # an observed coalition, else the best rate of the observed coalitions it holds, else 0.
    rng = np.random.default_rng(5)
    members = [f"m{i:02d}" for i in range(30)]
    rows = [(",".join(members), 50, 20, 500.0)]
    for _ in range(40):
        part = [m for m in members if rng.random() < 0.3] or members[:1]
        rows.append((",".join(part), int(rng.integers(5, 30)), int(rng.integers(0, 5)), 7.0))
    rows = list({",".join(sorted(r[0].split(","))): r for r in rows}.values())
    game = _shapley._Game.of_names(coalitions(rows))
    row = int(np.argmax([len(game.bits(int(m))) for m in game.masks]))
    bits, inside = game.bits(int(game.masks[row])), game.inside(row)
    assert len(bits) == 30 > _shapley.LATTICE_MAX
    f = _shapley._rates_inside(game, bits, inside)
    local = [sum(1 << bits.index(b) for b in game.bits(int(m))) for m in game.masks[inside]]
    rates = game.rates[inside]
    subsets = rng.integers(0, 1 << 30, size=(50, 30))
    subsets[0, :5] = local[:5]  # observed coalitions themselves
    got = np.moveaxis(f(subsets), 0, -1)  # the measures last
    for index, subset in np.ndenumerate(subsets):
        held = [i for i, m in enumerate(local) if m & ~int(subset) == 0]
        exact = [i for i in held if local[i] == int(subset)]
        want = rates[exact[0]] if exact else (rates[held].max(0) if held else np.zeros(2))
        assert got[index].tolist() == pytest.approx(want.tolist()), (index, subset)


def test_an_exact_null_players_credit_is_zero_not_a_rounding():
    # push adds nothing to any coalition: its Shapley value is a difference of equal sums,
    # -4e-17 before it is snapped (the table showed -0.00); ad's 0.9999999999999999 stays.
    people = {
        "hal": [("home", "2026-03-02"), ("purchase", "+1h")],
        "ann": [("ad", "2026-03-02"), ("push", "+1d"), ("home", "+1d"), ("purchase", "+1h")],
        "bob": [("ad", "2026-03-02"), ("mail", "+1d"), ("purchase", "+1d")],
        "cy": [("blog", "2026-03-02"), ("ad", "+1d"), ("purchase", "+1d")],
    }
    result = run_attribution(ibis.memtable(journeys(people)), AttributionSpec("shapley"))
    credit = result.to_frame().set_index("touchpoint")["conversions"]
    assert credit["push"] == 0.0
    assert str(credit["push"]) == "0.0"
    assert credit.sum() == pytest.approx(4)
