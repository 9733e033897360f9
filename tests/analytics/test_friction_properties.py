"""Friction's unit counts in the engine equal the pure-Python reference on generated logs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics._friction_reference import reference_counts
from journeylens.analytics._friction_signals import COUNTS, SignalRules, build_segment_counts
from journeylens.schema import EVENTS, arrow_schema

START = datetime(2026, 1, 1)
RULES = SignalRules(
    window=600, retry=30, postpone=120, goals=("purchase",), error_patterns=("*error*",)
)
DIMS = ["device", "channel"]
_names = itertools.count()

# Gaps around every threshold (retry 30 s, postpone 120 s, window 600 s), ties included.
gap = st.sampled_from([0, 0, 5, 10, 30, 31, 60, 120, 121, 599, 600, 601, 2000])
short = st.sampled_from([0, 5, 30, 31, 100])
device = st.sampled_from(["mobile", "desktop", None, "(none)"])
channel = st.sampled_from(["email", "ads"])
# Loops need few touchpoints; errors and events without one test placement and bursts.
touchpoint = st.sampled_from(["A", "B", "B", "C", None])
single = st.tuples(
    gap,
    st.sampled_from(["view", "view", "pay", "pay_error", "purchase", "help", None]),
    touchpoint,
    device,
    channel,
).map(lambda s: [s])
# A repeat across errors (``pay, pay_error, pay``), its gaps around the retry threshold.
again = st.sampled_from(["pay", "pay", "view"])  # the same event again, or another
burst = st.tuples(short, short, short, touchpoint, st.sampled_from([None, "B"]), device, again).map(
    lambda b: [
        (b[0], "pay", b[3], b[5], "ads"),
        (b[1], "pay_error", b[4], b[5], "ads"),
        (b[2], b[6], b[3], b[5], "ads"),
    ]
)
# Gaps whose sums land on either side of the window (600 s), for loops.
hop = st.sampled_from([0, 5, 100, 200, 300, 301])
# Back and forth between two touchpoints, sometimes with a repeat or an event without one.
loop = st.tuples(st.lists(hop, min_size=5, max_size=5), st.sampled_from([0, 1, 2])).map(
    lambda b: [
        (b[0][0], "view", "A", "mobile", "email"),
        (b[0][1], "view", "B", "mobile", "email"),
        *([(b[0][2], "view", "B" if b[1] == 1 else None, "desktop", "email")] if b[1] else []),
        (b[0][3], "view", "A", "mobile", "email"),
        (b[0][4], "view", "B", "mobile", "ads"),
    ]
)
person = st.lists(st.one_of(single, single, burst, loop), min_size=1, max_size=6).map(
    lambda chunks: [s for chunk in chunks for s in chunk]
)
# Up to eight people a log, 75 logs: the journeys of 150 logs of four, for half the engine's
# compilations of the friction query (most of an example's time).
logs = st.lists(person, min_size=1, max_size=8)


@pytest.fixture(scope="module")
def con() -> Iterator[Any]:
    backend = ibis.duckdb.connect()
    yield backend
    backend.disconnect()


def _records(log: list[list[tuple]]) -> list[dict[str, Any]]:
    records = []
    for number, steps in enumerate(log):
        ts = START
        for index, (seconds, event, touchpoint, device, channel) in enumerate(steps):
            ts += timedelta(seconds=seconds)
            record = dict.fromkeys(EVENTS.names)
            record.update(
                event_id=f"p{number}-{index:02d}",
                ts=ts,
                received_at=ts,
                event=event,
                touchpoint=touchpoint,
                device=device,
                channel=channel,
                person_id=f"p{number}",
                anonymous_id=f"p{number}",
            )
            records.append(record)
    return records


def _engine(con: Any, records: list[dict[str, Any]], end: datetime, start: datetime | None) -> dict:
    table = con.create_table(
        f"events_{next(_names)}", pa.Table.from_pylist(records, schema=arrow_schema(EVENTS))
    )
    frame = build_segment_counts(table, DIMS, RULES, end, start=start).execute()
    return {
        (r.touchpoint, r.dimension, r.value, int(r.stratum)): {
            c: int(getattr(r, c)) for c in COUNTS
        }
        for r in frame.itertuples()
    }


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(log=logs, after=st.sampled_from([0, 300, 601, 5000]), known=st.booleans())
def test_the_engine_counts_the_units_the_reference_counts(
    con: Any, log: list, after: int, known: bool
) -> None:
    records = _records(log)
    end = max(r["ts"] for r in records) + timedelta(seconds=after)
    # With the data's start known, times are held in 32 bits (see ``SHORT_SPAN``).
    start = min(r["ts"] for r in records) if known else None
    assert _engine(con, records, end, start) == reference_counts(records, DIMS, RULES, end)
