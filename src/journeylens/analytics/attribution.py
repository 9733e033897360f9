"""Attribution: how much of the conversions and revenue each touchpoint, channel or campaign earns.

Journeys are built in the engine (:mod:`journeylens.analytics._touches`). Rule-based models are
weight functions of a touch's position ``pos`` (1-based), the journey's length ``n`` and the
seconds ``dt`` before the conversion, evaluated with window functions and summed per value in one
aggregate. Markov (:mod:`~journeylens.analytics._markov`) and Shapley
(:mod:`~journeylens.analytics._shapley`) bring back transition counts and coalition counts, which
are small, and finish in numpy.

Rule-based models give each converting journey's conversion (and revenue) to its touches:

============== ==========================================================================
model          weight of a touch
============== ==========================================================================
first_touch    1 to the first touch
last_touch     1 to the last touch
last_non_direct 1 to the last touch that is not direct; the last touch if all are direct
linear         1/n to every touch
time_decay     2^(−dt/half_life), normalised to sum to 1 per journey
u_shape        first/middle/last = 40/20/40 (configurable); middle shared equally
j_shape        20/20/60, toward the last touch
inverse_j      60/20/20, toward the first touch
============== ==========================================================================

Position-based models (u_shape, j_shape, inverse_j) with one touch give it everything; with two
touches the first and last share in the ratio of their weights (U: 50/50, J: 25/75, inverse J:
75/25). A touch is *direct* when its channel is one of ``direct_channels`` (``direct``) or
Google Analytics' ``(direct)`` (``(direct) / (none)``), or when it has neither a channel nor a
source (nothing says where it came from). Repeated touches count
each time (a journey ``a > b > a`` gives ``a`` two thirds under ``linear``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics import _markov, _shapley, _shapley_ordered
from journeylens.analytics._touches import (
    LEVELS,
    build_touches,
    conversion_events,
    journeys_of,
    summed,
)
from journeylens.analytics.result import Result, frame_records
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import parse_duration

__all__ = [
    "ALL_MODELS",
    "MODELS",
    "RULE_MODELS",
    "AttributionResult",
    "AttributionSpec",
    "attribute_touches",
    "build_journey_touches",
    "build_rule_attribution",
    "run_attribution",
]

Weights = tuple[float, float, float]
WeightFunction = Callable[[ir.Table, "AttributionSpec"], ir.FloatingValue]
JOURNEY = ("person", "journey")


def _first(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    return (t.pos == 1).cast("float64")


def _last(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    return (t.pos == t.n).cast("float64")


def _last_non_direct(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    chosen = t.last_non_direct_pos
    return ibis.ifelse(chosen > 0, t.pos == chosen, t.pos == t.n).cast("float64")


def _linear(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    return 1.0 / t.n.cast("float64")


def _decay(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    # Relative to the journey's latest touch, so long journeys never underflow to 0/0.
    return (-(t.dt - t.latest_dt).cast("float64") * (math.log(2) / spec.half_life_seconds)).exp()


def _time_decay(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
    return t.decay / t.decay_total


def _position(pick: Callable[[AttributionSpec], Sequence[float]]) -> WeightFunction:
    def weight(t: ir.Table, spec: AttributionSpec) -> ir.FloatingValue:
        first, middle, last = pick(spec)
        ends = first + last
        two_first = first / ends if ends > 0 else 0.5
        many = ibis.cases(
            (t.pos == 1, first),
            (t.pos == t.n, last),
            else_=middle / (t.n - 2).cast("float64"),
        )
        two = ibis.ifelse(t.pos == 1, two_first, 1.0 - two_first)
        return ibis.cases((t.n == 1, 1.0), (t.n == 2, two), else_=many).cast("float64")

    return weight


RULE_MODELS: dict[str, WeightFunction] = {
    "first_touch": _first,
    "last_touch": _last,
    "last_non_direct": _last_non_direct,
    "linear": _linear,
    "time_decay": _time_decay,
    "u_shape": _position(lambda s: s.u_shape),
    "j_shape": _position(lambda s: s.j_shape),
    "inverse_j": _position(lambda s: s.inverse_j),
}
# "all": every model but ordered Shapley, which costs one more sort (a window over each journey's
# first touches) and a solve per distinct sequence; ask for it by name.
ALL_MODELS = (*RULE_MODELS, "markov", "shapley")
MODELS = (*ALL_MODELS, "shapley_ordered")


def _weights(name: str, value: Sequence[float]) -> Weights:
    parts = tuple(float(v) for v in value)
    if len(parts) != 3 or min(parts) < 0 or not math.isclose(sum(parts), 1.0):
        raise SpecError(
            f"Invalid {name} {tuple(value)!r}: give three non-negative weights (first, middle, "
            "last) that sum to 1, e.g. (0.4, 0.2, 0.4)."
        )
    return (parts[0], parts[1], parts[2])


@dataclass(frozen=True)
class AttributionSpec:
    """Which attribution to compute; validated on construction (errors quote the bad value).

    Parameters
    ----------
    model
        One of :data:`MODELS`, a list of them, or ``"all"`` (:data:`ALL_MODELS`: every model
        but ``shapley_ordered``).
    level
        Credit ``"touchpoint"``, ``"channel"`` or ``"campaign"`` values.
    goal
        The conversion event name(s).
    lookback
        Only touches this long before the conversion count (``"30d"``).
    value
        What the figure and the ordering show: ``"conversions"`` or ``"revenue"`` (both are
        always computed).
    half_life
        The time-decay half-life: a touch ``half_life`` earlier weighs half as much.
    u_shape, j_shape, inverse_j
        (first, middle, last) weights of the position-based models; each sums to 1.
    markov_order
        States of the Markov chain are the last 1, 2 or 3 touches.
    shapley_samples, seed
        Permutations sampled for coalitions above 15 values, and the random seed.
    direct_channels
        Channels that count as direct for ``last_non_direct``.
    since, until
        Only events with ``since <= ts < until`` (naive UTC).

    Examples
    --------
    >>> AttributionSpec("linear", lookback="7d").lookback_seconds
    604800
    >>> AttributionSpec("all").models[-2:]
    ('markov', 'shapley')
    """

    model: str | Sequence[str]
    level: Literal["touchpoint", "channel", "campaign"] = "touchpoint"
    goal: str | Sequence[str] = "purchase"
    lookback: str = "30d"
    value: Literal["conversions", "revenue"] = "conversions"
    half_life: str = "7d"
    u_shape: Sequence[float] = (0.4, 0.2, 0.4)
    j_shape: Sequence[float] = (0.2, 0.2, 0.6)
    inverse_j: Sequence[float] = (0.6, 0.2, 0.2)
    markov_order: int = 1
    shapley_samples: int = 1000
    seed: int = 0
    direct_channels: Sequence[str] = ("direct",)
    since: datetime | None = None
    until: datetime | None = None
    models: tuple[str, ...] = field(init=False, repr=False, compare=False)
    goals: tuple[str, ...] = field(init=False, repr=False, compare=False)
    lookback_seconds: int = field(init=False, repr=False, compare=False)
    half_life_seconds: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", naive_utc_or_none(self.since, "since"))
        object.__setattr__(self, "until", naive_utc_or_none(self.until, "until"))
        names = [self.model] if isinstance(self.model, str) else list(self.model)
        models = ALL_MODELS if names == ["all"] else tuple(names)
        for name in models:
            if name not in MODELS:
                allowed = ", ".join(("all", *MODELS))
                raise SpecError(f"Unknown attribution model {name!r}: use one of {allowed}.")
        if self.level not in LEVELS:
            raise SpecError(f"Invalid level {self.level!r}: use one of {', '.join(LEVELS)}.")
        if self.value not in ("conversions", "revenue"):
            raise SpecError(f"Invalid value {self.value!r}: use 'conversions' or 'revenue'.")
        if self.markov_order not in (1, 2, 3):
            raise SpecError(f"Invalid markov_order {self.markov_order!r}: use 1, 2 or 3.")
        if self.shapley_samples < 1:
            raise SpecError(f"Invalid shapley_samples {self.shapley_samples!r}: use 1 or more.")
        goals = (self.goal,) if isinstance(self.goal, str) else tuple(self.goal)
        if not goals:
            raise SpecError("No goal given: name the conversion event, e.g. 'purchase'.")
        for name in ("u_shape", "j_shape", "inverse_j"):
            object.__setattr__(self, name, _weights(name, getattr(self, name)))
        object.__setattr__(self, "models", tuple(dict.fromkeys(models)))
        object.__setattr__(self, "goals", goals)
        object.__setattr__(self, "lookback_seconds", parse_duration(self.lookback, "lookback"))
        object.__setattr__(self, "half_life_seconds", parse_duration(self.half_life, "half_life"))


@dataclass
class AttributionResult(Result):
    """Attributed conversions and revenue per model and value, side by side.

    ``attribution`` has ``model``, the level's column, ``conversions``, ``revenue``; ``totals``
    the conversions and revenue that were shared out, and the ``unattributed`` conversions and
    ``unattributed_revenue`` (no touch within the lookback). Markov adds ``transition_matrix``
    and ``removal_effects``; ordered Shapley adds ``shapley_positions`` (its credit per value
    and ``position``).
    """

    spec: AttributionSpec
    attribution: pd.DataFrame
    totals: dict[str, float]
    transition_matrix: pd.DataFrame | None = None
    removal_effects: pd.DataFrame | None = None
    queries: tuple[Any, ...] = ()
    shapley_positions: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.attribution

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.attribution)

    def pivot(self, measure: str | None = None) -> pd.DataFrame:
        """One row per value, one column per model, of ``measure`` (default: the spec's value)."""
        return self.attribution.pivot_table(
            index=self.spec.level, columns="model", values=measure or self.spec.value, sort=False
        ).reindex(columns=list(self.spec.models))

    def figure(self) -> go.Figure:
        measure = self.spec.value
        figure = go.Figure()
        for model, rows in self.attribution.groupby("model", sort=False):
            figure.add_bar(x=rows[self.spec.level], y=rows[measure], name=str(model))
        figure.update_layout(
            barmode="group", xaxis_title=self.spec.level, yaxis_title=f"attributed {measure}"
        )
        return figure


def _filtered(events: ir.Table, spec: AttributionSpec) -> ir.Table:
    if spec.since is not None:
        events = events.filter(events.ts >= spec.since)
    if spec.until is not None:
        events = events.filter(events.ts < spec.until)
    return events


def build_journey_touches(events: ir.Table, spec: AttributionSpec) -> ir.Table:
    """The touches of every journey (converting or not) for ``spec``, as an engine expression.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> build_journey_touches(table, AttributionSpec("linear")).count().execute()
    1
    """
    return build_touches(
        _filtered(events, spec),
        spec.goals,
        spec.lookback_seconds,
        spec.level,
        spec.direct_channels,
        lags=spec.markov_order if "markov" in spec.models else 0,
    )


def build_rule_attribution(touches: ir.Table, spec: AttributionSpec) -> ir.Table:
    """Per value: ``<model>_conversions`` and ``<model>_revenue`` for every rule-based model.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("mail", "+1d"),
    ...                                          ("purchase", "+1d")]}))
    >>> spec = AttributionSpec("linear")
    >>> frame = build_rule_attribution(build_journey_touches(table, spec), spec).execute()
    >>> frame.sort_values("key")["linear_conversions"].tolist()
    [0.5, 0.5]
    """
    rules = [m for m in spec.models if m in RULE_MODELS]
    converted = touches.filter(touches.converted == 1)
    if "time_decay" in rules:
        # The journey's total weight by a hash aggregate and a join, not a window (no sort).
        converted = converted.mutate(decay=_decay(converted, spec))
        totals = converted.group_by(list(JOURNEY)).aggregate(decay_total=converted.decay.sum())
        converted = converted.inner_join(totals, list(JOURNEY))
    weighted = converted.mutate(**{m: RULE_MODELS[m](converted, spec) for m in rules})
    sums: dict[str, ir.Value] = {}
    for m in rules:
        sums[f"{m}_conversions"] = summed(weighted[m], weighted)
        sums[f"{m}_revenue"] = summed(weighted[m] * weighted.revenue, weighted)
    return weighted.group_by("key").aggregate(**sums)


def _long(frame: pd.DataFrame, models: Sequence[str], level: str) -> pd.DataFrame:
    parts = [
        pd.DataFrame(
            {
                "model": m,
                level: frame["key"],
                "conversions": frame[f"{m}_conversions"].astype(float),
                "revenue": frame[f"{m}_revenue"].astype(float),
            }
        )
        for m in models
    ]
    return pd.concat(parts, ignore_index=True)


def _run_markov(
    touches: ir.Table, spec: AttributionSpec, totals: dict[str, float]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, ir.Table]:
    expression = _markov.build_transitions(touches, spec.markov_order)
    counts = expression.execute()
    try:
        chain = _markov.Chain.from_counts(counts)
    except ValueError as error:
        lower = "a lower markov_order or " if spec.markov_order > 1 else ""
        raise SpecError(
            f"The Markov chain of order {spec.markov_order} has {error}, more than "
            f"{_markov.MAX_STATES}: use {lower}a coarser level (channel)."
        ) from None
    effects = chain.removal_effects()
    frame = pd.DataFrame(
        {
            "key": effects["key"],
            "markov_conversions": _markov.share(effects["removal_effect"], totals["conversions"]),
            "markov_revenue": _markov.share(effects["value_removal_effect"], totals["revenue"]),
        }
    )
    return frame, _markov.transition_matrix(counts), effects, expression


def _run_shapley(
    touches: ir.Table, spec: AttributionSpec, players: list[str]
) -> tuple[pd.DataFrame, ir.Table]:
    expression = _shapley.build_coalitions(touches, players)
    coalitions = _shapley.coalition_names(expression.execute(), players)
    values = _shapley.shapley_values(coalitions, spec.shapley_samples, spec.seed)
    frame = values.rename(columns={"conversions": "shapley_conversions"})
    frame = frame.rename(columns={"revenue": "shapley_revenue"})
    return frame, expression


def _run_shapley_ordered(
    touches: ir.Table, players: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame, ir.Table]:
    expression = _shapley_ordered.build_sequences(touches, players)
    sequences = _shapley_ordered.sequence_names(expression.execute(), players)
    positions = _shapley_ordered.ordered_shapley_values(sequences)
    frame = positions.groupby("key", as_index=False, sort=True)[["conversions", "revenue"]].sum()
    frame = frame.rename(
        columns={"conversions": "shapley_ordered_conversions", "revenue": "shapley_ordered_revenue"}
    )
    return frame, positions, expression


def _totals(touches: ir.Table, goals: ir.Table | None) -> dict[str, float]:
    """Conversions and revenue attributed, and those of ``goals`` (every conversion event, where
    they are known) left without a touch to credit."""
    ends = touches.filter((touches.converted == 1) & (touches.pos == touches.n))
    totals = ends.aggregate(conversions=journeys_of(ends), revenue=summed(ends.revenue, ends))
    if goals is not None:
        totals = totals.mutate(
            all_conversions=goals.count().as_scalar(), all_revenue=goals.revenue.sum().as_scalar()
        )
    row = totals.execute().iloc[0]
    conversions, revenue = float(row["conversions"] or 0), float(row["revenue"] or 0.0)
    every = row if goals is not None else {"all_conversions": conversions, "all_revenue": revenue}
    return {
        "conversions": conversions,
        "revenue": revenue,
        "unattributed": float(every["all_conversions"] or 0) - conversions,
        "unattributed_revenue": float(every["all_revenue"] or 0.0) - revenue,
    }


def run_attribution(
    events: ir.Table, spec: AttributionSpec, catalog: ir.Table | None = None
) -> AttributionResult:
    """Attribute conversions and revenue with every model in ``spec``.

    Parameters
    ----------
    events
        The canonical events table.
    spec
        What to compute.
    catalog
        The touchpoint catalog; when given, values at ``touchpoint`` level are limited to
        catalogued touchpoints (uncatalogued touches are left out of the journeys).

    Returns
    -------
    AttributionResult
        One row per model and value; conversions (and revenue) of each model sum to the totals.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({
    ...     "ann": [("ad", "2026-01-01"), ("mail", "+1d"), ("purchase", "+1d")],
    ...     "bob": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> result = run_attribution(table, AttributionSpec(["first_touch", "last_touch"]))
    >>> result.pivot().round(2).to_dict()
    {'first_touch': {'ad': 2.0, 'mail': 0.0}, 'last_touch': {'ad': 1.0, 'mail': 1.0}}
    """
    if catalog is not None and spec.level == "touchpoint":
        known = catalog.select("touchpoint").distinct()
        events = events.filter(
            events.touchpoint.isnull() | events.touchpoint.isin(known.touchpoint)
        )
    # Journeys feed several small queries: materialise them once, without the columns the models
    # never read (fewer strings to write).
    journeys = build_journey_touches(events, spec).drop("t", "direct")
    return attribute_touches(journeys, spec, conversion_events(_filtered(events, spec), spec.goals))


def attribute_touches(
    touches: ir.Table, spec: AttributionSpec, goals: ir.Table | None = None
) -> AttributionResult:
    """Every model in ``spec`` on journeys given as touches (the columns of
    :func:`.build_touches`, without ``t`` and ``direct``, perhaps with a ``weight``: how many
    identical journeys a row stands for). ``goals``: every conversion event, to count those
    no touch earned (none are left out where not given)."""
    with touches.cache() as cached:
        return _run(cached, spec, goals)


def _run(touches: ir.Table, spec: AttributionSpec, goals: ir.Table | None) -> AttributionResult:
    totals = _totals(touches, goals)
    frames: list[pd.DataFrame] = []
    queries: list[ir.Table] = []
    matrix = effects = None
    if any(m in RULE_MODELS for m in spec.models):
        expression = build_rule_attribution(touches, spec)
        frames.append(expression.execute())
        queries.append(expression)
    if "markov" in spec.models:
        markov, matrix, effects, query = _run_markov(touches, spec, totals)
        frames.append(markov)
        queries.append(query)
    shapleys = {"shapley", "shapley_ordered"} & set(spec.models)
    players = _players(touches, effects) if shapleys else []
    if "shapley" in spec.models:
        shapley, query = _run_shapley(touches, spec, players)
        frames.append(shapley)
        queries.append(query)
    positions = None
    if "shapley_ordered" in spec.models:
        ordered, positions, query = _run_shapley_ordered(touches, players)
        frames.append(ordered)
        queries.append(query)
        positions = positions.rename(columns={"key": spec.level})
    wide = _merge(frames)
    long = _long(wide, spec.models, spec.level)
    long = long.sort_values(
        ["model", spec.value, spec.level], ascending=[True, False, True], key=_sort_key(spec)
    ).reset_index(drop=True)
    if effects is not None:
        effects = effects.rename(columns={"key": spec.level})
    return AttributionResult(
        spec, long, totals, matrix, effects, tuple(queries), shapley_positions=positions
    )


def _players(touches: ir.Table, effects: pd.DataFrame | None) -> list[str]:
    """Every value of a touch, sorted: the Markov chain's values where it ran (its states are
    made of every touch's value), else one query."""
    if effects is not None:
        return sorted(effects["key"])
    return sorted(touches.select("key").distinct().execute()["key"])


def _sort_key(spec: AttributionSpec) -> Callable[[pd.Series], pd.Series]:
    """Models in the spec's order; credit rounded, so that sums which differ in the last bit
    (engines add in different orders) still tie and fall back to the name."""

    def key(column: pd.Series) -> pd.Series:
        if column.name == "model":
            return column.map(spec.models.index)
        return column.round(9) if column.dtype.kind == "f" else column

    return key


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    # Keys as objects: an empty frame (no touches at all) types its keys as floats.
    frames = [frame.astype({"key": object}) for frame in frames]
    wide = frames[0]
    for frame in frames[1:]:
        wide = wide.merge(frame, on="key", how="outer")
    return wide.fillna(0.0)
