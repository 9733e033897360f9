"""Benchmark: the transition graph in journeylens (DuckDB) against pm4py, polars and a raw scan.

    .venv/bin/python bench/paths.py --events 1000000 [--events 10000000] [--peers /work/peers-venv]

Data: generated with numpy — ~50 touchpoints (Zipf-like popularity), people with geometric journey
lengths (mean ~8 events), timestamps spread over 90 days. The same columns go to every contender
through one Parquet file; pm4py (``discover_dfg``) and polars run in the peers' virtualenv in a
subprocess, and time only their own work after loading (the load is reported apart).
Figures are seconds from one run on a shared machine: read the ratios, not the absolute values.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from pathlib import Path

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from journeylens.analytics.paths import PathsSpec, build_transitions, fetch

PEER_SCRIPT = """
import json, sys, time
import pandas as pd
import polars as pl
path, which = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if which == "pm4py":
    import pm4py
    log = pd.read_parquet(path)
    t1 = time.perf_counter()
    dfg, _, _ = pm4py.discover_dfg(
        log, case_id_key="person_id", activity_key="touchpoint", timestamp_key="ts"
    )
    pairs = sum(dfg.values())
else:
    log = pl.read_parquet(path)
    t1 = time.perf_counter()
    s = log.sort(["person_id", "ts", "event_id"])
    s = s.with_columns(
        nxt=pl.col("touchpoint").shift(-1).over("person_id"),
        gap=(pl.col("ts").shift(-1).over("person_id") - pl.col("ts")).dt.total_seconds(),
    ).filter(pl.col("nxt").is_not_null())
    g = s.group_by("touchpoint", "nxt").agg(
        count=pl.len(), people=pl.col("person_id").n_unique(), median_seconds=pl.col("gap").median()
    )
    g = g.with_columns(probability=pl.col("count") / pl.col("count").sum().over("touchpoint"))
    pairs = int(g["count"].sum())
t2 = time.perf_counter()
print(json.dumps({"load": t1 - t0, "work": t2 - t1, "pairs": int(pairs)}))
"""


def generate(events: int, seed: int = 7) -> pa.Table:
    """``events`` rows of (event_id, person_id, ts, touchpoint, event) in random row order."""
    rng = np.random.default_rng(seed)
    lengths = rng.geometric(1 / 8, size=events // 4)
    lengths = lengths[: int(np.searchsorted(np.cumsum(lengths), events)) + 1]
    lengths[-1] -= int(lengths.sum()) - events
    person = np.repeat(np.arange(len(lengths)), lengths)
    start = rng.integers(0, 90 * 86400, len(lengths))[person]
    offset = rng.exponential(600, events).astype(np.int64)  # each person's events 10 min apart
    ts = np.datetime64("2026-01-01T00:00:00", "s") + (start + offset)
    weights = 1 / np.arange(1, 51) ** 1.1
    touch = rng.choice(50, size=events, p=weights / weights.sum())
    names = np.array([f"touchpoint_{i:02d}" for i in range(50)])
    order = rng.permutation(events)
    return pa.table(
        {
            "event_id": pa.array(np.char.add("e", np.arange(events).astype(str))[order]),
            "person_id": pa.array(np.char.add("p", person.astype(str))[order]),
            "ts": pa.array(ts[order].astype("datetime64[us]")),
            "touchpoint": pa.array(names[touch][order]),
            "event": pa.array(names[touch][order]),
        }
    )


def timed(fn: object) -> tuple[float, object]:
    start = time.perf_counter()
    value = fn()  # type: ignore[operator]
    return time.perf_counter() - start, value


def peer(python: Path, parquet: Path, which: str) -> dict[str, float]:
    out = subprocess.run(
        [str(python), "-c", PEER_SCRIPT, str(parquet), which],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(events: int, peers: Path, skip_pm4py: bool) -> None:
    table = generate(events)
    with tempfile.TemporaryDirectory() as tmp:
        parquet = Path(tmp) / "events.parquet"
        pq.write_table(table, parquet)
        con = ibis.duckdb.connect()
        t = con.create_table("events", table)
        spec = PathsSpec(include_end=False, goal=())
        expr = build_transitions(t, spec)
        fetch(expr)  # warm: compile paths and caches, as a long-running service would be
        ours, graph = timed(lambda: fetch(build_transitions(t, spec)))
        scan_sql = (
            "SELECT count(*), count(DISTINCT touchpoint), min(ts), max(person_id) FROM events"
        )
        scan, _ = timed(lambda: con.raw_sql(scan_sql).fetchall())
        pairs = int(graph["count"].sum())  # type: ignore[index]
        print(f"\n{events:,} events, {pairs:,} transitions, {len(graph):,} edges")  # type: ignore[arg-type]
        print(f"  journeylens (DuckDB) {ours:8.2f} s")
        print(f"  DuckDB scan          {scan:8.2f} s   journeylens / scan   = {ours / scan:6.1f}×")
        python = peers / "bin" / "python"
        if not python.exists():
            print(f"  peers' virtualenv {peers} is absent: pm4py and polars not run")
            return
        contenders = ["polars"] if skip_pm4py else ["polars", "pm4py"]
        for which in contenders:
            figures = peer(python, parquet, which)
            assert figures["pairs"] == pairs, (which, figures["pairs"], pairs)
            ratio = figures["work"] / ours
            print(
                f"  {which:<20} {figures['work']:8.2f} s   (load {figures['load']:.2f} s)   "
                f"{which} / journeylens = {ratio:6.1f}×"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="events (repeatable)")
    parser.add_argument("--peers", type=Path, default=Path("/work/peers-venv"))
    parser.add_argument("--skip-pm4py", action="store_true", help="pm4py is slow at 10M")
    args = parser.parse_args()
    for n in args.events or [1_000_000]:
        run(n, args.peers, args.skip_pm4py)


if __name__ == "__main__":
    main()
