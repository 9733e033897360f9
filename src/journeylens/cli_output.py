"""Rendering results for the terminal: a table, JSON or CSV on standard output."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

import numpy as np
import pandas as pd

FORMATS = ("table", "json", "csv")
# Rows a table shows, the first (results come most important first); JSON and CSV carry all. An
# event-level transition graph of a shop with a page per product has 800k rows, which a
# terminal table took minutes to draw.
TABLE_ROWS = 100


def emit(result: Any, fmt: str, title: str | None = None) -> None:
    """Write ``result`` (an analysis result) to standard output in ``fmt``."""
    if fmt == "json":
        sys.stdout.write(json.dumps(result.to_dict(), ensure_ascii=False, indent=2) + "\n")
    elif fmt == "csv":
        sys.stdout.write(csv_ready(result.to_frame()).to_csv(index=False))
    else:
        display = getattr(result, "display_frame", None)
        print_frame(display() if display else result.to_frame(), title)


# Columns that hold a rate (shown as a percentage) though their names do not say so.
RATES = frozenset({"conversion", "ci_low", "ci_high"})


def print_frame(frame: pd.DataFrame, title: str | None = None, rows: int = TABLE_ROWS) -> None:
    """``frame`` as a table of its first ``rows`` rows, and a line counting the rest."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    more = len(frame) - rows
    frame = readable(frame.head(rows))
    # Texts, not strings: a title or a header holds data (a breakdown's value, a property's
    # name), which Rich would read as markup ("[/]" stops the table, "[red]" colours it).
    table = Table(title=Text(printable(title)) if title else None, show_lines=False)
    for column in frame.columns:
        numeric = pd.api.types.is_numeric_dtype(frame[column])
        header = Text(printable(str(column)))
        table.add_column(header, justify="right" if numeric else "left")
    # A column of numbers shows them alike: two decimals (514.00 above 0.00, not above 0), or
    # four significant digits where two decimals would hide them (p-values, tiny shares).
    decimals = [_two_decimals(str(column), frame[column]) for column in frame.columns]
    for row in frame.itertuples(index=False):
        table.add_row(*(_cell(v, big) for v, big in zip(row, decimals, strict=True)))
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(soft_wrap=False, width=max(console.width, 200))
    console.print(table, markup=False)
    if more > 0:
        console.print(
            f"... and {more:,} more rows; --format json or csv lists them all.", markup=False
        )


def print_section(heading: str, frame: pd.DataFrame) -> None:
    """``heading`` on a line of its own (a table's title wraps to the table's width), then
    ``frame`` as a table."""
    sys.stdout.write(f"\n{printable(heading)}\n")
    sys.stdout.flush()
    print_frame(frame)


def readable(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy for people: nested values dropped, rates as percentages, seconds as durations."""
    # ``any`` of the values, not of a mapped column: an empty text column has no ``any``.
    keep = [c for c in frame.columns if not any(map(_records, frame[c]))]
    out = frame[keep].copy()
    for column in out.columns:
        if any(map(_nested, out[column])):
            out[column] = out[column].map(lambda v: " → ".join(map(str, v)) if _nested(v) else v)
    for column in out.columns:
        name = str(column)
        if "seconds" in name and pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].map(duration)
        elif (
            name in RATES
            or name.startswith(("conversion_", "probability"))
            or name.endswith(("rate", "share", "_conversion"))
        ) and (pd.api.types.is_float_dtype(out[column])):
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{v:.1%}")
    return out


def csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose nested cells (a segment ``{"device": "mobile"}``, a path) are JSON text."""
    out = frame.copy()
    for column in out.columns:
        if out[column].dtype == object:
            out[column] = out[column].map(_json_cell)
    return out


def _json_cell(value: Any) -> Any:
    if isinstance(value, dict) or _nested(value):
        items = value.tolist() if hasattr(value, "tolist") else value
        return json.dumps(items if isinstance(items, dict) else list(items), ensure_ascii=False)
    return value


def _nested(value: Any) -> bool:
    return isinstance(value, list | tuple) or (
        hasattr(value, "tolist") and not hasattr(value, "item")
    )


def _records(value: Any) -> bool:
    """Lists of records or mappings have no place in a flat table."""
    if isinstance(value, dict):
        return True
    items = value.tolist() if hasattr(value, "tolist") and not hasattr(value, "item") else value
    return isinstance(items, list | tuple) and any(isinstance(i, dict) for i in items)


def duration(seconds: Any) -> str:
    """``93784`` → ``'1d 2h'``: the largest unit and the one below it (``82836`` → ``'23h 0m'``,
    not ``'23h 36s'``), for tables.

    >>> duration(82836), duration(93784), duration(59)
    ('23h 0m', '1d 2h', '59s')
    """
    if seconds is None or pd.isna(seconds):
        return ""
    value = float(seconds)
    units = (("d", 86_400), ("h", 3_600), ("m", 60), ("s", 1))
    parts: list[str] = []
    for name, size in units:
        if parts or value >= size or name == "s":
            count = int(value // size)
            value -= count * size
            parts.append(f"{count}{name}")
        if len(parts) == 2:
            break
    return " ".join(parts)


# Characters a terminal acts on instead of showing: a line break or a tab in a name would split
# its row or shift the columns, an escape sequence (ESC) would restyle the terminal, and a
# bidirectional override (U+202E, as in "Trojan Source") would reverse the rest of the line.
_UNSHOWN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """``text`` with the characters a terminal would act on written as escapes, for tables.

    >>> print(printable("new\\nline, tab\\there, ab\\u202eRTL, \\x1b[31mred"))
    new\\nline, tab\\there, ab\\u202eRTL, \\x1b[31mred
    """
    return _UNSHOWN.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


def _two_decimals(name: str, column: pd.Series) -> bool:
    """Whether a column of floats shows two decimals: not a p-value, and a value of 0.01 or
    more in it."""
    if not pd.api.types.is_float_dtype(column) or name.endswith("p_value"):
        return False
    return bool((column.abs() >= 0.01).any())


def _cell(value: Any, big: bool = False) -> str:
    """A table cell; ``big``: its column shows two decimals (see :func:`_two_decimals`).

    >>> _cell(514.0, True), _cell(0.0, True), _cell(0.1442, True), _cell(0.0001234), _cell(7)
    ('514.00', '0.00', '0.14', '0.0001234', '7')
    """
    if value is None or value is pd.NA or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if big or abs(value) >= 1 else f"{value:,.4g}"
    if isinstance(value, int | np.integer):
        return f"{value:,}"
    return printable(str(value))
