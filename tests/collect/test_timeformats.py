"""The --ts-format hint: the layouts offered for times the import could not read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from journeylens.collect.timeformats import readable_with
from journeylens.workspace import init_workspace


@pytest.mark.parametrize(
    ("time", "layouts", "utc"),
    [
        # JavaScript's toLocaleString() puts a comma before the clock (en-US, en-GB, de-DE).
        ("Jul 1, 2025, 10:00:00 PM", ["%b %d, %Y, %I:%M:%S %p"], "2025-07-01 22:00:00"),
        ("7/13/2025, 10:00:00 PM", ["%m/%d/%Y, %I:%M:%S %p"], "2025-07-13 22:00:00"),
        ("13/07/2025, 10:00:00", ["%d/%m/%Y, %H:%M:%S"], "2025-07-13 10:00:00"),
        ("1.7.2025, 10:00:00", ["%d.%m.%Y, %H:%M:%S"], "2025-07-01 10:00:00"),
        ("2025-07-01 10:00:00 PM", ["%Y-%m-%d %I:%M:%S %p"], "2025-07-01 22:00:00"),
        ("Tue Jul  1 10:00:00 2025", ["%a %b %d %H:%M:%S %Y"], "2025-07-01 10:00:00"),  # asctime
    ],
)
def test_the_layout_offered_for_unread_times_reads_them(tmp_path: Path, time, layouts, utc):
    # These were offered nothing: the import named no --ts-format, and the user was left to
    # write one. The one offered now reads the time.
    path = tmp_path / "t.csv"
    path.write_text(f'ts,event,anonymous_id\n"{time}",x,a\n')
    with init_workspace(tmp_path / "ws") as workspace:
        summary = workspace.import_files([path])
        assert (summary.stored, summary.ts_format_hints) == (0, layouts)
        assert workspace.import_files([path], ts_format=layouts[0]).stored == 1
        assert workspace.events.execute()["ts"].tolist() == [pd.Timestamp(utc)]


def test_a_day_and_month_both_twelve_or_less_offer_both_orders_after_a_comma():
    # As without the comma: nothing tells 7/1 apart, so the user picks.
    assert readable_with(["7/1/2025, 10:00 PM"]) == ["%m/%d/%Y, %I:%M %p", "%d/%m/%Y, %I:%M %p"]
