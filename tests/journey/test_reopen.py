"""A placed workspace, on either engine, opens without placing its events again."""

from __future__ import annotations

from pathlib import Path

from journeylens.workspace import init_workspace, open_workspace


def test_a_placed_workspace_opens_without_placing_its_events_again(
    engine: str, tmp_path: Path
) -> None:
    """Spark never remembered its placement: every open of a Spark workspace placed all its
    events again and said an import had stopped."""
    data = tmp_path / "e.csv"
    data.write_text("ts,event,user_id\n2026-03-01T10:00:00Z,foo,a\n2026-03-01T10:10:00Z,foo,a\n")
    with init_workspace(tmp_path / "ws", "three_stage", engine=engine) as ws:
        ws.import_files([data])
    with open_workspace(tmp_path / "ws") as ws:
        assert ws.replaced_placement is None
        assert ws.events.count().execute() == 2
