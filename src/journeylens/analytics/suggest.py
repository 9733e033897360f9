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

Names that differ only in their parts with a digit (an event per product page:
``page_view:/product/123``) are read as one, the pattern ``page_view:/product/*``, where at least
``FAMILY_MIN`` of them share it (see :func:`name_family`).

Events that match ``error_patterns`` stay unmapped: friction places an error at the touchpoint
before it. A row for a catalogued touchpoint carries all of that touchpoint's fields and its
``match`` with the new events added, since an imported row replaces the touchpoint.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import plotly.graph_objects as go

from journeylens.analytics._friction_signals import is_error
from journeylens.analytics.result import Result, frame_records, plot_labels
from journeylens.analytics.sequence import has_sequence_keys, order_value, text_order
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
    catalog file holds it), the unmapped ``events`` it takes (a pattern as ``pattern (N
    names)``), how many event ``names`` that is, their ``volume`` and ``why``."""

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
        return go.Figure(
            go.Bar(x=frame["volume"], y=plot_labels(frame["touchpoint"]), orientation="h")
        )


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


# Unmapped names that differ only in an id (a product's number, an order's code) are suggested as
# one pattern where at least this many distinct names share it: a shop that names an event per
# product page gets one row, not a row per product.
FAMILY_MIN = 20
_SEPARATORS = r"/:_\-.\s?=&#,;|@+"
_ID_PART = re.compile(rf"[^{_SEPARATORS}]*\d[^{_SEPARATORS}]*")
_GLOB_CHARS = re.compile(r"[\[\]*?]")
_LITERAL_MIN = 3  # characters of a pattern besides its wildcards and separators


def name_family(name: str) -> str | None:
    """The glob of the names that differ from ``name`` only in its parts with a digit (ids,
    page numbers), each such part ``*``; None where there is no such part, where the name has
    glob characters of its own, or where too little of it would remain.

    Examples
    --------
    >>> name_family("page_view:/product/12345")
    'page_view:/product/*'
    >>> name_family("Viewed order 8f3a-11c2 item A7") is None, name_family("Viewed order 8f3a-11c2")
    (False, 'Viewed order *-*')
    >>> name_family("checkout"), name_family("12/34")
    (None, None)
    """
    if _GLOB_CHARS.search(name):
        return None
    family = _ID_PART.sub("*", name)
    if family == name or len(re.sub(rf"[*{_SEPARATORS}]", "", family)) < _LITERAL_MIN:
        return None
    return family


@dataclass(frozen=True)
class _Known:
    """A name of a catalogued touchpoint (its key or a ``match`` entry) and its words."""

    touchpoint: Touchpoint
    name: str
    words: frozenset[str]


def _known_names(catalog: Sequence[Touchpoint]) -> list[_Known]:
    return [
        _Known(touchpoint, name, own)
        for touchpoint in catalog
        for name in (touchpoint.touchpoint, *touchpoint.match)
        if (own := name_words(name.split("[", 1)[0]))
    ]


def _by_name(event: str, known: Sequence[_Known]) -> tuple[Touchpoint, str] | None:
    """The catalogued touchpoint the event's name says, and which of its names said it."""
    words = name_words(event)
    best = [k for k in known if k.words <= words]
    if not best:
        return None
    longest = max(len(k.words) for k in best)
    chosen: dict[str, tuple[Touchpoint, str]] = {}
    for k in best:  # a touchpoint's key before its patterns
        if len(k.words) == longest:
            chosen.setdefault(k.touchpoint.touchpoint, (k.touchpoint, k.name))
    return next(iter(chosen.values())) if len(chosen) == 1 else None


def _before(events: ir.Table, named: Mapping[str, str], config: Config) -> ir.Table:
    """Per unmapped event no name placed and per stage: in how many of its sessions it first
    comes after an event of that stage (the latest staged event before its first occurrence
    there), ``before`` NULL where none does. ``named``: the stages of events the name reading
    placed (a cart named like the catalog's is in its stage for what follows it)."""
    rank = {key: i + 1 for i, key in enumerate(config.stage_keys)}
    events = events.filter(events.session_id.notnull())
    keyed = has_sequence_keys(events)
    if named:
        placed = pd.DataFrame({"_named": list(named), "_named_stage": list(named.values())})
        lookup = ibis.memtable(placed)
        events = events.left_join(lookup, events.event == lookup._named).drop("_named")
        stage = events.stage.coalesce(events._named_stage)
    else:
        events = events.mutate(_named_stage=ibis.null("string"))
        stage = events.stage
    order = [events.person_seq] if keyed else text_order(events)
    staged = stage.substitute(rank, else_=0).cast("int64")
    # The latest staged event so far: its place in the session and its stage, packed so that a
    # running maximum finds it. The stored place in the person's sequence orders a session's
    # events as well as a numbering window would (a session is one person's).
    place = (
        events.person_seq
        if keyed
        else ibis.row_number().over(group_by=events.session_id, order_by=order)
    )
    mark = ibis.ifelse(staged > 0, place * 64 + staged, ibis.null("int64"))
    earlier = ibis.window(group_by=events.session_id, order_by=order, rows=(None, -1))
    rows = events.mutate(_mark=mark)
    rows = rows.mutate(_latest=rows._mark.max().over(earlier))
    rows = rows.filter(rows.touchpoint.isnull(), rows._named_stage.isnull())
    # Each session counts once per event: at the event's first occurrence in it, found among
    # these few rows by an aggregate (0: no staged event before it).
    first = order_value([rows[c.get_name()] for c in order])
    latest = (rows._latest % 64).fill_null(0).cast("int64")
    rows = rows.group_by("session_id", "event").aggregate(_before=latest.argmin(first))
    rows = rows.mutate(before=rows._before.nullif(0))
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
    counts = _counts(events.filter(events.touchpoint.isnull()), config)
    entries = _entries(counts)
    known = _known_names(config.touchpoints)
    named = {entry: _by_name(entry, known) for entry in entries.index}
    stages = {e: found[0].stage for e, found in named.items() if found is not None}
    by_event = counts.drop_duplicates("event").set_index("event")["entry"]
    event_stages = {str(e): stages[entry] for e, entry in by_event.items() if entry in stages}
    placed = _placed(events, event_stages, by_event, config, len(stages) < len(named))
    rows: dict[str, dict[str, Any]] = {}
    for entry, volume, channel, names in entries.itertuples():
        label = entry if names == 1 else f"{entry} ({names:,} names)"
        found = named[entry]
        if found is not None:
            touchpoint, name = found
            row = rows.setdefault(touchpoint.touchpoint, _catalogued(touchpoint))
            row["why"].append(f"{label}: named like {name!r}")
        else:
            stage, why = _stage(placed.get(entry), label, config)
            row = rows.setdefault(entry, _new(entry, stage, channel))
            row["why"].append(why)
        row["match"].append(entry)
        row["events"].append(label)
        row["volume"] += int(volume)
        row["names"] += int(names)
    frame = pd.DataFrame(
        [
            {
                **{c: row[c] for c in COLUMNS if c != "match"},
                "match": "|".join(dict.fromkeys(row["match"])),
                "events": "|".join(row["events"]),
                "names": row["names"],
                "volume": row["volume"],
                "why": "; ".join(row["why"]),
            }
            for row in rows.values()
        ],
        columns=[*COLUMNS, "events", "names", "volume", "why"],
    )
    order = frame.sort_values(["volume", "touchpoint"], ascending=[False, True])
    return CatalogSuggestions(order.reset_index(drop=True))


def _counts(orphans: ir.Table, config: Config) -> pd.DataFrame:
    """Events per unmapped ``event`` name and ``channel`` (counted in the engine), without
    error events, with the ``entry`` (catalog ``match``) each name is suggested as: the name,
    or the pattern of its family (:func:`name_family`) where ``FAMILY_MIN`` names share it."""
    named = orphans.filter(orphans.event.notnull())
    named = named.filter(~is_error(named.event, config.error_patterns))
    counts = named.group_by(["event", "channel"]).aggregate(n=named.count()).execute()
    names = pd.Series(counts["event"].unique())
    families = names.map(name_family)
    sizes = families.map(families.value_counts())
    grouped = families.where(families.notna() & (sizes >= FAMILY_MIN), names)
    entry = dict(zip(names, grouped, strict=True))
    return counts.assign(entry=counts["event"].map(entry))


def _entries(counts: pd.DataFrame) -> pd.DataFrame:
    """Per entry: its ``volume``, the ``channel`` its events name most often (the first in name
    order among equals; none where none names one) and how many event ``names`` it takes."""
    volume = counts.groupby("entry")["n"].sum().rename("volume")
    names = counts.groupby("entry")["event"].nunique().rename("names")
    by_channel = counts[counts["channel"].notna()].groupby(["entry", "channel"], as_index=False)
    channels = by_channel.agg(n=("n", "sum")).sort_values(
        ["entry", "n", "channel"], ascending=[True, False, True]
    )
    channel = channels.drop_duplicates("entry").set_index("entry")["channel"]
    entries = pd.concat([volume, channel.reindex(volume.index), names], axis=1)
    return entries.sort_values(by="volume", ascending=False, kind="stable")


def _placed(
    events: ir.Table,
    event_stages: Mapping[str, str],
    by_event: pd.Series,
    config: Config,
    needed: bool,
) -> dict[str, pd.DataFrame]:
    """Per entry no name placed: its sessions' ``before`` stages and their ``times``."""
    if not needed:
        return {}
    placed = _before(events, event_stages, config).execute()
    placed = placed.assign(entry=placed["event"].map(by_event)).dropna(subset=["entry"])
    summed = placed.groupby(["entry", "before"], dropna=False, as_index=False)["times"].sum()
    return {str(entry): rows for entry, rows in summed.groupby("entry")}


def _catalogued(touchpoint: Touchpoint) -> dict[str, Any]:
    fields = {c: getattr(touchpoint, c) for c in COLUMNS if c != "match"}
    fresh: dict[str, Any] = {"events": [], "names": 0, "volume": 0, "why": []}
    return {**fields, "match": list(touchpoint.match), **fresh}


def _new(event: str, stage: str, channel: Any) -> dict[str, Any]:
    """A touchpoint of its own, named as the event, with the catalog's defaults."""
    known = channel if isinstance(channel, str) else None
    return _catalogued(Touchpoint(event, (), stage, known))


def _stage(mine: pd.DataFrame | None, label: str, config: Config) -> tuple[str, str]:
    """The stage an entry's sessions put it in (see the module's docstring), and why."""
    first = config.stage_keys[0]
    total = int(mine["times"].sum()) if mine is not None else 0
    if mine is None or total == 0:
        return first, f"{label}: no session places it; the first stage"
    after = mine[mine["before"].notna() & (mine["before"] > 0)]
    alone = total - int(after["times"].sum())
    if after.empty or alone * 2 >= total:
        share = alone / total
        return first, f"{label}: nothing staged before it in {share:.0%} of its sessions"
    top = after.sort_values(["times", "before"], ascending=[False, True]).iloc[0]
    stage = config.stage_keys[int(top["before"]) - 1]
    share = int(top["times"]) / total
    return stage, f"{label}: after {stage} events in {share:.0%} of its sessions"
