"""Row-level checks and parsing of an input batch, in an embedded DuckDB, one SQL per batch.

Each rule is a row of data: a condition on the parsed row, the reason code, the field it names
and a detail message. The first rule a row breaks sends it to ``rejected``; every other row comes
out with canonical types. Values from the file are data bound to the query, never SQL text.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.config import Config
from journeylens.errors import ImportFileError
from journeylens.schema import (
    DIMENSIONS,
    EVENT_TYPES,
    FEEDBACK_METRICS,
    FEEDBACK_SCALES,
    INTERACTIONS,
)

ROW_PREVIEW_CHARS = 65_536
OLDEST = datetime(1990, 1, 1)


@dataclass(frozen=True)
class Limits:
    """What a good row may contain."""

    max_field_chars: int
    max_properties_chars: int
    latest: datetime  # naive UTC: later timestamps are "in the future"
    timezone: str

    @classmethod
    def from_config(cls, config: Config, timezone: str = "UTC") -> Limits:
        if timezone not in zoneinfo.available_timezones() and timezone != "UTC":
            raise ImportFileError(f"Unknown time zone '{timezone}'; use a name like Europe/Oslo.")
        now = datetime.now(UTC).replace(tzinfo=None)
        return cls(
            config.max_field_chars,
            config.max_properties_chars,
            now + timedelta(hours=config.max_future_hours),
            timezone,
        )


def _text(col: str) -> str:
    """A column as text, with empty strings as missing."""
    return (
        f"CASE WHEN trim(CAST(b.{col} AS VARCHAR)) = '' THEN NULL ELSE CAST(b.{col} AS VARCHAR) END"
    )


def _naive(instant: str) -> str:
    """A TIMESTAMPTZ as naive UTC, by epoch arithmetic (no time-zone library per row)."""
    return f"make_timestamp(epoch_us({instant}))"


def _timestamp(col: str, dtype: pa.DataType, utc: bool) -> str:
    """SQL that parses ``col`` to a naive UTC timestamp (NULL when it cannot)."""
    if pa.types.is_timestamp(dtype):
        if dtype.tz is not None:
            return _naive(f"CAST(b.{col} AS TIMESTAMPTZ)")
        # A naive timestamp is wall-clock time in the import's --timezone.
        if utc:
            return f"CAST(b.{col} AS TIMESTAMP)"
        zone = "current_setting('TimeZone')"
        return _naive(f"timezone({zone}, CAST(b.{col} AS TIMESTAMP))")
    if pa.types.is_date(dtype):
        return f"CAST(b.{col} AS TIMESTAMP)"
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype):
        return _epoch(f"CAST(b.{col} AS DOUBLE)")
    text = _text(col)
    return (
        f"CASE WHEN regexp_full_match(trim({text}), '[0-9]{{9,13}}(\\.[0-9]+)?') "
        f"THEN {_epoch(f'TRY_CAST(trim({text}) AS DOUBLE)')} "
        f"ELSE {_naive(f'TRY_CAST(trim({text}) AS TIMESTAMPTZ)')} END"
    )


def _epoch(number: str) -> str:
    # Ten-digit values are seconds, thirteen-digit ones milliseconds (JavaScript's Date.now()).
    return (
        f"CASE WHEN {number} > 1e11 THEN make_timestamp(CAST({number} * 1000 AS BIGINT)) "
        f"ELSE make_timestamp(CAST({number} * 1000000 AS BIGINT)) END"
    )


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


# Columns each kind keeps as text, checked for length.
TEXT_COLUMNS = {
    "events": (
        "event_id",
        "event",
        "type",
        "anonymous_id",
        "user_id",
        "touchpoint",
        "stage",
        "channel",
        "device",
        "interaction",
        "source",
        "medium",
        "campaign",
        "currency",
    ),
    "feedback": (
        "feedback_id",
        "anonymous_id",
        "user_id",
        "touchpoint",
        "stage",
        "channel",
        "device",
        "interaction",
        "metric",
        "dimension",
        "comment",
        "language",
    ),
}


def _rules(kind: str) -> list[tuple[str, str, str, str]]:
    """(condition, reason, field, detail SQL) in the order they are checked."""
    ts_rules = [
        ("p.ts_text IS NULL", "missing_timestamp", "ts", "'the timestamp is empty'"),
        (
            "p.ts IS NULL",
            "unparseable_timestamp",
            "ts",
            "'cannot read ''' || left(p.ts_text, 80) || ''' as an ISO-8601 timestamp'",
        ),
        (
            "p.ts > $latest",
            "future_timestamp",
            "ts",
            "'timestamp ' || CAST(p.ts AS VARCHAR) || ' UTC is in the future'",
        ),
        (
            "p.ts < $oldest",
            "implausible_timestamp",
            "ts",
            "'timestamp ' || CAST(p.ts AS VARCHAR) || ' is before 1990'",
        ),
    ]
    identity = [
        (
            "p.anonymous_id IS NULL AND p.user_id IS NULL",
            "missing_id",
            "anonymous_id",
            "'neither anonymous_id nor user_id is set'",
        )
    ]
    length = [
        (
            f"length(p.{c}) > $max_field",
            "field_too_long",
            c,
            f"'{c} has ' || length(p.{c}) || ' characters; the limit is ' || $max_field",
        )
        for c in TEXT_COLUMNS[kind]
        if c != "comment"
    ]
    comment = [
        (
            "length(p.comment) > $max_props",
            "field_too_long",
            "comment",
            "'comment has ' || length(p.comment) || ' characters; the limit is ' || $max_props",
        )
    ]
    properties = [
        (
            "p.properties_text IS NOT NULL AND NOT json_valid(p.properties_text)",
            "invalid_properties",
            "properties",
            "'properties is not valid JSON'",
        ),
        (
            "length(p.properties) > $max_props",
            "field_too_long",
            "properties",
            "'properties has ' || length(p.properties) || ' characters; the limit is ' "
            "|| $max_props",
        ),
    ]
    stage = [
        (
            "p.stage_text IS NOT NULL AND p.stage IS NULL",
            "unknown_stage",
            "stage",
            "'unknown stage ''' || left(p.stage_text, 80) || '''; known: ' || $stages",
        ),
        (
            f"p.interaction IS NOT NULL AND p.interaction NOT IN {_in(INTERACTIONS)}",
            "unknown_interaction",
            "interaction",
            f"'interaction must be one of {', '.join(INTERACTIONS)}'",
        ),
    ]
    if kind == "events":
        specific = [
            ("p.event IS NULL", "missing_event", "event", "'the event name is empty'"),
            (
                f"p.type NOT IN {_in(EVENT_TYPES)}",
                "unknown_type",
                "type",
                f"'type must be one of {', '.join(EVENT_TYPES)}'",
            ),
            (
                "p.revenue_text IS NOT NULL AND p.revenue IS NULL",
                "invalid_revenue",
                "revenue",
                "'cannot read ''' || left(p.revenue_text, 80) || ''' as a number'",
            ),
            (
                "p.revenue < 0",
                "negative_revenue",
                "revenue",
                "'revenue ' || CAST(p.revenue AS VARCHAR) || ' is negative; "
                "record refunds as a refund event'",
            ),
        ]
        return identity + ts_rules + specific + length + properties + stage
    scales = " ".join(
        f"WHEN '{m}' THEN p.score BETWEEN {lo} AND {hi}" for m, (lo, hi) in FEEDBACK_SCALES.items()
    )
    specific = [
        (
            f"p.metric IS NULL OR p.metric NOT IN {_in(FEEDBACK_METRICS)}",
            "unknown_metric",
            "metric",
            f"'metric must be one of {', '.join(FEEDBACK_METRICS)}'",
        ),
        (
            "p.score IS NULL",
            "invalid_score",
            "score",
            "'cannot read ''' || coalesce(left(p.score_text, 80), '') || ''' as a score'",
        ),
        (
            f"NOT (CASE p.metric {scales} END)",
            "score_out_of_range",
            "score",
            "'score ' || CAST(p.score AS VARCHAR) || ' is outside the scale of ' || p.metric",
        ),
        (
            f"p.dimension IS NOT NULL AND p.dimension NOT IN {_in(DIMENSIONS)}",
            "unknown_dimension",
            "dimension",
            f"'dimension must be one of {', '.join(DIMENSIONS)}'",
        ),
        (
            "p.sentiment_text IS NOT NULL AND (p.sentiment IS NULL OR abs(p.sentiment) > 1)",
            "invalid_sentiment",
            "sentiment",
            "'sentiment must be a number from -1 to 1'",
        ),
    ]
    return identity + ts_rules + specific + length + comment + properties + stage


def _screen(kind: str) -> str:
    """A cheap per-row test for "breaks some rule": non-zero when any rule fails.

    Every rule is evaluated as a flat boolean (no CASE branches per row) and the length rules
    are folded into one byte-length test, which is never below the character length.
    """
    length_cols = [c for c in TEXT_COLUMNS[kind] if c != "comment"]
    longest = f"greatest({', '.join(f'coalesce(strlen(p.{c}), 0)' for c in length_cols)})"
    conditions = [cond for cond, code, _, _ in _rules(kind) if code != "field_too_long"]
    conditions.append(
        f"{longest} > $max_field AND {longest.replace('strlen', 'length')} > $max_field"
    )
    conditions.append("length(p.properties) > $max_props")
    if kind == "feedback":
        conditions.append("length(p.comment) > $max_props")
    return " | ".join(
        f"(CAST(coalesce({cond}, false) AS BIGINT) << {i})" for i, cond in enumerate(conditions)
    )


def _parsed(kind: str, batch: pa.Table, utc: bool) -> str:
    """SELECT list that parses a batch ``b`` (joined to the stage names ``s``)."""
    text_cols = [
        c for c in TEXT_COLUMNS[kind] if c not in ("type", "metric", "stage", "interaction")
    ]
    items = [f"{_text(c)} AS {c}" for c in text_cols]
    ts_type = batch.schema.field("ts").type
    received_type = batch.schema.field("received_at").type
    items += [
        f"{_text('ts')} AS ts_text",
        f"{_timestamp('ts', ts_type, utc)} AS ts",
        f"coalesce({_timestamp('received_at', received_type, utc)}, $now) AS received_at",
        f"{_text('stage')} AS stage_text",
        "s.key AS stage",
        f"lower({_text('interaction')}) AS interaction",
        f"{_text('properties')} AS properties_text",
        "NULLIF(CASE WHEN b._extra IS NULL THEN "
        f"CASE WHEN json_valid({_text('properties')}) THEN {_text('properties')} END "
        f"ELSE json_merge_patch(coalesce(CASE WHEN json_valid({_text('properties')}) "
        f"THEN {_text('properties')} END, '{{}}'), to_json(b._extra)) END, '{{}}') AS properties",
        "b._line AS _line",
        "b._raw AS _raw",
    ]
    if kind == "events":
        items += [
            f"coalesce(lower({_text('type')}), 'track') AS type",
            f"{_text('revenue')} AS revenue_text",
            f"TRY_CAST(trim({_text('revenue')}) AS DOUBLE) AS revenue",
        ]
    else:
        items += [
            f"lower({_text('metric')}) AS metric",
            f"{_text('score')} AS score_text",
            f"TRY_CAST(trim({_text('score')}) AS DOUBLE) AS score",
            f"{_text('sentiment')} AS sentiment_text",
            f"TRY_CAST(trim({_text('sentiment')}) AS DOUBLE) AS sentiment",
        ]
    return ",\n  ".join(items)


def _query(kind: str, batch: pa.Table, utc: bool = True) -> str:
    rules = _rules(kind)
    reason = " ".join(f"WHEN {cond} THEN '{code}'" for cond, code, _, _ in rules)
    field = " ".join(f"WHEN {cond} THEN '{name}'" for cond, _, name, _ in rules)
    detail = " ".join(f"WHEN {cond} THEN {msg}" for cond, _, _, msg in rules)
    id_col = "event_id" if kind == "events" else "feedback_id"
    # Materialised steps parse each value once; the field, detail and row preview are
    # computed only for rejected rows (CASE evaluates a branch only for the rows that take it).
    return f"""
WITH p AS MATERIALIZED (
  SELECT {_parsed(kind, batch, utc)}
  FROM batch AS b LEFT JOIN stage_names AS s ON lower(trim(CAST(b.stage AS VARCHAR))) = s.name
), r AS MATERIALIZED (
  SELECT p.*, {_screen(kind)} AS _bad FROM p
)
SELECT p.* EXCLUDE (_raw, _bad) REPLACE (
    CASE WHEN p.{id_col} IS NULL THEN substr(md5(to_json(p._raw)), 1, 32) ELSE p.{id_col} END
    AS {id_col}
  ),
  CASE WHEN p._bad <> 0 THEN CASE {reason} END END AS _reason,
  CASE WHEN p._bad <> 0 THEN CASE {field} END END AS _field,
  CASE WHEN p._bad <> 0 THEN CASE {detail} END END AS _detail,
  CASE WHEN p._bad <> 0 THEN left(to_json(p._raw), {ROW_PREVIEW_CHARS}) END AS _row
FROM r AS p"""


class BatchValidator:
    """Parses and checks batches of one kind of input with one embedded DuckDB connection."""

    def __init__(self, kind: str, config: Config, limits: Limits) -> None:
        self.kind = kind
        self.limits = limits
        self.con = duckdb.connect()
        self.con.execute(f"SET TimeZone = '{limits.timezone}'")  # validated against zoneinfo
        names = [(s.key.casefold(), s.key) for s in config.stages]
        names += [(label.casefold(), s.key) for s in config.stages for label in s.labels.values()]
        self.stage_names = pa.table({"name": [n for n, _ in names], "key": [k for _, k in names]})
        self.stage_list = ", ".join(config.stage_keys)
        self._queries: dict[tuple[str, str], str] = {}

    def check(self, batch: pa.Table) -> pa.Table:
        """Parse ``batch`` (from :func:`columns.arrange`) and tag every row with its reason."""
        key = (str(batch.schema.field("ts").type), str(batch.schema.field("received_at").type))
        if key not in self._queries:
            self._queries[key] = _query(self.kind, batch, self.limits.timezone == "UTC")
        query = self._queries[key]
        self.con.register("batch", batch)
        self.con.register("stage_names", self.stage_names)
        params = {
            "latest": self.limits.latest,
            "oldest": OLDEST,
            "now": datetime.now(UTC).replace(tzinfo=None),
            "max_field": self.limits.max_field_chars,
            "max_props": self.limits.max_properties_chars,
            "stages": self.stage_list,
        }
        try:
            return self.con.execute(query, params).to_arrow_table()
        finally:
            self.con.unregister("batch")

    def close(self) -> None:
        self.con.close()


def split(checked: pa.Table) -> tuple[pa.Table, pa.Table]:
    """(good rows, rejected rows) of a checked batch."""
    bad = pc.is_valid(checked.column("_reason"))
    return checked.filter(pc.invert(bad)), checked.filter(bad)
