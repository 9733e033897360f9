"""Benchmark: funnel, transition graph and friction on the demo data, against the peers.

    .venv/bin/python bench/journeys.py --events 1000000 [--events 10000000] \
        [--peers .venv-peers] [--skip-pm4py] [--skip-retentioneering] [--repeat N]

Data: the demo generator's workspace at each size (built once into ``bench/data/demo_<n>``),
its ``person_id, ts, event_id, event, touchpoint`` columns exported to Parquet for the peers.
Every contender runs in its own process, timed after loading its data (load reported apart:
opening the workspace, or reading the Parquet file, and for retentioneering building its
Eventstream), with its peak memory (max RSS). Contenders:

- journeylens (DuckDB store): a 4-step ordered funnel with a 7-day window, and a 12-step one
  (``funnel12``, from the landing page to the app); the transition graph
  of touchpoints (counts, people, probabilities, median seconds); friction (touchpoint × channel,
  device and interaction).
- a DuckDB scan of the same columns, the floor any analysis over them pays, two ways: an
  aggregate over them (``scan``: DuckDB reads the compressed columns and returns one row), and
  the columns read out as an Arrow table (``readout``: what a tool that loads the events before
  analysing them starts from; the issue's reference figure for "a DuckDB scan of the columns",
  about 1.2 s at 10M events, matches this one);
- one window over the same events in each person's order (the next event's time, by
  ``person_key`` in ``person_seq`` order), the floor any analysis of sequences pays (every
  transition graph and friction reads at least one such pass);
- a hand-vectorised pandas funnel (first entry, each next step the first after the previous,
  within 7 days of the entry), at 4 and 12 steps, which counts the same people per step as
  journeylens; and retentioneering's funnel (4 steps, no window; its line also gives the ratio
  counting the Eventstream it builds from the events);
- pm4py's directly-follows graph and the same graph hand-written in polars.

Figures are seconds on a shared machine: read the ratios, not the absolute values. With
``--repeat N`` every contender runs N times, the rounds interleaved so that a busy moment hits
them alike, and the median time (and the highest peak) is shown.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from _measure import peak_mb

DATA = Path(__file__).parent / "data"
STEPS = ["product_view", "add_to_cart", "checkout_start", "purchase"]
LONG_STEPS = [
    "landing_page_view",
    "pricing_view",
    "reviews_view",
    "product_view",
    "comparison_view",
    "add_to_cart",
    "cart_view",
    "checkout_start",
    "checkout_payment",
    "purchase",
    "onboarding_email_open",
    "app_open",
]
WINDOW_SECONDS = 7 * 86_400

PEER_SCRIPT = r"""
import json, sys, time
import pandas as pd
path, which, steps, window = sys.argv[1], sys.argv[2], sys.argv[3].split(","), int(sys.argv[4])
t0 = time.perf_counter()
log = pd.read_parquet(path)
t1 = time.perf_counter()
if which == "pandas":
    s = log[log["event"].isin(steps)]
    reached = s[s["event"] == steps[0]].groupby("person_id")["ts"].min().rename("t0")
    people = [len(reached)]
    start, prev = reached, reached
    for step in steps[1:]:
        m = s[s["event"] == step].join(prev.rename("prev"), on="person_id", how="inner")
        m = m.join(start.rename("start"), on="person_id")
        m = m[(m["ts"] > m["prev"]) & (m["ts"] - m["start"] <= pd.Timedelta(seconds=window))]
        prev = m.groupby("person_id")["ts"].min()
        people.append(len(prev))
    result = people
elif which == "retentioneering":
    from retentioneering import Eventstream
    stream = Eventstream(
        log[["person_id", "event", "ts"]],
        schema={"path_cols": ["person_id"], "event_col": "event", "timestamp_col": "ts"},
    )
    t1 = time.perf_counter()  # building the eventstream is its loading
    data = stream.funnel_data(steps=steps)
    result = [s["unique_paths"] for s in data["steps"]]
elif which == "pm4py":
    import pm4py
    dfg, _, _ = pm4py.discover_dfg(
        log.fillna({"touchpoint": "(unmapped)"}),
        case_id_key="person_id", activity_key="touchpoint", timestamp_key="ts",
    )
    result = int(sum(dfg.values()))
else:
    import polars as pl
    log = pl.from_pandas(log)
    t1 = time.perf_counter()  # the conversion to polars is loading, not work
    # Lazy, and the next event by one shift of the sorted frame (a window per person, with
    # .over(), took about twice as long).
    s = log.lazy().with_columns(pl.col("touchpoint").fill_null("(unmapped)"))
    s = s.sort(["person_id", "ts", "event_id"])
    same = pl.col("person_id").shift(-1) == pl.col("person_id")
    s = s.with_columns(
        nxt=pl.when(same).then(pl.col("touchpoint").shift(-1)),
        gap=pl.when(same).then((pl.col("ts").shift(-1) - pl.col("ts")).dt.total_seconds()),
    ).filter(pl.col("nxt").is_not_null())
    g = s.group_by("touchpoint", "nxt").agg(
        count=pl.len(), people=pl.col("person_id").n_unique(), median_seconds=pl.col("gap").median()
    )
    g = g.with_columns(probability=pl.col("count") / pl.col("count").sum().over("touchpoint"))
    g = g.collect()
    result = int(g["count"].sum())
t2 = time.perf_counter()
peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
print(json.dumps({"load": t1 - t0, "work": t2 - t1, "result": result, "peak_mb": peak}))
"""


def demo_workspace(events: int) -> Path:
    """The demo workspace of ``events`` events, generated once."""
    from journeylens.workspace import init_workspace

    path = DATA / f"demo_{events}"
    if not (path / ".ready").exists():
        ws = init_workspace(path, force=True)
        ws.load_demo(events=events)
        ws.close()
        (path / ".ready").write_text("1")
    return path


def export_columns(workspace: Path) -> Path:
    """The columns the peers need, as Parquet, next to the workspace."""
    from journeylens.workspace import open_workspace

    target = workspace / "journeys.parquet"
    if not target.exists():
        ws = open_workspace(workspace)
        ws.store.raw.execute(
            "COPY (SELECT person_id, ts, event_id, event, touchpoint FROM events "
            "WHERE person_id IS NOT NULL) TO ? (FORMAT parquet)",
            [str(target)],
        )
        ws.close()
    return target


def run_ours(workspace: str, which: str) -> None:
    """Child process: one journeylens analysis, printed as JSON."""
    from journeylens.analytics.funnels import FunnelSpec, run_funnel
    from journeylens.analytics.paths import PathsSpec, build_transitions, fetch
    from journeylens.workspace import open_workspace

    t0 = time.perf_counter()
    ws = open_workspace(workspace)
    t1 = time.perf_counter()
    result: object
    if which in ("funnel", "funnel12"):
        steps = STEPS if which == "funnel" else LONG_STEPS
        frame = run_funnel(ws.events, FunnelSpec(steps=steps, within="7d")).to_frame()
        result = frame["people"].astype(int).tolist()
    elif which == "transitions":
        spec = PathsSpec(include_end=False, goal=())
        graph = fetch(build_transitions(ws.events, spec, whole=True))
        result = int(graph["count"].sum())
    elif which == "friction":
        result = len(ws.friction().to_frame())
    elif which == "readout":
        sql = "SELECT person_id, ts, event_id, event, touchpoint FROM events"
        result = ws.store.raw.execute(sql).to_arrow_table().num_rows
    elif which == "window":
        sql = (
            "SELECT count(after) FROM (SELECT lead(ts) OVER (PARTITION BY person_key "
            "ORDER BY person_seq) AS after FROM events)"
        )
        result = ws.store.raw.execute(sql).fetchall()[0][0]
    else:
        sql = (
            "SELECT count(*), count(DISTINCT event), count(DISTINCT touchpoint), min(ts), "
            "max(person_id), max(event_id) FROM events"
        )
        result = ws.store.raw.execute(sql).fetchall()[0][0]
    t2 = time.perf_counter()
    print(json.dumps({"load": t1 - t0, "work": t2 - t1, "result": result, "peak_mb": peak_mb()}))


def child(args: list[str], python: str = sys.executable) -> dict[str, object]:
    env = {**os.environ, "RETENTIONEERING_NO_TRACK": "1"}  # it reports usage unless told
    out = subprocess.run([python, *args], check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def ours(workspace: Path, which: str) -> dict[str, object]:
    return child([__file__, "--child", str(workspace), which])


def peer(python: Path, parquet: Path, which: str) -> dict[str, object]:
    # "pandas12" is the pandas funnel over the 12 steps.
    steps = LONG_STEPS if which.endswith("12") else STEPS
    which = which.removesuffix("12")
    args = ["-c", PEER_SCRIPT, str(parquet), which, ",".join(steps), str(WINDOW_SECONDS)]
    return child(args, str(python))


# Peers whose analysis needs a structure built from the events first (retentioneering's
# Eventstream): their "load" is part of answering from raw events, so the line also gives the
# ratio with it (journeylens's own preparation is the import, measured by bench/import.py).
PREPARED = {"retentioneering"}


def line(name: str, figures: dict[str, object], against: float | None = None) -> str:
    work = float(figures["work"])  # type: ignore[arg-type]
    load, peak = float(figures["load"]), float(figures["peak_mb"])  # type: ignore[arg-type]
    text = f"  {name:<28} {work:8.2f} s  load {load:6.2f} s  peak {peak:7.0f} MB"
    if against:
        text += f"   {work / against:6.1f}× journeylens"
        if name in PREPARED:
            text += f" ({(load + work) / against:.1f}× with its load)"
    return text + f"   -> {figures['result']}"


PEERS_OF = {
    "funnel": ("pandas", "retentioneering"),
    "funnel12": ("pandas12",),
    "transitions": ("polars", "pm4py"),
}
ANALYSES = ("funnel", "funnel12", "transitions", "friction")


def median_of(runs: list[dict[str, object]]) -> dict[str, object]:
    """One contender's runs: the median work time and the highest peak."""
    work = statistics.median(float(r["work"]) for r in runs)  # type: ignore[arg-type]
    peak = max(float(r["peak_mb"]) for r in runs)  # type: ignore[arg-type]
    return {**runs[0], "work": work, "peak_mb": peak}


def run(events: int, peers: Path, skip: set[str], repeat: int = 1) -> None:
    workspace = demo_workspace(events)
    parquet = export_columns(workspace)
    rounds = f", median of {repeat} rounds" if repeat > 1 else ""
    print(f"\n{events:,} demo events ({workspace}){rounds}")
    python = peers / "bin" / "python"
    ours_all = ("scan", "readout", "window", *ANALYSES)
    contenders: dict[str, Callable[[], dict[str, object]]] = {
        which: functools.partial(ours, workspace, which) for which in ours_all
    }
    if python.exists():
        for names in PEERS_OF.values():
            for name in names:
                if name not in skip:
                    contenders[name] = functools.partial(peer, python, parquet, name)
    # Rounds interleave the contenders, so a busy moment of the machine hits them alike.
    runs: dict[str, list[dict[str, object]]] = {name: [] for name in contenders}
    for _ in range(repeat):
        for name, measure in contenders.items():
            runs[name].append(measure())
    figures = {name: median_of(found) for name, found in runs.items()}
    print(line("DuckDB scan of the columns", figures["scan"]))
    print(line("the columns read out (Arrow)", figures["readout"]))
    scan_s = float(figures["scan"]["work"])  # type: ignore[arg-type]
    readout_s = float(figures["readout"]["work"])  # type: ignore[arg-type]

    def floors(seconds: float) -> str:
        return f"   ({seconds / scan_s:.1f}× the scan, {seconds / readout_s:.1f}× the read-out)"

    window_s = float(figures["window"]["work"])  # type: ignore[arg-type]
    print(line("one window in person order", figures["window"]) + floors(window_s))
    for which in ANALYSES:
        seconds = float(figures[which]["work"])  # type: ignore[arg-type]
        print(line(f"journeylens {which}", figures[which]) + floors(seconds))
        for name in PEERS_OF.get(which, ()):
            if name in figures:
                same = figures[name]["result"] == figures[which]["result"]
                print(line(name, figures[name], seconds) + ("   (the same)" if same else ""))
    if not python.exists():
        print(f"  peers' virtualenv {peers} is absent: the peers were not run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, action="append", help="events (repeatable)")
    parser.add_argument("--peers", type=Path, default=Path(__file__).parents[1] / ".venv-peers")
    parser.add_argument("--skip-pm4py", action="store_true", help="pm4py is slow at 10M")
    parser.add_argument("--skip-retentioneering", action="store_true")
    parser.add_argument("--repeat", type=int, default=1, help="rounds (medians shown)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_ours(*args.child)
        return
    skip = {name for name in ("pm4py", "retentioneering") if getattr(args, f"skip_{name}")}
    for n in args.events or [1_000_000]:
        run(n, args.peers, skip, args.repeat)


if __name__ == "__main__":
    main()
