"""Reading a column's times as naive UTC, in SQL: what :mod:`.validate` parses ``ts`` with.

Typed timestamps (with a zone or naive, in the import's time zone) and dates; epoch numbers in
seconds, milliseconds, microseconds or nanoseconds, read from their size; text in ISO 8601 and
the spellings other tools write (mail and HTTP dates, Java's and JavaScript's ``toString()``,
Go's ``time.Now()``, offsets after ``UTC``/``GMT``, zone abbreviations read as the offsets they
stand for: see :mod:`.zones`); or text in the one ``--ts-format`` given. Every function returns
SQL over SQL it is given; values are bound as parameters (``$ts_format``, ``$zone_names``,
``$zone_offsets``), never written into the text.
"""

from __future__ import annotations

import pyarrow as pa

from journeylens.collect.exports import sql_strings

__all__ = [
    "abbreviation",
    "impossible_offset",
    "read_time",
    "zone_name_dropped",
    "zone_offset",
]


def read_time(value: str, text: str, dtype: pa.DataType, utc: bool, ts_format: str | None) -> str:
    """SQL that reads a column to a naive UTC timestamp (NULL when it cannot): ``value`` is the
    column (SQL) and ``text`` its trimmed text, NULL where blank (SQL); ``dtype`` its type.

    Naive times are in the import's time zone (the session's ``TimeZone``) unless ``utc``.
    With ``ts_format``, text is read with that strptime format (bound as ``$ts_format``) and
    nothing else; typed values are read as without it.
    """
    if pa.types.is_timestamp(dtype) and dtype.tz is not None:
        return _naive(f"CAST({value} AS TIMESTAMPTZ)")
    if pa.types.is_timestamp(dtype) or pa.types.is_date(dtype):
        # A naive timestamp is wall-clock time in the import's --timezone; a date, its midnight.
        if utc:
            return f"CAST({value} AS TIMESTAMP)"
        zone = "current_setting('TimeZone')"
        return _naive(f"timezone({zone}, CAST({value} AS TIMESTAMP))")
    if pa.types.is_integer(dtype):
        return _epoch(f"CAST({value} AS HUGEINT)")
    if pa.types.is_floating(dtype):
        return _float_epoch(f"CAST({value} AS DOUBLE)")
    if ts_format is not None:
        parsed = f"try_strptime({text}, $ts_format)"
        if "%Z" in ts_format:
            # DuckDB's %Z reads BST as Bangladesh: a zone's abbreviation is read as its offset.
            offset = f"try_strptime({_abbreviation_respelled(text)}, $ts_format_offset)"
            parsed = f"CASE WHEN {zone_offset(text)} IS NULL THEN {parsed} ELSE {offset} END"
        if _zoned(ts_format):
            return _naive(f"CASE WHEN {impossible_offset(text)} THEN NULL ELSE {parsed} END")
        if utc:
            return parsed
        return _naive(f"timezone(current_setting('TimeZone'), {parsed})")
    # Nine to nineteen digits are an epoch; fewer that no reading takes for a date
    # (``99999999``) are one too, before 1990: implausible rather than unreadable.
    return (
        f"coalesce(CASE WHEN NOT regexp_full_match({text}, '[0-9]{{9,19}}(\\.[0-9]+)?') "
        f"THEN {_naive(_instant(text))} END, "
        f"CASE WHEN regexp_full_match({text}, '[0-9]{{1,19}}(\\.[0-9]+)?') "
        f"THEN {_epoch_digits(text)} END)"
    )


def _zoned(ts_format: str) -> bool:
    """Whether a format reads an offset or zone (``%z``/``%Z``), so its times are instants."""
    return "%z" in ts_format or "%Z" in ts_format


def _naive(instant: str) -> str:
    """A TIMESTAMPTZ as naive UTC, by epoch arithmetic (no time-zone library per row)."""
    return f"make_timestamp(epoch_us({instant}))"


# ``UTC`` or ``GMT`` before an offset, in any case (``utc+05:30``, ``Gmt+1``).
_UTC = "(?i:GMT|UTC)"
# An offset's minutes and seconds, after its hours: ``:30``, ``30``, ``:30:00``, none.
_MINUTES = "(:?[0-9]{2}){0,2}"


# Date-times as mail and HTTP write them (RFC 2822, RFC 7231), with an offset or a zone name,
# with seconds or without (RFC 2822 makes them optional: ``Tue, 1 Jul 2025 10:00 +0000``).
MAIL_TIME_FORMATS = tuple(
    f"{day}%d %b %Y %H:%M{seconds} {zone}"
    for day in ("%a, ", "")
    for seconds in (":%S", "")
    for zone in ("%z", "%Z")
)

# Java's ``Date.toString()`` and ``date``: ``Tue Jul 01 10:00:00 BST 2025`` (its zone's
# abbreviation read as its offset by :func:`_abbreviation_respelled`). ``%z`` first: in a list,
# DuckDB gives up at a ``%Z`` that cannot read an offset, before trying the ``%z`` after it.
JAVA_TIME_FORMATS = ("%a %b %d %H:%M:%S %z %Y", "%a %b %d %H:%M:%S %Z %Y")

# Times with an offset after ``GMT``, read after :func:`_gmt_respelled`: Google Forms' export
# (``2026/03/01 2:30:05 PM GMT+1``) and JavaScript's ``Date.toString()`` (``Tue Jul 01 2025
# 10:00:00 GMT+0200 (Central European Summer Time)``, its zone's name dropped by
# :func:`zone_name_dropped`).
GMT_TIME_FORMATS = (
    "%Y/%m/%d %I:%M:%S %p %z",
    "%Y/%m/%d %H:%M:%S %z",
    "%a %b %d %Y %H:%M:%S %z",
)


def _instant(text: str) -> str:
    """SQL that reads the SQL text ``text`` as a TIMESTAMPTZ (NULL when it cannot): what DuckDB
    reads as one (ISO 8601 with any offset or zone; naive time in the session's time zone),
    with a zone's name after its offset dropped (:func:`zone_name_dropped`) and a zone's
    abbreviation as its offset (:func:`_abbreviation_respelled`), then, for the rows it cannot
    read, other spellings of ISO 8601 (:func:`_iso_respelled`, then its offset after
    ``UTC``/``GMT`` as :func:`_offset_after_utc` writes it: ``12:00 UTC+05:30`` is
    ``12:00:00+05:30``), mail times (:data:`MAIL_TIME_FORMATS`), Java's
    (:data:`JAVA_TIME_FORMATS`) and times with an offset after ``GMT``
    (:data:`GMT_TIME_FORMATS`).
    ``coalesce`` reads the later ones only where the first gave nothing, so well-formed files
    pay nothing for them."""
    formats = sql_strings(MAIL_TIME_FORMATS + JAVA_TIME_FORMATS)
    gmt = sql_strings(GMT_TIME_FORMATS)
    zoned = _abbreviation_respelled(zone_name_dropped(text))
    respelled = _iso_respelled(zoned)
    # DuckDB's cast takes a third of a millisecond to fail on an offset after a space
    # (``12:00:00 +0200``, as Ruby and git write it, or an abbreviation's: it looks it up as a
    # zone's name), where the respelled text is read at once: such text skips the first cast.
    # Text ending in `` UTC`` (as BigQuery writes it) is cast as it is: respelling it made its
    # import a fifth slower.
    named = f"CASE WHEN suffix({text}, ' UTC') THEN {text} ELSE {_offset_after_utc(zoned)} END"
    first = _zone_apart(text, _unless_spaced(text), _unless_spaced(named))
    read = (
        f"coalesce({first}, "
        f"{_zone_apart(text, respelled, _offset_after_utc(respelled))}, "
        f"try_strptime({zoned}, [{formats}]), try_strptime({_gmt_respelled(zoned)}, [{gmt}]))"
    )
    return f"CASE WHEN {impossible_offset(text)} THEN NULL ELSE {read} END"


def _unless_spaced(text: str) -> str:
    """SQL: ``text``, NULL where an offset follows a space (see :func:`_instant`)."""
    return f"CASE WHEN regexp_matches({text}, ' [+-][0-9]') THEN NULL ELSE {text} END"


# A zone's abbreviation at the end of a time, after a digit or AM/PM, or before its year
# (Java's and ``date``'s ``Tue Jul 01 10:00:00 BST 2025``).
_ABBREVIATION = "([0-9]|[AaPp][Mm]) ([A-Za-z]{3,4})( [0-9]{4})?$"


def abbreviation(text: str) -> str:
    """SQL: the zone abbreviation ending the SQL text ``text`` (:data:`_ABBREVIATION`), in
    capitals (DuckDB reads ``bst`` as ``BST``), ``""`` for none."""
    return f"upper(regexp_extract({text}, '{_ABBREVIATION}', 2))"


def zone_offset(text: str) -> str:
    """SQL: the offset the zone abbreviation ending the SQL text ``text`` stands for in this
    import, after a space (``$zone_offsets``, from :func:`zones.offsets_in`: ``" +01:00"``;
    ``""`` for one the import's own zone has had several offsets with, ``" ?"`` for one it
    cannot tell), NULL for text without one it knows."""
    return f"$zone_offsets[list_position($zone_names, {abbreviation(text)})]"


def _abbreviation_respelled(text: str) -> str:
    """SQL: ``text`` with its zone's abbreviation as the offset it stands for
    (:func:`zone_offset`): ``10:00 BST`` as ``10:00 +01:00``, ``10:00 MSK`` as a naive
    ``10:00`` in an import in Moscow's zone, and ``10:00 CST`` as ``10:00 ?`` (read by
    nothing) in an import in a zone that does not tell which ``CST`` it is."""
    written = rf"{zone_offset(text)} || '\1'"  # NULL without an abbreviation it knows
    replaced = f"regexp_replace({text}, ' [A-Za-z]{{3,4}}(( [0-9]{{4}})?)$', {written})"
    return f"coalesce({replaced}, {text})"


# An offset no place has, at the end of a time (before a zone in brackets): beyond 14 hours,
# or minutes or seconds of 60 or more. Extended (``+05:30``; after ``UTC``/``GMT`` the hours
# may be one digit) and basic (``+0530``: the hours always two digits) apart, so that neither
# reads the other's digits (``+063000`` is 06:30:00, not 0 hours and 63 minutes).
_IMPOSSIBLE_OFFSET = (
    r"[+-]((1[5-9]|[2-9][0-9])(:?[0-9]{2}){0,2}"
    r"|[0-9]{1,2}:[6-9][0-9](:[0-9]{2})?|[0-9]{1,2}:[0-9]{2}:[6-9][0-9]"
    r"|14:(0[1-9]|[1-5][0-9])(:[0-9]{2})?|14:00:(0[1-9]|[1-5][0-9])"
    r"|[0-9]{2}[6-9][0-9]([0-9]{2})?|[0-9]{4}[6-9][0-9]"
    r"|14(0[1-9]|[1-5][0-9])([0-9]{2})?|1400(0[1-9]|[1-5][0-9]))(\[[^\]]*\])?$"
)


def impossible_offset(text: str) -> str:
    """SQL: whether the SQL text ``text`` ends in an offset no place has
    (:data:`_IMPOSSIBLE_OFFSET`: ``+24:00``, ``+05:75``, ``+99:99``), which DuckDB reads as so
    many minutes, or has one before a zone's name (:func:`zone_name_dropped`: ``+9999 UTC``).
    Only text with a plus, or a minus after a colon, and no ``Z`` at its end (a time with an
    offset) pays for the pattern."""
    return (
        f"NOT suffix({text}, 'Z') AND (contains({text}, '+') OR {text} LIKE '%:%-%') "
        f"AND regexp_matches({zone_name_dropped(text)}, '{_IMPOSSIBLE_OFFSET}')"
    )


# A zone's name after a time's offset, which the offset makes redundant: Go's
# ``+0000 UTC`` (``+0545 +0545`` for a zone without one, and ``m=+0.01`` after it from
# ``time.Now()``), mail's ``+0000 (UTC)`` and JavaScript's ``GMT+0200 (Central European
# Summer Time)``. Only after the seconds or minutes of a time (``:00``), so that a date's day
# (``2026-01-05 EST``) is never taken for an offset.
_NAME_AFTER_OFFSET = (
    rf"(:[0-9]{{2}}(?:[.,][0-9]+)? ?{_UTC}?[+-][0-9]{{2}}{_MINUTES})"
    r"(?: \([^)]*\)| [A-Za-z][A-Za-z0-9_/+-]*| [+-][0-9]{2}(?::?[0-9]{2})?)"
    r"(?: m=[+-]?[0-9.]+)?$"
)


def zone_name_dropped(text: str) -> str:
    """SQL: ``text`` without a zone's name after its offset (:data:`_NAME_AFTER_OFFSET`): the
    offset fixes the instant, as in a Java time with a zone in brackets."""
    return f"regexp_replace({text}, '{_NAME_AFTER_OFFSET}', '\\1')"


def _zone_apart(text: str, spelled: str, named: str) -> str:
    """SQL that casts ``text`` respelled to TIMESTAMPTZ: the rows whose ``text`` may name a
    zone (two letters in a row: ``America/New_York``, ``UTC``) as ``named`` by one cast, the
    others as ``spelled`` by another. DuckDB's cast keeps the zone a row names for the rows
    after it in the same batch: a naive ``08:00`` after a ``12:00 America/New_York`` read as
    New York time, not in the import's time zone (DuckDB 1.5). A cast that never sees a zone
    name cannot."""
    return (
        f"CASE WHEN regexp_matches({text}, '[A-Za-z]{{2}}') "
        f"THEN TRY_CAST({named} AS TIMESTAMPTZ) ELSE TRY_CAST({spelled} AS TIMESTAMPTZ) END"
    )


def _offset_after_utc(text: str) -> str:
    """SQL: ``text`` with an offset written after ``UTC`` or ``GMT``, in any case, to its
    seconds (``12:00 UTC+05:30``, ``12:00 gmt-3``, ``12:00 UTC+05:30:00``) as ISO 8601 writes
    it (``12:00+05:30``, ``12:00-03``, ``12:00+05:30:00``): DuckDB's cast reads ``UTC+05:30``
    and ``UTC+05:30:00`` as five hours, their minutes dropped, and ``GMT-3`` not at all."""
    iso = rf"regexp_replace({_gmt_respelled(text)}, '(\d) ([+-][0-9]{{2}}{_MINUTES})$', '\1\2')"
    return f"CASE WHEN regexp_matches({text}, ' {_UTC}[+-][0-9]') THEN {iso} ELSE {text} END"


def _gmt_respelled(text: str) -> str:
    """SQL that rewrites an offset written after ``GMT`` or ``UTC``, in any case (``GMT+1``,
    ``gmt-3``, ``UTC+5:30``, ``UTC+05:30:00``; ``GMT`` alone is UTC) as strptime's ``%z`` reads
    it (``+01``, ``-03``, ``+05:30``, ``+05:30:00``)."""
    steps = (
        (rf" {_UTC}$", " +00"),
        (rf" {_UTC}([+-])([0-9])({_MINUTES})$", r" \10\2\3"),
        (rf" {_UTC}([+-](0[0-9]|1[0-4]){_MINUTES})$", r" \1"),  # none beyond 14 hours
    )
    for pattern, replacement in steps:
        text = f"regexp_replace({text}, '{pattern}', '{replacement}')"
    return text


def _iso_respelled(text: str) -> str:
    """SQL that rewrites ISO 8601 spellings DuckDB does not read into ones it does: the basic
    format (``20260101T100000Z``, and a date alone: ``20260101``), minutes before an offset or a
    zone (``T10:00+01:00``), a space before the offset or ``Z`` (``10:00:00 +0200``, as Ruby and
    git write it, ``10:00:00 -08``, ``10:00:00 Z``), ``t`` and ``z`` in lower case and a comma
    before the fraction of a second (``10:00:00,5``), as RFC 3339 and ISO 8601 allow, and a
    zone name in brackets, as Java writes it: after an offset it is dropped (the offset fixes
    the instant), else it is the time's zone (``10:00[Europe/Paris]``)."""
    steps = (
        (r"(Z|[+-]\d{2}(:?\d{2})?)\[[^\]]*\]$", r"\1"),
        (r"\[([^\]]+)\]$", r" \1"),
        (r"^(\d{4}-?\d{2}-?\d{2})t(\d)", r"\1T\2"),
        (r"(:\d{2}),(\d)", r"\1.\2"),
        (r"(\d)\s*[zZ]$", r"\1Z"),
        (rf"(\d)\s+([+-]\d{{2}}{_MINUTES})$", r"\1\2"),
        (r"^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})", r"\1-\2-\3T\4:\5:\6"),
        (r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3"),
        (r"([T ]\d{2}:\d{2})(Z|[+-]| [A-Za-z])", r"\1:00\2"),
    )
    for pattern, replacement in steps:
        text = f"regexp_replace({text}, '{pattern}', '{replacement}')"
    return text


def _epoch(whole: str, nanos: str = "0", size: str | None = None) -> str:
    """An epoch number as a timestamp, from its whole part ``whole`` (SQL, an integer) and the
    nanoseconds of its fraction ``nanos`` (SQL, 0 to 999999999), its unit read from its size:
    ten digits are seconds, thirteen milliseconds (JavaScript's ``Date.now()``), sixteen
    microseconds (GA4's ``event_timestamp``), nineteen nanoseconds (pandas, Spark); cut to the
    microsecond, as a fraction of a second in ISO 8601 is. ``size``: SQL for the number that
    compares as it does, where cheaper (a DOUBLE). In integers, so exactly: a DECIMAL wide
    enough for nineteen digits and nine decimals takes DuckDB some 20 µs to parse."""

    def over(limit: int) -> str:
        if size is not None:
            return f"{size} > {limit}"
        return f"({whole} > {limit} OR ({whole} = {limit} AND {nanos} > 0))"

    micros = (
        f"CASE WHEN {over(10**17)} THEN {whole} // 1000 WHEN {over(10**14)} THEN {whole} "
        f"WHEN {over(10**11)} THEN {whole} * 1000 + {nanos} // 1000000 "
        f"ELSE {whole} * 1000000 + {nanos} // 1000 END"
    )
    return f"make_timestamp(TRY_CAST({micros} AS BIGINT))"


def _epoch_digits(text: str, size: str | None = None) -> str:
    """An epoch number written as digits (SQL text: ``[0-9]{1,19}(\\.[0-9]+)?``) as a
    timestamp (see :func:`_epoch`)."""
    whole = f"TRY_CAST(split_part({text}, '.', 1) AS HUGEINT)"
    nanos = f"CAST(rpad(left(split_part({text}, '.', 2), 9), 9, '0') AS BIGINT)"
    return _epoch(whole, nanos, size)


def _float_epoch(value: str) -> str:
    """An epoch number as a DOUBLE (SQL) as a timestamp: the decimal it is written as (the
    shortest that reads back as it), as the same number in a CSV or JSON file is, where its
    binary value times the unit rounds again (1703434161786.8154 ms as .786816 s). One of 17
    digits or more (nanoseconds; written with an exponent), negative or not a number is its
    whole part: a double holds nanoseconds only to some hundred."""
    shown = f"CAST({value} AS VARCHAR)"
    written = f"regexp_full_match({shown}, '[0-9]{{1,16}}\\.[0-9]+')"
    return (
        f"coalesce(CASE WHEN {written} THEN {_epoch_digits(shown, value)} END, "
        f"{_epoch(f'TRY_CAST({value} AS HUGEINT)', size=value)})"
    )
