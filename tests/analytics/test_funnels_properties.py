"""The engine funnel equals the pure-Python reference on generated event logs, in every mode."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta

import ibis
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.analytics._funnel_reference import Outcome, reference_outcomes
from journeylens.analytics.funnels import FunnelSpec, build_funnel_people
from journeylens.schema import EVENTS, arrow_schema

START = datetime(2026, 1, 1)
_names = itertools.count()

Builder = Callable[[pa.Table], ibis.Table]


@pytest.fixture(scope="module")
def table_of() -> Iterator[Builder]:
    """An engine-neutral builder: Arrow events in, an Ibis table out (DuckDB here)."""
    con = ibis.duckdb.connect()

    def build(arrow: pa.Table) -> ibis.Table:
        return con.create_table(f"events_{next(_names)}", arrow)

    yield build
    con.disconnect()


event_row = st.tuples(
    st.sampled_from(["ann", "bob", "cy"]),
    st.integers(0, 40),  # minutes after START; small so ties and window edges happen
    st.sampled_from(["a", "b", "c", "x", "z"]),
    st.sampled_from(["email", "ads", None]),
    st.sampled_from(["s1", "s2"]),
    # Numbers as JSON numbers and as text (as CSV columns arrive), and text that is no number.
    st.sampled_from([None, 1, 5, "5", " 7 ", "1e1", "x"]),
    st.integers(0, 2),  # seconds after ``ts`` it was received: orders events at the same time
)


def _arrow(rows: list[tuple]) -> tuple[pa.Table, list]:
    records, log = [], []
    for index, (person, minute, event, channel, session, level, late) in enumerate(rows):
        ts = START + timedelta(minutes=minute)
        record = dict.fromkeys(EVENTS.names)
        record.update(
            event_id=f"e{index:03d}",
            ts=ts,
            received_at=ts + timedelta(seconds=late),
            event=event,
            person_id=person,
            session_id=f"{person}-{session}",
            channel=channel,
            properties=json.dumps({"level": level}) if level is not None else None,
        )
        records.append(record)
        log.append((person, ts, record["event_id"], record))
    return pa.Table.from_pylist(records, schema=arrow_schema(EVENTS)), log


spec_args = st.fixed_dictionaries(
    {
        "steps": st.sampled_from(
            [
                ["a", "b"],
                ["a", "b", "c"],
                ["a", "b", "a", "c"],
                ["a", "[level>=5]", "c"],
                ["a"],
                ["a", "*", "c"],  # a glob: any event
            ]
        ),
        "within": st.sampled_from(["5m", "10m", "30m"]),
        "order": st.sampled_from(["ordered", "strict", "any"]),
        "exclude": st.sampled_from([(), ("x",)]),
        "exclusion": st.sampled_from(["drop", "restart"]),
        "count": st.sampled_from(["people", "sessions", "attempts"]),
        "entry": st.sampled_from(["first", "best"]),
        "by_step": st.sampled_from(["first", "last", 1, 2]),
        "step_gap": st.sampled_from([None, "3m"]),
        "by": st.sampled_from([None, "channel", "level"]),
    }
)


def _spec(args: dict) -> FunnelSpec:
    n = len(args["steps"])
    gap = args.pop("step_gap")
    if args["by_step"] not in ("first", "last") and args["by_step"] > n:
        args["by_step"] = "first"
    within = None if gap is None or args["order"] == "any" else [None] + [gap] * (n - 1)
    return FunnelSpec(**args, step_within=within)


def _engine(table: ibis.Table, spec: FunnelSpec) -> list[tuple]:
    frame = build_funnel_people(table, spec).execute()
    columns = [f"t{k}" for k in range(len(spec.steps))]
    out = []
    for row in frame.to_dict(orient="records"):
        times = tuple(int(row[c]) for c in columns[: row["reach"]])
        out.append((row["person_id"], row["reach"], times, row["segment"] or None))
    return sorted(out)


def _reference(log: list, spec: FunnelSpec) -> list[tuple]:
    def label(outcome: Outcome) -> str | None:
        if spec.by is None:
            return None
        return outcome.segment if outcome.segment is not None else "(none)"

    return sorted((o.unit[0], o.reach, o.times, label(o)) for o in reference_outcomes(log, spec))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(event_row, min_size=0, max_size=25), args=spec_args)
def test_engine_matches_reference(table_of: Builder, rows: list[tuple], args: dict) -> None:
    spec = _spec(args)
    arrow, log = _arrow(rows)
    assert _engine(table_of(arrow), spec) == _reference(log, spec)
