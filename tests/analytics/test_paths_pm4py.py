"""The transition graph equals pm4py's directly-follows graph on the same event log.

pm4py runs in its own virtualenv (``/work/peers-venv`` or ``$JOURNEYLENS_PEERS_VENV``); the two
exchange a Parquet file. The test is skipped, saying why, only when that virtualenv is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeylens.analytics.paths import PathsSpec, run_transitions
from journeylens.schema import EVENTS, arrow_schema

PEERS = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", "/work/peers-venv")) / "bin" / "python"

PM4PY_DFG = """
import json, sys
import pandas as pd
import pm4py
log = pd.read_parquet(sys.argv[1])
dfg, _, _ = pm4py.discover_dfg(
    log, case_id_key="person_id", activity_key="touchpoint", timestamp_key="ts"
)
json.dump([[a, b, n] for (a, b), n in dfg.items()], open(sys.argv[2], "w"))
"""


def random_log(seed: int, people: int, events: int) -> pa.Table:
    """A log with repeats, loops and many equal timestamps (times on a coarse minute grid)."""
    rng = np.random.default_rng(seed)
    person = rng.integers(0, people, events)
    minute = rng.integers(0, 500, events)
    touchpoints = np.array([f"tp{i:02d}" for i in range(12)])
    ts = np.datetime64("2026-01-01T00:00:00", "us") + minute * np.timedelta64(60, "s")
    columns: dict[str, Any] = dict.fromkeys(EVENTS.names)
    columns.update(
        event_id=[f"e{i:07d}" for i in range(events)],
        ts=ts,
        received_at=ts,
        event=touchpoints[rng.zipf(1.6, events) % 12],
        person_id=[f"p{p:04d}" for p in person],
    )
    columns["touchpoint"] = columns["event"]
    schema = arrow_schema(EVENTS)
    return pa.table(
        {
            name: pa.array(
                columns[name] if columns[name] is not None else [None] * events,
                type=schema.field(name).type,
            )
            for name in EVENTS.names
        },
        schema=schema,
    )


@pytest.mark.skipif(not PEERS.exists(), reason=f"pm4py's virtualenv is absent ({PEERS})")
def test_transitions_equal_pm4py_directly_follows_graph(tmp_path: Path) -> None:
    table = random_log(seed=11, people=300, events=6000)
    # pm4py orders a case by timestamp with a stable sort, so rows go in in journeylens's order
    # (ts, then event_id): ties then resolve the same way on both sides.
    ordered = table.sort_by(
        [("person_id", "ascending"), ("ts", "ascending"), ("event_id", "ascending")]
    )
    log = tmp_path / "log.parquet"
    pq.write_table(ordered.select(["person_id", "touchpoint", "ts"]), log)
    out = tmp_path / "dfg.json"
    subprocess.run(
        [str(PEERS), "-c", PM4PY_DFG, str(log), str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    theirs = {(a, b): n for a, b, n in json.loads(out.read_text())}

    events = ibis.duckdb.connect().create_table("events", table)
    result = run_transitions(events, PathsSpec(include_end=False, goal=()))
    ours = {(r["from"], r["to"]): r["count"] for r in result.to_dict()}

    assert sum(ours.values()) == len(table) - len(set(table.column("person_id").to_pylist()))
    assert ours == theirs
