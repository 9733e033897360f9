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

from dataclasses import dataclass

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


def _state(touches: ir.Table, order: int, back: int = 0) -> ir.StringValue:
    """The state at the touch ``back`` places earlier: its key and up to ``order - 1`` before it,
    within the journey (``prev_<b>`` is the key ``b`` touches earlier, there when ``pos > b``)."""
    state = touches.key if back == 0 else touches[f"prev_{back}"]
    for b in range(back + 1, back + order):
        state = ibis.ifelse(touches.pos > b, touches[f"prev_{b}"] + SEP + state, state)
    return state


def build_transitions(touches: ir.Table, order: int = 1) -> ir.Table:
    """Transition counts ``from``, ``to``, ``count``, ``revenue`` between chain states.

    ``touches`` needs the lags ``prev_1`` … ``prev_<order>`` (``build_touches(..., lags=order)``):
    each touch gives one transition from the state before it, so this is one aggregate, no window.
    Where the touches carry a breakdown's ``segment``, the counts are per segment (its first
    column): every segment's chain in the same query.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> from journeylens.analytics._touches import build_touches
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> frame = build_transitions(build_touches(table, ["purchase"], 10**7, lags=1)).execute()
    >>> sorted(zip(frame["from"], frame["to"]))
    [('(start)', 'ad'), ('ad', '(conversion)')]
    """
    state = _state(touches, order)
    segments = segment_columns(touches)
    steps = touches.select(
        *segments,
        src=ibis.ifelse(touches.pos == 1, START, _state(touches, order, back=1)),
        dst=state,
        revenue=ibis.literal(0.0),
        **weight_of(touches),
    )
    last = touches.filter(touches.pos == touches.n)
    ends = last.select(
        *segments,
        src=_state(last, order),
        dst=ibis.ifelse(last.converted == 1, CONVERSION, NULL),
        revenue=last.revenue,
        **weight_of(last),
    )
    both = steps.union(ends)
    return (
        both.group_by([*segments, "src", "dst"])
        .aggregate(count=journeys_of(both), revenue=summed(both.revenue, both))
        .rename({"from": "src", "to": "dst"})
    )


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
