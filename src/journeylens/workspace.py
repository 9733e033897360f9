"""A workspace: one directory with a config file and the tables on an engine.

>>> import tempfile
>>> ws = init_workspace(tempfile.mkdtemp(), template="three_stage")
>>> ws.status().events
0
>>> ws.close()
"""

from __future__ import annotations

import functools
import inspect
import os
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, cast

import ibis

from journeylens.collect.importer import ImportSummary, import_files
from journeylens.collect.readers import expand_paths
from journeylens.config import (
    CONFIG_FILE,
    DATABASE_FILE,
    ENGINES,
    Config,
    Touchpoint,
    load_config,
    parse_config,
    save_config,
)
from journeylens.errors import ImportFileError, SpecError, WorkspaceError, unknown
from journeylens.journey.catalog import catalog_table, conditional_matches
from journeylens.journey.currency import in_report_currency, revenue_currencies
from journeylens.journey.rebuild import rebuild
from journeylens.journey.steps import with_revenue_from
from journeylens.journey.templates import DEFAULT_TEMPLATE, load_template
from journeylens.keywords import FRICTION_NAMES, PATHS_NAMES, check_options, renamed, spec_of
from journeylens.store import Store, connect

ENV_WORKSPACE = "JOURNEYLENS_WORKSPACE"
# What attribution() takes besides the report's keywords (named when an option is unknown).
ATTRIBUTION_OWN = ("where", "since", "until", "revenue_from", "min_cost_share", "roi", "cut_list")


class _ClosedStore:
    """Stands in for a closed workspace's store: using it says so (instead of the engine's
    "connection already closed"); closing it again does nothing."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def __getattr__(self, name: str) -> Any:
        raise WorkspaceError(
            f"The workspace '{self._path}' is closed: open it again with "
            f"journeylens.open_workspace('{self._path}')."
        )

    def close(self) -> None:
        return None


class Workspace:
    """A workspace's configuration and tables, and the analyses over them."""

    def __init__(self, path: Path, config: Config, store: Store) -> None:
        self.path = path
        self.config = config
        self.store = store
        # Why opening placed the events again (``rebuild.placement_staleness``), else None.
        self.replaced_placement: str | None = None

    def apply_config(self) -> str | None:
        """Place the events again when journeylens.toml's catalog or session gap changed since
        they were placed (edited by hand), their placement was cut short, or this journeylens
        places them otherwise: every analysis then reads the config as it is. Returns why it
        did (see ``rebuild.placement_staleness``), else None."""
        from journeylens.journey.rebuild import placement_staleness, refresh_catalog

        why = placement_staleness(self.store, self.config)
        if why is not None:
            self.rebuild()
            self.replaced_placement = why
        else:
            refresh_catalog(self.store, self.config)  # costs, owners: nothing to place again
        return self.replaced_placement

    # -- tables -------------------------------------------------------------------------
    @property
    def events(self) -> ibis.Table:
        """The events, a conversion's revenue read from ``goals.revenue_property`` where it has
        none, in the config's reporting currency when it names one."""
        events = self.store.table("events")
        if self.config.revenue_property is not None:
            goals = self.config.conversion_events
            events = with_revenue_from(events, self.config.revenue_property, goals)
        if self.config.report_currency is None:
            return events
        rates = dict(self.config.currency_rates)
        return in_report_currency(events, self.config.report_currency, rates)

    def currency_note(self, found: Sequence[str | None] | None = None) -> str | None:
        """A warning when revenue is summed across currencies it cannot convert: several
        currencies and no reporting currency, or currencies without a rate (None: all well).

        ``found``: the currencies of the stored revenue, when already known."""
        if found is None:
            found = revenue_currencies(self.store.table("events"))["currency"].tolist()
        named = [c for c in found if c is not None]
        report = self.config.report_currency
        if report is None:
            if len(named) < 2:
                return None
            return (
                f"Revenue is in {len(named)} currencies ({', '.join(named)}) and is summed as it "
                "is: set [currency] report and rates in journeylens.toml to convert it to one."
            )
        missing = [c for c in named if c != report and c not in dict(self.config.currency_rates)]
        if not missing:
            return None
        return (
            f"Revenue in {', '.join(missing)} has no rate to {report} in journeylens.toml "
            "([currency.rates]) and is left out of revenue figures."
        )

    @property
    def feedback(self) -> ibis.Table:
        return self.store.table("feedback")

    @property
    def touchpoints(self) -> ibis.Table:
        return self.store.table("touchpoints")

    @property
    def rejected(self) -> ibis.Table:
        return self.store.table("rejected")

    # -- writing ------------------------------------------------------------------------
    def import_files(
        self,
        paths: Sequence[str | Path],
        kind: str = "events",
        mapping: Mapping[str, str] | None = None,
        timezone: str = "UTC",
        encoding: str | None = None,
        progress: Callable[[int], None] | None = None,
        ts_format: str | None = None,
        decimal_comma: bool = False,
        constants: Mapping[str, str] | None = None,
        sheets: Sequence[str] = (),
    ) -> ImportSummary:
        """Import events or feedback files, then place them on the journey.

        Catalog files (``kind="touchpoints"``) are merged into the workspace config instead.
        ``constants`` give columns the files lack one value on every row (``{"metric": "nps"}``).
        ``sheets``: the sheets of each Excel workbook to read, by name or glob pattern
        (``["March", "April"]``, ``["*"]``), instead of its first.
        """
        files = expand_paths(paths)
        if kind == "touchpoints":
            from journeylens.journey.catalog_import import import_catalog

            if constants:
                raise ImportFileError("--set applies to events and feedback files only.")
            summary, config = import_catalog(self.store, self.config, files, mapping or {}, sheets)
            self.set_catalog(config.touchpoints)
            return summary
        summary = import_files(
            self.store,
            self.config,
            files,
            kind,
            mapping,
            timezone,
            encoding,
            progress,
            scratch=self.path,
            finish=lambda rows: self.rebuild(incoming={kind: rows}),
            ts_format=ts_format,
            decimal_comma=decimal_comma,
            constants=constants,
            sheets=sheets,
        )
        return summary

    def set_catalog(self, touchpoints: Sequence[Touchpoint]) -> None:
        """Replace the touchpoint catalog, save the config and re-map every event."""
        conditional_matches(touchpoints)  # a condition that does not parse stops here
        self.config = self.config.with_touchpoints(tuple(touchpoints))
        save_config(self.config, self.path)
        self.rebuild()

    def rebuild(self, incoming: Mapping[str, ibis.Table] | None = None) -> None:
        """Place every event and answer again: identity, sessions, touchpoint and stage.

        ``incoming`` holds new rows per table (``{"events": expr}``), folded in by the cheapest
        way that gives the same result (see :mod:`journeylens.journey.rebuild`).
        """
        rebuild(self.store, self.config, incoming)

    def load_demo(
        self, events: int = 200_000, seed: int = 7, friction: bool = True
    ) -> dict[str, Any]:
        """Generate the synthetic multi-channel demo data set (``friction=False``: no planted
        checkout friction) into this workspace, which must hold no events or feedback yet."""
        import time

        from journeylens.demo import MONTHLY_COSTS, REPORT_CURRENCY, currency_rates, generate

        if events < 1:
            raise SpecError(f"--events must be at least 1, not {events}.")
        held = {name: self.store.count(name) for name in ("events", "feedback")}
        if any(held.values()):
            raise SpecError(
                f"The workspace already holds {held['events']:,} events and "
                f"{held['feedback']:,} feedback answers: the demo fills an empty workspace. "
                f"Start this one afresh with: journeylens init {self.path} --force"
            )
        started = time.perf_counter()
        # The demo's markets pay in five currencies: its revenue is reported in euros, as are
        # the demo company's costs.
        config = self.config.with_currency(REPORT_CURRENCY, currency_rates())
        self.config = config.with_monthly_costs(MONTHLY_COSTS)
        save_config(self.config, self.path)
        counts = {"events": 0, "feedback": 0}
        for event_batch, feedback_batch in generate(
            self.config, events=events, seed=seed, friction=friction
        ):
            self.store.write("events", event_batch)
            self.store.write("feedback", feedback_batch)
            counts["events"] += event_batch.num_rows
            counts["feedback"] += feedback_batch.num_rows
        self.rebuild()
        people = self.status().people
        return {**counts, "people": people, "seconds": time.perf_counter() - started}

    # -- reading ------------------------------------------------------------------------
    def _source(
        self,
        events: ibis.Table | None,
        since: Any = None,
        until: Any = None,
        where: str | Sequence[str] = (),
    ) -> ibis.Table:
        """``events`` (else the workspace's) within ``since <= ts < until`` and every ``where``
        condition, as the command line's ``--since``, ``--until`` and ``--where``."""
        from journeylens.analytics.filters import apply_filters

        if events is not None and not isinstance(events, ibis.Table):
            raise SpecError(
                f"events must be an Ibis table (ws.events filtered, say), not "
                f"{type(events).__name__}."
            )
        source = self.events if events is None else events
        return apply_filters(source, since, until, _conditions(where))

    def _sources(
        self, events: ibis.Table | None, where: str | Sequence[str]
    ) -> tuple[ibis.Table, ibis.Table | None]:
        """``events`` filtered by ``where`` (see :meth:`_source`), and those before it, whose
        span is the data's (None without a ``where``: the same events)."""
        source = self._source(events, where=where)
        return source, (self._source(events) if where else None)

    def feedback_for(
        self, where: str | Sequence[str] = (), since: Any = None, until: Any = None
    ) -> ibis.Table:
        """The feedback answers read with the events filtered by ``where`` (as the command
        line's ``--where``): those of known people, whose events place them, and the anonymous
        ones whose own values pass (see :func:`analytics.filters.answers_where`); given
        within ``since <= ts < until``."""
        from journeylens.analytics.filters import answers_where, apply_filters

        answers = answers_where(self.feedback, self.events, _conditions(where))
        return apply_filters(answers, since, until)

    def status(self) -> Any:
        from journeylens.analytics.status import run_status

        return run_status(self)

    def stages(
        self,
        events: ibis.Table | None = None,
        since: Any = None,
        until: Any = None,
        where: str | Sequence[str] = (),
        by: str | None = None,
        top: int = 10,
    ) -> Any:
        """The stage funnel of the journey (see :func:`analytics.stages.run_stage_flow`, also
        for the breakdown ``by``/``top``); ``since``/``until``/``where`` as the command line's
        ``--since``/``--until``/``--where``."""
        from journeylens.analytics.stages import run_stage_flow

        source = self._source(events, since, until, where)
        return run_stage_flow(source, self.config.stage_keys, by=by, top=top)

    def touchpoint_report(
        self,
        events: ibis.Table | None = None,
        since: Any = None,
        until: Any = None,
        where: str | Sequence[str] = (),
        by: str | None = None,
        top: int = 10,
    ) -> Any:
        """Volume and reach per touchpoint, unmapped events and content gaps (see
        :func:`analytics.touchpoints.run_touchpoint_report`, also for the breakdown
        ``by``/``top``); ``since``/``until``/``where`` as the command line's."""
        from journeylens.analytics.touchpoints import run_touchpoint_report

        source = self._source(events, since, until, where)
        answers = self.feedback_for(where, since, until)
        return run_touchpoint_report(
            source, self.touchpoints, self.config, by=by, top=top, feedback=answers
        )

    def funnel(self, *steps: str, events: ibis.Table | None = None, **options: Any) -> Any:
        """A funnel over ``steps`` (see :class:`analytics.funnels.FunnelSpec` for options;
        ``where``: the command line's ``--where`` conditions).

        >>> # ws.funnel("landing_page_view", "pricing_view", "purchase", within="7d").to_dict()
        """
        from journeylens.analytics.funnels import FunnelSpec, run_funnel

        source = self._source(events, where=options.pop("where", ()))
        spec = spec_of(FunnelSpec, {"steps": steps, **options})
        self.check_funnel(spec)
        return run_funnel(source, spec)

    def check_funnel(self, spec: Any, by_option: str = "by") -> None:
        """Raise for a funnel's step, exclusion or ``by`` key that no stored event has (a typo
        would otherwise count zero or put everyone in ``(none)``); ``by_option`` names the
        breakdown's option in the message."""
        from journeylens.journey.steps import check_keys_present, check_step_names

        texts = [*spec.steps, *spec.exclude]
        check_step_names(self.events, texts, exclusions=len(spec.exclude))
        check_keys_present(self.events, [spec.by] if spec.by else [], by_option)

    def dropoff(
        self,
        *steps: str,
        goal: str | None = None,
        as_of: Any = None,
        events: ibis.Table | None = None,
        **options: Any,
    ) -> Any:
        """Who dropped at each step of a funnel: in progress, changed, postponed or abandoned.

        ``goal`` defaults to the last step without its filters; other options as for
        :meth:`funnel` (see :mod:`analytics.dropoff`).

        >>> # ws.dropoff("cart_view", "checkout_start", "purchase[channel=web]").to_dict()
        """
        from journeylens.analytics.dropoff import DropoffSpec, check_goal_name, run_dropoff
        from journeylens.analytics.funnels import FunnelSpec

        source = self._source(events, where=options.pop("where", ()))
        funnel = spec_of(FunnelSpec, {"steps": steps, **options})
        self.check_funnel(funnel)
        check_goal_name(self.events, goal)
        return run_dropoff(source, DropoffSpec(funnel, goal=goal, as_of=as_of))

    def paths(self, spec: Any = None, events: ibis.Table | None = None, **options: Any) -> Any:
        """The transition graph, or top paths when the spec names ``from_node``/``to_node``.

        ``spec`` is a :class:`analytics.paths.PathsSpec`, or give its fields as ``options``
        (``level="event"``, ``to_node="(conversion)"``); the raw graph leaves out the ends
        unless ``include_end=True``, top paths keep them. ``where``: the command line's
        ``--where`` conditions. ``by`` (``top_values``): the graph or the top paths of each
        value of a key as well (``paths(by="device")``, see :mod:`analytics.paths_breakdown`)."""
        from journeylens.analytics.paths import PathsSpec, run_top_paths, run_transitions

        where = options.pop("where", ())
        options = renamed(options, PATHS_NAMES)
        if spec is not None and not isinstance(spec, PathsSpec):
            raise SpecError(f"paths() takes a PathsSpec or keyword options, not {spec!r}.")
        if spec is not None and options:
            raise SpecError(
                f"paths() takes a PathsSpec or keyword options, not both ({', '.join(options)}): "
                "give them as the spec's fields."
            )
        if spec is None:
            anchored = options.get("from_node") is not None or options.get("to_node") is not None
            defaults = {"include_end": anchored, "goal": self.config.conversion_events}
            spec = spec_of(PathsSpec, {**defaults, **options})
        self.check_paths(spec, named_goal="goal" in options)
        source = self._source(events, where=where)
        if spec.from_node is not None or spec.to_node is not None:
            return run_top_paths(source, spec)
        graph = run_transitions(source, spec, whole=events is None and not where)
        # As --top keeps the graph's most frequent transitions (top paths count 20 by default).
        return graph.most_frequent(options["top"]) if "top" in options else graph

    def check_paths(self, spec: Any, named_goal: bool) -> None:
        """Raise for a paths anchor that no stored event has, for a goal named (``named_goal``)
        that none is, and for an anchor at ``(conversion)`` with no goal event at all."""
        from journeylens.analytics.paths import check_anchor
        from journeylens.journey.steps import check_event_names

        if named_goal:
            check_event_names(self.events, spec.goal, role="as the goal")
        check_anchor(self.events, spec)

    def conformance(
        self,
        events: ibis.Table | None = None,
        since: Any = None,
        until: Any = None,
        where: str | Sequence[str] = (),
        by: str | None = None,
        top: int = 10,
    ) -> Any:
        """How people follow, skip or go back on the designed stage order (``by``/``top``: a
        breakdown, see :func:`analytics.conformance.run_conformance`)."""
        from journeylens.analytics.conformance import run_conformance

        source = self._source(events, since, until, where)
        return run_conformance(source, self.config.stage_keys, by=by, top=top)

    def attribution(
        self,
        events: ibis.Table | None = None,
        roi: bool = False,
        cut_list: bool = False,
        **options: Any,
    ) -> Any:
        """Attribution models side by side, or ROI / the cut list (see ``attribution_report``).

        ``models`` (or ``model``, as the command line's ``--model``): a model name or a list of
        them. ``revenue_from``: a property whose number is a conversion's revenue where the
        ``revenue`` column has none (``price``). ``since``/``until``/``where``: the command
        line's ``--since``/``--until``/``--where``. ``by``/``top``: a breakdown of the credit
        models (see :func:`analytics.attribution.run_attribution`); not with ROI or the cut
        list. ``min_cost_share``: with the cut list, the share of all costs from which a
        touchpoint's lift is weighed (see :func:`analytics.roi.material_floor`)."""
        from journeylens.analytics._touches import goal_names
        from journeylens.analytics.attribution_report import (
            run_attribution_report,
            run_roi_report,
            why_no_conversions,
        )
        from journeylens.journey.steps import check_event_names

        if "model" in options:
            if "models" in options:
                raise SpecError("Give model or models, not both.")
            options["models"] = options.pop("model")
        if isinstance(options.get("models"), str):
            options["models"] = [options["models"]]
        if "models" in options and not options["models"]:
            raise SpecError("No model given: name one (linear, markov, ...) or 'all'.")
        if roi and cut_list:
            raise SpecError("Give roi or cut_list, not both: the cut list is read from the ROI.")
        floor = options.pop("min_cost_share", None)
        if floor is not None and not cut_list:
            raise SpecError(
                "min_cost_share says which costed touchpoints the cut list weighs: give it with "
                "cut_list=True (--cut-list)."
            )
        since, until = options.pop("since", None), options.pop("until", None)
        source = self._source(events, since, until, options.pop("where", ()))
        if "goal" in options:  # a goal the user names must exist (the default may not, yet)
            options["goal"] = goal_names(options["goal"])
            check_event_names(self.events, options["goal"], role="as the goal")
        options.setdefault("goal", list(self.config.conversion_events))
        if (key := options.pop("revenue_from", None)) is not None:
            source = with_revenue_from(source, key, options["goal"])
        options.setdefault("stages", tuple(self.config.stage_keys))
        report = functools.partial(run_attribution_report, source, self.touchpoints)
        check_options(report, options, ATTRIBUTION_OWN)
        if roi or cut_list:
            if options.get("by") is not None:
                raise SpecError(
                    f"{'--cut-list' if cut_list else '--roi'} with --by {options['by']}: costs "
                    "are the catalog's per touchpoint over the whole range, not per value; "
                    "leave out --by (attribution --by breaks the credit down)."
                )
            if options.get("level", "touchpoint") != "touchpoint":
                raise SpecError(
                    "ROI and the cut list are per touchpoint (its costs are the catalog's): "
                    f"leave out level={options['level']!r}."
                )
            # Without conversions every lift is zero: a cut list would name every paid
            # touchpoint, most likely for a goal misnamed.
            why = cut_list and why_no_conversions(source, options["goal"], "nothing to cut")
            if why:
                raise SpecError(f"{why} The cut list compares the conversion of people.")
            roi_options = inspect.signature(run_roi_report).parameters
            keep = {k: v for k, v in options.items() if k in roi_options}
            if floor is not None:
                keep["min_cost_share"] = floor
            # The range costs are prorated over: --since/--until, not only the events' span.
            keep.update(since=since, until=until)
            return run_roi_report(source, self.touchpoints, cut_list=cut_list, **keep)
        return report(**options, since=since, until=until)

    def friction_spec(self, **options: Any) -> Any:
        """A :class:`analytics.friction.FrictionSpec` with the workspace's goals and thresholds;
        a ``by`` property, ``goal`` or ``touchpoint`` the data does not have is an error."""
        from journeylens.analytics.friction import FrictionSpec
        from journeylens.journey.steps import check_event_names, check_keys_present

        config = self.config
        defaults = {
            "goal": config.conversion_events,
            "error_patterns": config.error_patterns,
            "retry_within": f"{config.retry_seconds}s",
            "postpone_after": f"{config.postpone_hours}h",
        }
        options = renamed(options, FRICTION_NAMES)
        if options.get("include_all"):
            options.setdefault("top", None)  # as --all: every segment, unless a top is given
        spec = spec_of(FrictionSpec, {**defaults, **options})
        if "by" in options:
            check_keys_present(self.events, spec.by, "--by")
        if "goal" in options:
            check_event_names(self.events, spec.goal, role="as the goal")
        if spec.touchpoint is not None and spec.touchpoint not in (
            known := self.touchpoint_names()
        ):
            raise unknown("touchpoint", spec.touchpoint, known)
        return spec

    def friction(self, events: ibis.Table | None = None, **options: Any) -> Any:
        """Friction points, best first (options: see ``FrictionSpec``; ``where``: the command
        line's ``--where`` conditions)."""
        from journeylens.analytics.friction import run_friction

        where = options.pop("where", ())
        source, data = self._sources(events, where)
        spec, answers = self.friction_spec(**options), self.feedback_for(where)
        return run_friction(source, spec, answers, data)

    def friction_change(
        self,
        at: Any,
        touchpoint: str | None = None,
        events: ibis.Table | None = None,
        **options: Any,
    ) -> Any:
        """Friction signals before and after ``at`` (a date, a datetime or an annotation's id),
        for one touchpoint or all (options as for :meth:`friction`)."""
        from journeylens.analytics.changes import run_friction_change
        from journeylens.annotations import compared_touchpoint

        when, annotated = self._change_point(at)
        where = options.pop("where", ())
        source, data = self._sources(events, where)
        # The annotation's touchpoint, checked as a touchpoint named is.
        chosen = compared_touchpoint(annotated, touchpoint)
        spec = self.friction_spec(**options, **({"touchpoint": chosen} if chosen else {}))
        answers = self.feedback_for(where)
        return run_friction_change(source, spec, when, chosen, answers, data)

    def funnel_change(
        self, *steps: str, at: Any, events: ibis.Table | None = None, **options: Any
    ) -> Any:
        """A funnel before and after ``at`` (a date, a datetime or an annotation's id) and the
        change of its conversion (options as for :meth:`funnel`)."""
        from journeylens.analytics.changes import run_funnel_change
        from journeylens.analytics.funnels import FunnelSpec

        source, data = self._sources(events, options.pop("where", ()))
        spec = spec_of(FunnelSpec, {"steps": steps, **options})
        self.check_funnel(spec)
        return run_funnel_change(source, spec, self._change_point(at)[0], data)

    def _change_point(self, at: Any) -> tuple[Any, str | None]:
        """``at`` as a naive UTC time, and the touchpoint when it is an annotation's id."""
        from journeylens.annotations import get_annotation
        from journeylens.instants import naive_utc

        if isinstance(at, str):
            table = self.store.table("annotations")
            ids = set(self.store.execute(table.select("annotation_id"))["annotation_id"])
            if at in ids:
                found = get_annotation(self.store, at)
                return found["ts"].to_pydatetime(), found["touchpoint"]
        return naive_utc(at, "change date"), None

    def annotate(self, touchpoint: str, when: Any, note: str) -> dict[str, Any]:
        """Mark a change on a touchpoint at ``when`` (see :mod:`journeylens.annotations`)."""
        from journeylens.annotations import add_annotation

        return add_annotation(self.store, touchpoint, when, note, self.touchpoint_names())

    def touchpoint_names(self) -> list[str]:
        """The catalog's touchpoints and any other the events carry, sorted."""
        seen = self.store.execute(self.events.select("touchpoint").distinct())["touchpoint"]
        return sorted({t.touchpoint for t in self.config.touchpoints} | set(seen.dropna()))

    def close(self) -> None:
        """Close the store; any later use of the workspace is an error saying it is closed."""
        self.store.close()
        self.store = cast("Store", _ClosedStore(self.path))

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _conditions(where: str | Sequence[str]) -> list[str]:
    """``where`` as a list of conditions (text), as the command line's ``--where``."""
    given = [where] if isinstance(where, str) else where or ()
    conditions = list(given) if isinstance(given, Iterable) else [given]
    if not all(isinstance(c, str) for c in conditions):
        raise SpecError(f"where takes conditions as text (['device=mobile']), not {where!r}.")
    return conditions


def resolve_path(path: str | Path | None) -> Path:
    """The workspace directory from the argument or ``JOURNEYLENS_WORKSPACE``."""
    chosen = path or os.environ.get(ENV_WORKSPACE)
    if not chosen:
        raise WorkspaceError(
            f"No workspace given: pass --workspace DIR or set {ENV_WORKSPACE}. "
            "Create one with 'journeylens init DIR'."
        )
    return Path(chosen)


def init_workspace(
    path: str | Path,
    template: str = DEFAULT_TEMPLATE,
    engine: str = "duckdb",
    force: bool = False,
    name: str | None = None,
) -> Workspace:
    """Create a workspace: a config from ``template`` and empty tables."""
    directory = Path(path)
    blocking = next((p for p in (directory, *directory.parents) if p.exists()), None)
    if blocking is not None and not blocking.is_dir():
        raise WorkspaceError(
            f"Cannot create the workspace '{directory}': '{blocking}' is a file, not a directory."
        )
    if (directory / CONFIG_FILE).exists():
        if not force:
            raise WorkspaceError(
                f"'{directory}' is already a journeylens workspace; use --force to start over."
            )
        if (directory / DATABASE_FILE).exists():
            connect("duckdb", directory).close()  # waits for a command using it to finish
        _remove_workspace_files(directory)
    # The template and the engine first: a refused workspace leaves no directory behind.
    body = load_template(template)
    body.pop("description", None)
    raw = {"workspace": {"name": name or directory.name, "template": template, "engine": engine}}
    config = parse_config({**raw, **body}, source=f"template {template}")
    directory.mkdir(parents=True, exist_ok=True)
    save_config(config, directory)
    store = connect(engine, directory)
    store.ensure_tables()
    store.write("touchpoints", catalog_table(config.touchpoints), overwrite=True)
    return Workspace(directory, config, store)


def _remove_workspace_files(directory: Path) -> None:
    for name in (CONFIG_FILE, DATABASE_FILE, DATABASE_FILE + ".wal"):
        (directory / name).unlink(missing_ok=True)
    shutil.rmtree(directory / "spark", ignore_errors=True)


# Where each engine keeps a workspace's tables, inside the workspace directory.
STORE_LOCATIONS = {"duckdb": DATABASE_FILE, "spark": "spark"}


def _has_store(engine: str, directory: Path) -> bool:
    """Whether the workspace ``directory`` holds tables of ``engine``."""
    return engine in STORE_LOCATIONS and (directory / STORE_LOCATIONS[engine]).exists()


def open_workspace(path: str | Path | None = None, engine: str | None = None) -> Workspace:
    """Open an existing workspace (``path`` or ``JOURNEYLENS_WORKSPACE``)."""
    directory = resolve_path(path)
    if not (directory / CONFIG_FILE).is_file():
        raise WorkspaceError(
            f"'{directory}' is not a journeylens workspace (no {CONFIG_FILE}). "
            f"Create it with 'journeylens init {directory}'."
        )
    config = load_config(directory)
    chosen = engine or config.engine
    if chosen not in ENGINES:
        raise WorkspaceError(f"Unknown engine '{chosen}': use {' or '.join(ENGINES)}.")
    if chosen != config.engine and not _has_store(chosen, directory):
        # Each engine keeps its own tables: the other engine would read empty ones.
        raise WorkspaceError(
            f"'{directory}' keeps its data on {config.engine}; it holds no {chosen} tables, so "
            f"{chosen} would find no events. Run it on {config.engine} (leave out --engine), or "
            f"create a {chosen} workspace (journeylens init DIR --engine {chosen}) and import "
            "the files there."
        )
    store = connect(chosen, directory)
    # Read again now that the store is ours (DuckDB lets one process in at a time): a command
    # that waited for another to finish sees the config as that one left it.
    config = load_config(directory)
    store.ensure_tables()
    workspace = Workspace(directory, config, store)
    workspace.apply_config()
    return workspace
