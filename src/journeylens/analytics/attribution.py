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

A breakdown (``run_attribution(..., by=KEY, top=N)``) gives each journey one value of KEY: the
one on its conversion, or on its last touch when it did not convert (``"(none)"`` without one);
the ``top`` values with the most journeys are kept, the rest pooled as ``"(other)"``. Every model
then runs within each value as if it were all the data: the touches carry their ``segment``,
each model's one aggregate groups by it too, and each segment's chain and games are solved
apart in numpy. The whole data's result is unchanged beside it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics import _markov, _shapley, _shapley_ordered
from journeylens.analytics._touches import (
    BY_VALUE,
    LEVELS,
    WEIGHT,
    TouchKeys,
    build_touches,
    conversion_events,
    goal_names,
    goal_segments,
    journeys_of,
    key_codes,
    summed,
    with_goal_values,
    with_journey_segments,
)
from journeylens.analytics.breakdown import (
    SEGMENT,
    breakdown_field,
    largest_first,
    segment_columns,
)
from journeylens.analytics.filters import in_range
from journeylens.analytics.result import Result, frame_records, json_ready, plot_labels
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import parse_duration

__all__ = [
    "ALL_MODELS",
    "MODELS",
    "RULE_MODELS",
    "AttributionBreakdown",
    "AttributionResult",
    "AttributionSpec",
    "attribute_touches",
    "breakdown_field",
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
        if self.seed < 0:
            raise SpecError(f"Invalid seed {self.seed!r}: use 0 or more.")
        goals = goal_names(self.goal)
        if not goals:
            raise SpecError("No goal given: name the conversion event, e.g. 'purchase'.")
        for name in ("u_shape", "j_shape", "inverse_j"):
            object.__setattr__(self, name, _weights(name, getattr(self, name)))
        object.__setattr__(self, "models", tuple(dict.fromkeys(models)))
        object.__setattr__(self, "goals", goals)
        object.__setattr__(self, "lookback_seconds", parse_duration(self.lookback, "lookback"))
        object.__setattr__(self, "half_life_seconds", parse_duration(self.half_life, "half_life"))


@dataclass
class AttributionBreakdown:
    """Every model run within each value of a breakdown key, as if it were all the data.

    Every frame starts with ``field`` (the key, a property without ``properties.``), values
    with the most journeys first and ``"(other)"`` last. ``totals``: ``journeys``, the
    ``conversions`` and ``revenue`` shared out and the ``unattributed`` ones (and
    ``unattributed_revenue``) per value; ``attribution``: ``model``, the level's column,
    ``conversions``, ``revenue``. Markov adds ``transition_matrix`` and ``removal_effects`` of
    each value's own chain; ordered Shapley its ``shapley_positions``.
    """

    field: str
    totals: pd.DataFrame
    attribution: pd.DataFrame
    transition_matrix: pd.DataFrame | None = None
    removal_effects: pd.DataFrame | None = None
    shapley_positions: pd.DataFrame | None = None

    def to_dict(self) -> list[dict[str, Any]]:
        """``[{field: value, "journeys", "conversions", "revenue", "unattributed",
        "unattributed_revenue", "credit": [{"model", level, "conversions", "revenue"}]}]``."""
        values = self.attribution[self.field]
        return [
            json_ready(
                {
                    **row,
                    "credit": frame_records(
                        self.attribution[values == row[self.field]].drop(columns=self.field)
                    ),
                }
            )
            for row in self.totals.to_dict(orient="records")
        ]


@dataclass
class AttributionResult(Result):
    """Attributed conversions and revenue per model and value, side by side.

    ``attribution`` has ``model``, the level's column, ``conversions``, ``revenue``; ``totals``
    the conversions and revenue that were shared out, and the ``unattributed`` conversions and
    ``unattributed_revenue`` (no touch within the lookback). Markov adds ``transition_matrix``
    and ``removal_effects``; ordered Shapley adds ``shapley_positions`` (its credit per value
    and ``position``). With a breakdown (``by``), ``breakdown`` holds every model per value;
    the rest stays the whole data's.
    """

    spec: AttributionSpec
    attribution: pd.DataFrame
    totals: dict[str, float]
    transition_matrix: pd.DataFrame | None = None
    removal_effects: pd.DataFrame | None = None
    queries: tuple[Any, ...] = ()
    shapley_positions: pd.DataFrame | None = None
    breakdown: AttributionBreakdown | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.attribution

    def to_dict(self) -> list[dict[str, Any]] | dict[str, Any]:
        """The records; with a breakdown, ``{"attribution": records, "breakdown": [...]}``
        (see :meth:`AttributionBreakdown.to_dict`)."""
        records = frame_records(self.attribution)
        if self.breakdown is None:
            return records
        return {"attribution": records, "breakdown": self.breakdown.to_dict()}

    def pivot(self, measure: str | None = None) -> pd.DataFrame:
        """One row per value, one column per model, of ``measure`` (default: the spec's value)."""
        return self.attribution.pivot_table(
            index=self.spec.level, columns="model", values=measure or self.spec.value, sort=False
        ).reindex(columns=list(self.spec.models))

    def figure(self) -> go.Figure:
        measure = self.spec.value
        figure = go.Figure()
        for model, rows in self.attribution.groupby("model", sort=False):
            figure.add_bar(x=plot_labels(rows[self.spec.level]), y=rows[measure], name=str(model))
        figure.update_layout(
            barmode="group", xaxis_title=self.spec.level, yaxis_title=f"attributed {measure}"
        )
        return figure


def _filtered(events: ir.Table, spec: AttributionSpec) -> ir.Table:
    return in_range(events, spec.since, spec.until)


def build_journey_touches(
    events: ir.Table, spec: AttributionSpec, by: str | None = None, coded: bool = False
) -> ir.Table:
    """The touches of every journey (converting or not) for ``spec``, as an engine expression
    (with ``by``, each touch's and its conversion's value of that key; with ``coded``, the
    keys' codes: see :func:`.build_touches`).

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
        by=by,
        coded=coded,
    )


def build_rule_attribution(touches: ir.Table, spec: AttributionSpec) -> ir.Table:
    """Per value: ``<model>_conversions`` and ``<model>_revenue`` for every rule-based model
    (per ``segment`` and value, where the touches carry a breakdown's segment).

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
    return weighted.group_by([*segment_columns(weighted), "key"]).aggregate(**sums)


def _long(frame: pd.DataFrame, models: Sequence[str], level: str) -> pd.DataFrame:
    segments = {SEGMENT: frame[SEGMENT]} if SEGMENT in frame else {}
    parts = [
        pd.DataFrame(
            {
                **segments,
                "model": m,
                level: frame["key"],
                "conversions": _snapped(frame[f"{m}_conversions"].astype(float)),
                "revenue": _snapped(frame[f"{m}_revenue"].astype(float)),
            }
        )
        for m in models
    ]
    return pd.concat(parts, ignore_index=True)


def _snapped(credit: pd.Series) -> pd.Series:
    """``credit`` with the values within :data:`ROUNDING` of its total at 0: an exact null
    player's Shapley value is a difference of equal sums, ``-4.4e-16`` where it is nothing."""
    return credit.mask(credit.abs() <= ROUNDING * credit.abs().sum(), 0.0)


def _run_markov(
    touches: ir.Table, spec: AttributionSpec, totals: dict[str, float], keys: TouchKeys
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, ir.Table]:
    expression = _markov.build_transitions(touches, spec.markov_order)
    counts = _markov.transition_counts(_fetched(expression), keys.named)
    effects = _chain(counts, spec).removal_effects()
    return _markov_credit(effects, totals), _markov.transition_matrix(counts), effects, expression


def _chain(counts: pd.DataFrame, spec: AttributionSpec) -> _markov.Chain:
    try:
        return _markov.Chain.from_counts(counts)
    except ValueError as error:
        lower = "a lower markov_order or " if spec.markov_order > 1 else ""
        raise SpecError(
            f"The Markov chain of order {spec.markov_order} has {error}, more than "
            f"{_markov.MAX_STATES}: use {lower}a coarser level (channel)."
        ) from None


def _markov_credit(effects: pd.DataFrame, totals: Mapping[str, float]) -> pd.DataFrame:
    """Conversions and revenue shared in proportion to the (value) removal effects."""
    return pd.DataFrame(
        {
            "key": effects["key"],
            "markov_conversions": _markov.share(effects["removal_effect"], totals["conversions"]),
            "markov_revenue": _markov.share(effects["value_removal_effect"], totals["revenue"]),
        }
    )


def _run_shapley(
    touches: ir.Table, spec: AttributionSpec, players: list[str], keys: TouchKeys
) -> tuple[pd.DataFrame, ir.Table]:
    expression = _shapley.build_coalitions(touches, keys.keys(players))
    values = _shapley.coalition_values(
        expression.execute(), players, spec.shapley_samples, spec.seed
    )
    return _credit_of(values, "shapley"), expression


def _credit_of(values: pd.DataFrame, model: str) -> pd.DataFrame:
    """A game's ``conversions`` and ``revenue`` named as ``model``'s credit columns."""
    return values.rename(
        columns={"conversions": f"{model}_conversions", "revenue": f"{model}_revenue"}
    )


def _ordered_credit(positions: pd.DataFrame, keys: Sequence[str] = ("key",)) -> pd.DataFrame:
    """Ordered Shapley's credit per value (per ``keys``): its positions' credit summed."""
    credit = positions.groupby(list(keys), as_index=False, sort=True)[["conversions", "revenue"]]
    return _credit_of(credit.sum(), "shapley_ordered")


def _run_shapley_ordered(
    touches: ir.Table, players: list[str], keys: TouchKeys
) -> tuple[pd.DataFrame, pd.DataFrame, ir.Table]:
    expression = _shapley_ordered.build_sequences(touches, keys.keys(players))
    positions = _shapley_ordered.code_values(expression.execute(), players)
    return _ordered_credit(positions), positions, expression


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
    unattributed = float(every["all_conversions"] or 0) - conversions
    return {
        "conversions": conversions,
        "revenue": revenue,
        "unattributed": unattributed,
        "unattributed_revenue": leftover_revenue(
            float(every["all_revenue"] or 0.0), revenue, unattributed
        ),
    }


# Below this share of the total, a difference of two sums of revenue is their rounding.
ROUNDING = 1e-9


def leftover_revenue(total: float, attributed: float, unattributed: float) -> float:
    """The revenue of the conversions left without a touch: ``total - attributed``, to the
    precision of the two sums. Each is added up in whatever order the engine takes, so their
    difference carries rounding (±1e-10 on a million, ±65,536 where a value is 1e20): under
    :data:`ROUNDING` of the total it is 0, as it is with no unattributed conversion, and never
    negative.

    >>> leftover_revenue(1e6 + 30.5, 1e6, 1), leftover_revenue(1e6, 1e6 + 4.7e-10, 0)
    (30.5, 0.0)
    """
    left = total - attributed
    if unattributed <= 0 or left <= ROUNDING * abs(total):
        return 0.0
    return left


def run_attribution(
    events: ir.Table,
    spec: AttributionSpec,
    catalog: ir.Table | None = None,
    by: str | None = None,
    top: int = 10,
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
    by
        A breakdown key: a column (``device``) or a property (``market`` or
        ``properties.market``). Each journey counts under the key's value on its conversion
        (on its last touch when it did not convert; ``"(none)"`` without one); the ``top``
        values with the most journeys are kept, the rest pooled as ``"(other)"``. Every model
        then runs within each value as if it were all the data, in ``result.breakdown``; the
        rest of the result is the whole data's, as without ``by``.
    top
        How many values of ``by`` to keep.

    Returns
    -------
    AttributionResult
        One row per model and value; conversions (and revenue) of each model sum to the totals
        (per breakdown value: to that value's totals, which sum to the totals).

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({
    ...     "ann": [("ad", "2026-01-01"), ("mail", "+1d"), ("purchase", "+1d")],
    ...     "bob": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> result = run_attribution(table, AttributionSpec(["first_touch", "last_touch"]))
    >>> result.pivot().round(2).to_dict()
    {'first_touch': {'ad': 2.0, 'mail': 0.0}, 'last_touch': {'ad': 1.0, 'mail': 1.0}}
    >>> split = run_attribution(table, AttributionSpec("first_touch"), by="person_id").breakdown
    >>> split.totals[["person_id", "journeys", "conversions"]].values.tolist()
    [['ann', 1, 1], ['bob', 1, 1]]
    """
    field = breakdown_field(
        events,
        by,
        (*BREAKDOWN_FIELDS, spec.level),
        "the '{field}' field of the attribution records: break down by another column or property",
        top,
    )
    if catalog is not None and spec.level == "touchpoint":
        known = catalog.select("touchpoint").distinct()
        events = events.filter(
            events.touchpoint.isnull() | events.touchpoint.isin(known.touchpoint)
        )
    # Journeys feed several small queries: materialise them once, without the columns the models
    # never read (fewer strings to write), their keys as codes (see ``build_touches``) unless
    # two of the values share one.
    keys = TouchKeys.of(key_codes(_filtered(events, spec), spec.level).execute())
    journeys = build_journey_touches(events, spec, by, coded=keys is not None).drop("t", "direct")
    goals = conversion_events(_filtered(events, spec), spec.goals)
    if by is not None:
        journeys = with_journey_segments(journeys, top)
        goals = with_goal_values(goals, by)
    return attribute_touches(journeys, spec, goals, field, keys)


def attribute_touches(
    touches: ir.Table,
    spec: AttributionSpec,
    goals: ir.Table | None = None,
    field: str | None = None,
    keys: TouchKeys | None = None,
) -> AttributionResult:
    """Every model in ``spec`` on journeys given as touches (the columns of
    :func:`.build_touches`, without ``t`` and ``direct``, perhaps with a ``weight``: how many
    identical journeys a row stands for). ``goals``: every conversion event, to count those
    no touch earned (none are left out where not given).

    Touches with a ``segment`` (one per journey, see :func:`.with_journey_segments`) are also
    attributed within each segment, into ``result.breakdown`` with the segment named ``field``
    (default ``"segment"``); ``goals`` with a ``by_value`` (:func:`.with_goal_values`) split
    the unattributed conversions among the segments too. ``keys``: what the touches' ``key``
    holds (codes with their names, see :func:`.build_touches`; the names where not given)."""
    keys = keys or TouchKeys()
    with touches.cache() as cached:
        if SEGMENT not in cached.columns:
            return _run(cached, spec, goals, keys)
        result = _run(cached.drop(SEGMENT), spec, goals, keys)
        breakdown, queries = _run_segments(cached, spec, goals, result, field or SEGMENT, keys)
        result.breakdown = breakdown
        result.queries = (*result.queries, *queries)
        return result


def _run(
    touches: ir.Table, spec: AttributionSpec, goals: ir.Table | None, keys: TouchKeys
) -> AttributionResult:
    totals = _totals(touches, goals)
    frames: list[pd.DataFrame] = []
    queries: list[ir.Table] = []
    matrix = effects = None
    if any(m in RULE_MODELS for m in spec.models):
        expression = build_rule_attribution(touches, spec)
        frames.append(_named_keys(expression.execute(), keys))
        queries.append(expression)
    if "markov" in spec.models:
        markov, matrix, effects, query = _run_markov(touches, spec, totals, keys)
        frames.append(markov)
        queries.append(query)
    shapleys = {"shapley", "shapley_ordered"} & set(spec.models)
    players = _players(touches, effects, keys) if shapleys else []
    if "shapley" in spec.models:
        shapley, query = _run_shapley(touches, spec, players, keys)
        frames.append(shapley)
        queries.append(query)
    positions = None
    if "shapley_ordered" in spec.models:
        ordered, positions, query = _run_shapley_ordered(touches, players, keys)
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


def _players(touches: ir.Table, effects: pd.DataFrame | None, keys: TouchKeys) -> list[str]:
    """Every value of a touch by name, sorted: the Markov chain's values where it ran (its
    states are made of every touch's value), else one query."""
    if effects is not None:
        return sorted(effects["key"])
    return sorted(keys.named(touches.select("key").distinct().execute()["key"]))


def _named_keys(frame: pd.DataFrame, keys: TouchKeys) -> pd.DataFrame:
    """``frame`` with its ``key`` by name."""
    return frame.assign(key=keys.named(frame["key"]))


def _fetched(expression: ir.Table) -> pd.DataFrame:
    """``expression``'s rows, integers exact where some are null (as Python integers, not the
    floats ``execute`` gives a column with nulls: a 63-bit code does not fit in one)."""
    return expression.to_pyarrow().to_pandas(integer_object_nulls=True)


def _sort_key(spec: AttributionSpec) -> Callable[[pd.Series], pd.Series]:
    """Models in the spec's order; credit rounded, so that sums which differ in the last bit
    (engines add in different orders) still tie and fall back to the name."""

    def key(column: pd.Series) -> pd.Series:
        if column.name == "model":
            return column.map(spec.models.index)
        return column.round(9) if column.dtype.kind == "f" else column

    return key


def _merge(frames: list[pd.DataFrame], keys: Sequence[str] = ("key",)) -> pd.DataFrame:
    # Keys as objects: an empty frame (no touches at all) types its keys as floats.
    frames = [frame.astype(dict.fromkeys(keys, object)) for frame in frames]
    wide = frames[0]
    for frame in frames[1:]:
        wide = wide.merge(frame, on=list(keys), how="outer")
    return wide.fillna(0.0)


# Fields of a breakdown's records and frames: a breakdown key may not take one of these names.
BREAKDOWN_FIELDS = (
    "model",
    "journeys",
    "conversions",
    "revenue",
    "unattributed",
    "unattributed_revenue",
    "credit",
    "position",
    "removal_effect",
    "value_removal_effect",
    "from",
    "to",
    "count",
    "probability",
)


def _run_segments(
    touches: ir.Table,
    spec: AttributionSpec,
    goals: ir.Table | None,
    overall: AttributionResult,
    field: str,
    keys: TouchKeys,
) -> tuple[AttributionBreakdown, tuple[ir.Table, ...]]:
    """Every model within each segment of ``touches``: one query per model for every segment
    (grouped by it), then each segment's chain and games solved on their own."""
    counted = goals is not None and BY_VALUE in goals.columns
    totals_query = build_segment_totals(touches, goals if counted else None)
    totals = _segment_totals(totals_query.execute(), counted)
    shares = {
        str(row[SEGMENT]): {"conversions": row["conversions"], "revenue": row["revenue"]}
        for row in totals.to_dict(orient="records")
    }
    queries: list[ir.Table] = [totals_query]
    frames: list[pd.DataFrame] = []
    extra: dict[str, pd.DataFrame] = {}
    if any(m in RULE_MODELS for m in spec.models):
        queries.append(build_rule_attribution(touches, spec))
        frames.append(_named_keys(queries[-1].execute(), keys))
    if "markov" in spec.models:
        queries.append(_markov.build_transitions(touches, spec.markov_order))
        counts = _markov.transition_counts(_fetched(queries[-1]), keys.named)
        credit, extra["transition_matrix"], extra["removal_effects"] = _segment_markov(
            counts, spec, shares
        )
        frames.append(credit)
    # Every value with a touch is in the whole data's Shapley credit: its players serve here.
    players = sorted(set(overall.attribution[spec.level]))
    if "shapley" in spec.models:
        queries.append(_shapley.build_coalitions(touches, keys.keys(players)))
        frames.append(_segment_shapley(queries[-1].execute(), players, spec))
    if "shapley_ordered" in spec.models:
        queries.append(_shapley_ordered.build_sequences(touches, keys.keys(players)))
        credit, extra["shapley_positions"] = _segment_ordered(queries[-1].execute(), players)
        frames.append(credit)
    totals = largest_first(totals, "journeys").reset_index(drop=True)
    rank = {segment: place for place, segment in enumerate(totals[SEGMENT])}
    long = _long(_merge(frames, (SEGMENT, "key")), spec.models, spec.level)
    long = long.assign(_rank=long[SEGMENT].map(rank)).sort_values(
        ["_rank", "model", spec.value, spec.level],
        ascending=[True, True, False, True],
        key=_sort_key(spec),
    )
    named = {name: _named(frame, rank, field, spec.level) for name, frame in extra.items()}
    breakdown = AttributionBreakdown(
        field,
        _named(totals, rank, field, spec.level),
        _named(long.drop(columns="_rank"), rank, field, spec.level),
        **named,
    )
    return breakdown, tuple(queries)


def build_segment_totals(touches: ir.Table, goals: ir.Table | None = None) -> ir.Table:
    """Per ``segment``: ``journeys``, ``conversions`` and ``revenue`` (shared out) and, with
    ``goals`` (conversion events with a ``by_value``), ``goals`` and ``goal_revenue``: every
    conversion, attributed or not, under the segment its value counts under. One aggregate."""
    last = touches.filter(touches.pos == touches.n)
    one = last[WEIGHT].cast("int64") if WEIGHT in last.columns else ibis.literal(1, "int64")
    parts = last.select(
        SEGMENT,
        journeys=one,
        conversions=(last.converted * one).cast("int64"),
        revenue=(last.revenue * one).cast("float64"),
        goals=ibis.literal(0, "int64"),
        goal_revenue=ibis.literal(0.0, "float64"),
    )
    if goals is not None:
        valued = goal_segments(goals, touches)
        parts = parts.union(
            valued.select(
                SEGMENT,
                journeys=ibis.literal(0, "int64"),
                conversions=ibis.literal(0, "int64"),
                revenue=ibis.literal(0.0, "float64"),
                goals=ibis.literal(1, "int64"),
                goal_revenue=valued.revenue.fill_null(0.0).cast("float64"),
            )
        )
    sums = {c: parts[c].sum() for c in parts.columns if c != SEGMENT}
    return parts.group_by(SEGMENT).aggregate(**sums)


def _segment_totals(frame: pd.DataFrame, counted: bool) -> pd.DataFrame:
    """The totals per segment, the conversions without a touch as ``unattributed`` (0 when
    the conversion events were not ``counted``)."""
    conversions = frame["conversions"].astype("int64")
    revenue = frame["revenue"].astype(float)
    goals = frame["goals"].astype("int64") if counted else conversions
    goal_revenue = frame["goal_revenue"].astype(float) if counted else revenue
    unattributed = goals - conversions
    leftover = [
        leftover_revenue(total, shared, left)
        for total, shared, left in zip(goal_revenue, revenue, unattributed, strict=True)
    ]
    return pd.DataFrame(
        {
            SEGMENT: frame[SEGMENT].astype(object),
            "journeys": frame["journeys"].astype("int64"),
            "conversions": conversions,
            "revenue": revenue,
            "unattributed": unattributed,
            "unattributed_revenue": pd.Series(leftover, index=frame.index, dtype=float),
        }
    )


def _parts(frame: pd.DataFrame) -> Iterator[tuple[str, pd.DataFrame]]:
    """Each segment's rows, in the segments' name order."""
    for segment, part in frame.groupby(SEGMENT, sort=True):
        yield str(segment), part.drop(columns=SEGMENT)


def _tagged(frame: pd.DataFrame, segment: str) -> pd.DataFrame:
    return frame.assign(**{SEGMENT: segment})


def _stacked(frames: list[pd.DataFrame], columns: Sequence[str]) -> pd.DataFrame:
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})
    return pd.concat(frames, ignore_index=True)[list(columns)]


def _segment_markov(
    counts: pd.DataFrame, spec: AttributionSpec, shares: Mapping[str, Mapping[str, float]]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Each segment's own chain: credit, transition matrix and removal effects."""
    credit, matrices, effects = [], [], []
    for segment, part in _parts(counts):
        removal = _chain(part, spec).removal_effects()
        credit.append(_tagged(_markov_credit(removal, shares[segment]), segment))
        matrices.append(_tagged(_markov.transition_matrix(part), segment))
        effects.append(_tagged(removal, segment))
    return (
        _stacked(credit, [SEGMENT, "key", "markov_conversions", "markov_revenue"]),
        _stacked(matrices, [SEGMENT, "from", "to", "count", "probability"]),
        _stacked(effects, [SEGMENT, "key", "removal_effect", "value_removal_effect"]),
    )


def _segment_shapley(
    coalitions: pd.DataFrame, players: list[str], spec: AttributionSpec
) -> pd.DataFrame:
    """Each segment's own game (exact up to 15 values in it, else sampled with the seed)."""
    frames = [
        _tagged(
            _shapley.coalition_values(part, players, spec.shapley_samples, spec.seed),
            segment,
        )
        for segment, part in _parts(coalitions)
    ]
    return _credit_of(_stacked(frames, [SEGMENT, "key", "conversions", "revenue"]), "shapley")


def _segment_ordered(
    sequences: pd.DataFrame, players: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each segment's ordered Shapley credit per value, and per value and position."""
    frames = [
        _tagged(
            _shapley_ordered.code_values(part, players),
            segment,
        )
        for segment, part in _parts(sequences)
    ]
    positions = _stacked(frames, [SEGMENT, "key", "position", "conversions", "revenue"])
    return _ordered_credit(positions, (SEGMENT, "key")), positions


def _named(frame: pd.DataFrame, rank: Mapping[str, int], field: str, level: str) -> pd.DataFrame:
    """``frame`` in the segments' order (stable within one), the segment first and named
    ``field``, a ``key`` named as the level."""
    order = frame[SEGMENT].map(rank).to_numpy()
    ordered = frame.iloc[order.argsort(kind="stable")]
    columns = [SEGMENT, *(c for c in ordered.columns if c != SEGMENT)]
    return ordered[columns].rename(columns={SEGMENT: field, "key": level}).reset_index(drop=True)
