"""Excel workbooks (``.xlsx``): a sheet as text columns, read like a CSV file.

An import reads the first sheet, or the sheets it names (``--sheet``: see
:func:`workbook_sheets`), each as a file of its own. The first non-empty row is the header,
unless the first rows hold a single value each and a
row of more values follows them (a report's title lines above its table): that row is then the
header. Each later row is a record, ``_line`` its row number in
the sheet. A value in a column without a header is kept under ``column<n>``. Cells become the
text a CSV export of the sheet would hold: numbers as written (whole numbers without a decimal
point, so ids stay ids), dates and times in ISO 8601 (read in the import's ``--timezone``, as
Excel stores no zone), booleans as ``true``/``false``, empty cells as missing. Formulas are read
as their last computed values. An import that reads text its own way (:class:`TextForm`: the
options ``--decimal-comma`` and ``--ts-format``) gets number and date cells written that way, as
a CSV export in that locale would write them, beside the cells that are text already.

A number in a column the import reads as a time (:class:`ExcelDates`), in a cell without a
date format, is the date Excel stores as that number (its serial: days since 1899-12-30, or
since 1904-01-01 in a workbook of the 1904 date system), from 1 (1900-01-01) to 9999-12-31,
as the cell would show with a date format: 45292.5 is 2024-01-01 12:00. An epoch number of a
time since 1990 has nine digits or more, far above them.
"""

from __future__ import annotations

import contextlib
import zipfile
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pyarrow as pa

from journeylens.errors import ImportFileError, did_you_mean

__all__ = [
    "ExcelDates",
    "Sheet",
    "TextForm",
    "quoted_names",
    "sheet_batches",
    "workbook_sheets",
]


@dataclass(frozen=True)
class TextForm:
    """How an import reads numbers and times given as text (``--decimal-comma``,
    ``--ts-format``), so that values a file types (a sheet's number and date cells) are given
    to it in that form."""

    decimal_comma: bool = False
    ts_format: str | None = None


@dataclass(frozen=True)
class Sheet:
    """A worksheet to read: its title, column names, header's row and rows below it; whether
    its workbook has other sheets (its rows' source then names it: ``book.xlsx[March]``), and
    the workbook's sheets with values that the import leaves unread (when it names none)."""

    title: str
    columns: list[str]
    header: int
    rows: int
    several: bool = False
    unread: tuple[str, ...] = ()


@dataclass
class ExcelDates:
    """The columns (by position) whose numbers are Excel dates: those the import reads as
    times; and, filled while reading, how many numbers each held, and the first of them with
    the date it is."""

    columns: frozenset[int] = frozenset()
    counts: Counter[int] = field(default_factory=Counter)
    first: tuple[float, datetime] | None = None

    def read(self, cells: list[Any], epoch: datetime) -> None:
        """Put in ``cells`` (a row) the date each number of the time columns is."""
        for at in self.columns:
            cell = cells[at]
            if _is_serial(cell, epoch):
                from openpyxl.utils.datetime import from_excel  # as a date cell is read

                cells[at] = from_excel(cell, epoch)
                self.counts[at] += 1
                self.first = self.first or (cell, cells[at])


# Excel's last day; its serial is the last a workbook's date system reads.
LAST_DAY = datetime(9999, 12, 31)


def _is_serial(cell: Any, epoch: datetime) -> bool:
    """Whether a cell is a number in the range of Excel's dates (from day 1)."""
    number = isinstance(cell, int | float) and not isinstance(cell, bool)
    return number and 1 <= cell < (LAST_DAY - epoch).days + 1


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


def workbook_sheets(path: Path, wanted: Sequence[str] = ()) -> list[Sheet]:
    """The sheets of the workbook ``path`` to read, in the workbook's order: those ``wanted``
    (names or glob patterns, see :func:`_matching`) select, else the first.

    Each of ``wanted`` must select a sheet that holds a value, and the first sheet must hold
    one: else an error lists the sheets. A sheet without any value is never read (nothing in
    it is lost). Without ``wanted``, each sheet's ``unread`` names the other sheets that hold
    values, for a note.
    """
    book = _open(path)
    try:
        sheets = book.worksheets
        titles = [sheet.title for sheet in sheets]
        filled = [sheet.title for sheet in sheets if next(_filled(sheet), None) is not None]
        chosen = (
            _selected(path, titles, filled, wanted) if wanted else [_first(path, titles, filled)]
        )
        unread = () if wanted else tuple(t for t in filled if t not in chosen)
        return [Sheet(t, *_shape(path, book[t]), len(sheets) > 1, unread) for t in chosen]
    finally:
        book.close()


def _first(path: Path, titles: list[str], filled: list[str]) -> str:
    """The first sheet's title, when it holds a value."""
    if titles and titles[0] in filled:
        return titles[0]
    if filled:
        raise ImportFileError.nothing_done(
            f"{path}: the first sheet, '{titles[0]}', is empty. The sheets with values are "
            f"{quoted_names(filled)}: name those to read with --sheet."
        )
    raise ImportFileError.nothing_done(f"{path}: the first sheet is empty")


def _selected(path: Path, titles: list[str], filled: list[str], wanted: Sequence[str]) -> list[str]:
    """The titles of the sheets with values that ``wanted`` select, in the workbook's order."""
    chosen: set[str] = set()
    for name in wanted:
        found = _matching(name, filled)
        if not found:
            raise ImportFileError.nothing_done(_no_sheet(path, name, titles, filled))
        chosen.update(found)
    return [title for title in titles if title in chosen]


def _matching(name: str, titles: list[str]) -> list[str]:
    """The ``titles`` that ``name`` selects: as written, or as a glob pattern (``*``,
    ``2024-*``: Excel allows none of ``*?[]`` in a sheet's name); failing that, in any case,
    as Excel compares sheets' names (a workbook of Excel's has no two that differ in case
    alone).

    >>> _matching("march", ["March", "April"]), _matching("*", ["March", "April"])
    (['March'], ['March', 'April'])
    """
    found = [title for title in titles if fnmatchcase(title, name)]
    folded = name.casefold()
    return found or [title for title in titles if fnmatchcase(title.casefold(), folded)]


def _no_sheet(path: Path, name: str, titles: list[str], filled: list[str]) -> str:
    """The error for a ``--sheet`` that selects no sheet with values."""
    empty = _matching(name, titles)
    if empty:
        return (
            f"{path}: --sheet {name} selects only empty sheets ({quoted_names(empty)}); the "
            f"sheets with values are {quoted_names(filled)}."
        )
    return (
        f"{path}: no sheet '{name}'.{did_you_mean(name, titles)} The workbook's sheets are "
        f"{quoted_names(titles)}."
    )


def quoted_names(names: Sequence[str]) -> str:
    """Sheets' names, quoted: ``'March', 'April'`` (``none`` for no name)."""
    return ", ".join(f"'{name}'" for name in names) or "none"


def _shape(path: Path, sheet: Any) -> tuple[list[str], int, int]:
    """The sheet's column names, the header's row number and the rows below it.

    One pass over the sheet: the columns run to the last cell that holds a value in any row
    (a sheet's stated size also counts cells that are only formatted); a column without a
    header is named ``column<n>``, so no value is dropped."""
    filled = _filled(sheet)
    first = next(filled, None)
    if first is None:
        raise ImportFileError.nothing_done(f"{path}: the sheet '{sheet.title}' is empty")
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
    path: Path,
    sheet: Sheet,
    rows: int,
    form: TextForm = TextForm(),
    dates: ExcelDates | None = None,
) -> Iterator[pa.Table]:
    """The records below the sheet's header as tables of up to ``rows`` text rows with
    ``_line`` (columns named as ``sheet.columns``), cells written in ``form``, the numbers of
    ``dates``' columns read as the dates they are."""
    width, columns, dates = len(sheet.columns), sheet.columns, dates or ExcelDates()
    values: list[list[str | None]] = [[] for _ in range(width)]
    lines: list[int] = []
    book = _open(path)
    try:
        for number, cells in _filled(book[sheet.title]):
            if number <= sheet.header:
                continue
            padded = list(cells[:width]) + [None] * (width - len(cells))
            dates.read(padded, book.epoch)
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
