"""``journeylens attribution --by KEY [--top N]``: the shapes a script reads, and the refusals."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from journeylens.testing import run_cli
from journeylens.workspace import open_workspace

# The hand-worked journeys of tests/analytics/test_attribution_by.py by channel: a journey
# counts under its purchase's device, or its last touch's (ann's social visit was on desktop,
# her purchase on mobile). desktop: eve social > search buys for 30, fay search buys for 20, gus
# social and hal search leave; mobile: ann social > email buys for 10, bob social buys for 0,
# cy social and dee email leave.
EVENTS = """user_id,ts,event,channel,device,revenue
ann,2026-01-01 10:00:00,visit,social,desktop,
ann,2026-01-08 10:00:00,visit,email,mobile,
ann,2026-01-08 10:00:00,purchase,,mobile,10
bob,2026-01-02 10:00:00,visit,social,mobile,
bob,2026-01-03 10:00:00,purchase,,mobile,0
cy,2026-01-03 10:00:00,visit,social,mobile,
dee,2026-01-03 10:00:00,visit,email,mobile,
eve,2026-01-01 10:00:00,visit,social,desktop,
eve,2026-01-08 10:00:00,visit,search,desktop,
eve,2026-01-08 10:00:00,purchase,,desktop,30
fay,2026-01-02 10:00:00,visit,search,desktop,
fay,2026-01-03 10:00:00,purchase,,desktop,20
gus,2026-01-03 10:00:00,visit,social,desktop,
hal,2026-01-03 10:00:00,visit,search,desktop,
kit,2026-01-04 10:00:00,visit,social,tablet,
kit,2026-01-04 11:00:00,purchase,,tablet,7
"""
# Per device: Markov (each device's own chain) and Shapley (its own coalitions), by hand in
# tests/analytics/test_attribution_by.py (ad is social; mail is search on desktop).
HAND = {
    "desktop": {
        "markov": {"social": 0.5, "search": 1.5},
        "shapley": {"social": 0.25, "search": 1.75},
    },
    "mobile": {"markov": {"social": 1.2, "email": 0.8}, "shapley": {"social": 1.75, "email": 0.25}},
    "tablet": {"markov": {"social": 1.0}, "shapley": {"social": 1.0}},
}
CHANNEL = ("--level", "channel", "--model", "markov", "--model", "shapley")


def run(*args: str, workspace: Path | None = None) -> subprocess.CompletedProcess:
    return run_cli(*args, workspace=workspace)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("attribution_by")
    path, data = root / "ws", root / "events.csv"
    data.write_text(EVENTS)
    assert run("init", str(path)).returncode == 0
    imported = run("import", str(data), workspace=path)
    assert imported.returncode == 0, imported.stderr
    return path


def test_json_adds_each_devices_own_models_beside_the_records(ws):
    out = run("attribution", *CHANNEL, "--by", "device", "--format", "json", workspace=ws)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"attribution", "breakdown"}
    assert {r["model"] for r in data["attribution"]} == {"markov", "shapley"}
    summary = [
        (b["device"], b["journeys"], b["conversions"], b["revenue"]) for b in data["breakdown"]
    ]
    assert summary == [("desktop", 4, 2, 50.0), ("mobile", 4, 2, 10.0), ("tablet", 1, 1, 7.0)]
    for value in data["breakdown"]:
        assert next(iter(value)) == "device"
        for model, expected in HAND[value["device"]].items():
            got = {r["channel"]: r["conversions"] for r in value["credit"] if r["model"] == model}
            assert got == pytest.approx(expected), (value["device"], model)
    # The devices' conversions add up to the whole data's, under every model.
    overall = sum(r["conversions"] for r in data["attribution"] if r["model"] == "markov")
    assert overall == pytest.approx(sum(b["conversions"] for b in data["breakdown"]))


def test_top_keeps_the_largest_values_and_pools_the_rest_as_other(ws):
    args = ("attribution", *CHANNEL, "--by", "device", "--top", "1", "--format", "json")
    data = json.loads(run(*args, workspace=ws).stdout)
    # desktop and mobile tie at 4 journeys: the first by name stays; mobile and tablet pool.
    assert [(b["device"], b["journeys"]) for b in data["breakdown"]] == [
        ("desktop", 4),
        ("(other)", 5),
    ]


def test_json_is_what_the_python_api_returns(ws):
    args = ("attribution", *CHANNEL, "--by", "device", "--top", "2", "--format", "json")
    expected = json.loads(run(*args, workspace=ws).stdout)
    with open_workspace(ws) as workspace:
        result = workspace.attribution(
            models=["markov", "shapley"], level="channel", by="device", top=2
        )
        assert json.loads(json.dumps(result.to_dict())) == expected


def test_csv_holds_each_values_records_with_the_key_first(ws):
    out = run("attribution", *CHANNEL, "--by", "device", "--format", "csv", workspace=ws)
    rows = list(csv.DictReader(io.StringIO(out.stdout)))
    assert list(rows[0]) == ["device", "model", "channel", "conversions", "revenue"]
    assert [r["device"] for r in rows] == ["desktop"] * 4 + ["mobile"] * 4 + ["tablet"] * 2
    mobile = {(r["model"], r["channel"]): float(r["conversions"]) for r in rows[4:8]}
    assert mobile == pytest.approx(
        {
            ("markov", "social"): 1.2,
            ("markov", "email"): 0.8,
            ("shapley", "social"): 1.75,
            ("shapley", "email"): 0.25,
        }
    )


def test_the_table_has_a_section_per_value_largest_first(ws):
    out = run("attribution", *CHANNEL, "--by", "device", "--top", "1", workspace=ws).stdout
    assert out.index("Attribution of conversions") < out.index("device = desktop: 4 journeys")
    assert out.index("device = desktop") < out.index("device = (other): 5 journeys, 3 conversions")


def test_all_models_keep_the_whole_datas_lift_and_say_it_is_not_broken_down(tmp_path):
    path = tmp_path / "demo"
    assert run("init", str(path), "--template", "five_stage").returncode == 0
    assert run("demo", "--events", "3000", "--seed", "3", workspace=path).returncode == 0
    args = ("attribution", "--by", "device", "--top", "2", "--bootstrap", "100", "-f", "json")
    out = run(*args, workspace=path)
    assert out.returncode == 0, out.stderr
    assert "Note: Incrementality is not broken down by device" in out.stderr
    data = json.loads(out.stdout)
    assert "incrementality" in {r["model"] for r in data["attribution"]}
    credit = {r["model"] for value in data["breakdown"] for r in value["credit"]}
    assert "incrementality" not in credit
    assert "markov" in credit
    assert [b["device"] for b in data["breakdown"]][2:] == ["(other)"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "devcie"), "No event has the property 'devcie' (--by). Did you mean 'device'?"),
        (("--by", "device", "--roi"), "--roi with --by device: costs are the catalog's"),
        (("--by", "device", "--cut-list"), "--cut-list with --by device"),
        (("--by", "device", "--model", "incrementality"), "--model incrementality with --by"),
        (("--by", "device", "--top", "0"), "top must be at least 1, not 0"),
        (("--by", "channel", "--level", "channel"), "share a name with the 'channel' field"),
    ],
)
def test_a_breakdown_that_cannot_be_made_is_one_error_line(ws, args, message):
    out = run("attribution", *args, workspace=ws)
    assert out.returncode == 2
    assert out.stderr.startswith("Error: "), out.stderr
    assert out.stderr.count("\n") == 1, out.stderr
    assert message in out.stderr


def test_a_path_counts_file_has_no_values_to_break_down(tmp_path):
    data = tmp_path / "paths.csv"
    data.write_text("path,total_conversions,total_conversion_value,total_null\na > b,1,5,2\n")
    out = run("attribution", "--paths", str(data), "--by", "device")
    assert out.returncode == 2
    assert "--by: options for a workspace's events, not for --paths" in out.stderr
