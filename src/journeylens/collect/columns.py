"""How input columns become canonical columns: names, Segment's camelCase, and the user's map."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.collect.exports import lifted_columns
from journeylens.errors import ImportFileError, did_you_mean
from journeylens.schema import DERIVED_EVENT_COLUMNS, EVENTS, FEEDBACK

# Columns a file may provide, per kind (the rest of the canonical columns are derived).
INPUT_COLUMNS: dict[str, tuple[str, ...]] = {
    "events": tuple(c for c in EVENTS.names if c not in (*DERIVED_EVENT_COLUMNS, "derived")),
    "feedback": tuple(c for c in FEEDBACK.names if c not in ("person_id", "derived")),
}
REQUIRED: dict[str, tuple[str, ...]] = {
    "events": ("ts", "event"),
    "feedback": ("ts", "metric", "score"),
}
# The type of a canonical column the file does not have, in an arranged batch: checking may
# take such a column from the row's nested values (see ``exports``).
ABSENT = pa.null()
# Whose a row is: an event needs one of these as a column (and each row one of them filled).
IDENTITY = ("anonymous_id", "user_id")
# Kinds whose rows need no person: a survey's anonymous answers (Google Forms' default export
# has no id at all) count in its scores, with a null ``person_id``.
ANONYMOUS_KINDS = frozenset({"feedback"})

# Names other tools' exports give our columns, best first. The XES names of process-mining
# event logs (XES files, pm4py's CSV) come first: a name with a namespace (``concept:name``)
# means one thing, where ``name`` or ``time`` may mean anything. Then Segment (its wire format
# and its warehouse tables), Amplitude, Mixpanel, PostHog, GA4 and Snowplow's atomic.events.
# In a file with a header, a column named exactly as ours always wins (but see NOT_OURS); where
# records have keys of their own, the XES names come before it (see ``record_order``). Among
# the others, the first name listed here that the file has; the rest stay properties.
ALIASES: dict[str, tuple[str, ...]] = {
    "event_id": ("identity:id", "messageId", "message_id", "id", "uuid", "$insert_id", "insert_id"),
    "ts": (
        "time:timestamp",
        "timestamp",
        "time",
        "event_time",
        "event_timestamp",
        "originalTimestamp",
        "original_timestamp",
        "derived_tstamp",
        "collector_tstamp",
        # Process-mining CSV exports (Disco, Celonis, the BPI challenges' logs): an activity's
        # completion, else its start.
        "complete_timestamp",
        "completeTime",
        "end_timestamp",
        "start_timestamp",
        "startTime",
        # Database tables and survey tools' exports (Typeform, Qualtrics), last: a file with one
        # of the names above means it.
        "created_at",
        "submitted_at",
        "Submit Date (UTC)",  # Typeform (its "Start Date (UTC)" is when the form was opened)
        "Response Timestamp",  # Delighted: epoch seconds (its "Response Date" is the same time)
        "recorded_date",
        "datetime",
        "date",
    ),
    "received_at": ("receivedAt", "server_received_time", "collector_tstamp"),
    "anonymous_id": (
        "anonymousId",
        "device_id",
        "distinct_id",
        "user_pseudo_id",
        "previousId",
        "domain_userid",
        "network_userid",
        # A site's own log and attribution data sets: the browser's cookie, the visitor.
        "anonymous_user_id",
        "anon_id",
        "cookie_id",
        "cookie",
        "visitor_id",
        "client_id",
    ),
    # A process-mining log's case; PostHog's person, into which it merged the ids; a shop's or
    # CRM's customer; and, last, the e-mail address that survey tools' and help desks' exports
    # know a respondent by.
    "user_id": (
        "case:concept:name",
        "userId",
        "person_id",
        "case_id",
        "case",
        "customer_id",
        "email",
        "email_address",
        "recipient_email",  # Qualtrics
        "requester_email",  # Zendesk
    ),
    "event": ("concept:name", "event_name", "event_type", "name", "activity", "activity_name"),
    "feedback_id": ("feedbackId", "response_id", "responseId"),
    "source": ("utm_source", "context_campaign_source", "mkt_source"),
    "medium": ("utm_medium", "context_campaign_medium", "mkt_medium"),
    "campaign": ("utm_campaign", "context_campaign_name", "mkt_campaign"),
    # Attribution data sets' and ad platforms' name, GA4's, order tables', and a Snowplow
    # transaction's total (its other events leave it empty).
    "revenue": ("conversion_value", "purchase_revenue", "order_value", "$revenue", "tr_total"),
    "currency": ("tr_currency",),
    "language": ("UserLanguage",),  # Qualtrics
}

# A process-mining log (an XES file, pm4py's CSV: known by the XES names of its activity, time
# or case) has a vocabulary of its own. Its ``type`` (manual, automatic), ``stage`` or
# ``interaction`` is none of ours, which allow a few values only; its ``revenue`` (and
# ``currency``) or ``properties`` need not be what ours mean (an amount may be negative, a text
# is not JSON); its ``id`` or ``event_id`` may be an order's, which events share (the event's
# is ``identity:id``). Read as ours, they would reject the event, or store events as one; they
# stay properties, as pm4py keeps them. Columns without rules (``channel``, ``device``) are read.
PROCESS_LOG_MARKERS = ("concept:name", "time:timestamp", "case:concept:name")
PROCESS_LOG_OWN = (
    "type",
    "stage",
    "interaction",
    "revenue",
    "currency",
    "properties",
    "event_id",
    "id",
)

# Segment's calls (its wire format, known by ``messageId``): a page, screen, identify, alias or
# group call has no event name, and is named by its ``type`` (see ``validate``).
SEGMENT = "messageId"

# Columns named as ours (or as another tool's name for ours) that mean something else in one
# tool's exports, known by a column only those exports have. Amplitude's ``event_id`` counts a
# device's events (1, 2, ...), so people share it: read as the event's id, it would store one
# event per number; its ``uuid`` is the id. Snowplow's ``event`` is the kind of event
# (``page_view``, ``struct``, ``unstruct``); its ``event_name`` is the name. Delighted's
# ``Person ID`` is its own number for the respondent, whom the shop knows by ``Email``.
# Segment's ``name`` is a page's or screen's name, not an event's (see ``validate``). Such a
# column stays a property (``--map`` still reads it as the column it names).
NOT_OURS: dict[str, tuple[str, ...]] = {
    "amplitude_id": ("event_id",),
    "collector_tstamp": ("event",),
    "Delighted Source": ("Person ID",),
    SEGMENT: ("name",),
    **dict.fromkeys(PROCESS_LOG_MARKERS, PROCESS_LOG_OWN),
}

# Names that mean our column only in one tool's exports, known by a column only those exports
# have: Typeform's ``#`` is the response's token; elsewhere ``#`` numbers a sheet's rows from 1,
# and read as the answer's id, another file's answer 1 would be skipped as stored already.
# SurveyMonkey's ``Respondent ID`` (a file with its ``Collector ID``) numbers its responses;
# elsewhere a respondent's id may be a person's, who answers many surveys.
EXPORT_ALIASES: dict[str, dict[str, str]] = {
    "Submit Date (UTC)": {"#": "feedback_id"},
    "Collector ID": {"Respondent ID": "feedback_id"},
}


# The column the readers add to a batch: the line of the file its row came from. A file's own
# column of that name (or ``__line``, ...) is held in the batch with one more ``_`` before its
# name, and has its name back where the row is arranged: its values stay the row's (in
# ``properties``, in the row as given), and the line stays the line.
LINE = "_line"
_LINE_NAMES = re.compile(r"_+line")


def held_name(name: str) -> str:
    """The name under which a batch holds the file's column ``name``: ``_line`` and the names
    like it with one more ``_`` (none is then :data:`LINE`, nor another's), others as given.

    Examples
    --------
    >>> held_name("_line"), held_name("__line"), held_name("line"), held_name("_Line")
    ('__line', '___line', 'line', '_Line')
    """
    return "_" + name if _LINE_NAMES.fullmatch(name) else name


def with_lines(table: pa.Table, first_line: int) -> pa.Table:
    """``table`` with each row's ``_line``: the lines from ``first_line`` on (and a column of
    the file named so under its held name: see ``columns.held_name``)."""
    lines = np.arange(first_line, first_line + table.num_rows, dtype=np.int64)
    names = [held_name(name) for name in table.column_names]
    if names != table.column_names:
        table = table.rename_columns(names)
    return table.append_column(LINE, pa.array(lines))


def given_name(name: str) -> str:
    """The file's name for a batch's column ``name`` other than :data:`LINE` (see
    :func:`held_name`).

    Examples
    --------
    >>> given_name("__line"), given_name("___line"), given_name("line")
    ('_line', '__line', 'line')
    """
    return name[1:] if name != LINE and _LINE_NAMES.fullmatch(name) else name


def given_columns(batch: pa.Table) -> pa.Table:
    """The file's columns of a batch, under their names in the file (without :data:`LINE`)."""
    columns = batch.drop_columns([LINE])
    names = [given_name(name) for name in columns.column_names]
    return columns if names == columns.column_names else columns.rename_columns(names)


# Marks an arranged batch whose records need not share their keys (JSON Lines, XES): a key a
# record lacks is not part of the row as given (see ``validate``).
KEYS_VARY = "_keys_vary"

# Columns only their exact (or another tool's) name reads: their values come from a closed list
# or are JSON, and a header that merely looks like one (a product's "Type", a project's "Stage")
# would reject every row.
NOT_LOOSE = frozenset({"type", "stage", "interaction", "properties"})


class ColumnPlan(dict[str, str]):
    """``source column → canonical column``, as a file whose rows share their columns is read;
    and ``per_record``: for records whose keys vary (JSON Lines, XES), each canonical column's
    sources best first (see :func:`record_order`), of which a record's value comes from the
    first it has. A column ``--map`` or ``--set`` decided has none: it is read as planned."""

    def __init__(self, plan: Mapping[str, str], per_record: Mapping[str, tuple[str, ...]]):
        super().__init__(plan)
        self.per_record = dict(per_record)


def parse_map(pairs: Sequence[str], option: str = "--map") -> dict[str, str]:
    """Parse ``canonical=source`` pairs (``--set``: ``canonical=value``) from the command line."""
    example = "metric=nps" if option == "--set" else "ts=created_at"
    mapping: dict[str, str] = {}
    for pair in pairs:
        canonical, sep, source = pair.partition("=")
        if not sep or not canonical.strip() or not source.strip():
            what = "value" if option == "--set" else "source"
            raise ImportFileError(f"{option} '{pair}': expected canonical={what}, e.g. {example}.")
        canonical, source = canonical.strip(), source.strip()
        if canonical in mapping:
            raise ImportFileError(
                f"{option} {canonical}={mapping[canonical]} and {option} {canonical}={source}: "
                f"a column takes one {'value' if option == '--set' else 'source'}; drop one."
            )
        mapping[canonical] = source
    return mapping


def plan_columns(
    path: str,
    kind: str,
    columns: Sequence[str],
    mapping: Mapping[str, str],
    constants: Mapping[str, str] | None = None,
    nested_keys: Mapping[str, Collection[str]] | None = None,
    later_part: bool = False,
) -> ColumnPlan:
    """Decide ``source column → canonical column``; check required columns up front.

    ``constants`` (``canonical → value``, from ``--set``) give every row a value for a column
    the file does not have; a column another tool's name would map there stays a property.
    ``nested_keys``: the keys seen inside the file's object columns; a required column found
    there (a Mixpanel export's ``properties.time``, see ``exports``) is not missing.
    ``later_part``: ``columns`` are the keys of a later part of a file without a header (JSON
    Lines), whose first part was planned already: a ``--map`` source or a required column the
    part lacks is no error (its rows are checked one by one).

    The plan reads every row alike; its ``per_record`` says how records whose keys vary (JSON
    Lines, XES) are read, each by its own keys (see :class:`ColumnPlan`, :func:`arrange`).
    """
    wanted = INPUT_COLUMNS[kind]
    constants = constants or {}
    twice = next((name for name in columns if columns.count(name) > 1), None)
    if twice is not None:
        places = ", ".join(str(i) for i, name in enumerate(columns, start=1) if name == twice)
        raise ImportFileError(
            f"{path}: the column '{twice}' appears more than once (columns {places}); "
            "rename all but one. Nothing was imported."
        )
    for canonical in constants:
        if canonical not in wanted:
            raise ImportFileError(
                f"--set {canonical}=...: '{canonical}' is not a column of the {kind} table."
                f"{did_you_mean(canonical, wanted)} Columns: {', '.join(wanted)}."
            )
    sources = list(mapping.values())
    shared = next((source for source in sources if sources.count(source) > 1), None)
    if shared is not None:
        both = " and ".join(
            f"--map {c}={shared}" for c, source in mapping.items() if source == shared
        )
        raise ImportFileError(f"{both}: a column can be read as one column only; drop all but one.")
    for canonical, source in mapping.items():
        if canonical in constants:
            raise ImportFileError(f"--map {canonical}={source} and --set {canonical}=...: use one.")
        if canonical not in wanted:
            raise ImportFileError(
                f"--map {canonical}={source}: '{canonical}' is not a column of the {kind} table."
                f"{did_you_mean(canonical, wanted)} Columns: {', '.join(wanted)}."
            )
        if columns and source not in columns and not later_part:
            raise ImportFileError(
                f"{path}: --map {canonical}={source}, but the file has no column '{source}'."
                f"{did_you_mean(source, columns)}"
            )
    for canonical in constants:
        if canonical in columns and canonical not in mapping.values():
            raise ImportFileError(
                f"{path}: --set {canonical}=... would hide the file's column '{canonical}'; "
                "drop one of them."
            )
    plan = {
        source: canonical
        for canonical, source in mapping.items()
        if source in columns or not later_part
    }
    taken = set(plan.values()) | set(constants)
    foreign = {name for marker, names in NOT_OURS.items() if marker in columns for name in names}
    # A column named exactly as a canonical one wins over another tool's name for it (a
    # Segment export has ``event`` for track calls and ``name`` for page calls).
    for name in columns:
        if name in wanted and name not in plan and name not in taken and name not in foreign:
            plan[name] = name
            taken.add(name)
    in_file = set(columns)
    for name, canonical in exported_pairs(in_file):
        if canonical in wanted and canonical not in taken and name not in plan:
            plan[name] = canonical
            taken.add(canonical)
    for canonical, names in ALIASES.items():
        if canonical not in wanted or canonical in taken:
            continue
        found = next((n for n in names if n in in_file - foreign and n not in plan), None)
        if found is not None:
            plan[found] = canonical
            taken.add(canonical)
    # Last, names written another way: "Timestamp", "User ID", "EventName" (a spreadsheet's or
    # a BI tool's headers) for ts, user_id and event_name.
    loose: dict[str, str] = {}
    for name in columns:
        if name not in plan and name not in foreign:
            loose.setdefault(loose_name(name), name)
    for canonical in wanted:
        if canonical in taken or canonical in foreign or canonical in NOT_LOOSE:
            continue
        candidates = (loose_name(n) for n in (canonical, *ALIASES.get(canonical, ())))
        found = next((loose[c] for c in candidates if c in loose and loose[c] not in plan), None)
        if found is not None:
            plan[found] = canonical
            taken.add(canonical)
    if columns and not later_part:
        present = set(plan.values()) | set(constants)
        if kind == "events":
            present |= lifted_columns(_with_flattened(nested_keys or {}, columns, plan))
        if kind == "events" and SEGMENT in in_file and "type" in present:
            present.add("event")  # Segment's page, screen, identify... calls: named by type
        # A column read as another canonical one (a survey's "Response ID") is no hint.
        free = [name for name in columns if name not in plan]
        _check_required(path, kind, present, columns, free)
    decided = set(mapping) | set(constants)
    exported_names = dict(exported_pairs(in_file))
    unread = foreign | set(mapping.values())
    named = [name for name in columns if name not in unread]
    per_record = {
        canonical: (order[0], *(name for name in order[1:] if not _loose_fallback(name)))
        for canonical in wanted
        if canonical not in decided
        and (order := record_order(canonical, named, exported_names, canonical in foreign))
    }
    return ColumnPlan(plan, per_record)


def _with_flattened(
    nested_keys: Mapping[str, Collection[str]], columns: Sequence[str], plan: Mapping[str, str]
) -> dict[str, Collection[str]]:
    """``nested_keys`` and the keys of the columns a flattened export named ``properties.<key>``
    (see :func:`flattened_properties`): a Mixpanel CSV export's ``properties.time`` is its time.
    """
    flat = flattened_properties(columns, plan).values()
    return {**nested_keys, "properties": {*nested_keys.get("properties", ()), *flat}}


def _loose_fallback(name: str) -> bool:
    """Whether ``name`` may mean anything in a record that lacks the file's best source: an
    ``id`` (an order's, which events share), a ``name`` (a product's), an e-mail address (it
    would make the sender someone else). Such a key is a record's source only where it is
    the best its file has; elsewhere it stays a property.

    >>> _loose_fallback("id"), _loose_fallback("recipient_email"), _loose_fallback("time")
    (True, True, False)
    """
    loose = loose_name(name)
    return loose in ("id", "name") or "email" in loose


def record_order(
    canonical: str, columns: Sequence[str], exported: Mapping[str, str], foreign: bool = False
) -> tuple[str, ...]:
    """The ``columns`` that may give a record its ``canonical`` column, best first, where
    records have keys of their own (JSON Lines, XES): the XES names (``concept:name``), then
    the column's own name, another tool's (``exported``, then ``ALIASES``), last a name
    written another way (see :func:`loose_name`; ``foreign``: the column's own name means
    something else in this file, and is not matched so).

    A record's key is its log's vocabulary: an XES event's ``event`` or ``time`` attribute is
    the log's own, and its ``concept:name`` the activity. (In a file with a header, a column
    named as ours comes first: see :func:`plan_columns`.)

    Examples
    --------
    >>> record_order("event", ["name", "event", "concept:name", "user_id"], {})
    ('concept:name', 'event', 'name')
    >>> record_order("ts", ["Timestamp", "time"], {})
    ('time', 'Timestamp')
    """
    aliases = ALIASES.get(canonical, ())
    namespaced = [name for name in aliases if ":" in name]
    names = [*namespaced, canonical, *(n for n, c in exported.items() if c == canonical)]
    names += [name for name in aliases if name not in namespaced]
    present = set(columns)
    found = [name for name in names if name in present]
    if canonical not in NOT_LOOSE and not foreign:
        wanted = [loose_name(name) for name in (canonical, *aliases)]
        by_loose: dict[str, list[str]] = {}
        for name in columns:
            by_loose.setdefault(loose_name(name), []).append(name)
        found += [name for key in wanted for name in by_loose.get(key, ())]
    return tuple(dict.fromkeys(found))


def exported_pairs(columns: Collection[str]) -> list[tuple[str, str]]:
    """``(name, canonical)`` of the ``EXPORT_ALIASES`` that ``columns`` have with their marker."""
    return [
        (name, canonical)
        for marker, names in EXPORT_ALIASES.items()
        if marker in columns
        for name, canonical in names.items()
        if name in columns
    ]


def loose_name(name: str) -> str:
    """A column name as compared when no name matches exactly: lower case, letters and digits
    only (``"User ID"``, ``"userId"`` and ``"user_id"`` are all ``"userid"``)."""
    return "".join(ch for ch in name.casefold() if ch.isalnum())


def loosely_named(columns: Sequence[str], names: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """``role → column``: for each role, the column whose name, compared by letters and digits
    alone (:func:`loose_name`), is the first of the role's ``names`` that the columns have (the
    first such column where two are alike). A column plays one role.

    Examples
    --------
    >>> loosely_named(["Total Conversions", "Path"], {"path": ["path"], "n": ["conversions",
    ...     "total_conversions"]})
    {'path': 'Path', 'n': 'Total Conversions'}
    """
    by_loose: dict[str, str] = {}
    for column in columns:
        by_loose.setdefault(loose_name(column), column)
    found: dict[str, str] = {}
    for role, candidates in names.items():
        loose = (loose_name(n) for n in candidates)
        taken = set(found.values())
        hit = next((by_loose[n] for n in loose if n in by_loose and by_loose[n] not in taken), None)
        if hit is not None:
            found[role] = hit
    return found


def constant_params(constants: Mapping[str, str]) -> dict[str, str]:
    """The query parameters :func:`arranged_sql` binds ``constants`` to."""
    return {f"set_{canonical}": value for canonical, value in constants.items()}


# Words in a column's name that suggest it holds a required column's values: named in the error
# when that column is missing (never read without --map).
HINTS: dict[str, tuple[str, ...]] = {
    "ts": ("date", "time", "tstamp", "created", "when"),
    "event": ("event", "action", "activity", "interaction", "type", "step", "page"),
    "metric": ("metric", "question", "survey"),
    "score": ("score", "rating", "nps", "csat", "ces", "likely", "recommend"),
    "user_id": (
        "customer",
        "user",
        "client",
        "visitor",
        "cookie",
        "member",
        "account",
        "person",
        "mail",
        "respondent",
    ),
}


# Words in a column's name that say it holds something else, though it names the column too:
# an NPS's group or category (Qualtrics' ``Q1_NPS_GROUP``: Promoter, Passive, Detractor, or 3,
# 2, 1 in its numeric export, which read as scores would store an NPS of 1 to 3), and the
# reason for a score, a comment.
NOT_HINTS: dict[str, tuple[str, ...]] = {"score": ("group", "category", "reason", "comment")}


def hinted(canonical: str, columns: Sequence[str]) -> list[str]:
    """The ``columns`` whose names suggest ``canonical`` (see ``HINTS``); for an identity, then
    the names ending in ``id`` (``order_id`` after ``customer_id``).

    Examples
    --------
    >>> hinted("ts", ["InvoiceNo", "InvoiceDate", "CustomerID"])
    ['InvoiceDate']
    >>> hinted("user_id", ["order_id", "video", "customer_id"])
    ['customer_id', 'order_id']
    >>> hinted("score", ["Q1_NPS_GROUP", "NPS", "Reason for your score"])
    ['NPS']
    """
    loose = {name: loose_name(name) for name in columns}
    words, other = HINTS.get(canonical, ()), NOT_HINTS.get(canonical, ())
    named = [
        n
        for n in columns
        if any(word in loose[n] for word in words) and not any(word in loose[n] for word in other)
    ]
    ids = [n for n in columns if canonical in IDENTITY and loose[n].endswith("id")]
    return list(dict.fromkeys(named + ids))


def _hint(canonical: str, found: Sequence[str], columns: Sequence[str]) -> str:
    """The ``found`` columns that look like ``canonical`` (see :func:`hinted`) and the ``--map``
    that reads the first; without any, the closest name."""
    if not found:
        return did_you_mean(canonical, columns)
    listed = ", ".join(f"'{name}'" for name in found)
    return f" It may be {listed}: pass --map {canonical}={found[0]}."


def _check_required(
    path: str, kind: str, present: set[str], columns: Sequence[str], free: Sequence[str]
) -> None:
    """Refuse a file without a required column, naming the ``free`` columns (read as none of
    ours) that look like it."""
    missing = [c for c in REQUIRED[kind] if c not in present]
    if missing:
        name = missing[0]
        constant = {
            "event": " Or --set event=NAME gives every row one event (an orders file: purchase).",
            "metric": " Or --set metric=nps (csat, ces, ...) gives every answer of a survey's "
            "file one metric.",
        }.get(name, "")
        found = hinted(name, free)
        fix = "" if found else f" Rename it or pass --map {name}=YOUR_COLUMN."
        raise ImportFileError(
            f"{path}: missing required column '{name}'.{_hint(name, found, columns)} Found "
            f"columns: {', '.join(columns) or 'none'}.{fix}{constant} Nothing was imported."
        )
    if kind not in ANONYMOUS_KINDS and not present & set(IDENTITY):
        raise ImportFileError(
            f"{path}: needs an 'anonymous_id' or a 'user_id' column to know whose rows these are."
            f"{_hint('user_id', hinted('user_id', free), columns)} Found columns: "
            f"{', '.join(columns)}. Nothing was imported."
        )


def arrange(
    batch: pa.Table,
    plan: Mapping[str, str],
    kind: str,
    constants: Mapping[str, str] | None = None,
    keys_vary: bool = False,
) -> pa.Table:
    """Rename to canonical names, add ``constants`` and missing columns as nulls, pack the rest.

    The result has every input column of ``kind``, ``_line``, ``_extra`` (a struct of the
    unknown columns, null when there are none) and ``_raw`` (a struct of the row as given);
    and, where ``keys_vary`` (records of one file need not have the same keys), ``KEYS_VARY``.
    There a :class:`ColumnPlan` reads each record by its own keys (its ``per_record``).
    """
    lines = batch.column(LINE)
    batch = given_columns(batch)
    original = batch.column_names
    # Records without a key (``{}``) still need a field: the engine takes no empty struct. A
    # null member is no member of the row as given (see ``validate``).
    given = [_as_given(batch.column(c)) for c in original] or [pa.nulls(batch.num_rows, pa.null())]
    raw = pa.StructArray.from_arrays(given, names=original or ["_"])
    flat = flattened_properties(original, plan)
    columns: dict[str, pa.Array | pa.ChunkedArray]
    if keys_vary and isinstance(plan, ColumnPlan):
        columns, left = _read_per_record(batch, plan)
    else:
        columns = {canonical: batch.column(source) for source, canonical in plan.items()}
        left = {c: batch.column(c) for c in original if c not in plan}
    extra = {name: values for name, values in left.items() if name not in flat}
    if flat:
        columns["properties"] = pa.StructArray.from_arrays(
            [batch.column(c).combine_chunks() for c in flat], names=list(flat.values())
        )
    for canonical, value in (constants or {}).items():
        columns[canonical] = pa.repeat(pa.scalar(value, pa.string()), batch.num_rows)
    for name in INPUT_COLUMNS[kind]:  # a column the file lacks is typed null: see ABSENT
        columns.setdefault(name, pa.nulls(batch.num_rows, ABSENT))
    columns[LINE] = lines
    if extra:
        columns["_extra"] = pa.StructArray.from_arrays(
            [_combined(values) for values in extra.values()], names=list(extra)
        )
    else:
        columns["_extra"] = pa.nulls(batch.num_rows, pa.struct([pa.field("_", pa.string())]))
    columns["_raw"] = raw
    if keys_vary:
        columns[KEYS_VARY] = pa.nulls(batch.num_rows, pa.bool_())
    return pa.table(columns)


def _read_per_record(
    batch: pa.Table, plan: ColumnPlan
) -> tuple[dict[str, pa.Array | pa.ChunkedArray], dict[str, pa.Array | pa.ChunkedArray]]:
    """The canonical columns of records whose keys vary, each record's value from the first of
    the column's sources (``plan.per_record``) that the record has and no column before took;
    and the columns left unknown, without the values read as a canonical column (a record's
    ``name`` is its property where its ``concept:name`` was the event)."""
    fixed = {source for source, canonical in plan.items() if canonical not in plan.per_record}
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        plan[source]: batch.column(source) for source in fixed
    }
    given = {c: batch.column(c).combine_chunks() for c in batch.column_names}
    taken: dict[str, pa.Array] = {}  # source → the records whose canonical column it gave
    none = pa.repeat(pa.scalar(False), batch.num_rows)
    for canonical, sources in plan.per_record.items():
        if len(sources) == 1 and sources[0] not in taken:  # most columns: read as they are
            columns[canonical] = given[sources[0]]
            taken[sources[0]] = given[sources[0]].is_valid()
            continue
        value: pa.Array = pa.nulls(batch.num_rows, pa.string())
        open_rows: pa.Array = pa.repeat(pa.scalar(True), batch.num_rows)
        for source in sources:
            text = _as_text(given[source])
            here = pc.and_(pc.and_(text.is_valid(), open_rows), pc.invert(taken.get(source, none)))
            value = pc.if_else(here, text, value)
            taken[source] = pc.or_(taken.get(source, none), here)
            open_rows = pc.and_not(open_rows, here)
        columns[canonical] = value
    left: dict[str, pa.Array | pa.ChunkedArray] = {}
    for name, values in given.items():
        rows = taken.get(name)
        if name in fixed or (rows is not None and pc.all(pc.or_(rows, values.is_null())).as_py()):
            continue
        left[name] = values if rows is None else _without(values, rows)
    return columns, left


def _as_text(values: pa.Array) -> pa.Array:
    """``values`` as strings (JSON values as their text), to take a record's value from one of
    several keys."""
    if isinstance(values.type, pa.BaseExtensionType):
        values = values.storage
    return values if values.type == pa.string() else values.cast(pa.string())


def _without(values: pa.Array, rows: pa.Array) -> pa.Array:
    """``values`` null in ``rows``."""
    if isinstance(values.type, pa.BaseExtensionType):
        storage = _without(values.storage, rows)
        return pa.ExtensionArray.from_storage(values.type, storage)
    return pc.if_else(rows, pa.scalar(None, values.type), values)


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _as_given(column: pa.ChunkedArray) -> pa.Array:
    """The column as read: JSON values as their text, so the row as given (its preview, and the
    hash that stands in for a missing id) does not depend on how values were typed."""
    values = column.combine_chunks()
    return values.storage if isinstance(values.type, pa.BaseExtensionType) else values


def arranged_sql(
    schema: pa.Schema,
    plan: Mapping[str, str],
    kind: str,
    relation: str,
    constants: Mapping[str, str] | None = None,
) -> tuple[str, dict[str, pa.DataType]]:
    """:func:`arrange` as SQL over ``relation`` (the file's columns of ``schema`` and
    ``_line``, read by the engine), with ``constants`` bound as :func:`constant_params`; and
    the arranged column types."""
    original = list(schema.names)
    items = {canonical: quoted(source) for source, canonical in plan.items()}
    types = {canonical: schema.field(source).type for source, canonical in plan.items()}
    for canonical in constants or {}:
        items[canonical] = f"CAST($set_{canonical} AS VARCHAR)"
        types[canonical] = pa.string()
    for name in INPUT_COLUMNS[kind]:
        items.setdefault(name, "CAST(NULL AS VARCHAR)")
        types.setdefault(name, ABSENT)
    flat = flattened_properties(original, plan)
    if flat:
        items["properties"] = _struct(list(flat), list(flat.values()))
        types["properties"] = pa.struct([(key, schema.field(c).type) for c, key in flat.items()])
    extra = [c for c in original if c not in plan and c not in flat]
    items["_line"] = "_line"
    items["_extra"] = _struct(extra) if extra else "CAST(NULL AS STRUCT(_ VARCHAR))"
    types["_extra"] = pa.struct([schema.field(c) for c in extra] or [pa.field("_", pa.string())])
    if extra and "properties" not in plan.values():
        # Without a properties column, unknown columns that are all empty add nothing: null
        # spares the row a JSON merge that would come out empty anyway.
        empty = " AND ".join(f"{quoted(c)} IS NULL" for c in extra)
        items["_extra"] = f"CASE WHEN {empty} THEN NULL ELSE {items['_extra']} END"
    items["_raw"] = _struct(original)
    select = ", ".join(f"{sql} AS {quoted(name)}" for name, sql in items.items())
    return f"(SELECT {select} FROM {relation})", types


def quoted(name: str) -> str:
    """``name`` as a SQL identifier (quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


def _struct(names: Sequence[str], keys: Sequence[str] | None = None) -> str:
    """SQL for a struct of the columns ``names``, its fields named ``keys`` (default: alike)."""
    fields = ", ".join(
        "'" + key.replace("'", "''") + f"': {quoted(n)}"
        for n, key in zip(names, keys or names, strict=True)
    )
    return "{" + fields + "}"


PROPERTIES_PREFIX = "properties."


def flattened_properties(columns: Sequence[str], plan: Mapping[str, str]) -> dict[str, str]:
    """``column → key`` for the columns a flattened export named ``properties.<key>``
    (PostHog's and Mixpanel's CSV exports, pandas' ``json_normalize``), when the file has no
    ``properties`` column of its own: they are its properties, under their keys, so a step's
    ``[$current_url~*/pricing*]`` and PostHog's ``$device_type`` find them.

    Examples
    --------
    >>> flattened_properties(["event", "properties.$browser", "properties."], {"event": "event"})
    {'properties.$browser': '$browser'}
    """
    if "properties" in plan.values():
        return {}
    size = len(PROPERTIES_PREFIX)
    return {
        c: c[size:]
        for c in columns
        if c.startswith(PROPERTIES_PREFIX) and len(c) > size and c not in plan
    }
