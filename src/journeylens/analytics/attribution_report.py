"""Every attribution view in one call: credit-sharing models, incrementality, ROI, the cut list.

This is what ``journeylens attribution`` and ``Workspace.attribution`` run. With ``models``
including ``incrementality`` (or ``all``), the lift of each touchpoint is added as records with
``model="incrementality"``, beside the credit-sharing models.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics._touches import goal_names, is_touch
from journeylens.analytics.attribution import (
    ALL_MODELS,
    MODELS,
    AttributionBreakdown,
    AttributionResult,
    AttributionSpec,
    run_attribution,
)
from journeylens.analytics.incrementality import (
    IncrementalityResult,
    IncrementalitySpec,
    run_incrementality,
)
from journeylens.analytics.result import Result, frame_records, listed, plot_labels
from journeylens.analytics.roi import RoiSpec, run_cut_list, run_roi
from journeylens.collect.columns import loose_name
from journeylens.errors import SpecError, did_you_mean
from journeylens.journey.catalog import UNMAPPED_HINT
from journeylens.journey.steps import distinct_values, json_value_number, with_revenue_from

REPORT_MODELS = (*MODELS, "incrementality")  # the credit models and the lift
PEOPLE_COUNTS = frozenset({"exposed_people", "matched_people"})


@dataclass
class AttributionReport(Result):
    """Records of every requested model, side by side (``model`` names the model); the table
    and the figure show ``value`` (conversions or revenue). With a breakdown (``by``), the
    credit models within each value in ``breakdown``."""

    records: pd.DataFrame
    level: str
    parts: tuple[Result, ...] = ()
    value: str = "conversions"
    breakdown: AttributionBreakdown | None = None

    def to_frame(self) -> pd.DataFrame:
        return self.records

    def to_dict(self) -> list[dict[str, Any]] | dict[str, Any]:
        """The records; with a breakdown ``{"attribution": records, "breakdown": [...]}``."""
        records = frame_records(self.records)
        if self.breakdown is None:
            return records
        return {"attribution": records, "breakdown": self.breakdown.to_dict()}

    def breakdown_frame(self) -> pd.DataFrame:
        """The breakdown's credit records, the key first (empty without a breakdown)."""
        if self.breakdown is None:
            return pd.DataFrame(columns=["model", self.level, "conversions", "revenue"])
        return self.breakdown.attribution

    def breakdown_sections(self) -> list[tuple[str, pd.DataFrame]]:
        """A title and a table (as :meth:`display_frame`) per breakdown value, in its order."""
        if self.breakdown is None:
            return []
        field, credit = self.breakdown.field, self.breakdown.attribution
        sections = []
        for row in self.breakdown.totals.to_dict(orient="records"):
            mine = credit[credit[field] == row[field]].drop(columns=field)
            unattributed = f", {row['unattributed']:,} unattributed" if row["unattributed"] else ""
            title = (
                f"{field} = {row[field]}: {row['journeys']:,} journeys, "
                f"{row['conversions']:,} conversions{unattributed}"
            )
            sections.append((title, _side_by_side(mine, None, self.level, self.value)))
        return sections

    def lift_not_broken_down(self) -> str | None:
        """A note when a breakdown sits beside lift records, which are the whole data's."""
        if self.breakdown is None or not (self.records["model"] == "incrementality").any():
            return None
        return (
            f"Incrementality is not broken down by {self.breakdown.field}: its lift compares "
            "people across all the data (the breakdown holds the credit models)."
        )

    def attributed(self) -> bool:
        """Whether any model gave credit for a conversion (touches without one get rows of
        zeros)."""
        if self.records.empty or "conversions" not in self.records:
            return False
        credit = self.records[self.records["model"] != "incrementality"]
        return bool(credit["conversions"].fillna(0).abs().sum() > 0)

    def unattributed(self) -> str | None:
        """A note on the conversions no model could credit (no touch within the lookback),
        or None when every one was attributed."""
        result = next((p for p in self.parts if isinstance(p, AttributionResult)), None)
        if result is None or result.totals["unattributed"] <= 0:
            return None
        totals = result.totals
        count = totals["unattributed"]
        share = count / (count + totals["conversions"])
        revenue = totals.get("unattributed_revenue", 0.0)
        worth = f", revenue {revenue:,.2f}" if revenue > 0 else ""
        # With --since, the touches before it are filtered out, whatever the lookback.
        since = result.spec.since
        reach = (
            f"; touches before --since {since:%Y-%m-%d %H:%M:%S} are not read: an earlier "
            "--since (or a longer --lookback) reaches further back."
            if since is not None
            else ": a longer --lookback reaches further back."
        )
        return (
            f"{count:,.0f} conversion(s) ({share:.1%}{worth}) had no touch within the lookback "
            f"and are not in the table{reach}"
        )

    def unmeasured_lift(self) -> str | None:
        """Why some lifts are blank: the values that no comparable people went without, or
        None when every lift was measured (or none was asked for)."""
        lift = self.records[self.records["model"] == "incrementality"]
        if lift.empty or "lift" not in lift:
            return None
        blank = lift.loc[lift["lift"].isna(), self.level].astype(str).tolist()
        if not blank:
            return None
        return (
            f"No lift for {listed(blank)}: everyone at the point where they met it had it (no "
            "comparable people without it), so there is nothing to compare with."
        )

    def display_frame(self) -> pd.DataFrame:
        """One row per value, a column of ``value`` per model, and the lift when present."""
        if self.records.empty:
            return pd.DataFrame(columns=[self.level])
        credit = self.records[self.records["model"] != "incrementality"]
        lift = self.records[self.records["model"] == "incrementality"]
        return _side_by_side(credit, lift, self.level, self.value)

    def figure(self) -> go.Figure:
        """The credit of each model side by side; the lift alone (with its interval) where
        only incrementality was asked for."""
        figure = go.Figure()
        credit = self.records[self.records["model"] != "incrementality"]
        lift = next((p for p in self.parts if isinstance(p, IncrementalityResult)), None)
        if credit.empty and lift is not None:
            return lift.figure()
        for model, rows in credit.groupby("model", sort=False):
            figure.add_bar(x=plot_labels(rows[self.level]), y=rows[self.value], name=str(model))
        figure.update_layout(barmode="group", xaxis_title=self.level, yaxis_title=self.value)
        return figure


def _side_by_side(
    credit: pd.DataFrame, lift: pd.DataFrame | None, level: str, value: str
) -> pd.DataFrame:
    """One row per value, a column of ``value`` per model (and the lift), largest first."""
    table = credit.pivot_table(index=level, columns="model", values=value, sort=False)
    if lift is not None and not lift.empty:
        table = table.join(lift.set_index(level)[["lift", "lift_low", "lift_high"]], how="outer")
    order = table.columns[0] if len(table.columns) else None
    if order is not None:
        table = table.sort_values(order, ascending=False)
    return table.reset_index()


def run_attribution_report(
    events: ibis.Table,
    catalog: ibis.Table | None,
    models: Sequence[str] = ("all",),
    level: str = "touchpoint",
    goal: str | Sequence[str] = "purchase",
    lookback: str = "30d",
    value: str = "conversions",
    half_life: str = "7d",
    markov_order: int = 1,
    bootstrap: int = 1000,
    seed: int = 0,
    stages: Sequence[str] = (),
    by: str | None = None,
    top: int = 10,
    since: Any = None,
    until: Any = None,
) -> AttributionReport:
    """Run the requested models (``"all"`` = every credit model plus incrementality).

    ``stages``: the journey's stage keys in order, for incrementality's landmarks (inferred from
    the data when empty). ``by``/``top``: a breakdown of the credit models (see
    :func:`.run_attribution`); incrementality, asked for by name, is refused with it, and
    ``"all"`` keeps the lift of all the data beside the breakdown. ``since``/``until``: only
    events within them (a note on the conversions left unattributed then names ``since``)."""
    wanted = [models] if isinstance(models, str) else list(models)
    everything = "all" in wanted
    for name in wanted:
        if name not in (*REPORT_MODELS, "all"):
            allowed = ", ".join(("all", *REPORT_MODELS))
            raise SpecError(
                f"Unknown attribution model {name!r}.{did_you_mean(name, REPORT_MODELS)} "
                f"Use one of {allowed}."
            )
    if "incrementality" in wanted and level != "touchpoint":
        raise SpecError(
            f"Incrementality is measured per touchpoint (who was exposed to it, against "
            f"comparable people who were not), not per {level}: use --level touchpoint."
        )
    if by is not None and "incrementality" in wanted:
        raise SpecError(
            f"--model incrementality with --by {by}: the lift is not broken down, as it "
            "compares exposed people with comparable people across all the data. Leave out "
            "--by, or ask for the credit models (--model all keeps the overall lift beside the "
            "breakdown)."
        )
    credit = list(ALL_MODELS) if everything else [m for m in wanted if m != "incrementality"]
    frames = []
    parts: list[Result] = []
    if credit:
        spec = AttributionSpec(
            credit if len(credit) > 1 else credit[0],
            level=level,  # type: ignore[arg-type]
            goal=goal,
            lookback=lookback,
            value=value,  # type: ignore[arg-type]
            half_life=half_life,
            markov_order=markov_order,
            seed=seed,
            since=since,
            until=until,
        )
        result = run_attribution(events, spec, catalog, by=by, top=top)
        parts.append(result)
        frames.append(result.to_frame())
    if (everything or "incrementality" in wanted) and level == "touchpoint":
        lift = run_incrementality(
            events, IncrementalitySpec(goal=goal, bootstrap=bootstrap, seed=seed, stages=stages)
        )
        parts.append(lift)
        frames.append(lift.to_frame().assign(model="incrementality"))
    records = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    for column in PEOPLE_COUNTS & set(records.columns):  # counts, blank on the credit rows
        records[column] = records[column].astype("Int64")
    breakdown = next(
        (p.breakdown for p in parts if isinstance(p, AttributionResult) and p.breakdown), None
    )
    return AttributionReport(records, level, tuple(parts), value, breakdown)


def run_roi_report(
    events: ibis.Table,
    catalog: ibis.Table | None,
    goal: str | Sequence[str] = "purchase",
    lookback: str = "30d",
    bootstrap: int = 1000,
    seed: int = 0,
    cut_list: bool = False,
    stages: Sequence[str] = (),
    models: Sequence[str] | str = ("all",),
    half_life: str = "7d",
    markov_order: int = 1,
    min_cost_share: float = RoiSpec.min_cost_share,
    since: Any = None,
    until: Any = None,
) -> Result:
    """ROI per touchpoint and model (of ``models``), or (``cut_list``) the touchpoints to cut
    (``stages`` as for :func:`run_attribution_report`; ``min_cost_share``, see
    :class:`.RoiSpec`). ``since``/``until``: the range costs are prorated over (either side
    not given is the events' first or last time)."""
    wanted = [models] if isinstance(models, str) else list(models)
    credit = [m for m in wanted if m != "incrementality"] or ["all"]
    spec = RoiSpec(
        attribution=AttributionSpec(
            credit,
            goal=goal,
            lookback=lookback,
            seed=seed,
            half_life=half_life,
            markov_order=markov_order,
            since=since,
            until=until,
        ),
        incrementality=IncrementalitySpec(goal=goal, bootstrap=bootstrap, seed=seed, stages=stages),
        min_cost_share=min_cost_share,
    )
    if cut_list:
        return run_cut_list(events, spec, catalog)
    return run_roi(events, spec, catalog)


# Names analytics tools give a conversion (Segment's e-commerce spec, GA4, shops' logs), compared
# by their letters and digits alone.
CONVERSION_NAMES = frozenset(
    loose_name(n)
    for n in (
        "purchase",
        "Order Completed",
        "Checkout Completed",
        "transaction",
        "order",
        "conversion",
        "Purchase Completed",
    )
)


def _conversion_like(names: set[str]) -> str:
    """' Events that look like a conversion: 'Order Completed'.' or an empty string."""
    found = sorted(n for n in names if loose_name(n) in CONVERSION_NAMES)
    if not found:
        return ""
    listed = ", ".join(f"'{n}'" for n in found[:3])
    return f" Events that look like a conversion: {listed}."


# Names shops' logs and exports give the value of an order (compared as :func:`loose_name`).
MONEY_NAMES = frozenset(
    loose_name(n)
    for n in (
        "price",
        "amount",
        "value",
        "total",
        "order_total",
        "total_price",
        "total_amount",
        "sales",
        "subtotal",
        "sale_price",
        "unit_price",
        "payment_value",
        "transaction_revenue",
        "grand_total",
        "gmv",
        "purchase_value",
    )
)
REVENUE_SAMPLE = 1000  # goal events whose properties are read for money-like keys


def why_no_revenue(
    events: ibis.Table, goal: str | Sequence[str], revenue_from: str | None = None
) -> str | None:
    """Why revenue is zero everywhere, when the goal events carry none (nor a number in their
    property ``revenue_from``): naming the properties that look like their value (read from a
    sample of them), else how to import it. None when some goal event has revenue, or there is
    no goal event (see :func:`why_nothing_attributed`).

    Examples
    --------
    >>> t = ibis.memtable({"event": ["purchase"], "revenue": [None],
    ...                    "properties": ['{"price": 35.79, "brand": "x"}']})
    >>> why_no_revenue(t, "purchase").split(". ")[1].split(" (or")[0]
    "Their property 'price' looks like it: --revenue-from price reads it"
    """
    goals = events.filter(events.event.isin(goal_names(goal)))
    if revenue_from is not None:
        goals = with_revenue_from(goals, revenue_from, goal_names(goal))
    paid = goals.revenue.notnull() & (goals.revenue != 0)
    counts = goals.aggregate(n=goals.count(), paid=goals.count(where=paid)).execute()
    if int(counts["n"].iloc[0]) == 0 or int(counts["paid"].iloc[0]) > 0:
        return None
    sample = goals.select("properties").limit(REVENUE_SAMPLE).execute()["properties"]
    found = [k for k in money_like_keys(sample.dropna()) if k != revenue_from]
    tried = f" nor a number in its property {revenue_from!r}" if revenue_from else ""
    if found:
        listed = " or ".join(f"'{k}'" for k in found[:3])
        how = (
            f"Their property {listed} looks like it: --revenue-from {found[0]} reads it (or "
            f'revenue_property = "{found[0]}" in [goals] of journeylens.toml, for every analysis).'
        )
    else:
        how = "Import the column that holds it as revenue (--map revenue=COLUMN)."
    return f"No {named(goal)} event has revenue{tried}, so every model credits 0. {how}"


def money_like_keys(properties: Iterable[str]) -> list[str]:
    """The keys of the JSON objects ``properties`` named like money (:data:`MONEY_NAMES`) that
    hold a number in some object, as ``--revenue-from`` reads one, most often first."""
    seen: dict[str, int] = {}
    for text in properties:
        try:
            record = json.loads(text)
        except ValueError:
            continue
        if not isinstance(record, dict):
            continue
        for key, value in record.items():
            if loose_name(key) in MONEY_NAMES and json_value_number(value) is not None:
                seen[key] = seen.get(key, 0) + 1
    return sorted(seen, key=lambda k: (-seen[k], k))


def named(goal: str | Sequence[str]) -> str:
    """The goal's names for a sentence: ``'purchase'``, ``'purchase' or 'signup'``."""
    return " or ".join(repr(name) for name in goal_names(goal))


def why_no_conversions(events: ibis.Table, goal: str | Sequence[str], what: str) -> str | None:
    """Why ``what`` cannot be measured when no event is named ``goal`` (one or several names;
    None when some are): the names that come close, or that look like a conversion (one small
    query each)."""
    if events.filter(events.event.isin(goal_names(goal))).limit(1).count().execute():
        return None
    return _no_goal_text(events, goal, what)


def _no_goal_text(events: ibis.Table, goal: str | Sequence[str], what: str) -> str:
    names = distinct_values(events, "event")
    close = next((c for g in goal_names(goal) if (c := did_you_mean(g, names))), "")
    the = "the goal" if len(goal_names(goal)) == 1 else "the goals"
    return (
        f"No event is named {named(goal)}, {the}: {what}.{close or _conversion_like(names)} "
        "Name the conversion event with --goal (or goals.conversion_events in journeylens.toml)."
    )


def uncatalogued_touches(
    events: ibis.Table, catalog: ibis.Table, goal: str | Sequence[str]
) -> str | None:
    """A note on the events at touchpoints their rows name but the catalog does not list:
    attribution by touchpoint leaves them out (see :func:`.run_attribution`); None when there
    are none (one small aggregate)."""
    known = catalog.select("touchpoint").distinct()
    stray = events.filter(
        events.touchpoint.notnull(),
        ~events.touchpoint.isin(known.touchpoint),
        ~events.event.isin(goal_names(goal)),
    )
    counts = stray.group_by("touchpoint").aggregate(events=stray.count()).execute()
    if counts.empty:
        return None
    counts = counts.sort_values(["events", "touchpoint"], ascending=[False, True])
    names = listed([f"'{t}'" for t in counts["touchpoint"]], most=3)
    return (
        f"{int(counts['events'].sum()):,} event(s) at touchpoints the catalog does not list "
        f"({names}) are no touches here: add them to the catalog to credit them "
        "(journeylens touchpoints lists them)."
    )


def why_nothing_attributed(
    events: ibis.Table, goal: str | Sequence[str], lookback: str, level: str = "touchpoint"
) -> str:
    """Why attribution found no journey: no event, no goal event, no touch (an event with a
    touchpoint, or at channel or campaign level with that value), or no touch within the
    lookback of a conversion (one small aggregate).

    Examples
    --------
    >>> t = ibis.memtable({"event": ["view", "purchase"], "touchpoint": [None, None],
    ...                    "channel": [None, "web"]})
    >>> why_nothing_attributed(t, "purchase", "30d").split(":")[0]
    "No event but the goal's ('purchase') has a touchpoint"
    >>> log = ibis.memtable({"event": ["impression", "purchase"], "touchpoint": [None, None],
    ...                      "channel": ["Facebook", None]})
    >>> "with --level channel" in why_nothing_attributed(log, "purchase", "30d")
    True
    >>> why_nothing_attributed(t, "purchase", "30d", "channel").split(":")[0]
    "No event but the goal's ('purchase') has a touchpoint or a channel"
    >>> segment = ibis.memtable({"event": ["Order Completed"], "touchpoint": [None]})
    >>> why_nothing_attributed(segment, "purchase", "30d").split(". ")[1]
    "Events that look like a conversion: 'Order Completed'"
    """
    late = f"No conversion has a touch within the lookback ({lookback}): try a longer --lookback."
    return why_no_touches(events, goal, level) or late


def why_no_touches(
    events: ibis.Table,
    goal: str | Sequence[str],
    level: str = "touchpoint",
    what: str = "there is nothing to attribute",
) -> str | None:
    """Why no journey has a touch, so neither credit nor lift (``what`` cannot be had without a
    goal event) is measured: no event, no goal event, or no event but the goal's with a touch
    at ``level``; None when some event has one (one small aggregate)."""
    other = ~events.event.isin(goal_names(goal))
    has_channel = "channel" in events.columns
    counts = events.aggregate(
        events=events.count(),
        goals=events.count(where=~other),
        touched=events.count(where=is_touch(events, level) & other),
        channelled=events.count(where=is_touch(events, "channel") & other) if has_channel else 0,
    ).execute()
    goals, touched = int(counts["goals"].iloc[0]), int(counts["touched"].iloc[0])
    if int(counts["events"].iloc[0]) == 0:
        return "There are no events: nothing to attribute."
    if goals == 0:
        return _no_goal_text(events, goal, what)
    if touched == 0:
        what = "a touchpoint" if level == "touchpoint" else f"a touchpoint or a {level}"
        # The goal's own events are the conversions, never touches, whatever they carry.
        others = f"No event but the goal's ({named(goal)}) has {what}"
        if level == "touchpoint" and int(counts["channelled"].iloc[0]):
            return (
                f"{others}, but events name their channel: attribute by channel "
                f"with --level channel, or map the events in the catalog. {UNMAPPED_HINT}"
            )
        return (
            f"{others}: the catalog maps none of the other events, so no journey "
            f"has a touch. {UNMAPPED_HINT}"
        )
    return None
