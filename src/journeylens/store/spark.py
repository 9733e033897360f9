"""Spark: each table a Parquet directory under ``<workspace>/spark/<table>/``.

One local SparkSession serves the whole process (it takes 8-30 s to start); every store gets its
own child session (``newSession()``), so two workspaces open at once never see each other's
tables. A table is a temporary view over its directory, registered on connect and again after
every write, because Spark lists a directory's files once when it reads it.

Spark cannot overwrite a path it is reading from, and ``replace`` usually reads the table it
replaces, so an overwrite writes a new directory and then swaps it in by renaming. A crash between
the two renames leaves ``.old-<table>-*`` behind, which the next connect puts back.

Timestamps are Spark ``TimestampType`` with the session time zone fixed to UTC: naive Arrow
timestamps go in as UTC and come out as the same naive values, as on DuckDB, and Ibis's own casts
to ``timestamp`` produce the same type.
"""

from __future__ import annotations

import functools
import os
import shutil
import sys
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ibis
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from journeylens.errors import EngineError
from journeylens.store.base import Store

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

SPARK_DIR = "spark"  # as workspace.STORE_LOCATIONS names it

SETTINGS = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "4",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.driver.memory": "4g",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    # INT96 is Spark's legacy default; microseconds are what DuckDB and Arrow read natively.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
}

_lock = threading.Lock()
_session: SparkSession | None = None


def spark_session() -> SparkSession:
    """The process-wide local SparkSession, started on first use."""
    global _session
    with _lock:
        if _session is None:
            _session = _start_session()
        return _session


def _start_session() -> SparkSession:
    try:
        from pyspark.sql import SparkSession
    except ImportError as error:
        raise EngineError(
            "The Spark engine needs PySpark, which is not installed. "
            "Install it with: pip install 'journeylens[spark]'."
        ) from error
    if not _java_available():
        raise EngineError(
            "The Spark engine needs Java 17, and no 'java' was found on the PATH or in JAVA_HOME. "
            "Install it (for example: apt-get install -y default-jre-headless)."
        )
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python UDFs (Ibis reads JSON properties with them) run in this interpreter, whose
    # packages they import, not in whatever "python3" is first on the PATH.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master("local[2]").appName("journeylens")
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as error:  # py4j and pyspark raise many kinds here
        raise EngineError(f"Spark failed to start: {error}") from error
    session.sparkContext.setLogLevel("ERROR")
    return session


def _java_available() -> bool:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").is_file():
        return True
    return shutil.which("java") is not None


class SparkStore(Store):
    """Tables as Parquet directories in ``<workspace>/spark/``, queried on local Spark."""

    engine = "spark"

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / SPARK_DIR
        self.path.mkdir(parents=True, exist_ok=True)
        self.session = spark_session().newSession()
        self.session.conf.set("spark.sql.session.timeZone", "UTC")
        self.con = ibis.pyspark.connect(self.session)
        self._schemas: dict[str, pa.Schema] = {}
        self._recover()
        for child in sorted(self.path.iterdir()):
            if child.is_dir() and not child.name.startswith("."):
                self._register(child.name, _file_schema(child))

    # -- reading -------------------------------------------------------------------------
    def table(self, name: str) -> ibis.Table:
        if name not in self._schemas:
            raise EngineError(f"No table '{name}' in the Spark store at '{self.path}'.")
        return self.con.table(name)

    def has_table(self, name: str) -> bool:
        return name in self._schemas

    def execute(self, expr: ibis.Expr) -> pd.DataFrame:
        return _microseconds(self.con.execute(expr))

    # -- writing -------------------------------------------------------------------------
    def write(self, name: str, data: pa.Table | ibis.Table, overwrite: bool = False) -> None:
        target = None if overwrite else self._schemas.get(name)
        if isinstance(data, pa.Table):
            # Arrow data is written by pyarrow directly: a Spark job per importer batch would
            # cost about a second each on local Spark.
            table = _for_spark(data, target)
            write = functools.partial(_write_arrow, table)
            schema = table.schema
        else:
            frame = self._frame(data, target)
            write = functools.partial(_write_frame, frame)
            schema = _file_schema_of(frame)
        if target is None:
            self._swap_in(name, write, schema)
        else:
            write(self.path / name)
            self._register(name, target)

    def replace(self, name: str, expr: ibis.Table) -> None:
        # An overwrite writes a fresh directory from the old one, then swaps the two by renames
        # that an interrupted run undoes on the next open (``_recover``): never without a table.
        self.write(name, expr, overwrite=True)

    def drop(self, name: str) -> None:
        self._unregister(name)
        shutil.rmtree(self.path / name, ignore_errors=True)

    def rename(self, old: str, new: str) -> None:
        if (self.path / new).exists():
            raise EngineError(f"Cannot rename '{old}' to '{new}': '{new}' already exists.")
        schema = self._schemas[old]
        self._unregister(old)
        (self.path / old).rename(self.path / new)
        self._register(new, schema)

    def close(self) -> None:
        # The shared SparkSession stays up for the next store; only this store's views go.
        for name in list(self._schemas):
            self._unregister(name)

    # -- internals -----------------------------------------------------------------------
    def _frame(self, expr: ibis.Table, target: pa.Schema | None) -> DataFrame:
        """The Spark DataFrame of ``expr``, every column nullable and in ``target``'s order."""
        from pyspark.sql.pandas.types import from_arrow_schema
        from pyspark.sql.types import StructField, StructType

        self.con._run_pre_execute_hooks(expr)  # registers memtables and UDFs
        frame = self.session.sql(self.con.compile(expr))
        # Without a target, the expression's own types: Spark types some columns narrower
        # than Ibis declares them (row_number() is an int, Ibis's an int64).
        declared = target if target is not None else expr.schema().to_pyarrow()
        fields = from_arrow_schema(declared).fields
        frame = frame.select(*[frame[f.name].cast(f.dataType) for f in fields])
        return frame.to(StructType([StructField(f.name, f.dataType) for f in frame.schema]))

    def _swap_in(self, name: str, write: Callable[[Path], None], schema: pa.Schema) -> None:
        token = uuid.uuid4().hex[:12]
        fresh, old = self.path / f".new-{name}-{token}", self.path / f".old-{name}-{token}"
        write(fresh)
        self._unregister(name)
        target = self.path / name
        if target.exists():
            target.rename(old)
        fresh.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        self._register(name, schema)

    def _register(self, name: str, schema: pa.Schema) -> None:
        # Giving the schema spares Spark a job that reads every file's footer.
        from pyspark.sql.pandas.types import from_arrow_schema

        reader = self.session.read.schema(from_arrow_schema(schema))
        reader.parquet(str(self.path / name)).createOrReplaceTempView(name)
        self._schemas[name] = schema

    def _unregister(self, name: str) -> None:
        if self._schemas.pop(name, None) is not None:
            self.session.catalog.dropTempView(name)

    def _recover(self) -> None:
        """Undo what an interrupted overwrite left behind."""
        for child in sorted(self.path.glob(".*-*-*")):
            kind, _, rest = child.name[1:].partition("-")
            name = rest.rpartition("-")[0]
            if kind == "old" and not (self.path / name).exists():
                child.rename(self.path / name)
            else:
                shutil.rmtree(child, ignore_errors=True)

    def __repr__(self) -> str:
        return f"SparkStore({str(self.path.parent)!r})"


def _for_spark(data: pa.Table, target: pa.Schema | None) -> pa.Table:
    """``data`` in the types Spark reads back as it writes them (``target``'s, if given).

    Timestamps become microseconds marked UTC, which Spark reads as ``TimestampType``; naive
    values are taken to be UTC already, as everywhere in journeylens.
    """
    schema = target or pa.schema([pa.field(f.name, _spark_type(f.type)) for f in data.schema])
    columns = [data.column(f.name).cast(f.type) for f in schema]
    return pa.Table.from_arrays(columns, schema=schema)


def _spark_type(dtype: pa.DataType) -> pa.DataType:
    if pa.types.is_timestamp(dtype):
        return pa.timestamp("us", tz="UTC")
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_dictionary(dtype):
        return _spark_type(dtype.value_type)
    if pa.types.is_null(dtype):
        return pa.string()
    return dtype


def _write_arrow(table: pa.Table, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, directory / f"part-{uuid.uuid4().hex}.parquet")


def _write_frame(frame: DataFrame, directory: Path) -> None:
    frame.write.mode("append").parquet(str(directory))


def _file_schema_of(frame: DataFrame) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    schema = to_arrow_schema(frame.schema)
    return pa.schema([pa.field(f.name, _spark_type(f.type)) for f in schema])


def _file_schema(directory: Path) -> pa.Schema:
    """The Arrow schema of a table directory, from the footer of one of its files."""
    first = next(iter(sorted(directory.glob("*.parquet"))), None)
    if first is None:
        raise EngineError(f"The Spark table directory '{directory}' holds no Parquet file.")
    return pq.read_schema(first).remove_metadata()


def _microseconds(result: Any) -> Any:
    """Timestamps at DuckDB's resolution: Spark's pandas results come in nanoseconds."""
    if isinstance(result, pd.DataFrame):
        for name, dtype in result.dtypes.items():
            if dtype == "datetime64[ns]":
                result[name] = result[name].astype("datetime64[us]")
    elif isinstance(result, pd.Series) and result.dtype == "datetime64[ns]":
        result = result.astype("datetime64[us]")
    return result
