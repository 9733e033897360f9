"""The workspace configuration: one TOML file, validated on load with errors that name the key.

The file holds the journey model (stages with their labels, the touchpoint catalog), the goal
events, session and import settings. ``journeylens init`` writes it from a stage template; people
edit it by hand, and ``journeylens import --kind touchpoints`` merges catalog rows into it.
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w

from journeylens.errors import ConfigError, SpecError, unknown
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
        """Return the stage key for a key or a label in any supported language."""
        wanted = name.strip().casefold()
        for stage in self.stages:
            names = {stage.key.casefold(), *(v.casefold() for v in stage.labels.values())}
            if wanted in names:
                return stage.key
        raise unknown("stage", name, self.stage_keys, where)

    def with_touchpoints(self, touchpoints: tuple[Touchpoint, ...]) -> Config:
        return replace(self, touchpoints=touchpoints)

    def with_currency(self, report: str, rates: dict[str, float]) -> Config:
        """This config reporting revenue in ``report``, converted at ``rates``."""
        return replace(self, report_currency=report, currency_rates=tuple(sorted(rates.items())))

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
    path = Path(directory) / CONFIG_FILE
    path.write_text(tomli_w.dumps(config.to_toml()), encoding="utf-8")
    return path


def load_config(directory: Path) -> Config:
    path = Path(directory) / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"No {CONFIG_FILE} in '{directory}'.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}.") from exc
    return parse_config(raw, source=str(path))


def _placeholder_ids(reader: _Reader) -> tuple[str, ...]:
    """``import.placeholder_ids`` in lower case; the default when the key is absent (an empty
    list turns the check off)."""
    table = reader.table("import")
    if "placeholder_ids" not in table:
        return PLACEHOLDER_IDS
    given = reader.strings(table, "import.placeholder_ids", "placeholder_ids")
    return tuple(dict.fromkeys(value.strip().lower() for value in given))


def _revenue_property(reader: _Reader) -> str | None:
    """``goals.revenue_property``: a property key (``price``, ``order.total``), or None."""
    key = reader.optional_string(
        reader.table("goals"), "goals.revenue_property", "revenue_property"
    )
    if key is None:
        return None
    try:
        return check_key(key.strip(), "revenue property")
    except SpecError as exc:
        raise ConfigError(f"{reader.source}: 'goals.revenue_property': {exc}") from None


def _currency(reader: _Reader) -> tuple[str | None, dict[str, float]]:
    """``[currency]``: the reporting currency and the rates (units per unit of it), codes in
    upper case."""
    table = reader.table("currency")
    rates_raw = table.get("rates", {})
    if not isinstance(rates_raw, dict):
        raise reader._fail("currency.rates", "a table of currency = rate", rates_raw)
    if "report" not in table:
        if rates_raw:
            raise ConfigError(
                f"{reader.source}: 'currency.rates' needs 'currency.report', the currency the "
                'rates convert to (e.g. report = "EUR").'
            )
        return None, {}
    report = normalized_code(reader.string(table, "currency.report", "report"))
    rates: dict[str, float] = {}
    for name, rate in rates_raw.items():
        if not isinstance(rate, int | float) or isinstance(rate, bool) or not rate > 0:
            raise reader._fail(f"currency.rates.{name}", "a number above 0", rate)
        code = normalized_code(name)
        if code == report and rate != 1:
            expected = f"1 ({report} is the report currency)"
            raise reader._fail(f"currency.rates.{name}", expected, rate)
        rates[code] = float(rate)
    rates.pop(report, None)
    return report, rates


def parse_config(raw: dict[str, Any], source: str = CONFIG_FILE) -> Config:
    """Validate a decoded TOML document into a :class:`Config`."""
    reader = _Reader(raw, source)
    ws = reader.table("workspace")
    stages = tuple(_parse_stage(reader, i, s) for i, s in enumerate(reader.items("stages")))
    if not stages:
        raise ConfigError(f"{source}: [[stages]] must define at least one stage.")
    keys = [s.key for s in stages]
    if len(set(keys)) != len(keys):
        raise ConfigError(f"{source}: stage keys must be unique, got {keys}.")
    config = Config(
        name=reader.string(ws, "workspace.name", "name", default="journeylens"),
        template=reader.string(ws, "workspace.template", "template", default="custom"),
        stages=stages,
        engine=reader.choice(ws, "workspace.engine", "engine", ENGINES, default="duckdb"),
        language=reader.choice(ws, "workspace.language", "language", LANGUAGES, default="en"),
        session_gap_minutes=reader.positive_int(
            reader.table("sessions"), "sessions.inactivity_minutes", "inactivity_minutes", 30
        ),
        conversion_events=tuple(
            reader.strings(reader.table("goals"), "goals.conversion_events", "conversion_events")
            or ("purchase",)
        ),
        revenue_property=_revenue_property(reader),
        error_patterns=tuple(
            reader.strings(reader.table("friction"), "friction.error_patterns", "error_patterns")
            or ("*error*", "*fail*")
        ),
        retry_seconds=reader.positive_int(
            reader.table("friction"), "friction.retry_seconds", "retry_seconds", 30
        ),
        postpone_hours=reader.positive_int(
            reader.table("friction"), "friction.postpone_hours", "postpone_hours", 24
        ),
        max_field_chars=reader.positive_int(
            reader.table("import"), "import.max_field_chars", "max_field_chars", 4096
        ),
        max_properties_chars=reader.positive_int(
            reader.table("import"), "import.max_properties_chars", "max_properties_chars", 1048576
        ),
        max_future_hours=reader.positive_int(
            reader.table("import"), "import.max_future_hours", "max_future_hours", 24
        ),
        placeholder_ids=_placeholder_ids(reader),
    )
    report, rates = _currency(reader)
    if report is not None:
        config = config.with_currency(report, rates)
    touchpoints = tuple(
        parse_touchpoint(config, t, f"touchpoints[{i}]")
        for i, t in enumerate(reader.items("touchpoints"))
    )
    names = [t.touchpoint for t in touchpoints]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(f"{source}: touchpoint names must be unique; repeated: {dupes}.")
    return config.with_touchpoints(touchpoints)


def parse_touchpoint(config: Config, raw: dict[str, Any], where: str) -> Touchpoint:
    """Validate one catalog row (from the TOML file or an imported catalog file)."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: expected a table, got {type(raw).__name__}.")
    reader = _Reader(raw, where)
    name = reader.string(raw, f"{where}.touchpoint", "touchpoint")
    match_raw = raw.get("match", name)
    match = (match_raw,) if isinstance(match_raw, str) else tuple(match_raw or ())
    if not match or not all(isinstance(m, str) and m for m in match):
        raise ConfigError(f"{where}.match: expected event names or patterns, got {match_raw!r}.")
    for entry in match:
        try:
            split_conditions(entry)
        except SpecError as exc:
            raise ConfigError(f"{where}.match {entry!r}: {exc}") from exc
    stage_name = reader.string(raw, f"{where}.stage", "stage")
    try:
        stage = config.resolve_stage(stage_name, where=f"in {where}.stage")
    except KeyError as exc:
        raise ConfigError(str(exc)) from exc
    cost = raw.get("cost", 0.0)
    if not isinstance(cost, int | float) or isinstance(cost, bool) or cost < 0:
        raise ConfigError(f"{where}.cost: expected a number ≥ 0, got {cost!r}.")
    return Touchpoint(
        touchpoint=name,
        match=match,
        stage=stage,
        channel=reader.optional_string(raw, f"{where}.channel", "channel"),
        kind=reader.choice(raw, f"{where}.kind", "kind", TOUCHPOINT_KINDS, default="owned"),
        cost=float(cost),
        cost_period=reader.choice(
            raw, f"{where}.cost_period", "cost_period", COST_PERIODS, "month"
        ),
        owner=reader.optional_string(raw, f"{where}.owner", "owner"),
        content_type=reader.optional_string(raw, f"{where}.content_type", "content_type"),
    )


class _Reader:
    """Typed access to a decoded TOML document; every failure names the key."""

    def __init__(self, raw: dict[str, Any], source: str) -> None:
        self.raw = raw
        self.source = source

    def _fail(self, key: str, expected: str, got: Any) -> ConfigError:
        return ConfigError(f"{self.source}: '{key}' must be {expected}, got {got!r}.")

    def table(self, key: str) -> dict[str, Any]:
        value = self.raw.get(key, {})
        if not isinstance(value, dict):
            raise self._fail(key, "a table", value)
        return value

    def items(self, key: str) -> list[Any]:
        value = self.raw.get(key, [])
        if not isinstance(value, list):
            raise self._fail(key, "an array of tables", value)
        return value

    def string(self, table: dict[str, Any], key: str, name: str, default: str | None = None) -> str:
        value = table.get(name, default)
        if not isinstance(value, str) or not value.strip():
            raise self._fail(key, "a non-empty string", value)
        return value.strip()

    def optional_string(self, table: dict[str, Any], key: str, name: str) -> str | None:
        value = table.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def strings(self, table: dict[str, Any], key: str, name: str) -> list[str]:
        value = table.get(name, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise self._fail(key, "an array of strings", value)
        return value

    def choice(
        self, table: dict[str, Any], key: str, name: str, allowed: tuple[str, ...], default: str
    ) -> str:
        value = table.get(name, default)
        if value not in allowed:
            raise ConfigError(
                f"{self.source}: '{key}' must be one of {', '.join(allowed)}; got {value!r}."
            )
        return str(value)

    def positive_int(self, table: dict[str, Any], key: str, name: str, default: int) -> int:
        value = table.get(name, default)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise self._fail(key, "a positive whole number", value)
        return value


def _parse_stage(reader: _Reader, index: int, raw: Any) -> Stage:
    where = f"stages[{index}]"
    if not isinstance(raw, dict):
        raise ConfigError(f"{reader.source}: '{where}' must be a table, got {raw!r}.")
    key = reader.string(raw, f"{where}.key", "key")
    labels = raw.get("labels", {})
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ConfigError(f"{reader.source}: '{where}.labels' must map language to label.")
    odd = sorted(set(labels) - set(LANGUAGES))
    if odd:
        raise ConfigError(
            f"{reader.source}: '{where}.labels' has unknown languages {odd}; "
            f"supported: {', '.join(LANGUAGES)}."
        )
    return Stage(key=key, labels=dict(labels))
