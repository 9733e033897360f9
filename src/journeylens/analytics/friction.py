"""Friction: where, and for whom, people abandon, fail, retry, loop, pause or struggle.

Each touchpoint × segment (a value of a dimension such as ``device=mobile``) is compared with the
same touchpoint in the other values of that dimension — like with like, so a touchpoint that is
hard for everyone does not crowd the list, and a segment that is simply rarer is not punished.
The per-event signals and the unit counts are those of
:mod:`journeylens.analytics._friction_signals`; this module turns the counts into rates, tests
each against its baseline (one-sided two-proportion z-tests, Benjamini–Hochberg over every test
made, a minimum count and a minimum lift), estimates what the excess abandonment costs, and writes
one sentence per row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import pandas as pd

from journeylens.analytics._friction_signals import (
    COUNTS,
    NONE,
    SignalRules,
    build_effort_counts,
    build_overview,
    build_segment_counts,
)
from journeylens.analytics.filters import in_range
from journeylens.analytics.result import Result, frame_records, json_ready, plot_labels
from journeylens.analytics.sequence import sequence_columns
from journeylens.errors import SpecError
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import Duration, check_key, key_text

__all__ = [
    "EVERYONE",
    "NONE",
    "SIGNALS",
    "FrictionResult",
    "FrictionSpec",
    "build_friction_counts",
    "rank",
    "run_friction",
]

# signal: (units with it, units it is counted over)
SIGNALS: dict[str, tuple[str, str]] = {
    "abandonment": ("abandoned", "decided"),
    "error": ("errored", "people"),
    "retry": ("retried", "people"),
    "loop": ("looped", "people"),
    "postponement": ("postponed", "people"),
    "effort": ("effort", "responses"),
}
SEGMENT = ["touchpoint", "dimension", "value"]
ANSWERS = -1  # the position stratum of feedback answers (see ``count_segments``)
SYMPTOM_WEIGHT = 0.1  # of a symptom signal's excess units in the score
# The dimension of a comparison over everyone (before/after): one value, "all".
EVERYONE = "everyone"
RESERVED = ("person_id", "ts", "event_id", "event", "touchpoint", "properties", EVERYONE)


@dataclass(frozen=True)
class FrictionSpec:
    """Which friction to look for and how sure to be; validated on construction.

    Parameters
    ----------
    by
        Segment dimensions: canonical columns (``channel``, ``device``, ``interaction``, ...) or
        JSON properties of ``properties``.
    within
        The window: no next event within it ends the journey (abandonment); a goal within it
        converts.
    goal
        The goal events (``purchase``).
    retry_within, postpone_after
        A repeat of the same event within ``retry_within`` of the one before is a retry; a gap
        over ``postpone_after`` before the next event is a postponement.
    error_patterns
        Globs of error event names (``*error*``).
    min_count, min_affected, alpha, min_lift
        A signal is tested when the segment and its baseline each count at least ``min_count``
        units; it is significant when at least ``min_affected`` units of the segment show it, its
        Benjamini–Hochberg adjusted p-value is below ``alpha`` and its rate is at least
        ``min_lift`` times the baseline's.
    period
        Lost conversions and revenue are scaled to this period (``"30d"``).
    top, include_all
        How many rows (None: all); with ``include_all`` also segments without significant
        friction.
    touchpoint
        Only this touchpoint's segments (the signals still read every event).
    since, until
        Only events with ``since <= ts < until`` (naive UTC); a feedback answer counts by the
        time of the event it answers.

    Examples
    --------
    >>> FrictionSpec(by=["device"], within="7d").window
    604800
    """

    by: Sequence[str] = ("channel", "device", "interaction")
    within: str = "14d"
    goal: Sequence[str] = ("purchase",)
    retry_within: str = "30s"
    postpone_after: str = "1d"
    error_patterns: Sequence[str] = ("*error*", "*fail*")
    min_count: int = 30
    min_affected: int = 10
    alpha: float = 0.05
    min_lift: float = 1.25
    period: str = "30d"
    top: int | None = 20
    include_all: bool = False
    touchpoint: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    window: int = field(init=False, repr=False, compare=False)
    # Each duration option as read, once (``"period"``: ``Duration(30, "d")``).
    durations: dict[str, Duration] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", naive_utc_or_none(self.since, "since"))
        object.__setattr__(self, "until", naive_utc_or_none(self.until, "until"))
        for name in ("by", "goal", "error_patterns"):
            value = getattr(self, name)
            object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.by:
            raise SpecError("Friction needs at least one dimension in 'by', e.g. device.")
        for key in self.by:
            if key in RESERVED:
                raise SpecError(f"Cannot segment friction by {key!r}: use e.g. channel or device.")
            check_key(key, "friction dimension")
        if len(set(self.by)) != len(self.by):
            raise SpecError(f"Friction dimensions repeat: {list(self.by)}.")
        if not self.goal:
            raise SpecError("Friction needs a goal event, e.g. purchase.")
        durations = {
            name: Duration.parse(getattr(self, name), name)
            for name in ("within", "retry_within", "postpone_after", "period")
        }
        object.__setattr__(self, "durations", durations)
        object.__setattr__(self, "window", durations["within"].seconds)
        # top=None lists every segment; top=0 would list none, silently.
        if min(self.min_count, self.min_affected, 1 if self.top is None else self.top) < 1:
            raise SpecError(
                "min_count, min_affected and top must be ≥ 1, got "
                f"{self.min_count}, {self.min_affected}, {self.top}."
            )
        if not 0 < self.alpha < 1 or self.min_lift < 1:
            raise SpecError(
                f"alpha must be in (0, 1) and min_lift ≥ 1, got {self.alpha}, {self.min_lift}."
            )
        if self.since and self.until and self.since >= self.until:
            raise SpecError(f"since {self.since} must be before until {self.until}.")

    @property
    def rules(self) -> SignalRules:
        return SignalRules(
            window=self.window,
            retry=self.durations["retry_within"].seconds,
            postpone=self.durations["postpone_after"].seconds,
            goals=tuple(self.goal),
            error_patterns=tuple(self.error_patterns),
        )

    def to_dict(self) -> dict[str, Any]:
        keep = ("by", "within", "goal", "retry_within", "postpone_after", "error_patterns")
        more = (
            "min_count",
            "min_affected",
            "alpha",
            "min_lift",
            "period",
            "top",
            "include_all",
            "touchpoint",
            "since",
            "until",
        )
        return json_ready({name: getattr(self, name) for name in (*keep, *more)})


def segmented(events: ir.Table, by: Sequence[str], everyone: bool = False) -> ir.Table:
    """The columns friction reads, with each dimension as a text column named by its key."""
    extra = {EVERYONE: ibis.literal("all")} if everyone else {}
    return events.select(
        *sequence_columns(events),
        "event",
        "touchpoint",
        **{key: key_text(events, key) for key in by},
        **extra,
    )


def build_friction_counts(
    events: ir.Table,
    spec: FrictionSpec,
    end: datetime,
    touchpoints: Sequence[str] | None = None,
    everyone: bool = False,
    start: datetime | None = None,
) -> ir.Table:
    """Per ``touchpoint, dimension, value``: the unit counts (see ``_friction_signals``).

    With ``everyone`` each touchpoint is also counted as a whole (dimension ``everyone``).
    ``end``: the end of the data; ``start``, where known, its start (no event is earlier).
    """
    table = segmented(in_range(events, spec.since, spec.until), spec.by, everyone)
    dims = [*spec.by, EVERYONE] if everyone else list(spec.by)
    if touchpoints is None and spec.touchpoint is not None:
        touchpoints = [spec.touchpoint]
    first = max((t for t in (start, spec.since) if t is not None), default=None)
    return build_segment_counts(table, dims, spec.rules, end, touchpoints, first)


def effort_counts(
    feedback: ir.Table | None, events: ir.Table, spec: FrictionSpec, everyone: bool = False
) -> ir.Table | None:
    """CES/success answers per segment: each in its person's unit at its touchpoint, in the
    time range of the event it answers (see :func:`._friction_signals.build_effort_counts`)."""
    if feedback is None:
        return None
    values: dict[str, ir.Value] = {key: key_text(events, key) for key in spec.by}
    dims = list(spec.by)
    if everyone:
        feedback = feedback.mutate(**{EVERYONE: ibis.literal("all")})
        values[EVERYONE] = ibis.literal("all")
        dims.append(EVERYONE)
    return build_effort_counts(feedback, events, dims, values, (spec.since, spec.until))


def with_baselines(counts: pd.DataFrame) -> pd.DataFrame:
    """Add ``rest_<count>``: the same touchpoint's counts in the dimension's other values (in
    the same position stratum, where the counts have one)."""
    counts = counts.copy()
    columns = [c for c in counts.columns if c not in (*SEGMENT, "stratum")]
    within = ["touchpoint", "dimension", *(["stratum"] if "stratum" in counts.columns else [])]
    totals = counts.groupby(within)[columns].transform("sum")
    for column in columns:
        counts[column] = counts[column].fillna(0).astype("int64")
        counts[f"rest_{column}"] = totals[column].fillna(0).astype("int64") - counts[column]
    return counts


def stratified(strata: pd.DataFrame) -> pd.DataFrame:
    """Per segment: the counts summed over the position strata and, per signal, the parts of
    the comparison from the strata where both the segment and its baseline have units:
    ``_<s>_x1`` (the segment's units with it), ``_<s>_n1``/``_<s>_n2`` (the units of each),
    ``_<s>_expected`` (the segment's units × the baseline's rate), ``_<s>_dev`` and ``_<s>_var``
    (the pooled test's deviation and variance).
    """
    parts = strata.copy()
    for name, (hit, over) in SIGNALS.items():
        x1, n1 = parts[hit].astype(float), parts[over].astype(float)
        x2, n2 = parts[f"rest_{hit}"].astype(float), parts[f"rest_{over}"].astype(float)
        both = (n1 > 0) & (n2 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            pooled = (x1 + x2) / (n1 + n2)
            terms = {
                "x1": x1,
                "n1": n1,
                "n2": n2,
                "expected": n1 * x2 / n2,
                "dev": x1 - n1 * pooled,
                "var": pooled * (1 - pooled) * n1 * n2 / (n1 + n2),
            }
        for term, values in terms.items():
            parts[f"_{name}_{term}"] = values.where(both, 0.0)
    numeric = [c for c in parts.columns if c not in (*SEGMENT, "stratum")]
    return parts.groupby(SEGMENT, as_index=False, sort=False)[numeric].sum()


def _upper_p(dev: np.ndarray, var: np.ndarray) -> np.ndarray:
    """One-sided p-values of deviations above zero (a normal test); NaN where untestable."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = dev / np.sqrt(var)
    erfc = np.vectorize(math.erfc, otypes=[float])
    return np.where(np.isfinite(z), 0.5 * erfc(np.nan_to_num(z) / math.sqrt(2)), np.nan)


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values of the finite entries of ``p`` (NaN stays NaN).

    Examples
    --------
    >>> benjamini_hochberg(np.array([0.01, 0.04, np.nan, 0.03])).round(3).tolist()
    [0.03, 0.04, nan, 0.04]
    """
    out = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    if tested.size == 0:
        return out
    order = tested[np.argsort(p[tested])]
    ranked = p[order] * tested.size / np.arange(1, tested.size + 1)
    out[order] = np.minimum(np.minimum.accumulate(ranked[::-1])[::-1], 1.0)
    return out


def compare_signals(counts: pd.DataFrame, spec: FrictionSpec) -> pd.DataFrame:
    """Per signal: ``<s>_rate``, ``<s>_baseline_rate``, ``<s>_lift``, ``<s>_excess``,
    ``<s>_p_value`` (adjusted) and ``<s>_significant``, from :func:`stratified` counts.

    Both rates cover the strata compared, those the segment and the baseline both reach
    (where they share none, all their units): the segment's rate there, and the baseline's
    rate in each weighted by the segment's units there (the rate the segment would have if it
    behaved like the baseline at the same positions). Units at positions the baseline never
    reaches move neither, nor the lift. The test is the pooled two-proportion z-test summed
    over the strata (with one stratum, exactly the pooled two-proportion z-test).
    """
    out = counts.copy()
    raw: dict[str, np.ndarray] = {}
    for name, (hit, over) in SIGNALS.items():
        x1, n1 = out[hit].to_numpy(float), out[over].to_numpy(float)
        x2, n2 = out[f"rest_{hit}"].to_numpy(float), out[f"rest_{over}"].to_numpy(float)
        n1c, n2c = out[f"_{name}_n1"].to_numpy(float), out[f"_{name}_n2"].to_numpy(float)
        x1c, expected = out[f"_{name}_x1"].to_numpy(float), out[f"_{name}_expected"].to_numpy(float)
        compared = n1c > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            rate = np.where(compared, x1c / n1c, x1 / n1)
            base = np.where(compared, expected / n1c, x2 / n2)
            lift = np.where(base > 0, rate / base, np.where(rate > 0, np.inf, 1.0))
        # No lift where either side has no units: nothing to compare.
        out[f"{name}_lift"] = np.where((n1 > 0) & (n2 > 0), lift, np.nan)
        out[f"{name}_rate"] = np.where(n1 > 0, rate, np.nan)
        out[f"{name}_baseline_rate"] = np.where(n2 > 0, base, np.nan)
        out[f"{name}_excess"] = x1c - expected
        enough = (n1c >= spec.min_count) & (n2c >= spec.min_count)
        p = _upper_p(out[f"_{name}_dev"].to_numpy(float), out[f"_{name}_var"].to_numpy(float))
        raw[name] = np.where(enough, p, np.nan)
    adjusted = benjamini_hochberg(np.concatenate(list(raw.values())))
    for index, name in enumerate(SIGNALS):
        p = adjusted[index * len(out) : (index + 1) * len(out)]
        out[f"{name}_p_value"] = p
        out[f"{name}_significant"] = (
            (np.nan_to_num(p, nan=1.0) < spec.alpha)
            & (out[f"{name}_lift"] >= spec.min_lift)
            & (out[f"{name}_excess"] > 0)
            & (out[SIGNALS[name][0]] >= spec.min_affected)
        )
    return out


def _phrase(name: str, row: Any) -> str:
    rate, base, lift = row[f"{name}_rate"], row[f"{name}_baseline_rate"], row[f"{name}_lift"]
    if name == "abandonment":
        return f"{rate:.0%} abandon vs {base:.0%} elsewhere"
    if name == "error":
        return f"{rate:.0%} hit an error vs {base:.0%} elsewhere"
    if name == "effort":
        return f"{rate:.0%} report high effort vs {base:.0%} elsewhere"
    if name == "postponement":
        return f"{rate:.0%} pause before the next step vs {base:.0%} elsewhere"
    plural = {"retry": "retries", "loop": "loops"}[name]
    return f"{lift:.1f}× more {plural}" if math.isfinite(lift) else f"{plural} only here"


def segment_label(dimension: str, value: str) -> str:
    """``mobile`` for a device (its values say what they are), ``channel=email``,
    ``plan=pro`` and ``device=(none)`` for the others ("checkout on email" would read as an
    e-mail touchpoint); a value with leading or trailing spaces is quoted."""
    shown = f"'{value}'" if value != value.strip() or not value else value
    return shown if dimension == "device" and value != NONE else f"{dimension}={shown}"


def explain(row: Any, spec: FrictionSpec) -> str:
    """One sentence: the touchpoint and segment, each significant signal, the loss."""
    signals = [s for s in SIGNALS if row[f"{s}_significant"]]
    signals.sort(key=lambda s: (s != "abandonment", -row[f"{s}_excess"]))
    where = f"{row['touchpoint']} on {segment_label(row['dimension'], row['value'])}"
    parts = [_phrase(s, row) for s in signals] or ["no significant friction"]
    if row["lost_conversions"] >= 0.5:
        goal = spec.goal[0] if len(spec.goal) == 1 else "conversion"
        lost = round(row["lost_conversions"])
        plural = "" if lost == 1 else "s"
        worth = row["lost_revenue"]
        money = f" worth ~{worth:,.0f}" if pd.notna(worth) and worth >= 1 else ""
        parts.append(f"~{lost:,} lost {goal}{plural}{money} in {spec.durations['period'].words()}")
    return f"{where}: {'; '.join(parts)}"


def estimate_losses(
    tested: pd.DataFrame, overview: dict[str, Any], spec: FrictionSpec
) -> pd.DataFrame:
    """Excess abandonment × the conversion rate of those who continue, per ``period``."""
    out = tested.copy()
    span = max((overview["end"] - overview["start"]).total_seconds(), 1.0)
    scale = spec.durations["period"].seconds / span
    with np.errstate(divide="ignore", invalid="ignore"):
        own = out["continued_converted"] / out["continued"]
        rest = out["rest_continued_converted"] / out["rest_continued"]
    onward = own.where(out["continued"] > 0, rest).fillna(0.0)
    excess = out["abandonment_excess"].where(out["abandonment_significant"], 0.0)
    out["lost_conversions"] = (excess.clip(lower=0) * onward * scale).astype(float)
    paid = overview.get("paid") or 0
    value = (overview.get("revenue") or 0.0) / paid if paid else None
    out["lost_revenue"] = out["lost_conversions"] * value if value is not None else np.nan
    return out


def score(tested: pd.DataFrame) -> pd.Series:
    """Excess abandonment plus a tenth of every other signal's excess (significant ones only).

    Abandonment is the outcome; errors, retries, loops, pauses and effort are symptoms, so a
    segment that loses people ranks above one that only struggles on its way through.
    """
    total = pd.Series(0.0, index=tested.index)
    for name in SIGNALS:
        weight = 1.0 if name == "abandonment" else SYMPTOM_WEIGHT
        total += weight * tested[f"{name}_excess"].where(tested[f"{name}_significant"], 0.0)
    return total


FIRST = ["touchpoint", "segment", "score", "lost_conversions", "lost_revenue", "explanation"]
# Each signal's columns, in this order: ``<signal>_rate``, ``<signal>_baseline_rate``, ...
SIGNAL_PARTS = ("rate", "baseline_rate", "lift", "excess", "p_value", "significant")


@dataclass
class FrictionResult(Result):
    """Friction points, best first.

    ``to_dict()`` is a list of records: ``touchpoint``, ``segment`` (``{dimension: value}``),
    ``score``, ``lost_conversions``, ``lost_revenue``, ``explanation``, ``significant``, the unit
    counts (``people``, ``decided``, ``abandoned``, ``retried``, ``retries``, ``errored``,
    ``errors``, ``looped``, ``postponed``, ``converted``, ``responses``, ``effort``) and per
    signal (abandonment, error, retry, loop, postponement, effort) ``<signal>_rate``,
    ``<signal>_baseline_rate``, ``<signal>_lift``, ``<signal>_excess``, ``<signal>_p_value``
    and ``<signal>_significant``; both rates cover the position strata compared (see
    :func:`compare_signals`).
    """

    spec: FrictionSpec
    rows: pd.DataFrame
    overview: dict[str, Any] = field(default_factory=dict)
    queries: tuple[Any, ...] = ()

    def to_frame(self) -> pd.DataFrame:
        return self.rows

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.rows)

    def display_frame(self) -> pd.DataFrame:
        """The columns a person reads first, for terminal tables: per signal that makes some row
        significant (else abandonment, errors and retries), the segment's rate against its
        baseline's in one column (``34.0% vs 9.7%``); the losses in whole conversions and
        money."""
        frame = self.rows.assign(
            segment=[
                ", ".join(f"{k}={v}" for k, v in s.items()) for s in self.rows.get("segment", [])
            ]
        )
        found = [s for s in SIGNALS if frame.get(f"{s}_significant", pd.Series()).any()]
        shown = [s for s in (found or ("abandonment", "error", "retry")) if f"{s}_rate" in frame]
        versus = {
            s: [
                _versus(rate, base)
                for rate, base in zip(frame[f"{s}_rate"], frame[f"{s}_baseline_rate"], strict=True)
            ]
            for s in shown
        }
        lost = [c for c in ("lost_conversions", "lost_revenue") if c in frame.columns]
        whole = {c: pd.to_numeric(frame[c]).astype("Float64").round().astype("Int64") for c in lost}
        leading = [c for c in ("touchpoint", "segment", "people") if c in frame.columns]
        score = ["score"] if "score" in frame.columns else []
        return frame[leading].assign(**versus).join(frame[score]).assign(**whole)

    def figure(self) -> Any:
        """Horizontal bars: the score of each friction point."""
        import plotly.graph_objects as go

        labels = plot_labels(
            f"{r.touchpoint} · {r.segment}" for r in self.display_frame().itertuples()
        )
        fig = go.Figure(go.Bar(x=list(self.rows.get("score", [])), y=labels, orientation="h"))
        fig.update_layout(title="Friction points", yaxis={"autorange": "reversed"})
        return fig


def _versus(rate: float, baseline: float) -> str:
    """A rate against its baseline for a table cell: ``34.0% vs 9.7%`` (blank without a rate).

    >>> _versus(0.34, 0.097), _versus(0.5, float("nan")), _versus(float("nan"), 0.1)
    ('34.0% vs 9.7%', '50.0%', '')
    """
    if pd.isna(rate):
        return ""
    return f"{rate:.1%}" if pd.isna(baseline) else f"{rate:.1%} vs {baseline:.1%}"


def count_segments(
    events: ir.Table,
    feedback: ir.Table | None,
    spec: FrictionSpec,
    end: datetime,
    everyone: bool = False,
    strata: bool = False,
    start: datetime | None = None,
) -> pd.DataFrame:
    """The unit counts per segment with the effort answers merged in (small: one row each).

    With ``strata`` one row per segment and position stratum; the answers, which have no
    position, are a stratum of their own (:data:`ANSWERS`). The answers count at the
    touchpoints counted (with units among the events analysed), in every segment they fall in:
    one that no unit has (an anonymous answer's own value, or ``(none)``) is a row of answers
    alone, with no units. ``end`` and ``start``: as :func:`build_friction_counts` reads them.
    """
    counts = build_friction_counts(events, spec, end, everyone=everyone, start=start).execute()
    effort = effort_counts(feedback, events, spec, everyone)
    empty = pd.DataFrame(columns=[*SEGMENT, "responses", "effort"])
    answers = effort.execute() if effort is not None else empty
    answers = answers.astype({"responses": "int64", "effort": "int64"})
    answers = answers[answers["touchpoint"].isin(counts["touchpoint"])]
    if strata:
        merged = pd.concat([counts, answers.assign(stratum=ANSWERS)], ignore_index=True)
    else:
        totals = counts.groupby(SEGMENT, as_index=False)[list(COUNTS)].sum()
        merged = totals.merge(answers, on=SEGMENT, how="outer")
    extra = ["responses", "effort", *COUNTS]
    return merged.fillna(dict.fromkeys(extra, 0)).astype(dict.fromkeys(extra, "int64"))


def run_friction(
    events: ir.Table,
    spec: FrictionSpec,
    feedback: ir.Table | None = None,
    unfiltered: ir.Table | None = None,
) -> FrictionResult:
    """Rank friction points: touchpoint × segment worse than the same touchpoint elsewhere.

    Parameters
    ----------
    events
        An events table in the canonical schema (any Ibis backend).
    spec
        What to look for (see :class:`FrictionSpec`).
    feedback
        The feedback table, for the effort signal (CES and success answers); under a
        ``where`` that filtered the events, the answers it keeps
        (:func:`.filters.answers_where`).
    unfiltered
        The events before that ``where`` (default: ``events``): the data's span, whose end
        decides the units, is theirs (within ``since``/``until``), as without the filter.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("pay", "2026-01-01")]}))
    >>> run_friction(events, FrictionSpec(by=["device"])).to_dict()
    []
    """
    overview = _overview(events, spec, unfiltered)
    if overview["end"] is None:
        return FrictionResult(spec=spec, rows=_empty(), overview=overview)
    counts = count_segments(
        events, feedback, spec, overview["end"], strata=True, start=overview["start"]
    )
    rows = rank(counts, overview, spec)
    return FrictionResult(spec=spec, rows=rows, overview=overview)


def _overview(
    events: ir.Table, spec: FrictionSpec, unfiltered: ir.Table | None = None
) -> dict[str, Any]:
    """The goals' count and revenue in ``events``, and the data's ``start`` and ``end``: those
    of ``unfiltered`` where given (read only then), with ``end`` None when ``events`` are
    empty."""
    frame = build_overview(in_range(events, spec.since, spec.until), spec.goal).execute()
    record = {k: json_ready(v) for k, v in frame.iloc[0].to_dict().items()}
    for key in ("start", "end"):
        record[key] = None if pd.isna(frame[key].iloc[0]) else pd.Timestamp(frame[key].iloc[0])
    if record["end"] is not None and unfiltered is not None and unfiltered is not events:
        span = data_span(in_range(unfiltered, spec.since, spec.until))
        if span is not None:  # it holds ``events``
            record["start"], record["end"] = pd.Timestamp(span[0]), pd.Timestamp(span[1])
    return record


def data_span(events: ir.Table) -> tuple[datetime, datetime] | None:
    """The first and the last ``ts`` of ``events`` (None when there is no event)."""
    frame = events.aggregate(start=events.ts.min(), end=events.ts.max()).execute()
    if frame["start"].isna().iloc[0]:
        return None
    return pd.Timestamp(frame["start"].iloc[0]).to_pydatetime(), pd.Timestamp(
        frame["end"].iloc[0]
    ).to_pydatetime()


def rank(counts: pd.DataFrame, overview: dict[str, Any], spec: FrictionSpec) -> pd.DataFrame:
    """Baselines, tests, losses, scores and sentences for the counted segments; best first."""
    if counts.empty:
        return _empty()
    tested = compare_signals(stratified(with_baselines(counts)), spec)
    tested = estimate_losses(tested, overview, spec)
    tested["score"] = score(tested)
    flags = [f"{s}_significant" for s in SIGNALS]
    tested["significant"] = tested[flags].any(axis=1)
    if not spec.include_all:
        tested = tested[tested["significant"]]
    tested = tested.assign(
        segment=pd.Series(
            [{d: v} for d, v in zip(tested["dimension"], tested["value"], strict=True)],
            index=tested.index,
            dtype=object,
        ),
        explanation=[explain(row, spec) for _, row in tested.iterrows()],
        _strength=tested[[f"{s}_p_value" for s in SIGNALS]].min(axis=1).fillna(1.0),
    )
    tested = tested.sort_values(
        ["score", "_strength", "people", "touchpoint", "dimension", "value"],
        ascending=[False, True, False, True, True, True],
        kind="stable",
    )
    drop = [c for c in tested.columns if c.startswith(("_", "rest_", "continued"))]
    tested = tested.drop(columns=drop)
    if spec.top is not None:
        tested = tested.head(spec.top)
    tested = tested.reset_index(drop=True)
    # The documented order: the headline, the unit counts, then each signal's columns together.
    per_signal = [f"{s}_{part}" for s in SIGNALS for part in SIGNAL_PARTS]
    head = [*FIRST, "significant"]
    rest = [c for c in tested.columns if c not in head and c not in per_signal]
    return tested[[*head, *rest, *(c for c in per_signal if c in tested.columns)]]


def _empty() -> pd.DataFrame:
    return pd.DataFrame(columns=FIRST)
