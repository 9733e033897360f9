"""Build small, hand-worked journeys for tests — journeylens's own and its users'.

>>> table = journeys({"alice": [("landing", "2026-01-01 10:00"), ("checkout", "+3d")]})
>>> table.num_rows
2
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from journeylens.schema import EVENTS, arrow_schema

_OFFSET = re.compile(r"^\+(\d+(?:\.\d+)?)(s|m|h|d|w)$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}

# A step is (event, when) or (event, when, {column: value, ...}).
Step = tuple[str, str] | tuple[str, str, Mapping[str, Any]]


def _when(value: str, previous: datetime | None) -> datetime:
    match = _OFFSET.match(value.strip())
    if match:
        if previous is None:
            raise ValueError(f"A relative time '{value}' needs an earlier step.")
        return previous + timedelta(**{_UNITS[match[2]]: float(match[1])})
    return datetime.fromisoformat(value)


def journeys(people: Mapping[str, Sequence[Step]], identified: bool = True) -> pa.Table:
    """An events table (canonical schema) for the given people.

    Each person's steps are ``(event, when)`` or ``(event, when, extra_columns)``; ``when`` is an
    ISO timestamp (UTC) or an offset from the previous step: ``+30s``, ``+5m``, ``+2h``, ``+3d``,
    ``+1w``. With ``identified`` the person's name is the ``user_id`` and ``person_id``; extra
    columns may set any canonical column (``touchpoint``, ``stage``, ``channel``, ``revenue``,
    ``anonymous_id``, ...) and unknown keys go to ``properties``.
    """
    rows: list[dict[str, Any]] = []
    for person, steps in people.items():
        previous: datetime | None = None
        for index, step in enumerate(steps):
            event, when = step[0], step[1]
            extra = dict(step[2]) if len(step) > 2 else {}
            ts = _when(when, previous)
            previous = ts
            row: dict[str, Any] = dict.fromkeys(EVENTS.names)
            row.update(
                event_id=hashlib.sha1(f"{person}|{index}".encode()).hexdigest()[:16],
                ts=ts,
                received_at=ts,
                event=event,
                type="track",
                anonymous_id=f"anon-{person}",
                user_id=person if identified else None,
                person_id=person if identified else f"anon-{person}",
                session_id=f"{person}#1",
                touchpoint=event,
            )
            props = {k: v for k, v in extra.items() if k not in EVENTS.names}
            row.update({k: v for k, v in extra.items() if k in EVENTS.names})
            if props:
                row["properties"] = json.dumps(props)
            rows.append(row)
    _number_people(rows)
    return pa.Table.from_pylist(rows, schema=arrow_schema(EVENTS))


def _number_people(rows: list[dict[str, Any]]) -> None:
    """Fill ``person_key`` and ``person_seq`` as a rebuild does (see ``collect.sessions``)."""
    keys = {p: k for k, p in enumerate(sorted({r["person_id"] for r in rows}), start=1)}
    seq: dict[str, int] = {}
    for row in sorted(rows, key=lambda r: (r["person_id"], r["ts"], r["event_id"])):
        seq[row["person_id"]] = seq.get(row["person_id"], 0) + 1
        row["person_key"], row["person_seq"] = keys[row["person_id"]], seq[row["person_id"]]
