"""Paths: the transition graph of people's journeys and the top paths to and from a node.

A person's *sequence* is their events ordered by ``(ts, received_at, event_id)`` — equal
timestamps in the order received, then by ``event_id``, so every engine agrees — each turned
into a *node*: the event's touchpoint, event name, stage or channel (``PathsSpec.level``).
Rules, in the order they apply:

1. Events outside ``[since, until)`` and events without a ``ts`` or ``person_id`` are left out.
2. An event whose level column is empty becomes ``"(unmapped)"``: it stays in the sequence, so
   the pairs around it are real pairs (funnels count the same events the same way).
3. With ``min_share`` or ``top_nodes``, rare nodes become ``"(other)"`` (by their count of events),
   all but the anchor (``from_node`` / ``to_node``), which stays itself.
4. With ``include_end``, a goal event (``goal``, default ``"purchase"``) becomes
   ``"(conversion)"`` and each person's last event is followed by ``"(end)"``.
5. With ``collapse_repeats``, a node equal to the one before it is dropped (``a a b`` → ``a b``).

The transition graph counts every consecutive pair of a person's sequence, repeats included.
With ``by``, each person also counts under one value of a key (see :mod:`.paths_breakdown`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import ibis
import ibis.expr.types as ir
import pandas as pd

from journeylens.analytics.breakdown import SEGMENT, breakdown_field, by_value_frames
from journeylens.analytics.codes import code_columns, decode, encode
from journeylens.analytics.filters import in_range
from journeylens.analytics.paths_breakdown import (
    MEMBERS,
    in_value_order,
    person_segments,
    with_members,
    with_overall,
    with_segment,
)
from journeylens.analytics.result import Result, frame_records, plot_label, plot_labels
from journeylens.analytics.sequence import KEYS, has_sequence_keys, sequence_columns, text_order
from journeylens.errors import SpecError, did_you_mean
from journeylens.instants import naive_utc_or_none
from journeylens.journey.steps import distinct_values
from journeylens.store.portable import epoch_seconds

Level = Literal["touchpoint", "event", "stage", "channel"]
LEVELS: tuple[str, ...] = ("touchpoint", "event", "stage", "channel")
END = "(end)"
EDGE_COLUMNS = [
    "from",
    "to",
    "count",
    "people",
    "probability",
    "probability_in",
    "share",
    "median_seconds",
]
PATH_COLUMNS = ["path", "steps", "count", "people", "share"]
CONVERSION = "(conversion)"
UNMAPPED = "(unmapped)"
OTHER = "(other)"
SYNTHETIC = (END, CONVERSION)
# The transition graph groups nodes by their codes (see ``analytics.codes``) and names them on
# the result: its aggregate keyed by two strings (and by two strings and a person, for
# ``people``) took about twice the time of the same aggregate over integers at 10M events, more
# than coding costs (a pass for the distinct nodes and a join with them). ``(end)`` follows a
# sequence without being in one: it has this code, which no node has.
END_CODE = -1
# The most nodes a top path may have: each node is a column the engine computes at every event
# (a lag or lead), and a path or Sankey of more nodes is no longer read.
MAX_DEPTH = 50

__all__ = [
    "CONVERSION",
    "END",
    "MAX_DEPTH",
    "OTHER",
    "UNMAPPED",
    "PathsSpec",
    "TopPathsResult",
    "TransitionsResult",
    "build_sequences",
    "build_top_paths",
    "build_transitions",
    "check_anchor",
    "fetch",
    "run_top_paths",
    "run_transitions",
]


@dataclass(frozen=True)
class PathsSpec:
    """What to draw paths over, and how much to clean them.

    Parameters
    ----------
    level
        The node of a path: ``"touchpoint"``, ``"event"``, ``"stage"`` or ``"channel"``.
    collapse_repeats
        Drop a node equal to the one before it (off: the raw graph keeps repeats).
    min_share
        Nodes with less than this share of all events become ``"(other)"``.
    top_nodes
        Keep this many most frequent nodes; the rest become ``"(other)"``. Neither grouping
        takes the anchor (``from_node`` / ``to_node``): however rare, it stays itself, and the
        other nodes are grouped as without it.
    max_depth
        Nodes in a top path, counting its start (or its end) node; also the steps in the Sankey.
        From 2 to :data:`MAX_DEPTH` (50).
    from_node, to_node
        Top paths starting from, or leading to, this node (one of them). The transition graph
        keeps only the edges out of ``from_node`` / into ``to_node`` (their probabilities and
        shares still of all pairs). A node the options rule out is refused: ``"(end)"`` and
        ``"(conversion)"`` without ``include_end``, ``"(other)"`` without a grouping.
    top
        How many top paths, and how many flows per step in the Sankey.
    include_end
        Add ``"(end)"`` after each person's last event and show goal events as ``"(conversion)"``.
    goal
        Event name(s) that are a conversion.
    since, until
        Only events with ``since <= ts < until`` (naive UTC).
    by
        A breakdown: a column or a property (``market`` or ``properties.market``). Each person
        counts under its value at their first event (``"(none)"`` without one), and the graph
        or the top paths are drawn for each value's people alone, the overall result kept.
    top_values
        With ``by``: how many values to keep, those with the most people; the rest are
        ``"(other)"``.

    Examples
    --------
    >>> PathsSpec(level="stage", collapse_repeats=True).level
    'stage'
    """

    level: Level = "touchpoint"
    collapse_repeats: bool = False
    min_share: float | None = None
    top_nodes: int | None = None
    max_depth: int = 5
    from_node: str | None = None
    to_node: str | None = None
    top: int = 20
    include_end: bool = True
    goal: tuple[str, ...] | str = ("purchase",)
    since: datetime | None = None
    until: datetime | None = None
    by: str | None = None
    top_values: int = 10

    def __post_init__(self) -> None:
        object.__setattr__(self, "since", naive_utc_or_none(self.since, "since"))
        object.__setattr__(self, "until", naive_utc_or_none(self.until, "until"))
        if isinstance(self.goal, str):
            object.__setattr__(self, "goal", (self.goal,))
        if self.level not in LEVELS:
            raise SpecError(f"Unknown path level '{self.level}'. Use one of {', '.join(LEVELS)}.")
        if self.min_share is not None and not 0 <= self.min_share < 1:
            raise SpecError(f"min_share must be in [0, 1), got {self.min_share}.")
        for name in ("top_nodes", "top", "top_values"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise SpecError(f"{name} must be at least 1, got {value}.")
        if not 2 <= self.max_depth <= MAX_DEPTH:
            raise SpecError(
                f"max_depth must be from 2 (a path has two nodes) to {MAX_DEPTH} (a longer path "
                f"is not read), got {self.max_depth}."
            )
        if self.from_node is not None and self.to_node is not None:
            raise SpecError("Give from_node or to_node, not both.")
        if self.from_node == END:
            raise SpecError("Nothing follows '(end)': use to_node='(end)' for paths to leaving.")
        never = _never_a_node(self, self.anchor)
        if never is not None:
            raise SpecError(never)
        if self.since and self.until and self.since >= self.until:
            raise SpecError(f"since ({self.since}) must be before until ({self.until}).")

    @property
    def goals(self) -> tuple[str, ...]:
        return tuple(self.goal)

    @property
    def anchor(self) -> str | None:
        """The node the paths start from or lead to (``from_node`` or ``to_node``), if any."""
        return self.from_node if self.to_node is None else self.to_node


def _never_a_node(spec: PathsSpec, anchor: str | None) -> str | None:
    """Why no sequence of ``spec`` holds ``anchor``, a node only options make (None when one
    may): the ends (rule 4) and the grouping (rule 3) are off, or no goal is named."""
    if anchor == END and not spec.include_end:
        return (
            f"'{END}' follows each journey only with the ends, and they are off "
            "(include_end=False): drop --no-ends for the paths to leaving."
        )
    if anchor == CONVERSION and not spec.include_end:
        flag = "--from" if spec.from_node is not None else "--to"
        goal = f" {flag} {spec.goals[0]}" if spec.goals else ""
        return (
            f"'{CONVERSION}' is a path end, shown only with the ends, and they are off "
            "(include_end=False): drop --no-ends, or anchor at the goal event itself "
            f"(--level event{goal})."
        )
    if anchor == CONVERSION and not spec.goals:
        return f"'{CONVERSION}' is a goal event, and no goal event is named: name one (--goal)."
    if anchor == OTHER and not spec.min_share and spec.top_nodes is None:
        return (
            f"'{OTHER}' groups rare nodes: give --min-share or --top-nodes (min_share above 0, "
            "top_nodes), or anchor at a node itself."
        )
    return None


def check_anchor(events: ir.Table, spec: PathsSpec) -> None:
    """Raise :class:`SpecError` when ``from_node``/``to_node`` is no node of ``events`` (one
    small query for the distinct values of the level's column), so a typo is not an empty
    result: "No touchpoint 'chekout' in the data. Did you mean 'checkout'?". The command line
    and the workspace check against all events, before any filter: a node missing from a
    filtered part of the data is an empty result, not an error. ``(unmapped)`` is checked as
    well: an event with an empty level column must make it."""
    anchors = [node for node in (spec.from_node, spec.to_node) if node is not None]
    if CONVERSION in anchors:
        _check_some_goal(events, spec.goal)
    if UNMAPPED in anchors:
        _check_some_unmapped(events, spec)
    anchors = [node for node in anchors if node not in (*SYNTHETIC, UNMAPPED, OTHER)]
    if not anchors:
        return
    known = distinct_values(events, spec.level)
    for node in anchors:
        if node not in known:
            raise SpecError(
                f"No {spec.level} '{node}' in the data.{did_you_mean(node, known)} "
                f"Nodes are {spec.level} values, '{END}' and '{CONVERSION}'."
            )
        if spec.include_end and _only_goals(events, spec, node):
            raise SpecError(
                f"The {spec.level} '{node}' holds only goal events, which paths with ends "
                f"show as '{CONVERSION}': anchor at '{CONVERSION}', or leave the ends out "
                "(--no-ends)."
            )


def _check_some_goal(events: ir.Table, goals: Sequence[str]) -> None:
    """Raise :class:`SpecError` when no goal event occurs: no path could reach a conversion."""
    names = distinct_values(events, "event")
    if set(goals) & names:
        return
    listed = ", ".join(f"'{goal}'" for goal in goals)
    raise SpecError(
        f"No event in the data is a goal ({listed}), so no path reaches '{CONVERSION}'."
        f"{did_you_mean(goals[0], names)} Name the goal event with --goal."
    )


def _check_some_unmapped(events: ir.Table, spec: PathsSpec) -> None:
    """Raise :class:`SpecError` when no event becomes ``(unmapped)`` (rule 2): none has an
    empty level column, or, with the ends, none but goal events, which are ``(conversion)``."""
    empty = events.filter(events[spec.level].isnull())
    goals_apart = spec.include_end and bool(spec.goals)
    if _any(empty.filter(~empty.event.isin(spec.goals)) if goals_apart else empty):
        return
    if goals_apart and _any(empty):
        raise SpecError(
            f"No event but a goal event has an empty {spec.level} here, and goal events are "
            f"'{CONVERSION}' with the ends: leave them out (--no-ends) to see those as "
            f"'{UNMAPPED}'."
        )
    raise SpecError(
        f"No event has an empty {spec.level} here, so none is '{UNMAPPED}' (the node of such "
        f"an event): anchor at one of the data's {spec.level} values."
    )


def _only_goals(events: ir.Table, spec: PathsSpec, node: str) -> bool:
    """Whether no event other than a goal carries ``node``."""
    return not _any(events.filter(events[spec.level] == node, ~events.event.isin(spec.goals)))


def _any(rows: ir.Table) -> bool:
    """Whether ``rows`` has a row (one query that stops at the first)."""
    return bool(rows.limit(1).count().execute())


def fetch(expr: ir.Table) -> pd.DataFrame:
    """Execute an expression into pandas through Arrow (no per-row Python work)."""
    return expr.to_pyarrow().to_pandas()


def _person_window(table: ir.Table) -> Any:
    """Each person's events in order: by the stored keys where the rows carry them (sequences
    built ``keyed``), two integers to sort; else by the person id and the text order."""
    if set(KEYS) <= set(table.columns):
        return ibis.window(group_by=table.person_key, order_by=table.person_seq)
    return ibis.window(group_by=table.person_id, order_by=text_order(table))


def _keyed(events: ir.Table, whole: bool = False) -> bool:
    """Whether every analysed event carries the stored keys (see :func:`build_sequences`):
    the stored table whole, or any table of them where :func:`has_sequence_keys` says so."""
    return set(KEYS) <= set(events.columns) and (whole or has_sequence_keys(events))


def _grouped(seq: ir.Table, spec: PathsSpec) -> ir.Table:
    """Map rare nodes to ``"(other)"`` (by their count of events), but not the anchor: paths
    from a rare node are asked for all the same. The others' ranks and shares count it, so
    they are grouped as without an anchor."""
    counts = seq.group_by("node").aggregate(n=seq.count())
    rank = ibis.row_number().over(order_by=[counts.n.desc(), counts.node])
    share = counts.n / counts.n.sum().over()
    keep = ibis.literal(True)
    if spec.top_nodes is not None:
        keep = keep & (rank < spec.top_nodes)
    if spec.min_share is not None:
        keep = keep & (share >= spec.min_share)
    if spec.anchor is not None:
        keep = keep | (counts.node == spec.anchor)
    names = counts.select(node_=counts.node, grouped=keep.ifelse(counts.node, OTHER))
    joined = seq.join(names, seq.node == names.node_)
    return joined.select(*sequence_columns(seq), "event", node=joined.grouped)


def analysed_events(events: ir.Table, spec: PathsSpec, keyed: bool = False) -> ir.Table:
    """The events a sequence is made of (rule 1): with a time and a person, in range."""
    t = events.filter(events.ts.notnull(), events["person_key" if keyed else "person_id"].notnull())
    return in_range(t, spec.since, spec.until)


def build_sequences(events: ir.Table, spec: PathsSpec, keyed: bool = False) -> ir.Table:
    """Each person's events as nodes: ``person_id, ts, event_id, node`` (rules 1–5 above).

    ``keyed``: every event of a known person carries its stored ``person_key`` (see
    :func:`build_transitions`' ``whole``), so known people are told by the integer column, which
    is cheaper to read than the text id.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("x", "2026-01-01"), ("y", "+1h")]}))
    >>> fetch(build_sequences(events, PathsSpec()))["node"].tolist()
    ['x', 'y']
    """
    t = analysed_events(events, spec, keyed)
    seq = t.select(*sequence_columns(t), "event", node=t[spec.level].fill_null(UNMAPPED))
    if spec.min_share is not None or spec.top_nodes is not None:
        seq = _grouped(seq, spec)
    if spec.include_end and spec.goals:
        seq = seq.mutate(node=seq.event.isin(spec.goals).ifelse(CONVERSION, seq.node))
    seq = seq.select(*sequence_columns(seq), "node")
    if not keyed:  # the rows may lack them: ordered by the text columns (``_person_window``)
        seq = seq.drop(*[key for key in KEYS if key in seq.columns])
    if spec.collapse_repeats:
        # A column before the filter: Spark SQL from Ibis loses a filter's window's table.
        seq = seq.mutate(previous=seq.node.lag().over(_person_window(seq)))
        seq = seq.filter(seq.previous.isnull() | (seq.previous != seq.node)).drop("previous")
    return seq


def _ended(pairs: ir.Table, spec: PathsSpec, end: ir.Value | str) -> ir.Table:
    """Each person's last node followed by ``end`` with ``include_end``, else left out."""
    if spec.include_end:
        return pairs.mutate(to=pairs.to.fill_null(end))
    return pairs.filter(pairs.to.notnull())


def _with_next(seq: ir.Table, spec: PathsSpec, end: ir.Value | str = END) -> ir.Table:
    w = _person_window(seq)
    nxt = seq.node.lead().over(w)
    gap = epoch_seconds(seq.ts.lead().over(w)) - epoch_seconds(seq.ts)
    step = ibis.row_number().over(w)
    pairs = seq.select(person=seq.person_id, from_=seq.node, to=nxt, seconds=gap, step=step)
    return _ended(pairs, spec, end)


def _next_by_key(seq: ir.Table, spec: PathsSpec, nodes: ir.Table) -> ir.Table:
    """``_with_next`` for sequences that carry the stored keys: each person's events in
    ``person_seq`` order, told apart by ``person_key``, so the window sorts two integers (and
    the node's code) where ``_with_next`` sorts text ids and times. The graph of the 10M demo
    events: 1.6 s, where a join of each event to the one numbered next took 1.8 s."""
    here = seq.select(person=seq.person_key, n=seq.person_seq, from_=seq.node, t=seq.ts)
    here = encode(here, "from_", nodes)
    w = ibis.window(group_by=here.person, order_by=here.n)
    seconds = epoch_seconds(here.t.lead().over(w)) - epoch_seconds(here.t)
    pairs = here.select("person", "from_", to=here.from_.lead().over(w), seconds=seconds)
    return _ended(pairs, spec, ibis.literal(END_CODE))


def build_transitions(
    events: ir.Table, spec: PathsSpec | None = None, whole: bool = False, by_value: bool = False
) -> ir.Table:
    """The transition graph as an engine expression (``from_, to, count, people, ...``).

    ``whole``: ``events`` holds every event of each person between two times (the stored table,
    perhaps cut by ``since``/``until``, not filtered otherwise), so every event of a known
    person carries its stored ``person_key`` and ``person_seq``, which order the sequences.

    ``by_value``: each value's graph too, in the same query: rows with the value of
    ``spec.by`` (``segment``, with its ``members``), each ratio out of its value's pairs, and
    the overall graph's rows with a null ``segment`` (the pairs are made once for both) and a
    null ``people``: the sum of the values' ``people`` on the same edge.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("x", "2026-01-01"), ("y", "+1h")]}))
    >>> int(fetch(build_transitions(events))["count"].sum())
    2
    """
    spec = spec or PathsSpec()
    return _transitions(events, spec, _keyed(events, whole), by_value)


def _transitions(events: ir.Table, spec: PathsSpec, keyed: bool, by_value: bool) -> ir.Table:
    """:func:`build_transitions`, told whether the events carry the stored keys (``_keyed``)."""
    seq = build_sequences(events, spec, keyed=keyed)
    coded = code_columns(seq, ["node"])
    nodes = coded.dictionaries["node"]
    if keyed:
        pairs = _next_by_key(seq, spec, nodes)
    else:
        pairs = _with_next(coded.rows, spec, ibis.literal(END_CODE))
    segments = _segments(events, spec, keyed) if by_value else None
    if segments is not None:
        pairs = with_overall(with_segment(pairs, "person", segments), person="person")
    keys = [SEGMENT] if segments is not None else []
    graph = pairs.group_by(*keys, "from_", "to").aggregate(
        count=pairs.count(),
        people=pairs.person.nunique(),
        median_seconds=pairs.seconds.median(),
    )
    graph = decode(decode(graph, "from_", nodes), "to", nodes.view(), missing=END)
    count = graph["count"]
    graph = graph.mutate(
        probability=count / count.sum().over(group_by=[*keys, graph.from_]),
        probability_in=count / count.sum().over(group_by=[*keys, graph.to]),
        share=count / count.sum().over(group_by=keys),
    )
    # Kept after the shares: an edge into ``to_node`` keeps its share of the pairs out of
    # its ``from``.
    if spec.from_node is not None:
        graph = graph.filter(graph.from_ == spec.from_node)
    if spec.to_node is not None:
        graph = graph.filter(graph.to == spec.to_node)
    if segments is not None:
        graph = with_members(graph, segments)
    return graph.order_by(*keys, ibis.desc("count"), "from_", "to")


def _segments(events: ir.Table, spec: PathsSpec, keyed: bool) -> ir.Table:
    """Each analysed person's ``segment`` of ``spec.by`` (see :mod:`.paths_breakdown`)."""
    if spec.by is None:
        raise SpecError("A breakdown needs a key: give by, e.g. by='device'.")
    return person_segments(analysed_events(events, spec, keyed), spec.by, spec.top_values, keyed)


def _breakdown_field(events: ir.Table, spec: PathsSpec) -> str | None:
    """The field of ``spec.by`` in the records (see :func:`.breakdown.breakdown_field`)."""
    fields = [*EDGE_COLUMNS, *PATH_COLUMNS]
    return breakdown_field(events, spec.by, fields, "the paths field '{field}'", spec.top_values)


def _build_flows(events: ir.Table, spec: PathsSpec, keyed: bool) -> ir.Table:
    """Pairs by their position in the journey (step 0 = first → second node), for the Sankey."""
    pairs = _with_next(build_sequences(events, spec, keyed), spec)
    pairs = pairs.filter(pairs.step < spec.max_depth - 1)
    return pairs.group_by("step", "from_", "to").aggregate(count=pairs.count())


@dataclass
class TransitionsResult(Result):
    """The transition graph: one row per ``from → to`` pair, most frequent first.

    With a breakdown (``by``: its field), ``breakdown`` holds the graph of each value, the
    value first; ``to_frame()`` and ``to_dict()`` give it, ``edges`` and ``figure()`` stay the
    overall graph. ``flows`` (the pairs by step that :meth:`figure` draws) run when first read,
    on the engine the graph came from: a table, JSON or CSV never pays for them (at 10M events,
    as long again as the graph)."""

    edges: pd.DataFrame
    flows_query: ir.Table
    spec: PathsSpec = field(default_factory=PathsSpec)
    queries: tuple[Any, ...] = ()
    by: str | None = None
    breakdown: pd.DataFrame | None = None
    _flows: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def flows(self) -> pd.DataFrame:
        """Pairs by their step in the journey (``step``, ``from_``, ``to``, ``count``)."""
        if self._flows is None:
            self._flows = fetch(self.flows_query)
        return self._flows

    def to_frame(self) -> pd.DataFrame:
        return (self.edges if self.breakdown is None else self.breakdown).copy()

    def to_dict(self) -> list[dict[str, Any]]:
        if self.breakdown is not None:
            return frame_records(self.breakdown)
        return frame_records(self.edges[EDGE_COLUMNS])

    def by_value(self) -> list[tuple[str, pd.DataFrame]]:
        """Each value of the breakdown and its graph, most people first (none without one)."""
        return by_value_frames(self.breakdown, self.by)

    def most_frequent(self, n: int) -> TransitionsResult:
        """The same graph cut to its ``n`` most frequent transitions (per breakdown value);
        probabilities and shares stay those of the whole graph."""
        edges = self.edges.head(n).reset_index(drop=True)
        breakdown = self.breakdown
        if breakdown is not None and self.by is not None:
            breakdown = breakdown.groupby(self.by, sort=False).head(n).reset_index(drop=True)
        return dataclasses.replace(self, edges=edges, breakdown=breakdown)

    def figure(self) -> Any:
        """A Sankey of the ``top`` flows at each of the first ``max_depth`` steps."""
        flows = self.flows.sort_values(["step", "count"], ascending=[True, False])
        flows = flows.groupby("step", sort=True).head(self.spec.top)
        columns = (flows[c].tolist() for c in ("step", "from_", "to", "count"))
        links = [
            ((int(step), str(a)), (int(step) + 1, str(b)), int(n))
            for step, a, b, n in zip(*columns, strict=True)
        ]
        return sankey(links, title="Transitions by step")


def run_transitions(
    events: ir.Table, spec: PathsSpec | None = None, whole: bool = False
) -> TransitionsResult:
    """Count every consecutive pair of nodes in people's journeys.

    Columns: ``from``, ``to``, ``count`` (pairs), ``people`` (distinct persons with the pair),
    ``probability`` (``count`` / all pairs out of ``from``, ``(end)`` included, so each node's
    probabilities sum to 1), ``probability_in`` (``count`` / all pairs into ``to``), ``share``
    (``count`` / all pairs) and ``median_seconds`` between the two events (empty into
    ``(end)``). With ``spec.by``, also the graph of each of its values (``breakdown``, see
    :mod:`.paths_breakdown`), from the same query as the overall graph (``edges``).

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({
    ...     "ana": [("home", "2026-01-01 10:00"), ("product", "+1m"), ("purchase", "+2m")],
    ...     "bo": [("home", "2026-01-01 11:00"), ("home", "+30s")],
    ... }))
    >>> result = run_transitions(events)
    >>> [(r["from"], r["to"], r["count"]) for r in result.to_dict()][:2]
    [('(conversion)', '(end)', 1), ('home', '(end)', 1)]
    """
    spec = spec or PathsSpec()
    by = _breakdown_field(events, spec)
    keyed = _keyed(events, whole)
    graph = _transitions(events, spec, keyed, by_value=by is not None)
    flows = _build_flows(events, spec, keyed)
    edges = _edge_frame(fetch(graph))
    breakdown = None
    if by is not None:
        overall = edges[SEGMENT].isna()
        breakdown = in_value_order(edges[~overall], by, EDGE_COLUMNS)
        edges = _with_people_of(edges[overall], breakdown)
    return TransitionsResult(
        edges=edges[EDGE_COLUMNS].reset_index(drop=True),  # tables and CSV in the JSON's order
        flows_query=flows,
        spec=spec,
        queries=(graph, flows),
        by=by,
        breakdown=breakdown,
    )


def _with_people_of(edges: pd.DataFrame, per_value: pd.DataFrame) -> pd.DataFrame:
    """The overall ``edges`` with their ``people``: the sum over the values (a person has one)."""
    people = per_value.groupby(["from", "to"])["people"].sum()
    keys = pd.MultiIndex.from_frame(edges[["from", "to"]])
    return edges.assign(people=people.reindex(keys).to_numpy().astype(int))


def _edge_frame(graph: pd.DataFrame) -> pd.DataFrame:
    """A fetched graph with the fields named as the JSON names them, ratios as floats."""
    edges = graph.rename(columns={"from_": "from"})
    for ratio in ("probability", "probability_in", "share"):
        edges[ratio] = edges[ratio].astype(float)
    return edges


def _longest(events: ir.Table, spec: PathsSpec, keyed: bool) -> int:
    """At least the most events in one person's sequence (one small query): the largest stored
    ``person_seq`` where the events carry it (a person's events are numbered from 1), else
    the most events of one person."""
    t = analysed_events(events, spec, keyed)
    if keyed:
        longest = t.person_seq.max()
    else:
        longest = t.group_by("person_id").aggregate(n=t.count()).n.max()
    return int(longest.execute() or 0)


def _path_depth(events: ir.Table, spec: PathsSpec, keyed: bool) -> int:
    """The node columns a top path computes: ``max_depth``, but no more than the longest
    sequence and its ``(end)``. Each is a window over every event, so one-event journeys asked
    for 50 nodes cost two windows, not 50 (the others are nulls, see :func:`_path_columns`)."""
    return max(2, min(spec.max_depth, _longest(events, spec, keyed) + 1))


def _path_columns(
    seq: ir.Table, spec: PathsSpec, depth: int
) -> tuple[ir.BooleanValue, list[ir.Value]]:
    """The anchor rows and the ``max_depth`` node columns of the path at each anchor, of which
    the ``depth`` nearest the anchor are computed and the rest, past any journey, are null."""
    anchor, steps = _computed_path_columns(seq, spec, depth)
    beyond = [ibis.null("string")] * (spec.max_depth - len(steps))
    return anchor, [*steps, *beyond] if spec.from_node is not None else [*beyond, *steps]


def _computed_path_columns(
    seq: ir.Table, spec: PathsSpec, depth: int
) -> tuple[ir.BooleanValue, list[ir.Value]]:
    w = _person_window(seq)
    if spec.from_node is not None:
        leads = [seq.node, *(seq.node.lead(i).over(w) for i in range(1, depth))]
        steps: list[ir.Value] = [leads[0]]
        for i in range(1, depth):
            end = leads[i - 1].notnull().ifelse(ibis.literal(END), ibis.null("string"))
            steps.append(leads[i].fill_null(end) if spec.include_end else leads[i])
        return seq.node == spec.from_node, steps
    assert spec.to_node is not None
    if spec.to_node == END:
        lags = [seq.node.lag(i).over(w) for i in range(depth - 2, 0, -1)]
        return seq.node.lead().over(w).isnull(), [*lags, seq.node, ibis.literal(END)]
    lags = [seq.node.lag(i).over(w) for i in range(depth - 1, 0, -1)]
    return seq.node == spec.to_node, [*lags, seq.node]


def build_top_paths(events: ir.Table, spec: PathsSpec, by_value: bool = False) -> ir.Table:
    """Paths at each occurrence of ``from_node`` / ``to_node``: ``s0…sN, count, people, share``.

    ``by_value``: the ``top`` paths of each value of ``spec.by`` too, in the same query
    (``segment``, with its ``members``; ``share`` out of its value's occurrences of the anchor),
    the overall top paths with a null ``segment``.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({"a": [("x", "2026-01-01"), ("y", "+1h")]}))
    >>> fetch(build_top_paths(events, PathsSpec(from_node="x", max_depth=3)))["s2"].tolist()
    ['(end)']
    """
    if spec.from_node is None and spec.to_node is None:
        raise SpecError("Top paths need a from_node or a to_node.")
    keyed = _keyed(events)
    seq = build_sequences(events, spec, keyed)
    anchor, steps = _path_columns(seq, spec, _path_depth(events, spec, keyed))
    names = [f"s{i}" for i in range(len(steps))]
    person = seq.person_key if keyed else seq.person_id  # as the segments tell people
    marked = seq.select(person=person, is_anchor=anchor, **dict(zip(names, steps, strict=True)))
    marked = marked.filter(marked.is_anchor)
    if by_value:
        return _top_paths_by_value(marked, names, spec, _segments(events, spec, keyed))
    paths = marked.group_by(names).aggregate(count=marked.count(), people=marked.person.nunique())
    paths = paths.mutate(share=paths["count"] / paths["count"].sum().over())
    return paths.order_by(ibis.desc("count"), *names).limit(spec.top)


def _top_paths_by_value(
    marked: ir.Table, names: list[str], spec: PathsSpec, segments: ir.Table
) -> ir.Table:
    """The ``top`` paths of each value and overall (a null ``segment``): the anchors' paths
    grouped by value and path at once."""
    marked = with_overall(with_segment(marked, "person", segments))
    paths = marked.group_by(SEGMENT, *names).aggregate(
        count=marked.count(), people=marked.person.nunique()
    )
    count = paths["count"]
    order = [ibis.desc("count"), *names]
    # A column before the filter: Spark SQL from Ibis loses a filter's window's table.
    paths = paths.mutate(
        share=count / count.sum().over(group_by=paths[SEGMENT]),
        place=ibis.row_number().over(group_by=paths[SEGMENT], order_by=order),
    )
    paths = paths.filter(paths.place < spec.top).drop("place")
    return with_members(paths, segments).order_by(SEGMENT, *order)


@dataclass
class TopPathsResult(Result):
    """The most frequent paths from (or to) a node, most frequent first."""

    paths: pd.DataFrame
    spec: PathsSpec = field(default_factory=PathsSpec)
    queries: tuple[Any, ...] = ()
    by: str | None = None  # the breakdown's field: ``breakdown`` holds each value's top paths
    breakdown: pd.DataFrame | None = None

    def to_frame(self) -> pd.DataFrame:
        return (self.paths if self.breakdown is None else self.breakdown).copy()

    def to_dict(self) -> list[dict[str, Any]]:
        return frame_records(self.to_frame())

    def by_value(self) -> list[tuple[str, pd.DataFrame]]:
        """Each value of the breakdown and its top paths, most people first."""
        return by_value_frames(self.breakdown, self.by)

    def figure(self) -> Any:
        """A Sankey of the top paths, with one column of nodes per step."""
        links: dict[tuple[tuple[int, str], tuple[int, str]], int] = {}
        offset = 0 if self.spec.from_node is not None else self.spec.max_depth
        for path, count in zip(self.paths["path"], self.paths["count"], strict=True):
            start = offset - len(path) if offset else 0
            for i in range(len(path) - 1):
                key = ((start + i, path[i]), (start + i + 1, path[i + 1]))
                links[key] = links.get(key, 0) + int(count)
        title = f"Top paths {'from' if self.spec.from_node else 'to'} {self.spec.anchor}"
        return sankey([(a, b, n) for (a, b), n in links.items()], title=title)


def _path_lists(frame: pd.DataFrame, depth: int) -> list[list[str]]:
    steps = frame[[f"s{i}" for i in range(depth)]].to_numpy(dtype=object)
    return [[str(n) for n in row if n is not None and n == n] for row in steps]


def run_top_paths(events: ir.Table, spec: PathsSpec) -> TopPathsResult:
    """The ``top`` most frequent paths of up to ``max_depth`` nodes from or to a node.

    Every occurrence of the anchor node counts once: a person who passes through ``checkout``
    twice contributes two paths from ``checkout`` (``count``); ``people`` counts them once.
    A path from a node stops at ``(end)``; a path to a node starts at the person's first event
    when it is shorter than ``max_depth``. ``to_node="(conversion)"`` gives the paths to
    converting, ``to_node="(end)"`` the paths to leaving. ``share`` is ``count`` over all
    occurrences of the anchor. With ``spec.by``, also the ``top`` paths of each of its values
    (``breakdown``, see :mod:`.paths_breakdown`), from the same query as the overall ones.

    Examples
    --------
    >>> import ibis
    >>> from journeylens.testing import journeys
    >>> con = ibis.duckdb.connect()
    >>> events = con.create_table("events", journeys({
    ...     "ana": [("home", "2026-01-01 10:00"), ("cart", "+1m"), ("purchase", "+2m")],
    ...     "bo": [("home", "2026-01-01 11:00"), ("cart", "+1m")],
    ... }))
    >>> result = run_top_paths(events, PathsSpec(to_node="(conversion)", max_depth=3))
    >>> result.to_dict()[0]["path"]
    ['home', 'cart', '(conversion)']
    """
    by = _breakdown_field(events, spec)
    expr = build_top_paths(events, spec, by_value=by is not None)
    frame = fetch(expr)
    paths = _path_frame(frame, spec)
    if by is None:
        return TopPathsResult(paths=paths, spec=spec, queries=(expr,))
    paths = paths.assign(**{SEGMENT: frame[SEGMENT], MEMBERS: frame[MEMBERS]})
    overall = paths[SEGMENT].isna()
    return TopPathsResult(
        paths=paths.loc[overall, PATH_COLUMNS].reset_index(drop=True),
        spec=spec,
        queries=(expr,),
        by=by,
        breakdown=in_value_order(paths[~overall], by, PATH_COLUMNS),
    )


def _path_frame(frame: pd.DataFrame, spec: PathsSpec) -> pd.DataFrame:
    """Fetched top paths as ``path`` (a list of nodes), ``steps``, ``count``, ... ."""
    paths = pd.DataFrame(
        {
            "path": _path_lists(frame, spec.max_depth),
            "count": frame["count"].astype(int),
            "people": frame["people"].astype(int),
            "share": frame["share"].astype(float),
        }
    )
    paths.insert(1, "steps", paths["path"].map(len))
    return paths


def sankey(links: Sequence[tuple[tuple[int, str], tuple[int, str], int]], title: str) -> Any:
    """A Plotly Sankey from ``((step, node), (step, node), count)`` links.

    Nodes are indexed by step, so a journey that loops (``a → b → a``) stays acyclic.

    Examples
    --------
    >>> fig = sankey([((0, "home"), (1, "cart"), 3)], title="demo")
    >>> list(fig.data[0].node.label)
    ['home', 'cart']
    """
    import plotly.graph_objects as go

    nodes: dict[tuple[int, str], int] = {}
    for source, target, _ in links:
        nodes.setdefault(source, len(nodes))
        nodes.setdefault(target, len(nodes))
    data = go.Sankey(
        arrangement="snap",
        node={"label": plot_labels(name for _, name in nodes), "pad": 12},
        link={
            "source": [nodes[s] for s, _, _ in links],
            "target": [nodes[t] for _, t, _ in links],
            "value": [n for _, _, n in links],
        },
    )
    return go.Figure(data, layout={"title": {"text": plot_label(title)}})
