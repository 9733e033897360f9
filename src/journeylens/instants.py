"""Instants as journeylens keeps them: naive datetimes in UTC.

Every time a user gives (``since``, ``until``, an annotation's date, a drop-off's ``as_of``) goes
through :func:`naive_utc`, so an aware datetime is converted rather than read as if it were UTC,
and a date or ISO 8601 text works wherever a datetime does.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from journeylens.errors import SpecError


def naive_utc(when: datetime | date | str, what: str = "time") -> datetime:
    """``when`` as a naive UTC datetime: an aware one converted, a naive one taken as UTC, a
    date at its midnight, text read as ISO 8601 (its offset converted).

    >>> from datetime import timedelta, timezone
    >>> naive_utc(datetime(2026, 9, 1, 2, 0, tzinfo=timezone(timedelta(hours=2))))
    datetime.datetime(2026, 9, 1, 0, 0)
    >>> naive_utc("2026-09-01"), naive_utc(date(2026, 9, 1)) == naive_utc("2026-09-01T00:00Z")
    (datetime.datetime(2026, 9, 1, 0, 0), True)
    >>> naive_utc(np.datetime64("2026-09-01T10:00"))
    datetime.datetime(2026, 9, 1, 10, 0)
    """
    if isinstance(when, np.datetime64):  # a value taken out of a pandas or numpy column
        when = pd.Timestamp(when).to_pydatetime()
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise SpecError(
                f"Cannot read the {what} {when!r}: write YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS "
                "(UTC unless it carries an offset)."
            ) from exc
    if not isinstance(when, datetime):
        if isinstance(when, date):
            return datetime(when.year, when.month, when.day)
        raise SpecError(f"The {what} must be a datetime, a date or ISO 8601 text, not {when!r}.")
    if when.tzinfo is not None:
        return when.astimezone(UTC).replace(tzinfo=None)
    return when


def naive_utc_or_none(when: datetime | date | str | None, what: str = "time") -> datetime | None:
    """:func:`naive_utc`, with None kept."""
    return None if when is None else naive_utc(when, what)
