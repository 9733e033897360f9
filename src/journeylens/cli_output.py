"""Rendering results for the terminal: a table, JSON or CSV on standard output."""

from __future__ import annotations

import json
import sys
from typing import Any

import pandas as pd

FORMATS = ("table", "json", "csv")


def emit(result: Any, fmt: str, title: str | None = None) -> None:
    """Write ``result`` (an analysis result) to standard output in ``fmt``."""
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        sys.stdout.write(result.to_frame().to_csv(index=False))
    else:
        print_frame(result.to_frame(), title)


def print_frame(frame: pd.DataFrame, title: str | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        table.add_column(str(column), justify="right" if numeric else "left")
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v) for v in row))
    Console(soft_wrap=False).print(table, markup=False)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) < 1 else f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
