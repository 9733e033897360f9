"""Stream input files as Arrow batches, never the whole file in memory.

Every batch carries ``_line``: the line of the file the row came from (the header is line 1
of a CSV, and a row starts on the line after the line breaks inside the quoted values and the
blank lines before it; a JSON Lines file counts every line, and a ``.json`` file holding one
array numbers its elements; a Parquet row's "line" is its row number). A file's own ``_line``
column is held as ``__line`` (see ``columns.held_name``). CSV values arrive as strings
(journeylens parses them, so a bad value rejects one row, not the file); Parquet keeps its
column types, but for INT96 times, UTC instants (see :func:`parquet_schema`).
"""

from __future__ import annotations

import codecs
import csv
import functools
import gzip
import io
import itertools
import json
import re
import shutil
import zlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TextIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from journeylens.collect.columns import LINE, held_name, with_lines
from journeylens.collect.encoding import check_text, has_blank_line, scratch_file, text_codec
from journeylens.collect.jsonfiles import json_batches
from journeylens.collect.spreadsheets import (
    ExcelDates,
    Sheet,
    TextForm,
    quoted_names,
    sheet_batches,
    workbook_sheets,
)
from journeylens.collect.xes import XmlError, count_events, xes_batches
from journeylens.errors import ImportFileError

BATCH_ROWS = 262_144
CSV_BLOCK_BYTES = 16 << 20
FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
    ".xlsx": "xlsx",
    ".xes": "xes",
}


@dataclass
class FileReader:
    """An open input file: its columns, size, and the lines that are not valid text."""

    path: Path
    format: str
    columns: list[str]
    total_bytes: int
    encoding: str = "utf-8"
    bad_lines: dict[int, str] = field(default_factory=dict)
    source: Path | None = None  # a cleaned UTF-8 copy read in place of ``data``
    # The bytes of the file: ``path`` itself, or its decompressed copy when it is gzipped.
    unpacked: Path | None = None
    invalid_json: dict[int, str] = field(default_factory=dict)  # filled while reading
    # CSV rows whose number of fields differs from the header's, by their first line, and
    # their numbers of fields: filled while reading.
    wrong_fields: dict[int, str] = field(default_factory=dict)
    field_counts: dict[int, int] = field(default_factory=dict)
    # CSV rows that repeat the header (files joined with ``cat``), by line: filled while
    # reading (see :class:`_HeaderRows`).
    repeated_header: dict[int, str] = field(default_factory=dict)
    # A CSV row with a quoted value that is never closed, which runs to the end of the file, by
    # its first line: filled while reading.
    unclosed_quote: dict[int, str] = field(default_factory=dict)
    # Where an XES file stops being well-formed XML (the rest is not read): filled while reading.
    xml_errors: list[XmlError] = field(default_factory=list)
    rows_estimate: int | None = None
    quotes: int | None = None  # quote characters in the file, when the encoding check counted
    blank_lines: bool | None = None  # whether a line may be blank, when the check looked
    delimiter: str = ","  # a CSV file's field separator (see ``sniff_delimiter``)
    header_line: int = 1  # a CSV file's header line (2 after Excel's ``sep=;`` line)
    header: list[str] = field(default_factory=list)  # its names as written, stripped
    label_rows: int = 0  # rows under a CSV file's header that label it (see ``_label_rows``)
    # A trailing separator that a CSV file's rows or header has and the other lacks: "rows"
    # or "header" (see ``_trailing_separator``).
    trailing: str | None = None
    # Keys seen inside columns that hold objects: a Parquet struct's fields, or the keys of
    # the objects in a JSON Lines file's first batch (see ``exports.lifted_columns``).
    nested_keys: dict[str, set[str]] = field(default_factory=dict)
    # How the import reads text numbers and times: what the file types is given in that form.
    form: TextForm = field(default_factory=TextForm)
    sheet: Sheet | None = None  # a workbook's sheet this reader reads
    # A workbook's time columns, whose numbers are Excel dates: set by the import, then filled.
    dates: ExcelDates = field(default_factory=ExcelDates)
    scratch: Path | None = None  # where copies made to read the file go (else the temp dir)

    @property
    def data(self) -> Path:
        return self.unpacked or self.path

    @property
    def suffix(self) -> str | None:
        """The file's type suffix, in lower case, past a ``.gz``."""
        return _suffix(self.path)

    def text(self) -> tuple[Path, str]:
        """The file to read as text and its encoding: the cleaned copy, else the data."""
        return (self.source, "utf8") if self.source else (self.data, self.encoding)

    def batches(self) -> Iterator[pa.Table]:
        readers = {
            "csv": _csv_batches,
            "parquet": _parquet_batches,
            "jsonl": _jsonl_batches,
            "xlsx": _xlsx_batches,
            "xes": _xes_batches,
        }
        yield from readers[self.format](self)

    def close(self) -> None:
        """Remove the copies made to read the file (decompressed, cleaned)."""
        for copy in (self.source, self.unpacked):
            if copy is not None:
                copy.unlink(missing_ok=True)

    def __enter__(self) -> FileReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The first bytes of a compressed file, by its compression: a file named without its
# compression's suffix (``gzip -c a.csv > b.csv``) is told by them.
_MAGIC = {
    "gzip": re.compile(rb"\x1f\x8b\x08"),
    "zip": re.compile(rb"PK\x03\x04"),
    "bzip2": re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)"),
    "xz": re.compile(rb"\xfd7zXZ\x00"),
    "zstd": re.compile(rb"\x28\xb5\x2f\xfd"),
}
# The formats whose files are read as they are written, never through a decompressed copy.
_BINARY = {"parquet": "a Parquet file", "xlsx": "an Excel workbook"}


def is_gzipped(path: Path) -> bool:
    return path.suffix.lower() == ".gz"


def compressed_as(path: Path) -> str | None:
    """The compression ``path`` holds by its first bytes (see ``_MAGIC``): "gzip", "zip",
    "bzip2", "xz" or "zstd"; None for another file, or none."""
    try:
        with path.open("rb") as handle:
            head = handle.read(10)
    except OSError:
        return None
    return next((name for name, magic in _MAGIC.items() if magic.match(head)), None)


def is_archive(path: Path) -> bool:
    """A zip archive of data files (unpacked by ``collect.archives``): a ``.zip`` file, or a
    file named as a data file that holds one (but a workbook, which is a zip archive)."""
    if path.suffix.lower() == ".zip":
        return True
    fmt = FORMATS.get(_suffix(path) or "")
    return fmt not in (None, "xlsx") and compressed_as(path) == "zip"


def expand_paths(paths: Sequence[str | Path]) -> list[Path]:
    """The files to import: each file as given, and for a directory the data files in it and
    in its subdirectories, in name order (a folder of exports, Spark's ``part-*`` files,
    Segment's S3 folders by day).

    A data file is one of a known type (but ``.txt``, which notes may be) or a gzipped file
    named without one (Segment's ``<time>.<id>.gz``); hidden and ``_``-prefixed entries
    (``.DS_Store``, Spark's ``_SUCCESS``) are skipped. A directory without any is an error.
    """
    files: list[Path] = []
    for given in map(Path, paths):
        if not given.is_dir():
            files.append(given)
            continue
        found = sorted(p for p in given.rglob("*") if p.is_file() and _data_file(p, given))
        if not found:
            raise ImportFileError(
                f"{given}: a directory without a file to import (.csv, .tsv, .parquet, .jsonl, "
                ".json, gzipped or not, .xlsx, .xes, or a .zip of them)."
            )
        files.extend(found)
    return files


def _data_file(path: Path, root: Path) -> bool:
    if any(part.startswith((".", "_")) for part in path.relative_to(root).parts):
        return False
    suffix = _suffix(path)
    if suffix in FORMATS:
        return suffix != ".txt"
    return is_gzipped(path) or is_archive(path)


def _suffix(path: Path) -> str | None:
    """The file's type suffix, in lower case, past a ``.gz``."""
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    return suffixes[-1] if suffixes else None


def detect_format(path: Path) -> str:
    suffix = _suffix(path)
    fmt = FORMATS.get(suffix) if suffix else None
    if fmt is None and is_gzipped(path) and _holds_json_lines(path):
        fmt = "jsonl"  # as Segment's S3 exports are named: <time>.<id>.gz
    if fmt is None:
        raise ImportFileError(
            f"{path}: unknown file type; use .csv, .tsv, .parquet, .jsonl (JSON Lines) or .json "
            "(JSON Lines or one JSON array), .xes (an XES event log), gzipped or not, .xlsx "
            "(Excel), or a .zip of them."
        )
    return fmt


def _holds_json_lines(path: Path) -> bool:
    """Whether the gzipped ``path`` starts with a JSON object (a file named without its type)."""
    try:
        with gzip.open(path, "rb") as packed:
            head = packed.read(4096)
    except (OSError, EOFError, zlib.error):
        return False
    return head.lstrip(codecs.BOM_UTF8).lstrip(b" \t\r\n").startswith(b"{")


def open_readers(
    path: Path, encoding: str | None = None, scratch: Path | None = None, sheets: Sequence[str] = ()
) -> list[FileReader]:
    """``path`` opened for streaming (see :func:`open_file`): a workbook as a reader of each
    sheet to read, the first or those ``sheets`` select (see :func:`workbook_sheets`)."""
    path = Path(path)
    # A workbook is a zip archive: open_file refuses another file named .xlsx, saying why.
    if _suffix(path) != ".xlsx" or compressed_as(path) != "zip":
        return [open_file(path, encoding, scratch)]
    return [open_file(path, encoding, scratch, sheet) for sheet in workbook_sheets(path, sheets)]


def open_file(
    path: Path, encoding: str | None = None, scratch: Path | None = None, sheet: Sheet | None = None
) -> FileReader:
    """Open ``path`` for streaming, checking that it exists, is not empty and is readable text;
    a workbook's ``sheet``, by default its first."""
    path = Path(path)
    if not path.is_file():
        raise ImportFileError(f"{path}: no such file.")
    fmt = detect_format(path)
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError.nothing_done(f"{path}: the file is empty")
    gzipped = _read_decompressed(path, fmt)
    if fmt in _BINARY:
        return _binary_file(path, fmt, size, sheet)
    if fmt == "xes" and encoding:
        text_codec(encoding, path)  # a name the XML parser knows, before anything is unpacked
    unpacked = _gunzip(path, scratch) if gzipped else None
    if fmt == "xes":  # XML: its declaration names the encoding, which the parser reads
        reader = FileReader(path, fmt, [], size, encoding or "", unpacked=unpacked)
        reader.rows_estimate = count_events(reader.data)
        return reader
    try:
        text = check_text(unpacked or path, encoding, scratch, shown=path)
    except ImportFileError:
        if unpacked is not None:
            unpacked.unlink(missing_ok=True)
        raise
    reader = FileReader(path, fmt, [], size, text.encoding, text.bad_lines, text.cleaned)
    reader.unpacked, reader.scratch = unpacked, scratch
    if text.lines is not None:
        reader.rows_estimate = max(text.lines - (1 if fmt == "csv" else 0), 0)
    reader.quotes, reader.blank_lines = text.quotes, text.blank_lines
    try:
        if fmt == "csv":
            _read_csv_shape(reader)
    except ImportFileError:
        reader.close()
        raise
    return reader


def _read_decompressed(path: Path, fmt: str) -> bool:
    """Whether ``path`` is read through a decompressed copy: a text file named ``.gz`` or
    holding gzip under another name (``gzip -c a.csv > b.csv``). A file compressed otherwise,
    and a Parquet file or workbook compressed at all, is refused, naming its compression."""
    packed = compressed_as(path)
    if packed is None or (fmt == "xlsx" and packed == "zip"):  # a workbook is a zip archive
        return fmt not in _BINARY and is_gzipped(path)
    if packed == "gzip" and fmt not in _BINARY:
        return True
    if packed == "zip":
        why = "a zip archive; unzip it and import the files it holds"
    elif fmt in _BINARY:
        why = f"{packed}-compressed; {_BINARY[fmt]} is read uncompressed: decompress it first"
    else:
        why = f"{packed}-compressed, which journeylens does not read: decompress (or gzip) it first"
    raise ImportFileError.nothing_done(f"{path}: the file is {why}")


def _binary_file(path: Path, fmt: str, size: int, sheet: Sheet | None) -> FileReader:
    """A Parquet file or an Excel workbook's ``sheet`` (by default its first), open: its
    columns (and a Parquet file's nested keys) and rows."""
    if fmt == "xlsx":
        sheet = sheet or workbook_sheets(path)[0]
        reader = FileReader(path, fmt, sheet.columns, size, rows_estimate=sheet.rows)
        reader.header_line, reader.sheet = sheet.header, sheet
        return reader
    try:
        parquet = pq.ParquetFile(path)  # its footer, read once
    except (pa.ArrowInvalid, OSError) as exc:
        raise ImportFileError(f"{path}: not a readable Parquet file ({exc}).") from exc
    schema = parquet.schema_arrow
    reader = FileReader(path, fmt, schema.names, size, rows_estimate=parquet.metadata.num_rows)
    reader.nested_keys = {
        f.name: {f.type.field(i).name for i in range(f.type.num_fields)}
        for f in schema
        if pa.types.is_struct(f.type)
    }
    return reader


def _read_csv_shape(reader: FileReader) -> None:
    """A CSV file's header, label rows and trailing separator (see ``_trailing_separator``)."""
    header = reader.header = _csv_header(reader)
    # An empty header cell (a trailing separator, a spreadsheet's blank column) is named by
    # its place, as spreadsheets do: ``column5``.
    reader.columns = [n or f"column{i}" for i, n in enumerate(header, start=1)]
    reader.label_rows = _label_rows(reader)
    reader.trailing = _trailing_separator(reader, header)
    if reader.trailing == "header":
        reader.columns = reader.columns[:-1]


def _gunzip(path: Path, scratch: Path | None) -> Path:
    """A decompressed copy of the gzipped ``path`` in ``scratch`` (streamed, never whole in
    memory); the caller removes it."""
    copy = scratch_file(scratch, path.stem if is_gzipped(path) else path.name)
    try:
        with gzip.open(path, "rb") as packed, copy.open("wb") as target:
            shutil.copyfileobj(packed, target, 16 << 20)
    except (OSError, EOFError, zlib.error) as exc:
        copy.unlink(missing_ok=True)
        raise ImportFileError(f"{path}: not a readable gzip file ({exc}).") from exc
    if copy.stat().st_size == 0:
        copy.unlink()
        raise ImportFileError.nothing_done(f"{path}: the file is empty")
    return copy


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


def reading_notes(reader: FileReader, shown: Path) -> list[str]:
    """What the import of ``reader``'s file (shown as ``shown``) read otherwise than as
    written, or left unread, for the user to know: a file gzipped under another name; a CSV
    file's rows' trailing separator; a workbook's sheets with values that were not read, and
    numbers read as Excel dates."""
    notes = [
        _gzip_note(reader, shown),
        _trailing_note(reader, shown),
        _unread_note(reader, shown),
        _dates_note(reader, shown),
    ]
    return [note for note in notes if note]


def _gzip_note(reader: FileReader, shown: Path) -> str | None:
    if reader.unpacked is None or is_gzipped(reader.path):
        return None
    return (
        f"{shown}: the file is gzip-compressed, though its name does not end in .gz; it was "
        "read decompressed."
    )


def _trailing_note(reader: FileReader, shown: Path) -> str | None:
    if reader.trailing != "rows":
        return None
    return (
        f"{shown}: every row ends in a separator the header does not (one empty field past "
        f"its {len(reader.columns)} columns); the rows were read as the header's columns."
    )


def _unread_note(reader: FileReader, shown: Path) -> str | None:
    if reader.sheet is None or not reader.sheet.unread:
        return None
    return f"{shown}: read its first sheet, '{reader.sheet.title}', alone.{unread_sheets(reader)}"


def unread_sheets(reader: FileReader) -> str:
    """For a note or an error on a workbook whose first sheet alone was read, its other sheets
    with values; else ""."""
    if reader.sheet is None or not reader.sheet.unread:
        return ""
    return (
        f" The workbook's other sheets with values, {quoted_names(reader.sheet.unread)}, were "
        "not read: name the sheets to read with --sheet (repeatable; a glob pattern such as "
        "--sheet '*' reads every sheet)."
    )


def _dates_note(reader: FileReader, shown: Path) -> str | None:
    dates = reader.dates
    if dates.first is None:
        return None
    numbers = sum(dates.counts.values())
    counted = (
        "1 number was read as the Excel date it is"
        if numbers == 1
        else f"{numbers:,} numbers were read as the Excel dates they are"
    )
    columns = quoted_names([reader.columns[at] for at in sorted(dates.counts)])
    number, read = dates.first
    return (
        f"{sheet_source(reader, shown)}: {counted}, in "
        f"{columns}, in cells without a date format (as a date format would show them: "
        f"{number!r} is {read.isoformat(sep=' ')})."
    )


def sheet_source(reader: FileReader, shown: Path) -> Path:
    """The file (shown as ``shown``) as its rows' source: a workbook of several sheets with
    the sheet read, ``book.xlsx[March]``."""
    sheet = reader.sheet
    return Path(f"{shown}[{sheet.title}]") if sheet is not None and sheet.several else shown


def check_sheets_read(readers: Sequence[FileReader], sheets: Sequence[str]) -> None:
    """Refuse ``--sheet`` for an import without a workbook: it would name nothing."""
    if sheets and not any(reader.sheet is not None for reader in readers):
        raise ImportFileError(
            "--sheet names sheets of Excel workbooks (.xlsx); none of the files is one."
        )


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


def _csv_batches(reader: FileReader) -> Iterator[pa.Table]:
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


def _xlsx_batches(reader: FileReader) -> Iterator[pa.Table]:
    labels: int | None = None  # rows under the header that label it, as in a CSV export
    assert reader.sheet is not None
    sheet = replace(reader.sheet, columns=[held_name(name) for name in reader.columns])
    for batch in sheet_batches(reader.path, sheet, BATCH_ROWS, reader.form, reader.dates):
        if labels is None:
            width, first = len(reader.columns), range(min(2, batch.num_rows))
            cells = [[batch.column(i)[row].as_py() or "" for i in range(width)] for row in first]
            labels = label_rows(reader.columns, cells)
            batch = batch.slice(labels)
        yield batch


def _jsonl_batches(reader: FileReader) -> Iterator[pa.Table]:
    # A JSON array's elements come in batches a quarter as long as the other formats' rows.
    yield from json_batches(reader, BATCH_ROWS // 4)


def _xes_batches(reader: FileReader) -> Iterator[pa.Table]:
    encoding = reader.encoding or None
    yield from xes_batches(reader.data, BATCH_ROWS, reader.xml_errors, encoding)


def _parquet_batches(reader: FileReader) -> Iterator[pa.Table]:
    yield from parquet_tables(reader.path, BATCH_ROWS)


def parquet_tables(path: Path, rows: int) -> Iterator[pa.Table]:
    """The Parquet file as tables of up to ``rows`` rows with ``_line`` (the row number,
    from 1), of the types :func:`parquet_schema` gives."""
    parquet = pq.ParquetFile(path)
    schema = parquet_schema(parquet)
    line = 1
    for batch in parquet.iter_batches(batch_size=rows):
        table = pa.Table.from_batches([batch])
        yield with_lines(table if table.schema == schema else table.cast(schema), line)
        line += batch.num_rows


def parquet_schema(parquet: pq.ParquetFile) -> pa.Schema:
    """The Parquet file's Arrow schema, a time stored as INT96 (Spark's and Impala's legacy
    type, see :func:`int96_columns`) an instant in UTC, as they write it, where pyarrow reads
    it as a naive time."""
    schema = parquet.schema_arrow
    for name in int96_columns(parquet):
        index = schema.get_field_index(name)
        dtype = schema.field(index).type if index >= 0 else None
        if dtype is not None and pa.types.is_timestamp(dtype):
            utc = pa.timestamp(dtype.unit, tz="UTC")
            schema = schema.set(index, schema.field(index).with_type(utc))
    return schema


def int96_columns(parquet: pq.ParquetFile) -> list[str]:
    """The Parquet file's columns (not nested in another) stored as INT96."""
    columns = [parquet.schema.column(i) for i in range(len(parquet.schema))]
    return [c.name for c in columns if c.physical_type == "INT96" and c.path == c.name]
