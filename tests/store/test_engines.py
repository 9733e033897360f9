"""The Store contract, on DuckDB and on Spark alike, and analyses that agree across engines."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import duckdb
import pandas as pd
import pyarrow as pa
import pytest

from journeylens.config import DATABASE_FILE
from journeylens.errors import EngineError
from journeylens.schema import EVENTS, TABLES
from journeylens.store import connect
from journeylens.store.duckdb import storage_version
from journeylens.testing import journeys
from journeylens.workspace import init_workspace

T0 = datetime(2026, 3, 29, 1, 30)  # a European DST night: naive UTC must not shift


def rows(n: int, start: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "name": pa.array([f"r{i}" for i in range(start, start + n)], pa.string()),
            "ts": pa.array([T0] * n, pa.timestamp("us")),
        }
    )


def ids(store, name: str) -> list[int]:
    return store.execute(store.table(name).order_by("id"))["id"].tolist()


def kinds(schema) -> dict[str, str]:
    """Column types, with timestamps compared by kind: DuckDB reports a scale, Spark none."""
    return {n: "timestamp" if t.is_timestamp() else str(t) for n, t in schema.items()}


@pytest.fixture
def store(engine, tmp_path):
    with connect(engine, tmp_path) as opened:
        yield opened


def test_canonical_tables_start_empty_with_their_schema(store):
    store.ensure_tables()
    for name, schema in TABLES.items():
        assert store.has_table(name)
        assert kinds(store.table(name).schema()) == kinds(schema)
        assert store.count(name) == 0
    empty = store.execute(store.table("events"))
    assert list(empty.columns) == list(EVENTS.names)
    assert str(empty.ts.dtype) == "datetime64[us]"
    assert str(empty.revenue.dtype) == "float64"


def test_write_appends_arrow_by_column_name_and_expressions(store):
    store.write("t", rows(2))
    reordered = rows(1, start=2).select(["ts", "name", "id"])
    store.write("t", reordered)
    t = store.table("t")
    store.write("t", t.filter(t.id < 2).mutate(id=t.id + 10))  # reads the table it appends to
    assert ids(store, "t") == [0, 1, 2, 10, 11]
    frame = store.execute(t.filter(t.id == 2))
    assert frame.to_dict("records") == [{"id": 2, "name": "r2", "ts": pd.Timestamp(T0)}]


def test_overwrite_and_replace_may_read_the_table_they_rewrite(store):
    store.write("t", rows(3))
    t = store.table("t")
    store.write("t", t.filter(t.id > 0), overwrite=True)
    assert ids(store, "t") == [1, 2]
    t = store.table("t")
    store.replace("t", t.mutate(id=t.id * 100))
    assert ids(store, "t") == [100, 200]
    assert not store.has_table("_t_next")


def test_a_new_workspace_file_is_written_in_the_newer_storage_format(tmp_path):
    with connect("duckdb", tmp_path) as store:
        store.write("t", pa.table({"event_id": ["a", "b"]}))
        assert storage_version(store.sql_connection()).startswith("v1.5")


def test_id_columns_are_written_with_fsst_in_a_file_of_the_older_format(tmp_path):
    # A workspace created before journeylens chose the newer format keeps the 1.0 format, in
    # which FSST is named for ids; also when a rewrite reads the table.
    duckdb.connect(str(tmp_path / DATABASE_FILE)).close()
    # Few distinct ids, which DuckDB would otherwise store as a dictionary.
    n = 300_000
    data = pa.table({"event_id": [f"id{i % 50}" for i in range(n)], "id": range(n)})
    with connect("duckdb", tmp_path) as store:
        assert storage_version(store.sql_connection()).startswith("v1.0")
        store.write("t", data)
        t = store.table("t")
        store.write("t", t.filter(t.id % 2 == 0), overwrite=True)
        store.checkpoint()
        assert store.count("t") == n // 2
        compressions = store.sql_connection().execute(
            "SELECT DISTINCT compression FROM pragma_storage_info('t') "
            "WHERE column_name = 'event_id' AND segment_type = 'VARCHAR'"
        )
        assert compressions.fetchall() == [("FSST",)]
        assert store.con.list_tables() == ["t"]


def test_a_funnels_hops_build_on_the_later_step_rows_as_written(tmp_path):
    # Entries and later-step rows are filters of one intermediate result, whose sizes DuckDB
    # cannot tell apart: swapped, the hash tables held every entry (a 100M-event funnel ran
    # out of memory). The joins stay LEFT joins building on their right side.
    from journeylens.analytics.funnels import FunnelSpec, build_funnel

    people = {f"p{i}": [("a", "2026-01-01"), ("b", "+1h"), ("c", "+1h")] for i in range(50)}
    with connect("duckdb", tmp_path) as store:
        store.write("events", journeys(people))
        expr = build_funnel(store.table("events"), FunnelSpec(steps=["a", "b", "c"]))
        plan = store.sql_connection().execute(f"EXPLAIN {store.con.compile(expr)}").fetchall()
        text = "\n".join(row[1] for row in plan)
        assert "Join Type: LEFT" in text
        assert "Join Type: RIGHT" not in text


def test_duckdb_draws_no_progress_bar_into_a_commands_output(tmp_path):
    # Its bar goes to standard output, inside a JSON or CSV answer, for queries over 2 s.
    with connect("duckdb", tmp_path) as store:
        setting = "SELECT current_setting('enable_progress_bar')"
        assert store.sql_connection().execute(setting).fetchall() == [(False,)]


def test_a_replace_stopped_while_swapping_leaves_the_old_table(tmp_path, monkeypatch):
    with connect("duckdb", tmp_path) as store:
        store.write("t", rows(2))
        t = store.table("t")
        monkeypatch.setattr(type(store), "rename", mock.Mock(side_effect=OSError("stopped")))
        with pytest.raises(OSError, match="stopped"):
            store.replace("t", t.mutate(id=t.id + 1))
        assert ids(store, "t") == [0, 1]


@pytest.mark.spark
def test_a_spark_replace_stopped_mid_swap_is_undone_at_the_next_open(tmp_path, monkeypatch):
    real_rename = Path.rename
    renames: list[Path] = []

    def stop_at_the_second(self: Path, target: Path) -> Path:
        renames.append(self)  # the first moves the old table aside, the second the new one in
        if len(renames) == 2:
            raise OSError("stopped")
        return real_rename(self, target)

    with connect("spark", tmp_path) as store:
        store.write("t", rows(2))
        t = store.table("t")
        monkeypatch.setattr(Path, "rename", stop_at_the_second)
        with pytest.raises(OSError, match="stopped"):
            store.replace("t", t.mutate(id=t.id + 1))
        monkeypatch.undo()
    with connect("spark", tmp_path) as again:
        assert ids(again, "t") == [0, 1]


def test_updates_and_transactions_where_the_engine_has_them(store):
    store.write("t", rows(3))
    t = store.table("t")
    changes = t.filter(t.id > 0).select("id", name=t.name.concat("!"))
    if not store.updates_in_place:
        with pytest.raises(NotImplementedError):
            store.update("t", changes, "id")
        return
    store.update("t", changes, "id")
    assert store.execute(t.order_by("id"))["name"].tolist() == ["r0", "r1!", "r2!"]

    def write_then_fail() -> None:
        with store.transaction():
            store.write("t", rows(1, start=3))
            raise RuntimeError("undo")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert ids(store, "t") == [0, 1, 2]


def test_drop_and_rename(store):
    store.write("a", rows(2))
    store.rename("a", "b")
    assert (store.has_table("a"), store.has_table("b")) == (False, True)
    assert ids(store, "b") == [0, 1]
    store.drop("b")
    store.drop("b")  # dropping what is gone is fine
    assert not store.has_table("b")


def test_timestamps_are_naive_utc_on_the_way_in_and_out(store):
    store.write("t", rows(1))
    t = store.table("t")
    seconds = store.execute(t.select(s=t.ts.epoch_seconds()))["s"].tolist()
    assert seconds == [T0.replace(tzinfo=UTC).timestamp()]  # 1_774_747_800
    assert store.execute(t.ts.max().name("m").as_table())["m"].tolist() == [pd.Timestamp(T0)]


def test_tables_persist_after_close_and_reopen(engine, tmp_path):
    with connect(engine, tmp_path) as first:
        first.ensure_tables()
        first.write("t", rows(2))
        first.write("t", rows(1, start=2))
        first.checkpoint()
    with connect(engine, tmp_path) as again:
        assert ids(again, "t") == [0, 1, 2]
        assert kinds(again.table("events").schema()) == kinds(EVENTS)
        assert again.count("events") == 0
        assert {"events", "feedback", "touchpoints", "rejected", "t"} <= set(
            again.con.list_tables()
        )


def test_spark_without_pyspark_says_how_to_install_it(monkeypatch):
    from journeylens.store import spark

    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(EngineError, match=r"pip install 'journeylens\[spark\]'"):
        spark._start_session()


def test_spark_without_java_says_how_to_install_it(monkeypatch):
    from journeylens.store import spark

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setattr(spark.shutil, "which", lambda name: None)
    with pytest.raises(EngineError, match="default-jre-headless"):
        spark._start_session()


# Three people on the four-stage model (stages come from the starter catalog):
# ana: ad (awareness) → pricing (consideration) → purchase (decision) → app (delight)
# ben: blog (awareness) → pricing a day later; cy: one ad click.
JOURNEYS = {
    "ana": [
        ("search_ad_click", "2026-05-01 09:00"),
        ("pricing_view", "+10m"),
        ("purchase", "+1h", {"revenue": 40.0}),
        ("app_open", "+2d"),
    ],
    "ben": [("blog_view", "2026-05-01 09:00"), ("pricing_view", "+1d")],
    "cy": [("search_ad_click", "2026-05-02 12:00")],
}


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Each engine loads ``JOURNEYS`` once for the module."""
    cache = {}

    def load(engine: str):
        if engine not in cache:
            directory = tmp_path_factory.mktemp(f"engines-{engine}")
            ws = init_workspace(directory, "four_stage_delight", engine=engine)
            # Without touchpoints of their own: the catalog places the events.
            table = journeys(JOURNEYS)
            where = table.schema.get_field_index("touchpoint")
            table = table.set_column(where, "touchpoint", pa.nulls(len(table), pa.string()))
            ws.store.write("events", table)
            ws.rebuild()
            cache[engine] = ws
        return cache[engine]

    yield load
    for ws in cache.values():
        ws.close()


def stage_flow(ws) -> list[dict]:
    from journeylens.analytics.stages import run_stage_flow

    return run_stage_flow(ws.events, ws.config.stage_keys).to_dict()


def test_status_counts(engine, loaded):
    # 7 events, 3 people. Sessions (30-minute gap): ana 3 (the purchase an hour after pricing
    # and the app open two days later each start one), ben 2 (a day apart), cy 1: 6.
    status = loaded(engine).status().to_dict()
    assert (status["events"], status["people"], status["sessions"]) == (7, 3, 6)


def test_stage_flow_people_per_stage(engine, loaded):
    flow = stage_flow(loaded(engine))
    assert [(s["stage"], s["people"]) for s in flow] == [
        ("awareness", 3),
        ("consideration", 2),
        ("decision", 1),
        ("delight", 1),
    ]


@pytest.mark.spark
def test_status_and_events_agree_across_engines(loaded):
    duck, spark = loaded("duckdb"), loaded("spark")
    assert duck.status().to_dict() == spark.status().to_dict()
    columns = [c for c in EVENTS.names if c != "received_at"]
    frames = [
        ws.store.execute(ws.events.select(columns).order_by("event_id")) for ws in (duck, spark)
    ]
    pd.testing.assert_frame_equal(*frames)


@pytest.mark.spark
def test_stage_flow_agrees_across_engines(loaded):
    assert stage_flow(loaded("duckdb")) == stage_flow(loaded("spark"))


def test_a_workspace_another_process_holds_is_waited_for_then_named(tmp_path, monkeypatch):
    import subprocess
    import time

    init_workspace(tmp_path / "ws").close()
    hold = (
        "import sys, time\n"
        "from journeylens.store import connect\n"
        "store = connect('duckdb', sys.argv[1])\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )

    def holder(seconds: float) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-c", hold, str(tmp_path / "ws"), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None
        assert process.stdout.readline() == "held\n"
        return process

    process = holder(1.5)
    started = time.monotonic()
    with connect("duckdb", tmp_path / "ws") as store:  # waits for the other process to finish
        assert store.count("events") == 0
    assert time.monotonic() - started > 0.5
    process.wait()
    monkeypatch.setenv("JOURNEYLENS_LOCK_WAIT", "0.5")
    process = holder(30)
    try:
        with pytest.raises(
            EngineError, match=rf"in use by another process \(process {process.pid}\)"
        ):
            connect("duckdb", tmp_path / "ws")
    finally:
        process.kill()
        process.wait()
    monkeypatch.setenv("JOURNEYLENS_LOCK_WAIT", "soon")
    with pytest.raises(EngineError, match="use a number of seconds"):
        connect("duckdb", tmp_path / "ws")


def test_a_workspace_opened_on_an_engine_that_holds_none_of_its_data_is_refused(tmp_path):
    # Each engine keeps its own tables: Spark over a DuckDB workspace would find no events.
    from journeylens.errors import WorkspaceError
    from journeylens.workspace import open_workspace

    init_workspace(tmp_path / "ws", "four_stage_delight").close()
    with pytest.raises(WorkspaceError, match="keeps its data on duckdb; it holds no spark tables"):
        open_workspace(tmp_path / "ws", engine="spark")
    assert not (tmp_path / "ws" / "spark").exists()
    open_workspace(tmp_path / "ws", engine="duckdb").close()


def test_every_spec_reads_an_aware_time_as_the_utc_instant_it_is():
    from datetime import timedelta, timezone

    from journeylens.analytics.friction import FrictionSpec
    from journeylens.analytics.funnels import FunnelSpec

    aware = datetime(2026, 9, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    assert FunnelSpec(steps=["a", "b"], since=aware).since == datetime(2026, 9, 1)
    assert FrictionSpec(until="2026-09-01T02:00+02:00").until == datetime(2026, 9, 1)
