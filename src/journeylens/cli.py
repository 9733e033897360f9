"""The command line: ``journeylens <command> [options]``.

Thin by design: each command parses its options, calls one workspace method or analysis, and
renders the result. User errors print one line and exit 2 (``--debug`` shows the traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NoReturn

import typer

if TYPE_CHECKING:
    from journeylens.workspace import Workspace

app = typer.Typer(
    help=(
        "journeylens — customer-journey analytics on DuckDB or Spark. Every command but "
        "init (which takes the directory to create) reads --workspace DIR (or "
        "JOURNEYLENS_WORKSPACE); add --debug for a full traceback."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
NO_FRICTION = "No significant friction found."

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", help="Workspace directory (or JOURNEYLENS_WORKSPACE)."),
]
EngineOpt = Annotated[
    str | None, typer.Option("--engine", help="duckdb or spark (default: the workspace's).")
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]
SinceOpt = Annotated[
    datetime | None, typer.Option("--since", help="Only events at or after this time (UTC).")
]
UntilOpt = Annotated[
    datetime | None, typer.Option("--until", help="Only events before this time (UTC).")
]
StageByOpt = Annotated[
    str | None,
    typer.Option(
        "--by",
        help="Breakdown: each person under the value (channel, device, a property) of their "
        "first staged event.",
    ),
]
TopOpt = Annotated[int, typer.Option(help="Breakdown values to keep; the rest are '(other)'.")]
WhereOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--where",
        help="Filter events: column=value, column!=value, column~glob; >, >=, <, <= compare "
        "numbers and times (repeatable).",
    ),
]


def _open(workspace: Path | None, engine: str | None = None) -> Workspace:
    from journeylens.workspace import open_workspace

    ws = open_workspace(workspace, engine)
    _note(PLACED_AGAIN.get(ws.replaced_placement or ""))
    return ws


# Why opening a workspace placed its events again (``rebuild.placement_staleness``).
PLACED_AGAIN = {
    "edited": "journeylens.toml's catalog or session gap changed since the events were placed: "
    "they were placed again with it.",
    "unfinished": "the last import stopped before its events were placed: they were placed now "
    "(import its files again to record its rejected rows).",
    "upgraded": "this version of journeylens places events otherwise: they were placed again.",
}


def _check_format(fmt: str) -> str:
    from journeylens.cli_output import FORMATS
    from journeylens.errors import SpecError

    if fmt not in FORMATS:
        raise SpecError(f"Unknown format '{fmt}'; use table, json or csv.")
    return fmt


def _filtered(ws: Workspace, since: datetime | None, until: datetime | None, where: Any) -> Any:
    """The events within ``--since``/``--until`` and ``--where``; a note when none is."""
    from journeylens.analytics.filters import apply_filters

    events = apply_filters(ws.events, since, until, where or ())
    if (since or until or where) and not ws.store.count(events):
        _note(_nothing_selected(ws.events, since, until, bool(where)))
    elif not ws.store.count("events"):  # every analysis is then empty: say why, once
        _note(
            "The workspace holds no events: import some (journeylens import FILE) or make the "
            "demo data (journeylens demo)."
        )
    return events


WHOLE_COSTS = (
    "Costs are the catalog's whole costs per touchpoint, not the --where segment's share: its "
    "ROI weighs the segment's credit against everything spent."
)


def _nothing_selected(
    events: Any, since: datetime | None, until: datetime | None, where: bool
) -> str:
    """Why the filters left no event: where the events lie in time."""
    given = " and ".join(
        f"--{name}" for name, on in (("since", since), ("until", until), ("where", where)) if on
    )
    span = events.aggregate(first=events.ts.min(), last=events.ts.max()).execute().iloc[0]
    if span.isna().any():
        return f"No event matches {given}: the workspace holds no events."
    if not (since or until):
        return f"No event matches {given}."
    first, last = (f"{value:%Y-%m-%d %H:%M:%S}" for value in (span["first"], span["last"]))
    return f"No event matches {given}: the events run from {first} to {last}."


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to create the workspace.")],
    template: Annotated[
        str,
        typer.Option(help="three_stage, four_stage_delight, four_stage_retention or five_stage."),
    ] = "four_stage_delight",
    engine: Annotated[str, typer.Option(help="duckdb (default) or spark.")] = "duckdb",
    force: Annotated[bool, typer.Option(help="Replace an existing workspace.")] = False,
) -> None:
    """Create a workspace: a TOML config from a stage template and empty tables."""
    from journeylens.workspace import init_workspace

    with init_workspace(directory, template, engine, force) as ws:
        typer.echo(
            f"Created workspace '{directory}' ({template}, {len(ws.config.stages)} stages, "
            f"{len(ws.config.touchpoints)} touchpoints, engine {engine})."
        )


def _check_not_mappings(files: list[Path]) -> None:
    """A ``canonical=source`` among the files is a mapping after the first ``--map``, which
    takes one each: say so, instead of that no such file exists."""
    from journeylens.errors import ImportFileError

    for path in files:
        if "=" in path.name and not path.exists():
            raise ImportFileError(
                f"{path}: no such file. To map another column, give --map once for each: "
                f"--map {path.name}."
            )


@app.command("import")
def import_(
    files: Annotated[
        list[Path],
        typer.Argument(
            help="CSV, TSV, Parquet, JSON Lines, JSON array, XES event log or Excel (.xlsx) "
            "files, or directories or .zip archives of them; the text ones may be gzipped "
            "(.csv.gz, .jsonl.gz)."
        ),
    ],
    kind: Annotated[str, typer.Option(help="events, feedback or touchpoints.")] = "events",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="canonical=source column, e.g. ts=created_at (repeatable)."),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="canonical=value for a column the file lacks, on every row, e.g. metric=nps "
            "or channel=store (repeatable).",
        ),
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Time zone of timestamps that carry no offset.")
    ] = "UTC",
    encoding: Annotated[
        str | None, typer.Option(help="Text encoding, if not UTF-8 (e.g. cp1252).")
    ] = None,
    ts_format: Annotated[
        str | None,
        typer.Option(
            help="strptime format of timestamps given as text, e.g. '%m/%d/%Y %H:%M' "
            "(default: ISO 8601, or epoch seconds, milliseconds, microseconds or nanoseconds)."
        ),
    ] = None,
    decimal_comma: Annotated[
        bool,
        typer.Option(
            "--decimal-comma",
            help="Numbers given as text have a decimal comma, e.g. 1.234,50 "
            "(as spreadsheets save them in many European locales).",
        ),
    ] = False,
    sheet: Annotated[
        list[str] | None,
        typer.Option(
            help="Sheet of the Excel workbooks to read, by name or glob pattern, e.g. March "
            "or '*' (repeatable; default: the first sheet).",
        ),
    ] = None,
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Import events, feedback or a touchpoint catalog; bad rows go to the rejected table."""
    from journeylens.collect.columns import parse_map
    from journeylens.collect.readers import expand_paths

    _check_format(fmt)
    _check_not_mappings(files)
    files = expand_paths(files)  # a directory's files, for the progress bar's count
    mapping = parse_map(map_ or [])
    constants = parse_map(set_ or [], "--set")
    sheets = sheet or []
    with _open(workspace, engine) as ws, _progress(files, sheets) as advance:
        anonymous = _anonymous_answers(ws) if kind == "feedback" else 0
        placeless = _uncatalogued_answers(ws) if kind == "feedback" else {}
        summary = ws.import_files(
            files,
            kind,
            mapping,
            timezone,
            encoding,
            advance,
            ts_format,
            decimal_comma,
            constants,
            sheets,
        )
        for note in summary.notes:
            _note(note)
        if kind == "events" and summary.stored:
            _warn_unmapped(ws.events, "touchpoint", "stages, attribution and friction read it")
            _warn_shared_ids(ws.events)
        if kind == "touchpoints":
            _warn_shadowed(ws.config.touchpoints)
        if summary.rejected_by_reason.get("invalid_xml"):
            _note(
                "an XML error stopped the reading of an XES file (its line: journeylens "
                "rejected): the events after it were not read, and the trace it cut may lack "
                "its last events. Mend the file and import it again; what is stored stays once."
            )
        if kind == "feedback" and (new := _anonymous_answers(ws) - anonymous):
            _note(
                f"{_count(new, 'answer')} stored without a person: no anonymous_id or user_id "
                "on their rows. They are kept among the answers but join no journey; if the file "
                "names its respondents in another column: --map user_id=COLUMN."
            )
        if kind == "feedback":
            _note(_uncatalogued_note(ws, placeless))
    if fmt == "json":
        import json

        typer.echo(json.dumps(summary.to_dict(), indent=2))
        return
    data = summary.to_dict()
    typer.echo(
        f"Read {_count(data['rows'], 'row')}: stored {data['stored']:,}, rejected "
        f"{data['rejected']:,}, skipped "
        f"{_count(data['duplicates_in_files'] + data['already_stored'], 'duplicate')} "
        f"({data['seconds']} s)."
    )
    for reason, n in data["rejected_by_reason"].items():
        typer.echo(f"  rejected {n:,}: {reason}")
    if data["ts_format_hints"]:
        layouts = " or ".join(f"'{layout}'" for layout in data["ts_format_hints"][:4])
        pick = " (pick the one the file uses)" if len(data["ts_format_hints"]) > 1 else ""
        typer.echo(f"  the unread times read with --ts-format {layouts}{pick}")
    if data["rejected"]:
        typer.echo("See them with: journeylens rejected")


def _warn_shadowed(touchpoints: Sequence[Any]) -> None:
    """A note per catalog entry that an earlier touchpoint's same entry keeps from placing
    any event (the first in catalog order wins)."""
    from journeylens.journey.catalog import shadowed_entries

    for touchpoint, entry, owner in shadowed_entries(touchpoints):
        _note(
            f"touchpoint '{touchpoint}' gets no event by its match '{entry}': the touchpoint "
            f"'{owner}', earlier in the catalog, has the same match and takes them. Remove it "
            f"from one of the two (journeylens.toml, or import the catalog again)."
        )


def _anonymous_answers(ws: Workspace) -> int:
    """Feedback answers stored without a person."""
    return ws.store.count(ws.feedback.filter(ws.feedback.person_id.isnull()))


def _uncatalogued_answers(ws: Workspace) -> dict[str, int]:
    """Feedback answers per touchpoint they name that the catalog does not list."""
    from journeylens.analytics.touchpoints import build_uncatalogued_answers

    frame = build_uncatalogued_answers(ws.feedback, ws.touchpoints).execute()
    return dict(zip(frame["touchpoint"], frame["answers"].astype(int), strict=True))


def _uncatalogued_note(ws: Workspace, before: dict[str, int]) -> str | None:
    """After a feedback import: the answers it stored at touchpoints the catalog does not list
    (they count at no touchpoint or stage), per touchpoint, with the catalog's touchpoint that
    differs only in case."""
    new = {t: n - before.get(t, 0) for t, n in _uncatalogued_answers(ws).items()}
    new = {t: n for t, n in sorted(new.items(), key=lambda item: (-item[1], item[0])) if n > 0}
    if not new:
        return None
    from journeylens.analytics.result import listed

    folded = {t.touchpoint.casefold(): t.touchpoint for t in ws.config.touchpoints}
    named = []
    for touchpoint, n in new.items():
        near = folded.get(touchpoint.casefold())
        hint = f"; did you mean '{near}'?" if near else ""
        named.append(f"'{touchpoint}' ({_count(n, 'answer')}{hint})")
    return (
        f"{_count(sum(new.values()), 'answer')} stored at a touchpoint the catalog does not "
        f"list: {listed(named)}. They are kept but count at no touchpoint or "
        "stage (touchpoints match as written, case included); add the touchpoint to the "
        "catalog (journeylens import catalog.csv --kind touchpoints) or use one it lists."
    )


def _count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless one: ``1 row``, ``2,000 rows``."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def _warn_unmapped(events: Any, column: str = "stage", why: str = "") -> None:
    """On standard error: events exist but none has a ``column`` (the catalog maps none)."""
    from journeylens.journey.catalog import UNMAPPED_HINT

    counts = events.aggregate(events=events.count(), placed=events[column].count()).execute()
    if int(counts["events"].iloc[0]) and not int(counts["placed"].iloc[0]):
        because = f" ({why})" if why else ""
        _note(
            f"no event has a {column}{because}: the catalog maps none of these events. "
            f"{UNMAPPED_HINT}"
        )


def _warn_shared_ids(events: Any) -> None:
    """On standard error: anonymous ids that are also user ids no row links them to, used
    before those users' first rows."""
    from journeylens.collect.identity import unlinked_shared_ids

    n, examples = unlinked_shared_ids(events)
    if n:
        listed = ", ".join(repr(e) for e in examples)
        _note(
            f"{n:,} anonymous id{'s are' if n > 1 else ' is'} written as a user id ({listed}"
            f"{', ...' if n > len(examples) else ''}) and used before that user id's first row, "
            "though no row links them: each is read as that user. If the two id columns count "
            "separately (visitor 1, customer 1), prefix one column's values in the file and "
            "import again into a new workspace."
        )


def _mostly_unmapped(edges: Any) -> bool:
    """Whether most transitions start or end at ``(unmapped)``."""
    from journeylens.analytics.paths import UNMAPPED

    if edges.empty:
        return False
    unmapped = (edges["from"] == UNMAPPED) | (edges["to"] == UNMAPPED)
    return bool(edges["count"][unmapped].sum() * 2 > edges["count"].sum())


# The busiest unmapped events the touchpoints table shows (a shop that names an event per
# product page has hundreds of thousands).
UNMAPPED_SHOWN = 25


def _note(text: str | None) -> None:
    """A note on standard error (standard output stays the result); nothing for None."""
    if text:
        typer.echo(f"Note: {text}", err=True)


class _progress:
    """A progress bar on a terminal; nothing when output is redirected."""

    def __init__(self, files: list[Path], sheets: Sequence[str] = ()) -> None:
        self.files, self.sheets = files, sheets
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.progress import Progress

        from journeylens.collect.readers import compressed_as, open_readers

        total = 0
        for path in self.files:
            if compressed_as(path) == "gzip":  # its rows are known only once it is unpacked
                total = 0
                break
            try:
                for reader in open_readers(path, sheets=self.sheets):
                    with reader:
                        total += reader.rows_estimate or 0
            except Exception:  # noqa: BLE001 - the import itself reports unreadable files
                total = 0
                break
        self.bar = Progress(transient=True)
        self.bar.start()
        task = self.bar.add_task("importing", total=total or None)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


@app.command()
def status(
    workspace: WorkspaceOpt = None, engine: EngineOpt = None, fmt: FormatOpt = "table"
) -> None:
    """What the workspace holds: events, people, sessions, feedback, rejected rows."""
    from journeylens.cli_output import emit

    with _open(workspace, engine) as ws:
        result = ws.status()
        emit(result, _check_format(fmt), "Workspace status")
        _note(result.currency_note)


@app.command()
def rejected(
    workspace: WorkspaceOpt = None,
    limit: Annotated[
        int, typer.Option(min=1, max=1_000_000_000, help="How many rows to show.")
    ] = 50,
    fmt: FormatOpt = "table",
) -> None:
    """The rows that could not be stored, with file, line, field and reason."""
    from journeylens.analytics.rejected import run_rejected
    from journeylens.cli_output import emit

    with _open(workspace) as ws:
        emit(run_rejected(ws.rejected, limit), _check_format(fmt), "Rejected rows")


@app.command()
def touchpoints(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    suggest: Annotated[
        bool,
        typer.Option(
            "--suggest",
            help="Suggest catalog rows for the unmapped events (by name, else by where they "
            "come in sessions); --format csv writes a file for import --kind touchpoints.",
        ),
    ] = False,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Breakdown: events and people per touchpoint and value (channel, device, a "
            "property) of each event; a person counts under every value they have.",
        ),
    ] = None,
    top: TopOpt = 10,
) -> None:
    """The touchpoint catalog with volume and reach, unmapped events and content gaps."""
    from journeylens.analytics.touchpoints import run_touchpoint_report
    from journeylens.cli_output import emit, print_frame

    _check_format(fmt)
    if suggest:
        from journeylens.analytics.suggest import suggest_catalog
        from journeylens.errors import SpecError

        if by is not None:
            raise SpecError("--by breaks down the touchpoint report, not --suggest.")
        with _open(workspace, engine) as ws:
            suggestions = suggest_catalog(_filtered(ws, since, until, where), ws.config)
        emit(suggestions, fmt, "Suggested touchpoints")
        if fmt == "table":
            _note(
                "Review them, then: journeylens touchpoints --suggest --format csv > "
                "catalog.csv, edit the file, and journeylens import catalog.csv --kind "
                "touchpoints."
            )
        return
    with _open(workspace, engine) as ws:
        report = run_touchpoint_report(
            _filtered(ws, since, until, where),
            ws.touchpoints,
            ws.config,
            by=by,
            top=top,
            feedback=ws.feedback_for(where or (), since, until),
        )
    if by is not None and fmt == "csv":  # the CSV: each value's rows, the key first
        emit(_FrameResult(report.breakdown_frame()), fmt)
        return
    emit(report, fmt, "Touchpoints")
    if fmt == "table":
        if not report.unmapped.empty:
            unmapped = report.unmapped
            print_frame(unmapped, "Events no touchpoint maps", rows=UNMAPPED_SHOWN)
            if len(unmapped) > UNMAPPED_SHOWN:
                rest = int(unmapped["events"].iloc[UNMAPPED_SHOWN:].sum())
                typer.echo(
                    f"Those other names hold {rest:,} events; --suggest proposes catalog rows "
                    "for every unmapped event."
                )
        if not report.uncatalogued.empty:
            print_frame(report.uncatalogued, "Touchpoints in the data the catalog does not list")
            typer.echo(
                "Add them to the catalog (journeylens import catalog.csv --kind touchpoints) to "
                "give them a stage, an owner and a cost."
            )
        if report.stages_without_touchpoints:
            typer.echo(f"Stages with no touchpoint: {', '.join(report.stages_without_touchpoints)}")
        if report.stages_without_events:
            unreached = ", ".join(report.stages_without_events)
            typer.echo(f"Stages with touchpoints no one reached: {unreached}")
        _print_touchpoint_breakdown(report)


def _print_touchpoint_breakdown(report: Any) -> None:
    """A table per value of ``touchpoints --by``, most events first, '(other)' last."""
    from journeylens.cli_output import print_section

    values = report.by_value()
    for value, frame in values:
        events = int(frame["events"].sum())
        print_section(f"{report.by} = {value}: {events:,} event{'s' * (events != 1)}", frame)
    if values:
        _note(
            f"each event counts under its own {report.by}, and a person under every value "
            "they have an event with: the values' events add up to the catalog's, their "
            "people may add up to more."
        )


@app.command()
def stages(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    by: StageByOpt = None,
    top: TopOpt = 10,
) -> None:
    """The stage funnel: people per stage, conversion, median time between stages."""
    from journeylens.analytics.stages import run_stage_flow
    from journeylens.cli_output import emit

    with _open(workspace, engine) as ws:
        events = _filtered(ws, since, until, where)
        result = run_stage_flow(events, ws.config.stage_keys, by=by, top=top)
        emit(result, _check_format(fmt), "Stage funnel")
        if fmt == "table":
            _stage_touchpoints(result)
        _warn_unmapped(events)


@app.command()
def paths(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    level: Annotated[str, typer.Option(help="touchpoint, event, stage or channel.")] = "touchpoint",
    from_node: Annotated[
        str | None, typer.Option("--from", help="Top paths starting at this node.")
    ] = None,
    to_node: Annotated[
        str | None, typer.Option("--to", help="Top paths leading to this node, e.g. (conversion).")
    ] = None,
    collapse_repeats: Annotated[
        bool, typer.Option(help="Merge immediate repeats of a node.")
    ] = False,
    top_nodes: Annotated[
        int | None, typer.Option(help="Keep this many nodes; group the rest as '(other)'.")
    ] = None,
    min_share: Annotated[
        float | None, typer.Option(help="Group nodes under this share of events as '(other)'.")
    ] = None,
    max_depth: Annotated[
        int, typer.Option(help="Nodes per top path and Sankey steps (2 to 50).")
    ] = 5,
    top: Annotated[
        int | None,
        typer.Option(
            help="How many top paths (default 20); for the graph, its most frequent "
            "transitions (default: all).",
            min=1,
        ),
    ] = None,
    ends: Annotated[
        bool | None,
        typer.Option(
            help="Add '(end)' after each journey and show goals as '(conversion)' "
            "(default: on for --from/--to, off for the raw graph)."
        ),
    ] = None,
    goal: Annotated[
        list[str] | None, typer.Option(help="Goal event(s) (default: the workspace's).")
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Breakdown: each person under the value (channel, device, a property) of their "
            "first event; the graph or top paths per value.",
        ),
    ] = None,
    top_values: Annotated[
        int, typer.Option(help="With --by: values to keep; the rest are '(other)'.")
    ] = 10,
) -> None:
    """The transition graph (raw by default), or top paths --from / --to a node."""
    from journeylens.analytics.paths import (
        PathsSpec,
        TopPathsResult,
        TransitionsResult,
        run_top_paths,
        run_transitions,
    )
    from journeylens.cli_output import emit, print_frame

    _check_format(fmt)
    with _open(workspace, engine) as ws:
        anchored = from_node is not None or to_node is not None
        spec = PathsSpec(
            level=level,  # type: ignore[arg-type]
            collapse_repeats=collapse_repeats,
            min_share=min_share,
            top_nodes=top_nodes,
            max_depth=max_depth,
            from_node=from_node,
            to_node=to_node,
            top=PathsSpec.top if top is None else top,
            include_end=anchored if ends is None else ends,
            goal=tuple(goal or ws.config.conversion_events),
            by=by,
            top_values=top_values,
        )
        ws.check_paths(spec, named_goal=bool(goal))
        events = _filtered(ws, since, until, where)
        # Cut only by time, every person's events in range stay together (see whole=).
        whole = not where
        if anchored:
            result: TopPathsResult | TransitionsResult = run_top_paths(events, spec)
        else:
            result = run_transitions(events, spec, whole)
            if top is not None:
                result = result.most_frequent(top)
        title = "Top paths" if anchored else "Transitions"
        values = result.by_value() if fmt == "table" else []
        for value, part in values:  # a table per value, most people first, '(other)' last
            print_frame(part, f"{title}: {result.by} = {value}")
        if not values:
            emit(result, fmt, title)
        if not anchored and level != "event" and _mostly_unmapped(result.to_frame()):
            _note(
                f"most events have no {level}, so they are '(unmapped)': map them in the "
                "catalog, or see the paths between event names with --level event."
            )


@app.command()
def conformance(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    by: StageByOpt = None,
    top: TopOpt = 10,
) -> None:
    """Who follows the designed stage order, who skips stages, who goes back."""
    import pandas as pd

    from journeylens.analytics.conformance import run_conformance
    from journeylens.cli_output import emit, print_frame

    with _open(workspace, engine) as ws:
        events = _filtered(ws, since, until, where)
        result = run_conformance(events, ws.config.stage_keys, by=by, top=top)
        if fmt == "table":  # the totals first: who follows the order, then how others leave it
            print_frame(pd.DataFrame([result.summary]), "Who follows the designed stage order")
        emit(result, _check_format(fmt), "Deviations from the designed stage order")
        if fmt == "table" and result.breakdown is not None:
            print_frame(result.breakdown, f"By {by}: who follows the designed order")
        _warn_unmapped(events)


@app.command()
def funnel(
    steps: Annotated[
        list[str],
        typer.Argument(
            help="Steps in order: event:NAME, touchpoint:NAME, stage:NAME, optionally with "
            # A backslash keeps the help's markup from taking "[revenue>100]" for a style tag.
            "filters like event:purchase\\[revenue>100]; a bare name is an event; a NAME with * "
            "or ? is a glob (event:page_view:/product/*) unless quoted."
        ),
    ],
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    within: Annotated[str, typer.Option(help="Conversion window from step 1, e.g. 7d.")] = "14d",
    order: Annotated[str, typer.Option(help="ordered, strict or any.")] = "ordered",
    exclude: Annotated[
        list[str] | None, typer.Option(help="Exclusion step, e.g. event:refund (repeatable).")
    ] = None,
    exclusion: Annotated[
        str, typer.Option(help="drop (leave the funnel) or restart (end that attempt).")
    ] = "drop",
    count: Annotated[str, typer.Option(help="people, attempts or sessions.")] = "people",
    entry: Annotated[
        str,
        typer.Option(
            help="first (a person's first step-1 event starts the attempt that counts) or "
            "best (the attempt that gets furthest counts, whichever step-1 event starts it)."
        ),
    ] = "first",
    step_within: Annotated[
        list[str] | None,
        typer.Option(help="Per-step window from the previous step, one per step after the first."),
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Breakdown: channel, device, interaction, campaign, ...")
    ] = None,
    by_step: Annotated[
        str, typer.Option(help="Take the breakdown value from: first, last or a step number.")
    ] = "first",
    top: Annotated[
        int, typer.Option(help="Breakdown values to keep; the rest are '(other)'.")
    ] = 10,
    dropped_at: Annotated[
        int | None, typer.Option(help="List the people who reached the step before N, not N.")
    ] = None,
    trend: Annotated[
        str | None, typer.Option(help="Conversion per entry 'day' or 'week' instead.")
    ] = None,
    drivers: Annotated[
        int | None, typer.Option(help="What is associated with converting at step N.")
    ] = None,
    annotation: Annotated[str | None, ChangeOpts["annotation"]] = None,
    compare_at: Annotated[datetime | None, ChangeOpts["compare_at"]] = None,
    dropoff: Annotated[
        bool, typer.Option("--dropoff", help="Split each step's drop-off: changed, postponed...")
    ] = False,
    goal: Annotated[
        str | None, typer.Option(help="Drop-off goal (default: the last step without filters).")
    ] = None,
    dropoff_kind: Annotated[
        str | None,
        typer.Option(help="With --dropped-at: in_progress, changed, postponed or abandoned."),
    ] = None,
) -> None:
    """A conversion funnel counted per person, with windows, exclusions and breakdowns."""
    from journeylens.analytics.conversion_drivers import run_conversion_drivers
    from journeylens.analytics.filters import apply_filters
    from journeylens.analytics.funnel_trends import run_funnel_trend
    from journeylens.analytics.funnels import FunnelSpec, dropped_people, run_funnel
    from journeylens.cli_output import emit, print_frame
    from journeylens.errors import SpecError

    _check_format(fmt)
    spec = FunnelSpec(
        steps=steps,
        within=within,
        order=order,  # type: ignore[arg-type]
        exclude=tuple(exclude or ()),
        exclusion=exclusion,  # type: ignore[arg-type]
        count=count,  # type: ignore[arg-type]
        entry=entry,  # type: ignore[arg-type]
        step_within=[None if w in ("", "-") else w for w in step_within] if step_within else None,
        by=by,
        by_step=int(by_step) if by_step.isdigit() else by_step,  # type: ignore[arg-type]
        top=top,
        since=since,  # in the spec too, so that its JSON says what was asked
        until=until,
    )
    with _open(workspace, engine) as ws:
        ws.check_funnel(spec, by_option="--by")
        events = _filtered(ws, since, until, where)
        if dropoff or goal or dropoff_kind:
            _dropoff(ws, events, spec, goal, dropped_at, dropoff_kind, fmt)
            return
        if dropped_at is not None:
            people = ws.store.execute(dropped_people(events, spec, dropped_at))
            emit(_FrameResult(people), fmt, f"Dropped at step {dropped_at}")
            return
        if trend is not None:
            if trend not in ("day", "week"):
                raise SpecError(f"Unknown --trend '{trend}'; use day or week.")
            every: Literal["day", "week"] = "week" if trend == "week" else "day"
            emit(run_funnel_trend(events, spec, every=every), fmt, "Funnel trend")
            return
        if drivers is not None:
            emit(run_conversion_drivers(events, spec, drivers), fmt, "Conversion drivers")
            return
        if annotation is not None or compare_at is not None:
            # The periods span the data within --since/--until, whatever --where.
            data = apply_filters(ws.events, since, until, ()) if where else None
            _funnel_change(ws, events, spec, annotation, compare_at, fmt, data)
            return
        result = run_funnel(events, spec)
        if fmt == "csv" and by is not None:
            # One flat table: each breakdown value's steps, the value first.
            emit(_FrameResult(result.breakdown_frame()), fmt)
            return
        emit(result, fmt, "Funnel")
        if fmt == "table" and by is not None:
            title = f"By {by}: people per step; conversion against the other values"
            print_frame(result.breakdown_display(), title)


def _dropoff(
    ws: Workspace,
    events: Any,
    funnel: Any,
    goal: str | None,
    dropped_at: int | None,
    kind: str | None,
    fmt: str,
) -> None:
    """The drop-off split per step, or (with ``dropped_at``) the people of one class."""
    from journeylens.analytics.dropoff import (
        DropoffSpec,
        check_goal_name,
        dropoff_people,
        run_dropoff,
    )
    from journeylens.cli_output import emit
    from journeylens.errors import SpecError

    check_goal_name(ws.events, goal)
    spec = DropoffSpec(funnel, goal=goal)
    if dropped_at is None:
        if kind is not None:
            raise SpecError("--dropoff-kind needs --dropped-at N: the step whose people to list.")
        emit(run_dropoff(events, spec), fmt, "Drop-off: changed, postponed or abandoned")
        return
    people = ws.store.execute(dropoff_people(events, spec, dropped_at, kind))
    emit(_FrameResult(people), fmt, f"Dropped at step {dropped_at}: {kind or 'all'}")


def _funnel_change(
    ws: Workspace,
    events: Any,
    spec: Any,
    annotation: str | None,
    compare_at: datetime | None,
    fmt: str,
    data: Any = None,
) -> None:
    from journeylens.analytics.changes import run_funnel_change
    from journeylens.cli_output import emit

    at, _ = _change_point(ws, annotation, compare_at)
    result = run_funnel_change(events, spec, at, data)
    emit(result, fmt, f"Funnel before and after {at:%Y-%m-%d}")
    if fmt == "table":
        c = result.change
        verdict = "significant" if c["significant"] else "not significant"
        p_value = c["p_value"] if c["p_value"] is not None else 1.0
        typer.echo(
            f"Conversion {c['before_conversion'] or 0:.1%} before, "
            f"{c['after_conversion'] or 0:.1%} after ({c['before_entrants']:,} and "
            f"{c['after_entrants']:,} entrants; p = {p_value:.3g}, {verdict})."
        )


class _FrameResult:
    """A plain table (an audience export) in the result interface the renderers expect."""

    def __init__(self, frame: Any) -> None:
        self.frame = frame

    def to_frame(self) -> Any:
        return self.frame

    def to_dict(self) -> Any:
        from journeylens.analytics.result import frame_records

        return frame_records(self.frame)


@app.command()
def attribution(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            help="first_touch, last_touch, last_non_direct, linear, time_decay, u_shape, "
            "j_shape, inverse_j, markov, shapley, shapley_ordered, incrementality, or all "
            "(every model but shapley_ordered; repeatable)."
        ),
    ] = None,
    level: Annotated[str, typer.Option(help="touchpoint, channel or campaign.")] = "touchpoint",
    goal: Annotated[
        list[str] | None,
        typer.Option(help="Conversion event(s) (default: the workspace's; repeatable)."),
    ] = None,
    lookback: Annotated[str, typer.Option(help="Touches this long before a conversion.")] = "30d",
    value: Annotated[str, typer.Option(help="conversions or revenue.")] = "conversions",
    revenue_from: Annotated[
        str | None,
        typer.Option(
            help="A property of the conversion whose number is its revenue where the revenue "
            "column has none, e.g. price."
        ),
    ] = None,
    half_life: Annotated[str, typer.Option(help="Half-life of time decay.")] = "7d",
    markov_order: Annotated[int, typer.Option(help="Markov chain order (1-3).")] = 1,
    roi: Annotated[
        bool, typer.Option("--roi", help="Cost, CPA, ROAS and ROI per model and touchpoint.")
    ] = False,
    cut_list: Annotated[
        bool, typer.Option("--cut-list", help="Touchpoints that cost money and change nothing.")
    ] = False,
    min_cost_share: Annotated[
        float | None,
        typer.Option(
            help="With --cut-list: weigh the lift of touchpoints from this share of all costs "
            "(default 0.01, or the average touchpoint's cost where that is less; 0: all)."
        ),
    ] = None,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples for lift intervals.")] = 1000,
    seed: Annotated[int, typer.Option(help="Seed for sampling (same seed, same numbers).")] = 0,
    paths: Annotated[
        Path | None,
        typer.Option(
            "--paths",
            help="Attribute a path-counts file instead of a workspace's events: rows of "
            "'a > b > c' with total_conversions, total_conversion_value and total_null "
            "(ChannelAttribution's data, conversion-path reports).",
        ),
    ] = None,
    sheet: Annotated[
        list[str] | None,
        typer.Option(
            help="With --paths: the sheet of an Excel workbook to read, by name or glob pattern "
            "(repeatable; default: the first sheet).",
        ),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(help="With --paths: the file's text encoding, if not UTF-8 (e.g. cp1252)."),
    ] = None,
    by: Annotated[
        str | None,
        typer.Option(
            "--by",
            help="Breakdown: every model within each value (device, campaign, a property) of "
            "a journey's conversion (its last touch when it did not convert).",
        ),
    ] = None,
    top: TopOpt = 10,
) -> None:
    """Which touchpoints earn conversions and revenue: rule-based, Markov, Shapley, lift, ROI."""
    from journeylens.analytics.attribution_report import (
        AttributionReport,
        uncatalogued_touches,
        why_no_revenue,
        why_no_touches,
        why_nothing_attributed,
    )
    from journeylens.analytics.roi import CutListResult, why_no_costs
    from journeylens.cli_output import emit

    _check_format(fmt)
    if paths is not None:
        from journeylens.analytics.path_counts import run_path_attribution
        from journeylens.errors import SpecError

        event_options = {
            "--roi": roi,
            "--cut-list": cut_list,
            "--min-cost-share": min_cost_share is not None,
            "--since": since,
            "--until": until,
            "--where": where,
            "--level": level != "touchpoint",
            "--goal": goal,
            "--lookback": lookback != "30d",
            "--revenue-from": revenue_from,
            "--workspace": workspace,
            "--engine": engine,
            "--by": by,
        }
        given = [name for name, value in event_options.items() if value]
        if given:
            raise SpecError(
                f"{', '.join(given)}: options for a workspace's events, not for --paths (a "
                "path-counts file has neither times, people nor events; its names are channels)."
            )
        result = run_path_attribution(
            paths,
            model or ["all"],
            value,
            half_life,
            markov_order,
            seed=seed,
            sheets=sheet or [],
            encoding=encoding,
        )
        emit(result, fmt, "Attribution of path counts")
        return
    if sheet or encoding:
        from journeylens.errors import SpecError

        if sheet:
            raise SpecError("--sheet names the sheets of a --paths workbook to read.")
        raise SpecError(
            "--encoding names the text encoding of a --paths file (a workspace's events were "
            "read in theirs when imported)."
        )
    with _open(workspace, engine) as ws:
        events = _filtered(ws, since, until, where)
        # The workspace's goal unless one is named (a named goal must be in the data).
        chosen: dict[str, Any] = {"goal": goal} if goal else {}
        if min_cost_share is not None:
            chosen["min_cost_share"] = min_cost_share
        result = ws.attribution(
            events,
            models=model or ["all"],
            level=level,
            **chosen,
            lookback=lookback,
            value=value,
            half_life=half_life,
            markov_order=markov_order,
            bootstrap=bootstrap,
            seed=seed,
            roi=roi,
            cut_list=cut_list,
            revenue_from=revenue_from,
            by=by,
            top=top,
            since=since,  # the events are filtered already; ROI prorates costs over the range
            until=until,
        )
        title = "Cut list" if cut_list else "ROI" if roi else f"Attribution of {value}"
        if by is not None and fmt == "csv":  # the CSV: each value's records, the key first
            emit(_FrameResult(result.breakdown_frame()), fmt)
        else:
            emit(result, fmt, title)
        if by is not None and fmt == "table":
            from journeylens.cli_output import print_section

            for section, frame in result.breakdown_sections():
                print_section(section, frame)
        chosen_goal = goal or list(ws.config.conversion_events)
        credit_models = set(model or ["all"]) - {"incrementality"}  # lift shares no credit
        if not roi and not cut_list and credit_models and not result.attributed():
            _note(why_nothing_attributed(events, chosen_goal, lookback, level))
        elif not roi and not cut_list and not credit_models:
            _note(why_no_touches(events, chosen_goal, level, "no lift can be measured"))
        elif roi or value == "revenue":
            _note(why_no_revenue(events, chosen_goal, revenue_from))
        if isinstance(result, AttributionReport):
            _note(result.unattributed())
            _note(result.unmeasured_lift())
            _note(result.lift_not_broken_down())
        if level == "touchpoint":
            _note(uncatalogued_touches(events, ws.touchpoints, chosen_goal))
        if roi or cut_list:
            _note(why_no_costs(ws.touchpoints))
            _note(WHOLE_COSTS if where else None)
        if isinstance(result, CutListResult):
            _note(result.skipped_note())
            _note(result.unweighed_note())
        _note(ws.currency_note())


ChangeOpts = {
    "annotation": typer.Option(help="Compare before and after this annotation's date (its id)."),
    "compare_at": typer.Option(help="Compare before and after this date (UTC)."),
}


def _change_point(
    ws: Workspace, annotation: str | None, compare_at: datetime | None
) -> tuple[datetime, str | None]:
    """The date to compare at, and the annotated touchpoint (None for --compare-at)."""
    from journeylens.annotations import get_annotation
    from journeylens.errors import SpecError

    if annotation is not None and compare_at is not None:
        raise SpecError("Give --annotation or --compare-at, not both.")
    if annotation is not None:
        found = get_annotation(ws.store, annotation)
        return found["ts"].to_pydatetime(), found["touchpoint"]
    if compare_at is None:
        raise SpecError("Give --annotation ID or --compare-at DATE.")
    return compare_at, None


@app.command()
def friction(
    workspace: WorkspaceOpt = None,
    engine: EngineOpt = None,
    fmt: FormatOpt = "table",
    since: SinceOpt = None,
    until: UntilOpt = None,
    where: WhereOpt = None,
    by: Annotated[
        list[str] | None,
        typer.Option(help="Segment dimensions (default channel, device, interaction; repeatable)."),
    ] = None,
    within: Annotated[str, typer.Option(help="No next event within this is abandonment.")] = "14d",
    goal: Annotated[
        list[str] | None, typer.Option(help="Goal event(s) (default: the workspace's).")
    ] = None,
    top: Annotated[
        int | None,
        typer.Option(help="How many friction points (default 20; with --all, every segment)."),
    ] = None,
    period: Annotated[str, typer.Option(help="Scale lost conversions to this period.")] = "30d",
    all_: Annotated[
        bool, typer.Option("--all", help="Also list segments without significant friction.")
    ] = False,
    annotation: Annotated[str | None, ChangeOpts["annotation"]] = None,
    compare_at: Annotated[datetime | None, ChangeOpts["compare_at"]] = None,
    touchpoint: Annotated[
        str | None, typer.Option(help="Only this touchpoint (also with --compare-at).")
    ] = None,
) -> None:
    """Friction points: touchpoint × segment where people abandon, fail, retry or loop more."""
    from journeylens.analytics.changes import run_friction_change
    from journeylens.analytics.friction import run_friction
    from journeylens.annotations import compared_touchpoint
    from journeylens.cli_output import emit

    _check_format(fmt)
    options: dict[str, Any] = {
        "within": within,
        "top": top if top is not None or all_ else 20,
        "period": period,
        "include_all": all_,
        "since": since,
        "until": until,
        "touchpoint": touchpoint,
    }
    if by:
        options["by"] = [key for item in by for key in item.split(",") if key]
    if goal:
        options["goal"] = goal
    with _open(workspace, engine) as ws:
        changing = annotation is not None or compare_at is not None
        at, annotated = _change_point(ws, annotation, compare_at) if changing else (None, None)
        # The annotation's touchpoint, checked as --touchpoint is.
        options["touchpoint"] = compared_touchpoint(annotated, touchpoint)
        spec = ws.friction_spec(**options)
        events = _filtered(ws, None, None, where)
        answers = ws.feedback_for(where or ())
        data = ws.events if where else None  # the data ends where it ends, whatever --where
        if at is not None:
            change = run_friction_change(events, spec, at, spec.touchpoint, answers, data)
            emit(change, fmt, f"Friction before and after {at:%Y-%m-%d}")
            _note(change.undecided_note())
            if change.rows.empty:
                which = (
                    f"The touchpoint {spec.touchpoint!r} does not have"
                    if spec.touchpoint
                    else "No touchpoint has"
                )
                _note(
                    f"{which} {spec.min_count} units or more on both sides of "
                    f"{at:%Y-%m-%d}: there is no rate to compare."
                )
            return
        result = run_friction(events, spec, answers, data)
        if (since or until) and result.overview.get("end") is None:
            _note(_nothing_selected(events, since, until, bool(where)))
        _note(ws.currency_note())
        _warn_unmapped(events, "touchpoint", "friction is found per touchpoint")
    emit(result, fmt, "Friction points (each signal: the segment's rate vs its baseline's)")
    # Every segment is listed with --all: none means no event at a touchpoint to count.
    nothing = (
        "No touchpoint has events to count."
        if all_ or result.overview.get("end") is None
        else NO_FRICTION
    )
    if fmt == "table":
        typer.echo("\n".join(_numbered(result.rows.get("explanation", []))) or nothing)
    elif result.rows.empty:  # JSON and CSV hold only the rows: say why there are none
        _note(nothing)


@app.command()
def annotate(
    touchpoint: Annotated[str | None, typer.Argument(help="The touchpoint that changed.")] = None,
    date: Annotated[
        datetime | None, typer.Option(help="When the change went live (UTC), e.g. 2026-09-01.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="What changed.")] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the annotations.")] = False,
    remove: Annotated[str | None, typer.Option(help="Delete the annotation with this id.")] = None,
    workspace: WorkspaceOpt = None,
    fmt: FormatOpt = "table",
) -> None:
    """Mark a change on a touchpoint (friction and funnel then compare before and after)."""
    from journeylens.annotations import get_annotation, list_annotations, remove_annotation
    from journeylens.cli_output import emit
    from journeylens.errors import SpecError

    _check_format(fmt)
    with _open(workspace) as ws:
        if remove is not None:
            removed = get_annotation(ws.store, remove)
            remove_annotation(ws.store, remove)
            if fmt == "table":
                typer.echo(f"Removed annotation {remove}.")
            else:  # the record removed, as --list and a new annotation give it
                _emit_record(removed, fmt)
        elif list_:
            emit(_FrameResult(list_annotations(ws.store)), fmt, "Annotations")
        elif touchpoint is None or date is None or note is None:
            raise SpecError(
                "Write: journeylens annotate TOUCHPOINT --date YYYY-MM-DD --note 'what changed' "
                "(or --list, or --remove ID)."
            )
        else:
            record = ws.annotate(touchpoint, date, note)
            if fmt == "table":
                typer.echo(
                    f"Annotated {touchpoint} on {date:%Y-%m-%d}: id {record['annotation_id']}."
                )
            else:
                _emit_record(record, fmt)


def _emit_record(record: dict[str, Any], fmt: str) -> None:
    """One annotation: a JSON object, or a CSV row under the header of ``annotate --list``."""
    import json

    import pandas as pd

    from journeylens.analytics.result import json_ready
    from journeylens.cli_output import emit

    if fmt == "json":
        typer.echo(json.dumps(json_ready(record), ensure_ascii=False, indent=2))
    else:
        emit(_FrameResult(pd.DataFrame([record])), fmt)


@app.command()
def demo(
    workspace: WorkspaceOpt = None,
    events: Annotated[int, typer.Option(help="About how many events to generate.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Random seed (same seed, same data).")] = 7,
) -> None:
    """Fill the workspace with a realistic multi-channel demo data set."""
    with _open(workspace) as ws:
        summary = ws.load_demo(events, seed)
    typer.echo(
        f"Generated {summary['events']:,} events and {summary['feedback']:,} feedback answers "
        f"for {summary['people']:,} people in {summary['seconds']:.1f} s."
    )


@app.command()
def summary(workspace: WorkspaceOpt = None, engine: EngineOpt = None) -> None:
    """A journey summary: holdings, stage funnel, top touchpoints, attribution, worst friction."""
    from journeylens.analytics.stages import run_stage_flow
    from journeylens.analytics.touchpoints import run_touchpoint_report
    from journeylens.cli_output import emit, print_frame

    with _open(workspace, engine) as ws:
        emit(ws.status(), "table", "Workspace")
        flow = run_stage_flow(ws.events, ws.config.stage_keys)
        emit(flow, "table", "Stage funnel")
        _stage_touchpoints(flow)
        _warn_unmapped(ws.events)
        report = run_touchpoint_report(ws.events, ws.touchpoints, ws.config)
        reached = report.catalog[report.catalog["events"] > 0]
        top = reached.sort_values("people", ascending=False).head(10)
        print_frame(top[["touchpoint", "stage", "channel", "events", "people"]], "Top touchpoints")
        if not reached.empty:
            _summary_credit(ws)
            _summary_friction(ws)


def _stage_touchpoints(flow: Any) -> None:
    """Under a stage funnel: each stage's touchpoints that moved people on and that preceded
    leaving (see ``StageFlowResult.touchpoint_lines``)."""
    from journeylens.cli_output import printable

    if lines := flow.touchpoint_lines():
        listed = "\n".join(printable(line) for line in lines)
        typer.echo(f"\nTouchpoints per stage (people):\n{listed}")


def _summary_credit(ws: Any, top: int = 5) -> None:
    """The touchpoints that earn the most conversions by the Markov model (removal effects)."""
    from journeylens.analytics.attribution import AttributionSpec
    from journeylens.analytics.attribution_report import why_nothing_attributed
    from journeylens.cli_output import print_frame

    goals = list(ws.config.conversion_events)
    credit = ws.attribution(model="markov").to_frame()
    total = credit["conversions"].sum()
    if total <= 0:
        lookback = AttributionSpec("markov").lookback
        typer.echo("\n" + why_nothing_attributed(ws.events, goals, lookback))
        return
    best = credit.nlargest(top, "conversions")
    best = best.assign(conversion_share=best["conversions"] / total)
    columns = ["touchpoint", "conversions", "conversion_share", "revenue"]
    what = f"{goals[0]}s" if len(goals) == 1 else "conversions"
    print_frame(best[columns], f"Where {what} come from (Markov removal effects)")


def _summary_friction(ws: Any, top: int = 3) -> None:
    """The worst friction points, one sentence each."""
    found = _numbered(ws.friction(top=top).rows.get("explanation", []))
    typer.echo("\nFriction:\n" + ("\n".join(found) or NO_FRICTION))


def _numbered(sentences: Iterable[str]) -> list[str]:
    """Friction's sentences as numbered lines, what the data names in them escaped."""
    from journeylens.cli_output import printable

    return [printable(f"{i}. {text}") for i, text in enumerate(sentences, 1)]


def main(args: Sequence[str] | None = None, prog_name: str | None = None) -> None:
    """Entry point: run the app on ``args`` (by default the process's arguments), turning
    journeylens errors into one line and exit code 2. ``prog_name``: the name the help and the
    errors give the command (by default, as the process was started)."""
    args = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in args
    if debug:
        args.remove("--debug")
    try:
        code = app(args=workspace_after_command(args), prog_name=prog_name, standalone_mode=False)
    except Exception as exc:  # noqa: BLE001 - the one place errors meet the user
        _fail(exc, debug)
    except SystemExit as exc:  # pragma: no cover - typer's own exits
        raise exc
    # Outside standalone mode typer returns the exit code of a Ctrl-C (130) instead of exiting.
    if isinstance(code, int) and code:
        if code == INTERRUPTED:
            _interrupted()
        sys.exit(code)


INTERRUPTED = 130  # the shell's code for a command stopped by Ctrl-C


def _interrupted() -> NoReturn:
    """Exit as a command stopped by Ctrl-C, saying what an interrupted import leaves."""
    typer.echo(
        "Interrupted. An import stopped part-way is stored whole or not at all: 'journeylens "
        "status' shows what the workspace holds, and importing the same files again completes "
        "it (nothing twice).",
        err=True,
    )
    sys.exit(INTERRUPTED)


def workspace_after_command(args: list[str]) -> list[str]:
    """``--workspace DIR`` (or ``-w DIR``) given before the command, moved after it.

    >>> workspace_after_command(["--workspace", "ws", "status", "-f", "json"])
    ['status', '--workspace', 'ws', '-f', 'json']
    """
    if len(args) >= 3 and args[0] in ("--workspace", "-w"):
        return [args[2], *args[:2], *args[3:]]
    if len(args) >= 2 and args[0].startswith("--workspace="):
        return [args[1], args[0], *args[2:]]
    return args


def _fail(exc: BaseException, debug: bool) -> None:
    from journeylens.errors import JourneyLensError

    if debug:
        raise exc
    if type(exc).__name__ == "Abort":
        sys.exit(INTERRUPTED)
    if type(exc).__name__ == "InterruptException" or "Query interrupted" in str(exc):
        _interrupted()  # Ctrl-C during a query: DuckDB stops it and raises
    if hasattr(exc, "show") and hasattr(exc, "exit_code"):  # a usage error from the parser
        if type(exc).__name__ == "NoArgsIsHelpError" or not hasattr(exc, "format_message"):
            exc.show()  # no command given: the help
            sys.exit(2)
        # One line, as every user error (the parser's own layout takes four).
        ctx = getattr(exc, "ctx", None)
        hint = f" See '{ctx.command_path} --help'." if ctx is not None else ""
        message = " ".join(str(exc.format_message()).split()).rstrip(".") + "."
        typer.echo(f"Error: {message}{hint}", err=True)
        sys.exit(2)
    if isinstance(exc, JourneyLensError):
        typer.echo(f"Error: {exc}", err=True)
        sys.exit(2)
    typer.echo(
        f"Unexpected error: {type(exc).__name__}: {exc} (run with --debug for details)", err=True
    )
    sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    main()
