"""Excel workbooks (``.xlsx``): the first sheet as text columns, read like a CSV file.

The first non-empty row is the header, unless the first rows hold a single value each and a
row of more values follows them (a report's title lines above its table): that row is then the
header. Each later row is a record, ``_line`` its row number in
the sheet. A value in a column without a header is kept under ``column<n>``. Cells become the
text a CSV export of the sheet would hold: numbers as written (whole numbers without a decimal
point, so ids stay ids), dates and times in ISO 8601 (read in the import's ``--timezone``, as
Excel stores no zone), booleans as ``true``/``false``, empty cells as missing. Formulas are read
as their last computed values. An import that reads text its own way (:class:`TextForm`: the
options ``--decimal-comma`` and ``--ts-format``) gets number and date cells written that way, as
a CSV export in that locale would write them, beside the cells that are text already.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa

from journeylens.errors import ImportFileError

__all__ = ["TextForm", "sheet_batches", "sheet_header"]


@dataclass(frozen=True)
class TextForm:
    """How an import reads numbers and times given as text (``--decimal-comma``,
    ``--ts-format``), so that values a file types (a sheet's number and date cells) are given
    to it in that form."""

    decimal_comma: bool = False
    ts_format: str | None = None


def _open(path: Path) -> Any:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, OSError, KeyError) as exc:
        raise ImportFileError(f"{path}: not a readable Excel workbook ({exc}).") from exc


def _filled(sheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """``(row number, values)`` of the sheet's rows that hold a value."""
    for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        if any(map(_has_value, values)):
            yield number, values


def sheet_header(path: Path) -> tuple[list[str], int, int]:
    """The first sheet's column names, the header's row number and the rows below it.

    One pass over the sheet: the columns run to the last cell that holds a value in any row
    (a sheet's stated size also counts cells that are only formatted); a column without a
    header is named ``column<n>``, so no value is dropped."""
    book = _open(path)
    try:
        filled = _filled(book.worksheets[0])
        first = next(filled, None)
        if first is None:
            raise ImportFileError(f"{path}: the first sheet is empty; nothing was imported.")
        header, titles = first
        width, records = _last_value(titles), 0
        titled = _count(titles) == 1  # every row so far holds one value: maybe a title
        for number, values in filled:
            if titled and _count(values) > 1:  # the rows above were the title
                header, titles, width, records, titled = (
                    number,
                    values,
                    _last_value(values),
                    0,
                    False,
                )
                continue
            titled = titled and _count(values) == 1
            width = max(width, _last_value(values))
            records += 1
    finally:
        book.close()
    padded = list(titles[:width]) + [None] * (width - len(titles))
    names = [_text(v) or f"column{i}" for i, v in enumerate(padded, start=1)]
    return names, header, records


def _has_value(cell: Any) -> bool:
    """Whether a cell holds a value (an empty string is none)."""
    return cell is not None and cell != ""


def _count(values: tuple[Any, ...]) -> int:
    """How many cells hold a value."""
    return sum(map(_has_value, values))


def _last_value(values: tuple[Any, ...]) -> int:
    """One past the position of the last cell with a value."""
    return max((i + 1 for i, v in enumerate(values) if _has_value(v)), default=0)


def sheet_batches(
    path: Path, columns: list[str], header: int, rows: int, form: TextForm = TextForm()
) -> Iterator[pa.Table]:
    """The records below the header as tables of up to ``rows`` text rows with ``_line``,
    cells written in ``form``."""
    width = len(columns)
    values: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    book = _open(path)
    try:
        for number, cells in _filled(book.worksheets[0]):
            if number <= header:
                continue
            padded = list(cells[:width]) + [None] * (width - len(cells))
            for column, cell in zip(values, padded, strict=True):
                column.append(_text(cell, form))
            lines.append(number)
            if len(lines) == rows:
                yield _table(columns, values, lines)
                values, lines = [[] for _ in range(width)], []
    finally:
        book.close()
    if lines:
        yield _table(columns, values, lines)


def _table(columns: list[str], values: list[list[str | None]], lines: list[int]) -> pa.Table:
    arrays = [pa.array(v, pa.string()) for v in values]
    return pa.table([*arrays, pa.array(lines, pa.int64())], names=[*columns, "_line"])


def _text(cell: Any, form: TextForm = TextForm()) -> str | None:
    """A cell's value as a CSV export would write it (None when empty), numbers and times in
    ``form`` (a time in ``form.ts_format`` where that format keeps all of it, else ISO 8601).

    >>> [_text(v) for v in (3, 2.5, True, datetime(2026, 1, 5, 9, 30), "", " x ")]
    ['3', '2.5', 'true', '2026-01-05T09:30:00', None, ' x ']
    >>> form = TextForm(decimal_comma=True, ts_format="%d/%m/%Y %H:%M")
    >>> [_text(v, form) for v in (3, 0.125, datetime(2026, 1, 5, 9, 30), "1.234,50")]
    ['3', '0,125', '05/01/2026 09:30', '1.234,50']
    """
    if cell is None or cell == "":
        return None
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, datetime) and form.ts_format is not None:
        written = cell.strftime(form.ts_format)
        with contextlib.suppress(ValueError):
            if datetime.strptime(written, form.ts_format) == cell.replace(tzinfo=None):
                return written
    if isinstance(cell, datetime | date | time):
        return cell.isoformat()
    if isinstance(cell, float) and cell.is_integer() and abs(cell) < 2**53:
        return str(int(cell))
    if isinstance(cell, float) and form.decimal_comma:
        return repr(cell).replace(".", ",")
    return str(cell)
