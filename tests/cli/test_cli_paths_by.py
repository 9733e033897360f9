"""``journeylens paths --by``: the graph and top paths per value, as a script and a user see it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from journeylens.testing import journeys, run_cli
from journeylens.workspace import init_workspace, open_workspace

# Event level (the starter catalog maps none of these names). Without the ends (the raw graph):
#   ana (mobile first, then desktop; plan pro): home → cart → purchase
#   bo (desktop): home → home → cart
#   cy (mobile; plan free): home → search → home
#   dee (no device): cart → purchase
PEOPLE = {
    "ana": [
        ("home", "2026-01-01 10:00", {"device": "mobile", "plan": "pro"}),
        ("cart", "+1m", {"device": "desktop"}),
        ("purchase", "+2m", {"device": "desktop"}),
    ],
    "bo": [
        ("home", "2026-01-01 11:00", {"device": "desktop"}),
        ("home", "+30s", {"device": "desktop"}),
        ("cart", "+90s", {"device": "desktop"}),
    ],
    "cy": [
        ("home", "2026-01-01 12:00", {"device": "mobile", "plan": "free"}),
        ("search", "+1m", {"device": "mobile"}),
        ("home", "+3m", {"device": "mobile"}),
    ],
    "dee": [("cart", "2026-01-02 09:00"), ("purchase", "+5m")],
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("paths_by") / "ws"
    with init_workspace(path) as workspace:
        workspace.store.write("events", journeys(PEOPLE))
        workspace.rebuild()
    return path


def run(ws: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli("paths", "--level", "event", *args, workspace=ws, check=check)


def test_paths_by_json_records_start_with_the_key_most_people_first(ws) -> None:
    rows = json.loads(run(ws, "--by", "device", "--format", "json").stdout)
    assert list(rows[0])[:3] == ["device", "from", "to"]
    assert list(dict.fromkeys(r["device"] for r in rows)) == ["mobile", "(none)", "desktop"]
    edges = {(r["device"], r["from"], r["to"]): r for r in rows}
    # mobile (ana, cy): out of home two pairs, to cart and to search (no ends in the raw graph).
    assert edges["mobile", "home", "cart"]["probability"] == 0.5
    assert edges["mobile", "cart", "purchase"]["count"] == 1  # ana's desktop events: mobile
    assert edges["mobile", "search", "home"]["median_seconds"] == 180
    assert edges["desktop", "home", "home"]["share"] == 0.5  # bo: 2 pairs
    assert edges["(none)", "cart", "purchase"]["median_seconds"] == 300
    # The values' counts add up to the graph without --by.
    overall = json.loads(run(ws, "--format", "json").stdout)
    summed: dict[tuple[str, str], int] = {}
    for r in rows:
        summed[r["from"], r["to"]] = summed.get((r["from"], r["to"]), 0) + r["count"]
    assert summed == {(r["from"], r["to"]): r["count"] for r in overall}


def test_paths_by_matches_the_workspace_api(ws) -> None:
    args = ("--by", "plan", "--top-values", "2", "--ends", "--format", "json")
    rows = json.loads(run(ws, *args).stdout)
    # plan at the first event: none for bo and dee (2 people), free for cy, pro for ana; of the
    # two with one person "free" sorts first and is kept, ana is "(other)".
    assert list(dict.fromkeys(r["plan"] for r in rows)) == ["(none)", "free", "(other)"]
    nobody = {(r["from"], r["to"]): r for r in rows if r["plan"] == "(none)"}
    # bo's cart ends his journey, dee's converts: half each.
    assert nobody["cart", "(conversion)"]["probability"] == 0.5
    assert nobody["cart", "(end)"]["people"] == 1
    other = {(r["from"], r["to"]): r["probability"] for r in rows if r["plan"] == "(other)"}
    assert other == {("home", "cart"): 1.0, ("cart", "(conversion)"): 1.0,
                     ("(conversion)", "(end)"): 1.0}  # fmt: skip
    with open_workspace(ws) as workspace:
        api = workspace.paths(level="event", by="properties.plan", top_values=2, include_end=True)
        assert api.to_dict() == rows
        assert len(api.edges) == len(workspace.paths(level="event", include_end=True).edges)


def test_paths_by_csv_leads_with_the_key(ws) -> None:
    out = run(ws, "--by", "device", "--format", "csv").stdout
    reader = list(csv.DictReader(io.StringIO(out)))
    assert list(reader[0])[:2] == ["device", "from"]
    assert {r["device"] for r in reader} == {"mobile", "desktop", "(none)"}
    assert len(reader) == 7  # mobile 4 pairs, desktop 2, (none) 1


def test_top_paths_from_a_node_by_value_as_json_and_tables(ws) -> None:
    args = ("--from", "home", "--max-depth", "3", "--by", "device")
    rows = json.loads(run(ws, *args, "--top", "1", "--format", "json").stdout)
    assert [(r["device"], r["path"], r["share"]) for r in rows] == [
        ("mobile", ["home", "(end)"], pytest.approx(1 / 3)),
        ("desktop", ["home", "cart", "(end)"], 0.5),
    ]
    table = run(ws, *args).stdout
    assert table.index("Top paths: device = mobile") < table.index("Top paths: device = desktop")
    assert "home → search → home" in table


def test_paths_by_an_unknown_property_is_one_clear_error(ws) -> None:
    result = run(ws, "--by", "plna", check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert "No event has the property 'plna' (--by). Did you mean 'plan'?" in result.stderr
