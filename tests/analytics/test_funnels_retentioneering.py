"""The ordered funnel equals retentioneering's funnel on the same event log.

retentioneering's funnel has no conversion window: a path reaches step ``k`` when it holds the
steps' events in order, each the first after the one before. journeylens's ``ordered`` funnel
with a window longer than the log counts the same people. retentioneering orders a path by its
``index`` column: the test gives each event its place in journeylens's order (``ts``, then
``event_id``), so equal timestamps resolve alike.

retentioneering runs in the peers' virtualenv (``/work/peers-venv`` or
``$JOURNEYLENS_PEERS_VENV``); the two exchange a Parquet file. The test is skipped, saying why,
only when that virtualenv is missing.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import ibis
import pyarrow.parquet as pq
import pytest

from journeylens.analytics.funnels import FunnelSpec, run_funnel
from journeylens.testing import random_events

PEERS = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", "/work/peers-venv")) / "bin" / "python"

FUNNEL = """
import json, sys
import pandas as pd
from retentioneering import Eventstream
log = pd.read_parquet(sys.argv[1])
schema = {"path_cols": ["person_id"], "event_col": "event", "timestamp_col": "ts"}
stream = Eventstream(log, schema=schema)
answers = [
    [step["unique_paths"] for step in stream.funnel_data(steps=steps)["steps"]]
    for steps in json.loads(sys.argv[2])
]
json.dump(answers, open(sys.argv[3], "w"))
"""

FUNNELS = [
    ["tp00", "tp01", "tp02", "tp03"],
    ["tp03", "tp00", "tp05"],
    # A step twice: its second occurrence must come after the step between.
    ["tp01", "tp02", "tp01", "tp04"],
    ["tp05", "tp06", "tp07", "tp08"],
    ["tp02", "tp01", "tp03", "tp01", "tp04", "tp02"],
]


@pytest.mark.skipif(not PEERS.exists(), reason=f"the peers' virtualenv is absent ({PEERS})")
def test_ordered_funnel_equals_retentioneering(tmp_path: Path) -> None:
    table = random_events(seed=5, people=400, events=8000)
    log = table.select(["person_id", "event", "ts", "person_seq"]).rename_columns(
        ["person_id", "event", "ts", "index"]
    )
    path, out = tmp_path / "log.parquet", tmp_path / "funnels.json"
    pq.write_table(log, path)
    subprocess.run(
        [str(PEERS), "-c", FUNNEL, str(path), json.dumps(FUNNELS), str(out)],
        check=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, "RETENTIONEERING_NO_TRACK": "1"},  # it reports usage unless told
    )
    theirs = json.loads(out.read_text())

    events = ibis.duckdb.connect().create_table("events", table)
    ours = [
        run_funnel(events, FunnelSpec(steps=steps, within="3650d")).to_frame()["people"].tolist()
        for steps in FUNNELS
    ]

    assert ours == theirs
    # The log is rich enough that every funnel loses people at some step and keeps some to
    # the end: the comparison is not between empty or trivial funnels.
    assert all(0 < counts[-1] < counts[0] for counts in ours)
