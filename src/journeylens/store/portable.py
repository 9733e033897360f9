"""Expressions spelled so that every engine gives the same answer.

Ibis compiles some operations to SQL whose meaning differs between engines. The analyses use the
spellings here instead of the plain Ibis call:

- ``ts.epoch_seconds()`` is ``epoch(ts)`` on DuckDB, a float with the microseconds, and
  ``unix_timestamp(ts)`` on Spark, whole seconds; a cast to an integer then rounds on DuckDB and
  truncates on Spark. :func:`epoch_seconds` floors on both.
- ``bit_or``: Ibis has no Spark rule for ``x.bit_or()``; both engines have the aggregate
  ``bit_or``, called here by name.
- ``value.hash()`` passes DuckDB's unsigned 64-bit hash through a cast to ``BIT`` (an eighth of
  a second per 10M values); :func:`value_code` shifts it into an ``int64`` instead.
- JSON: Ibis reads a JSON value on Spark with Python UDFs over ``get_json_object``, which
  fail on string values (it returns them unquoted) and ship every row to Python.
  :func:`json_string` and :func:`json_number` use Spark's own ``VARIANT`` functions instead,
  and Ibis's JSON operations on every other engine.
"""

from __future__ import annotations

import uuid
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir
from ibis.common.exceptions import IbisError

__all__ = [
    "KEY_CHARS",
    "KEY_PART",
    "KEY_START",
    "bit_or",
    "epoch_seconds",
    "json_boolean",
    "json_number",
    "json_string",
    "read_once",
    "value_code",
]

# One name in a JSON property key: letters, digits, '_', '$' (PostHog's ``$current_url``), '-'
# and ':' (XES's ``org:resource``, ``case:priority``), not starting with a digit, '-' or ':'. A
# key is such names joined by dots, each a step into a nested object; every name is quoted in
# the path, so none of these characters is read as syntax.
KEY_START, KEY_CHARS = "A-Za-z_$", "A-Za-z0-9_$:-"
KEY_PART = rf"[{KEY_START}][{KEY_CHARS}]*"

# Spark's names (schema_of_variant) of the JSON values that are numbers.
_SPARK_NUMBERS = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT")


def epoch_seconds(ts: ir.TimestampValue) -> ir.IntegerValue:
    """Whole seconds since 1970-01-01 (UTC), ``ts`` floored to the second, on every engine.

    Examples
    --------
    >>> import ibis
    >>> from datetime import datetime
    >>> t = ibis.memtable({"ts": [datetime(1970, 1, 1, 0, 0, 1, 900000)]})
    >>> int(epoch_seconds(t.ts).execute().iloc[0])
    1
    """
    return ts.epoch_seconds().floor()


@ibis.udf.agg.builtin(name="bit_or")
def _bit_or(x: int) -> int:  # type: ignore[empty-body]
    """The engine's own ``bit_or`` aggregate."""


def bit_or(value: ir.IntegerColumn) -> ir.IntegerScalar:
    """Bitwise OR of ``value`` over a group, on every engine.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"g": ["x", "x", "y"], "bit": [1, 4, 2]})
    >>> t.group_by("g").aggregate(mask=bit_or(t.bit)).order_by("g").execute()["mask"].tolist()
    [5, 2]
    """
    result: ir.IntegerScalar = _bit_or(value)
    return result


@ibis.udf.scalar.builtin(name="hash")
def _hash(value: str) -> dt.UInt64:
    """DuckDB's ``hash``: an unsigned 64-bit hash of the value."""


def value_code(value: ir.StringValue) -> ir.IntegerValue:
    """An ``int64`` code of each text value: a hash of it (63 bits on DuckDB, 32 on Spark),
    the same for equal values, so that an analysis can carry and compare codes where the text
    costs more. Distinct values may share a code: whoever codes values checks that the values
    it meets did not (see ``journeylens.analytics._touches.key_codes``).

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"v": ["pricing", "blog", "pricing"]})
    >>> codes = value_code(t.v).execute().tolist()
    >>> codes[0] == codes[2] != codes[1]
    True
    """
    if _on_spark(value):
        return value.hash().cast("int64")
    # Ibis types the shift as int64 and would drop a cast to it: through uint64, the cast stays.
    return (_hash(value) >> 1).cast("uint64").cast("int64")


def json_string(text: ir.StringValue, key: str) -> ir.StringValue:
    """The value at ``key`` of a JSON object held as text when it is a string, else null.

    ``key`` is a name (see ``KEY_PART``), or names joined by dots for a value inside nested
    objects (``event_properties.plan``); callers validate it.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"p": ['{"plan": "pro"}', '{"plan": 3}', None, '{"a": {"plan": "x"}}']})
    >>> json_string(t.p, "plan").execute().tolist()
    ['pro', None, None, None]
    >>> json_string(t.p, "a.plan").execute().tolist()
    [None, None, None, 'x']
    >>> t = ibis.memtable({"p": ['{"$browser": "Firefox", "browser": "no"}']})
    >>> json_string(t.p, "$browser").execute().tolist()
    ['Firefox']
    """
    if not _on_spark(text):
        return _json_at(text, key).unwrap_as("string")
    value, kind = _spark_value(text, key)
    return ibis.ifelse(kind == "STRING", _try_variant_text(value, "$", "string"), ibis.null())


def json_number(text: ir.StringValue, key: str) -> ir.FloatingValue:
    """The value at ``key`` of a JSON object held as text when it is a number, else null.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"p": ['{"n": 2}', '{"n": 1.5}', '{"n": "2"}']})
    >>> json_number(t.p, "n").execute().tolist()
    [2.0, 1.5, nan]
    """
    if not _on_spark(text):
        return _json_at(text, key).unwrap_as("float64")
    value, kind = _spark_value(text, key)
    number = kind.isin(_SPARK_NUMBERS) | kind.startswith("DECIMAL")
    return ibis.ifelse(number, _try_variant_number(value, "$", "double"), ibis.null())


def json_boolean(text: ir.StringValue, key: str) -> ir.BooleanValue:
    """The value at ``key`` of a JSON object held as text when it is ``true`` or ``false``,
    else null.

    Examples
    --------
    >>> import ibis
    >>> t = ibis.memtable({"p": ['{"vip": true}', '{"vip": false}', '{"vip": "true"}', None]})
    >>> json_boolean(t.p, "vip").execute().tolist()
    [True, False, None, None]
    """
    if not _on_spark(text):
        return _json_at(text, key).unwrap_as("boolean")
    value, kind = _spark_value(text, key)
    return ibis.ifelse(kind == "BOOLEAN", _try_variant_boolean(value, "$", "boolean"), ibis.null())


def _json_at(text: ir.StringValue, key: str) -> ir.JSONValue:
    """The JSON value at ``key`` (dots step into nested objects), through a path whose names are
    quoted: Ibis's own ``value[name]`` reads ``$browser`` as the key ``browser``."""
    path = "$" + "".join(f'."{name}"' for name in key.split("."))
    return _json_extract(text.cast("json"), path)


@ibis.udf.scalar.builtin(name="json_extract")
def _json_extract(value: dt.JSON, path: str) -> dt.JSON:
    """The engine's ``json_extract``: the JSON value at ``path``, or null."""


def read_once(table: ir.Table, now: bool = False) -> ir.Table:
    """``table``, which a query will read several times, computed once: on Spark, which plans a
    step again wherever a query reads it (a walk that joins a step with itself each round
    doubles its plan every round), computed now and read from there; elsewhere as it is
    (DuckDB plans a shared step once), or with ``now`` computed into a temporary table: DuckDB
    too plans a step again where a step that reads it twice is itself read twice, so a walk's
    plan doubles every round there as well (a walk of eleven rounds ran out of memory).

    On Spark the rows are checkpointed, which also cuts their lineage: a cache keeps the whole
    plan behind it, and the doubled plan ran out of memory all the same."""
    spark = _on_spark(table)
    if not spark and not now:
        return table
    backend: Any = ibis.get_backend(table)
    name = f"_read_once_{uuid.uuid4().hex[:12]}"
    if not spark:
        return backend.create_table(name, table, temp=True)
    backend._run_pre_execute_hooks(table)  # registers memtables and UDFs
    rows = backend._session.sql(backend.compile(table)).localCheckpoint(eager=True)
    rows.createOrReplaceTempView(name)
    return backend.table(name)


def _on_spark(expr: ir.Expr) -> bool:
    try:
        return bool(ibis.get_backend(expr).name == "pyspark")
    except IbisError:  # an unbound expression: no engine to adapt to
        return False


def _spark_value(text: ir.StringValue, key: str) -> tuple[Any, ir.StringValue]:
    path = "$" + "".join(f"['{name}']" for name in key.split("."))
    value = _variant_get(_try_parse_json(text), path)
    return value, _schema_of_variant(value)


# Spark SQL functions, called by name; the VARIANT values they pass on are typed as text here.
@ibis.udf.scalar.builtin(name="try_parse_json")
def _try_parse_json(text: str) -> str:
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="variant_get")
def _variant_get(value: str, path: str) -> str:
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="schema_of_variant")
def _schema_of_variant(value: str) -> str:
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="try_variant_get")
def _try_variant_text(value: str, path: str, kind: str) -> str:
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="try_variant_get")
def _try_variant_boolean(value: str, path: str, kind: str) -> bool:
    raise NotImplementedError


@ibis.udf.scalar.builtin(name="try_variant_get")
def _try_variant_number(value: str, path: str, kind: str) -> float:
    raise NotImplementedError
