"""Excel workbooks: which sheets an import reads, and Excel's date numbers in time columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from journeylens.errors import ImportFileError
from journeylens.workspace import Workspace, init_workspace

HEADER = ["timestamp", "event", "user_id"]


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws", template="four_stage_delight")
    yield workspace
    workspace.close()


def workbook(path: Path, sheets: dict[str, Sequence[Sequence[Any]]], epoch: Any = None) -> Path:
    """A workbook of ``sheets`` (title → rows), in their order."""
    book = Workbook()
    book.remove(book.active)
    if epoch is not None:
        book.epoch = epoch
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(list(row))
    book.save(path)
    return path


def months(path: Path) -> Path:
    """A customer's export split by month, one sheet each, with a bad row in April."""
    return workbook(
        path,
        {
            "March": [HEADER, [datetime(2024, 3, 1, 12), "visit", "u1"]],
            "April": [
                HEADER,
                [datetime(2024, 4, 1, 12), "visit", "u2"],
                ["not a time", "visit", "u2"],
            ],
            "Empty": [],
        },
    )


def stored_users(ws: Workspace) -> list[str]:
    return ws.events.order_by("ts").execute()["user_id"].tolist()


def test_a_workbook_of_monthly_sheets_reads_the_first_and_names_the_others(ws, tmp_path):
    book = months(tmp_path / "book.xlsx")
    summary = ws.import_files([book])
    assert (summary.stored, summary.rejected) == (1, 0)
    assert summary.notes == [
        f"{book}: read its first sheet, 'March', alone. The workbook's other sheets with "
        "values, 'April', were not read: name the sheets to read with --sheet (repeatable; a "
        "glob pattern such as --sheet '*' reads every sheet)."
    ]


def test_named_sheets_are_read_each_as_a_file_of_its_own(ws, tmp_path):
    book = months(tmp_path / "book.xlsx")
    ws.import_files([book])
    # A pattern selects every sheet with values (the empty one holds nothing to read).
    summary = ws.import_files([book], sheets=["*"])
    assert (summary.stored, summary.already_stored, summary.rejected) == (1, 1, 1)
    assert summary.notes == []
    assert stored_users(ws) == ["u1", "u2"]
    bad = ws.rejected.execute()
    assert bad[["source", "line", "reason"]].values.tolist() == [
        [f"{book}[April]", 3, "unparseable_timestamp"]
    ]
    # A sheet is named as written or in any case, as Excel compares names; imported again,
    # it replaces its own rejected rows, not another sheet's.
    summary = ws.import_files([book], sheets=["march"])
    assert (summary.stored, summary.already_stored) == (0, 1)
    assert ws.rejected.execute()["source"].tolist() == [f"{book}[April]"]


def test_a_sheet_that_is_not_there_is_an_error_listing_the_sheets(ws, tmp_path):
    book = months(tmp_path / "book.xlsx")
    with pytest.raises(ImportFileError) as error:
        ws.import_files([book], sheets=["March", "Aprl"])
    assert str(error.value) == (
        f"{book}: no sheet 'Aprl'. Did you mean 'April'? The workbook's sheets are 'March', "
        "'April', 'Empty'. Nothing was imported."
    )
    with pytest.raises(ImportFileError, match=r"--sheet Empty selects only empty sheets"):
        ws.import_files([book], sheets=["Empty"])
    assert stored_users(ws) == []
    csv = tmp_path / "e.csv"
    csv.write_text("ts,event,user_id\n2024-03-01T12:00:00Z,visit,u1\n")
    with pytest.raises(ImportFileError, match=r"--sheet names sheets of Excel workbooks"):
        ws.import_files([csv], sheets=["March"])


def test_events_on_the_second_sheet_are_named_when_the_first_has_no_events(ws, tmp_path):
    summary_first = {"Summary": [["kpi", "value"], ["visits", 3]]}
    events = {"Events": [HEADER, [datetime(2024, 3, 1, 12), "visit", "u1"]]}
    book = workbook(tmp_path / "export.xlsx", {**summary_first, **events})
    with pytest.raises(ImportFileError) as error:
        ws.import_files([book])
    message = str(error.value)
    assert message.startswith(f"{book}[Summary]: missing required column 'ts'.")
    assert "The workbook's other sheets with values, 'Events', were not read" in message
    assert ws.import_files([book], sheets=["Events"]).stored == 1
    blank_first = workbook(tmp_path / "blank.xlsx", {"Sheet1": [], **events})
    with pytest.raises(ImportFileError, match=r"the first sheet, 'Sheet1', is empty.*'Events'"):
        ws.import_files([blank_first])


def test_a_catalog_workbook_reads_the_sheet_named(ws, tmp_path):
    readme = {"Read me": [["Touchpoints of the shop, one per row"]]}
    catalog = {"Catalog": [["touchpoint", "match", "stage"], ["chat", "chat_*", "delight"]]}
    book = workbook(tmp_path / "catalog.xlsx", {**readme, **catalog})
    summary = ws.import_files([book], kind="touchpoints")
    assert summary.stored == 0
    assert "The workbook's other sheets with values, 'Catalog', were not read" in summary.notes[0]
    assert ws.import_files([book], kind="touchpoints", sheets=["Catalog"]).stored == 1
    assert "chat" in {t.touchpoint for t in ws.config.touchpoints}


def dated(path: Path, cell: Any, epoch: Any = None) -> Path:
    """A workbook of one event at the time ``cell``, with an order date as a property."""
    rows = [["timestamp", "event", "user_id", "order_date"], [cell, "visit", "u1", 45292]]
    return workbook(path, {"Sheet1": rows}, epoch)


@pytest.mark.parametrize(
    ("cell", "epoch", "stored"),
    [
        (45292.5, None, "2024-01-01 12:00:00"),  # days since 1899-12-30, and half a day
        (45292, None, "2024-01-01 00:00:00"),
        (45292.000011574, None, "2024-01-01 00:00:01"),  # to Excel's millisecond
        (43830.5, CALENDAR_MAC_1904, "2024-01-01 12:00:00"),  # the 1904 date system
        (datetime(2024, 1, 1, 12), None, "2024-01-01 12:00:00"),  # a cell with a date format
        (1704110400, None, "2024-01-01 12:00:00"),  # epoch seconds stay epoch seconds
    ],
)
def test_a_number_in_a_workbooks_time_column_is_an_excel_date(ws, tmp_path, cell, epoch, stored):
    summary = ws.import_files([dated(tmp_path / "dates.xlsx", cell, epoch)])
    assert (summary.stored, summary.rejected) == (1, 0)
    row = ws.events.execute().iloc[0]
    assert str(row["ts"]) == stored
    assert row["properties"] == '{"order_date":"45292"}'  # no time column: a number, as is
    serial = isinstance(cell, float | int) and cell < 1e8
    assert bool(summary.notes) == serial


def test_excel_dates_are_read_in_the_timezone_and_noted(ws, tmp_path):
    book = dated(tmp_path / "dates.xlsx", 45292.5)
    summary = ws.import_files([book], timezone="Europe/Stockholm", ts_format="%d/%m/%Y %H:%M")
    assert str(ws.events.execute()["ts"].iloc[0]) == "2024-01-01 11:00:00"
    assert summary.notes == [
        f"{book}: 1 number was read as the Excel date it is, in 'timestamp', in cells "
        "without a date format (as a date format would show them: 45292.5 is 2024-01-01 "
        "12:00:00)."
    ]
    # A day before 1990 is an implausible time, as Excel shows it, not a second of 1970.
    ws.import_files([dated(tmp_path / "early.xlsx", 100)])
    assert ws.rejected.execute()[["reason", "detail"]].values.tolist() == [
        ["implausible_timestamp", "timestamp 1900-04-09 00:00:00 is before 1990"]
    ]
