"""Import events and feedback files: stream, check, stage, de-duplicate, store.

Rows are read in batches, parsed and checked in an embedded DuckDB (see ``validate``), and good
rows are staged in the workspace's engine. On a DuckDB store a Parquet file is parsed and checked
by the store's own connection as it scans the file, so its rows never pass through Python. Only
when every file has been read do the staged rows move into the canonical table, in one
statement: within the import the first occurrence of an id wins (file order, then line order),
and ids already stored are skipped, so re-importing a file stores nothing twice. Bad rows go to
``rejected`` with file, line, field and reason.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from journeylens.collect.columns import INPUT_COLUMNS, arrange, arranged_sql, plan_columns
from journeylens.collect.readers import FileReader, open_file
from journeylens.collect.validate import BatchValidator, Limits, Source, Target
from journeylens.config import Config
from journeylens.errors import ImportFileError
from journeylens.schema import EVENTS, FEEDBACK, REJECTED, arrow_schema
from journeylens.store import Store

TARGETS = {
    "events": ("events", EVENTS, "event_id"),
    "feedback": ("feedback", FEEDBACK, "feedback_id"),
}
Progress = Callable[[int], None]
ROW_NUMBER = "file_row_number"  # the column a Parquet scan adds: the row's position, from 0


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
        }


def open_files(
    paths: Sequence[Path],
    kind: str,
    mapping: Mapping[str, str],
    encoding: str | None,
    scratch: Path,
) -> list[tuple[FileReader, dict[str, str]]]:
    """Open every file and plan its columns before anything is written."""
    if kind not in TARGETS:
        raise ImportFileError(f"Unknown import kind '{kind}'; use events, feedback or touchpoints.")
    opened = []
    for path in paths:
        reader = open_file(Path(path), encoding, scratch)
        opened.append((reader, plan_columns(str(path), kind, reader.columns, mapping)))
    return opened


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
) -> ImportSummary:
    """Import ``paths`` into the ``kind`` table of ``store``; see the module docstring.

    ``finish`` receives the expression of the new, de-duplicated rows and must store them (the
    workspace folds them in while it recomputes derived columns, writing the table once);
    by default they are appended.
    """
    started = time.perf_counter()
    mapping = dict(mapping or {})
    opened = open_files(paths, kind, mapping, encoding, scratch or store_dir(store))
    table, schema, id_col = TARGETS[kind]
    staging, rejected_staging = f"_staging_{table}", "_staging_rejected"
    summary = ImportSummary(kind, [str(p) for p in paths])
    validator = BatchValidator(kind, config, Limits.from_config(config, timezone))
    store.create_scratch(staging, arrow_schema(schema).append(pa.field("_order", pa.int64())))
    store.create_scratch(rejected_staging, arrow_schema(REJECTED))
    reasons: Counter[str] = Counter()
    native = store.sql_connection()
    try:
        for index, (reader, plan) in enumerate(opened):
            if native is not None and _scannable(reader):
                n = reader.rows_estimate or 0
                target = Target(
                    staging,
                    INPUT_COLUMNS[kind],
                    index << 40,
                    rejected_staging,
                    {"rejected_at": _now(), "kind": kind, "source": str(reader.path)},
                )
                reasons.update(validator.stage(native, _parquet_source(reader, plan, kind), target))
                summary.rows += n
                if progress:
                    progress(n)
                continue
            for batch in reader.batches():
                plan = plan or _plan_from_batch(reader, kind, batch, mapping)
                batch = _drop_lines(batch, reader.bad_lines)
                good, bad = validator.check(arrange(batch, plan, kind))
                summary.rows += batch.num_rows
                store.write(staging, _staged(good, schema, index))
                if bad.num_rows:
                    store.write(rejected_staging, _rejected(bad, kind, reader.path))
                    reasons.update(bad.column("_reason").to_pylist())
                if progress:
                    progress(batch.num_rows)
            for reason, lines in (
                ("invalid_encoding", reader.bad_lines),
                ("invalid_json", reader.invalid_json),
            ):
                if lines:
                    store.write(rejected_staging, _whole_lines(lines, kind, reader.path, reason))
                    reasons[reason] += len(lines)
                    summary.rows += len(lines)
        summary.rejected = sum(reasons.values())
        summary.rejected_by_reason = dict(reasons.most_common())
        new = _dedupe(store, table, staging, id_col, summary)
        before = store.count(table)
        (finish or (lambda rows: store.write(table, rows)))(new)
        summary.stored = store.count(table) - before
        summary.already_stored = summary.already_stored - summary.stored
        _commit_rejected(store, rejected_staging)
    finally:
        validator.close()
        store.drop(staging)
        store.drop(rejected_staging)
        for reader, _ in opened:
            if reader.source is not None:
                reader.source.unlink(missing_ok=True)
    summary.seconds = time.perf_counter() - started
    return summary


def store_dir(store: Store) -> Path:
    path = getattr(store, "path", None)
    return Path(path).parent if path is not None else Path.cwd()


def _scannable(reader: FileReader) -> bool:
    """Whether the store's engine can read the file itself (a Parquet file whose columns do not
    clash with the row number the scan adds)."""
    return reader.format == "parquet" and ROW_NUMBER not in reader.columns


def _parquet_source(reader: FileReader, plan: Mapping[str, str], kind: str) -> Source:
    schema = pq.read_schema(reader.path)
    relation = f"read_parquet($path, {ROW_NUMBER} = true)"
    sql, types = arranged_sql(schema, plan, kind, relation, f"{ROW_NUMBER} + 1")
    return Source(sql, types, reader.rows_estimate or 0, {"path": str(reader.path)})


def _plan_from_batch(
    reader: FileReader, kind: str, batch: pa.Table, mapping: Mapping[str, str]
) -> dict[str, str]:
    """JSON Lines has no header: plan its columns from the first batch's keys."""
    columns = [c for c in batch.column_names if c != "_line"]
    return plan_columns(str(reader.path), kind, columns, mapping)


def _drop_lines(batch: pa.Table, lines: Mapping[int, str]) -> pa.Table:
    if not lines:
        return batch
    keep = pc.invert(pc.is_in(batch.column("_line"), value_set=pa.array(list(lines))))
    return batch.filter(keep)


def _staged(good: pa.Table, schema: ibis.Schema, file_index: int) -> pa.Table:
    target = arrow_schema(schema)
    columns = []
    for f in target:
        if f.name in good.column_names:
            columns.append(good.column(f.name).cast(f.type))
        else:
            columns.append(pa.nulls(good.num_rows, f.type))
    order = pc.add(pc.multiply(pa.scalar(file_index, pa.int64()), 1 << 40), good.column("_line"))
    return pa.Table.from_arrays(
        [*columns, order], schema=target.append(pa.field("_order", pa.int64()))
    )


def _rejected(bad: pa.Table, kind: str, path: Path) -> pa.Table:
    n = bad.num_rows
    return pa.table(
        {
            "rejected_at": pa.array([_now()] * n, type=pa.timestamp("us")),
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


def _whole_lines(lines: Mapping[int, str], kind: str, path: Path, reason: str) -> pa.Table:
    details = {
        "invalid_encoding": "the line is not valid UTF-8; shown with \\x escapes",
        "invalid_json": "the line is not a JSON object",
    }
    n = len(lines)
    return pa.table(
        {
            "rejected_at": pa.array([_now()] * n, type=pa.timestamp("us")),
            "kind": [kind] * n,
            "source": [str(path)] * n,
            "line": pa.array(list(lines), type=pa.int64()),
            "field": pa.nulls(n, pa.string()),
            "reason": [reason] * n,
            "detail": [details[reason]] * n,
            "row": [text[:65_536] for text in lines.values()],
        },
        schema=arrow_schema(REJECTED),
    )


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _dedupe(
    store: Store, table: str, staging: str, id_col: str, summary: ImportSummary
) -> ibis.Table:
    """The staged rows to store: the first per id, without ids already stored.

    Sets ``duplicates_in_files`` and, provisionally, ``already_stored`` to the unique staged
    rows (the caller subtracts what it stored).
    """
    staged = store.table(staging)
    counts = store.execute(staged.aggregate(rows=staged.count(), ids=staged[id_col].nunique()))
    rows, ids = int(counts["rows"][0]), int(counts["ids"][0])
    summary.duplicates_in_files = rows - ids
    summary.already_stored = ids
    unique = staged
    if rows != ids:  # the window (a sort of every staged row) only when there are duplicates
        first = ibis.row_number().over(group_by=staged[id_col], order_by=staged._order)
        unique = staged.mutate(_rank=first).filter(ibis._._rank == 0)
    existing = store.table(table)
    new = unique.anti_join(existing, unique[id_col] == existing[id_col])
    return new.select(*existing.columns)


def _commit_rejected(store: Store, staging: str) -> None:
    """Add staged rejections, skipping rows already rejected by an earlier import of the file."""
    staged = store.table(staging)
    known = store.table("rejected")
    same = (
        (staged.source == known.source)
        & (staged.line == known.line)
        & (staged.reason == known.reason)
        & (staged.row == known.row)
    )
    store.write("rejected", staged.anti_join(known, same).select(*known.columns))
