"""Import events and feedback files: stream, check, stage, de-duplicate, store.

Rows are read in batches, parsed and checked in an embedded DuckDB (see ``validate``), and good
rows are staged in the workspace's engine. On a DuckDB store the store's own connection parses
and checks a Parquet file as it scans it (or, for a file of one row group, its Arrow batches),
so no row passes through Python. Only
when every file has been read do the staged rows move into the canonical table, in one
statement: within the import the first occurrence of an id wins (file order, then line order),
and ids already stored are skipped, so re-importing a file stores nothing twice. Bad rows go to
``rejected`` with file, line, field and reason, replacing those of an earlier import of the same
file (the same path as given): the table describes each file's latest import.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeylens.collect.archives import (
    archive_notes,
    as_given,
    in_message,
    remove_folders,
    unpack_archives,
)
from journeylens.collect.columns import (
    INPUT_COLUMNS,
    LINE,
    arrange,
    arranged_sql,
    constant_params,
    given_name,
    held_name,
    plan_columns,
    quoted,
)
from journeylens.collect.csvfiles import separator_note
from journeylens.collect.jsonfiles import object_keys
from journeylens.collect.readers import (
    FileReader,
    check_sheets_read,
    int96_columns,
    open_readers,
    parquet_schema,
    parquet_tables,
    reading_notes,
    sheet_source,
    unread_sheets,
)
from journeylens.collect.spreadsheets import TextForm
from journeylens.collect.timeformats import readable_with
from journeylens.collect.validate import DERIVED_ID, BatchValidator, Limits, Source, Target
from journeylens.collect.xes import XmlError
from journeylens.config import Config
from journeylens.errors import ImportFileError
from journeylens.schema import ANSWER_KEY, EVENTS, FEEDBACK, REJECTED, arrow_schema, in_schema
from journeylens.store import Store

TARGETS = {
    "events": ("events", EVENTS, "event_id"),
    "feedback": ("feedback", FEEDBACK, "feedback_id"),
}
Progress = Callable[[int], None]
ROW_NUMBER = "file_row_number"  # the column a Parquet scan adds: the row's position, from 0
SCAN_ROWS = 1 << 20  # rows per statement when the store reads a Parquet file
CHUNK_ROWS = 1 << 16  # rows per Arrow record batch: the unit the store's threads share
BATCH_VIEW = "_journeylens_import_batch"
ORDER_FILE_SHIFT = 40  # a staged row's ``_order``: its file's index above this bit, its line below
TIME_COLUMNS = ("ts", "received_at")  # read as times: a workbook's numbers there are dates
# Why lines of a file were not read as rows: one detail for them all, or one per line.
Detail = str | Mapping[int, str]
Unread = tuple[str, Mapping[int, str], Detail]  # reason, {line: text}, detail


@dataclass
class ImportSummary:
    """What an import did."""

    kind: str
    files: list[str]
    rows: int = 0
    stored: int = 0
    rejected: int = 0
    duplicates_in_files: int = 0
    already_stored: int = 0
    rejected_by_reason: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # --ts-format layouts that read the times no reading understood (see ``timeformats``).
    ts_format_hints: list[str] = field(default_factory=list)
    # What the import read otherwise than as written, or left unread, per file (see
    # ``readers.reading_notes``).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "files": self.files,
            "rows": self.rows,
            "stored": self.stored,
            "rejected": self.rejected,
            "duplicates_in_files": self.duplicates_in_files,
            "already_stored": self.already_stored,
            "rejected_by_reason": dict(self.rejected_by_reason),
            "seconds": round(self.seconds, 3),
            "rows_per_second": round(self.rows / self.seconds) if self.seconds else None,
            "ts_format_hints": list(self.ts_format_hints),
            "notes": list(self.notes),
        }


def open_files(
    paths: Sequence[Path],
    kind: str,
    mapping: Mapping[str, str],
    encoding: str | None,
    scratch: Path,
    constants: Mapping[str, str] | None = None,
    sheets: Sequence[str] = (),
) -> list[tuple[FileReader, dict[str, str]]]:
    """Open every file (a workbook's sheets to read, each as a file: see ``sheets`` in
    :func:`import_files`) and plan its columns before anything is written."""
    if kind not in TARGETS:
        raise ImportFileError(f"Unknown import kind '{kind}'; use events, feedback or touchpoints.")
    readers: list[FileReader] = []
    plans = []
    try:
        for path in paths:
            for reader in open_readers(Path(path), encoding, scratch, sheets):
                readers.append(reader)
                plans.append(_plan(reader, Path(path), kind, mapping, constants))
        check_sheets_read(readers, sheets)
    except BaseException:  # the copies made to read the files so far go too
        for reader in readers:
            reader.close()
        raise
    return list(zip(readers, plans, strict=True))


def _plan(
    reader: FileReader,
    path: Path,
    kind: str,
    mapping: Mapping[str, str],
    constants: Mapping[str, str] | None,
) -> dict[str, str]:
    """The file's column plan; a workbook's time columns are set to read numbers as dates."""
    shown, columns, nested = sheet_source(reader, path), reader.columns, reader.nested_keys
    try:
        plan = plan_columns(str(shown), kind, columns, mapping, constants, nested)
    except ImportFileError as exc:
        hint = separator_note(reader, str(exc)) + unread_sheets(reader)
        raise ImportFileError(f"{exc}{hint}") from exc
    times = (at for at, name in enumerate(columns) if plan.get(name) in TIME_COLUMNS)
    reader.dates.columns = frozenset(times)
    return plan


def import_files(
    store: Store,
    config: Config,
    paths: Sequence[Path],
    kind: str = "events",
    mapping: Mapping[str, str] | None = None,
    timezone: str = "UTC",
    encoding: str | None = None,
    progress: Progress | None = None,
    scratch: Path | None = None,
    finish: Callable[[ibis.Table], None] | None = None,
    ts_format: str | None = None,
    decimal_comma: bool = False,
    constants: Mapping[str, str] | None = None,
    sheets: Sequence[str] = (),
) -> ImportSummary:
    """Import ``paths`` into the ``kind`` table of ``store``; see the module docstring.

    ``finish`` receives the expression of the new, de-duplicated rows and must store them (the
    workspace folds them in while it recomputes derived columns, writing the table once);
    by default they are appended. ``ts_format``: a strptime format (``%m/%d/%Y %H:%M``) that
    timestamps given as text follow, instead of ISO 8601 or epoch numbers. ``decimal_comma``:
    numbers given as text are written ``1.234,50``. ``constants``: ``canonical → value`` for
    columns the files do not have (``{"metric": "nps"}``), the same on every row.
    ``sheets``: the names or glob patterns of the sheets of each workbook to read (each must
    select one with values), instead of its first (see ``spreadsheets.workbook_sheets``).
    """
    started = time.perf_counter()
    mapping = dict(mapping or {})
    constants = dict(constants or {})
    folders: dict[Path, Path] = {}  # where archives were unpacked, and from: removed at the end
    try:
        scratch = scratch or store_dir(store)
        files = unpack_archives(paths, scratch, folders)
        opened = open_files(files, kind, mapping, encoding, scratch, constants, sheets)
    except ImportFileError as exc:
        remove_folders(folders)
        raise ImportFileError(in_message(str(exc), folders)) from exc
    except BaseException:
        remove_folders(folders)
        raise
    for reader, _ in opened:  # what the files type is given as the import reads text
        reader.form = TextForm(decimal_comma, ts_format)
    table = TARGETS[kind][0]
    staging, rejected_staging = f"_staging_{table}", "_staging_rejected"
    summary = ImportSummary(kind, [str(p) for p in paths], notes=archive_notes(folders))
    limits = Limits.from_config(config, timezone, ts_format, decimal_comma)
    validator = BatchValidator(kind, config, limits)
    store.create_scratch(staging, _staging_schema(kind))
    store.create_scratch(rejected_staging, arrow_schema(REJECTED))
    stager = _Stager(store, validator, kind, staging, rejected_staging)
    reasons = stager.reasons
    read: set[tuple[Path, str | None]] = set()
    try:
        for index, (reader, plan) in enumerate(opened):
            if (where := _where(reader)) in read:
                continue  # a file given twice (``a.csv ./a.csv``) is read once
            read.add(where)
            shown = as_given(reader.path, folders)
            given = sheet_source(reader, shown)  # the rejected rows' source
            if stager.native is not None and _scannable(reader):
                for source, rows in _parquet_sources(reader, plan, kind, constants):
                    if rows is None:
                        stager.scan(source, given, index)
                    else:
                        stager.registered(rows, source, given, index)
                    summary.rows += source.rows
                    if progress:
                        progress(source.rows)
                stager.next_file(reader.rows_estimate or 0)  # a Parquet row's line: its number
                continue
            for part, batch in enumerate(reader.batches()):
                if not reader.columns:  # no header (JSON Lines): each part by its own keys
                    plan = _plan_from_batch(reader, kind, batch, mapping, constants, part > 0)
                batch = _drop_lines(batch, reader.bad_lines)
                arranged = arrange(batch, plan, kind, constants, keys_vary=not reader.columns)
                stager.batch(arranged, given, index)
                summary.rows += batch.num_rows
                if progress:
                    progress(batch.num_rows)
            stager.next_file()
            summary.notes.extend(reading_notes(reader, shown))
            for reason, lines, detail in unread_lines(reader):
                rows = whole_lines(lines, kind, given, reason, stager.at, detail)
                store.write(rejected_staging, rows)
                reasons[reason] += len(lines)
                summary.rows += len(lines)
        summary.rejected = sum(reasons.values())
        summary.rejected_by_reason = dict(reasons.most_common())
        summary.ts_format_hints = readable_with(validator.unread_times)
        _drop_empty_columns(store, kind, staging)
        new = _dedupe(store, kind, staging, summary)
        before = store.count(table)
        (finish or (lambda rows: store.write(table, rows)))(new)
        summary.stored = store.count(table) - before
        summary.already_stored = summary.already_stored - summary.stored
        given_files = [sheet_source(r, as_given(r.path, folders)) for r, _ in opened]
        _commit_rejected(store, rejected_staging, given_files)
    except ImportFileError as exc:
        raise ImportFileError(in_message(str(exc), folders)) from exc
    finally:
        validator.close()
        store.drop(staging)
        store.drop(rejected_staging)
        for reader, _ in opened:
            reader.close()
        remove_folders(folders)
    summary.seconds = time.perf_counter() - started
    return summary


def _where(reader: FileReader) -> tuple[Path, str | None]:
    """The file read, and the sheet of a workbook: what a file given twice has twice."""
    return reader.path.resolve(), reader.sheet.title if reader.sheet else None


def store_dir(store: Store) -> Path:
    path = getattr(store, "path", None)
    return Path(path).parent if path is not None else Path.cwd()


def _scannable(reader: FileReader) -> bool:
    """Whether the store's engine can read the file itself: a Parquet file whose columns it
    tells apart from each other and from the row number and ``_line`` the reading adds, and
    which the reading does not rename (see ``columns.held_name``).

    The engine compares names without case: it would take ``plan`` for ``Plan``, and it
    refuses a struct (the row as given) with both. Such a file is arranged in Python, as CSV
    is, which keeps both as given. (``casefold`` folds more than the engine does, which folds
    ASCII letters only: a file it tells apart may be read in Python, never the other way.)
    """
    if reader.format != "parquet":
        return False
    names = [name.casefold() for name in (*reader.columns, ROW_NUMBER, LINE)]
    renamed = any(held_name(name) != name for name in reader.columns)
    return len(set(names)) == len(names) and not renamed


def _parquet_sources(
    reader: FileReader, plan: Mapping[str, str], kind: str, constants: Mapping[str, str]
) -> Iterator[tuple[Source, pa.Table | None]]:
    """The file in parts of about ``SCAN_ROWS`` rows, each a ``Source`` for the store to
    arrange and check, with the Arrow rows it reads as ``BATCH_VIEW`` (None: it scans the file).

    The engine shares a file's row groups among its threads, but one row group is one thread's
    work: a file of a single row group is read in Arrow batches instead (one part in memory at
    a time), whose record batches the threads share.
    """
    parquet = pq.ParquetFile(reader.path)  # its footer, read once
    schema = parquet_schema(parquet)
    params = constant_params(constants)
    if parquet.metadata.num_row_groups > 1:
        relation = (
            f"(SELECT *{_int96_in_utc(parquet)}, {ROW_NUMBER} + 1 AS _line "
            f"FROM read_parquet($path, {ROW_NUMBER} = true) "
            f"WHERE {ROW_NUMBER} >= $first_row AND {ROW_NUMBER} < $end_row)"
        )
        sql, types = arranged_sql(schema, plan, kind, relation, constants)
        for first, end in _row_ranges(parquet.metadata):
            bounds = {"path": str(reader.path), "first_row": first, "end_row": end}
            yield Source(sql, types, end - first, {**params, **bounds}), None
        return
    sql, types = arranged_sql(schema, plan, kind, BATCH_VIEW, constants)
    for rows in parquet_tables(reader.path, SCAN_ROWS):
        yield Source(sql, types, rows.num_rows, params), rows


def _int96_in_utc(parquet: pq.ParquetFile) -> str:
    """The ``REPLACE`` clause that reads the file's INT96 times as instants in UTC, as
    :func:`readers.parquet_schema` types them (the engine reads them as naive times)."""
    names = [quoted(name) for name in int96_columns(parquet)]
    utc = ", ".join(f"timezone('UTC', {name}) AS {name}" for name in names)
    return f" REPLACE ({utc})" if utc else ""


def _row_ranges(metadata: pq.FileMetaData) -> Iterator[tuple[int, int]]:
    """``[first, end)`` row ranges of whole row groups, about ``SCAN_ROWS`` each (a scan
    filtered on the row number reads only its row groups)."""
    first = end = 0
    for group in range(metadata.num_row_groups):
        end += metadata.row_group(group).num_rows
        if end - first >= SCAN_ROWS:
            yield first, end
            first = end
    if end > first:
        yield first, end


@dataclass
class _Stager:
    """Checks rows and puts them in the staging tables: through the store's DuckDB connection
    when it has one (no row comes back to Python), else as Arrow batches."""

    store: Store
    validator: BatchValidator
    kind: str
    staging: str
    rejected: str
    reasons: Counter[str] = field(default_factory=Counter)
    lines: int = 0  # the lines of the files staged so far: the next file's rows come after
    file_lines: int = 0  # the last line of the file being staged that held a row
    # When the rows were rejected: one time for the whole import, so that its rows list by
    # file and line (the newest import first), not by the batch that read them.
    at: datetime = field(default_factory=lambda: _now())

    def __post_init__(self) -> None:
        self.native = self.store.sql_connection()

    def next_file(self, lines: int | None = None) -> None:
        """The file is staged: the next one's rows are received after its ``lines`` (default:
        its last line that held a row)."""
        self.lines += self.file_lines if lines is None else lines
        self.file_lines = 0
        self.validator.line_base = self.lines

    def batch(self, arranged: pa.Table, path: Path, index: int) -> None:
        if arranged.num_rows:
            last = pc.max(arranged.column("_line")).as_py()
            self.file_lines = max(self.file_lines, int(last))
        if self.native is None:
            good, bad = self.validator.check(arranged)
            self.store.write(self.staging, _staged(good, self.kind, index))
            if bad.num_rows:
                self.store.write(self.rejected, _rejected(bad, self.kind, path, self.at))
                self.reasons.update(bad.column("_reason").to_pylist())
            return
        types = {f.name: f.type for f in arranged.schema}
        self.registered(arranged, Source(BATCH_VIEW, types, arranged.num_rows, {}), path, index)

    def registered(self, rows: pa.Table, source: Source, path: Path, index: int) -> None:
        """Stage ``source``, which reads ``rows`` as the view ``BATCH_VIEW``.

        The rows are cut into record batches of ``CHUNK_ROWS`` first: the engine spreads an
        Arrow table's batches over its threads (one large batch, or one Parquet row group,
        is one thread's work)."""
        assert self.native is not None
        rows = pa.Table.from_batches(rows.to_batches(max_chunksize=CHUNK_ROWS), rows.schema)
        self.native.register(BATCH_VIEW, rows)
        try:
            self.scan(source, path, index)
        finally:
            self.native.unregister(BATCH_VIEW)

    def scan(self, source: Source, path: Path, index: int) -> None:
        marks = {"rejected_at": self.at, "kind": self.kind, "source": str(path)}
        columns = INPUT_COLUMNS[self.kind]
        target = Target(self.staging, columns, index << ORDER_FILE_SHIFT, self.rejected, marks)
        self.reasons.update(self.validator.stage(self.native, source, target))


def _plan_from_batch(
    reader: FileReader,
    kind: str,
    batch: pa.Table,
    mapping: Mapping[str, str],
    constants: Mapping[str, str],
    later_part: bool,
) -> dict[str, str]:
    """JSON Lines has no header: plan a batch's columns from its keys (records of one file may
    have other keys further on: an anonymous visitor's events without ``userId``)."""
    columns = [given_name(c) for c in batch.column_names if c != LINE]
    reader.nested_keys = object_keys(batch)
    return plan_columns(
        str(reader.path), kind, columns, mapping, constants, reader.nested_keys, later_part
    )


def _drop_lines(batch: pa.Table, lines: Mapping[int, str]) -> pa.Table:
    if not lines:
        return batch
    keep = pc.invert(pc.is_in(batch.column("_line"), value_set=pa.array(list(lines))))
    return batch.filter(keep)


def _staging_schema(kind: str) -> pa.Schema:
    """The columns a file fills (``columns.INPUT_COLUMNS``: not those the rebuild derives, null
    until then, which would only take memory), whether the id was derived, and ``_order``: the
    file (its index in the import) in the high bits, the line below ``ORDER_FILE_SHIFT``."""
    stored = arrow_schema(TARGETS[kind][1])
    given = [stored.field(name) for name in INPUT_COLUMNS[kind]]
    derived = pa.field(DERIVED_ID, pa.bool_())
    return pa.schema([*given, derived, pa.field("_order", pa.int64())])


def _staged(good: pa.Table, kind: str, file_index: int) -> pa.Table:
    target = _staging_schema(kind)
    order = pc.add(
        pc.multiply(pa.scalar(file_index, pa.int64()), 1 << ORDER_FILE_SHIFT), good.column("_line")
    )
    columns = []
    for f in target:
        if f.name == "_order":
            columns.append(order)
        elif f.name in good.column_names:
            columns.append(good.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(good.num_rows, f.type))
    return pa.Table.from_arrays(columns, schema=target)


def _rejected(bad: pa.Table, kind: str, path: Path, at: datetime) -> pa.Table:
    n = bad.num_rows
    return pa.table(
        {
            "rejected_at": pa.array([at] * n, type=pa.timestamp("us")),
            "kind": pa.array([kind] * n, type=pa.string()),
            "source": pa.array([str(path)] * n, type=pa.string()),
            "line": bad.column("_line").cast(pa.int64()),
            "field": bad.column("_field"),
            "reason": bad.column("_reason"),
            "detail": bad.column("_detail"),
            "row": bad.column("_row"),
        },
        schema=arrow_schema(REJECTED),
    )


def _xml_detail(error: XmlError) -> str:
    return (
        f"the file is not well-formed XML here: {error.message}; the events after this line "
        "were not read: fix the file and import it again"
    )


def unread_lines(reader: FileReader, again: str = "import the file again") -> list[Unread]:
    """``(reason, {line: text}, detail)`` of the lines a read file could not give as rows
    (bad encoding or JSON, another number of fields than the header, the header again, an
    unclosed quote, an XML error), each reason that has any; ``again``: what to do once the
    file is mended. A line not valid UTF-8 is shown with ``\\x`` escapes."""
    found: list[Unread] = [
        (
            "invalid_encoding",
            reader.bad_lines,
            "the line is not valid UTF-8; shown with \\x escapes",
        ),
        ("invalid_json", reader.invalid_json, "the line is not a JSON object"),
        ("wrong_field_count", reader.wrong_fields, _field_counts(reader)),
        (
            "repeated_header",
            reader.repeated_header,
            "the header row again (files joined together?)",
        ),
        (
            "unclosed_quote",
            reader.unclosed_quote,
            "a quoted value in this row is never closed, so the rest of the file was read as "
            f"this one row; close the quote and {again}",
        ),
        *(("invalid_xml", {e.line: e.text}, _xml_detail(e)) for e in reader.xml_errors),
    ]
    return [(reason, lines, detail) for reason, lines, detail in found if lines]


def _field_counts(reader: FileReader) -> dict[int, str]:
    """The detail of each row with another number of fields than the header, by line."""
    header = len(reader.header)
    return {
        line: f"the row has {count} field{'' if count == 1 else 's'}, the header {header}"
        for line, count in reader.field_counts.items()
    }


def detail_at(detail: Detail, line: int) -> str:
    """The detail of an unread ``line``: the one of all the lines, or its own."""
    return detail if isinstance(detail, str) else detail[line]


def whole_lines(
    lines: Mapping[int, str], kind: str, path: Path, reason: str, at: datetime, detail: Detail
) -> pa.Table:
    """The ``rejected`` rows of whole ``lines`` of ``path`` (see :func:`unread_lines`), with
    one ``detail`` for all or one per line."""
    n = len(lines)
    return pa.table(
        {
            "rejected_at": pa.array([at] * n, type=pa.timestamp("us")),
            "kind": [kind] * n,
            "source": [str(path)] * n,
            "line": pa.array(list(lines), type=pa.int64()),
            "field": pa.nulls(n, pa.string()),
            "reason": [reason] * n,
            "detail": [detail_at(detail, line) for line in lines],
            "row": [text[:65_536] for text in lines.values()],
        },
        schema=arrow_schema(REJECTED),
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _drop_empty_columns(store: Store, kind: str, staging: str) -> None:
    """Drop the staged columns no row has a value in (columns the files lack: a touchpoint,
    UTM tags), where the store drops a column without rewriting the others. The rows are
    stored with those null all the same (see :func:`_dedupe`), and the staged rows, held
    until they are stored, take less memory, which the engine would otherwise spill to disk and
    read back (10M events of 13 filled columns: 1.5 GB instead of 2.1 GB). The keys stay.

    One query, a subquery per column for its first value: each stops there (a column with
    values has one in its first rows), and DuckDB, which knows a column holds none, reads none
    of it. (A query per column, each compiled and sent alone, cost a small import about 5%.)"""
    if not store.drops_columns:
        return
    staged = store.table(staging)
    kept = {*_key_columns(kind), DERIVED_ID, "_order"}
    candidates = [name for name in staged.columns if name not in kept]
    if not candidates:
        return
    firsts = {c: staged.filter(staged[c].notnull()).limit(1).count() for c in candidates}
    one_row = ibis.memtable({"_": [0]})
    found = store.execute(one_row.select(**{c: n.as_scalar() for c, n in firsts.items()}))
    store.drop_columns(staging, [c for c in candidates if not found[c].iloc[0]])


def _dedupe(store: Store, kind: str, staging: str, summary: ImportSummary) -> ibis.Table:
    """The staged rows to store: the first per key (:func:`row_key`), without keys already
    stored.

    A row without an id has the hash of the row as its id, so identical rows share it; within
    one file they are told apart by their occurrence (the second copy's id is the hash of the
    first's and ``2``): a file's repeated rows (a double click within one second) are all
    stored, and the same rows in another file, or in the same file imported again, are not
    stored twice.

    Sets ``duplicates_in_files`` and, provisionally, ``already_stored`` to the unique staged
    rows (the caller subtracts what it stored).
    """
    table, _, id_col = TARGETS[kind]
    staged = store.table(staging)
    rows, ids, repeated = _id_counts(store, staged, kind)
    if repeated:  # a window (a sort of every staged row) only where rows without ids repeat
        staged = _occurrences_apart(staged, id_col)
        rows, ids, _ = _id_counts(store, staged, kind)
    summary.duplicates_in_files = rows - ids
    summary.already_stored = ids
    unique = staged
    if rows != ids:
        first = ibis.row_number().over(group_by=row_key(staged, kind), order_by=staged._order)
        unique = staged.mutate(_rank=first).filter(ibis._._rank == 0)
    existing = store.table(table)
    if store.count(table):  # into an empty table (a first import) every row is new
        unique = unique.anti_join(existing, row_key(unique, kind) == row_key(existing, kind))
    # In the stored columns: those the rows lack (derived, or dropped as empty) are null.
    return in_schema(unique, existing.schema())


def row_key(table: ibis.Table, kind: str) -> ir.StringValue:
    """What tells rows of ``kind`` apart (:func:`_key_columns`), as one text."""
    columns = _key_columns(kind)
    if len(columns) == 1:
        return table[columns[0]]
    first, *rest = (table[c].cast("string").fill_null("") for c in columns)
    return first.concat(*(part for column in rest for part in ("\x1f", column)))


def _key_columns(kind: str) -> tuple[str, ...]:
    """What tells rows of ``kind`` apart: an event's id; an answer's id, metric and dimension
    (``schema.ANSWER_KEY``: a survey response's id holds an answer per metric)."""
    return ("event_id",) if kind == "events" else ANSWER_KEY


def _id_counts(store: Store, staged: ibis.Table, kind: str) -> tuple[int, int, bool]:
    """The staged rows, their distinct keys, and whether a derived id (a row without one)
    repeats: one aggregate."""
    derived = staged[DERIVED_ID]
    key = row_key(staged, kind)
    counts = store.execute(
        staged.aggregate(
            rows=staged.count(),
            ids=key.nunique(),
            derived=staged.count(where=derived),
            derived_ids=key.nunique(where=derived),
        )
    )
    row = counts.fillna(0).iloc[0]  # an engine may count no rows as null (Spark: NaN)
    return int(row["rows"]), int(row["ids"]), int(row["derived"]) != int(row["derived_ids"])


def _occurrences_apart(staged: ibis.Table, id_col: str) -> ibis.Table:
    """Derived ids made unique within a file: the ``k``-th copy of a row (``k`` > 1) gets
    ``md5(id || ':' || k)``, cut to the 32 characters of a derived id."""
    file = staged._order >> ORDER_FILE_SHIFT
    copy = ibis.row_number().over(group_by=[staged[id_col], file], order_by=staged._order) + 1
    numbered = staged[id_col].concat(":", copy.cast("string")).hexdigest("md5")[:32]
    again = staged[DERIVED_ID] & (copy > 1)
    return staged.mutate(**{id_col: ibis.ifelse(again, numbered, staged[id_col])})


def _commit_rejected(store: Store, staging: str, files: Sequence[Path]) -> None:
    """Replace the rejections of ``files`` by this import's, in one write: the table describes
    the latest import of each file (imported again, fixed or with other options, a file keeps
    none of an earlier import's rejections). A file given twice in one import is rejected once.
    """
    replace_rejections(store, files, store.table(staging))


def replace_rejections(store: Store, files: Sequence[Path], new: ibis.Table) -> None:
    """Store ``new`` as the rejections of ``files``, in place of their earlier ones (see
    :func:`_commit_rejected`)."""
    known = store.table("rejected")
    # The paths reach the engine as data (a table of them), not as SQL text.
    imported = ibis.memtable(pa.table({"source": pa.array([str(f) for f in files], pa.string())}))
    kept = known.anti_join(imported, known.source == imported.source)
    new = new.select(*known.columns).cast(known.schema())  # a file's rows, typed as stored
    store.replace("rejected", kept.union(new.distinct()))
