"""Build small, hand-worked journeys for tests — journeylens's own and its users'.

>>> table = journeys({"alice": [("landing", "2026-01-01 10:00"), ("checkout", "+3d")]})
>>> table.num_rows
2
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import subprocess
import sys
import traceback
import warnings
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
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
    order = ("person_id", "ts", "received_at", "event_id")
    for row in sorted(rows, key=lambda r: tuple(r[c] for c in order)):
        seq[row["person_id"]] = seq.get(row["person_id"], 0) + 1
        row["person_key"], row["person_seq"] = keys[row["person_id"]], seq[row["person_id"]]


def random_events(seed: int, people: int, events: int, names: int = 12) -> pa.Table:
    """A random events table (canonical schema) with repeats, loops and many equal timestamps.

    ``events`` rows of ``people`` people (``p0000``, ...), at whole minutes within 500 minutes of
    2026-01-01, each event one of ``names`` names (``tp00``, ...; a few much more frequent than
    the rest) that is also its touchpoint. ``person_key`` and ``person_seq`` are filled as a
    rebuild fills them. The same seed gives the same table.

    >>> random_events(seed=1, people=10, events=100).num_rows
    100
    """
    rng = np.random.default_rng(seed)
    person = rng.integers(0, people, events)
    minute = rng.integers(0, 500, events)
    labels = np.array([f"tp{i:02d}" for i in range(names)])
    name = labels[rng.zipf(1.6, events) % names]
    ts = np.datetime64("2026-01-01T00:00:00", "us") + minute * np.timedelta64(60, "s")
    event_id = np.array([f"e{i:07d}" for i in range(events)])
    # Rows in (person, ts, event_id) order: event ids grow with the row, so a stable sort on
    # (person, minute) is that order.
    order = np.lexsort((minute, person))
    seq = np.empty(events, dtype=np.int64)
    first = np.r_[True, person[order][1:] != person[order][:-1]]
    starts = np.flatnonzero(first)
    seq[order] = np.arange(events) - np.repeat(starts, np.diff(np.r_[starts, events])) + 1
    present = np.unique(person)
    key = np.searchsorted(present, person) + 1
    columns: dict[str, Any] = {
        "event_id": event_id,
        "ts": ts,
        "received_at": ts,
        "event": name,
        "type": np.full(events, "track"),
        "person_id": np.array([f"p{p:04d}" for p in person]),
        "person_key": key,
        "person_seq": seq,
        "touchpoint": name,
    }
    schema = arrow_schema(EVENTS)
    return pa.table(
        {
            field.name: pa.array(columns[field.name], type=field.type)
            if field.name in columns
            else pa.nulls(events, field.type)
            for field in schema
        },
        schema=schema,
    )


def converting_events(seed: int, people: int) -> pa.Table:
    """People with 1-5 touches on four channels, a day apart, some buying at the end (later
    channels convert more often); the same seed gives the same table.

    >>> converting_events(seed=1, people=10).num_rows > 10
    True
    """
    rng = np.random.default_rng(seed)
    names = np.array(["search", "social", "email", "display"])
    lengths = rng.integers(1, 6, people)
    person = np.repeat(np.arange(people), lengths)
    channel = rng.choice(4, person.size, p=[0.3, 0.3, 0.2, 0.2])
    step = np.concatenate([np.arange(n) for n in lengths])
    start = datetime(2026, 1, 1)
    ts = [start + timedelta(hours=int(h)) for h in person * 24 + step * 2]
    rate = np.array([0.25, 0.05, 0.3, 0.1])
    last = np.cumsum(lengths) - 1
    buys = rng.random(people) < rate[channel[last]] + 0.03 * lengths
    buyers = np.flatnonzero(buys)
    rows: dict[str, list[Any]] = {
        "event_id": [f"t{i}" for i in range(person.size)] + [f"c{i}" for i in buyers],
        "ts": ts + [start + timedelta(hours=int(b) * 24 + 12) for b in buyers],
        "event": list(names[channel]) + ["purchase"] * buyers.size,
        "person_id": [f"p{p}" for p in person] + [f"p{b}" for b in buyers],
        "touchpoint": list(names[channel]) + [None] * buyers.size,
        "revenue": [None] * person.size + list(rng.integers(10, 100, buyers.size) * 1.0),
    }
    rows["received_at"] = rows["ts"]
    size = len(rows["ts"])
    full = {name: rows.get(name, [None] * size) for name in EVENTS.names}
    return pa.table(full, schema=arrow_schema(EVENTS))


def journey_paths(events: Any, spec: Any) -> Any:
    """The journeys attribution builds from ``events`` for ``spec`` (an ``AttributionSpec``) as
    path counts: one row per distinct path, ``path`` (``a > b``), ``conv``, ``null``, ``value``
    (ChannelAttribution's input)."""
    from journeylens.analytics.attribution import build_journey_touches

    touches = build_journey_touches(events, spec).execute()
    touches = touches.sort_values(["person", "journey", "pos"])
    journeys_ = touches.groupby(["person", "journey"]).agg(
        path=("key", " > ".join), conv=("converted", "max"), value=("revenue", "max")
    )
    journeys_["null"] = 1 - journeys_["conv"]
    return journeys_.groupby("path", as_index=False)[["conv", "null", "value"]].sum()


def run_cli(
    *args: str,
    workspace: Path | None = None,
    check: bool = False,
    timeout: float = 300,
    child: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``journeylens ARGS`` as from a shell and return what a child process would: its exit
    code, standard output and standard error (text, with line ends as ``\\n``). The workspace
    comes from ``workspace`` alone (never the caller's ``JOURNEYLENS_WORKSPACE``); ``check``
    turns a non-zero exit into an ``AssertionError`` carrying the standard error.

    By default the command runs in this process (:func:`journeylens.cli.main` with arguments,
    environment, standard streams and warning filters of its own), which spares a second of
    start-up per call, and names itself ``journeylens`` as the installed script does.
    ``child=True`` starts ``python -m journeylens.cli`` instead (which names itself so), for
    what only a process shows (its start-up, signals); ``timeout`` bounds that child.
    """
    result = _run_child(args, workspace, timeout) if child else _run_here(args, workspace)
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


def _environment(workspace: Path | None) -> dict[str, str]:
    """This process's environment with ``workspace`` as the command's workspace, or none: never
    the caller's own."""
    from journeylens.workspace import ENV_WORKSPACE  # the workspace's imports, only when run

    env = {k: v for k, v in os.environ.items() if k != ENV_WORKSPACE}
    if workspace is not None:
        env[ENV_WORKSPACE] = str(workspace)
    return env


def _run_child(
    args: Sequence[str], workspace: Path | None, timeout: float
) -> subprocess.CompletedProcess[str]:
    env = {**_environment(workspace), "PYTHONIOENCODING": "utf-8"}
    command = [sys.executable, "-m", "journeylens.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout)


def _run_here(args: Sequence[str], workspace: Path | None) -> subprocess.CompletedProcess[str]:
    """:func:`journeylens.cli.main` on ``args`` in this process, as :func:`run_cli` describes."""
    from journeylens import cli

    out, err = _stream(), _stream()
    with (
        mock.patch.dict(os.environ, _environment(workspace), clear=True),
        mock.patch.object(sys, "stdin", _stream()),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        warnings.catch_warnings(),
    ):
        _interpreter_warning_filters()
        try:
            cli.main(args, prog_name="journeylens")  # as the installed script names itself
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc.code, err)
        except Exception:  # noqa: BLE001 - a child prints it and exits 1 (``--debug``)
            traceback.print_exc(file=err)
            code = 1
    return subprocess.CompletedProcess(["journeylens", *args], code, _text(out), _text(err))


def _stream() -> io.TextIOWrapper:
    """A standard stream as a child's (UTF-8, as ``PYTHONIOENCODING`` sets), kept in memory."""
    return io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    """What was written to ``stream``, line ends read as ``subprocess`` reads text."""
    written = stream.buffer
    assert isinstance(written, io.BytesIO)
    return written.getvalue().decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _exit_status(code: object, err: io.TextIOWrapper) -> int:
    """The status a process ends with on ``sys.exit(code)``: a message is printed, status 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


def _interpreter_warning_filters() -> None:
    """The warning filters a child starts with (deprecations and resource warnings hidden,
    the rest shown), instead of the test run's own, which may make a warning an error."""
    warnings.resetwarnings()
    for category in (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning):
        warnings.simplefilter("ignore", category)
