"""Sessions by inactivity gap through the real import path, on DuckDB and on Spark alike."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import ibis
import pandas as pd
import pytest

from journeylens.collect.sessions import build_session_ids
from journeylens.config import CONFIG_FILE
from journeylens.workspace import init_workspace, open_workspace

# ts, event, anonymous_id, user_id
ROWS = [
    ("2026-04-01T10:00:00Z", "landing_page_view", "a-sam", "sam"),
    ("2026-04-01T10:30:00Z", "pricing_view", "a-sam", "sam"),  # exactly 30 min later
    ("2026-04-01T11:00:01Z", "checkout_start", "a-sam", "sam"),  # 30 min 1 s later
    ("2026-04-01T11:09:59Z", "purchase", "a-sam", "sam"),  # 9 min 58 s later
    ("2026-04-01T10:00:00Z", "blog_view", "visitor", ""),
    ("2026-04-02T10:00:00Z", "blog_view", "visitor", ""),  # the next day
]


def write_csv(path: Path) -> Path:
    lines = ["ts,event,anonymous_id,user_id", *(",".join(row) for row in ROWS)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def sessions_by_person(ws) -> dict[str, list[str]]:
    events = ws.store.execute(ws.events.order_by(["person_id", "ts"]))
    return events.groupby("person_id").session_id.agg(list).to_dict()


Imported = tuple[pd.DataFrame, dict[str, list[str]], dict]


@pytest.fixture(scope="module")
def cache() -> dict[str, Imported]:
    """Each engine imports ``ROWS`` once for the whole module."""
    return {}


def import_rows(engine: str, cache: dict[str, Imported], directory: Path) -> Imported:
    if engine not in cache:
        directory.mkdir(parents=True, exist_ok=True)
        csv = write_csv(directory / "events.csv")
        with init_workspace(directory / "ws", "four_stage_delight", engine=engine) as ws:
            ws.import_files([csv])
            events = ws.store.execute(ws.events.order_by("event_id"))
            cache[engine] = (events, sessions_by_person(ws), ws.status().to_dict())
    return cache[engine]


@pytest.fixture
def imported(engine, cache, tmp_path) -> tuple[dict[str, list[str]], dict]:
    _, sessions, status = import_rows(engine, cache, tmp_path)
    return sessions, status


def test_an_event_exactly_at_the_gap_continues_the_session(imported):
    sessions, _ = imported
    assert sessions["sam"][:2] == ["sam#1", "sam#1"]


def test_one_second_past_the_gap_starts_a_new_session(imported):
    sessions, _ = imported
    assert sessions["sam"] == ["sam#1", "sam#1", "sam#2", "sam#2"]


def test_session_ids_count_each_persons_sessions_from_one(imported):
    # An anonymous visitor is named by the anonymous id; two visits a day apart.
    sessions, status = imported
    assert sessions["visitor"] == ["visitor#1", "visitor#2"]
    assert (status["events"], status["people"], status["sessions"]) == (6, 2, 4)


def test_the_gap_comes_from_the_toml_and_rebuild_applies_a_changed_one(make_workspace, tmp_path):
    # With a 10-minute gap sam's 30:00 and 30:01 pauses both split; the 9:58 one does not.
    first = make_workspace()
    first.close()
    config = tmp_path / "ws" / CONFIG_FILE
    text = config.read_text(encoding="utf-8")
    assert "inactivity_minutes = 30" in text
    config.write_text(text.replace("inactivity_minutes = 30", "inactivity_minutes = 10"))
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.config.session_gap_minutes == 10
        ws.import_files([write_csv(tmp_path / "events.csv")])
        assert sessions_by_person(ws)["sam"] == ["sam#1", "sam#2", "sam#3", "sam#3"]
        assert ws.status().sessions == 5
        # A 60-minute gap joins all of sam's events; the visitor's day apart still splits.
        ws.config = replace(ws.config, session_gap_minutes=60)
        ws.rebuild()
        assert sessions_by_person(ws) == {
            "sam": ["sam#1"] * 4,
            "visitor": ["visitor#1", "visitor#2"],
        }


def test_people_and_their_events_are_numbered_in_order(engine, cache, tmp_path):
    events = import_rows(engine, cache, tmp_path)[0].sort_values(["person_id", "ts", "event_id"])
    keys = events.groupby("person_id").person_key.agg(set).to_dict()
    assert keys == {"sam": {1}, "visitor": {2}}  # people numbered in person_id order
    sequences = events.groupby("person_id").person_seq.agg(list).to_dict()
    assert sequences == {"sam": [1, 2, 3, 4], "visitor": [1, 2]}


@pytest.mark.spark
def test_duckdb_and_spark_split_sessions_alike(cache, tmp_path):
    duck, spark = (
        import_rows(engine, cache, tmp_path / engine)[0].drop(columns="received_at")
        for engine in ("duckdb", "spark")
    )
    pd.testing.assert_frame_equal(duck, spark)


def test_an_older_workspace_gains_the_sequence_keys_at_its_next_import(tmp_path):
    csv = write_csv(tmp_path / "events.csv")
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([csv])
        ws.store.raw.execute("ALTER TABLE events DROP COLUMN person_key")
        ws.store.raw.execute("ALTER TABLE events DROP COLUMN person_seq")
    more = tmp_path / "more.csv"
    more.write_text("ts,event,anonymous_id\n2026-04-03T10:00:00Z,blog_view,visitor\n")
    with open_workspace(tmp_path / "ws") as ws:
        ws.import_files([more])
        events = ws.store.execute(ws.events.order_by(["person_id", "ts"]))
    assert events.person_seq.tolist() == [1, 2, 3, 4, 1, 2, 3]


def test_the_gap_is_measured_in_whole_seconds() -> None:
    # 10:00:00.2 → 10:30:00.9 is 30 min 0.7 s on the clock but exactly 30 min in whole seconds
    # (each time floored, as every engine counts): the session continues.
    events = ibis.memtable(
        {
            "event_id": ["a", "b"],
            "person_id": ["ann", "ann"],
            "ts": pd.to_datetime(["2026-04-01 10:00:00.200", "2026-04-01 10:30:00.900"]),
        }
    )
    ids = build_session_ids(events, 30).order_by("event_id").session_id.execute()
    assert ids.tolist() == ["ann#1", "ann#1"]
