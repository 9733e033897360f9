"""The embedded default: one DuckDB file per workspace."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import duckdb
import ibis
import pyarrow as pa

from journeylens.config import DATABASE_FILE
from journeylens.errors import EngineError
from journeylens.store.base import Store

MEMORY_LIMIT_ENV = "JOURNEYLENS_MEMORY_LIMIT"
DEFAULT_MEMORY_LIMIT = "1536MB"  # with Python around it, a 10M-event analysis peaks under 2 GB
CHANGES = "_journeylens_changes"
LOCK_WAIT_ENV = "JOURNEYLENS_LOCK_WAIT"
DEFAULT_LOCK_WAIT = 10.0  # seconds to wait for another process to let go of the file
LOCK_POLL_SECONDS = 0.2
_LOCK_HOLDER = re.compile(r"\(PID (\d+)\)")
_MEMORY = re.compile(r"\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)", re.IGNORECASE)
# New database files are written in this storage format: its string compression (a dictionary
# whose entries are themselves compressed) writes a 10M-event table about an eighth faster than
# the 1.0 format, DuckDB's default for files older versions can still read. A file keeps the
# format it was created with.
STORAGE_VERSION = "v1.5.0"
# In a file of an older format, columns of ids (hashes, uuids, the names of people and sessions),
# where nearly every value differs, are stored with FSST. Naming it up front spares the weighing
# of a dictionary for every segment: such a table is written about a fifth faster, to the same
# bytes. The newer format has retired plain FSST: there, DuckDB picks.
ID_COLUMNS = frozenset(
    {"event_id", "feedback_id", "anonymous_id", "user_id", "person_id", "session_id"}
)
ID_COMPRESSION = "fsst"
SWAPPED_JOINS_OPTIMIZER = "build_side_probe_side"  # DuckDB's pass that swaps a join's sides
ID_COMPRESSION_FORMATS = ("v0.", "v1.0.", "v1.1.", "v1.2.")  # formats with plain FSST


def _connect(path: Path, read_only: bool) -> ibis.BaseBackend:
    """Open the database file, waiting up to ``LOCK_WAIT_ENV`` seconds (default
    ``DEFAULT_LOCK_WAIT``) while another process holds it: DuckDB lets one process write a file
    (an import, an analysis) and refuses every other process until it is done."""
    text = os.environ.get(LOCK_WAIT_ENV, str(DEFAULT_LOCK_WAIT))
    try:
        wait = float(text)
    except ValueError:
        raise EngineError(f"{LOCK_WAIT_ENV}={text!r}: use a number of seconds, e.g. 30.") from None
    deadline = time.monotonic() + wait
    while True:
        try:
            return ibis.duckdb.connect(
                str(path), read_only=read_only, storage_compatibility_version=STORAGE_VERSION
            )
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower():
                raise
            if time.monotonic() >= deadline:
                holder = _LOCK_HOLDER.search(str(exc))
                who = f" (process {holder[1]})" if holder else ""
                raise EngineError(
                    f"The workspace {path.parent} is in use by another process{who}; it still "
                    f"was after {wait:g} s. Run one journeylens command at a time on a "
                    f"workspace, or wait longer with {LOCK_WAIT_ENV}=SECONDS."
                ) from None
            time.sleep(LOCK_POLL_SECONDS)


def storage_version(con: duckdb.DuckDBPyConnection) -> str:
    """The storage format of the open database file, as DuckDB names it (``v1.5.0+``)."""
    row = con.execute(
        "SELECT tags['storage_version'] FROM duckdb_databases() "
        "WHERE database_name = current_database()"
    ).fetchone()
    return str(row[0]) if row and row[0] else ""


def _id_compression(con: duckdb.DuckDBPyConnection) -> str | None:
    """The compression named for id columns in the open file (see ``ID_COMPRESSION``): FSST in
    a file of a format that has it (1.0 to 1.2), else none."""
    return ID_COMPRESSION if storage_version(con).startswith(ID_COMPRESSION_FORMATS) else None


class DuckDBStore(Store):
    """Tables in ``<workspace>/journeylens.duckdb``."""

    engine = "duckdb"
    updates_in_place = True
    drops_columns = True

    def __init__(self, directory: Path, read_only: bool = False) -> None:
        self.path = directory / DATABASE_FILE
        self.con = _connect(self.path, read_only)
        self.raw = self.con.con  # the duckdb connection, for Arrow appends
        # Bound memory: past the limit DuckDB spills sorts and joins to disk instead of growing.
        limit = os.environ.get(MEMORY_LIMIT_ENV, DEFAULT_MEMORY_LIMIT)
        if not _MEMORY.fullmatch(limit):
            raise EngineError(f"{MEMORY_LIMIT_ENV}={limit!r}: use a size such as 2GB or 512MB.")
        self.raw.execute(f"SET memory_limit = '{limit}'")
        # DuckDB draws a progress bar on standard output for queries over two seconds, where
        # it would land inside a command's JSON or CSV: journeylens reports progress itself.
        self.raw.execute("SET enable_progress_bar = false")
        self._id_compression = _id_compression(self.raw)
        # A join builds its hash table on the side written on the right. journeylens writes
        # the smaller side there (a funnel's later-step rows, beside its entries); where
        # DuckDB's estimates tie (both sides filters of one intermediate result) it swapped
        # them, and a 100M-event funnel built tables over every entry and ran out of memory.
        self.raw.execute(f"SET disabled_optimizers = '{SWAPPED_JOINS_OPTIMIZER}'")

    def sql_connection(self) -> duckdb.DuckDBPyConnection:
        return self.raw

    def write(self, name: str, data: pa.Table | ibis.Table, overwrite: bool = False) -> None:
        if overwrite or not self.has_table(name):
            # Stored tables have no row order (every analysis orders what it needs), so the
            # rows may be written in parallel as they come: about a third faster.
            self.raw.execute("SET preserve_insertion_order = false")
            try:
                self._create(name, data)
            finally:
                self.raw.execute("RESET preserve_insertion_order")
        else:
            self._insert(name, data)

    def _create(self, name: str, data: pa.Table | ibis.Table) -> None:
        """Write ``data`` as the table ``name`` (replacing it; ``data`` may read it), its id
        columns compressed as ``ID_COMPRESSION``."""
        schema = (
            data.schema() if isinstance(data, ibis.Table) else ibis.Schema.from_pyarrow(data.schema)
        )
        compression = self._id_compression
        if compression is None or not ID_COLUMNS & set(schema.names):
            self.con.create_table(name, data, overwrite=True)
            return
        columns = []
        for column in schema.to_sqlglot_column_defs(self.con.dialect):
            text = column.sql(self.con.dialect)
            columns.append(
                f"{text} USING COMPRESSION {compression}" if column.name in ID_COLUMNS else text
            )
        # Table and column names are journeylens's own, never user input.
        new = f"_journeylens_new_{name}"
        self.drop(new)
        self.raw.execute(f'CREATE TABLE "{new}" ({", ".join(columns)})')
        try:
            self._insert(new, data)
        except BaseException:
            self.drop(new)
            raise
        self.drop(name)
        self.rename(new, name)

    def _insert(self, name: str, data: pa.Table | ibis.Table) -> None:
        if isinstance(data, pa.Table):
            self._append_arrow(name, data)
        else:
            self.con.insert(name, data)

    def _append_arrow(self, name: str, data: pa.Table) -> None:
        # Inserting from a registered Arrow table is a zero-copy scan; name-based so column
        # order in ``data`` does not matter.
        columns = ", ".join(f'"{c}"' for c in data.column_names)
        self.raw.register("_journeylens_append", data)
        try:
            self.raw.execute(
                f'INSERT INTO "{name}" ({columns}) SELECT {columns} FROM _journeylens_append'
            )
        finally:
            self.raw.unregister("_journeylens_append")

    def create_scratch(self, name: str, schema: pa.Schema) -> None:
        # A temporary table writes no WAL and never reaches the database file.
        empty = pa.Table.from_batches([], schema=schema)
        self.con.create_table(name, empty, temp=True, overwrite=True)

    def materialize(self, name: str, expr: ibis.Table) -> None:
        # A temporary table, written without keeping row order (see ``write``).
        self.raw.execute("SET preserve_insertion_order = false")
        try:
            # Ibis overwrites a temporary table by copying it: drop it first instead.
            self.drop(name)
            self.con.create_table(name, expr, temp=True)
        finally:
            self.raw.execute("RESET preserve_insertion_order")

    def update(self, name: str, changes: ibis.Table, key: str | Sequence[str]) -> None:
        # Table and column names are journeylens's own, never user input.
        keys = [key] if isinstance(key, str) else list(key)
        self.materialize(CHANGES, changes)
        try:
            sets = ", ".join(f'"{c}" = {CHANGES}."{c}"' for c in changes.columns if c not in keys)
            match = " AND ".join(
                f'"{name}"."{k}" IS NOT DISTINCT FROM {CHANGES}."{k}"' for k in keys
            )
            self.raw.execute(f'UPDATE "{name}" SET {sets} FROM {CHANGES} WHERE {match}')
        finally:
            self.drop(CHANGES)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.raw.begin()
        try:
            yield
        except BaseException:
            self.raw.rollback()
            raise
        self.raw.commit()

    def drop(self, name: str) -> None:
        self.con.drop_table(name, force=True)

    def rename(self, old: str, new: str) -> None:
        # Table names are journeylens's own, never user input.
        self.raw.execute(f'ALTER TABLE "{old}" RENAME TO "{new}"')

    def drop_columns(self, name: str, columns: Sequence[str]) -> None:
        # Table and column names are journeylens's own, never user input.
        for column in columns:
            self.raw.execute(f'ALTER TABLE "{name}" DROP COLUMN "{column}"')

    def checkpoint(self) -> None:
        self.raw.execute("CHECKPOINT")

    def close(self) -> None:
        self.con.disconnect()
