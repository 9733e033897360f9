"""Benchmark: raw events → every attribution model, against pandas paths + ChannelAttribution.

Both sides start from the same events, written once to Parquet, with ``person_key`` and
``person_seq`` filled as the store fills them; both key people by the integer. Every contender
runs in a process of its own, reads the file into an Arrow table (the load, not timed) and times
its work. journeylens builds journeys in DuckDB and runs every model of ``"all"`` (eight
rule-based, exact Markov, Shapley) three ways: scanning the Arrow table in place; from a DuckDB
table the events were copied into beforehand ("stored": as in a workspace, where the import
stored them, see ``import.py``); and copying them into one as part of the run ("+copy"). Its
DuckDB runs with its default memory limit (80% of the machine's), not the store's. The peer
(``attribution_peer.py``, in the peers' virtualenv) converts the table to pandas, builds paths
(sort, group, join) and runs ChannelAttribution's Markov model (order 1, its default
simulation). Each side runs ``--repeat`` times (default 3), the rounds interleaved so that a
busy moment of the machine hits both alike; the medians are shown, with each side's highest
peak memory (resident set).

    .venv/bin/python bench/attribution.py --events 1000000 10000000 [--repeat 3] [--touchpoints 12]
    .venv/bin/python bench/attribution.py --workspace bench/data/demo_10000000 [--repeat 3]
    JOURNEYLENS_PEERS_VENV=/path/to/venv  # a virtualenv with ChannelAttribution and pandas

``--workspace`` takes the events of a workspace instead (the demo's: 37 touchpoints, longer
journeys than the generated ones, so Shapley has larger coalitions): those of known people that
are a purchase or have a touchpoint, the rows journeys are built from.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _measure import peak_mb

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.schema import EVENTS, arrow_schema

TOUCHPOINTS = 12  # at most 15: Shapley is exact over every coalition at once (see --touchpoints)
PEERS = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", "/work/peers-venv"))

PEER = Path(__file__).with_name("attribution_peer.py")


def generate(events: int, seed: int = 0, touchpoints: int = TOUCHPOINTS) -> pa.Table:
    """People with 1-8 touches a few hours apart over 90 days; about one in six buys. The
    touches are spread over ``touchpoints`` names, the first twice as often as the last."""
    rng = np.random.default_rng(seed)
    people = events // 5
    lengths = rng.integers(1, 9, people)
    buys = rng.random(people) < 0.05 + 0.03 * lengths
    per_person = lengths + buys
    total = int(per_person.sum())
    person = np.repeat(np.arange(people), per_person)
    step = np.arange(total) - np.repeat(np.cumsum(per_person) - per_person, per_person)
    start = rng.integers(0, 90 * 86400, people)
    seconds = np.repeat(start, per_person) + step * rng.integers(600, 36000, total)
    is_purchase = np.zeros(total, bool)
    is_purchase[np.cumsum(per_person)[buys] - 1] = True
    weights = np.linspace(2, 1, touchpoints)
    choice = rng.choice(touchpoints, total, p=weights / weights.sum())
    names = pa.array([*(f"tp{i:02d}" for i in range(touchpoints)), "purchase"])
    index = pa.array(np.where(is_purchase, touchpoints, choice).astype(np.int32))
    event = pa.DictionaryArray.from_arrays(index, names).cast(pa.string())
    touchpoint = pa.array(np.where(is_purchase, None, np.asarray(event)), pa.string())
    ts = pa.array(np.datetime64("2026-01-01", "s") + seconds, pa.timestamp("us"))
    revenue = np.where(is_purchase, rng.gamma(2.0, 40.0, total), np.nan)
    columns = {
        "event_id": pa.array(np.arange(total)).cast(pa.string()),
        "ts": ts,
        "received_at": ts,
        "event": event,
        "type": pa.array(np.full(total, "track")),
        "person_id": pa.array(person).cast(pa.string()),
        "touchpoint": touchpoint,
        "revenue": pa.array(revenue, from_pandas=True),
    }
    schema = arrow_schema(EVENTS)
    full = [columns.get(f.name, pa.nulls(total, f.type)) for f in schema]
    return with_sequence_keys(pa.Table.from_arrays(full, schema=schema))


def with_sequence_keys(table: pa.Table) -> pa.Table:
    """``person_key`` and ``person_seq`` filled as the store's rebuild fills them."""
    with duckdb.connect() as con:
        con.register("source", table)
        numbered = con.sql(
            "SELECT * REPLACE (dense_rank() OVER (ORDER BY person_id) AS person_key, "
            "row_number() OVER (PARTITION BY person_id ORDER BY ts, event_id) AS person_seq) "
            "FROM source ORDER BY person_key, person_seq"
        ).to_arrow_table()
    return numbered.cast(table.schema)


# How journeylens meets the events: scanned where they are (the Arrow table), from a DuckDB table
# they were copied into beforehand (as in a workspace, where the import stored them), or copied
# into one as part of the timed run.
WAYS = {"arrow": "in place", "stored": "stored", "copy": "+copy"}


def ours(table: pa.Table, way: str = "arrow") -> float:
    if way == "stored":
        events = ibis.duckdb.connect().create_table("events", table)
    start = time.perf_counter()
    if way == "copy":
        events = ibis.duckdb.connect().create_table("events", table)
    elif way == "arrow":
        # ibis.memtable registers the Arrow table with DuckDB, which scans it where it is.
        events = ibis.memtable(table)
    run_attribution(events, AttributionSpec("all"))
    return time.perf_counter() - start


def workspace_events(directory: Path) -> pa.Table:
    """A workspace's events that journeys are built from (see the module docstring)."""
    from journeylens.workspace import open_workspace

    ws = open_workspace(directory)
    try:
        sql = (
            "SELECT * FROM events WHERE person_key IS NOT NULL "
            "AND (event = 'purchase' OR touchpoint IS NOT NULL)"
        )
        return ws.store.raw.execute(sql).to_arrow_table()
    finally:
        ws.close()


def run_ours(path: str, way: str) -> None:
    """Child process: the events read from ``path`` (not timed), then one timed run."""
    table = pq.read_table(path)
    ours(generate(1000))  # imports and first compiles, as the peer's own imports, not timed
    seconds = ours(table, way)
    print(json.dumps({"seconds": seconds, "peak_mb": peak_mb()}))


def child(python: Path | str, *args: str) -> dict[str, float]:
    out = subprocess.run([str(python), *args], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def contenders(path: Path) -> dict[str, dict[str, float]]:
    """One round: each contender in a process of its own, on the events at ``path``."""
    me = [sys.executable, __file__, "--child"]
    python = PEERS / "bin" / "python"
    mine = {way: child(*me, way, str(path)) for way in WAYS}
    return {**mine, **({"peer": child(python, str(PEER), str(path))} if python.exists() else {})}


def median_of(rounds: list[dict[str, dict[str, float]]], who: str) -> float:
    return statistics.median(r[who]["seconds"] for r in rounds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="rounds per size (medians shown)")
    parser.add_argument(
        "--touchpoints",
        type=int,
        default=TOUCHPOINTS,
        help="distinct touchpoints (past 15, Shapley solves each observed coalition's game)",
    )
    parser.add_argument("--workspace", type=Path, help="a workspace's events instead")
    parser.add_argument("--child", nargs=2, metavar=("WAY", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_ours(args.child[1], args.child[0])
        return
    print("seconds (medians), the peer's time over journeylens's, and the highest peak memory")
    sources = (
        [lambda: workspace_events(args.workspace)]
        if args.workspace
        else [lambda n=n: generate(n, touchpoints=args.touchpoints) for n in args.events]
    )
    for source in sources:
        table = source()
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "events.parquet"
            pq.write_table(table, path)
            rounds = [contenders(path) for _ in range(args.repeat)]
        print(f"{table.num_rows:,} events:")
        theirs = median_of(rounds, "peer") if "peer" in rounds[0] else None
        for who in [*WAYS, "peer"]:
            if who not in rounds[0]:
                print(f"  {'pandas + ChannelAttribution':<28} absent")
                continue
            seconds, peak = median_of(rounds, who), max(r[who]["peak_mb"] for r in rounds)
            name = f"journeylens, {WAYS[who]}" if who in WAYS else "pandas + ChannelAttribution"
            ratio = f"   {theirs / seconds:4.1f}x" if theirs and who in WAYS else ""
            print(f"  {name:<28} {seconds:7.2f} s   peak {peak:6.0f} MB{ratio}")


if __name__ == "__main__":
    main()
