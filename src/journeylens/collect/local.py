"""The in-memory DuckDB that reads and checks files on their way in, on every store."""

from __future__ import annotations

import duckdb


def local_engine() -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB connection without DuckDB's progress bar, which it draws on standard
    output (inside a command's JSON) for a statement over two seconds.

    >>> local_engine().execute("SELECT current_setting('enable_progress_bar')").fetchall()
    [(False,)]
    """
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    return con
