"""The canonical tables and their columns, in one place.

Timestamps are stored as naive UTC timestamps on every engine: the importers convert any offset
to UTC on the way in, so the engines never have to agree on time zones.
"""

from __future__ import annotations

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

EVENTS = ibis.schema(
    {
        "event_id": "string",
        "ts": "timestamp",
        "received_at": "timestamp",
        "event": "string",
        "type": "string",
        "anonymous_id": "string",
        "user_id": "string",
        "person_id": "string",
        "session_id": "string",
        "person_key": "int64",
        "person_seq": "int64",
        "touchpoint": "string",
        "stage": "string",
        "channel": "string",
        "device": "string",
        "interaction": "string",
        "source": "string",
        "medium": "string",
        "campaign": "string",
        "revenue": "float64",
        "currency": "string",
        "properties": "string",
        "derived": "int8",
    }
)

FEEDBACK = ibis.schema(
    {
        "feedback_id": "string",
        "ts": "timestamp",
        "received_at": "timestamp",
        "anonymous_id": "string",
        "user_id": "string",
        "person_id": "string",
        "touchpoint": "string",
        "stage": "string",
        "channel": "string",
        "device": "string",
        "interaction": "string",
        "metric": "string",
        "score": "float64",
        "dimension": "string",
        "comment": "string",
        "language": "string",
        "sentiment": "float64",
        "properties": "string",
        "derived": "int8",
    }
)

TOUCHPOINTS = ibis.schema(
    {
        "touchpoint": "string",
        "match": "string",
        "stage": "string",
        "channel": "string",
        "kind": "string",
        "cost": "float64",
        "cost_period": "string",
        "owner": "string",
        "content_type": "string",
    }
)

REJECTED = ibis.schema(
    {
        "rejected_at": "timestamp",
        "kind": "string",
        "source": "string",
        "line": "int64",
        "field": "string",
        "reason": "string",
        "detail": "string",
        "row": "string",
    }
)

# A change a team made to a touchpoint ("new payment form"), so analyses can compare before/after.
ANNOTATIONS = ibis.schema(
    {
        "annotation_id": "string",
        "touchpoint": "string",
        "ts": "timestamp",
        "note": "string",
        "created_at": "timestamp",
    }
)

TABLES: dict[str, ibis.Schema] = {
    "events": EVENTS,
    "feedback": FEEDBACK,
    "touchpoints": TOUCHPOINTS,
    "rejected": REJECTED,
    "annotations": ANNOTATIONS,
}

# Columns an importer fills from the file; the rest are derived by journeylens.
# ``person_key`` numbers the people (see ``journey.rebuild``) and ``person_seq`` numbers each
# person's events in ``SEQUENCE_ORDER`` from 1: integer keys for fast windows and joins.
DERIVED_EVENT_COLUMNS = ("person_id", "session_id", "person_key", "person_seq")
# Which placement columns journeylens filled, as bits of ``derived`` (events and feedback): the
# rest came with the data. A new catalog places again what it derived and keeps what was given.
DERIVED_BITS = {"touchpoint": 1, "stage": 2, "channel": 4}
# What tells answers apart: a survey response (its id) holds one answer per metric and
# dimension (an NPS and a CSAT score, a CSAT per aspect), so an id alone is no answer's.
ANSWER_KEY = ("feedback_id", "metric", "dimension")
# What orders a person's events: time, then as received (a file's rows in its order), then id.
SEQUENCE_ORDER = ("ts", "received_at", "event_id")

EVENT_TYPES = ("track", "page", "screen", "identify", "alias", "group")
FEEDBACK_METRICS = ("nps", "csat", "ces", "success", "emotion")
# Inclusive score ranges per feedback metric.
FEEDBACK_SCALES: dict[str, tuple[float, float]] = {
    "nps": (0, 10),
    "csat": (1, 5),
    "ces": (1, 7),
    "success": (0, 1),
    "emotion": (1, 5),
}
DIMENSIONS = (
    "information",
    "ease",
    "self_service",
    "personalization",
    "communication",
    "helpfulness",
)
INTERACTIONS = ("self_service", "assisted")
TOUCHPOINT_KINDS = ("owned", "paid", "earned")
COST_PERIODS = ("day", "week", "month", "quarter", "year", "total")


def arrow_schema(schema: ibis.Schema) -> pa.Schema:
    """The Arrow schema of a canonical table (timestamps in microseconds, naive UTC)."""
    fields = []
    for name, dtype in schema.items():
        if dtype.is_timestamp():
            fields.append(pa.field(name, pa.timestamp("us")))
        else:
            fields.append(pa.field(name, dt.dtype(dtype).to_pyarrow()))
    return pa.schema(fields)


def in_schema(table: ibis.Table, schema: ibis.Schema) -> ibis.Table:
    """``table`` in the columns of ``schema``, in its order and types: a column ``table`` lacks
    (added since it was written, derived later, or never filled) is null."""
    return table.select(
        **{
            name: table[name] if name in table.columns else ibis.null(dtype)
            for name, dtype in schema.items()
        }
    )
