"""Incrementality: does a touchpoint raise conversion, compared with comparable people without it?

A person is *exposed* to a touchpoint when they had it before their first conversion (any time,
if they never converted), through a touch that was theirs when it happened: on the device
(anonymous id) of their first event, under their user id, or with no anonymous id. A touch on
another device that only a later login tied to them is not an exposure — people who log in are
mostly buyers, so such touches would be seen mostly on buyers.

Exposed people are compared with people who were at the same point without it (a landmark
comparison over the risk set). The point, or *level*, of an exposure is ``(start)`` when it is the
person's first touch, else the furthest stage (in the stage order) their earlier touches
reached. People are comparable at a level, within a stratum of their first event (channel,
device, month or week), when they were at that level before converting and not yet exposed —
so a touchpoint that follows people who get further is compared with people who got as far,
not with everyone. The lift is the average, over exposed people in stratum × level cells that
also have comparable people, of the difference in conversion rates, in percentage points.

Its confidence interval is a percentile bootstrap that resamples people: each person is drawn a
Poisson(1) number of times. The engine returns people grouped by what they count towards
(stratum, levels they were at, level of exposure, converted); people in one group count alike,
so a group of n is drawn Poisson(n) times — vectorised and seeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics._touches import goal_names
from journeylens.analytics.filters import in_range
from journeylens.analytics.result import Result, frame_records, plot_labels
from journeylens.analytics.sequence import order_value, person_column, text_order
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.store.portable import epoch_seconds

__all__ = ["IncrementalityResult", "IncrementalitySpec", "run_incrementality"]

STRATA = ("channel", "device", "stage", "period")
PERIODS = ("month", "week")
# A person's first event's columns that the strata and the exposure rule read.
FIRST_COLUMNS = ("person_id", "ts", "channel", "device", "anonymous_id")
WEEK = 7 * 86400
NEVER = 62  # the exposure level of people never exposed: after every landmark
# Bootstrap replicates at most, and Poisson draws (replicates × groups) held at once: 2M draws
# are 16 MB a copy, where one array of every draw took 30 GB for 10M replicates of 406 groups.
MAX_BOOTSTRAP = 100_000
DRAWS_PER_CHUNK = 2_000_000


@dataclass(frozen=True)
class IncrementalitySpec:
    """How to estimate each touchpoint's lift.

    Parameters
    ----------
    goal
        The conversion event name(s).
    strata
        What people are compared within: the ``channel``, ``device`` and ``period`` of their
        first event, and ``stage``: the furthest stage reached before the exposure (the
        landmark; see the module docstring). Without ``stage`` the landmark is only whether the
        exposure was the person's first touch.
    stages
        The stage order for ``stage`` (a workspace's stage keys); by default the stages ordered
        by how many people reach them, most first.
    period
        ``"month"`` or ``"week"`` of the first event, for the ``period`` stratum.
    bootstrap, confidence, seed
        Bootstrap replicates, the interval's coverage and the random seed.
    since, until
        Only events with ``since <= ts < until`` (naive UTC).

    Examples
    --------
    >>> IncrementalitySpec(strata=["channel"]).strata
    ('channel',)
    """

    goal: str | Sequence[str] = "purchase"
    strata: Sequence[str] = STRATA
    stages: Sequence[str] = ()
    period: Literal["month", "week"] = "month"
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    since: datetime | None = None
    until: datetime | None = None
    goals: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", naive_utc_or_none(self.since, "since"))
        object.__setattr__(self, "until", naive_utc_or_none(self.until, "until"))
        strata = (self.strata,) if isinstance(self.strata, str) else tuple(self.strata)
        for name in strata:
            if name not in STRATA:
                raise SpecError(f"Unknown stratum {name!r}: use any of {', '.join(STRATA)}.")
        if self.period not in PERIODS:
            raise SpecError(f"Invalid period {self.period!r}: use 'month' or 'week'.")
        if not 100 <= self.bootstrap <= MAX_BOOTSTRAP:
            raise SpecError(
                f"Invalid bootstrap {self.bootstrap!r}: use 100 to {MAX_BOOTSTRAP:,} replicates "
                "(the default is 1,000)."
            )
        if not 0 < self.confidence < 1:
            raise SpecError(f"Invalid confidence {self.confidence!r}: use a number in (0, 1).")
        object.__setattr__(self, "strata", strata)
        object.__setattr__(self, "stages", tuple(self.stages))
        object.__setattr__(self, "goals", goal_names(self.goal))


@dataclass
class IncrementalityResult(Result):
    """One row per touchpoint: ``exposed_people``, ``matched_people`` (exposed with comparable
    unexposed people), ``lift`` with ``lift_low``/``lift_high`` in percentage points, and the
    incremental ``conversions`` and ``revenue`` it implies among the matched exposed people."""

    lifts: pd.DataFrame
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.lifts

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.lifts)

    def figure(self) -> go.Figure:
        frame = self.lifts.sort_values("lift")
        error = {
            "type": "data",
            "array": frame["lift_high"] - frame["lift"],
            "arrayminus": frame["lift"] - frame["lift_low"],
        }
        figure = go.Figure(
            go.Bar(
                x=frame["lift"],
                y=plot_labels(frame["touchpoint"]),
                orientation="h",
                error_x=error,
            )
        )
        figure.update_layout(xaxis_title="lift (percentage points)", yaxis_title="touchpoint")
        return figure


def _stage_order(events: ir.Table, spec: IncrementalitySpec) -> tuple[str, ...]:
    """The spec's stage order, else the stages by how many people reach them, most first."""
    if "stage" not in spec.strata:
        return ()
    if spec.stages:
        return tuple(spec.stages)
    touches = events.filter(events.stage.notnull(), events.touchpoint.notnull())
    reach = touches.group_by("stage").aggregate(people=touches.person_id.nunique()).execute()
    reach = reach.sort_values(["people", "stage"], ascending=[False, True])
    return tuple(reach["stage"])


def _analysed(events: ir.Table, spec: IncrementalitySpec) -> ir.Table:
    """The events of known people in the spec's time range."""
    events = in_range(events, spec.since, spec.until)
    return events.filter(events.person_id.notnull())


def build_people(events: ir.Table, spec: IncrementalitySpec, stages: Sequence[str]) -> ir.Table:
    """One row per person: the strata and ``anonymous_id`` of their first event, when they
    first converted (``conv_t``), ``converted``, the revenue of their conversions, ``f<r>``:
    their first touch of a stage of rank ``r`` (1-based in ``stages``, 0 for any other) before
    converting, and ``levels``. Where every event carries the stored sequence keys, also
    ``person_key``, by which the people's rows are grouped and joined (an integer, cheaper to
    hash than the id). The first event's columns come from the same aggregate as the rest
    (those of the least ``person_seq``, or without the keys of the first in the text order):
    one pass over the events, no join."""
    events = _analysed(events, spec)
    person = person_column(events)
    keyed = person == "person_key"
    is_goal = events.event.isin(list(spec.goals))
    known = [(events.stage == name, i + 1) for i, name in enumerate(stages)]
    rank = ibis.cases(*known, else_=0) if known else ibis.literal(0)
    firsts = [c for c in FIRST_COLUMNS if c != person]
    rows = events.select(
        person,
        *firsts,
        _order=order_value([events.person_seq] if keyed else text_order(events)),
        t=epoch_seconds(events.ts),
        goal=is_goal,
        revenue=ibis.ifelse(is_goal, events.revenue.fill_null(0.0), 0.0),
        rank=ibis.ifelse(events.touchpoint.notnull() & ~is_goal, rank, -1),
    )
    ranks = range(len(stages) + 1)
    times = rows.group_by(person).aggregate(
        conv_t=rows.t.min(where=rows.goal),
        value=rows.revenue.sum(),
        **{f"f{r}": rows.t.min(where=rows.rank == r) for r in ranks},
        **{c: rows[c].argmin(rows._order) for c in firsts},
    )
    entry = _entry(times, spec)
    joined = times.mutate(**entry)
    people = joined.select(
        *dict.fromkeys(["person_id", person]),
        *entry,
        conv_t=joined.conv_t,
        converted=joined.conv_t.notnull().cast("int64"),
        value=joined.value.fill_null(0.0),
        **{
            f"f{r}": ibis.ifelse(
                joined.conv_t.isnull() | (joined[f"f{r}"] <= joined.conv_t), joined[f"f{r}"], None
            )
            for r in ranks
        },
    )
    # Level 0 always; level 1 + r when stage rank r was the furthest for a while: its first
    # touch came before that of every further stage (least() skips missing times).
    levels: ir.IntegerValue = ibis.literal(1, "int64")
    for r in ranks:
        reached = people[f"f{r}"]
        further = [people[f"f{q}"] for q in ranks if q > r]
        # Spark's least() wants two arguments or more.
        later = ibis.least(*further) if len(further) > 1 else (further or [ibis.null("int64")])[0]
        furthest = reached.notnull() & (later.isnull() | (reached < later))
        levels = levels + ibis.ifelse(furthest, 2 ** (r + 1), 0)
    return people.mutate(levels=levels.cast("int64"))


def _entry(first: ir.Table, spec: IncrementalitySpec) -> dict[str, ir.Value]:
    """What a person's first event (the :data:`FIRST_COLUMNS` of ``first``) gives them: the
    ``entry_anonymous_id`` and the strata ``s_<key>``."""
    period = (
        (first.ts.year() * 100 + first.ts.month()).cast("string")
        if spec.period == "month"
        else (epoch_seconds(first.ts) // WEEK).cast("string")
    )
    attributes = {"channel": first.channel, "device": first.device, "period": period}
    return {
        "entry_anonymous_id": first.anonymous_id,
        **{f"s_{k}": attributes[k].fill_null("(none)") for k in spec.strata if k != "stage"},
    }


def _level(people: ir.Table, at: ir.IntegerValue, stages: Sequence[str]) -> ir.IntegerValue:
    """The level at time ``at``: 0 with no earlier touch, else 1 + the furthest stage rank of
    the touches in earlier seconds."""
    ranks = reversed(range(len(stages) + 1))
    return ibis.cases(*[(people[f"f{r}"] < at, r + 1) for r in ranks], else_=0).cast("int64")


def build_incrementality(
    events: ir.Table,
    spec: IncrementalitySpec,
    stages: Sequence[str] = (),
    people: ir.Table | None = None,
) -> tuple[ir.Table, ir.Table]:
    """Two small aggregates: people per (stratum, ``levels``, converted), and exposed people per
    (touchpoint, stratum, ``level`` of the first exposure, ``levels``, converted).

    ``levels`` is a bit mask of the levels a person was at before converting: bit ``k`` when
    some touch of theirs came at level ``k``, or their last touch left them there. ``stages``
    is the stage order (only used with the ``stage`` stratum); ``people`` the table
    :func:`build_people` makes of the same events, when it is already at hand.

    One sort of the events (for each person's first event); the rest is hash aggregates and
    equi-joins per person, so it runs alike on DuckDB and Spark.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> table = ibis.memtable(journeys({"ann": [("ad", "2026-01-01"), ("purchase", "+1d")]}))
    >>> people, exposed = build_incrementality(table, IncrementalitySpec(strata=["channel"]))
    >>> exposed.execute()[["touchpoint", "level", "levels", "converted", "people"]].values.tolist()
    [['ad', 0, 3, 1, 1]]
    """
    events = _analysed(events, spec)
    people = build_people(events, spec, stages) if people is None else people
    strata = [f"s_{k}" for k in spec.strata if k != "stage"]
    person = "person_key" if "person_key" in people.columns else "person_id"
    touches = events.filter(events.touchpoint.notnull(), ~events.event.isin(list(spec.goals)))
    entry = people.select(person, "entry_anonymous_id", "conv_t")
    joined = touches.inner_join(entry, touches[person] == entry[person])
    # A touch is an exposure only if it was the person's when it happened: on the device
    # (anonymous id) they arrived on, or under their user id. A touch on another device that only
    # a later login tied to them is left out: logging in goes with buying, so counting it would
    # show touches on other devices mostly for buyers.
    own = (
        joined.anonymous_id.isnull()
        | joined.user_id.notnull()
        | (joined.anonymous_id == joined.entry_anonymous_id).fill_null(False)
    )
    t = epoch_seconds(joined.ts)
    owned = joined.filter(own, joined.conv_t.isnull() | (t <= joined.conv_t))
    first = owned.group_by(person, "touchpoint").aggregate(first_t=epoch_seconds(owned.ts).min())
    hit = first.inner_join(people, first[person] == people[person])
    # The level only rises with time: the first exposure's is the lowest.
    hit = hit.mutate(level=_level(hit, hit.first_t, stages))
    totals = people.group_by([*strata, "levels", "converted"]).aggregate(
        people=people.count(), value=people.value.sum()
    )
    by_touchpoint = hit.group_by(["touchpoint", *strata, "level", "levels", "converted"]).aggregate(
        people=hit.count()
    )
    return totals, by_touchpoint


def _lift(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lift (pp) and matched exposed people from counts (..., cells, 4): exposed converted,
    exposed not, comparable converted, comparable not — one cell per stratum and landmark."""
    n1 = counts[..., 0] + counts[..., 1]
    n0 = counts[..., 2] + counts[..., 3]
    both = (n1 > 0) & (n0 > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(both, counts[..., 0] / n1 - counts[..., 2] / n0, 0.0)
        matched = np.where(both, n1, 0).sum(axis=-1)
        lift = 100 * (diff * np.where(both, n1, 0)).sum(axis=-1) / matched
    return lift, matched


@dataclass
class _Design:
    """People of one touchpoint in groups that count alike (``sizes``), and where each group
    counts: a cell (stratum × landmark) and a column of it — exposed converted, exposed not,
    comparable converted, comparable not. ``rows`` are sorted by ``columns``."""

    sizes: np.ndarray
    rows: np.ndarray
    columns: np.ndarray
    cells: int

    def counts(self, weights: np.ndarray) -> np.ndarray:
        """Counts per cell, (..., cells, 4), with each group's people weighted by ``weights``."""
        targets, starts = np.unique(self.columns, return_index=True)
        flat = np.zeros((*weights.shape[:-1], self.cells * 4))
        flat[..., targets] = np.add.reduceat(weights[..., self.rows], starts, axis=-1)
        return flat.reshape(*weights.shape[:-1], self.cells, 4)


def _design(totals: pd.DataFrame, exposed: pd.DataFrame, strata: list[str]) -> _Design:
    """A touchpoint's exposed people count at their first exposure's landmark (stratum, level);
    every person counts as comparable at each level they were at, in their stratum, before any
    exposure — exposed people included, at the levels before theirs."""
    key = [*strata, "levels", "converted"]
    unexposed = totals.set_index(key)["people"].sub(
        exposed.groupby(key)["people"].sum(), fill_value=0
    )
    groups = pd.concat(
        [
            unexposed[unexposed > 0].reset_index().assign(level=NEVER),
            exposed[[*key, "level", "people"]],
        ],
        ignore_index=True,
    )
    landmarks = np.sort(exposed["level"].unique())
    wanted = np.bitwise_or.reduce(1 << landmarks.astype(np.int64))
    # Only the landmarks where this touchpoint has exposed people matter: groups that differ
    # elsewhere count alike.
    below = (1 << np.minimum(groups["level"].to_numpy(), 62)) - 1
    groups["levels"] = groups["levels"].to_numpy() & wanted & below
    alike = groups.groupby([*key, "level"], as_index=False, sort=True)["people"].sum()
    stratum = alike.groupby(strata, sort=True).ngroup().to_numpy() if strata else 0
    stratum = np.zeros(len(alike), np.int64) + stratum
    slot = {int(k): i for i, k in enumerate(landmarks)}
    not_converted = 1 - alike["converted"].to_numpy()
    rows, columns = [], []
    for k, i in slot.items():
        cell = (stratum * len(slot) + i) * 4
        exposed_here = (alike["level"] == k).to_numpy()
        comparable = (alike["levels"].to_numpy() >> k) & 1 == 1
        for mask, role in ((exposed_here, 0), (comparable, 2)):
            index = np.flatnonzero(mask)
            rows.append(index)
            columns.append(cell[index] + role + not_converted[index])
    return _compact(
        alike["people"].to_numpy(np.int64),
        np.concatenate(rows),
        np.concatenate(columns),
        (int(stratum.max()) + 1) * len(slot),
    )


def _compact(sizes: np.ndarray, rows: np.ndarray, columns: np.ndarray, cells: int) -> _Design:
    """Keep the cells with exposed and comparable people — no resample changes the others —
    and pool the groups that count nowhere else into one, which the resampling still draws."""
    point = np.bincount(columns, weights=sizes[rows], minlength=cells * 4).reshape(cells, 4)
    kept = (point[:, :2].sum(axis=1) > 0) & (point[:, 2:].sum(axis=1) > 0)
    keep = kept[columns // 4]
    rows, columns = rows[keep], (np.cumsum(kept) - 1)[columns[keep] // 4] * 4 + columns[keep] % 4
    used = np.unique(rows)
    index = np.zeros(len(sizes), np.int64)
    index[used] = np.arange(len(used))
    sizes = np.append(sizes[used], sizes.sum() - sizes[used].sum())
    order = np.argsort(columns, kind="stable")
    return _Design(sizes, index[rows][order], columns[order], int(kept.sum()))


def _estimate(design: _Design, spec: IncrementalitySpec, rng: np.random.Generator) -> list[Any]:
    sizes = design.sizes
    if design.cells == 0:
        return [np.nan, 0, np.nan, np.nan]
    lift, matched = _lift(design.counts(sizes.astype(float)))
    # Poisson bootstrap: each person is drawn a Poisson(1) number of times, so a group of n
    # people a Poisson(n) number — resampling people with replacement, in large samples the
    # same as drawing exactly as many people as there are, and three times as fast to draw.
    # Drawn in chunks of replicates, so that memory stays bounded however many groups there
    # are (the draws come in the same order: the numbers do not depend on the chunk size).
    chunk = max(1, DRAWS_PER_CHUNK // max(sizes.size, design.rows.size, 4 * design.cells))
    boot = np.concatenate(
        [
            _lift(design.counts(rng.poisson(sizes, size=(n, sizes.size)).astype(float)))[0]
            for n in np.diff([*range(0, spec.bootstrap, chunk), spec.bootstrap])
        ]
    )
    boot = boot[~np.isnan(boot)]
    tail = (1 - spec.confidence) / 2 * 100
    low, high = np.percentile(boot, [tail, 100 - tail]) if boot.size else (np.nan, np.nan)
    return [float(lift), int(matched), float(low), float(high)]


def run_incrementality(events: ir.Table, spec: IncrementalitySpec) -> IncrementalityResult:
    """Lift of every touchpoint on conversion, in percentage points, with a bootstrap interval.

    Examples
    --------
    >>> from journeylens.testing import journeys
    >>> people = {f"p{i}": [("ad", "2026-01-01")] + [("purchase", "+1d")] * (i % 2)
    ...           for i in range(40)}
    >>> people.update({f"q{i}": [("blog", "2026-01-01")] for i in range(40)})
    >>> result = run_incrementality(ibis.memtable(journeys(people)), IncrementalitySpec(
    ...     strata=[]))
    >>> float(result.to_frame().set_index("touchpoint").loc["ad", "lift"])
    50.0
    """
    stages = _stage_order(events, spec)
    totals_expr, exposed_expr = build_incrementality(events, spec, stages)
    # Both aggregates start from the people: work them out once.
    with build_people(events, spec, stages).cache() as people:
        totals_now, exposed_now = build_incrementality(events, spec, stages, people)
        totals, exposed = totals_now.execute(), exposed_now.execute()
    strata = [f"s_{k}" for k in spec.strata if k != "stage"]
    converters = totals.loc[totals["converted"] == 1]
    per_conversion = converters["value"].sum() / max(converters["people"].sum(), 1)
    rng = np.random.default_rng(spec.seed)
    rows = []
    for touchpoint, rows_of in exposed.groupby("touchpoint", sort=True):
        design = _design(totals, rows_of, strata)
        lift, matched, low, high = _estimate(design, spec, rng)
        incremental = lift / 100 * matched if matched else 0.0
        rows.append(
            {
                "model": "incrementality",
                "touchpoint": touchpoint,
                "exposed_people": int(rows_of["people"].sum()),
                "matched_people": matched,
                "lift": lift,
                "lift_low": low,
                "lift_high": high,
                "conversions": incremental,
                "revenue": incremental * per_conversion,
            }
        )
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame = frame.sort_values("lift", ascending=False, ignore_index=True)
    return IncrementalityResult(frame, (totals_expr, exposed_expr))


_COLUMNS = [
    "model",
    "touchpoint",
    "exposed_people",
    "matched_people",
    "lift",
    "lift_low",
    "lift_high",
    "conversions",
    "revenue",
]
