"""Import throughput: rows per second for Parquet, CSV and JSON Lines at 1M and 10M events.

Each run imports into a fresh workspace in its own process, so peak memory (max RSS) is the
import's alone. CPU seconds (user + system, every thread) are reported beside the wall clock:
on a shared machine they move less with other people's load. Beside each import, the floor:
DuckDB itself copying the same file into a fresh database file (``CREATE TABLE AS SELECT *``,
then a checkpoint), with no checking, no derived columns and no journeylens code. Usage:
``python bench/import.py [--rows 1000000 10000000] [--formats parquet csv jsonl xes] [--repeat N]``
(``--repeat``: the best of N runs of each).

``--append 1000 100000`` measures instead an import of that many new events (of the same people)
into a workspace that holds each ``--rows`` events (built once in ``bench/data/ws_<rows>``, copied
for each run), as journeylens does it (appending) and as a rebuild of every row would.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _data import write_csv, write_jsonl, write_parquet, write_xes

DATA = Path(__file__).parent / "data"


def run_one(path: str) -> None:
    """Child process: import ``path`` into a fresh workspace and print the figures as JSON."""
    from journeylens.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        timed_import(init_workspace(Path(tmp) / "ws"), path)


def append_one(workspace: str, path: str, how: str) -> None:
    """Child process: import ``path`` into a copy of ``workspace``, appending or (``how`` is
    ``rebuild``) rewriting every row, and print the figures as JSON."""
    from journeylens.journey import rebuild
    from journeylens.workspace import open_workspace

    if how == "rebuild":
        rebuild._appendable = lambda *args: False  # type: ignore[attr-defined]
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "ws"
        shutil.copytree(workspace, copy)
        timed_import(open_workspace(copy), path)


def timed_import(ws: Any, path: str) -> None:
    """Import ``path`` into ``ws``, close it, and print the figures as JSON."""
    started, cpu = time.perf_counter(), _cpu()
    summary = ws.import_files([path])
    total, cpu = time.perf_counter() - started, _cpu() - cpu
    ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"rows": summary.rows, "stored": summary.stored, "seconds": total, "cpu": cpu}
    print(json.dumps({**figures, "peak_mb": peak}))


def base_workspace(rows: int) -> Path:
    """A workspace holding ``rows`` imported events, built once."""
    from journeylens.workspace import init_workspace

    path = DATA / f"ws_{rows}"
    if not (path / ".ready").exists():
        with init_workspace(path, force=True) as ws:
            ws.import_files([write_parquet(DATA / f"events_{rows}.parquet", rows)])
        (path / ".ready").write_text("1")
    return path


def appends(sizes: list[int], added: list[int], repeat: int) -> None:
    print(f"{'stored':>11} {'added':>9} {'how':8} {'seconds':>8} {'cpu s':>7} {'peak MB':>8}")
    for rows in sizes:
        workspace = base_workspace(rows)
        for n in added:
            more = DATA / f"more_{n}_of_{rows}.parquet"
            write_parquet(more, n, seed=2, prefix="n", people=max(rows // 25, 1))
            timed = {}
            for how in ("append", "rebuild"):
                r = best_of([str(workspace), str(more), how], repeat, "--append-child")
                timed[how] = r["seconds"]
                print(
                    f"{rows:>11,} {r['stored']:>9,} {how:8} {r['seconds']:>8.2f} "
                    f"{r['cpu']:>7.1f} {r['peak_mb']:>8,.0f}",
                    flush=True,
                )
            ratio = timed["rebuild"] / timed["append"]
            print(f"{'':21} appending takes 1/{ratio:.1f} of the rebuild's time")


def copy_one(path: str) -> None:
    """Child process: DuckDB alone copies ``path`` into a fresh database file (the floor)."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        con = duckdb.connect(str(Path(tmp) / "copy.duckdb"))
        suffix = Path(path).suffix
        reader = {".parquet": "read_parquet", ".jsonl": "read_json"}.get(suffix, "read_csv")
        started, cpu = time.perf_counter(), _cpu()
        con.execute(f"CREATE TABLE events AS SELECT * FROM {reader}(?)", [path])
        con.execute("CHECKPOINT")
        total, cpu = time.perf_counter() - started, _cpu() - cpu
        rows = con.execute("SELECT count(*) FROM events").fetchall()[0][0]
        con.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "seconds": total, "cpu": cpu, "peak_mb": peak}))


PM4PY_READ = """
import json, resource, sys, time
import pm4py
usage = resource.getrusage(resource.RUSAGE_SELF)
started, cpu = time.perf_counter(), usage.ru_utime + usage.ru_stime
log = pm4py.read_xes(sys.argv[1])
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"rows": len(log), "seconds": time.perf_counter() - started,
                  "cpu": usage.ru_utime + usage.ru_stime - cpu, "peak_mb": usage.ru_maxrss / 1024}))
"""


def pm4py_read(path: Path, repeat: int) -> dict[str, float] | None:
    """The fastest of ``repeat`` runs of pm4py's ``read_xes`` on ``path`` (its own process, in
    the peers' virtualenv: ``$JOURNEYLENS_PEERS_VENV``); None without it."""
    python = Path(os.environ.get("JOURNEYLENS_PEERS_VENV", ".venv-peers")) / "bin" / "python"
    if not python.exists():
        print(f"(pm4py's virtualenv {python.parent.parent} is absent: no XES comparison)")
        return None
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [str(python), "-c", PM4PY_READ, str(path)], check=True, capture_output=True, text=True
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def best_of(path: Path | list[str], repeat: int, mode: str = "--child") -> dict[str, float]:
    """The fastest of ``repeat`` runs on ``path`` (an import, with ``mode`` ``--copy`` the
    DuckDB copy, with ``--append-child`` an append's arguments), each in a fresh process."""
    runs = []
    arguments = path if isinstance(path, list) else [str(path)]
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, mode, *arguments],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument(
        "--formats", nargs="+", default=["parquet", "csv", "jsonl"], help="and xes (against pm4py)"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--copy", help=argparse.SUPPRESS)
    parser.add_argument("--append", type=int, nargs="+", help="new events into a workspace")
    parser.add_argument("--append-child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child)
        return
    if args.append_child:
        append_one(*args.append_child)
        return
    if args.append:
        appends(args.rows, args.append, args.repeat)
        return
    if args.copy:
        copy_one(args.copy)
        return
    print(
        f"{'format':8} {'rows':>11} {'':12} {'seconds':>8} {'rows/s':>10} {'cpu s':>7} "
        f"{'peak MB':>8}"
    )
    for rows in args.rows:
        parquet = write_parquet(DATA / f"events_{rows}.parquet", rows)
        files = {"parquet": parquet}
        if "csv" in args.formats:
            files["csv"] = write_csv(DATA / f"events_{rows}.csv", parquet)
        if "jsonl" in args.formats:
            files["jsonl"] = write_jsonl(DATA / f"events_{rows}.jsonl", parquet)
        if "xes" in args.formats:
            files["xes"] = write_xes(DATA / f"events_{rows}.xes", parquet)
        for fmt in args.formats:
            ours = best_of(files[fmt], args.repeat)
            if fmt == "xes":  # DuckDB reads no XML: the floor is pm4py reading the log
                theirs = pm4py_read(files[fmt], args.repeat)
                if theirs is None:
                    continue
                for name, r in (("journeylens", ours), ("pm4py read", theirs)):
                    print(
                        f"{fmt:8} {r['rows']:>11,} {name:12} {r['seconds']:>8.1f} "
                        f"{r['rows'] / r['seconds']:>10,.0f} {r['cpu']:>7.1f} "
                        f"{r['peak_mb']:>8,.0f}",
                        flush=True,
                    )
                print(f"{'':21} pm4py takes {theirs['seconds'] / ours['seconds']:.1f}× journeylens")
                continue
            floor = best_of(files[fmt], args.repeat, "--copy")
            for name, r in (("journeylens", ours), ("DuckDB copy", floor)):
                print(
                    f"{fmt:8} {r['rows']:>11,} {name:12} {r['seconds']:>8.1f} "
                    f"{r['rows'] / r['seconds']:>10,.0f} {r['cpu']:>7.1f} {r['peak_mb']:>8,.0f}",
                    flush=True,
                )
            print(f"{'':21} journeylens takes {ours['seconds'] / floor['seconds']:.1f}× the copy")


if __name__ == "__main__":
    main()
