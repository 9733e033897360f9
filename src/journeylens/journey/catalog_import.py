"""Merge touchpoint catalog files (CSV, Parquet, JSON Lines, Excel) into the workspace config.

A catalog file has one row per touchpoint: ``touchpoint``, ``match`` (event names or glob
patterns separated by ``|``), ``stage`` (a key or a label in any supported language), and
optionally ``channel``, ``kind``, ``cost``, ``cost_period``, ``owner``, ``content_type``. A row
for a touchpoint already in the catalog replaces it; bad rows go to ``rejected``.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa

from journeylens.collect.columns import LINE, given_name, loosely_named
from journeylens.collect.importer import (
    ImportSummary,
    Unread,
    replace_rejections,
    unread_lines,
    whole_lines,
)
from journeylens.collect.readers import (
    FileReader,
    check_sheets_read,
    open_readers,
    reading_notes,
    sheet_source,
    unread_sheets,
)
from journeylens.config import Config, Touchpoint, parse_touchpoint
from journeylens.errors import ConfigError, ImportFileError
from journeylens.schema import REJECTED, TOUCHPOINTS, arrow_schema
from journeylens.store import Store

CATALOG_COLUMNS = tuple(TOUCHPOINTS.names)


def import_catalog(
    store: Store,
    config: Config,
    paths: Sequence[Path],
    mapping: Mapping[str, str],
    sheets: Sequence[str] = (),
) -> tuple[ImportSummary, Config]:
    """Read catalog files (a workbook's first sheet, or the ``sheets`` named, each as a file),
    validate each row, and return the merged config."""
    started = time.perf_counter()
    summary = ImportSummary("touchpoints", [str(p) for p in paths])
    catalog = {t.touchpoint: t for t in config.touchpoints}
    rejected: list[dict[str, Any]] = []
    whole: list[pa.Table] = []
    reasons: Counter[str] = Counter()
    readers: list[FileReader] = []
    for reader in (reader for path in paths for reader in open_readers(path, sheets=sheets)):
        readers.append(reader)
        source = sheet_source(reader, reader.path)
        unread: list[Unread] = []
        for line, row in _rows(reader, source, mapping, unread):
            summary.rows += 1
            try:
                touchpoint = parse_touchpoint(config, _clean(row), f"{source} line {line}")
            except ConfigError as exc:
                reasons["invalid_touchpoint"] += 1
                rejected.append(_rejected(source, line, row, str(exc), exc.field))
                continue
            catalog[touchpoint.touchpoint] = touchpoint
            summary.stored += 1
        for reason, lines, detail in unread:
            summary.rows += len(lines)
            reasons[reason] += len(lines)
            at = _rejection_time()
            whole.append(whole_lines(lines, "touchpoints", source, reason, at, detail))
        summary.notes.extend(reading_notes(reader, reader.path))
    check_sheets_read(readers, sheets)
    # Imported again, a file keeps none of its earlier rejections, as events files do.
    rows = pa.Table.from_pylist(rejected, schema=arrow_schema(REJECTED))
    rows = pa.concat_tables([rows, *whole])
    sources = [sheet_source(reader, reader.path) for reader in readers]
    replace_rejections(store, sources, ibis.memtable(rows))
    summary.rejected = rows.num_rows
    summary.rejected_by_reason = dict(reasons)
    summary.seconds = time.perf_counter() - started
    merged: tuple[Touchpoint, ...] = tuple(catalog.values())
    return summary, config.with_touchpoints(merged)


# Headers a spreadsheet's catalog may use for a column, beside its name written another way
# (``Touchpoint``, ``Cost period``: see ``loose_name``).
CATALOG_ALIASES = {"match": ("events", "event"), "owner": ("team",)}


def _renames(columns: Sequence[str], mapping: Mapping[str, str]) -> dict[str, str]:
    """``source column → catalog column``: ``--map`` first, then a column named as a catalog
    column or an alias of one in any case and spacing (``Cost period``, ``Events``)."""
    renames = {source: canonical for canonical, source in mapping.items()}
    names = {
        c: (c, *CATALOG_ALIASES.get(c, ())) for c in CATALOG_COLUMNS if c not in renames.values()
    }
    free = [c for c in columns if c not in renames]
    return renames | {column: role for role, column in loosely_named(free, names).items()}


def _check_near_misses(path: Path, columns: Sequence[str], renames: Mapping[str, str]) -> None:
    """Refuse a column named nearly as a catalog column (``Chanel``): its values would be
    dropped unseen. Columns named unlike any (notes, the counts ``--suggest`` writes) are
    left out."""
    taken = set(renames.values())
    for column in columns:
        if column in renames or column in CATALOG_COLUMNS:
            continue
        close = difflib.get_close_matches(column.lower(), CATALOG_COLUMNS, n=1, cutoff=0.75)
        if close and close[0] not in taken:
            raise ImportFileError(
                f"{path}: the column '{column}' is no catalog column. Did you mean "
                f"'{close[0]}'? Rename it, or --map {close[0]}={column}."
            )


def _rows(reader: FileReader, path: Path, mapping: Mapping[str, str], unread: list[Unread]) -> Any:
    """``(line, row)`` of each row ``reader`` reads (its file shown as ``path``); the lines
    that could not be read as rows (another number of fields than the header, the header
    again, bad JSON or encoding, an unclosed quote) are added to ``unread`` once the file is
    read (see :func:`.importer.unread_lines`)."""
    checked = False
    with reader:
        renames: dict[str, str] | None = None
        for given in (row for batch in reader.batches() for row in batch.to_pylist()):
            line = given.pop(LINE)
            given = {given_name(key): value for key, value in given.items()}
            if renames is None:  # a header's names, or a JSON Lines file's first record's keys
                renames = _renames(reader.columns or list(given), mapping)
                _check_near_misses(path, reader.columns or list(given), renames)
            row = {renames.get(k, k): v for k, v in given.items()}
            if not checked:
                missing = [c for c in ("touchpoint", "stage") if c not in row]
                if missing:
                    raise ImportFileError(
                        f"{path}: missing required column '{missing[0]}' for a touchpoint "
                        f"catalog; columns are {', '.join(CATALOG_COLUMNS)}."
                        f"{unread_sheets(reader)}"
                    )
                checked = True
            yield line, row
        unread.extend(unread_lines(reader))


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in row.items() if k in CATALOG_COLUMNS and v not in (None, "")}
    if isinstance(data.get("match"), str):
        data["match"] = [m.strip() for m in data["match"].split("|") if m.strip()]
    if "cost" in data and isinstance(data["cost"], str):
        # A cost that is not a number stays text: parse_touchpoint reports it with its key.
        with contextlib.suppress(ValueError):
            data["cost"] = float(data["cost"])
    return data


def _rejection_time() -> datetime:
    """The time of a rejection, UTC without its zone (as ``rejected`` stores it)."""
    return datetime.now(UTC).replace(tzinfo=None)


def _rejected(
    path: Path, line: int, row: dict[str, Any], reason: str, field: str | None
) -> dict[str, Any]:
    return {
        "rejected_at": _rejection_time(),
        "kind": "touchpoints",
        "source": str(path),
        "line": line,
        "field": field,
        "reason": "invalid_touchpoint",
        "detail": reason,
        "row": json.dumps(row, default=str)[:65_536],
    }
