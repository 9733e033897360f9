"""Benchmark: the funnel, the transition graph and friction at 100M events, in bounded memory.

    .venv/bin/python bench/scale.py [--copies 10] [--only funnel transitions friction]

Data: the 10M-event demo workspace (``bench/journeys.py`` builds it) stored ``--copies`` times
over, each copy's people, anonymous ids, sessions and events renamed (``~1``, ``~2``, ...) and
numbered after the ones before (``person_key``), so the workspace holds ten times the people with
the same behaviour. The copy is built once into ``bench/data/demo_<n>x<copies>``. Each analysis
runs in its own process (as in ``bench/journeys.py``), on the store's default memory limit
(``JOURNEYLENS_MEMORY_LIMIT``; DuckDB spills to disk past it), with its peak resident memory.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
from journeys import DATA, demo_workspace, line, ours

from journeylens.journey.rebuild import IDENTITY

SOURCE_EVENTS = 10_000_000
RENAMED = ("event_id", "anonymous_id", "user_id", "person_id", "session_id")


def replicated(copies: int) -> Path:
    """The 10M demo workspace stored ``copies`` times over, built once."""
    target = DATA / f"demo_{SOURCE_EVENTS}x{copies}"
    if (target / ".ready").exists():
        return target
    source = demo_workspace(SOURCE_EVENTS)
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in ("journeylens.toml", "journeylens.duckdb"):
        shutil.copy(source / name, target / name)
    started = time.perf_counter()
    con = duckdb.connect(str(target / "journeylens.duckdb"))
    con.execute("SET preserve_insertion_order = false")
    people = con.execute("SELECT max(person_key) FROM events").fetchone()[0]
    renamed = ", ".join(
        f"CASE WHEN n = 0 THEN {c} ELSE {c} || '~' || n END AS {c}" for c in RENAMED
    )
    con.execute(
        f"CREATE TABLE scaled AS SELECT * REPLACE ({renamed}, person_key + n * ? AS "
        "person_key) FROM events, range(?) AS copies(n)",
        [people, copies],
    )
    con.execute("DROP TABLE events")
    con.execute("ALTER TABLE scaled RENAME TO events")
    # The identity an import's append compares with describes the one copy: without it, the
    # next import rebuilds. The placement stays: every copy is placed as the source was, so
    # opening the workspace does not place 100M events again.
    con.execute(f"DROP TABLE IF EXISTS {IDENTITY}")
    con.execute("CHECKPOINT")
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    (target / ".ready").write_text("1")
    print(f"built {rows:,} events in {time.perf_counter() - started:.0f} s ({target})")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=10)
    parser.add_argument("--only", nargs="+", default=["scan", "funnel", "transitions", "friction"])
    args = parser.parse_args()
    workspace = replicated(args.copies)
    print(f"\n{SOURCE_EVENTS * args.copies:,} events ({workspace})")
    for which in args.only:
        try:
            figures = ours(workspace, which)
        except subprocess.CalledProcessError as error:  # a failure is a result: report, go on
            reason = (error.stderr or "").strip().splitlines()[-1:] or [str(error)]
            print(f"  journeylens {which:<16} FAILED: {reason[0]}")
            continue
        print(line(f"journeylens {which}", figures))


if __name__ == "__main__":
    main()
