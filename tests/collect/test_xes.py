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


def test_a_gzipped_xes_log_imports_alike(ws, tmp_path):
    path = tmp_path / "log.xes.gz"
    path.write_bytes(gzip.compress(LOG.encode()))
    assert ws.import_files([path]).stored == 3


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
