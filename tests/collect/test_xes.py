"""Importing XES event logs: one event per row, the trace's attributes as the case's."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from journeylens.workspace import Workspace, init_workspace

LOG = """<?xml version="1.0" encoding="UTF-8" ?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="trace"><string key="concept:name" value="__INVALID__"/></global>
  <global scope="event"><string key="concept:name" value="__INVALID__"/></global>
  <classifier name="Activity" keys="concept:name"/>
  <string key="concept:name" value="the log's own name"/>
  <trace>
    <string key="concept:name" value="case 1"/>
    <event>
      <string key="concept:name" value="register request"/>
      <date key="time:timestamp" value="2026-03-01T10:00:00.000+01:00"/>
      <string key="lifecycle:transition" value="complete"/>
      <float key="cost" value="50.0"><string key="currency" value="EUR"/></float>
      <list key="items"><values><string key="item" value="a"/></values></list>
    </event>
    <event>
      <id key="identity:id" value="e-2"/>
      <string key="concept:name" value="examine"/>
      <date key="time:timestamp" value="2026-03-01T11:00:00.000+01:00"/>
    </event>
    <string key="channel" value="web"/>
  </trace>
  <trace>
    <string key="concept:name" value="case 2"/>
    <event>
      <string key="concept:name" value="register request"/>
      <date key="time:timestamp" value="2026-03-02T09:30:00Z"/>
    </event>
    <event>
      <string key="concept:name" value="no time"/>
    </event>
  </trace>
</log>
"""


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws")
    yield workspace
    workspace.close()


def stored(ws: Workspace):
    return ws.events.order_by(["person_id", "ts"]).execute()


def test_an_xes_log_imports_one_row_per_event(ws, tmp_path):
    path = tmp_path / "log.xes"
    path.write_text(LOG)
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored, summary.rejected) == (4, 3, 1)
    frame = stored(ws)
    assert frame["person_id"].tolist() == ["case 1", "case 1", "case 2"]
    assert frame["event"].tolist() == ["register request", "examine", "register request"]
    assert [str(t) for t in frame["ts"]] == [
        "2026-03-01 09:00:00",
        "2026-03-01 10:00:00",
        "2026-03-02 09:30:00",
    ]
    assert frame["event_id"].tolist()[1] == "e-2"
    properties = [json.loads(p or "{}") for p in frame["properties"]]
    # The trace's attributes, wherever in the trace they stand; an attribute's own attributes
    # and lists (which have no value) are left out.
    assert properties[0] == {
        "lifecycle:transition": "complete",
        "cost": "50.0",
        "case:channel": "web",
    }
    assert properties[1] == {"case:channel": "web"}
    bad = ws.rejected.execute()
    assert bad[["line", "reason"]].values.tolist() == [[30, "missing_timestamp"]]


def test_an_xes_log_imports_alike_on_every_engine(make_workspace, tmp_path):
    path = tmp_path / "log.xes"
    path.write_text(LOG)
    workspace = make_workspace()
    summary = workspace.import_files([path])
    assert (summary.stored, summary.rejected) == (3, 1)
    assert stored(workspace)["event"].tolist() == [
        "register request",
        "examine",
        "register request",
    ]


@pytest.mark.parametrize("name", ["log.xes.gz", "log.xes"])  # gzipped, named so or not
def test_a_gzipped_xes_log_imports_alike(ws, tmp_path, name):
    path = tmp_path / name
    path.write_bytes(gzip.compress(LOG.encode()))
    summary = ws.import_files([path])
    assert summary.stored == 3
    assert len(summary.notes) == (name == "log.xes")


def test_xml_that_breaks_off_keeps_the_events_before_and_rejects_the_rest(ws, tmp_path):
    cut = LOG.index('  <trace>\n    <string key="concept:name" value="case 2"/>')
    broken = LOG[:cut] + '  <trace>\n    <event>\n      <string key="concept:name" value="x">\n'
    broken += "    </event>\n" + LOG[cut:]
    path = tmp_path / "broken.xes"
    path.write_text(broken)
    summary = ws.import_files([path])
    assert summary.stored == 2
    assert summary.rejected_by_reason == {"invalid_xml": 1}
    bad = ws.rejected.execute().iloc[0]
    assert bad["line"] == 27
    assert bad["row"] == "    </event>"
    assert "mismatched tag" in bad["detail"]
    assert "not read" in bad["detail"]
    assert stored(ws)["event"].tolist() == ["register request", "examine"]


def _log(traces: dict[str, list[tuple[str, str, str]]]) -> str:
    """An XES log of ``case → [(activity, time, extra attribute XML)]``."""
    body = ""
    for case, steps in traces.items():
        body += f'  <trace>\n    <string key="concept:name" value="{case}"/>\n'
        for activity, time, extra in steps:
            body += (
                f'    <event>\n      <string key="concept:name" value="{activity}"/>\n'
                f'      <date key="time:timestamp" value="{time}"/>\n{extra}    </event>\n'
            )
        body += "  </trace>\n"
    return f'<?xml version="1.0"?>\n<log xmlns="http://www.xes-standard.org/">\n{body}</log>\n'


def _odd_log(extra: str) -> str:
    """Three cases of two events each; only the last event has the attribute ``extra``."""
    return _log(
        {
            "c1": [("A", "2026-03-01T10:00:00Z", ""), ("B", "2026-03-01T10:05:00Z", "")],
            "c2": [("A", "2026-03-01T11:00:00Z", ""), ("C", "2026-03-01T11:05:00Z", "")],
            "c3": [("A", "2026-03-01T12:00:00Z", ""), ("D", "2026-03-01T12:05:00Z", extra)],
        }
    )


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("name", "Ann"),  # an alias of event
        ("event", "evt"),  # our own name
        ("time", "2020-01-01T00:00:00Z"),  # aliases of ts
        ("timestamp", "2020-01-01T00:00:00Z"),
        ("user_id", "u7"),  # our own name for the case
    ],
)
def test_one_event_with_an_odd_key_leaves_the_others_as_they_are(ws, tmp_path, key, value):
    path = tmp_path / "odd.xes"
    path.write_text(_odd_log(f'      <string key="{key}" value="{value}"/>\n'))
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (6, 0)
    frame = stored(ws)
    assert frame["person_id"].tolist() == ["c1", "c1", "c2", "c2", "c3", "c3"]
    assert frame["event"].tolist() == ["A", "B", "A", "C", "A", "D"]
    # The odd event too takes its activity, time and case from the XES names; the odd key is
    # one of its properties.
    assert str(frame["ts"].iloc[-1]) == "2026-03-01 12:05:00"
    assert json.loads(frame["properties"].iloc[-1]) == {key: value}


def test_an_event_without_an_xes_name_is_not_named_by_a_loose_name(ws, tmp_path):
    # Its ``name`` may be anything (a resource's, a product's): the event has no activity.
    log = _log({"c1": [("A", "2026-03-01T10:00:00Z", ""), ("B", "2026-03-01T10:05:00Z", "")]})
    log = log.replace('<string key="concept:name" value="B"/>', '<string key="name" value="B"/>')
    path = tmp_path / "unnamed.xes"
    path.write_text(log)
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected_by_reason) == (1, {"missing_event": 1})
    assert stored(ws)["event"].tolist() == ["A"]


@pytest.mark.parametrize(
    ("attribute", "kept"),
    [
        ('<string key="type" value="manual"/>', {"type": "manual"}),
        ('<string key="stage" value="review"/>', {"stage": "review"}),
        ('<string key="interaction" value="phone"/>', {"interaction": "phone"}),
        ('<float key="revenue" value="-5.0"/>', {"revenue": "-5.0"}),
        ('<string key="properties" value="not json"/>', {"properties": "not json"}),
        ('<string key="id" value="order-1"/>', {"id": "order-1"}),  # not the event's id
    ],
)
def test_an_xes_attribute_named_like_a_closed_column_stays_a_property(
    ws, tmp_path, attribute, kept
):
    path = tmp_path / "closed.xes"
    path.write_text(_odd_log(f"      {attribute}\n"))
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (6, 0)
    last = stored(ws).iloc[-1]
    assert (last["event"], last["type"]) == ("D", "track")
    assert json.loads(last["properties"]) == kept


def test_a_pm4py_csv_reads_concept_name_before_a_name_column(ws, tmp_path):
    # pm4py writes a log's attributes as columns: here the resource's name beside the activity.
    path = tmp_path / "pm4py.csv"
    path.write_text(
        "case:concept:name,concept:name,time:timestamp,name,time,type\n"
        "1,register request,2026-03-01T10:00:00Z,Pete,0,manual\n"
        "1,decide,2026-03-01T11:00:00Z,Sara,1,auto\n"
    )
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (2, 0)
    frame = stored(ws)
    assert frame["event"].tolist() == ["register request", "decide"]
    assert [str(t) for t in frame["ts"]] == ["2026-03-01 10:00:00", "2026-03-01 11:00:00"]
    assert json.loads(frame["properties"].iloc[0]) == {
        "name": "Pete",
        "time": "0",
        "type": "manual",
    }


def test_a_csv_column_named_as_ours_still_wins_over_the_xes_name(ws, tmp_path):
    path = tmp_path / "ours.csv"
    path.write_text(
        "user_id,event,concept:name,ts,time:timestamp\n"
        "u1,signup,register request,2026-03-01T10:00:00Z,2026-03-02T10:00:00Z\n"
    )
    assert ws.import_files([path]).stored == 1
    row = stored(ws).iloc[0]
    assert (row["event"], str(row["ts"])) == ("signup", "2026-03-01 10:00:00")
    assert json.loads(row["properties"]) == {
        "concept:name": "register request",
        "time:timestamp": "2026-03-02T10:00:00Z",
    }
