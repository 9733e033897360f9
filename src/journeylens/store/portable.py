"""Expressions spelled so that every engine gives the same answer.

Ibis compiles some operations to SQL whose meaning differs between engines. The analyses use the
spellings here instead of the plain Ibis call:

- ``ts.epoch_seconds()`` is ``epoch(ts)`` on DuckDB, a float with the microseconds, and
  ``unix_timestamp(ts)`` on Spark, whole seconds; a cast to an integer then rounds on DuckDB and
  truncates on Spark. :func:`epoch_seconds` floors on both.
"""

from __future__ import annotations

import ibis.expr.types as ir

__all__ = ["epoch_seconds"]


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
