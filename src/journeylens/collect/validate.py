"""Row-level checks and parsing of an input batch, in an embedded DuckDB, one SQL per batch.

Each rule is a row of data: a condition on the parsed row, the reason code, the field it names
and a detail message. The first rule a row breaks sends it to ``rejected``; every other row comes
out with canonical types. Values from the file are data bound to the query, never SQL text.
"""

from __future__ import annotations

import re
import zoneinfo
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.collect.calls import (
    CONTEXT_CAMPAIGN,
    call_type,
    device_value,
    displaced_id,
    event_name,
    from_context,
    ids,
    nested_value,
    properties_text,
)
from journeylens.collect.columns import KEYS_VARY, PROPERTIES_PREFIX
from journeylens.collect.exports import (
    WHEN_ABSENT,
    batch_text,
    lower_match,
    one_of,
    params_object,
    with_params,
    with_texts,
)
from journeylens.collect.local import local_engine
from journeylens.collect.numbers import (
    RATING_WORDS,
    YES_NO_WORDS,
    marked_currency,
    number_before_label,
    out_of,
    rating,
    read_number,
    unless_missing,
)
from journeylens.collect.timestamps import (
    abbreviation,
    impossible_offset,
    read_time,
    zone_name_dropped,
    zone_offset,
)
from journeylens.collect.zones import AMBIGUOUS, offsets_in
from journeylens.config import LANGUAGES, Config
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
_REJECTED_NOW = "_journeylens_rejected_now"  # the rows one ``stage`` call rejects
DERIVED_ID = "_derived_id"  # a staged row's id is the hash of the row (the row had none)
UNREAD_TIME = "unparseable_timestamp"
UNREAD_SAMPLE = 200  # unread times kept to find a --ts-format that reads them


@dataclass(frozen=True)
class Limits:
    """What a good row may contain."""

    max_field_chars: int
    max_properties_chars: int
    latest: datetime  # naive UTC: later timestamps are "in the future"
    timezone: str
    ts_format: str | None = None  # strptime format of timestamps given as text
    decimal_comma: bool = False  # numbers given as text are written 1.234,50
    placeholder_ids: tuple[str, ...] = ()  # ids read as missing (lower case)

    @classmethod
    def from_config(
        cls,
        config: Config,
        timezone: str = "UTC",
        ts_format: str | None = None,
        decimal_comma: bool = False,
    ) -> Limits:
        if timezone not in zoneinfo.available_timezones() and timezone != "UTC":
            raise ImportFileError(f"Unknown time zone '{timezone}'; use a name like Europe/Oslo.")
        if ts_format is not None:
            check_ts_format(ts_format)
        now = datetime.now(UTC).replace(tzinfo=None)
        return cls(
            config.max_field_chars,
            config.max_properties_chars,
            now + timedelta(hours=config.max_future_hours),
            timezone,
            ts_format,
            decimal_comma,
            config.placeholder_ids,
        )

    @property
    def utc(self) -> bool:
        return self.timezone == "UTC"


def check_ts_format(ts_format: str) -> None:
    """Refuse a timestamp format the engine cannot use, before anything is read."""
    if "%" not in ts_format:
        raise ImportFileError(
            f"Invalid --ts-format {ts_format!r}: use strptime codes, e.g. '%m/%d/%Y %H:%M'."
        )
    try:
        duckdb.connect().execute("SELECT try_strptime('', $f)", {"f": ts_format})
    except duckdb.Error as error:
        raise ImportFileError(f"Invalid --ts-format {ts_format!r}: {error}") from None


def _timestamp(col: str, dtype: pa.DataType, limits: Limits) -> str:
    """SQL that reads the batch's ``col`` to a naive UTC timestamp (NULL when it cannot; see
    :func:`.timestamps.read_time`)."""
    text = f"trim({batch_text(col)})"
    return read_time(f"b.{col}", text, dtype, limits.utc, limits.ts_format)


def _stage_name(text: str) -> str:
    """SQL: a stage's key or label as the SQL text ``text`` is looked up: trimmed, composed
    (NFC, so a decomposed "Övervägande" is the label) and in lower case. The workspace's names
    go through the same SQL (see :class:`BatchValidator`)."""
    return f"lower(nfc_normalize(trim({text})))"


def _stage_key(text: str) -> str:
    """SQL: the key of the stage the SQL text ``text`` names, NULL for none. A lookup, not a
    join (see ``one_of``). Text found as it is (composed, as nearly all is) skips the
    normalising, which takes three times the rest of the lookup on a label beyond ASCII; a row
    without a stage skips the lookup (at 4M rows: 0.004 s against 0.03 s)."""
    found = f"list_position($stage_names, lower(trim({text})))"
    normalised = f"list_position($stage_names, {_stage_name(text)})"
    return f"CASE WHEN {text} IS NOT NULL THEN $stage_keys[coalesce({found}, {normalised})] END"


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
    """(condition, reason, field, detail) in the order they are checked: the condition, field
    and detail as SQL over a parsed row ``p`` (with ``_row`` and ``_unknown`` when rejected)."""
    longest = _longest_member("p.properties")
    unnamed = zone_name_dropped("trim(p.ts_text)")
    ts_rules = [
        ("p.ts_text IS NULL", "missing_timestamp", "'ts'", "'the timestamp is empty'"),
        (
            "p.ts IS NULL",
            UNREAD_TIME,
            "'ts'",
            f"CASE WHEN {impossible_offset('trim(p.ts_text)')} "
            "THEN 'cannot read ''' || left(p.ts_text, 80) || ''': its offset from UTC is no "
            "real one (offsets run from -14:00 to +14:00, their minutes below 60)' "
            f"WHEN {zone_offset(unnamed)} = ' ?' "
            "THEN 'cannot read ''' || left(p.ts_text, 80) || ''': its zone''s abbreviation "
            f"''' || {abbreviation(unnamed)} || ''' stands for ' || "
            f"$zone_meanings[list_position($zone_names, {abbreviation(unnamed)})] || "
            "' (import with --timezone naming the zone the times are in to read it as there)' "
            "ELSE 'cannot read ''' || left(p.ts_text, 80) || ''' ' || $ts_reading END",
        ),
        (
            "p.ts > $latest",
            "future_timestamp",
            "'ts'",
            "'timestamp ' || CAST(p.ts AS VARCHAR) || ' UTC is in the future'",
        ),
        (
            "p.ts < $oldest",
            "implausible_timestamp",
            "'ts'",
            "'timestamp ' || CAST(p.ts AS VARCHAR) || ' is before 1990'",
        ),
    ]
    identity = [
        (
            "p.anonymous_id IS NULL AND p.user_id IS NULL",
            "missing_id",
            "'anonymous_id'",
            "'neither anonymous_id nor user_id is set (placeholders such as undefined or "
            "null count as missing; see import.placeholder_ids)'",
        )
    ]
    length = [
        (
            f"length(p.{c}) > $max_field",
            "field_too_long",
            f"'{c}'",
            f"'{c} has ' || length(p.{c}) || ' characters; the limit is ' || $max_field",
        )
        for c in TEXT_COLUMNS[kind]
        if c != "comment"
    ]
    comment = [
        (
            "length(p.comment) > $max_props",
            "field_too_long",
            "'comment'",
            "'comment has ' || length(p.comment) || ' characters; the limit is ' || $max_props",
        )
    ]
    properties = [
        (
            "p.properties_text IS NOT NULL AND NOT json_valid(p.properties_text)",
            "invalid_properties",
            "'properties'",
            "'properties is not valid JSON'",
        ),
        (
            "length(p.properties) > $max_props",
            "field_too_long",
            _kept_from(f"{longest}.k"),
            "'properties has ' || length(p.properties) || ' characters' || "
            f"coalesce(', ' || {longest}.n || ' of them in ' || {longest}.k, '') || "
            "'; the limit is ' || $max_props",
        ),
    ]
    stage = [
        (
            "p.stage_text IS NOT NULL AND p.stage IS NULL",
            "unknown_stage",
            "'stage'",
            "'unknown stage ''' || left(p.stage_text, 80) || '''; known: ' || $stages",
        ),
        (
            f"p.interaction IS NOT NULL AND NOT {one_of('p.interaction', INTERACTIONS)}",
            "unknown_interaction",
            "'interaction'",
            f"'interaction must be one of {', '.join(INTERACTIONS)}'",
        ),
    ]
    if kind == "events":
        specific = [
            ("p.event IS NULL", "missing_event", "'event'", "'the event name is empty'"),
            (
                f"NOT {one_of('p.type', EVENT_TYPES)}",
                "unknown_type",
                "'type'",
                f"'type must be one of {', '.join(EVENT_TYPES)}'",
            ),
            (
                "p.revenue_text IS NOT NULL AND p.revenue IS NULL",
                "invalid_revenue",
                "'revenue'",
                "'cannot read ''' || left(p.revenue_text, 80) || ''' ' || $number_reading "
                "|| CASE WHEN contains(p.revenue_text, ',') THEN $comma_hint ELSE '' END",
            ),
            (
                "isinf(p.revenue)",
                "invalid_revenue",
                "'revenue'",
                "'revenue ' || CAST(p.revenue AS VARCHAR) || ' is not a finite amount'",
            ),
            (
                "p.revenue < 0",
                "negative_revenue",
                "'revenue'",
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
            f"p.metric IS NULL OR NOT {one_of('p.metric', FEEDBACK_METRICS)}",
            "unknown_metric",
            "'metric'",
            "CASE WHEN p.metric IS NULL THEN 'the metric is empty; ' ELSE 'unknown metric ''' "
            "|| left(p.metric, 80) || '''; ' END || "
            f"'metric must be one of {', '.join(FEEDBACK_METRICS)}'",
        ),
        (
            "p.score IS NULL",
            "invalid_score",
            "'score'",
            "CASE WHEN p.score_text IS NULL THEN 'the score is empty' "
            "ELSE 'cannot read ''' || left(p.score_text, 80) || ''' as a score' END",
        ),
        (
            f"NOT (CASE p.metric {scales} END)",
            "score_out_of_range",
            "'score'",
            "'score ' || CAST(p.score AS VARCHAR) || ' is outside the scale of ' || p.metric",
        ),
        (
            "p.metric = 'nps' AND p.score <> floor(p.score)",
            "score_out_of_range",
            "'score'",
            "'score ' || CAST(p.score AS VARCHAR) || ' is not on the scale of nps: "
            "an answer is a whole number from 0 to 10'",
        ),
        (
            f"p.dimension IS NOT NULL AND NOT {one_of('p.dimension', DIMENSIONS)}",
            "unknown_dimension",
            "'dimension'",
            "'unknown dimension ''' || left(p.dimension, 80) || '''; "
            f"dimension must be one of {', '.join(DIMENSIONS)}'",
        ),
        (
            "p.sentiment_text IS NOT NULL AND (p.sentiment IS NULL OR abs(p.sentiment) > 1)",
            "invalid_sentiment",
            "'sentiment'",
            "'sentiment must be a number from -1 to 1'",
        ),
    ]
    # An answer needs no person: anonymous answers count (see ``columns.ANONYMOUS_KINDS``).
    return ts_rules + specific + length + comment + properties + stage


def _longest_member(obj: str) -> str:
    """SQL: ``{'n': characters, 'k': key}`` of the member of the JSON object ``obj`` whose
    value is written longest; NULL when ``obj`` is no object."""
    members = f"map_entries(TRY_CAST(CAST({obj} AS JSON) AS MAP(VARCHAR, JSON)))"
    sized = "lambda e: {'n': coalesce(length(e.value), 0), 'k': e.key}"
    return f"list_reverse_sort(list_transform({members}, {sized}))[1]"


def _kept_from(key: str) -> str:
    """SQL: the file's column that a rejected row ``p`` keeps in ``properties`` under the key
    ``key``: an unknown column of that name with a value, a flattened export's
    ``properties.<key>`` (see :func:`.columns.flattened_properties`), else ``properties``."""
    unknown = "json_keys(json_merge_patch('{}', to_json(p._unknown)))"
    flattened = f"{_sql_text(PROPERTIES_PREFIX)} || {key}"
    return (
        f"CASE WHEN list_contains({unknown}, {key}) THEN {key} "
        f"WHEN list_contains(json_keys(p._row), {flattened}) THEN {flattened} "
        "ELSE 'properties' END"
    )


def _screen(kind: str) -> str:
    """A cheap per-row test for "breaks some rule": non-zero when any rule fails.

    Every rule is evaluated as a flat boolean (no CASE branches per row), but for the length
    rules: they are folded into one byte-length test, which is never below the character
    length, and only rows over it count their characters (in a projection both sides of an
    AND are computed for every row; a CASE computes its branch for the rows it selects).
    """
    length_cols = [c for c in TEXT_COLUMNS[kind] if c != "comment"]
    longest = f"greatest({', '.join(f'coalesce(strlen(p.{c}), 0)' for c in length_cols)})"
    conditions = [cond for cond, code, _, _ in _rules(kind) if code != "field_too_long"]
    conditions.append(
        f"CASE WHEN {longest} > $max_field "
        f"THEN {longest.replace('strlen', 'length')} > $max_field ELSE false END"
    )
    conditions.append("length(p.properties) > $max_props")
    if kind == "feedback":
        conditions.append("length(p.comment) > $max_props")
    return " | ".join(
        f"(CAST(coalesce({cond}, false) AS BIGINT) << {i})" for i, cond in enumerate(conditions)
    )


def _given(col: str, dtype: pa.DataType) -> str:
    """The value as text, NULL when missing. Typed (non-text) values are never unreadable,
    so for them only their presence matters and no per-row text is built; but an object or a
    list (a JSON export's nested value) is no number or time: its text names it when rejected."""
    if _is_text(dtype):
        return batch_text(col)
    if _is_json(dtype):
        return f"CAST(to_json(b.{col}) AS VARCHAR)"
    return f"CASE WHEN b.{col} IS NULL THEN NULL ELSE 'typed' END"


def _is_json(dtype: pa.DataType) -> bool:
    """Whether values of ``dtype`` are objects or lists, or JSON of any kind (a JSON Lines key
    whose values differ in kind: the reader's JSON type)."""
    return pa.types.is_nested(dtype) or isinstance(dtype, pa.BaseExtensionType)


def _given_number(col: str, dtype: pa.DataType) -> str:
    """:func:`_given` for a number, where NaN and the text of a missing number are missing."""
    if _is_text(dtype) or _is_json(dtype):
        return unless_missing(_given(col, dtype))
    if pa.types.is_floating(dtype):
        return f"CASE WHEN b.{col} IS NULL OR isnan(b.{col}) THEN NULL ELSE 'typed' END"
    return _given(col, dtype)


def _is_text(dtype: pa.DataType) -> bool:
    return pa.types.is_string(dtype) or pa.types.is_large_string(dtype) or pa.types.is_null(dtype)


def _number(
    col: str, dtype: pa.DataType, decimal_comma: bool, money: bool = False, labelled: bool = False
) -> str:
    """SQL that reads ``col`` as a number (NULL when it cannot, or is NaN); see
    :func:`read_number`. ``labelled``: a number may come with its label after it, as survey
    tools export answers (``10 - Extremely likely``, ``5 (Very satisfied)``)."""
    if pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_decimal(dtype):
        return f"nullif(CAST(b.{col} AS DOUBLE), 'NaN'::DOUBLE)"
    number = read_number(batch_text(col), decimal_comma, money)
    if not labelled:
        return number
    text = f"trim({batch_text(col)})"
    label = number_before_label(text)
    # Only text that is no number pays for the pattern.
    return f"coalesce({number}, CASE WHEN TRY_CAST({text} AS DOUBLE) IS NULL THEN {label} END)"


def _extra_text(types: Mapping[str, pa.DataType]) -> str:
    """The unknown columns as JSON text, NULL when they are all empty (of a wide batch, made
    at the scan: see :func:`_narrowed`)."""
    return "b._extra_json" if _is_wide(types) else "to_json(b._extra)"


def _unknown(types: Mapping[str, pa.DataType]) -> str:
    """The unknown columns as they come (a struct; of a wide batch, its JSON made at the scan):
    only a rejected row's are written as JSON (see :func:`_kept_from`)."""
    return "b._extra_json" if _is_wide(types) else "b._extra"


def _extra_json(types: Mapping[str, pa.DataType]) -> str:
    """The unknown columns as one JSON object, GA4's ``event_params`` list as an object."""
    params = params_object(types)
    extra = _extra_text(types)
    if params is None:
        return extra
    whole = f"coalesce({params}, to_json(b._extra.event_params))"
    return f"json_merge_patch({extra}, json_object('event_params', {whole}))"


def _extra_patch(types: Mapping[str, pa.DataType]) -> str:
    """The unknown columns as the patch merged into the file's ``properties``: an empty one
    (null) would delete the key from them (a merge patch's null removes), so where the file
    has ``properties``, the nulls are dropped first (merged into ``{}``). A value in both is
    the column's."""
    extra = _extra_json(types)
    given = types.get("properties")
    if given is None or pa.types.is_null(given):
        return extra
    return f"json_merge_patch('{{}}', {extra})"


def _with_nested(
    source: str, types: Mapping[str, pa.DataType]
) -> tuple[str, dict[str, pa.DataType]]:
    """``source`` with the columns the file lacks taken from its nested values where it has
    them (see :mod:`.exports`), and the column types after that."""
    absent = [c for c in WHEN_ABSENT if c in types and pa.types.is_null(types[c])]
    found = {c: sql for c in absent if (sql := nested_value(c, types)) is not None}
    if not found:
        return source, dict(types)
    replaced = ", ".join(f"{sql} AS {column}" for column, sql in found.items())
    lifted = f"(SELECT * REPLACE ({replaced}) FROM {source} AS b)"
    lifted = with_texts(lifted, found, replace=True)
    return lifted, {**types, **dict.fromkeys(found, pa.string())}


def _parsed(kind: str, types: Mapping[str, pa.DataType], limits: Limits) -> str:
    """SELECT list that parses a batch ``b`` (joined to the stage names ``s``)."""
    id_col = "event_id" if kind == "events" else "feedback_id"
    coded: tuple[str, ...] = ("type", "metric", "stage", "interaction", "event", "currency", id_col)
    coded += ("anonymous_id", "user_id")
    if kind == "events":
        coded += (*CONTEXT_CAMPAIGN, "device")
    else:
        coded += ("language", "dimension")
    items = [f"{batch_text(c)} AS {c}" for c in TEXT_COLUMNS[kind] if c not in coded]
    if kind == "feedback":
        items.append(f"{_language(batch_text('language'))} AS language")
        items.append(f"{_key('dimension')} AS dimension")
    items += ids(kind, types)
    if kind == "events":
        items.append(f"{device_value(types)} AS device")
        items.append(f"{event_name(types)} AS event")
        currency = nested_value("currency", types) or "NULL"
        marked = marked_currency(batch_text("revenue")) if _is_text(types["revenue"]) else "NULL"
        items.append(f"coalesce({batch_text('currency')}, {currency}, {marked}) AS currency")
        items += [f"{from_context(c, types)} AS {c}" for c in CONTEXT_CAMPAIGN]
    # A row without an id gets a stable hash of the row as given, so re-imports match (identical
    # rows of one file are told apart when staged rows are de-duplicated: see ``importer``).
    items.append(
        f"CASE WHEN {batch_text(id_col)} IS NULL THEN substr(md5({_given_row(types)}), 1, 32) "
        f"ELSE {batch_text(id_col)} END AS {id_col}"
    )
    items.append(f"{batch_text(id_col)} IS NULL AS {DERIVED_ID}")
    props = properties_text(types)
    items += [
        f"{_given('ts', types['ts'])} AS ts_text",
        f"{_timestamp('ts', types['ts'], limits)} AS ts",
        # Received at the import's time, a row after the row before and a file after the file
        # before: the files' order, then each file's, orders events at one time.
        f"coalesce({_timestamp('received_at', types['received_at'], limits)}, "
        "$received + to_microseconds($line_base + b._line)) AS received_at",
        f"{batch_text('stage')} AS stage_text",
        f"{_stage_key('CAST(b.stage AS VARCHAR)')} AS stage",
        f"lower({batch_text('interaction')}) AS interaction",
        f"{props} AS properties_text",
        f"{_properties(types)} AS properties",
        "b._line AS _line",
    ]
    comma = limits.decimal_comma
    if kind == "events":
        revenue = nested_value("revenue", types) or "NULL"
        items += [
            f"{call_type(types)} AS type",
            f"coalesce({_given_number('revenue', types['revenue'])}, {unless_missing(revenue)}) "
            "AS revenue_text",
            f"coalesce({_number('revenue', types['revenue'], comma, money=True)}, "
            f"{read_number(nested_value('revenue', types, comma) or 'NULL', comma, money=True)}) "
            "AS revenue",
        ]
    else:
        items += [
            f"{_key('metric')} AS metric",
            f"{_given_number('score', types['score'])} AS score_text",
            f"{_score(types['score'], comma)} AS score",
            f"{_given_number('sentiment', types['sentiment'])} AS sentiment_text",
            f"{_number('sentiment', types['sentiment'], comma)} AS sentiment",
        ]
    return ",\n  ".join(items)


def _properties(types: Mapping[str, pa.DataType]) -> str:
    """SQL: the row's properties, its unknown columns merged in (see :func:`_extra_patch`),
    and an alias call's ``anonymousId`` that its ``previousId`` displaced (see
    :func:`displaced_id`); NULL for none."""
    props = properties_text(types)
    given = f"CASE WHEN json_valid({props}) THEN {props} END"
    merged = (
        f"NULLIF(CASE WHEN {_extra_text(types)} IS NULL THEN {given} "
        f"ELSE json_merge_patch(coalesce({given}, '{{}}'), {_extra_patch(types)}) END, '{{}}')"
    )
    displaced = displaced_id(types)
    if displaced is None:
        return merged
    kept = f"json_object('anonymousId', {displaced})"
    return (
        f"CASE WHEN {displaced} IS NULL THEN {merged} "
        f"ELSE json_merge_patch(coalesce({merged}, '{{}}'), {kept}) END"
    )


def _language(text: str) -> str:
    """SQL: a language tag as its primary subtag in lower case (``FI``, ``nb-NO``, ``zh_CN``,
    Qualtrics' ``ZH-S`` → ``fi``, ``nb``, ``zh``, ``zh``), Norwegian ``no`` as ``nb`` (the
    written standard journeylens names); text that is no language tag stays as given."""
    tag = f"regexp_full_match(trim({text}), '[A-Za-z]{{2,3}}([-_][A-Za-z0-9]{{1,8}})*')"
    primary = f"lower(regexp_extract(trim({text}), '^[A-Za-z]{{2,3}}'))"
    norwegian = f"CASE {primary} WHEN 'no' THEN 'nb' ELSE {primary} END"
    return f"CASE WHEN {tag} THEN {norwegian} ELSE {text} END"


def _key(col: str) -> str:
    """SQL: a value of a closed list of keys (a metric, a dimension) as its key: in lower
    case, without the spaces around it (``NPS``, `` ces ``, ``Ease``)."""
    return f"lower(trim({batch_text(col)}))"


def _score(dtype: pa.DataType, decimal_comma: bool) -> str:
    """SQL: the score, a number (with its label or not) or, as text, a rating word or a
    number out of the scale's top (``9/10``)."""
    number = _number("score", dtype, decimal_comma, labelled=True)
    if not _is_text(dtype):
        return number
    metric, text = _key("metric"), batch_text("score")
    return f"coalesce({number}, {rating(metric, text)}, {out_of(metric, text)})"


def _given_row(types: Mapping[str, pa.DataType]) -> str:
    """The row as given, as JSON (SQL over the batch ``b``; of a wide one, made at the scan:
    see :func:`_narrowed`)."""
    return "b._raw" if _is_wide(types) else _row_json(types, "b._raw")


def _row_json(types: Mapping[str, pa.DataType], raw: str) -> str:
    """SQL: the struct ``raw`` of the row as given, as JSON. Where records need not share their
    keys (``KEYS_VARY``: JSON Lines, XES), a key the record lacks is no member: the row, and the
    hash that stands in for its id, do not depend on the other records read with it."""
    row = f"to_json({raw})"
    return f"json_merge_patch('{{}}', {row})" if KEYS_VARY in types else row


def _is_wide(types: Mapping[str, pa.DataType]) -> bool:
    """Whether the batch has more than ``WIDE_COLUMNS`` unknown columns (see :func:`_narrowed`)."""
    extra = types.get("_extra")
    return extra is not None and pa.types.is_struct(extra) and extra.num_fields > WIDE_COLUMNS


# A field of the unknown columns the parsing reads: b._extra.name, b._extra."device_type".
_EXTRA_FIELD = re.compile(r'b\._extra\.("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_]*)')
_SOURCE = "__journeylens_source__"  # where the narrowed source goes in the queries
WIDE_COLUMNS = 100  # unknown columns beyond which a batch is narrowed at the scan


def _unquoted_name(identifier: str) -> str:
    """The name a SQL identifier (``name`` or ``"a ""quoted"" name"``) stands for."""
    if identifier.startswith('"'):
        return identifier[1:-1].replace('""', '"')
    return identifier


def _sql_text(text: str) -> str:
    """``text`` as a SQL string literal (a column name of the file's: quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _narrowed(source: str, types: Mapping[str, pa.DataType], queries: str) -> str:
    """``source``; for a wide batch (:func:`_is_wide`), with the row as given and the unknown
    columns as JSON text (``_raw``, ``_extra_json``), and ``_extra`` cut to the fields
    ``queries`` read.

    Every operator of a query holds its columns a vector at a time: a file of a thousand
    unknown columns carried as two structs through the parsing's steps needed gigabytes for a
    few rows. Narrowed at the scan, the steps above carry a few text columns. A narrow batch
    keeps its structs: the row's JSON is then made only for the rows that need it (no id, or
    rejected), which is cheaper.
    """
    if not _is_wide(types):
        return source
    fields = sorted(set(_EXTRA_FIELD.findall(queries)))
    extra = ", ".join(f"{_sql_text(_unquoted_name(f))}: _extra.{f}" for f in fields)
    kept = f"{{{extra}}} AS _extra" if fields else "NULL AS _extra"
    return (
        f"(SELECT * REPLACE ({_row_json(types, '_raw')} AS _raw, {kept}), "
        f"to_json(_extra) AS _extra_json FROM {source})"
    )


def _queries(
    kind: str, types: Mapping[str, pa.DataType], limits: Limits, source: str = "batch"
) -> tuple[str, str]:
    """(select the good rows, explain the rejected rows): each parses ``source`` in one pass.

    ``source`` is a relation shaped as :func:`columns.arrange` shapes a batch, with the column
    types ``types``. The good rows stream straight out; only when fewer rows came out than went
    in does the second query run, and only rejected rows (usually few) pay for the reason, the
    message and the row preview.
    """
    given = source
    # Each of the batch's columns as text (journeylens's own, ``_line`` and the like, aside).
    source = with_texts(_SOURCE, [c for c in types if not c.startswith("_")])
    if kind == "events":
        source, types = with_params(source, types)
        source, types = _with_nested(source, types)
    rules = _rules(kind)
    reason = " ".join(f"WHEN {cond} THEN '{code}'" for cond, code, _, _ in rules)
    field = " ".join(f"WHEN {cond} THEN {name}" for cond, _, name, _ in rules)
    detail = " ".join(f"WHEN {cond} THEN {msg}" for cond, _, _, msg in rules)

    def checked(raw: str) -> str:
        return f"""
WITH p AS (
  SELECT {_parsed(kind, types, limits)}{raw}
  FROM {source} AS b
), checked AS (SELECT p.*, {_screen(kind)} AS _bad FROM p)"""

    good = f"{checked('')}\nSELECT * EXCLUDE (_bad) FROM checked WHERE _bad = 0"
    bad = f"""{checked(f", {_given_row(types)} AS _row, {_unknown(types)} AS _unknown")}
SELECT p.* EXCLUDE (_bad, _row, _unknown),
  CASE {reason} END AS _reason,
  CASE {field} END AS _field,
  CASE {detail} END AS _detail,
  left(p._row, {ROW_PREVIEW_CHARS}) AS _row
FROM checked AS p
WHERE p._bad <> 0"""
    narrowed = _narrowed(given, types, good + bad)
    return good.replace(_SOURCE, narrowed), bad.replace(_SOURCE, narrowed)


@dataclass(frozen=True)
class Source:
    """Rows the engine reads itself: ``sql`` is a relation shaped like an arranged batch."""

    sql: str
    types: Mapping[str, pa.DataType]
    rows: int
    params: Mapping[str, object]


@dataclass(frozen=True)
class Target:
    """Where :meth:`BatchValidator.stage` puts the rows it reads."""

    staging: str
    columns: tuple[str, ...]  # the staged columns the parsed rows fill
    order_base: int  # added to ``_line`` for the ``_order`` column
    rejected: str
    rejected_params: dict[str, object]  # ``rejected_at``, ``kind`` and ``source``


class BatchValidator:
    """Parses and checks batches of one kind of input with one embedded DuckDB connection."""

    def __init__(self, kind: str, config: Config, limits: Limits) -> None:
        self.kind = kind
        self.limits = limits
        self.con = local_engine()
        self.con.execute(f"SET TimeZone = '{limits.timezone}'")  # validated against zoneinfo
        self.stage_names, self.stage_keys = self._stage_lookup(config)
        self.zone_offsets = offsets_in(limits.timezone)
        languages = [code for code in LANGUAGES if any(code in s.labels for s in config.stages)]
        labels = f", or their labels in {', '.join(languages)} (any case)" if languages else ""
        self.stage_list = ", ".join(config.stage_keys) + labels
        self._queries: dict[tuple[object, ...], tuple[str, str]] = {}
        # Times no reading understood (a sample, for the --ts-format hint: see ``timeformats``).
        self.unread_times: list[str] = []
        # A row without a receipt time is received at the import's time plus a microsecond per
        # line, the lines of the import's earlier files (``line_base``) counted first.
        self.received = datetime.now(UTC).replace(tzinfo=None)
        self.line_base = 0

    def _stage_lookup(self, config: Config) -> tuple[list[str], list[str]]:
        """(names, keys): each stage's key and labels as a row's stage is looked up (see
        :func:`_stage_name`), and case-folded as ``Config.resolve_stage`` compares a catalog's
        ("STRASSE" is the label 'Straße'), with the key of the stage each names."""
        named = [(name, s.key) for s in config.stages for name in (s.key, *s.labels.values())]
        lowered = self.con.execute(
            f"SELECT list_transform($names, lambda n: {_stage_name('n')})",
            {"names": [name for name, _ in named]},
        ).fetchall()[0][0]
        pairs = list(zip(lowered, [key for _, key in named], strict=True))
        lookup: dict[str, str] = {}
        for name, key in [*pairs, *((name.casefold(), key) for name, key in pairs)]:
            lookup.setdefault(name, key)
        return list(lookup), list(lookup.values())

    def check(self, batch: pa.Table) -> tuple[pa.Table, pa.Table]:
        """Parse ``batch`` (from :func:`columns.arrange`): (good rows, rejected rows).

        Rejected rows carry ``_reason``, ``_field``, ``_detail`` and ``_row`` (the row as given).
        """
        types = {f.name: f.type for f in batch.schema}
        good, bad = self._cached(types, "batch")
        self.con.register("batch", batch)
        params = self._params()
        try:
            accepted = self.con.execute(good, _bound(good, params)).to_arrow_table()
            if accepted.num_rows == batch.num_rows:
                return accepted, self.con.execute(
                    f"SELECT * FROM ({bad}) LIMIT 0", _bound(bad, params)
                ).to_arrow_table()
            rejected = self.con.execute(bad, _bound(bad, params)).to_arrow_table()
            unread = rejected.filter(pc.equal(rejected.column("_reason"), UNREAD_TIME))
            self._note_unread(unread.column("ts_text").unique().to_pylist())
            return accepted, rejected
        finally:
            self.con.unregister("batch")

    def stage(self, con: duckdb.DuckDBPyConnection, source: Source, target: Target) -> Counter[str]:
        """Parse and check ``source`` on ``con`` (the store's own connection), inserting good
        rows into ``target.staging`` and rejected ones into ``target.rejected``, with no row
        passing through Python. Returns the rejections by reason, in order of first line.
        """
        good, bad = self._cached(source.types, source.sql)
        params = {**self._params(), **source.params}
        zone = con.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
        con.execute(f"SET TimeZone = '{self.limits.timezone}'")  # validated against zoneinfo
        # Staged rows carry their order (``_order``): the threads may insert them as they come.
        con.execute("SET preserve_insertion_order = false")
        try:
            staged = con.execute(
                f"INSERT INTO {target.staging} BY NAME SELECT {', '.join(target.columns)}, "
                f"{DERIVED_ID}, {target.order_base} + _line AS _order FROM ({good})",
                _bound(good, params),
            ).fetchall()[0][0]
            if staged == source.rows:
                return Counter()
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE {_REJECTED_NOW} AS SELECT $rejected_at AS "
                "rejected_at, $kind AS kind, $source AS source, _line AS line, _field AS field, "
                f"_reason AS reason, _detail AS detail, _row AS row, ts_text FROM ({bad})",
                _bound(bad, params) | target.rejected_params,
            )
            con.execute(
                f"INSERT INTO {target.rejected} BY NAME "
                f"SELECT * EXCLUDE (ts_text) FROM {_REJECTED_NOW}"
            )
            if len(self.unread_times) < UNREAD_SAMPLE:
                unread = con.execute(
                    f"SELECT DISTINCT ts_text FROM {_REJECTED_NOW} WHERE reason = $reason "
                    f"LIMIT {UNREAD_SAMPLE}",
                    {"reason": UNREAD_TIME},
                ).fetchall()
                self._note_unread([text for (text,) in unread])
            counts = con.execute(
                f"SELECT reason, count(*) FROM {_REJECTED_NOW} GROUP BY reason ORDER BY min(line)"
            ).fetchall()
            return Counter(dict(counts))
        finally:
            con.execute(f"DROP TABLE IF EXISTS {_REJECTED_NOW}")
            con.execute(f"SET TimeZone = '{zone}'")
            con.execute("RESET preserve_insertion_order")

    def _note_unread(self, texts: list[str | None]) -> None:
        room = UNREAD_SAMPLE - len(self.unread_times)
        self.unread_times += [t for t in texts if t is not None][: max(room, 0)]

    def _cached(self, types: Mapping[str, pa.DataType], source: str) -> tuple[str, str]:
        # The SQL depends on the source and on every column's type (unknown columns' too).
        key = (source, *(f"{name}: {dtype}" for name, dtype in types.items() if name != "_raw"))
        if key not in self._queries:
            self._queries[key] = _queries(self.kind, types, self.limits, source)
        return self._queries[key]

    def _params(self) -> dict[str, object]:
        return {
            "latest": self.limits.latest,
            "oldest": OLDEST,
            "received": self.received,
            "line_base": self.line_base,
            "max_field": self.limits.max_field_chars,
            "max_props": self.limits.max_properties_chars,
            "placeholder_ids": list(self.limits.placeholder_ids),
            "placeholder_pattern": lower_match(self.limits.placeholder_ids),
            "stages": self.stage_list,
            "stage_names": self.stage_names,
            "stage_keys": self.stage_keys,
            "rating_words": list(RATING_WORDS),
            "rating_tops": list(RATING_WORDS.values()),
            "yes_no_words": list(YES_NO_WORDS),
            "yes_no_tops": list(YES_NO_WORDS.values()),
            "ts_format": self.limits.ts_format,
            "ts_format_offset": (self.limits.ts_format or "").replace("%Z", "%z"),
            "zone_names": list(self.zone_offsets),
            "zone_offsets": [f" {o}" if o else o for o in self.zone_offsets.values()],
            "zone_meanings": [AMBIGUOUS.get(name, "") for name in self.zone_offsets],
            "ts_reading": (
                f"with the format '{self.limits.ts_format}'"
                if self.limits.ts_format is not None
                else "as an ISO-8601 timestamp or epoch number (import with --ts-format, "
                "e.g. '%d.%m.%Y %H:%M', for another layout)"
            ),
            "number_reading": (
                "as a number with a decimal comma (1.234,50)"
                if self.limits.decimal_comma
                else "as a number"
            ),
            "comma_hint": "" if self.limits.decimal_comma else " (import with --decimal-comma?)",
        }

    def close(self) -> None:
        self.con.close()


def _bound(query: str, params: dict[str, object]) -> dict[str, object]:
    """The parameters ``query`` uses (DuckDB refuses unused ones)."""
    return {k: v for k, v in params.items() if f"${k}" in query}
