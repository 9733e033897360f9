"""Import throughput: rows per second for Parquet, CSV and JSON Lines at 1M and 10M events.

Each run imports into a fresh workspace in its own process, so peak memory (max RSS) is the
import's alone. CPU seconds (user + system, every thread) are reported beside the wall clock:
on a shared machine they move less with other people's load. Beside each import, the floor:
DuckDB itself copying the same file into a fresh database file (``CREATE TABLE AS SELECT *``,
then a checkpoint), with no checking, no derived columns and no journeylens code. Usage:
``python bench/import.py [--rows 1000000 10000000] [--formats parquet csv jsonl] [--repeat N]``
(``--repeat``: the best of N runs of each).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _data import write_csv, write_jsonl, write_parquet

DATA = Path(__file__).parent / "data"


def run_one(path: str) -> None:
    """Child process: import ``path`` into a fresh workspace and print the figures as JSON."""
    from journeylens.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        started, cpu = time.perf_counter(), _cpu()
        summary = ws.import_files([path])
        total, cpu = time.perf_counter() - started, _cpu() - cpu
        ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"rows": summary.rows, "stored": summary.stored, "seconds": total, "cpu": cpu}
    print(json.dumps({**figures, "peak_mb": peak}))


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


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def best_of(path: Path, repeat: int, mode: str = "--child") -> dict[str, float]:
    """The fastest of ``repeat`` runs on ``path`` (an import, or with ``mode`` ``--copy`` the
    DuckDB copy), each in a fresh process."""
    runs = []
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, mode, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv", "jsonl"])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--copy", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child)
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
        for fmt in args.formats:
            ours = best_of(files[fmt], args.repeat)
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
