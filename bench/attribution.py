"""Benchmark: raw events → every attribution model, against pandas paths + ChannelAttribution.

Both sides start from the same events, an Arrow table in memory, with ``person_key`` and
``person_seq`` filled as the store fills them; both key people by the integer. journeylens
builds journeys in DuckDB, scanning that table in place, and runs every model of ``"all"``
(eight rule-based, exact Markov, Shapley); "+copy" is the same run after first copying the
events into a DuckDB table. The peer converts the table to pandas, builds paths (sort, group,
join) and runs ChannelAttribution's Markov model (order 1, its default simulation) in its own
virtualenv; its time is the pandas part plus the model's own run, measured inside the peer
process. Each side runs ``--repeat`` times (default 3), the rounds interleaved so that a busy
moment of the machine hits both alike, and the medians are shown.

    .venv/bin/python bench/attribution.py --events 1000000 10000000 [--repeat 3] [--touchpoints 12]
    JOURNEYLENS_PEERS_VENV=/path/to/venv  # a virtualenv with ChannelAttribution and pandas
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import duckdb
import ibis
import numpy as np
import pandas as pd
import pyarrow as pa

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.schema import EVENTS, arrow_schema

TOUCHPOINTS = 12  # at most 15: Shapley is exact over every coalition at once (see --touchpoints)
PEERS = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", "/work/peers-venv"))

PEER = """
import json, sys, time
import pandas as pd
import ChannelAttribution as ca
paths = pd.read_parquet(sys.argv[1])
start = time.perf_counter()
ca.markov_model(paths, "path", "conv", var_value="value", var_null="null", flg_pro=False,
                verbose=False)
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


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


def ours(table: pa.Table, copy: bool = False) -> float:
    start = time.perf_counter()
    # ibis.memtable registers the Arrow table with DuckDB, which scans it where it is.
    events = ibis.duckdb.connect().create_table("events", table) if copy else ibis.memtable(table)
    run_attribution(events, AttributionSpec("all"))
    return time.perf_counter() - start


def pandas_paths(table: pa.Table, lookback: int = 30 * 86400) -> pd.DataFrame:
    """Paths as ChannelAttribution wants them: the same journeys as journeylens builds."""
    columns = ["person_key", "person_seq", "ts", "event", "touchpoint", "revenue"]
    frame = table.select(columns)
    df = frame.to_pandas().rename(columns={"person_key": "person_id"})
    df["t"] = df["ts"].astype("int64") // 10**6
    df["conv"] = (df["event"] == "purchase").astype(int)
    df = df.sort_values(["person_id", "t", "conv", "person_seq"])
    df["journey"] = df.groupby("person_id")["conv"].cumsum() - df["conv"]
    conversions = df.loc[df["conv"] == 1, ["person_id", "journey", "t", "revenue"]]
    touches = df.loc[df["conv"] == 0, ["person_id", "journey", "t", "touchpoint"]]
    touches = touches.merge(
        conversions.rename(columns={"t": "end"}), on=["person_id", "journey"], how="left"
    )
    last = touches.groupby(["person_id", "journey"])["t"].transform("max")
    touches["converted"] = touches["end"].notna().astype(int)
    touches["end"] = touches["end"].fillna(last)
    touches = touches[touches["end"] - touches["t"] <= lookback]
    journeys = touches.groupby(["person_id", "journey"], sort=False).agg(
        path=("touchpoint", " > ".join), conv=("converted", "max"), value=("revenue", "max")
    )
    journeys["value"] = journeys["value"].fillna(0.0)
    journeys["null"] = 1 - journeys["conv"]
    return journeys.groupby("path", as_index=False)[["conv", "null", "value"]].sum()


def peer(table: pa.Table) -> float | None:
    python = PEERS / "bin" / "python"
    if not python.exists():
        return None
    start = time.perf_counter()
    paths = pandas_paths(table)
    building = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "paths.parquet"
        paths.to_parquet(path)
        out = subprocess.run(
            [str(python), "-c", PEER, str(path)], capture_output=True, text=True, check=True
        )
    return building + json.loads(out.stdout.strip().splitlines()[-1])["seconds"]


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
    args = parser.parse_args()
    print(
        f"{'events':>12} {'journeylens s':>14} {'+copy s':>8} {'pandas+CA s':>12} "
        f"{'ratio':>7} {'+copy':>6}"
    )
    # Imports and first compiles are not timed, as the peer's own imports are not.
    ours(generate(1000))
    for size in args.events:
        table = generate(size, touchpoints=args.touchpoints)
        rounds = [(ours(table), ours(table, copy=True), peer(table)) for _ in range(args.repeat)]
        mine, copied = (statistics.median(r[i] for r in rounds) for i in (0, 1))
        peers = [r[2] for r in rounds if r[2] is not None]
        theirs = statistics.median(peers) if peers else None
        ratios = f"{theirs / mine:6.1f}x {theirs / copied:5.1f}x" if theirs else "   n/a    n/a"
        shown = f"{theirs:12.2f}" if theirs else f"{'absent':>12}"
        print(f"{table.num_rows:>12,} {mine:14.2f} {copied:8.2f} {shown} {ratios}")


if __name__ == "__main__":
    main()
