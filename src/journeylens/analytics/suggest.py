"""Catalog suggestions for the events no touchpoint maps: a touchpoint and a stage for each, with
the reason, as catalog rows to review and import (``journeylens import FILE --kind touchpoints``).

An unmapped event is read two ways; the first that says something wins:

- **By name.** It joins a catalogued touchpoint when one of that touchpoint's names (its key, or
  a ``match`` entry without its wildcards) is made of words the event's name has: ``support_chat``
  has ``chat``, ``checkout_bug`` has ``checkout``, ``compare`` is ``compare_*``'s word. Words are
  the parts of a name split at ``_``, ``-``, ``.``, spaces and capitals, in lower case; words
  every tool puts in names (``page``, ``view``, ``click``, ``details``, ...) do not count. The
  touchpoint with the longest such name wins; two alike are no answer (``search``: both the
  search ads and organic search are named with it).
- **By the journey.** Otherwise it becomes a touchpoint of its own, named as the event, in the
  stage of the staged events that come before it in its sessions, most often; where nothing
  staged comes before it in most of its sessions (a home page, a landing page), in the first
  stage. Its channel is the one its events name most often.

Events that match ``error_patterns`` stay unmapped: friction places an error at the touchpoint
before it. A row for a catalogued touchpoint carries all of that touchpoint's fields and its
``match`` with the new events added, since an imported row replaces the touchpoint.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics.result import Result, frame_records
from journeylens.analytics.sequence import text_order
from journeylens.config import Config, Touchpoint

__all__ = ["CatalogSuggestions", "name_words", "suggest_catalog"]

# Words analytics tools put in event names whatever the thing is.
_GENERIC = """page pages view views viewed click clicked clicks open opened start started visit
visited details detail screen event tap tapped the a an to of on in at and or for"""
GENERIC_WORDS = frozenset(_GENERIC.split())
COLUMNS = (
    "touchpoint",
    "match",
    "stage",
    "channel",
    "kind",
    "cost",
    "cost_period",
    "owner",
    "content_type",
)


@dataclass
class CatalogSuggestions(Result):
    """One row per suggested touchpoint: the catalog columns (``match`` joined by ``|``, as a
    catalog file holds it), the unmapped ``events`` it takes, their ``volume`` and ``why``."""

    suggestions: pd.DataFrame

    def to_frame(self) -> pd.DataFrame:
        return self.suggestions

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.suggestions)

    def display_frame(self) -> pd.DataFrame:
        """What a person reviews: the touchpoint, where it goes, what it takes and why."""
        return self.suggestions[["touchpoint", "stage", "channel", "events", "volume", "why"]]

    def figure(self) -> go.Figure:
        frame = self.suggestions.sort_values("volume")
        return go.Figure(go.Bar(x=frame["volume"], y=frame["touchpoint"], orientation="h"))


def name_words(name: str) -> frozenset[str]:
    """The words of a name that say what it is (see the module's docstring).

    Examples
    --------
    >>> sorted(name_words("support_chat"))
    ['chat', 'support']
    >>> sorted(name_words("ProductViewed"))
    ['product']
    >>> sorted(name_words("ad_click_search*"))
    ['ad', 'search']
    """
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    parts = re.split(r"[^0-9A-Za-z]+", spaced.lower())
    return frozenset(p for p in parts if p and p not in GENERIC_WORDS)


def _by_name(event: str, catalog: Sequence[Touchpoint]) -> tuple[Touchpoint, str] | None:
    """The catalogued touchpoint the event's name says, and which of its names said it."""
    words = name_words(event)
    best: list[tuple[int, Touchpoint, str]] = []
    for touchpoint in catalog:
        for name in (touchpoint.touchpoint, *touchpoint.match):
            own = name_words(name.split("[", 1)[0])
            if own and own <= words:
                best.append((len(own), touchpoint, name))
    if not best:
        return None
    longest = max(size for size, _, _ in best)
    chosen: dict[str, tuple[Touchpoint, str]] = {}
    for size, touchpoint, name in best:  # a touchpoint's key before its patterns
        if size == longest:
            chosen.setdefault(touchpoint.touchpoint, (touchpoint, name))
    return next(iter(chosen.values())) if len(chosen) == 1 else None


def _before(
    events: ir.Table, unmapped: Sequence[str], named: Mapping[str, str], config: Config
) -> ir.Table:
    """Per unmapped event and stage: how often it comes after an event of that stage in its
    session (the latest staged event before it), ``before`` NULL where none does. ``named``:
    the stages of events the name reading placed (a cart named like the catalog's is in its
    stage for what follows it)."""
    rank = {key: i + 1 for i, key in enumerate(config.stage_keys)}
    events = events.filter(events.session_id.notnull())
    order = text_order(events)
    stage = events.stage.coalesce(events.event.substitute(dict(named))) if named else events.stage
    staged = stage.substitute(rank, else_=0).cast("int64")
    # The latest staged event so far: its place in the session and its stage, packed so that a
    # running maximum finds it.
    place = ibis.row_number().over(group_by=events.session_id, order_by=order)
    mark = ibis.ifelse(staged > 0, place * 64 + staged, ibis.null("int64"))
    earlier = ibis.window(group_by=events.session_id, order_by=order, rows=(None, -1))
    rows = events.mutate(_mark=mark)
    rows = rows.mutate(_latest=rows._mark.max().over(earlier))
    rows = rows.filter(rows.event.isin(list(unmapped)), rows.touchpoint.isnull())
    rows = rows.mutate(before=(rows._latest % 64).cast("int64"))
    return rows.group_by(["event", "before"]).aggregate(times=rows.count())


def suggest_catalog(events: ir.Table, config: Config) -> CatalogSuggestions:
    """Suggested catalog rows for the events no touchpoint maps, busiest first.

    Examples
    --------
    >>> from journeylens.config import parse_config
    >>> from journeylens.journey.templates import load_template
    >>> from journeylens.testing import journeys
    >>> none = {"touchpoint": None}
    >>> table = ibis.memtable(journeys({"ann": [
    ...     ("home", "2026-01-01", none), ("product_view", "+1m", {"stage": "consideration"}),
    ...     ("support_chat", "+1m", none)]}))
    >>> config = parse_config(load_template("four_stage_delight"))
    >>> rows = suggest_catalog(table, config).to_frame()
    >>> rows[["touchpoint", "stage", "events"]].values.tolist()
    [['chat', 'delight', 'support_chat'], ['home', 'awareness', 'home']]
    """
    volume = _volume(events.filter(events.touchpoint.isnull()))
    errors = list(config.error_patterns)
    volume = volume[
        volume["event"].notna()
        & ~volume["event"].map(lambda e: any(fnmatch.fnmatchcase(e, p) for p in errors))
    ]
    named = {e: _by_name(e, config.touchpoints) for e in volume["event"]}
    rest = [e for e, found in named.items() if found is None]
    stages = {e: found[0].stage for e, found in named.items() if found is not None}
    placed = _before(events, rest, stages, config).execute() if rest else pd.DataFrame()
    rows: dict[str, dict[str, Any]] = {}
    for event, count, channel in volume[["event", "volume", "channel"]].itertuples(index=False):
        found = named[event]
        if found is not None:
            touchpoint, name = found
            row = rows.setdefault(touchpoint.touchpoint, _catalogued(touchpoint))
            row["why"].append(f"{event}: named like {name!r}")
        else:
            stage, why = _stage(placed, event, config)
            row = rows.setdefault(event, _new(event, stage, channel))
            row["why"].append(why)
        row["match"].append(event)
        row["events"].append(event)
        row["volume"] += int(count)
    frame = pd.DataFrame(
        [
            {
                **{c: row[c] for c in COLUMNS if c != "match"},
                "match": "|".join(dict.fromkeys(row["match"])),
                "events": "|".join(row["events"]),
                "volume": row["volume"],
                "why": "; ".join(row["why"]),
            }
            for row in rows.values()
        ],
        columns=[*COLUMNS, "events", "volume", "why"],
    )
    order = frame.sort_values(["volume", "touchpoint"], ascending=[False, True])
    return CatalogSuggestions(order.reset_index(drop=True))


def _volume(orphans: ir.Table) -> pd.DataFrame:
    """Per event: its ``volume`` and the ``channel`` its events name most often (the first in
    name order among equals; none where none names one). Counted per event and channel in the
    engine (a handful of rows), chosen here: not every engine has a mode aggregate."""
    counts = orphans.group_by(["event", "channel"]).aggregate(n=orphans.count()).execute()
    volume = counts.groupby("event", as_index=False)["n"].sum().rename(columns={"n": "volume"})
    named = counts[counts["channel"].notna()].sort_values(
        ["event", "n", "channel"], ascending=[True, False, True]
    )
    top = named.drop_duplicates("event")[["event", "channel"]]
    return volume.merge(top, on="event", how="left")


def _catalogued(touchpoint: Touchpoint) -> dict[str, Any]:
    fields = {c: getattr(touchpoint, c) for c in COLUMNS if c != "match"}
    return {**fields, "match": list(touchpoint.match), "events": [], "volume": 0, "why": []}


def _new(event: str, stage: str, channel: Any) -> dict[str, Any]:
    """A touchpoint of its own, named as the event, with the catalog's defaults."""
    known = channel if isinstance(channel, str) else None
    return _catalogued(Touchpoint(event, (), stage, known))


def _stage(placed: pd.DataFrame, event: str, config: Config) -> tuple[str, str]:
    """The stage the event's sessions put it in (see the module's docstring), and why."""
    first = config.stage_keys[0]
    mine = placed[placed["event"] == event] if not placed.empty else placed
    total = int(mine["times"].sum()) if not mine.empty else 0
    if total == 0:
        return first, f"{event}: no session places it; the first stage"
    after = mine[mine["before"].notna() & (mine["before"] > 0)]
    alone = total - int(after["times"].sum())
    if after.empty or alone * 2 >= total:
        share = alone / total
        return first, f"{event}: nothing staged before it in {share:.0%} of its sessions"
    top = after.sort_values(["times", "before"], ascending=[False, True]).iloc[0]
    stage = config.stage_keys[int(top["before"]) - 1]
    share = int(top["times"]) / total
    return stage, f"{event}: after {stage} events in {share:.0%} of its sessions"
