"""The documented contract, checked from outside: field order, one-line errors, ``--where`` on
text and time columns, and the Python API taking the command line's filters."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import ibis
import pandas as pd
import pytest

from journeylens import init_workspace
from journeylens.analytics.filters import Condition
from journeylens.errors import SpecError
from journeylens.testing import run_cli
from journeylens.workspace import Workspace

STEPS = ("cart_view", "checkout_start", "purchase")


def run(*args: str, workspace: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, workspace=workspace)


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = Path(tmp_path_factory.mktemp("contract")) / "ws"
    workspace = init_workspace(path)
    workspace.load_demo(events=8_000, seed=3)
    workspace.close()
    return path


@pytest.fixture
def ws(ws_path: Path) -> Iterator[Workspace]:
    from journeylens.workspace import open_workspace

    workspace = open_workspace(ws_path)
    yield workspace
    workspace.close()


def test_funnel_step_fields_come_in_the_documented_order(ws) -> None:
    # docs/cli.md and docs/funnels.md: ..., median, the time quantiles, then the interval.
    step = ws.funnel(*STEPS).to_dict()["steps"][1]
    assert list(step) == [
        "step",
        "step_number",
        "people",
        "conversion_from_start",
        "conversion_from_previous",
        "dropped",
        "median_seconds_to_convert",
        "p25_seconds_from_start",
        "p50_seconds_from_start",
        "p75_seconds_from_start",
        "p90_seconds_from_start",
        "ci_low",
        "ci_high",
    ]


def test_friction_fields_come_in_the_documented_order(ws) -> None:
    # docs/friction.md: significant after the explanation; each signal's columns together.
    rows = ws.friction(by=["device"], include_all=True, top=1).to_dict()
    keys = list(rows[0])
    assert keys[:7] == [
        "touchpoint",
        "segment",
        "score",
        "lost_conversions",
        "lost_revenue",
        "explanation",
        "significant",
    ]
    parts = ["rate", "baseline_rate", "lift", "excess", "p_value", "significant"]
    signals = ["abandonment", "error", "retry", "loop", "postponement", "effort"]
    assert keys[-36:] == [f"{s}_{p}" for s in signals for p in parts]


@pytest.mark.parametrize(
    "args",
    [
        ("stages", "--since", "2026-13-01"),
        ("status", "--nosuch"),
        ("funnel",),
        ("rejected", "--limit", "0"),
    ],
)
def test_a_usage_error_is_one_line_starting_with_error(ws_path, args) -> None:
    result = run(*args, workspace=ws_path)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "--help" in result.stderr


def test_a_where_time_that_does_not_read_is_a_user_error(ws_path) -> None:
    result = run("stages", "--where", "ts>notadate", workspace=ws_path)
    assert result.returncode == 2
    assert result.stderr.startswith("Error: Cannot read the filter time 'notadate'")
    assert len(result.stderr.strip().splitlines()) == 1


def table_of(frame: pd.DataFrame) -> ibis.Table:
    return ibis.duckdb.connect().create_table("t", frame)


def test_a_where_condition_compares_times_as_times() -> None:
    times = pd.to_datetime(["2026-08-31 23:59:59", "2026-09-01 00:00:00", "2026-09-02 00:00:00"])
    t = table_of(pd.DataFrame({"n": [1, 2, 3], "ts": times}))
    assert Condition.parse("ts>=2026-09-01").apply(t).execute()["n"].tolist() == [2, 3]
    assert Condition.parse("ts<2026-09-01T00:00+00:00").apply(t).execute()["n"].tolist() == [1]


@pytest.mark.parametrize("condition", ["device>3", "device>mobile", "channel<=web"])
def test_a_where_condition_orders_no_text_as_a_step_filter_does(condition) -> None:
    # 'device>3' compared the letters and kept every row; [device>3] in a step is refused.
    t = table_of(pd.DataFrame({"device": ["mobile", "desktop"], "channel": ["web", "app"]}))
    with pytest.raises(SpecError, match="only =, != and ~ compare text"):
        Condition.parse(condition).apply(t)


def test_the_api_takes_the_command_lines_filters(ws_path) -> None:
    # README: the analyses take the command line's options as keywords.
    from journeylens.workspace import open_workspace

    window = {"since": "2026-09-01", "until": "2026-10-01", "where": "device=mobile"}
    flags = ["--since", "2026-09-01", "--until", "2026-10-01", "--where", "device=mobile"]
    calls = {
        "stages": (lambda ws: ws.stages(**window), ["stages"]),
        "stages --by": (
            lambda ws: ws.stages(by="channel", top=3, **window),
            ["stages", "--by", "channel", "--top", "3"],
        ),
        "conformance": (lambda ws: ws.conformance(**window), ["conformance"]),
        "touchpoints": (lambda ws: ws.touchpoint_report(**window), ["touchpoints"]),
        "attribution": (
            lambda ws: ws.attribution(model="linear", **window),
            ["attribution", "--model", "linear"],
        ),
        "paths": (lambda ws: ws.paths(**window), ["paths"]),
        "funnel": (lambda ws: ws.funnel(*STEPS, **window), ["funnel", *STEPS]),
        "friction": (
            lambda ws: ws.friction(by=["channel"], **window),
            ["friction", "--by", "channel"],
        ),
    }
    expected = {}
    for name, (_, args) in calls.items():  # the command line first: one process at a time
        result = run(*args, *flags, "--format", "json", workspace=ws_path)
        assert result.returncode == 0, result.stderr
        expected[name] = json.loads(result.stdout)
    with open_workspace(ws_path) as ws:
        for name, (call, _) in calls.items():
            assert json.loads(json.dumps(call(ws).to_dict(), default=str)) == expected[name], name
        # The filter narrows: fewer people than without it.
        mobile = ws.stages(where=["device=mobile"]).to_dict()[0]["people"]
        assert 0 < mobile < ws.stages().to_dict()[0]["people"]
    # A breakdown: records start with the value, at most three values and '(other)'.
    by_channel = expected["stages --by"]
    assert list(by_channel[0])[:2] == ["channel", "stage"]
    assert len({r["channel"] for r in by_channel}) <= 4


def test_the_funnel_json_spec_says_which_range_was_asked(ws_path) -> None:
    result = run("funnel", *STEPS, "--since", "2026-09-01", "-f", "json", workspace=ws_path)
    assert json.loads(result.stdout)["spec"]["since"] == "2026-09-01T00:00:00"


def test_annotate_prints_json_and_csv_when_asked(ws_path) -> None:
    # Scripts read --format json: adding and removing print the record, not a sentence.
    added = run(
        "annotate", "payment", "--date", "2026-08-01", "--note", "n", "-f", "csv", workspace=ws_path
    )
    header, row = added.stdout.strip().splitlines()
    assert header == "annotation_id,touchpoint,ts,note,created_at"
    annotation_id = row.split(",")[0]
    removed = run("annotate", "--remove", annotation_id, "-f", "json", workspace=ws_path)
    assert removed.returncode == 0, removed.stderr
    record = json.loads(removed.stdout)
    assert (record["annotation_id"], record["note"]) == (annotation_id, "n")
    listed = run("annotate", "--list", "-f", "json", workspace=ws_path)
    assert annotation_id not in {a["annotation_id"] for a in json.loads(listed.stdout)}
