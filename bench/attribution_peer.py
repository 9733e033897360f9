"""The attribution benchmark's peer: paths built in pandas, then ChannelAttribution's Markov model.

Runs in the peers' virtualenv (pandas, pyarrow and ChannelAttribution, no journeylens):

    python bench/attribution_peer.py EVENTS.parquet

Reads the events (not timed: the load), then times converting them to pandas, building the same
journeys as journeylens (``pandas_paths``) and running the model; prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from _measure import peak_mb

LOOKBACK = 30 * 86400


def pandas_paths(table: pa.Table, lookback: int = LOOKBACK) -> pd.DataFrame:
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


def main() -> None:
    import ChannelAttribution as ca

    table = pq.read_table(sys.argv[1])
    start = time.perf_counter()
    paths = pandas_paths(table)
    built = time.perf_counter()
    ca.markov_model(
        paths, "path", "conv", var_value="value", var_null="null", flg_pro=False, verbose=False
    )
    end = time.perf_counter()
    figures = {"seconds": end - start, "paths": built - start, "peak_mb": peak_mb()}
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
