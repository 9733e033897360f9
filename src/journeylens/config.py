"""The workspace configuration: one TOML file, validated on load with errors that name the key
(a key the layout does not have, ``TABLES`` and ``ENTRIES``, is one: a misspelt key is not ignored).

The file holds the journey model (stages with their labels, the touchpoint catalog), the goal
events, session and import settings. ``journeylens init`` writes it from a stage template; people
edit it by hand, and ``journeylens import --kind touchpoints`` merges catalog rows into it.
"""

from __future__ import annotations

import os
import tomllib
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomli_w

from journeylens.errors import ConfigError, SpecError, did_you_mean, unknown
from journeylens.journey.currency import normalized_code
from journeylens.journey.steps import check_key, split_conditions
from journeylens.schema import COST_PERIODS, TOUCHPOINT_KINDS

CONFIG_FILE = "journeylens.toml"
# Ids that tracking code sends when it has none (a JS "undefined", a "guest" login): stored as
# missing, or every visitor who sent one would be stitched into one person. Not "0": data sets
# number their users from 0.
PLACEHOLDER_IDS = (
    "null",
    "undefined",
    "none",
    "nil",
    "nan",
    "anonymous",
    "unknown",
    "guest",
    "n/a",
    "na",
)
DATABASE_FILE = "journeylens.duckdb"
LANGUAGES = ("en", "sv", "nb", "fi", "ro", "zh")
ENGINES = ("duckdb", "spark")


# The least field limit: the id journeylens makes for a row without one has 32 characters.
MIN_FIELD_CHARS = 32


@dataclass(frozen=True)
class Stage:
    """A journey stage: a stable key and its label in each supported language."""

    key: str
    labels: dict[str, str] = field(default_factory=dict)

    def label(self, language: str = "en") -> str:
        return self.labels.get(language) or self.labels.get("en") or self.key


@dataclass(frozen=True)
class Touchpoint:
    """A catalog entry: which events are this touchpoint, where it sits and what it costs."""

    touchpoint: str
    match: tuple[str, ...]
    stage: str
    channel: str | None = None
    kind: str = "owned"
    cost: float = 0.0
    cost_period: str = "month"
    owner: str | None = None
    content_type: str | None = None

    def to_toml(self) -> dict[str, Any]:
        data = asdict(self)
        data["match"] = list(self.match)
        return {k: v for k, v in data.items() if v is not None}


@dataclass(frozen=True)
class Config:
    """A validated workspace configuration."""

    name: str
    template: str
    stages: tuple[Stage, ...]
    touchpoints: tuple[Touchpoint, ...] = ()
    engine: str = "duckdb"
    language: str = "en"
    session_gap_minutes: int = 30
    conversion_events: tuple[str, ...] = ("purchase",)
    # A property whose number is a conversion's revenue where the revenue column has none (a
    # shop's log that keeps the value as ``price``); None: the revenue column alone.
    revenue_property: str | None = None
    error_patterns: tuple[str, ...] = ("*error*", "*fail*")
    retry_seconds: int = 30
    postpone_hours: int = 24
    max_field_chars: int = 4096
    max_properties_chars: int = 1_048_576
    max_future_hours: int = 24
    placeholder_ids: tuple[str, ...] = PLACEHOLDER_IDS
    # Revenue is reported in ``report_currency``, converted at ``currency_rates`` (units of each
    # currency per unit of it); None: revenue is read as stored (see ``journey.currency``).
    report_currency: str | None = None
    currency_rates: tuple[tuple[str, float], ...] = ()

    @property
    def stage_keys(self) -> tuple[str, ...]:
        return tuple(s.key for s in self.stages)

    def resolve_stage(self, name: str, where: str = "") -> str:
        """Return the stage key for a key or a label in any supported language (any case,
        either Unicode form: a decomposed "Övervägande" as some systems write it matches)."""
        wanted = _folded(name)
        for stage in self.stages:
            names = {_folded(stage.key), *(_folded(v) for v in stage.labels.values())}
            if wanted in names:
                return stage.key
        raise unknown("stage", name, self.stage_keys, where)

    def with_touchpoints(self, touchpoints: tuple[Touchpoint, ...]) -> Config:
        return replace(self, touchpoints=touchpoints)

    def with_currency(self, report: str, rates: dict[str, float]) -> Config:
        """This config reporting revenue in ``report``, converted at ``rates``."""
        return replace(self, report_currency=report, currency_rates=tuple(sorted(rates.items())))

    def with_monthly_costs(self, costs: Mapping[str, float]) -> Config:
        """This config with the touchpoints named in ``costs`` costing that much a month."""
        touchpoints = tuple(
            replace(t, cost=costs[t.touchpoint], cost_period="month")
            if t.touchpoint in costs
            else t
            for t in self.touchpoints
        )
        return replace(self, touchpoints=touchpoints)

    def to_toml(self) -> dict[str, Any]:
        currency = (
            {"currency": {"report": self.report_currency, "rates": dict(self.currency_rates)}}
            if self.report_currency
            else {}
        )
        return {
            "workspace": {
                "name": self.name,
                "template": self.template,
                "engine": self.engine,
                "language": self.language,
            },
            "sessions": {"inactivity_minutes": self.session_gap_minutes},
            "goals": {
                "conversion_events": list(self.conversion_events),
                **({"revenue_property": self.revenue_property} if self.revenue_property else {}),
            },
            "friction": {
                "error_patterns": list(self.error_patterns),
                "retry_seconds": self.retry_seconds,
                "postpone_hours": self.postpone_hours,
            },
            "import": {
                "max_field_chars": self.max_field_chars,
                "max_properties_chars": self.max_properties_chars,
                "max_future_hours": self.max_future_hours,
                "placeholder_ids": list(self.placeholder_ids),
            },
            **currency,
            "stages": [{"key": s.key, "labels": dict(s.labels)} for s in self.stages],
            "touchpoints": [t.to_toml() for t in self.touchpoints],
        }


def save_config(config: Config, directory: Path) -> Path:
    """Write ``config`` as the workspace's journeylens.toml, whole or not at all: the text goes
    to a file beside it that then takes its name, so no reader (and no crash) ever meets a
    half-written config."""
    path = Path(directory) / CONFIG_FILE
    partial = path.with_name(f".{CONFIG_FILE}.{os.getpid()}.partial")
    partial.write_text(tomli_w.dumps(config.to_toml()), encoding="utf-8")
    os.replace(partial, path)
    return path


# The file's layout: every table and the keys it may hold. The loader reads through it (a
# ``_Table`` reads no key it does not list) and a key in the file that it does not list is an
# error, so a misspelt key is reported, not silently left at its default.
TABLES: dict[str, tuple[str, ...]] = {
    "workspace": ("name", "template", "engine", "language"),
    "sessions": ("inactivity_minutes",),
    "goals": ("conversion_events", "revenue_property"),
    "friction": ("error_patterns", "retry_seconds", "postpone_hours"),
    "import": ("max_field_chars", "max_properties_chars", "max_future_hours", "placeholder_ids"),
    "currency": ("report", "rates"),
}
# The arrays of tables, each entry holding the fields of its dataclass.
ENTRIES: dict[str, tuple[str, ...]] = {
    "stages": tuple(f.name for f in fields(Stage)),
    "touchpoints": tuple(f.name for f in fields(Touchpoint)),
}
# A stage template is a config body with a description beside its stages and touchpoints (see
# ``journey.templates``): accepted, and not kept.
TOP_LEVEL: tuple[str, ...] = (*TABLES, *ENTRIES, "description")


def load_config(directory: Path) -> Config:
    path = Path(directory) / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"No {CONFIG_FILE} in '{directory}'.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from exc
    return parse_config(raw, source=str(path))


def _placeholder_ids(table: _Table) -> tuple[str, ...]:
    """``import.placeholder_ids`` in lower case; the default when the key is absent (an empty
    list turns the check off)."""
    if not table.has("placeholder_ids"):
        return PLACEHOLDER_IDS
    given = table.strings("placeholder_ids")
    return tuple(dict.fromkeys(value.strip().lower() for value in given))


def _revenue_property(table: _Table) -> str | None:
    """``goals.revenue_property``: a property key (``price``, ``order.total``), or None."""
    key = table.optional_string("revenue_property")
    if key is None:
        return None
    try:
        return check_key(key.strip(), "revenue property")
    except SpecError as exc:
        raise ConfigError(f"{table.source}: 'goals.revenue_property': {exc}") from None


def _currency(table: _Table) -> tuple[str | None, dict[str, float]]:
    """``[currency]``: the reporting currency and the rates (units per unit of it), codes in
    upper case."""
    rates_raw = table.get("rates", {})
    if not isinstance(rates_raw, dict):
        raise table.fail("rates", "a table of currency = rate", rates_raw)
    if not table.has("report"):
        if rates_raw:
            raise ConfigError(
                f"{table.source}: 'currency.rates' needs 'currency.report', the currency the "
                'rates convert to (e.g. report = "EUR").'
            )
        return None, {}
    report = normalized_code(table.string("report"))
    rates: dict[str, float] = {}
    for name, rate in rates_raw.items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
            raise table.fail(f"rates.{name}", "a number above 0", rate)
        code = normalized_code(name)
        if code == report and rate != 1:
            expected = f"1 ({report} is the report currency)"
            raise table.fail(f"rates.{name}", expected, rate)
        rates[code] = float(rate)
    rates.pop(report, None)
    return report, rates


def _check_keys(raw: dict[str, Any], source: str = CONFIG_FILE) -> None:
    """Refuse a key the file's layout does not have (see ``TABLES``), naming the file, where it
    is, the key and the keys known there."""
    _refuse_unknown(raw, TOP_LEVEL, source, "", "at the top level")
    for name, keys in TABLES.items():
        value = raw.get(name)
        if isinstance(value, dict):
            _refuse_unknown(value, keys, source, f"{name}.", f"in [{name}]")
    for name, keys in ENTRIES.items():
        entries = raw.get(name)
        for index, entry in enumerate(entries if isinstance(entries, list) else []):
            if isinstance(entry, dict):
                where = f"in a [[{name}]] entry"
                _refuse_unknown(entry, keys, source, f"{name}[{index}].", where)


def _refuse_unknown(
    table: dict[str, Any], known: tuple[str, ...], source: str, prefix: str, where: str
) -> None:
    for key in table:
        if key in known:
            continue
        # A key of another table (one written above its table's header, or below the last
        # [[touchpoints]] entry, lands in the wrong one): say where it belongs.
        homes = [f"[{name}]" for name, keys in TABLES.items() if key in keys]
        homes += [f"[[{name}]] entries" for name, keys in ENTRIES.items() if key in keys]
        homes += ["the top level"] if key in TOP_LEVEL else []
        elsewhere = (
            f" '{key}' is a key of {' and '.join(homes)}; a key belongs to the table whose header"
            " it follows."
            if homes
            else ""
        )
        raise ConfigError(
            f"{source}: unknown key '{prefix}{key}' {where}.{did_you_mean(key, known)}{elsewhere} "
            f"Known keys there: {', '.join(sorted(known))}."
        )


def parse_config(raw: dict[str, Any], source: str = CONFIG_FILE) -> Config:
    """Validate a decoded TOML document into a :class:`Config`."""
    _check_keys(raw, source)
    top = _Table(raw, "", TOP_LEVEL, source)
    top.optional_string("description")
    ws = top.table("workspace")
    stages = tuple(_parse_stage(top, i, s) for i, s in enumerate(top.items("stages")))
    if not stages:
        raise ConfigError(f"{source}: [[stages]] must define at least one stage.")
    keys = [s.key for s in stages]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{source}: stage keys must be unique, got {keys}.")
    _check_names_one_stage(stages, source)
    sessions, goals, friction = top.table("sessions"), top.table("goals"), top.table("friction")
    limits = top.table("import")
    config = Config(
        name=ws.string("name", default="journeylens"),
        template=ws.string("template", default="custom"),
        stages=stages,
        engine=ws.choice("engine", ENGINES, default="duckdb"),
        language=ws.choice("language", LANGUAGES, default="en"),
        session_gap_minutes=sessions.positive_int("inactivity_minutes", 30),
        conversion_events=tuple(goals.strings("conversion_events") or ("purchase",)),
        revenue_property=_revenue_property(goals),
        error_patterns=tuple(friction.strings("error_patterns") or ("*error*", "*fail*")),
        retry_seconds=friction.positive_int("retry_seconds", 30),
        postpone_hours=friction.positive_int("postpone_hours", 24),
        max_field_chars=limits.positive_int(
            "max_field_chars", 4096, MIN_FIELD_CHARS, " (the ids journeylens makes are 32 long)"
        ),
        max_properties_chars=limits.positive_int("max_properties_chars", 1048576),
        max_future_hours=limits.positive_int("max_future_hours", 24),
        placeholder_ids=_placeholder_ids(limits),
    )
    report, rates = _currency(top.table("currency"))
    if report is not None:
        config = config.with_currency(report, rates)
    touchpoints = tuple(
        parse_touchpoint(config, t, source, key_prefix=f"touchpoints[{i}].")
        for i, t in enumerate(top.items("touchpoints"))
    )
    names = [t.touchpoint for t in touchpoints]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: touchpoint names must be unique; repeated: {dupes}.")
    return config.with_touchpoints(touchpoints)


def parse_touchpoint(
    config: Config, raw: dict[str, Any], where: str, key_prefix: str = ""
) -> Touchpoint:
    """Validate one catalog row (from the TOML file or an imported catalog file); errors
    start with ``where`` and name the key after ``key_prefix`` (``touchpoints[3].``)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: '{key_prefix}' must be a table, got {type(raw).__name__}.")
    row = _Table(raw, key_prefix, ENTRIES["touchpoints"], where)
    name = row.string("touchpoint")
    match_raw = row.get("match", name)
    listed = match_raw if isinstance(match_raw, list | tuple) else ()
    match = (match_raw,) if isinstance(match_raw, str) else tuple(listed)
    if not match or not all(isinstance(m, str) and m for m in match):
        raise ConfigError(
            f"{where}: '{key_prefix}match' must be event names or patterns, got {match_raw!r}.",
            "match",
        )
    for entry in match:
        try:
            split_conditions(entry)
        except SpecError as exc:
            raise ConfigError(f"{where}: {key_prefix}match {entry!r}: {exc}", "match") from exc
    stage_name = row.string("stage")
    try:
        stage = config.resolve_stage(stage_name, where=f"in {where}, '{key_prefix}stage'")
    except KeyError as exc:
        raise ConfigError(str(exc), "stage") from exc
    cost = row.get("cost", 0.0)
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
        message = f"{where}: '{key_prefix}cost' must be a number ≥ 0, got {cost!r}."
        raise ConfigError(message, "cost")
    return Touchpoint(
        touchpoint=name,
        match=match,
        stage=stage,
        channel=row.optional_string("channel"),
        kind=row.choice("kind", TOUCHPOINT_KINDS, default="owned"),
        cost=float(cost),
        cost_period=row.choice("cost_period", COST_PERIODS, "month"),
        owner=row.optional_string("owner"),
        content_type=row.optional_string("content_type"),
    )


class _Table:
    """Typed access to one table of a decoded TOML document (``prefix`` is its path, ``keys``
    its layout); every failure names the key. Reading a key outside ``keys`` is a bug here."""

    def __init__(
        self, values: dict[str, Any], prefix: str, keys: tuple[str, ...], source: str
    ) -> None:
        self.values = values
        self.prefix = prefix
        self.keys = keys
        self.source = source

    def fail(self, name: str, expected: str, got: Any) -> ConfigError:
        message = f"{self.source}: '{self.prefix}{name}' must be {expected}, got {got!r}."
        return ConfigError(message, f"{self.prefix}{name}")

    def _known(self, name: str) -> str:
        if name not in self.keys:
            raise AssertionError(f"'{self.prefix}{name}' is read but not in the config's layout")
        return name

    def has(self, name: str) -> bool:
        return self._known(name) in self.values

    def get(self, name: str, default: Any = None) -> Any:
        return self.values.get(self._known(name), default)

    def table(self, name: str) -> _Table:
        value = self.get(name, {})
        if not isinstance(value, dict):
            raise self.fail(name, "a table", value)
        return _Table(value, f"{self.prefix}{name}.", TABLES[name], self.source)

    def items(self, name: str) -> list[Any]:
        value = self.get(name, [])
        if not isinstance(value, list):
            raise self.fail(name, "an array of tables", value)
        return value

    def string(self, name: str, default: str | None = None) -> str:
        value = self.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(name, "a non-empty string", value)
        return value.strip()

    def optional_string(self, name: str) -> str | None:
        value = self.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(name, "a string", value)
        return value

    def strings(self, name: str) -> list[str]:
        value = self.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self.fail(name, "an array of strings", value)
        return value

    def choice(self, name: str, allowed: tuple[str, ...], default: str) -> str:
        value = self.get(name, default)
        if value not in allowed:
            raise ConfigError(
                f"{self.source}: '{self.prefix}{name}' must be one of {', '.join(allowed)}; "
                f"got {value!r}.",
                f"{self.prefix}{name}",
            )
        return str(value)

    def positive_int(self, name: str, default: int, least: int = 1, why: str = "") -> int:
        """A whole number of at least ``least`` (``why``: what needs that much)."""
        value = self.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < least:
            wanted = "a positive whole number" if least == 1 else f"a whole number of {least}+"
            raise self.fail(name, wanted + why, value)
        return value


def _check_names_one_stage(stages: Sequence[Stage], source: str) -> None:
    """Refuse a key or label that names two stages: a catalog naming it would be placed on
    whichever came first, without a word."""
    owner: dict[str, str] = {}
    for stage in stages:
        for name in {stage.key, *stage.labels.values()}:
            other = owner.setdefault(_folded(name), stage.key)
            if other != stage.key:
                raise ConfigError(
                    f"{source}: '{name}' names two stages, '{other}' and '{stage.key}': give "
                    "each stage labels of its own."
                )


def _parse_stage(top: _Table, index: int, raw: Any) -> Stage:
    where = f"stages[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{top.source}: '{where}' must be a table, got {raw!r}.")
    entry = _Table(raw, f"{where}.", ENTRIES["stages"], top.source)
    key = entry.string("key")
    labels = entry.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{top.source}: '{where}.labels' must map language to label.")
    odd = sorted(set(labels) - set(LANGUAGES))
    if odd:
        raise ConfigError(
            f"{top.source}: '{where}.labels' has unknown languages {odd}; "
            f"supported: {', '.join(LANGUAGES)}."
        )
    return Stage(key=key, labels=dict(labels))


def _folded(name: str) -> str:
    """A stage name as it is compared: trimmed, composed (NFC) and case-folded."""
    return unicodedata.normalize("NFC", name.strip()).casefold()
