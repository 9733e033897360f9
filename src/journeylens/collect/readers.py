"""Stream input files as Arrow batches, never the whole file in memory.

Every batch carries ``_line``: the line of the file the row came from (the header is line 1
of a CSV, and a row starts on the line after the line breaks inside the quoted values and the
blank lines before it; a JSON Lines file counts every line, and a ``.json`` file holding one
array numbers its elements; a Parquet row's "line" is its row number). A file's own ``_line``
column is held as ``__line`` (see ``columns.held_name``). CSV values arrive as strings
(journeylens parses them, so a bad value rejects one row, not the file); Parquet keeps its
column types, but for INT96 times, UTC instants (see :func:`parquet_schema`).

This module finds a file's format, opens it and hands its batches out; CSV files are read in
:mod:`.csvfiles`, JSON in :mod:`.jsonfiles`, workbooks in :mod:`.spreadsheets` and XES event
logs in :mod:`.xes`.
"""

from __future__ import annotations

import codecs
import gzip
import re
import shutil
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from journeylens.collect.columns import held_name, with_lines
from journeylens.collect.csvfiles import csv_batches, label_rows, read_csv_shape
from journeylens.collect.encoding import check_text, scratch_file, text_codec
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
    label_rows: int = 0  # rows under a CSV file's header that label it (see ``csvfiles``)
    # A trailing separator that a CSV file's rows or header has and the other lacks: "rows"
    # or "header" (see ``csvfiles.read_csv_shape``).
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
            "csv": csv_batches,
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
            read_csv_shape(reader)
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
