"""Storage engines: the one place that knows DuckDB from Spark."""

from __future__ import annotations

from pathlib import Path

from journeylens.errors import EngineError
from journeylens.store.base import Store

__all__ = ["Store", "connect"]


def connect(engine: str, directory: Path) -> Store:
    """Open the workspace's tables on ``engine`` ('duckdb' or 'spark')."""
    if engine == "duckdb":
        from journeylens.store.duckdb import DuckDBStore

        return DuckDBStore(Path(directory))
    if engine == "spark":
        from journeylens.store.spark import SparkStore

        return SparkStore(Path(directory))
    raise EngineError(f"Unknown engine '{engine}'. Use 'duckdb' or 'spark'.")
