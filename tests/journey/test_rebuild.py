"""Imports into a workspace that holds events append and update, and place rows as a rebuild.

An import that changes few of the stored rows stores its rows placed and updates only the rows
whose person, session or place changed (``journey.rebuild.append``); otherwise the tables are
rewritten (``rebuild_all``). Both must place every row alike. Which one runs is a matter of
cost, so these tests lift the limits (``APPEND_MAX_SHARE``) and check that appends ran.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from unittest import mock

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.config import CONFIG_FILE
from journeylens.journey import rebuild
from journeylens.workspace import Workspace, init_workspace, open_workspace

START = datetime(2026, 5, 1, 9, 0)
PLACED = ["person_id", "session_id", "person_seq", "touchpoint", "stage", "channel"]
EVENT_NAMES = ["landing_page_view", "pricing_view", "purchase", "blog_view", "odd_event"]
ANONYMOUS = ["a1", "a2", "a3", "a4", None]
USERS = ["u1", "u2", "u3", None]

Row = tuple[str, int, str, str, str | None, str | None]  # event_id, minute, event, type, anon, user


def write_events(path: Path, rows: list[Row]) -> Path:
    lines = ["event_id,ts,event,type,anonymous_id,user_id"]
    for event_id, minute, event, kind, anonymous, user in rows:
        ts = (START + timedelta(minutes=minute)).isoformat() + "Z"
        lines.append(f"{event_id},{ts},{event},{kind},{anonymous or ''},{user or ''}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def appends_of_any_size():
    with mock.patch.object(rebuild, "APPEND_MAX_SHARE", 1000.0):
        yield


@contextmanager
def counted() -> Iterator[dict[str, mock.MagicMock]]:
    """Spies on both ways, to count which ran."""
    with (
        mock.patch.object(rebuild, "append", wraps=rebuild.append) as appends,
        mock.patch.object(rebuild, "rebuild_all", wraps=rebuild.rebuild_all) as rebuilds,
    ):
        yield {"append": appends, "rebuild_all": rebuilds}


def placed(ws: Workspace) -> pd.DataFrame:
    frame = ws.store.execute(ws.events.select("event_id", "person_key", *PLACED))
    return frame.sort_values("event_id").reset_index(drop=True)


def assert_keys_name_people(frame: pd.DataFrame) -> None:
    """One ``person_key`` per person and one person per key."""
    assert (frame.groupby("person_id").person_key.nunique() == 1).all()
    assert (frame.groupby("person_key").person_id.nunique() == 1).all()
    assert frame.person_key.notna().all()


@st.composite
def journeys(draw: st.DrawFn) -> list[list[Row]]:
    """Events of a few people who browse, log in and alias, cut into imports in any time
    order."""
    size = draw(st.integers(4, 24))
    rows: list[Row] = []
    for index in range(size):
        anonymous, user = draw(st.sampled_from(ANONYMOUS)), draw(st.sampled_from(USERS))
        if anonymous is None and user is None:
            anonymous = "a1"
        kind = "track"
        if anonymous and user:
            kind = draw(st.sampled_from(["track", "identify", "alias"]))
        minute = draw(st.integers(0, 240))
        rows.append(
            (f"e{index:02d}", minute, draw(st.sampled_from(EVENT_NAMES)), kind, anonymous, user)
        )
    rows = draw(st.permutations(rows))
    first = draw(st.integers(1, size - 1))
    rest = rows[first:]
    cuts = sorted(draw(st.lists(st.integers(1, len(rest)), max_size=2, unique=True)))
    parts = [rest[a:b] for a, b in zip([0, *cuts], [*cuts, len(rest)], strict=True)]
    return [rows[:first], *(part for part in parts if part)]


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(imports=journeys())
def test_imports_that_append_place_every_event_as_one_rebuild(tmp_path_factory, imports):
    folder = tmp_path_factory.mktemp("append")
    with init_workspace(folder / "parts") as ws, counted() as ran:
        for number, rows in enumerate(imports):
            ws.import_files([write_events(folder / f"part{number}.csv", rows)])
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (len(imports) - 1, 1)
        parts = placed(ws)
    with init_workspace(folder / "whole") as ws:
        ws.import_files([write_events(folder / "all.csv", [r for rows in imports for r in rows])])
        whole = placed(ws)
    pd.testing.assert_frame_equal(parts[["event_id", *PLACED]], whole[["event_id", *PLACED]])
    assert_keys_name_people(parts)


def test_a_login_in_a_later_import_moves_earlier_events_and_answers(tmp_path):
    events = write_events(
        tmp_path / "browse.csv",
        [
            ("b1", 0, "landing_page_view", "track", "a1", None),
            ("b2", 5, "pricing_view", "track", "a1", None),
            ("b3", 0, "blog_view", "track", "a2", None),
            ("b4", 9, "purchase", "track", None, "u1"),
        ],
    )
    answers = tmp_path / "nps.csv"
    answers.write_text(
        "feedback_id,ts,anonymous_id,metric,score\nf1,2026-05-01T09:06:00Z,a1,nps,9\n"
    )
    login = write_events(tmp_path / "login.csv", [("b5", 7, "identify", "identify", "a1", "u1")])
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([events])
        with counted() as ran:
            ws.import_files([answers], kind="feedback")
            ws.import_files([login])
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (2, 0)
        frame = ws.store.execute(ws.events.order_by("event_id"))
        answer = ws.store.execute(ws.feedback)
    by_event = frame.set_index("event_id")
    assert by_event.loc[["b1", "b2", "b5", "b4"], "person_id"].tolist() == ["u1"] * 4
    assert by_event.loc[["b1", "b2", "b5", "b4"], "person_seq"].tolist() == [1, 2, 3, 4]
    assert by_event.loc[["b1", "b4"], "session_id"].tolist() == ["u1#1", "u1#1"]
    assert by_event.loc["b3", "person_id"] == "a2"
    assert answer.person_id.tolist() == ["u1"]
    assert_keys_name_people(frame)


def test_a_file_imported_again_stores_and_moves_nothing(tmp_path):
    events = write_events(
        tmp_path / "visits.csv",
        [
            ("r1", 0, "landing_page_view", "track", "a1", None),
            ("r2", 3, "identify", "identify", "a1", "u1"),
            ("r3", 50, "purchase", "track", None, "u1"),
        ],
    )
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([events])
        before = placed(ws)
        with counted() as ran, mock.patch.object(ws.store, "update") as updates:
            summary = ws.import_files([events])
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (1, 0)
        assert (summary.stored, summary.already_stored, updates.call_count) == (0, 3, 0)
        pd.testing.assert_frame_equal(placed(ws), before)
        assert before.person_id.tolist() == ["u1"] * 3


def test_a_catalog_edited_in_the_config_file_places_every_event_again(tmp_path):
    first = write_events(
        tmp_path / "one.csv",
        [("c1", 0, "blog_view", "track", "a1", None), ("c2", 1, "blog_view", "track", "a2", None)],
    )
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([first])
        assert set(ws.store.execute(ws.events).stage) == {"awareness"}
    config = tmp_path / "ws" / CONFIG_FILE
    text = config.read_text()
    blog = text.index('touchpoint = "blog"')
    stage = text.index('stage = "awareness"', blog)
    config.write_text(text[:stage] + 'stage = "consideration"' + text[stage + 19 :])
    later = write_events(tmp_path / "two.csv", [("c3", 2, "blog_view", "track", "a3", None)])
    with open_workspace(tmp_path / "ws") as ws:
        # Opening places the stored events with the edited catalog; the import then appends.
        assert ws.replaced_placement
        assert set(ws.store.execute(ws.events).stage) == {"consideration"}
        with counted() as ran:
            ws.import_files([later])
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (1, 0)
        assert set(ws.store.execute(ws.events).stage) == {"consideration"}


def test_an_append_that_fails_leaves_the_workspace_as_it_was(tmp_path):
    first = write_events(
        tmp_path / "one.csv",
        [("d1", 0, "blog_view", "track", "a1", None), ("d2", 1, "purchase", "track", "a1", "u1")],
    )
    later = write_events(tmp_path / "two.csv", [("d3", 2, "blog_view", "track", "a2", None)])
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([first])
        before = placed(ws)
        with (
            mock.patch.object(type(ws.store), "update", side_effect=RuntimeError("disk full")),
            pytest.raises(RuntimeError, match="disk full"),
        ):
            ws.import_files([later])
        pd.testing.assert_frame_equal(placed(ws), before)
        assert ws.import_files([later]).stored == 1
        assert placed(ws).person_id.tolist() == ["u1", "u1", "a2"]


def test_an_import_that_would_change_most_stored_rows_rewrites_them_instead(tmp_path):
    browse = [(f"g{i}", 10 * i, "blog_view", "track", f"a{i % 2 + 1}", None) for i in range(10)]
    later = [
        ("h1", 1, "pricing_view", "track", "a1", "u1"),
        ("h2", 2, "purchase", "track", "a2", None),
    ]
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([write_events(tmp_path / "one.csv", browse)])
        with mock.patch.object(rebuild, "APPEND_MAX_SHARE", 0.5), counted() as ran:
            summary = ws.import_files([write_events(tmp_path / "two.csv", later)])
        # Both people's rows change: 12 of 10 stored, over half, so the append declines.
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (1, 1)
        assert summary.stored == 2
        frame = ws.store.execute(ws.events)
    people = frame.groupby("person_id").person_seq.agg(sorted).to_dict()
    assert people == {"u1": list(range(1, 7)), "a2": list(range(1, 7))}
    assert_keys_name_people(frame)


def blog_maps_only_blog_posts(workspace: Path) -> None:
    """Edit the workspace's catalog: the blog matches only ``blog_post``, in consideration,
    without a channel (``blog_view`` no longer maps)."""
    config = workspace / CONFIG_FILE
    text = config.read_text()
    start = text.index('touchpoint = "blog"')
    end = text.index("[[touchpoints]]", start)
    blog = 'touchpoint = "blog"\nmatch = ["blog_post"]\nstage = "consideration"\n\n'
    config.write_text(text[:start] + blog + text[end:])


def test_a_new_catalog_places_again_what_the_old_one_derived_and_keeps_what_was_given(tmp_path):
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,ts,event,anonymous_id,touchpoint,stage,channel,source,medium\n"
        "e1,2026-05-01T09:00:00Z,blog_view,a1,,,,,\n"  # the catalog's blog, awareness, web
        "e2,2026-05-01T09:01:00Z,blog_view,a1,,,email,,\n"  # a given channel
        "e3,2026-05-01T09:02:00Z,kiosk_scan,a1,kiosk,decision,store,,\n"  # all given
        "e4,2026-05-01T09:03:00Z,kiosk_scan,a2,,,,google,cpc\n"  # a channel from UTM tags
    )
    answers = tmp_path / "answers.csv"
    answers.write_text(
        "feedback_id,ts,anonymous_id,touchpoint,stage,metric,score\n"
        "f1,2026-05-01T09:05:00Z,a1,blog,,csat,4\n"  # the stage of the catalog's blog
        "f2,2026-05-01T09:06:00Z,a1,blog,decision,csat,5\n"  # a given stage
    )
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([events])
        ws.import_files([answers], kind="feedback")
    blog_maps_only_blog_posts(tmp_path / "ws")
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.replaced_placement
        frame = ws.store.execute(ws.events).set_index("event_id").sort_index()
        columns = ["touchpoint", "stage", "channel"]
        assert frame[columns].fillna("-").values.tolist() == [
            ["-", "-", "-"],  # blog_view no longer maps: nothing the old catalog gave stays
            ["-", "-", "email"],
            ["kiosk", "decision", "store"],
            ["-", "-", "search"],
        ]
        stages = ws.store.execute(ws.feedback).set_index("feedback_id").stage
        assert stages.tolist() == ["consideration", "decision"]  # blog's stage now, as given


def test_events_stored_before_rows_kept_flags_are_placed_again_by_what_the_catalog_gave(
    tmp_path,
):
    events = tmp_path / "events.csv"
    events.write_text(
        "event_id,ts,event,anonymous_id,touchpoint,channel\n"
        "e1,2026-05-01T09:00:00Z,blog_view,a1,,\n"  # blog, awareness, web: the catalog's
        "e2,2026-05-01T09:01:00Z,kiosk_scan,a1,kiosk,store\n"  # given
    )
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([events])
        # As an earlier version left it: no flags, and placed by other rules.
        ws.store.sql_connection().execute("ALTER TABLE events DROP COLUMN derived")
        ws.store.drop(rebuild.PLACEMENT)
    with open_workspace(tmp_path / "ws") as ws:  # the upgrade infers the flags
        assert ws.store.execute(ws.events).sort_values("event_id").derived.tolist() == [7, 0]
    blog_maps_only_blog_posts(tmp_path / "ws")
    with open_workspace(tmp_path / "ws") as ws:
        frame = ws.store.execute(ws.events).set_index("event_id").sort_index()
        assert frame[["touchpoint", "stage", "channel"]].fillna("-").values.tolist() == [
            ["-", "-", "-"],
            ["kiosk", "-", "store"],
        ]


def test_an_answer_that_links_ids_moves_the_stored_events_by_an_append(tmp_path):
    events = write_events(
        tmp_path / "browse.csv",
        [
            ("k1", 0, "landing_page_view", "track", "a1", None),
            ("k2", 5, "pricing_view", "track", "a1", None),
            ("k3", 9, "purchase", "track", None, "u1"),
            ("k4", 0, "blog_view", "track", "a2", None),
        ],
    )
    plain = tmp_path / "plain.csv"
    plain.write_text("feedback_id,ts,anonymous_id,metric,score\nf1,2026-05-01T09:01:00Z,a2,nps,7\n")
    linking = tmp_path / "linking.csv"
    linking.write_text(
        "feedback_id,ts,anonymous_id,user_id,metric,score\nf2,2026-05-01T09:06:00Z,a1,u1,nps,9\n"
    )
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([events])
        with (
            counted() as ran,
            mock.patch.object(rebuild, "build_id_map", wraps=rebuild.build_id_map) as mapped,
        ):
            ws.import_files([plain], kind="feedback")
            assert mapped.call_count == 0  # an answer without both ids links nothing
            ws.import_files([linking], kind="feedback")
        assert (ran["append"].call_count, ran["rebuild_all"].call_count) == (2, 0)
        appended = placed(ws)
        ws.rebuild()
        pd.testing.assert_frame_equal(
            appended[["event_id", *PLACED]], placed(ws)[["event_id", *PLACED]]
        )
        answers = ws.store.execute(ws.feedback.order_by("feedback_id"))
    by_event = appended.set_index("event_id")
    assert by_event.loc[["k1", "k2", "k3"], "person_id"].tolist() == ["u1"] * 3
    assert by_event.loc[["k1", "k2", "k3"], "person_seq"].tolist() == [1, 2, 3]
    assert by_event.loc[["k1", "k3"], "session_id"].tolist() == ["u1#1", "u1#1"]
    assert answers.person_id.tolist() == ["a2", "u1"]
    assert_keys_name_people(appended)
