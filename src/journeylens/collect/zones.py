"""Zone abbreviations as the tz database writes them (``BST``, ``EDT``, ``CEST``): the offset
each stands for, to read a time that ends in one.

Python's ``%Z``, PHP's ``T``, Java's ``z``, Go and ``date`` write a time's zone as the tz
database abbreviates it. DuckDB reads few of these, and some as other zones (the JDK's old
three-letter ids): ``BST`` as Bangladesh (+06:00), not British Summer Time, ``AST`` as Alaska,
``NST`` as New Zealand, ``SST`` as the Solomon Islands. The importer reads each as the offset
below instead; an abbreviation that stands for several (``CST``: North America, Cuba, China)
only in an import whose ``--timezone`` uses it, as that zone uses it.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta
from functools import lru_cache

__all__ = ["ABBREVIATIONS", "AMBIGUOUS", "FROM_YEAR", "offsets_in", "used_in"]

FROM_YEAR = 1990  # the oldest time an import accepts: the offsets below are those since

# Each alphabetic abbreviation the tz database gives one offset since 1990, in capitals (as
# they are looked up), but for those that are also a zone's name (``CET``, ``EST``, ``UTC``:
# read as that zone) and ``GST`` (Guam's until 2000 there; Gulf Standard Time, +04:00, to most
# who write it).
ABBREVIATIONS = {
    "ACDT": "+10:30",
    "ACST": "+09:30",
    "ADT": "-03:00",
    "AEDT": "+11:00",
    "AEST": "+10:00",
    "AKDT": "-08:00",
    "AKST": "-09:00",
    "AST": "-04:00",
    "AWDT": "+09:00",
    "AWST": "+08:00",
    "BST": "+01:00",
    "CAT": "+02:00",
    "CEST": "+02:00",
    "CHST": "+10:00",  # ChST (Guam)
    "EAT": "+03:00",
    "EDT": "-04:00",
    "EEST": "+03:00",
    "HDT": "-09:00",
    "HKT": "+08:00",
    "IDT": "+03:00",
    "JST": "+09:00",
    "MDT": "-06:00",
    "MEST": "+02:00",
    "MSD": "+04:00",
    "NDT": "-02:30",
    "NST": "-03:30",
    "NZDT": "+13:00",
    "NZST": "+12:00",
    "PKST": "+06:00",
    "PKT": "+05:00",
    "SAST": "+02:00",
    "SST": "-11:00",
    "WAT": "+01:00",
    "WEST": "+01:00",
    "WIB": "+07:00",
    "WIT": "+09:00",
    "WITA": "+08:00",
}

# The abbreviations the tz database gives several offsets since 1990, and where it gives each.
AMBIGUOUS = {
    "CDT": "-05:00 in North America, -04:00 in Cuba, +09:00 in China until 1991",
    "CST": "-06:00 in North America, -05:00 in Cuba, +08:00 in China and Taiwan",
    "IST": "+05:30 in India, +02:00 in Israel, +01:00 in Ireland",
    "KST": "+09:00 in Korea, +08:30 in North Korea from 2015 to 2018",
    "MSK": "+03:00 in Moscow, +04:00 there from 2011 to 2014",
    "PDT": "-07:00 in North America, +09:00 in the Philippines in 1990",
    "PST": "-08:00 in North America, +08:00 in the Philippines",
}


def used_in(zone: str, until: int) -> dict[str, set[str]]:
    """The alphabetic abbreviations ``zone`` has used from :data:`FROM_YEAR` to the end of
    ``until``, with the offsets it used each with (a week apart: no zone changes for less).

    Examples
    --------
    >>> used_in("Europe/London", 2026)
    {'GMT': {'+00:00'}, 'BST': {'+01:00'}}
    """
    info = zoneinfo.ZoneInfo(zone)
    used: dict[str, set[str]] = {}
    at = datetime(FROM_YEAR, 1, 1, tzinfo=UTC)
    while at.year <= until:
        local = at.astimezone(info)
        name, offset = local.tzname() or "", local.utcoffset() or timedelta()
        if name.isalpha():
            used.setdefault(name, set()).add(_written(offset))
        at += timedelta(days=7)
    return used


@lru_cache
def offsets_in(timezone: str) -> dict[str, str]:
    """The offset each abbreviation stands for in an import read in ``timezone``: those of
    :data:`ABBREVIATIONS`, and each of :data:`AMBIGUOUS` as ``timezone`` uses it: its offset,
    ``""`` where it has used it with several (the time is then read in ``timezone``), ``"?"``
    where it never has (the time is not read).

    Examples
    --------
    >>> offsets_in("America/Chicago")["CST"], offsets_in("Europe/Oslo")["CST"]
    ('-06:00', '?')
    >>> offsets_in("Europe/Moscow")["MSK"], offsets_in("UTC")["BST"]
    ('', '+01:00')
    """
    used = used_in(timezone, datetime.now(UTC).year + 1) if timezone != "UTC" else {}
    resolved = {name: _one(used.get(name, set())) for name in AMBIGUOUS}
    return ABBREVIATIONS | resolved


def _one(offsets: set[str]) -> str:
    if not offsets:
        return "?"
    return next(iter(offsets)) if len(offsets) == 1 else ""


def _written(offset: timedelta) -> str:
    minutes = int(offset.total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"
