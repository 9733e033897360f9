"""``journeylens touchpoints --by``: events and people per touchpoint and value, as a script and
a user see it."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest

from journeylens.config import Touchpoint
from journeylens.testing import journeys, run_cli
from journeylens.workspace import init_workspace, open_workspace

CATALOG = [
    Touchpoint("home", ("home",), "awareness", channel="web"),
    Touchpoint("pricing", ("pricing",), "consideration", channel="web"),
    Touchpoint("purchase", ("purchase",), "decision", channel="web"),
]
# The catalog places home, pricing and purchase; 'error' is unmapped (a rebuild keeps the
# touchpoint journeys() gives each event, its name, so the error's is left out).
#   ana: home (mobile, plan pro), pricing (mobile), home (desktop), purchase (desktop, plan pro)
#   bo:  home (desktop), pricing (desktop, plan free)
#   cy:  home (mobile), home (mobile)
#   dee: home (no device), error (mobile)
# Overall: home 6 events / 4 people, pricing 2 / 2, purchase 1 / 1; error 1 / 1 unmapped.
PEOPLE = {
    "ana": [
        ("home", "2026-01-01 10:00", {"device": "mobile", "plan": "pro"}),
        ("pricing", "+1m", {"device": "mobile"}),
        ("home", "+1h", {"device": "desktop"}),
        ("purchase", "+5m", {"device": "desktop", "plan": "pro"}),
    ],
    "bo": [
        ("home", "2026-01-01 11:00", {"device": "desktop"}),
        ("pricing", "+2m", {"device": "desktop", "plan": "free"}),
    ],
    "cy": [
        ("home", "2026-01-01 12:00", {"device": "mobile"}),
        ("home", "+3m", {"device": "mobile"}),
    ],
    "dee": [
        ("home", "2026-01-02 09:00"),
        ("error", "+1m", {"device": "mobile", "touchpoint": None}),
    ],
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("touchpoints_by") / "ws"
    with init_workspace(path, "three_stage") as workspace:
        workspace.set_catalog(CATALOG)
        workspace.store.write("events", journeys(PEOPLE))
        workspace.rebuild()
    return path


def run(ws: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return run_cli("touchpoints", *args, workspace=ws, check=check)


def test_touchpoints_by_device_json_adds_the_breakdown_to_the_report(ws) -> None:
    report = json.loads(run(ws, "--by", "device", "--format", "json").stdout)
    # mobile: home ana#1, cy, cy (2 people), pricing ana: 4 events (dee's error is unmapped).
    # desktop: home ana#3, bo; pricing bo; purchase ana: 4 events; ties by name: desktop first.
    # (none): home dee: 1 event. ana is at home on both devices: in both values.
    assert [tuple(r.values()) for r in report["breakdown"]] == [
        ("desktop", "home", "awareness", 2, 2),
        ("desktop", "pricing", "consideration", 1, 1),
        ("desktop", "purchase", "decision", 1, 1),
        ("mobile", "home", "awareness", 3, 2),
        ("mobile", "pricing", "consideration", 1, 1),
        ("(none)", "home", "awareness", 1, 1),
    ]
    assert list(report["breakdown"][0]) == ["device", "touchpoint", "stage", "events", "people"]
    # The rest of the object is the report without --by, which has no breakdown.
    plain = json.loads(run(ws, "--format", "json").stdout)
    assert "breakdown" not in plain
    assert {k: v for k, v in report.items() if k != "breakdown"} == plain
    overall = {t["touchpoint"]: (t["events"], t["people"]) for t in plain["touchpoints"]}
    assert overall == {"home": (6, 4), "pricing": (2, 2), "purchase": (1, 1)}
    assert plain["unmapped_events"] == [{"event": "error", "events": 1, "people": 1}]
    summed: dict[str, int] = {}
    for r in report["breakdown"]:
        summed[r["touchpoint"]] = summed.get(r["touchpoint"], 0) + r["events"]
    assert summed == {name: events for name, (events, _) in overall.items()}


def test_touchpoints_by_a_property_with_top_matches_the_workspace_api(ws) -> None:
    args = ("--by", "properties.plan", "--top", "1", "--format", "json")
    report = json.loads(run(ws, *args).stdout)
    # plan: pro on ana#1 and ana's purchase, free on bo's pricing, none on the other 6 events.
    # top 1 keeps (none) (6 events); pro and free pool as '(other)': 3 events.
    assert [tuple(r.values()) for r in report["breakdown"]] == [
        ("(none)", "home", "awareness", 5, 4),
        ("(none)", "pricing", "consideration", 1, 1),
        ("(other)", "home", "awareness", 1, 1),
        ("(other)", "pricing", "consideration", 1, 1),
        ("(other)", "purchase", "decision", 1, 1),
    ]
    with open_workspace(ws) as workspace:
        api = workspace.touchpoint_report(by="properties.plan", top=1).to_dict()
    assert api == report


def test_touchpoints_by_csv_is_the_breakdown_key_first(ws) -> None:
    out = run(ws, "--by", "device", "--format", "csv").stdout
    reader = list(csv.DictReader(io.StringIO(out)))
    assert list(reader[0]) == ["device", "touchpoint", "stage", "events", "people"]
    assert [(r["device"], r["touchpoint"], r["events"]) for r in reader][3:] == [
        ("mobile", "home", "3"),
        ("mobile", "pricing", "1"),
        ("(none)", "home", "1"),
    ]


def test_touchpoints_by_table_shows_the_report_then_a_table_per_value(ws) -> None:
    result = run(ws, "--by", "device", "--where", "device!=desktop")
    table = result.stdout
    # Without desktop events: mobile home 3, pricing 1 (4 events); (none) home dee (1).
    assert table.index("Touchpoints") < table.index("Events no touchpoint maps")
    assert table.index("Events no touchpoint maps") < table.index("device = mobile: 4 events")
    assert table.index("device = mobile: 4 events") < table.index("device = (none): 1 event")
    assert "device = desktop" not in table
    assert "the values' events add up to the catalog's" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "plna"), "No event has the property 'plna' (--by). Did you mean 'plan'?"),
        (("--by", "touchpoint"), "would share a name with the touchpoints field 'touchpoint'"),
        (("--by", "device", "--top", "0"), "top must be at least 1, not 0."),
        (("--by", "device", "--suggest"), "--by breaks down the touchpoint report"),
    ],
)
def test_touchpoints_by_that_cannot_be_made_is_one_clear_error(ws, args, message) -> None:
    result = run(ws, *args, check=False)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1  # one line, no traceback
    assert result.stderr.startswith("Error: ")
    assert message in result.stderr


def test_touchpoints_the_data_names_but_the_catalog_lacks_are_listed(tmp_path: Path) -> None:
    # ana and bo each send one 'signup' event whose row names the touchpoint 'web_form', which
    # the catalog does not list; ana's second one names 'partner_widget'. A rebuild keeps a
    # touchpoint the data gives, so these were in neither the catalog rows nor the unmapped
    # events: web_form 2 events / 2 people, partner_widget 1 / 1, most events first.
    people = {
        "ana": [
            ("home", "2026-01-01 10:00"),
            ("signup", "+1m", {"touchpoint": "web_form"}),
            ("signup", "+2m", {"touchpoint": "partner_widget"}),
        ],
        "bo": [("signup", "2026-01-01 11:00", {"touchpoint": "web_form"})],
    }
    path = tmp_path / "ws"
    with init_workspace(path, "three_stage") as workspace:
        workspace.set_catalog(CATALOG)
        workspace.store.write("events", journeys(people))
        workspace.rebuild()
    report = json.loads(run(path, "--format", "json").stdout)
    assert report["uncatalogued_touchpoints"] == [
        {"touchpoint": "web_form", "events": 2, "people": 2, "answers": 0},
        {"touchpoint": "partner_widget", "events": 1, "people": 1, "answers": 0},
    ]
    home = next(row for row in report["touchpoints"] if row["touchpoint"] == "home")
    assert (home["events"], home["people"]) == (1, 1)
    table = run(path).stdout
    assert "partner_widget" in table
    assert "Add them to the catalog" in table
