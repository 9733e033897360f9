"""XES event logs (IEEE 1849: the format of pm4py, ProM and process-mining tools), read like JSON
Lines: one row per event.

A row holds the event's attributes by key (``concept:name``, ``time:timestamp``,
``lifecycle:transition``, ``org:resource``, ...) and its trace's attributes with ``case:`` before
the key (``case:concept:name`` is the case), as pm4py flattens a log. The column aliases map
these names, each event by its own keys (see ``columns.record_order``: one event's ``name`` or
``time`` attribute decides nothing for the others); the log's own vocabulary (its ``type``,
``stage``, ``revenue``, ...) stays in ``properties`` (see ``columns.NOT_OURS``). A value is the
text of the attribute's ``value``; lists and containers (which have none), their children and an
attribute's own attributes are left out. ``_line`` is the line of the event's start tag (an
attribute keyed ``_line`` is held as ``__line``: see ``columns.held_name``). The log's own
attributes, global defaults, extensions and classifiers are not events and are skipped.

XML that is not well-formed cannot be read past its first error: the events before it are read,
and the error (its line, and what is wrong) is returned for the ``rejected`` table.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from xml.parsers import expat

import pyarrow as pa

from journeylens.collect.columns import LINE, held_name

__all__ = ["CASE_PREFIX", "XmlError", "count_events", "xes_batches"]

CASE_PREFIX = "case:"
ATTRIBUTES = frozenset({"string", "date", "int", "float", "boolean", "id", "list", "container"})
READ_BYTES = 4 << 20


@dataclass
class XmlError:
    """Where the XML stopped being well-formed: the line, its text, and what is wrong."""

    line: int
    text: str
    message: str


@dataclass
class _Log:
    """The parse's state: the open elements, the trace being read and the rows done."""

    path: list[str] = field(default_factory=list)
    trace: dict[str, str] = field(default_factory=dict)
    trace_events: list[dict[str, str | int]] = field(default_factory=list)
    event: dict[str, str | int] | None = None
    rows: list[dict[str, str | int]] = field(default_factory=list)

    def start(self, tag: str, attributes: dict[str, str], line: int) -> None:
        name = tag.rpartition(":")[2]
        parent = self.path[-1] if self.path else None
        self.path.append(name)
        if name == "event" and parent in ("trace", "log"):
            self.event = {LINE: line}
        elif name in ATTRIBUTES and "key" in attributes and "value" in attributes:
            if parent == "event" and self.event is not None:
                self.event.setdefault(held_name(attributes["key"]), attributes["value"])
            elif parent == "trace" and len(self.path) == 3:
                self.trace.setdefault(attributes["key"], attributes["value"])

    def end(self, tag: str) -> None:
        name = self.path.pop()
        if name == "event" and self.event is not None and self.path[-1:] in (["trace"], ["log"]):
            (self.trace_events if self.path[-1] == "trace" else self.rows).append(self.event)
            self.event = None
        elif name == "trace" and len(self.path) == 1:
            self.stop()

    def stop(self) -> None:
        """The trace ended (or the XML broke off in it): its events become rows."""
        case = {CASE_PREFIX + key: value for key, value in self.trace.items()}
        self.rows.extend({**case, **event} for event in self.trace_events)
        self.trace, self.trace_events, self.event = {}, [], None

    def take(self) -> list[dict[str, str | int]]:
        rows, self.rows = self.rows, []
        return rows


def xes_batches(
    path: Path, rows: int, errors: list[XmlError], encoding: str | None = None
) -> Iterator[pa.Table]:
    """The events of the XES file ``path`` in tables of about ``rows`` text columns with
    ``_line`` (a trace's events stay in one table). Appends to ``errors`` where the XML is not
    well-formed, and stops there. ``encoding`` overrides the file's XML declaration."""
    log = _Log()
    parser = expat.ParserCreate(encoding)
    parser.buffer_text = True
    parser.StartElementHandler = lambda tag, attrs: log.start(tag, attrs, parser.CurrentLineNumber)
    parser.EndElementHandler = log.end
    pending: list[dict[str, str | int]] = []
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(READ_BYTES)
            try:
                parser.Parse(chunk, not chunk)
            except expat.ExpatError as exc:
                errors.append(_error(path, exc))
                log.stop()
                chunk = b""
            pending.extend(log.take())
            if len(pending) >= rows or (not chunk and pending):
                yield _table(pending)
                pending = []
            if not chunk:
                return


def _error(path: Path, exc: expat.ExpatError) -> XmlError:
    line = exc.lineno or 1
    with path.open("rb") as handle:
        found = next(itertools.islice(handle, line - 1, None), b"")
    text = found.decode("utf-8", "replace").rstrip("\r\n")
    return XmlError(line, text, f"{expat.ErrorString(exc.code)} (column {exc.offset + 1})")


def _table(rows: list[dict[str, str | int]]) -> pa.Table:
    keys = list(dict.fromkeys(key for row in rows for key in row if key != LINE))
    columns = {key: pa.array([row.get(key) for row in rows], pa.string()) for key in keys}
    columns[LINE] = pa.array([row[LINE] for row in rows], pa.int64())
    return pa.table(columns)


def count_events(path: Path) -> int:
    """About how many events the file holds: its ``<event`` tags (for a progress bar)."""
    count, tail = 0, b""
    with path.open("rb") as handle:
        while chunk := handle.read(READ_BYTES):
            data = tail + chunk
            count += data.count(b"<event")
            tail = data[-5:]
    return count
