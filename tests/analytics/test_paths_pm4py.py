"""The transition graph equals pm4py's directly-follows graph on the same event log.

pm4py runs in its own virtualenv (``/work/peers-venv`` or ``$JOURNEYLENS_PEERS_VENV``); the two
exchange a Parquet file. The test is skipped, saying why, only when that virtualenv is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest

from journeylens.analytics.paths import PathsSpec, run_transitions
from journeylens.testing import random_events

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


def _pm4py_dfg(script: str, log: Path, out: Path) -> dict[tuple[str, str], int]:
    """Run ``script`` with pm4py on ``log``; the directly-follows counts it writes to ``out``."""
    subprocess.run(
        [str(PEERS), "-c", script, str(log), str(out)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    return {(a, b): n for a, b, n in json.loads(out.read_text())}


@pytest.mark.skipif(not PEERS.exists(), reason=f"pm4py's virtualenv is absent ({PEERS})")
def test_transitions_equal_pm4py_directly_follows_graph(tmp_path: Path) -> None:
    table = random_events(seed=11, people=300, events=6000)
    # pm4py orders a case by timestamp with a stable sort, so rows go in in journeylens's order
    # (ts, then event_id): ties then resolve the same way on both sides.
    ordered = table.sort_by(
        [("person_id", "ascending"), ("ts", "ascending"), ("event_id", "ascending")]
    )
    log = tmp_path / "log.parquet"
    pq.write_table(ordered.select(["person_id", "touchpoint", "ts"]), log)
    out = tmp_path / "dfg.json"
    theirs = _pm4py_dfg(PM4PY_DFG, log, out)

    events = ibis.duckdb.connect().create_table("events", table)
    result = run_transitions(events, PathsSpec(include_end=False, goal=()))
    ours = {(r["from"], r["to"]): r["count"] for r in result.to_dict()}

    assert sum(ours.values()) == len(table) - len(set(table.column("person_id").to_pylist()))
    assert ours == theirs


XES_LOG = """
import json, sys
import numpy as np
import pandas as pd
import pm4py
rng = np.random.default_rng(3)
rows = []
for case in range(120):
    at = pd.Timestamp("2026-01-05T08:00:00+01:00") + pd.Timedelta(hours=int(rng.integers(0, 900)))
    for _ in range(int(rng.integers(1, 12))):
        at += pd.Timedelta(seconds=int(rng.choice([0, 30, 600, 7200])))  # same-time events too
        rows.append({"case:concept:name": f"case {case}", "time:timestamp": at,
                     "concept:name": str(rng.choice(["register", "check", "decide", "pay"])),
                     "org:resource": str(rng.choice(["Pete", "Sue"]))})
if sys.argv[1].endswith(".xes"):
    pm4py.write_xes(pm4py.convert_to_event_log(pd.DataFrame(rows)), sys.argv[1])
    log = pm4py.read_xes(sys.argv[1], return_legacy_log_object=False)
else:  # a process-mining tool's CSV export (Disco's columns)
    names = {"case:concept:name": "Case ID", "concept:name": "Activity",
             "org:resource": "Resource", "time:timestamp": "Complete Timestamp"}
    pd.DataFrame(rows).rename(columns=names).to_csv(sys.argv[1], index=False)
    log = pm4py.format_dataframe(pd.read_csv(sys.argv[1]), case_id="Case ID",
                                 activity_key="Activity", timestamp_key="Complete Timestamp")
dfg, _, _ = pm4py.discover_dfg(log)
json.dump([[a, b, n] for (a, b), n in dfg.items()], open(sys.argv[2], "w"))
"""


@pytest.mark.skipif(not PEERS.exists(), reason=f"pm4py's virtualenv is absent ({PEERS})")
@pytest.mark.parametrize("name", ["log.xes", "log.csv"])
def test_a_log_that_pm4py_wrote_imports_to_its_directly_follows_graph(
    tmp_path: Path, name: str
) -> None:
    # An XES log, and the same events as a process-mining CSV export: imported without --map.
    from journeylens.workspace import init_workspace

    log, out = tmp_path / name, tmp_path / "dfg.json"
    theirs = _pm4py_dfg(XES_LOG, log, out)
    with init_workspace(tmp_path / "ws") as workspace:
        summary = workspace.import_files([log])
        assert summary.rejected == 0
        result = run_transitions(workspace.events, PathsSpec(level="event", include_end=False))
        ours = {(r["from"], r["to"]): r["count"] for r in result.to_dict()}
        people = workspace.store.execute(workspace.events.person_id.nunique())
    assert people == 120
    assert sum(ours.values()) == summary.stored - people
    assert ours == theirs
