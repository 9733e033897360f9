"""Degenerate and extreme inputs to the analyses: no events, names a terminal acts on, a bootstrap
far larger than the data needs."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import ibis
import pandas as pd
import pytest

from journeylens.analytics import incrementality
from journeylens.analytics.attribution import AttributionSpec
from journeylens.analytics.incrementality import IncrementalitySpec, run_incrementality
from journeylens.analytics.roi import RoiSpec, run_cut_list, run_roi
from journeylens.cli_output import print_frame
from journeylens.errors import SpecError
from journeylens.testing import journeys, run_cli

PEOPLE = {
    "ann": [("ad", "2026-01-01"), ("purchase", "+1d", {"revenue": 120.0})],
    "bob": [("ad", "2026-01-05"), ("mail", "+1d")],
}
CATALOG = pd.DataFrame(
    {"touchpoint": ["ad", "mail"], "cost": [7.0, 500.0], "cost_period": ["day", "total"]}
)


def _no_events() -> ibis.Table:
    events = ibis.memtable(journeys(PEOPLE))
    return events.filter(events.ts > pd.Timestamp("2099-01-01"))


def test_roi_and_the_cut_list_of_no_events_cost_the_shortest_range():
    # An empty workspace, or --since after the last event: the range has no events to span
    # (it used to stop with "float() argument must be ... not 'NoneType'").
    spec = RoiSpec(attribution=AttributionSpec("last_touch"))
    rows = run_roi(_no_events(), spec, ibis.memtable(CATALOG)).to_frame()
    assert rows.set_index("touchpoint")["cost"].to_dict() == {"ad": 7.0, "mail": 500.0}
    assert set(rows["conversions"]) == {0.0}
    assert run_cut_list(_no_events(), RoiSpec(), ibis.memtable(CATALOG)).to_frame().empty


def test_table_cells_show_line_breaks_tabs_escapes_and_bidi_overrides_as_escapes(capsys):
    names = ["new\nline", "tab\there", "ab\u202eRTL", "\x1b[31mred", "🚀 launch", "com,ma"]
    print_frame(pd.DataFrame({"event": names, "count": range(len(names))}))
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("│")]
    assert len(rows) == len(names)  # one line per row: nothing split a row in two
    for shown in ("new\\nline", "tab\\there", "ab\\u202eRTL", "\\x1b[31mred", "🚀 launch"):
        assert shown in out
    assert not any(c in out for c in "\t\u202e\x1b")


def test_a_title_or_header_holding_brackets_is_shown_as_written(capsys):
    # A breakdown's value in the title, a property's name as a header: no markup is read.
    print_frame(pd.DataFrame({"[bold]plan[/]": ["[red]x"]}), "device = [/] and [red]red")
    out = capsys.readouterr().out
    assert "device = [/] and" in out  # the title wraps to the table's width
    assert "[red]red" in out
    assert "[bold]plan[/]" in out


def test_a_column_of_numbers_shows_them_alike(capsys):
    # Two decimals throughout; p-values and columns of tiny values keep their digits.
    frame = pd.DataFrame(
        {
            "credit": [514.0, 0.0, 0.1442],
            "lift": [-0.3433, 0.5624, 0.0],
            "p_value": [0.0001234, 0.5, float("nan")],
            "tiny": [0.001234, 0.0002, 0.0],
        }
    )
    print_frame(frame)
    cells = [
        [c.strip() for c in line.strip("│").split("│")]
        for line in capsys.readouterr().out.splitlines()
        if line.startswith("│")
    ]
    assert cells == [
        ["514.00", "-0.34", "0.0001234", "0.001234"],
        ["0.00", "0.56", "0.5", "0.0002"],
        ["0.14", "0.00", "", "0"],
    ]


@pytest.mark.parametrize("bootstrap", [99, incrementality.MAX_BOOTSTRAP + 1, 10_000_000])
def test_a_bootstrap_outside_its_range_is_refused(bootstrap):
    # 10M replicates asked numpy for one 30 GB array (an "Unexpected error: MemoryError").
    with pytest.raises(SpecError, match="Invalid bootstrap"):
        IncrementalitySpec(bootstrap=bootstrap)


def test_bootstrap_drawn_in_chunks_gives_the_same_interval(monkeypatch):
    people = {f"p{i}": [("ad", "2026-01-01")] + [("purchase", "+1d")] * (i % 2) for i in range(40)}
    people.update(
        {
            f"q{i}": [("blog", "2026-01-01")] + [("purchase", "+1d")] * (i % 5 == 0)
            for i in range(40)
        }
    )
    events = ibis.memtable(journeys(people))
    spec = IncrementalitySpec(strata=[], bootstrap=300, seed=3)
    whole = run_incrementality(events, spec).to_frame()
    monkeypatch.setattr(incrementality, "DRAWS_PER_CHUNK", 7)  # a replicate or two at a time
    chunked = run_incrementality(events, spec).to_frame()
    pd.testing.assert_frame_equal(whole, chunked)
    assert whole["lift_low"].notna().all()


def _cli(*args: str, workspace: Path) -> subprocess.CompletedProcess:
    return run_cli(*args, workspace=workspace)


@pytest.fixture(scope="module")
def small_ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six people who pay and buy, a day apart: too few for any friction or comparison."""
    root = tmp_path_factory.mktemp("edge")
    lines = ["ts,event,user_id"]
    for i in range(6):
        lines += [f"2026-01-0{i + 1}T10:00:00Z,checkout_payment,u{i}"]
        lines += [f"2026-01-0{i + 1}T10:05:00Z,purchase,u{i}"]
    (root / "events.csv").write_text("\n".join(lines) + "\n")
    for args in (("init", str(root / "ws")), ("import", str(root / "events.csv"))):
        assert _cli(*args, workspace=root / "ws").returncode == 0
    return root / "ws"


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_friction_that_finds_nothing_says_so_in_every_format(small_ws, fmt):
    result = _cli("friction", "--format", fmt, workspace=small_ws)
    assert result.returncode == 0
    assert "Note: No significant friction found." in result.stderr
    result = _cli("friction", "--compare-at", "2026-01-04", "--format", fmt, workspace=small_ws)
    assert result.returncode == 0
    assert "Note: No touchpoint has 30 units or more on both sides of 2026-01-04" in result.stderr


def test_friction_top_zero_is_refused_not_an_empty_list(small_ws):
    result = _cli("friction", "--top", "0", "--format", "json", workspace=small_ws)
    assert result.returncode == 2
    assert result.stderr.startswith("Error:")
    assert "top must be ≥ 1" in result.stderr


@pytest.mark.parametrize("command", [["stages"], ["paths"], ["conformance"], ["touchpoints"]])
def test_an_analysis_of_an_empty_workspace_says_it_holds_no_events(tmp_path, command):
    assert _cli("init", str(tmp_path / "ws"), workspace=tmp_path / "ws").returncode == 0
    result = _cli(*command, "--format", "json", workspace=tmp_path / "ws")
    assert result.returncode == 0
    assert "Note: The workspace holds no events" in result.stderr


def test_the_cut_list_without_any_conversion_is_refused_and_lift_says_why(tmp_path):
    # A catalog with a paid touchpoint, events, and not one purchase (a misnamed goal).
    lines = ["ts,event,user_id"]
    lines += [f"2026-01-0{i + 1}T10:00:00Z,ad_seen,u{i}" for i in range(6)]
    lines += [f"2026-01-0{i + 1}T11:00:00Z,order_completed,u{i}" for i in range(3)]
    (tmp_path / "events.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "catalog.csv").write_text(
        "touchpoint,match,stage,kind,cost,cost_period\nads,ad_seen,awareness,paid,300,total\n"
    )
    ws = tmp_path / "ws"
    assert _cli("init", str(ws), workspace=ws).returncode == 0
    for path, kind in (("catalog.csv", "touchpoints"), ("events.csv", "events")):
        assert _cli("import", str(tmp_path / path), "--kind", kind, workspace=ws).returncode == 0
    cut = _cli("attribution", "--cut-list", workspace=ws)
    assert cut.returncode == 2
    assert "No event is named 'purchase', the goal: nothing to cut." in cut.stderr
    assert "'order_completed'" in cut.stderr  # a name that looks like a conversion
    lift = _cli("attribution", "--model", "incrementality", workspace=ws)
    assert lift.returncode == 0
    assert "No event is named 'purchase', the goal: no lift can be measured." in lift.stderr
    named = _cli("attribution", "--cut-list", "--goal", "order_completed", workspace=ws)
    assert named.returncode == 0, named.stderr


def _workspace_of(tmp_path: Path, events: list[str], catalog: str | None = None) -> Path:
    """A workspace holding these CSV event rows (after the header), and this catalog CSV."""
    (tmp_path / "events.csv").write_text("ts,event,user_id\n" + "\n".join(events) + "\n")
    ws = tmp_path / "ws"
    assert _cli("init", str(ws), workspace=ws).returncode == 0
    if catalog is not None:
        (tmp_path / "catalog.csv").write_text(catalog)
        imported = _cli(
            "import", str(tmp_path / "catalog.csv"), "--kind", "touchpoints", workspace=ws
        )
        assert imported.returncode == 0
    assert _cli("import", str(tmp_path / "events.csv"), workspace=ws).returncode == 0
    return ws


def test_the_cut_list_counts_the_costed_touchpoints_under_its_floor_in_a_note(tmp_path):
    # ads cost 300, a billboard no event reaches 100,000: 1% of all costs is 1,003, so the
    # ads' lift is not weighed, and a note says so and how to weigh it.
    events = [f"2026-01-0{i + 1}T10:00:00Z,ad_seen,u{i}" for i in range(6)]
    events += [f"2026-01-0{i + 1}T11:00:00Z,purchase,u{i}" for i in range(3)]
    catalog = (
        "touchpoint,match,stage,kind,cost,cost_period\nads,ad_seen,awareness,paid,300,total\n"
        "billboard,billboard_seen,awareness,paid,100000,total\n"
    )
    ws = _workspace_of(tmp_path, events, catalog)
    args = ("attribution", "--cut-list", "--bootstrap", "100", "--format", "json")
    cut = _cli(*args, workspace=ws)
    assert cut.returncode == 0, cut.stderr
    assert "Note: 1 costed touchpoint(s) cost under 1,003.00 over the range" in cut.stderr
    assert "--min-cost-share" in cut.stderr
    every = _cli(*args, "--min-cost-share", "0", workspace=ws)
    assert every.returncode == 0, every.stderr
    assert "cost under" not in every.stderr
    # The billboard, reached by no event, is named whatever the floor.
    assert "1 costed touchpoint(s) are reached by no event (billboard)" in every.stderr
    roi = _cli("attribution", "--roi", "--min-cost-share", "0", workspace=ws)
    assert roi.returncode == 2
    assert "min_cost_share says which costed touchpoints the cut list weighs" in roi.stderr


def test_incrementality_alone_says_why_no_touchpoint_has_a_lift(tmp_path):
    # Views and a purchase, none at a touchpoint: as --model all says, not an empty table alone.
    events = ["2026-01-01T10:00:00Z,view,u1", "2026-01-01T11:00:00Z,purchase,u1"]
    ws = _workspace_of(tmp_path, [*events, "2026-01-01T10:00:00Z,view,u2"])
    for model in ("incrementality", "all"):
        result = _cli("attribution", "--model", model, "--format", "json", workspace=ws)
        assert result.returncode == 0
        assert "Note: No event but the goal's ('purchase') has a touchpoint" in result.stderr


def test_the_summary_says_why_a_conversion_has_no_credit(tmp_path):
    (tmp_path / "one.csv").write_text("ts,event,user_id\n2026-01-01T10:00:00Z,purchase,u1\n")
    ws = tmp_path / "ws"
    assert _cli("init", str(ws), workspace=ws).returncode == 0
    assert _cli("import", str(tmp_path / "one.csv"), workspace=ws).returncode == 0
    summary = _cli("summary", workspace=ws)
    assert summary.returncode == 0
    assert "No event but the goal's ('purchase') has a touchpoint" in summary.stdout
    assert "No conversion (purchase) to attribute" not in summary.stdout


def test_roi_prorates_costs_over_since_and_until_not_the_events_span(tmp_path):
    # ads cost 70 a week: --since 2026-03-01 --until 2026-03-29 is 28 days, 280, though the
    # events kept span one day; with --since alone, the range ends at the last event (04-10).
    events = ["2026-03-02T00:00:00Z,ad_seen,u1", "2026-03-03T00:00:00Z,purchase,u1"]
    events.append("2026-04-10T00:00:00Z,ad_seen,u2")
    catalog = "touchpoint,match,stage,kind,cost,cost_period\nads,ad_seen,awareness,paid,70,week\n"
    ws = _workspace_of(tmp_path, events, catalog)
    args = ("attribution", "--roi", "--model", "linear", "--format", "json")
    for bounds, cost in ((("--until", "2026-03-29"), 280.0), ((), 400.0)):
        roi = _cli(*args, "--since", "2026-03-01", *bounds, workspace=ws)
        assert roi.returncode == 0, roi.stderr
        assert [row["cost"] for row in json.loads(roi.stdout)] == [cost]


def test_roi_and_the_cut_list_with_where_say_the_costs_are_the_whole_catalogs(tmp_path):
    events = [f"2026-03-0{i + 1}T00:00:00Z,ad_seen,u{i}" for i in range(4)]
    events += [f"2026-03-0{i + 1}T01:00:00Z,purchase,u{i}" for i in range(2)]
    catalog = "touchpoint,match,stage,kind,cost,cost_period\nads,ad_seen,awareness,paid,70,week\n"
    ws = _workspace_of(tmp_path, events, catalog)
    for view in ("--roi", "--cut-list"):
        narrowed = _cli("attribution", view, "--where", "user_id=u1", workspace=ws)
        assert narrowed.returncode == 0, narrowed.stderr
        assert "Note: Costs are the catalog's whole costs per touchpoint" in narrowed.stderr
    whole = _cli("attribution", "--roi", workspace=ws)
    assert "whole costs" not in whole.stderr
