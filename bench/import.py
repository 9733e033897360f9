"""Import throughput: rows per second for Parquet and CSV at 1M and 10M events.

Each run imports into a fresh workspace in its own process, so peak memory (max RSS) is the
import's alone. Usage: ``python bench/import.py [--rows 1000000 10000000] [--formats parquet csv]``.
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
from _data import write_csv, write_parquet

DATA = Path(__file__).parent / "data"


def run_one(path: str) -> None:
    """Child process: import ``path`` into a fresh workspace and print the figures as JSON."""
    from journeylens.workspace import init_workspace

    with tempfile.TemporaryDirectory() as tmp:
        ws = init_workspace(Path(tmp) / "ws")
        started = time.perf_counter()
        summary = ws.import_files([path])
        total = time.perf_counter() - started
        ws.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {"rows": summary.rows, "stored": summary.stored, "seconds": total, "peak_mb": peak}
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    parser.add_argument("--formats", nargs="+", default=["parquet", "csv"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_one(args.child)
        return
    print(f"{'format':8} {'rows':>11} {'seconds':>8} {'rows/s':>10} {'peak MB':>8}")
    for rows in args.rows:
        parquet = write_parquet(DATA / f"events_{rows}.parquet", rows)
        files = {"parquet": parquet}
        if "csv" in args.formats:
            files["csv"] = write_csv(DATA / f"events_{rows}.csv", parquet)
        for fmt in args.formats:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(files[fmt])],
                check=True,
                capture_output=True,
                text=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(
                f"{fmt:8} {r['rows']:>11,} {r['seconds']:>8.1f} "
                f"{r['rows'] / r['seconds']:>10,.0f} {r['peak_mb']:>8,.0f}"
            )


if __name__ == "__main__":
    main()
