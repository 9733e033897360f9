"""What every storage engine offers the rest of journeylens."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import ibis
import pandas as pd
import pyarrow as pa

from journeylens.schema import TABLES, arrow_schema


class Store(ABC):
    """A workspace's tables on one engine.

    Everything above this class talks Ibis: ``table()`` gives a lazy table, ``execute()`` runs an
    expression once, and the write methods take Arrow data or Ibis expressions.
    """

    engine: str
    con: Any
    # Whether ``update`` and ``transaction`` work: rows changed in place, not rewritten.
    updates_in_place: bool = False
    # Whether ``drop_columns`` works: a column dropped without rewriting the others.
    drops_columns: bool = False

    def table(self, name: str) -> ibis.Table:
        return self.con.table(name)

    def has_table(self, name: str) -> bool:
        return name in self.con.list_tables()

    def ensure_tables(self) -> None:
        """Create the canonical tables that do not exist yet."""
        for name, schema in TABLES.items():
            if not self.has_table(name):
                self.create(name, schema)

    def create(self, name: str, schema: ibis.Schema) -> None:
        self.write(name, pa.Table.from_batches([], schema=arrow_schema(schema)), overwrite=True)

    def create_scratch(self, name: str, schema: pa.Schema) -> None:
        """Create an empty working table for one operation (dropped by the caller).

        Engines that can keep it out of the durable store (a temporary table) do so.
        """
        self.write(name, pa.Table.from_batches([], schema=schema), overwrite=True)

    def sql_connection(self) -> Any:
        """A DuckDB connection that holds this store's tables, or None on other engines.

        Bulk imports use it to scan Parquet files in place, no row passing through Python.
        """
        return None

    def materialize(self, name: str, expr: ibis.Table) -> None:
        """Store the rows of ``expr`` as the working table ``name`` (dropped by the caller),
        so that later expressions read them instead of computing them again."""
        self.write(name, expr, overwrite=True)

    def execute(self, expr: ibis.Expr) -> pd.DataFrame:
        return expr.execute()

    def to_arrow(self, expr: ibis.Table) -> pa.Table:
        return expr.to_pyarrow()

    def count(self, table: str | ibis.Table) -> int:
        """The rows of the table ``table`` names, or of an expression."""
        rows = self.table(table) if isinstance(table, str) else table
        return int(rows.count().execute())

    @abstractmethod
    def write(self, name: str, data: pa.Table | ibis.Table, overwrite: bool = False) -> None:
        """Append ``data`` to table ``name`` (create it if needed), or replace it."""

    @abstractmethod
    def drop(self, name: str) -> None:
        """Drop a table if it exists."""

    def replace(self, name: str, expr: ibis.Table) -> None:
        """Replace ``name`` with the result of ``expr``, which may read ``name`` itself.

        The new rows are written first, then swapped in by one transaction: a stop at any point
        leaves the old table or the new one, never none. Engines without transactions swap
        their own way."""
        staging = f"_{name}_next"
        self.write(staging, expr, overwrite=True)
        with self.transaction():
            self.drop(name)
            self.rename(staging, name)

    def update(self, name: str, changes: ibis.Table, key: str | Sequence[str]) -> None:
        """Set the other columns of ``changes`` on the rows of ``name`` with the same ``key``
        (a column or columns, nulls equal; unique in both). Only where ``updates_in_place``."""
        raise NotImplementedError(f"{self.engine} rewrites tables; it does not update rows")

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes all land or, if it raises, none (where ``updates_in_place``)."""
        raise NotImplementedError(f"{self.engine} has no transactions")

    @abstractmethod
    def rename(self, old: str, new: str) -> None:
        """Rename a table."""

    def drop_columns(self, name: str, columns: Sequence[str]) -> None:
        """Drop ``columns`` of the working table ``name``, freeing their memory without
        rewriting the other columns. Only where ``drops_columns``."""
        raise NotImplementedError(f"{self.engine} rewrites tables to drop columns")

    def checkpoint(self) -> None:  # noqa: B027 - engines without a write-ahead log do nothing
        """Make what was written durable."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection."""

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
