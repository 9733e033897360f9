"""Markov-chain attribution: transition counts from the engine, exact removal effects in numpy.

The chain's states are the last ``order`` touches of a journey (the first states of a journey are
shorter: ``a``, then ``a>b``, ...), plus ``(start)`` and the absorbing ``(conversion)`` and
``(null)``. The engine returns one row per observed transition with its count and, for transitions
into ``(conversion)``, the revenue of those conversions.

Removing a value ``c`` sends every state that contains ``c`` to ``(null)``. The probability of
reaching ``(conversion)`` from ``(start)`` is solved exactly from the absorbing chain — no
simulation, so the result is deterministic. With the fundamental matrix ``N = (I − Q)⁻¹`` (one
inversion for every value) and ``x = N r`` the probability of converting from each state, the
probability without the states ``S`` that contain ``c`` is ``x[start] − h · x[S]``, where
``h = N[start, S] · N[S, S]⁻¹`` is the probability that a journey first enters ``S`` at each of
its states (a visit to ``S`` now ends the journey; before, it went on to convert with ``x``).
At order 1, ``S`` is one state and ``h = N[start, c] / N[c, c]``: thousands of campaigns take
one inversion, not one solve each. The removal effect is ``1 − P(without c) / P``; removing
states can only lower the probability, so it lies in [0, 1] (rounding below 0 is clipped). The
value removal effect weights each path into ``(conversion)`` by the mean revenue of the
conversions it carried. Conversions and revenue are then shared in proportion to the removal
effects, so they sum to the totals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeylens.analytics._touches import journeys_of, summed, weight_of
from journeylens.analytics.breakdown import segment_columns

START, CONVERSION, NULL = "(start)", "(conversion)", "(null)"
# Joins the values of a state of order 2 or more: a character no touchpoint, channel or campaign
# name carries (names such as ``Home > Shop`` do carry ``>``). Shown as ``SHOWN_SEP``.
SEP = "\x1f"
SHOWN_SEP = ">"
# The fundamental matrix is dense: 6000 states hold 288 MB and invert in about 20 s here.
MAX_STATES = 6000


def _state(touches: ir.Table, order: int, back: int = 0) -> list[ir.Value]:
    """The state at the touch ``back`` places earlier, as ``order`` columns, its newest value
    first: the key, then up to ``order - 1`` before it within the journey (``prev_<b>`` is the
    key ``b`` touches earlier, there when ``pos > b``), null past the journey's start."""
    keys = [touches.key, *(touches[f"prev_{b}"] for b in range(1, back + order))]
    return [
        keys[b] if b == 0 else ibis.ifelse(touches.pos > b, keys[b], ibis.null(keys[b].type()))
        for b in range(back, back + order)
    ]


def build_transitions(touches: ir.Table, order: int = 1) -> ir.Table:
    """Transition counts between chain states, as the touches' keys: ``from_0`` … and ``to_0``
    … (each state's values, newest first, null past its length; every ``from`` null: the
    state ``(start)``), ``end`` (1 into ``(conversion)``, 0 into ``(null)``, else null), then
    ``count`` and ``revenue``. :func:`transition_counts` names the states.

    ``touches`` needs the lags ``prev_1`` … ``prev_<order>`` (``build_touches(..., lags=order)``):
    each touch gives one transition from the state before it, so this is one aggregate, no window.
    The states are grouped by the keys as they are (codes where the touches are coded) and only
    the counts are named. Where the touches carry a breakdown's ``segment``, the counts are per
    segment (its first column): every segment's chain in the same query.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> from journeylens.analytics._touches import build_touches
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> rows = build_transitions(build_touches(table, ["purchase"], 10**7, lags=1)).execute()
    >>> frame = transition_counts(rows)
    >>> sorted(zip(frame["from"], frame["to"]))
    [('(start)', 'ad'), ('ad', '(conversion)')]
    """
    segments = segment_columns(touches)
    key = touches.key.type()

    def step(src: list[ir.Value], dst: list[ir.Value], end: ir.Value, revenue: ir.Value) -> Any:
        return {
            **{f"from_{b}": value for b, value in enumerate(src)},
            **{f"to_{b}": value for b, value in enumerate(dst)},
            "end": end,
            "revenue": revenue,
        }

    steps = touches.select(
        *segments,
        **step(
            _state(touches, order, back=1),
            _state(touches, order),
            ibis.null("int8"),
            ibis.literal(0.0),
        ),
        **weight_of(touches),
    )
    last = touches.filter(touches.pos == touches.n)
    ends = last.select(
        *segments,
        **step(
            _state(last, order),
            [ibis.null(key)] * order,
            last.converted.cast("int8"),
            last.revenue,
        ),
        **weight_of(last),
    )
    both = steps.union(ends)
    states = [c for c in both.columns if c.startswith(("from_", "to_"))]
    return both.group_by([*segments, *states, "end"]).aggregate(
        count=journeys_of(both), revenue=summed(both.revenue, both)
    )


def transition_counts(
    rows: pd.DataFrame, names: Callable[[pd.Series], pd.Series] | None = None
) -> pd.DataFrame:
    """The rows of :func:`build_transitions` with their states named: ``from``, ``to`` (a
    state's values oldest first, joined by ``SEP``; ``(start)``, ``(conversion)``, ``(null)``),
    ``count``, ``revenue``, after the segment where there is one. ``names`` gives each key's
    name (the keys are the names where it is not given).

    Examples
    --------
    >>> rows = pd.DataFrame({"from_0": [None, 7], "to_0": [7, None], "end": [None, 1],
    ...                      "count": [3, 3], "revenue": [0.0, 9.0]})
    >>> named = transition_counts(rows, lambda keys: keys.map({7: "ad"}))
    >>> named[["from", "to"]].values.tolist()
    [['(start)', 'ad'], ['ad', '(conversion)']]
    """
    ends = rows["end"]
    return pd.DataFrame(
        {
            **{c: rows[c] for c in segment_columns(rows)},
            "from": _named_states(rows, "from_", names).fillna(START),
            "to": _named_states(rows, "to_", names)
            .mask(ends == 1, CONVERSION)
            .mask(ends == 0, NULL),
            "count": rows["count"],
            "revenue": rows["revenue"],
        }
    ).reset_index(drop=True)


def _named_states(
    rows: pd.DataFrame, prefix: str, names: Callable[[pd.Series], pd.Series] | None
) -> pd.Series:
    """The states in the columns ``<prefix>0`` … (newest value first) as text, oldest value
    first, joined by ``SEP``; null where the state has no value."""
    newest_first = sorted(
        (c for c in rows.columns if c.startswith(prefix)), key=lambda c: int(c[len(prefix) :])
    )
    state = pd.Series(None, index=rows.index, dtype=object)
    for column in reversed(newest_first):
        keys = rows[column].dropna()
        value = (names(keys) if names else keys).astype(str).reindex(rows.index)
        joined = state.where(state.isna(), state + SEP + value)
        state = joined.where(state.notna(), value).where(value.notna(), state)
    return state


def components(state: str) -> frozenset[str]:
    """The values a state is made of (``"a\\x1fb"`` → ``{a, b}``)."""
    return frozenset() if state == START else frozenset(state.split(SEP))


@dataclass(frozen=True)
class Chain:
    """An absorbing Markov chain over transient states (``(start)`` first)."""

    states: list[str]
    q: np.ndarray  # transient → transient probabilities
    to_conversion: np.ndarray  # transient → (conversion) probabilities
    value: np.ndarray  # mean revenue of a conversion reached from each state

    @classmethod
    def from_counts(cls, counts: pd.DataFrame) -> Chain:
        """Build the chain from the ``from``/``to``/``count``/``revenue`` rows.

        Examples
        --------
        >>> rows = pd.DataFrame({"from": ["(start)", "a", "a"],
        ...                      "to": ["a", "(conversion)", "(null)"],
        ...                      "count": [2, 1, 1], "revenue": [0.0, 5.0, 0.0]})
        >>> Chain.from_counts(rows).conversion_probability()
        0.5
        """
        seen = set(counts["from"]) | set(counts["to"])
        transient = sorted(seen - {START, CONVERSION, NULL})
        states = [START, *transient]
        if len(states) > MAX_STATES:
            raise ValueError(f"{len(states)} Markov states")
        index = {s: i for i, s in enumerate(states)}
        size = len(states)
        totals = counts.groupby("from")["count"].sum()
        q = np.zeros((size, size))
        conv = np.zeros(size)
        value = np.zeros(size)
        for src, dst, count, revenue in counts[["from", "to", "count", "revenue"]].itertuples(
            index=False
        ):
            share = count / totals[src]
            if dst == CONVERSION:
                conv[index[src]] += share
                value[index[src]] = revenue / count
            elif dst != NULL:
                q[index[src], index[dst]] += share
        return cls(states, q, conv, value)

    def conversion_probability(self) -> float:
        """Probability of reaching ``(conversion)`` from ``(start)``."""
        return float(np.linalg.solve(np.eye(len(self.states)) - self.q, self.to_conversion)[0])

    def removal_effects(self) -> pd.DataFrame:
        """Removal effect of every value on conversions and on revenue, in [0, 1].

        Examples
        --------
        >>> rows = pd.DataFrame({"from": ["(start)", "a"], "to": ["a", "(conversion)"],
        ...                      "count": [1, 1], "revenue": [0.0, 5.0]})
        >>> Chain.from_counts(rows).removal_effects().to_dict("records")
        [{'key': 'a', 'removal_effect': 1.0, 'value_removal_effect': 1.0}]
        """
        members: dict[str, list[int]] = {}
        for index, state in enumerate(self.states):
            for key in components(state):
                members.setdefault(key, []).append(index)
        fundamental = np.linalg.inv(np.eye(len(self.states)) - self.q)
        # From each state: the probability of converting, and the revenue expected.
        reach = fundamental @ np.column_stack([self.to_conversion, self.to_conversion * self.value])
        base = reach[0]
        rows = []
        for key in sorted(members):
            states = members[key]
            first_entry = np.linalg.solve(
                fundamental[np.ix_(states, states)].T, fundamental[0, states]
            )
            without = base - first_entry @ reach[states]
            effect = [1 - w / b if b > 0 else 0.0 for w, b in zip(without, base, strict=True)]
            rows.append((key, *(float(np.clip(e, 0, 1)) for e in effect)))
        return pd.DataFrame(rows, columns=["key", "removal_effect", "value_removal_effect"])


def share(effects: pd.Series, total: float) -> pd.Series:
    """Split ``total`` in proportion to non-negative ``effects`` (all zero → zero shares).

    Examples
    --------
    >>> share(pd.Series([1.0, 3.0]), 8.0).tolist()
    [2.0, 6.0]
    """
    weight = effects.sum()
    return effects * (total / weight) if weight > 0 else effects * 0.0


def transition_matrix(counts: pd.DataFrame) -> pd.DataFrame:
    """Rows ``from``, ``to``, ``count``, ``probability`` (each ``from`` sums to 1); a state of
    several values is shown ``a>b``.

    Examples
    --------
    >>> rows = pd.DataFrame({"from": ["(start)", "a", "a"], "to": ["a", "(null)", "(conversion)"],
    ...                      "count": [2, 1, 1], "revenue": [0.0, 0.0, 3.0]})
    >>> transition_matrix(rows)["probability"].tolist()
    [1.0, 0.5, 0.5]
    """
    frame = counts[["from", "to", "count"]].copy()
    for column in ("from", "to"):
        frame[column] = frame[column].str.replace(SEP, SHOWN_SEP, regex=False)
    frame["probability"] = frame["count"] / frame.groupby("from")["count"].transform("sum")
    return frame.sort_values(["from", "to"]).reset_index(drop=True)
