"""CSV files (TSV, and the other separators too) read as Arrow batches of text columns.

The separator is found from the header and the first rows (:func:`sniff_delimiter`); title
lines above a report's table and survey tools' label rows under the header are skipped
(:func:`label_rows`); each block of the file is parsed by Arrow's reader, and rows with another
number of fields than the header, unclosed quotes and blank lines keep their line numbers
(:class:`_CsvLines`).
"""

from __future__ import annotations

import codecs
import csv
import functools
import io
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from journeylens.collect.columns import LINE, held_name
from journeylens.collect.encoding import has_blank_line
from journeylens.errors import ImportFileError

if TYPE_CHECKING:
    from journeylens.collect.readers import FileReader

CSV_BLOCK_BYTES = 16 << 20  # of a file, parsed (and searched for blank lines) at a time
SNIFF_ROWS = 5  # rows under a CSV file's header that its separator must split alike
SNIFF_LINE_CHARS = 1 << 20  # of each of them, read at most
SEPARATORS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "bar"}


def sniff_delimiter(header: str, path: Path, rows: Sequence[str] = ()) -> str:
    """The field separator of a CSV file: of comma, semicolon, tab and bar, the one that
    splits the header and its first ``rows`` (their lines) into the same number of fields, the
    most fields if several do; when none does (or without rows), the one that splits the
    header into the most fields (a ``.tsv`` file prefers tab, any other a comma, when they
    split it alike). A header's name may hold another separator ("Revenue (USD, net)"): its
    rows tell. Spreadsheets in many locales save CSV with semicolons."""
    tab_first = ".tsv" in [s.lower() for s in path.suffixes]
    candidates = ("\t", ",", ";", "|") if tab_first else (",", ";", "\t", "|")
    fields = {c: len(_parse_csv_line(header, c)) for c in candidates}
    alike = [c for c in candidates if fields[c] > 1 and _splits_alike(rows, c, fields[c])]
    return max(alike or candidates, key=lambda c: fields[c])  # the first of the most fields


def _splits_alike(rows: Sequence[str], delimiter: str, width: int) -> bool:
    """Whether ``delimiter`` splits every one of ``rows`` (lines; a quoted value may run on to
    the next) into ``width`` fields; False without rows."""
    try:
        split = [row for row in _csv_rows(rows, delimiter) if row]
    except csv.Error:
        return False
    if "".join(rows).count('"') % 2:  # the last row's quoted value runs on past the lines read
        split = split[:-1]
    return bool(split) and all(len(row) == width for row in split)


def _sample_rows(handle: TextIO) -> list[str]:
    """The next ``SNIFF_ROWS`` lines that are not blank, each cut at ``SNIFF_LINE_CHARS``."""
    lines = (handle.readline(SNIFF_LINE_CHARS) for _ in range(SNIFF_ROWS))
    return [line for line in lines if line.strip()]


def separator_note(reader: FileReader, message: str) -> str:
    """For an error ``message`` about a CSV file's columns, the separator its header was split
    at, when another would split a name in it into one the message quotes ('ts'); else ""."""
    if reader.format != "csv":
        return ""
    for other, name in SEPARATORS.items():
        parts = {p.strip() for c in reader.columns for p in _parse_csv_line(c, other)}
        quoted = [p for p in parts - set(reader.columns) if f"'{p}'" in message]
        if quoted:
            used = SEPARATORS.get(reader.delimiter, repr(reader.delimiter))
            return (
                f" The header was split at each {used} into {len(reader.columns)} columns; "
                f"split at each {name}, it has a column '{quoted[0]}'."
            )
    return ""


def read_csv_shape(reader: FileReader) -> None:
    """A CSV file's header, label rows and trailing separator (see ``_trailing_separator``)."""
    header = reader.header = _csv_header(reader)
    # An empty header cell (a trailing separator, a spreadsheet's blank column) is named by
    # its place, as spreadsheets do: ``column5``.
    reader.columns = [n or f"column{i}" for i, n in enumerate(header, start=1)]
    reader.label_rows = _label_rows(reader)
    reader.trailing = _trailing_separator(reader, header)
    if reader.trailing == "header":
        reader.columns = reader.columns[:-1]


# The first line Excel writes (and reads) to name a CSV file's field separator: ``sep=;``.
_EXCEL_SEPARATOR = re.compile(r"sep=(.)")
# A comment above the header, as analytics tools' report exports begin (Google Analytics:
# ``# ----``, ``# Top Conversion Paths``, ``# 20240101-20240131``): a ``#`` not followed by a
# separator (a header whose first column is named ``#`` is no comment).
_COMMENT = re.compile(r"#(?![,;\t|])")


def _csv_header(reader: FileReader) -> list[str]:
    """The names in a CSV file's header line, stripped (an empty cell as ``""``)."""
    source, encoding = reader.text()
    encoding = "utf-8-sig" if encoding == "utf8" else encoding
    with source.open(encoding=encoding, newline="") as handle:
        first = handle.readline()
        named = _EXCEL_SEPARATOR.fullmatch(first.rstrip("\r\n"))
        if named:
            reader.header_line = 2
            first = handle.readline()
        commented = False
        while first and (_COMMENT.match(first) or (commented and not first.strip())):
            commented = True  # comment lines, and the blank lines among them, come before it
            reader.header_line += 1
            first = handle.readline()
        if not named and _fields(first, reader.path) == 1:
            titles, first = _past_titles(handle, first, reader.path)
            reader.header_line += titles
        rows = _sample_rows(handle)
    if not first.strip():
        where = "line after sep=" if named else "first line"
        raise ImportFileError(f"{reader.path}: the {where} is empty; expected a header row.")
    header = first.rstrip("\r\n")
    reader.delimiter = named.group(1) if named else sniff_delimiter(header, reader.path, rows)
    return [name.strip() for name in _parse_csv_line(header, reader.delimiter)]


TITLE_LINES = 10  # a report's title lines above its table, at most


def _fields(line: str, path: Path) -> int:
    """How many fields the line holds, split by the separator that splits it most."""
    return len(_parse_csv_line(line.rstrip("\r\n"), sniff_delimiter(line, path)))


def _past_titles(handle: TextIO, first: str, path: Path) -> tuple[int, str]:
    """``(title lines, header)``: a report's export can open with lines of one field (a title,
    a date range) and blank lines above its table; the header is the first line after them
    with more fields. Without such a line within ``TITLE_LINES``, the first line is the header
    (a file of one column)."""
    lines = [first]
    while len(lines) <= TITLE_LINES and (line := handle.readline()):
        lines.append(line)
        if line.strip() and _fields(line, path) > 1:
            return len(lines) - 1, line
    return 0, first


def _parse_csv_line(line: str, delimiter: str) -> list[str]:
    return next(iter(_csv_rows([line], delimiter)), [])


def _csv_rows(lines: Sequence[str], delimiter: str) -> list[list[str]]:
    """The rows of ``lines``, however long their fields: Python's csv refuses a field longer
    than its limit (131,072 characters, a guard against reading a file on as one field), but
    these lines are in memory already, so the limit is raised to their length meanwhile."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, sum(map(len, lines))))
    try:
        return list(csv.reader(lines, delimiter=delimiter))
    finally:
        csv.field_size_limit(limit)


# SurveyMonkey's export (known by these columns) writes a row of sub-headers under its header:
# "Response", "Open-Ended Response" or an option's text under each question, nothing under
# its own columns (the respondent's id first).
SURVEYMONKEY = ("Respondent ID", "Collector ID")
SURVEYMONKEY_LABELS = frozenset({"Response", "Open-Ended Response"})


def _label_rows(reader: FileReader) -> int:
    """The rows under a CSV file's header that label its columns (see :func:`label_rows`)."""
    return label_rows(reader.columns, _first_rows(reader, 2))


def _first_rows(reader: FileReader, count: int) -> list[list[str]]:
    """The first ``count`` rows under a CSV file's header, as Python's csv reads them (none
    when a field is too long for it: the file's rows will say)."""
    source, encoding = reader.text()
    encoding = "utf-8-sig" if encoding == "utf8" else encoding
    with source.open(encoding=encoding, errors="replace", newline="") as handle:
        for _ in range(reader.header_line):
            handle.readline()
        try:
            return list(itertools.islice(csv.reader(handle, delimiter=reader.delimiter), count))
        except csv.Error:
            return []


def _trailing_separator(reader: FileReader, header: Sequence[str]) -> str | None:
    """Which of a CSV file's header and rows ends in a separator the other lacks, as some
    exports write them: "rows" when every row has one field more than the header and that
    last field is empty (the rows are read as the header's columns), "header" when the
    header's last name is empty and every row has one field fewer (that nameless column is no
    column). None for any other file: a row with another number of fields than the header is
    rejected. The first row raises the question; a scan of every row answers it."""
    first = _first_rows(reader, 1)
    if reader.label_rows or not first:
        return None
    width = len(first[0])
    if width == len(header) + 1 and not first[0][-1]:
        return "rows" if _every_row_fits(reader, width, empty_last=True) else None
    if width == len(header) - 1 and not header[-1]:
        return "header" if _every_row_fits(reader, width) else None
    return None


def _every_row_fits(reader: FileReader, width: int, empty_last: bool = False) -> bool:
    """Whether every row of the CSV file has ``width`` fields (and, with ``empty_last``, an
    empty last one), by a pyarrow scan that stops at the first row that does not."""
    source, encoding = reader.text()
    names = [f"f{i}" for i in range(width)]
    read = pacsv.ReadOptions(
        column_names=names,
        skip_rows=reader.header_line,
        block_size=CSV_BLOCK_BYTES,
        encoding=encoding,
    )
    # A row that repeats the header (files joined with ``cat``) is no row of another count.
    parse = pacsv.ParseOptions(
        delimiter=reader.delimiter,
        newlines_in_values=True,
        invalid_row_handler=lambda row: "skip" if _header_cells(reader, row.text) else "error",
    )
    convert = pacsv.ConvertOptions(
        column_types={names[-1]: pa.string()},
        include_columns=names[-1:],
        null_values=[""],
        strings_can_be_null=True,
    )
    try:
        with pacsv.open_csv(source, read, parse, convert) as stream:
            return all(not empty_last or _all_null(batch.column(0)) for batch in stream)
    except pa.ArrowInvalid:
        return False


def _all_null(column: pa.Array) -> bool:
    return column.null_count == len(column)


def label_rows(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """Of ``rows``, the first two under the header ``columns`` (empty cells as ``""``): 2 for
    a Qualtrics export, whose header is followed by a row of question texts and a row of import
    ids (each cell JSON: ``{"ImportId":"recordedDate","timeZone":"..."}``); 1 for a
    SurveyMonkey export's row of sub-headers (see ``SURVEYMONKEY``): they label the columns
    and are no answers. 0 for any other file."""
    if rows and _surveymonkey_labels(columns, rows[0]):
        return 1
    if len(rows) < 2 or any(len(row) != len(columns) for row in rows):
        return 0
    cells = [cell for cell in rows[1] if cell.strip()]
    return 2 if cells and all(_is_import_id(cell) for cell in cells) else 0


def _surveymonkey_labels(columns: Sequence[str], row: Sequence[str]) -> bool:
    """Whether ``row``, the first under the header ``columns``, is a SurveyMonkey export's
    sub-headers: no respondent's id, and "Response" or "Open-Ended Response" under a question."""
    if not set(SURVEYMONKEY) <= set(columns) or len(row) != len(columns):
        return False
    respondent = row[list(columns).index(SURVEYMONKEY[0])]
    return not respondent.strip() and any(cell.strip() in SURVEYMONKEY_LABELS for cell in row)


def _is_import_id(cell: str) -> bool:
    """Whether ``cell`` is a Qualtrics import id: a JSON object with an ``ImportId``."""
    if not cell.lstrip().startswith("{"):
        return False
    try:
        value = json.loads(cell)
    except ValueError:
        return False
    return isinstance(value, dict) and "ImportId" in value


def csv_batches(reader: FileReader) -> Iterator[pa.Table]:
    source, encoding = reader.text()
    # One thread: only then does a row with the wrong number of fields come with its line.
    names = [held_name(name) for name in reader.columns]
    # Rows that end in a trailing separator the header lacks: their empty last field is read
    # under a spare name and left out.
    spare = ["_" * (max(map(len, names), default=0) + 1)] if reader.trailing == "rows" else []
    read = pacsv.ReadOptions(
        column_names=names + spare,
        skip_rows=reader.header_line,
        block_size=CSV_BLOCK_BYTES,
        encoding=encoding,
        use_threads=False,
    )

    # By row number, as pyarrow counts rows (the header is 1).
    ragged: dict[int, pacsv.InvalidRow] = {}

    def wrong_fields(row: pacsv.InvalidRow) -> str:
        ragged[row.number or 0] = row
        return "skip"

    parse = pacsv.ParseOptions(
        delimiter=reader.delimiter, newlines_in_values=True, invalid_row_handler=wrong_fields
    )
    # Only an empty field is missing: text such as "NA" (Namibia, North America) or "null" is
    # kept as given, where pyarrow's defaults would read a dozen such markers as missing. Ids and
    # numbers that spell a missing value are read so later (``PLACEHOLDER_IDS``, validate).
    convert = pacsv.ConvertOptions(
        column_types=dict.fromkeys(names, pa.string()),
        include_columns=names,
        null_values=[""],
        strings_can_be_null=True,
        check_utf8=True,
    )
    try:
        stream = pacsv.open_csv(
            source, read_options=read, parse_options=parse, convert_options=convert
        )
    except pa.ArrowInvalid as exc:
        # No row: pyarrow cannot skip a header that no line break ends.
        if "Empty CSV file" in str(exc) or not _rest_of_file(reader, reader.header_line + 1, 1):
            return
        raise ImportFileError(f"{reader.path}: cannot read as CSV ({exc}).") from exc
    lines = _CsvLines(reader)
    headers = _HeaderRows(reader)
    held: pa.Table | None = None  # the last batch waits: its last row may be unclosed
    while True:
        try:
            batch = stream.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise ImportFileError(
                f"{reader.path}: malformed CSV after line {lines.next_line - 1} ({exc}). "
                "Check quoting and the number of fields per row."
            ) from exc
        if held is not None:
            yield held
        held = headers.without(lines.number(pa.Table.from_batches([batch]), ragged))
    if ragged:  # rows past the last batch (or in a file without any row of the header's fields)
        lines.number(pa.table({}), ragged, rest=True)
    waiting = headers.rest()
    if waiting is not None and held is not None:
        held = pa.concat_tables([held, waiting])
    if held is not None:
        yield _without_unclosed(reader, held) if _odd_quotes(reader) else held


class _HeaderRows:
    """A CSV file's rows that hold no data: the label rows under its header (see
    :func:`label_rows`), and the rows that repeat the header (files joined with ``cat``), which
    go to ``reader.repeated_header``. In a survey export whose header has label rows, those
    under a repeated header are skipped as the first ones are: they are the joined file's.

    Batch after batch: a header repeated in a batch's last two rows waits for the next batch,
    whose first rows may be its label rows.
    """

    def __init__(self, reader: FileReader) -> None:
        self.reader = reader
        self.labels = reader.label_rows  # the first rows of the file, still to skip
        self.waiting: pa.Table | None = None  # from a repeated header on, to read again

    def without(self, table: pa.Table) -> pa.Table:
        """The batch ``table`` (numbered) without such rows, but the rows that wait."""
        skipped = min(self.labels, table.num_rows)
        table, self.labels = table.slice(skipped), self.labels - skipped
        if self.waiting is not None:
            table, self.waiting = pa.concat_tables([self.waiting, table]), None
        return self._cleaned(table, last=False)

    def rest(self) -> pa.Table | None:
        """The rows still waiting past the last batch, without such rows; None without any."""
        waiting, self.waiting = self.waiting, None
        return None if waiting is None else self._cleaned(waiting, last=True)

    def _cleaned(self, table: pa.Table, last: bool) -> pa.Table:
        again = _header_again(self.reader, table)
        if again is None:
            return table
        drop = again.copy()
        for at in np.flatnonzero(again).tolist() if self.reader.label_rows else ():
            if table.num_rows - at < 3 and not last:
                self.waiting, table, drop = table.slice(at), table.slice(0, at), drop[:at]
                break
            drop[at + 1 : at + 1 + _labels_under(self.reader, table, at)] = True
        width = len(self.reader.columns)
        for row in table.filter(pa.array(again[: table.num_rows])).to_pylist():
            cells = [row[column] or "" for column in table.column_names[:width]]
            self.reader.repeated_header[row[LINE]] = _csv_text(cells, self.reader.delimiter)
        return table.filter(pa.array(~drop))


def _labels_under(reader: FileReader, table: pa.Table, at: int) -> int:
    """The label rows (see :func:`label_rows`) under the header repeated in ``table``'s row
    ``at``."""
    names = table.column_names[: len(reader.columns)]
    rows = [[row[name] or "" for name in names] for row in table.slice(at + 1, 2).to_pylist()]
    return label_rows(reader.columns, rows)


def _header_again(reader: FileReader, table: pa.Table) -> np.ndarray | None:
    """Per row of ``table``, whether it repeats the header, each field the header's name there
    (stripped, as the header is, and past a byte-order mark: files joined with ``cat``); None
    when none does. A batch none of whose rows holds the first name in its column (nearly
    every one) is passed over after that one search."""
    names = reader.header[: len(reader.columns)]
    first = next((i for i, name in enumerate(names) if name), None)
    if first is None or not pc.any(pc.match_substring(table.column(first), names[first])).as_py():
        return None
    again = functools.reduce(
        pc.and_, [_names(table.column(i), name, i == 0) for i, name in enumerate(names)]
    )
    found = again.to_numpy(zero_copy_only=False)
    return found if found.any() else None


def _header_cells(reader: FileReader, text: str) -> list[str] | None:
    """The fields of ``text``, a CSV row with another number of fields than the header, where
    it is the header again but for a separator at the end of one of them (see
    :func:`_trailing_separator`): the rows of a file joined with ``cat`` from files whose rows,
    or header, end in one. None for any other row."""
    names = reader.header
    if not any(names) or next(name for name in names if name) not in text:
        return None  # nearly every such row: no row parsed
    try:
        cells = _parse_csv_line(text.rstrip("\r\n"), reader.delimiter)
    except csv.Error:
        return None
    stripped = [cell.strip() for cell in cells]
    if stripped:
        stripped[0] = stripped[0].lstrip("\ufeff").strip()
    return cells if _but_empty_last(stripped) == _but_empty_last(names) else None


def _but_empty_last(cells: Sequence[str]) -> list[str]:
    return list(cells[:-1] if cells and not cells[-1] else cells)


def _names(column: pa.ChunkedArray, name: str, first: bool) -> pa.ChunkedArray:
    """Per value of ``column``, whether it is the header's ``name`` there (an empty name:
    an empty value)."""
    if first:
        column = pc.utf8_ltrim(column, "\ufeff")
    return pc.fill_null(pc.equal(pc.utf8_trim_whitespace(column), name), not name)


def _csv_text(cells: Sequence[str], delimiter: str) -> str:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator="").writerow(cells)
    return text.getvalue()


def _odd_quotes(reader: FileReader) -> bool:
    """Whether a UTF-8 CSV file holds an odd number of quote characters: a quoted value is
    then never closed, and the parser read from it to the end of the file as one row. The
    encoding check counts them as it reads the file; a file it did not read (one with a
    byte-order mark, or a named encoding) is counted here when it is UTF-8."""
    quotes = reader.quotes
    if quotes is None:
        if reader.encoding != "utf8":
            return False  # a quote's byte may be part of another character
        quotes = 0
        with reader.data.open("rb") as handle:
            while chunk := handle.read(CSV_BLOCK_BYTES):
                quotes += chunk.count(b'"')
    return quotes % 2 == 1


def _without_unclosed(reader: FileReader, table: pa.Table) -> pa.Table:
    """The last batch without the file's last row, which an unclosed quote ran on to the end
    of the file, as ``reader.unclosed_quote`` (its text from the file). Such a row holds a
    line break; without one, the odd quote is a stray one inside a value (5" screen)."""
    last_kept = table["_line"][-1].as_py() if table.num_rows else 0
    last_ragged = max(reader.wrong_fields, default=0)
    if last_ragged > last_kept:  # the row ran on with another number of fields
        if "\n" in reader.wrong_fields[last_ragged]:
            reader.wrong_fields.pop(last_ragged)
            reader.field_counts.pop(last_ragged)
            reader.unclosed_quote[last_ragged] = _rest_of_file(reader, last_ragged)
        return table
    if not table.num_rows or not _line_breaks(table.slice(table.num_rows - 1)).any():
        return table
    reader.unclosed_quote[last_kept] = _rest_of_file(reader, last_kept)
    return table.slice(0, table.num_rows - 1)


def _rest_of_file(reader: FileReader, line: int, limit: int = 65_536) -> str:
    with reader.text()[0].open(encoding="utf-8", errors="replace") as handle:
        for _ in range(line - 1):
            handle.readline()
        return handle.read(limit)


class _CsvLines:
    """The line each CSV row starts on, batch after batch.

    pyarrow numbers rows (the header is row 1, or 2 after ``sep=``); a quoted value may hold
    line breaks, so a row starts that many lines later for every break in the rows before it,
    and a blank line (which pyarrow skips) moves the rows after it down one more (see
    :func:`_blank_lines`). Rows skipped for their number of fields (``ragged``, by row number)
    move to ``reader.wrong_fields`` by line, and a line not valid UTF-8 inside a row's quoted
    value (``reader.bad_lines``) is that row's. pyarrow parses a block ahead of the batch it
    gives, so ``ragged`` may hold rows of the next batches too: they wait for theirs.
    """

    def __init__(self, reader: FileReader) -> None:
        self.reader = reader
        self.next_row = self.next_line = reader.header_line + 1
        # Per blank line below the header, the lines before it that are not blank ones: a row
        # that many lines or more into the file without blank lines is below it.
        blank = np.zeros(0, np.int64) if reader.blank_lines is False else _blank_lines(reader)
        self.below_blank = blank - np.arange(1, blank.size + 1, dtype=np.int64)

    def number(
        self, table: pa.Table, ragged: dict[int, pacsv.InvalidRow], rest: bool = False
    ) -> pa.Table:
        """``table``, the next batch, with each row's line; the skipped rows among its rows (or,
        with ``rest``, all that are left: past the last batch) taken out of ``ragged``."""
        skipped = sorted(ragged) if rest else self._skipped_within(table.num_rows, ragged)
        count = table.num_rows + len(skipped)
        rows = np.arange(self.next_row, self.next_row + count, dtype=np.int64)
        kept = ~np.isin(rows, skipped)
        breaks = np.zeros(count, dtype=np.int64)
        breaks[kept] = _line_breaks(table)
        breaks[~kept] = [ragged[n].text.count("\n") for n in skipped]
        unblank = self.next_line + np.arange(count, dtype=np.int64) + np.cumsum(breaks) - breaks
        if count:
            self.next_row += count
            self.next_line = int(unblank[-1] + breaks[-1]) + 1
        starts = unblank + np.searchsorted(self.below_blank, unblank, side="left")
        for start, n in zip(starts[~kept].tolist(), skipped, strict=True):
            self._claim_ragged(start, ragged.pop(n))
        if self.reader.bad_lines and breaks.any():
            self._claim_bad_lines(starts, breaks)
        return table.append_column(LINE, pa.array(starts[kept]))

    def _skipped_within(self, kept: int, ragged: Mapping[int, pacsv.InvalidRow]) -> list[int]:
        """The skipped rows among the batch's rows, which are numbered on from ``next_row``:
        ``kept`` rows and these."""
        end, within = self.next_row + kept, []
        for n in sorted(ragged):
            if n >= end:
                break
            within.append(n)
            end += 1
        return within

    def _claim_ragged(self, start: int, row: pacsv.InvalidRow) -> None:
        """A row with another number of fields than the header: the header again but for a
        trailing separator (see :func:`_header_cells`), else a row of the wrong count."""
        reader = self.reader
        cells = _header_cells(reader, row.text)
        if cells is not None:
            reader.repeated_header[start] = _csv_text(cells, reader.delimiter)
        else:
            reader.wrong_fields[start] = row.text
            reader.field_counts[start] = row.actual_columns

    def _claim_bad_lines(self, starts: np.ndarray, breaks: np.ndarray) -> None:
        """A bad line inside a multi-line row rejects the row, under the row's first line."""
        bad = self.reader.bad_lines
        ends = starts + breaks
        for line in [n for n in bad if starts[0] < n <= ends[-1]]:
            row = int(np.searchsorted(starts, line, side="right")) - 1
            start = int(starts[row])
            if start < line <= ends[row]:
                text = bad.pop(line)
                bad[start] = f"{bad[start]}\n{text}" if start in bad else text


def _blank_lines(reader: FileReader) -> np.ndarray:
    """The blank lines below a CSV file's header (empty, or a lone carriage return) outside
    quoted values, in order: pyarrow skips them. A block without any is passed over at memory
    speed; one with them pays for an array of its line ends."""
    found = [np.zeros(0, np.int64)]
    lines = quotes = 0  # in the blocks before
    for block in _text_blocks(*reader.text()):
        if block.startswith((b"\n", b"\r\n")) or has_blank_line(block):
            found.append(lines + _blank_in(block, quotes))
        lines += block.count(b"\n")
        quotes += block.count(b'"')
    blank = np.concatenate(found)
    return blank[blank > reader.header_line]


def _blank_in(block: bytes, quotes: int) -> np.ndarray:
    """The blank lines of ``block`` (whole lines, ``quotes`` quote characters before it)
    outside quoted values, numbered from 1."""
    data = np.frombuffer(b"\n" + block + b"\n", dtype=np.uint8)  # each line between two ends
    ends = np.flatnonzero(data == 10)[:-1]
    ends = ends[ends + 1 < data.size - 1]  # the line after each end, but the one added
    after, later = data[ends + 1], data[ends + 2]
    blank = (after == 10) | ((after == 13) & (later == 10))
    inside = (quotes + np.searchsorted(np.flatnonzero(data == 34), ends)) % 2 == 1
    return np.flatnonzero(blank & ~inside) + 1


def _text_blocks(path: Path, encoding: str) -> Iterator[bytes]:
    """The text file ``path`` as UTF-8 in blocks of whole lines (the last may end without a
    line end)."""
    decoder = None if encoding == "utf8" else codecs.getincrementaldecoder(encoding)("replace")
    rest = b""
    with path.open("rb") as handle:
        while raw := handle.read(CSV_BLOCK_BYTES):
            text = rest + (raw if decoder is None else decoder.decode(raw).encode("utf-8"))
            cut = text.rfind(b"\n") + 1
            rest = text[cut:]
            if cut:
                yield text[:cut]
    if decoder is not None:
        rest += decoder.decode(b"", final=True).encode("utf-8")
    if rest:
        yield rest


def _line_breaks(table: pa.Table) -> np.ndarray:
    """Per row, the line breaks inside its values (only quoted values hold any). A column
    whose bytes hold no break at all (nearly every one) is passed over at memory speed."""
    total = np.zeros(table.num_rows, dtype=np.int64)
    for column in table.columns:
        if column.type == pa.string() and any(_has_break(chunk) for chunk in column.chunks):
            total += pc.count_substring(column, "\n").fill_null(0).to_numpy(zero_copy_only=False)
    return total


def _has_break(chunk: pa.Array) -> bool:
    data = chunk.buffers()[2]
    return data is not None and bool((np.frombuffer(data, dtype=np.uint8) == 10).any())
