"""Which ``--ts-format`` would read the times an import could not: a hint, never a guess applied.

Times that are neither ISO 8601 nor epoch numbers are tried against common layouts (US and
European dates, two-digit years, month names, dots and dashes, 12-hour clocks, a comma before
the clock as JavaScript's ``toLocaleString()`` writes it, C's ``asctime()``) with the same
parser the import uses. Layouts that read every sampled time to a plausible date are offered;
when both month-first and day-first read them (no day above 12 in the sample), both are, and the
user picks.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import duckdb

__all__ = ["LAYOUTS", "readable_with"]

_CLOCKS = (
    *(
        f"{between}{clock}"
        for between in (" ", ", ")
        for clock in ("%H:%M:%S", "%H:%M", "%I:%M:%S %p", "%I:%M %p")
    ),
    "",
)
_DATES = (
    "%Y-%m-%d",  # with a 12-hour clock: the import reads it with a 24-hour one
    "%m/%d/%Y",
    "%d/%m/%Y",
    "%m/%d/%y",
    "%d/%m/%y",
    "%d.%m.%Y",
    "%d.%m.%y",
    "%d-%m-%Y",
    "%m-%d-%Y",
    "%Y/%m/%d",
    "%Y.%m.%d",
    "%d-%b-%Y",
    "%d-%b-%y",
    "%d %b %Y",
    "%d %B %Y",
    "%b %d, %Y",
    "%B %d, %Y",
    "%b %d %Y",
    "%Y%m%d",
)
LAYOUTS = (*(date + clock for date in _DATES for clock in _CLOCKS), "%a %b %d %H:%M:%S %Y")
OLDEST_YEAR = 1990


def readable_with(samples: Sequence[str], now: datetime | None = None) -> list[str]:
    """The layouts of :data:`LAYOUTS` that read every one of ``samples`` to a time between
    1990 and next year, most specific first (a layout with seconds before one without).

    Examples
    --------
    >>> readable_with(["12/1/2010 8:26", "12/13/2010 8:34"])
    ['%m/%d/%Y %H:%M']
    >>> readable_with(["1/2/2026"])
    ['%m/%d/%Y', '%d/%m/%Y']
    >>> readable_with(["31.12.2025 23:59:01"])
    ['%d.%m.%Y %H:%M:%S']
    >>> readable_with(["Jul 1, 2025, 10:00:00 AM"])
    ['%b %d, %Y, %I:%M:%S %p']
    >>> readable_with(["not a time"])
    []
    """
    texts = [s.strip() for s in samples if s and s.strip()]
    if not texts:
        return []
    latest = (now or datetime.now()).year + 1
    # One pass over the samples, a column per layout. The layouts are this module's constants
    # (DuckDB wants a constant format), written as SQL strings; the samples are bound.
    checks = ", ".join(
        f"bool_and(coalesce(year(try_strptime(s, '{layout}')) BETWEEN $oldest AND $latest, false))"
        for layout in LAYOUTS
    )
    params = {"texts": texts, "oldest": OLDEST_YEAR, "latest": latest}
    with duckdb.connect() as con:
        row = con.execute(f"SELECT {checks} FROM unnest($texts) AS t(s)", params).fetchall()[0]
    return [layout for layout, reads in zip(LAYOUTS, row, strict=True) if reads]
