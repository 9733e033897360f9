"""The Python API checks what the command line checks: a typo is an error, not an empty result."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from unittest import mock

import pytest

from journeylens import init_workspace
from journeylens.analytics.paths import PathsSpec
from journeylens.errors import SpecError, UnknownNameError, WorkspaceError
from journeylens.workspace import Workspace

STEPS = ("landing_page_view", "product_view", "purchase")


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    workspace = init_workspace(Path(tmp_path_factory.mktemp("api")) / "ws")
    workspace.load_demo(events=5_000, seed=1)
    yield workspace
    workspace.close()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda ws: ws.friction(by=["devise"]), SpecError, "Did you mean 'device'?"),
        (lambda ws: ws.friction(touchpoint="paymnt"), UnknownNameError, "'payment'"),
        (lambda ws: ws.friction(goal=["purchse"]), SpecError, "Did you mean 'purchase'?"),
        (lambda ws: ws.funnel(*STEPS, by="devise"), SpecError, "Did you mean 'device'?"),
        (lambda ws: ws.funnel(*STEPS, by=["device"]), SpecError, "by one key"),
        (lambda ws: ws.funnel(*STEPS, exclude="refnd"), SpecError, "in --exclude ('refnd')"),
        (lambda ws: ws.funnel(*STEPS, withn="7d"), SpecError, "Did you mean 'within'?"),
        (lambda ws: ws.paths(fromm="x"), SpecError, "Unknown option 'fromm'"),
        (lambda ws: ws.funnel(*STEPS, wher="device=mobile"), SpecError, "Did you mean 'where'?"),
        (lambda ws: ws.attribution(sinse="2026-01-01"), SpecError, "Did you mean 'since'?"),
        (lambda ws: ws.friction(topp=3), SpecError, "Did you mean 'top'?"),
        (lambda ws: ws.attribution(modell="linear"), SpecError, "Did you mean 'models'?"),
        (lambda ws: ws.attribution(roi=True, lookbak="1d"), SpecError, "Unknown option"),
        (lambda ws: ws.attribution(roi=True, cut_list=True), SpecError, "not both"),
        (lambda ws: ws.attribution(models=[]), SpecError, "No model given"),
        (lambda ws: ws.stages(by="device", top=None), SpecError, "top must be a whole number"),
        (lambda ws: ws.stages(by=["device"]), SpecError, "A breakdown is by one key"),
        (lambda ws: ws.touchpoint_report(by=["device"]), SpecError, "by one key"),
        (lambda ws: ws.stages(where=5), SpecError, "where takes conditions as text"),
        (lambda ws: ws.funnel(*STEPS, where=[["device=mobile"]]), SpecError, "as text"),
        (lambda ws: ws.stages(events="x"), SpecError, "events must be an Ibis table"),
        (lambda ws: ws.paths(by="device", top_values=None), SpecError, "top must be"),
        (lambda ws: ws.paths(PathsSpec(level="event"), since="2026-01-01"), SpecError, "not both"),
        (lambda ws: ws.paths(to="(end)", ends=False), SpecError, "'(end)' follows each journey"),
        (lambda ws: ws.paths(from_="(conversion)", ends=False), SpecError, "drop --no-ends"),
        (lambda ws: ws.paths(from_="(other)"), SpecError, "'(other)' groups rare nodes"),
        (lambda ws: ws.paths(level="event", to="(unmapped)"), SpecError, "No event has an empty"),
    ],
)
def test_a_name_the_data_does_not_have_is_an_error(ws, call, error, message) -> None:
    with pytest.raises(error, match=re.escape(message)):
        call(ws)


def test_one_text_where_a_list_is_taken_is_one_item(ws) -> None:
    assert ws.attribution(models="linear").to_dict()
    # ``model``, as the command line names it, is ``models``.
    assert ws.attribution(model="linear").to_dict() == ws.attribution(models=["linear"]).to_dict()
    assert ws.funnel(*STEPS, exclude="payment_error").to_dict()["steps"]


def test_times_may_be_text_dates_or_aware(ws) -> None:
    dropped = ws.dropoff(*STEPS, as_of="2026-12-01")
    json.dumps(dropped.to_dict())
    since = ws.funnel(*STEPS, since="2026-10-01T02:00+02:00").to_dict()
    assert since["spec"]["since"].startswith("2026-10-01T00:00")


def test_paths_take_keyword_options_as_the_other_analyses_do(ws) -> None:
    graph = ws.paths(level="event").to_frame()
    assert "(end)" not in set(graph["to"])
    top = ws.paths(level="event", to_node="(conversion)").to_frame()
    assert len(top) > 0
    with pytest.raises(SpecError, match="Unknown path level 'pages'"):
        ws.paths(level="pages")
    with pytest.raises(SpecError, match="takes a PathsSpec"):
        ws.paths("touchpoint")


def test_roi_takes_the_models_asked_for_and_refuses_another_level(ws) -> None:
    rows = ws.attribution(roi=True, models=["linear"]).to_dict()
    assert {row["model"] for row in rows} == {"linear"}
    with pytest.raises(SpecError, match="per touchpoint"):
        ws.attribution(roi=True, level="channel")


@pytest.mark.parametrize("options", [{"template": "four_stage"}, {"engine": "postgres"}])
def test_a_refused_workspace_leaves_no_directory(tmp_path, options) -> None:
    from journeylens.errors import JourneyLensError

    with pytest.raises(JourneyLensError):
        init_workspace(tmp_path / "ws", **options)
    assert not (tmp_path / "ws").exists()


def test_a_duration_error_names_the_option(ws) -> None:
    with pytest.raises(SpecError, match="Invalid duration '30' for lookback"):
        ws.attribution(lookback="30")


def test_before_and_after_a_change_from_python(ws) -> None:
    note = ws.annotate("payment", "2026-09-01", "new payment form")
    by_id = ws.friction_change(note["annotation_id"]).to_dict()
    assert {row["touchpoint"] for row in by_id} <= {"payment"}
    by_date = ws.friction_change("2026-09-01", touchpoint="payment").to_dict()
    assert by_date == by_id
    funnel = ws.funnel_change(*STEPS, at="2026-09-01").to_dict()
    assert {"before_conversion", "after_conversion", "p_value"} <= set(funnel["change"])


def test_a_hand_edited_catalog_or_session_gap_applies_when_the_workspace_opens(tmp_path) -> None:
    from journeylens import open_workspace

    data = tmp_path / "e.csv"
    data.write_text("ts,event,user_id\n2026-03-01T10:00:00Z,foo,a\n2026-03-01T10:10:00Z,foo,a\n")
    with init_workspace(tmp_path / "ws", "three_stage") as ws:
        ws.import_files([data])
    config = tmp_path / "ws" / "journeylens.toml"
    text = config.read_text().replace("inactivity_minutes = 30", "inactivity_minutes = 5")
    config.write_text(
        text + '\n[[touchpoints]]\ntouchpoint = "foo_tp"\nmatch = ["foo"]\nstage = "awareness"\n'
    )
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.replaced_placement == "edited"
        rows = ws.events.order_by("ts").execute()
        assert rows["touchpoint"].tolist() == ["foo_tp", "foo_tp"]
        assert rows["session_id"].nunique() == 2  # 10 minutes apart, over the new 5-minute gap
    with open_workspace(tmp_path / "ws") as ws:
        assert not ws.replaced_placement


def test_opening_says_why_it_placed_the_events_again(tmp_path) -> None:
    from journeylens import open_workspace
    from journeylens.journey import rebuild

    data = tmp_path / "e.csv"
    data.write_text("ts,event,user_id\n2026-03-01T10:00:00Z,foo,a\n")
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([data])
        ws.store.drop(rebuild.PLACEMENT)  # an import stopped before it remembered its placement
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.replaced_placement == "unfinished"
    with mock.patch.object(rebuild, "PLACEMENT_RULES", rebuild.PLACEMENT_RULES + 1):
        with open_workspace(tmp_path / "ws") as ws:
            assert ws.replaced_placement == "upgraded"
        with open_workspace(tmp_path / "ws") as ws:
            assert ws.replaced_placement is None


def test_init_force_waits_for_a_command_using_the_workspace(tmp_path, monkeypatch) -> None:
    from journeylens import open_workspace
    from journeylens.errors import EngineError

    data = tmp_path / "e.csv"
    data.write_text("ts,event,user_id\n2026-03-01T10:00:00Z,foo,a\n")
    with init_workspace(tmp_path / "ws") as ws:
        ws.import_files([data])
    monkeypatch.setenv("JOURNEYLENS_LOCK_WAIT", "0.5")
    database = str(tmp_path / "ws" / "journeylens.duckdb")
    # Another process holds the file (DuckDB locks it per process), as a running import does.
    script = f"import duckdb, time; c = duckdb.connect({database!r}); print('held', flush=True)"
    holder = subprocess.Popen(
        [sys.executable, "-c", script + "; time.sleep(30)"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(EngineError, match="in use by another process"):
            init_workspace(tmp_path / "ws", force=True)
    finally:
        holder.kill()
        holder.wait()
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.store.count("events") == 1  # nothing was removed under the other process


def test_the_command_lines_option_names_are_taken_too(ws) -> None:
    assert ws.friction(all=True, top=3).to_dict() == ws.friction(include_all=True, top=3).to_dict()
    to_end = ws.paths(to="(conversion)", ends=True).to_dict()
    assert to_end == ws.paths(to_node="(conversion)", include_end=True).to_dict()
    assert to_end


def test_the_python_defaults_follow_the_command_lines(ws) -> None:
    # friction(all=True) lists every segment as --all does; paths(top=N) keeps the graph's N
    # most frequent transitions as --top does; a numpy time is a time.
    import numpy as np

    every = ws.friction(all=True).to_frame()
    assert len(every) > 20
    assert len(ws.paths(level="event", top=3).to_frame()) == 3
    since = np.datetime64("2026-06-01")
    assert ws.stages(since=since).to_dict() == ws.stages(since="2026-06-01").to_dict()


def test_roi_takes_the_markov_order(ws) -> None:
    first = ws.attribution(roi=True, models=["markov"]).to_frame()
    third = ws.attribution(roi=True, models=["markov"], markov_order=3).to_frame()
    assert not first.equals(third)


def test_the_lift_alone_draws_its_bars(ws) -> None:
    figure = ws.attribution(model="incrementality", bootstrap=100).figure()
    assert figure.data
    assert figure.data[0].type == "bar"


def test_a_closed_workspace_says_so(tmp_path) -> None:
    workspace = init_workspace(tmp_path / "closed")
    with workspace:
        workspace.status()
    with pytest.raises(WorkspaceError, match="is closed: open it again"):
        workspace.status()
    workspace.close()  # again: nothing to do


def test_a_funnel_change_under_where_spans_the_whole_data(tmp_path) -> None:
    # Mobile events end on 12 Jan, desktop ones on 20 Jan: the periods either side of 11 Jan
    # span the data (to 20 Jan: 10 days before, 9 after), also under where device=mobile,
    # on the command line as in Python.
    from journeylens.instants import naive_utc

    rows = ["ts,event,user_id,device"]
    for i in range(1, 13):
        rows.append(f"2026-01-{i:02d}T10:00:00Z,view,m{i},mobile")
        rows.append(f"2026-01-{i:02d}T10:05:00Z,buy,m{i},mobile")
    rows.append("2026-01-20T10:00:00Z,view,d1,desktop")
    data = tmp_path / "e.csv"
    data.write_text("\n".join(rows) + "\n")
    with init_workspace(tmp_path / "ws", "three_stage") as ws:
        ws.import_files([data])
        result = ws.funnel_change("view", "buy", at="2026-01-11", where="device=mobile")
        after_end = result.windows[1][1]
    assert after_end > naive_utc("2026-01-20T10:00:00", "t")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "journeylens.cli",
            "funnel",
            "view",
            "buy",
            "--compare-at",
            "2026-01-11",
            "--where",
            "device=mobile",
            "-w",
            str(tmp_path / "ws"),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["after"]["until"] > "2026-01-20T10:00:00"
