"""Importing files: every good row stored once, every bad row rejected with its reason."""

from __future__ import annotations

import dataclasses
import gzip
import json
import unicodedata
import zipfile
from datetime import date, datetime
from itertools import count
from pathlib import Path
from time import perf_counter

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from journeylens.collect import csvfiles, readers
from journeylens.collect.columns import parse_map
from journeylens.config import save_config
from journeylens.errors import ImportFileError
from journeylens.workspace import Workspace, init_workspace, open_workspace

HEADER = "ts,event,anonymous_id,user_id,revenue\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws", template="four_stage_delight")
    yield workspace
    workspace.close()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def write_frame(frame: pd.DataFrame, path: Path) -> Path:
    """``frame`` as the CSV or Parquet file ``path`` (by its suffix), without the index."""
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    else:
        frame.to_csv(path, index=False)
    return path


def events(ws: Workspace):
    return ws.events.order_by(["ts", "event_id"]).execute()


def rejected(ws: Workspace):
    return ws.rejected.order_by(["source", "line"]).execute()


def test_good_rows_are_stored_with_derived_columns(ws, tmp_path):
    path = write(
        tmp_path / "e.csv",
        HEADER + "2026-01-01T10:00:00Z,pricing_view,a1,,\n2026-01-01T10:05:00Z,purchase,a1,u1,20\n",
    )
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored, summary.rejected) == (2, 2, 0)
    frame = events(ws)
    assert frame["person_id"].tolist() == ["u1", "u1"]  # the anonymous view joins the buyer
    assert frame["session_id"].tolist() == ["u1#1", "u1#1"]
    assert frame["touchpoint"].tolist() == ["pricing_page", "purchase"]
    assert frame["revenue"].tolist()[1] == 20.0


def test_missing_required_column_is_one_error_and_nothing_is_written(ws, tmp_path):
    path = write(tmp_path / "e.csv", "timestamp_x,event,user_id\n2026-01-01,a,u\n")
    with pytest.raises(ImportFileError, match="missing required column 'ts'"):
        ws.import_files([path])
    assert ws.store.count("events") == 0
    assert ws.store.count("rejected") == 0


def test_a_column_named_twice_is_one_error_naming_it(ws, tmp_path):
    path = write(tmp_path / "twice.csv", "ts,event,anonymous_id,event\n2026-01-01,a,x,b\n")
    with pytest.raises(ImportFileError, match=r"'event' appears more than once \(columns 2, 4\)"):
        ws.import_files([path])
    assert ws.store.count("events") == 0


def test_one_column_mapped_twice_is_one_error_naming_both(ws, tmp_path):
    path = write(tmp_path / "e.csv", "ts,event,user_id\n2026-01-01,a,u\n")
    mapping = {"ts": "ts", "received_at": "ts"}
    with pytest.raises(ImportFileError, match="--map ts=ts and --map received_at=ts"):
        ws.import_files([path], mapping=mapping)


@pytest.mark.parametrize("option", ["--map", "--set"])
def test_one_column_given_twice_on_the_command_line_is_one_error_naming_both(option):
    with pytest.raises(ImportFileError, match=f"{option} event=what and {option} event=src"):
        parse_map(["event=what", "event=src"], option)


def test_a_bad_file_among_several_stops_before_anything_is_written(ws, tmp_path):
    good = write(tmp_path / "good.csv", HEADER + "2026-01-01T10:00:00Z,a,x,,\n")
    bad = write(tmp_path / "bad.csv", "ts,user_id\n2026-01-01,u\n")
    with pytest.raises(ImportFileError, match="'event'"):
        ws.import_files([good, bad])
    assert ws.store.count("events") == 0


def test_no_identity_column_is_refused(ws, tmp_path):
    path = write(tmp_path / "e.csv", "ts,event\n2026-01-01,a\n")
    with pytest.raises(ImportFileError, match="anonymous_id"):
        ws.import_files([path])


def test_empty_file_is_refused_with_a_clear_message(ws, tmp_path):
    path = write(tmp_path / "empty.csv", "")
    with pytest.raises(ImportFileError, match="empty"):
        ws.import_files([path])


@pytest.mark.parametrize("text", [HEADER, HEADER.rstrip("\n"), "sep=;\nts;event;user_id"])
def test_header_only_file_stores_nothing_and_says_so(ws, tmp_path, text):
    summary = ws.import_files([write(tmp_path / "h.csv", text)])
    assert (summary.rows, summary.stored, summary.rejected) == (0, 0, 0)


def test_duplicate_ids_within_and_across_files_are_stored_once(ws, tmp_path):
    first = write(
        tmp_path / "a.csv",
        "event_id,ts,event,user_id\n"
        "e1,2026-01-01T10:00:00Z,first_wins,u\n"
        "e1,2026-01-01T11:00:00Z,second,u\n"
        "e2,2026-01-01T12:00:00Z,other,u\n",
    )
    second = write(tmp_path / "b.csv", "event_id,ts,event,user_id\ne2,2026-01-02,again,u\n")
    summary = ws.import_files([first, second])
    assert summary.stored == 2
    assert summary.duplicates_in_files == 2
    frame = events(ws)
    assert frame.set_index("event_id")["event"].to_dict() == {"e1": "first_wins", "e2": "other"}
    again = ws.import_files([first, second])
    assert (again.stored, again.already_stored) == (0, 2)
    assert ws.store.count("events") == 2


def test_rows_without_ids_get_a_stable_hash_so_reimport_stores_nothing(ws, tmp_path):
    path = write(
        tmp_path / "e.csv", HEADER + "2026-01-01T10:00:00Z,a,x,,\n2026-01-01T10:01:00Z,b,x,,\n"
    )
    ws.import_files([path])
    ids = sorted(events(ws)["event_id"])
    assert ws.import_files([path]).stored == 0
    assert sorted(events(ws)["event_id"]) == ids
    assert ws.store.count("rejected") == 0


def test_bad_rows_go_to_rejected_with_line_field_and_reason(ws, tmp_path):
    path = write(
        tmp_path / "bad.csv",
        HEADER
        + "2026-01-01T10:00:00Z,good,a,,\n"  # line 2
        + "yesterday,x,a,,\n"  # line 3: unparseable
        + "2026-01-01T10:00:00Z,purchase,a,,-5\n"  # line 4: negative revenue
        + "2031-01-01T10:00:00Z,x,a,,\n"  # line 5: years in the future
        + "2026-01-01T10:00:00Z,x,,,\n"  # line 6: nobody
        + "2026-01-01T10:00:00Z,,a,,\n"  # line 7: no event name
        + "2026-01-01T10:00:00Z,purchase,a,,ten\n",  # line 8: revenue not a number
    )
    summary = ws.import_files([path])
    assert summary.stored == 1
    got = rejected(ws)[["line", "field", "reason"]].values.tolist()
    assert got == [
        [3, "ts", "unparseable_timestamp"],
        [4, "revenue", "negative_revenue"],
        [5, "ts", "future_timestamp"],
        [6, "anonymous_id", "missing_id"],
        [7, "event", "missing_event"],
        [8, "revenue", "invalid_revenue"],
    ]
    assert summary.rejected_by_reason["unparseable_timestamp"] == 1
    detail = rejected(ws).set_index("line").loc[3, "detail"]
    assert "yesterday" in detail
    row = json.loads(rejected(ws).set_index("line").loc[3, "row"])
    assert row["ts"] == "yesterday"
    # Re-importing the same file does not duplicate the rejections.
    ws.import_files([path])
    assert ws.store.count("rejected") == 6


def test_importing_a_file_again_replaces_its_earlier_rejections(make_workspace, tmp_path):
    # A European export read first without --ts-format: every row rejected; read again with
    # it, the rejected table describes the second import only. Another file's rejections stay.
    workspace = make_workspace()
    euro = write(
        tmp_path / "euro.csv",
        "timestamp;event;customer_id;revenue\n"
        "24.11.2025 14:03;purchase;k-1;1.234,50\n"
        "25.11.2025 09:15;purchase;k-2;12.50\n",
    )
    other = write(tmp_path / "other.csv", HEADER + "yesterday,x,a,,\n")
    workspace.import_files([euro, other])
    assert workspace.store.count("rejected") == 3
    summary = workspace.import_files([euro], ts_format="%d.%m.%Y %H:%M", decimal_comma=True)
    assert (summary.stored, summary.rejected) == (1, 1)
    got = workspace.rejected.order_by(["source", "line"]).execute()
    assert got[["source", "line", "reason"]].values.tolist() == [
        [str(euro), 3, "invalid_revenue"],
        [str(other), 2, "unparseable_timestamp"],
    ]
    # Fixed, the file leaves no rejection behind; the same file twice is rejected once.
    write(tmp_path / "euro.csv", "timestamp;event;customer_id;revenue\n25.11.2025 09:15;x;k;\n")
    workspace.import_files([euro], ts_format="%d.%m.%Y %H:%M")
    twice = workspace.import_files([other, other.parent / "." / other.name])
    assert workspace.rejected.source.execute().tolist() == [str(other)]
    assert (twice.rows, twice.rejected) == (1, 1)  # read once, as stored


def test_a_csv_row_with_the_wrong_number_of_fields_rejects_only_itself(ws, tmp_path):
    path = write(
        tmp_path / "ragged.csv",
        HEADER
        + "2026-01-01T10:00:00Z,good,a,,\n"  # line 2
        + "2026-01-01T10:01:00Z,extra,a,,,,surprise\n"  # line 3: seven fields
        + "2026-01-01T10:02:00Z,short\n"  # line 4: two fields
        + "yesterday,x,a,,\n"  # line 5: unparseable, numbered past the skipped rows
        + "2026-01-01T10:03:00Z,also_good,a,,\n",  # line 6
    )
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored) == (5, 2)
    assert summary.rejected_by_reason == {"wrong_field_count": 2, "unparseable_timestamp": 1}
    got = rejected(ws)[["line", "reason", "row", "detail"]].values.tolist()
    assert [row[:3] for row in got] == [
        [3, "wrong_field_count", "2026-01-01T10:01:00Z,extra,a,,,,surprise"],
        [4, "wrong_field_count", "2026-01-01T10:02:00Z,short"],
        [5, "unparseable_timestamp", got[2][2]],
    ]
    assert [row[3] for row in got[:2]] == [
        "the row has 7 fields, the header 5",
        "the row has 2 fields, the header 5",
    ]
    assert events(ws)["event"].tolist() == ["good", "also_good"]


@pytest.mark.parametrize(
    "rows",
    [
        ["2026-01-05T00:00:00Z,a,d0,", "2026-01-05T00:01:00Z,b,d0,x"],  # one more: not all empty
        ["2026-01-05T00:00:00Z,a", "2026-01-05T00:01:00Z,b"],  # one fewer
    ],
)
def test_a_csv_whose_every_row_has_another_number_of_fields_rejects_every_row(
    ws, tmp_path, monkeypatch, rows
):
    # No row of the header's fields: no batch was read, and the rows the parser skipped were
    # dropped unseen (read 0 rows). Small blocks: the rows end past the last batch too.
    monkeypatch.setattr(csvfiles, "CSV_BLOCK_BYTES", 64)
    many = [*rows, *rows, *rows]
    summary = ws.import_files([write(tmp_path / "e.csv", "ts,event,user_id\n" + "\n".join(many))])
    assert (summary.rows, summary.stored, summary.rejected) == (6, 0, 6)
    got = rejected(ws)[["line", "reason", "row"]].values.tolist()
    assert got == [[n, "wrong_field_count", row] for n, row in enumerate(many, start=2)]
    fields = len(rows[0].split(","))
    assert set(rejected(ws)["detail"]) == {f"the row has {fields} fields, the header 3"}
    assert summary.notes == []


def test_rows_of_another_count_in_later_blocks_are_rejected_on_their_lines(
    ws, tmp_path, monkeypatch
):
    # pyarrow parses a block ahead of the batch it gives: a row of another count in the next
    # block is reported before this batch is read, and waits for its own (the import failed).
    monkeypatch.setattr(csvfiles, "CSV_BLOCK_BYTES", 128)
    rows = [f"2026-01-01T10:{i:02d}:00Z,view,u{i}" for i in range(40)]
    rows[3] += ",x"
    rows[30] += ",x"
    summary = ws.import_files([write(tmp_path / "e.csv", "ts,event,user_id\n" + "\n".join(rows))])
    assert (summary.stored, summary.rejected_by_reason) == (38, {"wrong_field_count": 2})
    assert rejected(ws)[["line", "row"]].values.tolist() == [[5, rows[3]], [32, rows[30]]]
    assert len(events(ws)) == 38


@pytest.mark.parametrize(
    ("name", "again", "row"),
    [
        ("joined.csv", "event,ts,user_id\n", "event,ts,user_id"),
        ("spaced.csv", '"event", ts ,user_id \r\n', "event, ts ,user_id "),  # trimmed
        ("marked.csv", "\ufeffevent,ts,user_id\n", "\ufeffevent,ts,user_id"),  # cat of two
        ("joined.tsv", "event\tts\tuser_id\n", "event\tts\tuser_id"),
    ],
)
def test_the_header_again_mid_file_is_rejected_as_repeated_header(ws, tmp_path, name, again, row):
    # Files joined with ``cat``: the second one's header is no event with a bad time.
    separator = "\t" if name.endswith(".tsv") else ","
    first = "event,ts,user_id\nview,2026-01-01T10:00:00Z,u1\n".replace(",", separator)
    second = "view,2026-01-02T10:00:00Z,u2\nbuy,2026-01-02T10:05:00Z,u2\n".replace(",", separator)
    summary = ws.import_files([write(tmp_path / name, first + again + second)])
    assert (summary.rows, summary.stored, summary.rejected) == (4, 3, 1)
    assert summary.rejected_by_reason == {"repeated_header": 1}
    assert summary.ts_format_hints == []
    got = rejected(ws)[["line", "reason", "detail", "row"]].values.tolist()
    assert got == [[3, "repeated_header", "the header row again (files joined together?)", row]]
    assert events(ws)["user_id"].tolist() == ["u1", "u2", "u2"]


@pytest.mark.parametrize(
    ("header", "end", "notes"),
    [
        ("ts,event,user_id,", ",", 0),  # every line ends in a separator
        ("ts,event,user_id", ",", 1),  # every row, but not the header
        ("ts,event,user_id,", "", 0),  # the header, but no row
    ],
    ids=["every_line", "rows", "header"],
)
@pytest.mark.parametrize("block", [None, 64])
def test_the_header_again_in_a_file_with_trailing_separators_is_a_repeated_header(
    ws, tmp_path, monkeypatch, header, end, notes, block
):
    # Two such files joined with ``cat``: the second header is no row of another count, and
    # the rows around it are read as they would be without it. Small blocks: the header again
    # is past the last batch too.
    if block:
        monkeypatch.setattr(csvfiles, "CSV_BLOCK_BYTES", block)
    rows = [
        f"2026-01-01T10:00:00Z,view,u1{end}",
        header,
        f"2026-01-02T10:00:00Z,view,u2{end}",
        f"2026-01-02T10:05:00Z,buy,u2{end}",
    ]
    path = write(tmp_path / "joined.csv", "\n".join([header, *rows]) + "\n")
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored, summary.rejected) == (4, 3, 1)
    got = rejected(ws)[["line", "reason", "row"]].values.tolist()
    assert got == [[3, "repeated_header", header]]
    assert events(ws)["user_id"].tolist() == ["u1", "u2", "u2"]
    assert len(summary.notes) == notes


def test_a_row_like_the_header_in_some_fields_only_is_a_row(ws, tmp_path):
    text = "event,ts,user_id,plan\nevent,2026-01-01T10:00:00Z,user_id,plan\nevent,ts,user_id,\n"
    summary = ws.import_files([write(tmp_path / "e.csv", text)])
    assert (summary.stored, summary.rejected_by_reason) == (1, {"unparseable_timestamp": 1})


def _ending_in(separator: str, quote: str = "") -> str:
    """A file whose header has four columns and each row five, the last one empty."""
    rows = [
        ["ts", "event", "user_id", "plan"],
        ["2026-01-05T00:00:00Z", "a", "d0", "pro", ""],
        ["2026-01-05T00:01:00Z", "b", "d1", "", ""],
    ]
    return "".join(separator.join(f"{quote}{v}{quote}" for v in row) + "\r\n" for row in rows)


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("comma.csv", _ending_in(",")),
        ("semicolon.csv", _ending_in(";")),
        ("tab.tsv", _ending_in("\t")),
        ("quoted.csv", _ending_in(",", '"')),
    ],
)
def test_rows_that_all_end_in_a_trailing_separator_read_as_the_header_columns(
    ws, tmp_path, name, text
):
    # Every row has one empty field past the header's columns: the separator each row ends in.
    path = write(tmp_path / name, text)
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored, summary.rejected) == (2, 2, 0)
    frame = events(ws)
    assert frame[["event", "user_id"]].values.tolist() == [["a", "d0"], ["b", "d1"]]
    assert [json.loads(p) if p else None for p in frame["properties"]] == [{"plan": "pro"}, None]
    assert summary.notes == [
        f"{path}: every row ends in a separator the header does not (one empty field past "
        "its 4 columns); the rows were read as the header's columns."
    ]
    assert summary.to_dict()["notes"] == summary.notes


def test_a_header_trailing_separator_that_no_row_has_names_no_column(ws, tmp_path):
    text = "ts,event,user_id,\n2026-01-05T00:00:00Z,a,d0\n2026-01-05T00:01:00Z,b,d1\n"
    summary = ws.import_files([write(tmp_path / "e.csv", text)])
    assert (summary.stored, summary.rejected, summary.notes) == (2, 0, [])
    assert events(ws)["user_id"].tolist() == ["d0", "d1"]


def test_a_trailing_separator_on_some_rows_only_rejects_the_rows_unlike_the_header(ws, tmp_path):
    text = (
        "ts,event,user_id\n2026-01-05T00:00:00Z,a,d0,\n2026-01-05T00:01:00Z,b,d1\n"
        "2026-01-05T00:02:00Z,c,d2,\n"
    )
    summary = ws.import_files([write(tmp_path / "e.csv", text)])
    assert (summary.stored, summary.rejected, summary.notes) == (1, 2, [])
    assert rejected(ws)[["line", "reason", "detail"]].values.tolist() == [
        [2, "wrong_field_count", "the row has 4 fields, the header 3"],
        [4, "wrong_field_count", "the row has 4 fields, the header 3"],
    ]


def test_csv_lines_count_the_line_breaks_inside_quoted_values(ws, tmp_path):
    path = write(
        tmp_path / "multiline.csv",
        "ts,event,anonymous_id,note\n"
        + '2026-01-01T10:00:00Z,a,p,"two\nlines"\n'  # lines 2-3
        + '2026-01-01T10:01:00Z,b,p,"x\r\ny",extra\n'  # lines 4-5: five fields
        + '2026-01-01T10:02:00Z,c,p,"three\nlines\nhere"\n'  # lines 6-8
        + "yesterday,d,p,y\n"  # line 9
        + "2026-01-01T10:03:00Z,e,p,z\n",  # line 10
    )
    summary = ws.import_files([path])
    assert summary.stored == 3
    got = rejected(ws)[["line", "reason"]].values.tolist()
    assert got == [[4, "wrong_field_count"], [9, "unparseable_timestamp"]]


def test_a_bad_line_inside_a_quoted_value_rejects_its_row(ws, tmp_path):
    head = HEADER + "2026-01-01T10:00:00Z,first,å,,\n"  # line 2: UTF-8 beyond ASCII
    bad = '2026-01-01T10:01:00Z,"note\ncaf\xe9",a,,\n'.encode("latin-1")  # lines 3-4
    tail = "2026-01-01T11:00:00Z,after,a,,\n"  # line 5
    path = tmp_path / "mixed_multiline.csv"
    path.write_bytes(head.encode("utf-8") + bad + tail.encode("utf-8"))
    summary = ws.import_files([path])
    assert sorted(events(ws)["event"]) == ["after", "first"]
    assert summary.rejected_by_reason == {"invalid_encoding": 1}
    got = rejected(ws)
    assert got[["line", "reason"]].values.tolist() == [[3, "invalid_encoding"]]
    assert "\\xe9" in got["row"][0]


def test_an_unclosed_quote_rejects_the_row_it_runs_on_with_its_text(ws, tmp_path):
    path = write(
        tmp_path / "unclosed.csv",
        HEADER
        + "2026-01-01T10:00:00Z,good,a,,\n"  # line 2
        + '2026-01-01T10:01:00Z,"oops,a,,\n'  # line 3: the quote runs to the end
        + "2026-01-01T10:02:00Z,swallowed,a,,\n",
    )
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected_by_reason) == (1, {"unclosed_quote": 1})
    got = rejected(ws)
    assert got[["line", "reason"]].values.tolist() == [[3, "unclosed_quote"]]
    assert got["row"][0].endswith("swallowed,a,,\n")
    assert events(ws)["event"].tolist() == ["good"]
    # The row that runs on has the header's number of fields: rejected alike.
    rows = ["2026-01-02T09:00:00Z,kept,a,,", '2026-01-02T10:00:00Z,next,a,,"oops', "x,a,,"]
    path.write_text(HEADER + "\n".join(rows) + "\n")
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected_by_reason) == (1, {"unclosed_quote": 1})


def test_a_stray_quote_inside_a_value_is_kept(ws, tmp_path):
    path = write(
        tmp_path / "inch.csv",
        "ts,event,anonymous_id,note\n"
        + '2026-01-01T10:00:00Z,"quoted, fine",a,x\n'
        + '2026-01-01T10:01:00Z,view,a,5" screen\n',
    )
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (2, 0)
    assert events(ws)["event"].tolist() == ["quoted, fine", "view"]


def test_offsets_are_converted_to_utc_and_naive_times_use_the_timezone(ws, tmp_path):
    path = write(
        tmp_path / "tz.csv",
        "event_id,ts,event,user_id\n"
        "a,2026-03-01T12:00:00+02:00,x,u\n"
        "b,2026-03-01T12:00:00-05:30,x,u\n"
        "c,2026-03-01 12:00:00,x,u\n"
        "d,1772366400,x,u\n",
    )
    ws.import_files([path], timezone="Europe/Stockholm")
    got = events(ws).set_index("event_id")["ts"].astype(str).to_dict()
    assert got["a"] == "2026-03-01 10:00:00"
    assert got["b"] == "2026-03-01 17:30:00"
    assert got["c"] == "2026-03-01 11:00:00"  # CET is UTC+1 in March
    assert got["d"] == "2026-03-01 12:00:00"  # epoch seconds are UTC


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_an_empty_column_does_not_erase_the_same_key_in_properties(ws, tmp_path, suffix):
    # Row a names its plan in a column, row b in its properties: b's column is empty.
    rows = [
        {"ts": "2026-03-01T10:00:00Z", "event": "a", "anonymous_id": "q1", "plan": "pro"},
        {
            "ts": "2026-03-01T10:01:00Z",
            "event": "b",
            "anonymous_id": "q2",
            "properties": {"plan": "free", "x": "1"},
        },
        {
            "ts": "2026-03-01T10:02:00Z",
            "event": "c",
            "anonymous_id": "q3",
            "plan": "team",
            "properties": {"plan": "free"},
        },
    ]
    path = tmp_path / f"mixed.{suffix}"
    if suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        frame = pd.DataFrame(rows)
        if suffix == "csv":
            frame["properties"] = [None if p != p else json.dumps(p) for p in frame["properties"]]
            frame.to_csv(path, index=False)
        else:
            frame.to_parquet(path)
    assert ws.import_files([path]).stored == 3
    got = events(ws).set_index("event")["properties"].map(json.loads).to_dict()
    assert got == {"a": {"plan": "pro"}, "b": {"plan": "free", "x": "1"}, "c": {"plan": "team"}}


def test_empty_header_cells_are_named_by_their_place(ws, tmp_path):
    # Exports that end every line with a separator, or keep a spreadsheet's blank columns.
    path = write(
        tmp_path / "trailing.csv",
        "ts,event,anonymous_id,,\n2026-01-01T10:00:00Z,view,a,,\n2026-01-01T10:01:00Z,buy,a,x,\n",
    )
    assert ws.import_files([path]).stored == 2
    props = events(ws).set_index("event")["properties"].to_dict()
    assert props["view"] is None
    assert json.loads(props["buy"]) == {"column4": "x"}


def test_a_zone_named_on_one_row_does_not_shift_the_naive_rows_after_it(ws, tmp_path):
    # DuckDB's cast keeps a named zone for the rows after it in a batch: they must not.
    path = write(
        tmp_path / "zones.csv",
        "event_id,ts,event,user_id\n"
        "a,2026-07-01T12:00:00 America/New_York,x,u\n"
        "b,2026-07-01 08:00:00,x,u\n"
        "c,2026-07-01,x,u\n"
        "d,2026-07-01T10:00[Europe/Paris],x,u\n"
        "e,20260701T080000,x,u\n"
        "f,2026-07-01T08:00:00Z,x,u\n",
    )
    ws.import_files([path], timezone="Europe/Stockholm")  # UTC+2 in July
    got = events(ws).set_index("event_id")["ts"].astype(str).to_dict()
    assert got == {
        "a": "2026-07-01 16:00:00",
        "b": "2026-07-01 06:00:00",
        "c": "2026-06-30 22:00:00",
        "d": "2026-07-01 08:00:00",
        "e": "2026-07-01 06:00:00",
        "f": "2026-07-01 08:00:00",
    }


@pytest.mark.parametrize("groups", [1, 2])
def test_int96_parquet_times_are_utc_whatever_the_timezone(ws, tmp_path, groups):
    # Spark and Impala write INT96 times as UTC instants: --timezone is for naive times only.
    # One row group is read as Arrow batches, several by the engine's own scan.
    table = pa.table(
        {
            "ts": pa.array([datetime(2026, 3, 1, 12, 0, 0, 123456)] * 2, pa.timestamp("us")),
            "event": ["a", "b"],
            "user_id": ["u", "u"],
        }
    )
    path = tmp_path / "spark.parquet"
    pq.write_table(table, path, use_deprecated_int96_timestamps=True, row_group_size=2 // groups)
    assert pq.ParquetFile(path).schema.column(0).physical_type == "INT96"
    ws.import_files([path], timezone="America/New_York")
    assert events(ws)["ts"].astype(str).tolist() == ["2026-03-01 12:00:00.123456"] * 2


def test_a_parquet_date_is_midnight_in_the_import_s_time_zone(ws, tmp_path):
    frame = pd.DataFrame({"ts": [date(2026, 3, 1)], "event": ["a"], "anonymous_id": ["x"]}).astype(
        {"ts": "object"}
    )
    path = tmp_path / "dates.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    assert pa.types.is_date(pq.read_schema(path).field("ts").type)
    ws.import_files([path], timezone="Europe/Stockholm")
    assert events(ws)["ts"].astype(str).tolist() == ["2026-02-28 23:00:00"]


def test_other_spellings_of_a_time_are_read_without_a_format(ws, tmp_path):
    spellings = {  # as written by: (UTC)
        "ruby": ("2026-03-01 12:00:00 +0200", "2026-03-01 10:00:00"),
        "git": ("2026-03-01 12:00:00 -05:30", "2026-03-01 17:30:00"),
        "basic": ("20260301T120000Z", "2026-03-01 12:00:00"),
        "basic_local": ("20260301T120000", "2026-03-01 11:00:00"),  # the import's zone
        "basic_date": ("20260301", "2026-02-28 23:00:00"),  # midnight in the import's zone
        "java": ("2026-07-01T12:00+02:00[Europe/Paris]", "2026-07-01 10:00:00"),
        "java_zone": ("2026-07-01T12:00[America/New_York]", "2026-07-01 16:00:00"),
        "java_utc": ("2026-03-01T12:00:00Z[UTC]", "2026-03-01 12:00:00"),
        "bigquery": ("2026-03-01 12:00:00.250 UTC", "2026-03-01 12:00:00.250000"),
        "mail": ("Sun, 01 Mar 2026 12:00:00 +0100", "2026-03-01 11:00:00"),
        "http": ("Sun, 01 Mar 2026 12:00:00 GMT", "2026-03-01 12:00:00"),
        "gforms": ("2026/03/01 10:00:00 AM GMT+1", "2026-03-01 09:00:00"),
        "gforms_pm": ("2026/03/02 2:30:05 PM GMT-3", "2026-03-02 17:30:05"),
        "gforms_half": ("2026/03/02 12:30:05 AM GMT+5:30", "2026-03-01 19:00:05"),
        "gforms_utc": ("2026/03/02 2:30:05 PM GMT", "2026-03-02 14:30:05"),
        "utc_offset": ("2026-03-01 12:00:00 UTC+05:30", "2026-03-01 06:30:00"),
        "utc_behind": ("2026-03-01 12:00:00 UTC-03:30", "2026-03-01 15:30:00"),
        "gmt_dashes": ("2026-03-01 12:00:00 GMT+5:30", "2026-03-01 06:30:00"),
        "lower_case": ("2026-03-01t12:00:00z", "2026-03-01 12:00:00"),
        "comma": ("2026-03-01T12:00:00,250Z", "2026-03-01 12:00:00.250"),
        "spaced_z": ("2026-03-01T12:00:00 Z", "2026-03-01 12:00:00"),
        "spaced_hours": ("2026-03-01 12:00:00 -08", "2026-03-01 20:00:00"),
    }
    unread = [
        "1/3/2026 12:00",
        "2026-03-01T12:00[Nowhere/Else]",
        "noon",
        "2026/03/01 10:00:00 AM GMT+25",  # no such offset
    ]
    rows = [*((k, v) for k, (v, _) in spellings.items())]
    rows += [(f"bad{i}", v) for i, v in enumerate(unread)]
    text = "event_id,ts,event,user_id\n" + "".join(f'{k},"{v}",x,u\n' for k, v in rows)
    summary = ws.import_files([write(tmp_path / "t.csv", text)], timezone="Europe/Stockholm")
    assert summary.rejected_by_reason == {"unparseable_timestamp": len(unread)}
    got = events(ws).set_index("event_id")["ts"].to_dict()
    assert got == {k: pd.Timestamp(utc) for k, (_, utc) in spellings.items()}


def test_an_offset_after_utc_is_read_whole_in_a_time_without_seconds(ws, tmp_path):
    # Without seconds, as with them: the offset's minutes count (not 07:00), GMT+1 is read,
    # and an offset no place has is still refused.
    spellings = {  # given: UTC
        "2026-01-05T12:00 UTC+05:30": "2026-01-05 06:30:00",
        "2026-01-05 12:00 UTC+05:30": "2026-01-05 06:30:00",
        "2026-01-05t12:00 UTC+05:30": "2026-01-05 06:30:00",
        "2026-01-05t12:00:00 UTC+05:30": "2026-01-05 06:30:00",
        "2026-01-05T12:00 UTC+0530": "2026-01-05 06:30:00",
        "2026-01-05T12:00 UTC-12:45": "2026-01-06 00:45:00",
        "2026-01-05T12:00 GMT+1": "2026-01-05 11:00:00",
        "2026-01-05 12:00 GMT-3": "2026-01-05 15:00:00",
        "2026-01-05T12:00 GMT+5:30": "2026-01-05 06:30:00",
        "2026-01-05T12:00 UTC": "2026-01-05 12:00:00",
        "2026-01-05 12:00 GMT": "2026-01-05 12:00:00",
        "2026-01-05 12:00Z": "2026-01-05 12:00:00",
        "2026-01-05t12:00z": "2026-01-05 12:00:00",
    }
    unread = ["2026-01-05T12:00 UTC+99:99", "2026-01-05T12:00 UTC+05:75", "2026-01-05 12:00 GMT+15"]
    given = [*spellings, *unread]
    text = "event_id,ts,event,user_id\n" + "".join(f"{i},{v},x,u\n" for i, v in enumerate(given))
    summary = ws.import_files([write(tmp_path / "t.csv", text)], timezone="Europe/Stockholm")
    assert summary.rejected_by_reason == {"unparseable_timestamp": len(unread)}
    stored = events(ws).set_index("event_id")["ts"].astype(str).to_dict()
    assert stored == {str(given.index(v)): utc for v, utc in spellings.items()}


IMPORTS = count()


def import_times(ws, tmp_path, times, **options):
    """Import ``times`` (one row each, in a file of their own): by time, the UTC time stored,
    else the rejected row's (reason, detail)."""
    name = f"times{next(IMPORTS)}"
    rows = "".join(f'{name}-{i},"{t}",x,u\n' for i, t in enumerate(times))
    path = write(tmp_path / f"{name}.csv", "event_id,ts,event,user_id\n" + rows)
    ws.import_files([path], **options)
    stored = events(ws).set_index("event_id")["ts"].to_dict()
    bad = rejected(ws).query("source.str.endswith(@path.name)").set_index("line")
    return {
        t: stored.get(f"{name}-{i}") or tuple(bad.loc[i + 2, ["reason", "detail"]])
        for i, t in enumerate(times)
    }


def assert_times_read(ws, tmp_path, read, unread=(), timezone="Europe/Oslo"):
    """Import the times ``read`` and ``unread`` and check that each of ``read`` is stored as
    the UTC time it maps to, and each of ``unread`` rejected as unparseable."""
    got = import_times(ws, tmp_path, [*read, *unread], timezone=timezone)
    assert {t: got[t] for t in read} == {t: pd.Timestamp(utc) for t, utc in read.items()}
    assert [got[t][0] for t in unread] == ["unparseable_timestamp"] * len(unread)


def test_an_offset_after_utc_is_read_to_its_seconds(ws, tmp_path):
    # UTC+05:30:00 was stored as 07:00 (DuckDB's cast reads the hours alone), without a word.
    read = {
        "2026-01-05 12:00:00 UTC+05:30:00": "2026-01-05 06:30:00",
        "2026-01-05 12:00 UTC+05:30:00": "2026-01-05 06:30:00",
        "2026-01-05T12:00:00 GMT+5:30:00": "2026-01-05 06:30:00",
        "2026-01-05 12:00:00 UTC-03:30:00": "2026-01-05 15:30:00",
        "2026-01-05 12:00:00 UTC+05:30:30": "2026-01-05 06:29:30",  # as +05:30:30 is read
        "2026/01/05 10:00:00 AM GMT+05:30:00": "2026-01-05 04:30:00",
    }
    unread = ["2026-01-05 12:00:00 UTC+05:30:60", "2026-01-05 12:00:00 UTC+14:00:01"]
    assert_times_read(ws, tmp_path, read, unread)


def test_utc_or_gmt_before_an_offset_is_read_in_any_case(ws, tmp_path):
    # Lower case (utc+05:30, gmt+1) was rejected, where UTC+05:30 and GMT+1 are read.
    read = {
        "2026-01-05 12:00:00 utc+05:30": "2026-01-05 06:30:00",
        "2026-01-05 12:00 utc+05:30": "2026-01-05 06:30:00",
        "2026-01-05 12:00:00 gmt+1": "2026-01-05 11:00:00",
        "2026-01-05 12:00 Gmt-3": "2026-01-05 15:00:00",
        "2026-01-05 12:00:00 Utc+0530": "2026-01-05 06:30:00",
        "2026/01/05 10:00:00 am gmt+1": "2026-01-05 09:00:00",
        "2026/01/05 2:30:05 pm gmt": "2026-01-05 14:30:05",
    }
    unread = ["2026-01-05 12:00:00 utc+15", "2026-01-05 12:00 gmt+05:75"]
    assert_times_read(ws, tmp_path, read, unread)


def test_mail_dates_without_seconds_are_read(ws, tmp_path):
    # RFC 2822 makes the seconds optional: such dates were rejected.
    read = {
        "Tue, 1 Jul 2025 10:00 +0000": "2025-07-01 10:00:00",
        "Tue, 01 Jul 2025 10:00 +0530": "2025-07-01 04:30:00",
        "1 Jul 2025 10:00 GMT": "2025-07-01 10:00:00",
        "1 Jul 2025 10:00 -0800": "2025-07-01 18:00:00",
        "Tue, 1 Jul 2025 10:00:30 +0000": "2025-07-01 10:00:30",
    }
    assert_times_read(ws, tmp_path, read)


def test_go_javascript_and_mail_times_with_a_zone_name_after_the_offset_are_read(ws, tmp_path):
    # The offset fixes the instant; the name after it (Go's default, JavaScript's
    # Date.toString(), a comment in a mail date) made these times unreadable.
    read = {
        "2025-07-01 10:00:00 +0000 UTC": "2025-07-01 10:00:00",  # Go
        "2025-07-01 10:00:00.123456789 +0000 UTC": "2025-07-01 10:00:00.123456",
        "2025-07-01 10:00:00.5 +0200 CEST m=+0.000123401": "2025-07-01 08:00:00.5",
        "2025-07-01 10:00:00 +0545 +0545": "2025-07-01 04:15:00",
        "2025-07-01 10:00:00 -0400 EDT": "2025-07-01 14:00:00",
        "Tue Jul 01 2025 10:00:00 GMT+0200 (Central European Summer Time)": "2025-07-01 08:00:00",
        "Tue Jul 01 2025 10:00:00 GMT+0530 (India Standard Time)": "2025-07-01 04:30:00",
        "Tue Jul 01 2025 10:00:00 GMT-0700 (Pacific Daylight Time)": "2025-07-01 17:00:00",
        "Tue, 1 Jul 2025 10:00:00 -0700 (PDT)": "2025-07-01 17:00:00",
        "2025-07-01 10:00:00 +05:30:00": "2025-07-01 04:30:00",
    }
    unread = [
        "2025-07-01 10:00:00 +9999 UTC",  # no such offset, whatever follows it
        "Tue Jul 01 2025 10:00:00 GMT+2400 (Nowhere)",
        "Tue, 1 Jul 2025 10:00:00 +0575 (UTC)",
    ]
    assert_times_read(ws, tmp_path, read, unread)
    details = rejected(ws)["detail"].tolist()
    assert all("offset from UTC is no real one" in detail for detail in details)


def test_times_with_a_space_before_the_offset_import_as_fast_as_iso(tmp_path):
    # Ruby's and git's 12:00:00 +0200 took DuckDB's cast a third of a millisecond per row to
    # fail before its respelling was read: 20k rows took about 7 s, against 0.3 s in ISO 8601.
    rows = 20_000

    def seconds(name: str, time: str) -> float:
        text = "ts,event,anonymous_id\n" + f"{time},x,a\n" * rows
        with init_workspace(tmp_path / name) as workspace:
            started = perf_counter()
            assert workspace.import_files([write(tmp_path / f"{name}.csv", text)]).stored == rows
            return perf_counter() - started

    iso = seconds("iso", "2026-03-01T12:00:00+02:00")
    assert seconds("ruby", "2026-03-01 12:00:00 +0200") < 3 * iso + 1


def test_abbreviations_duckdb_reads_as_other_zones_are_read_as_they_stand(ws, tmp_path):
    # DuckDB read these as the JDK's old ids: BST as Bangladesh (04:00 UTC), AST as Alaska,
    # NST as New Zealand, SST as the Solomon Islands, lower case too: hours off, without a word.
    read = {
        "2025-07-01 10:00:00 BST": "2025-07-01 09:00:00",
        "2025-07-01 10:00:00 bst": "2025-07-01 09:00:00",
        "2025-07-01T10:00:00.250 BST": "2025-07-01 09:00:00.250",
        "2025-07-01 10:00:00 AST": "2025-07-01 14:00:00",
        "2025-07-01 10:00:00 NST": "2025-07-01 13:30:00",
        "2025-07-01 10:00:00 SST": "2025-07-01 21:00:00",
    }
    assert_times_read(ws, tmp_path, read)


def test_abbreviations_duckdb_does_not_read_are_read_as_they_stand(ws, tmp_path):
    # Python's %Z, Java's Date.toString() and date wrote times that were rejected.
    read = {
        "2025-07-01 10:00:00 EDT": "2025-07-01 14:00:00",
        "2025-07-01 10:00 CEST": "2025-07-01 08:00:00",
        "2025-07-01 10:00:00 AEST": "2025-07-01 00:00:00",
        "2025/07/01 10:00:00 AM NZST": "2025-06-30 22:00:00",
        "Tue Jul 01 10:00:00 BST 2025": "2025-07-01 09:00:00",  # Java's Date.toString()
        "Tue Jul  1 10:00:00 EDT 2025": "2025-07-01 14:00:00",  # date
        "Tue Jul 01 10:00:00 UTC 2025": "2025-07-01 10:00:00",
        "Tue, 1 Jul 2025 10:00:00 EDT": "2025-07-01 14:00:00",  # mail
        "2025-07-01 10:00:00 +0800 CST": "2025-07-01 02:00:00",  # Go: the offset counts
    }
    assert_times_read(ws, tmp_path, read)


def test_an_abbreviation_of_several_offsets_is_read_only_in_a_zone_that_uses_it(ws, tmp_path):
    # CST was read as Chicago's, 14 hours off for a time written in China; IST as India's.
    times = ["2025-01-10 10:00:00 CST", "2025-07-01 10:00:00 CDT", "2025-07-01 10:00:00 IST"]
    got = import_times(ws, tmp_path, times)
    assert got[times[0]] == (
        "unparseable_timestamp",
        "cannot read '2025-01-10 10:00:00 CST': its zone's abbreviation 'CST' stands for -06:00 "
        "in North America, -05:00 in Cuba, +08:00 in China and Taiwan (import with --timezone "
        "naming the zone the times are in to read it as there)",
    )
    assert all("stands for" in got[t][1] for t in times)
    chicago = import_times(ws, tmp_path, times, timezone="America/Chicago")
    assert chicago[times[0]] == pd.Timestamp("2025-01-10 16:00:00")
    assert chicago[times[1]] == pd.Timestamp("2025-07-01 15:00:00")
    assert "stands for" in chicago[times[2]][1]
    shanghai = import_times(ws, tmp_path, times[:1], timezone="Asia/Shanghai")
    assert shanghai == {times[0]: pd.Timestamp("2025-01-10 02:00:00")}
    # In Moscow MSK has been +04:00 and +03:00: the time is read as Moscow's local time.
    moscow = ["2013-07-01 10:00:00 MSK", "2025-07-01 10:00:00 MSK"]
    got = import_times(ws, tmp_path, moscow, timezone="Europe/Moscow")
    assert list(got.values()) == [pd.Timestamp("2013-07-01 06:00"), pd.Timestamp("2025-07-01 7:00")]


def test_a_format_with_a_zone_name_reads_an_abbreviation_as_it_stands(ws, tmp_path):
    # DuckDB's %Z read BST as Bangladesh.
    times = ["01/07/2025 10:00 BST", "01/01/2025 10:00 GMT", "01/07/2025 10:00 CST"]
    got = import_times(ws, tmp_path, times, ts_format="%d/%m/%Y %H:%M %Z")
    assert got[times[0]] == pd.Timestamp("2025-07-01 09:00:00")
    assert got[times[1]] == pd.Timestamp("2025-01-01 10:00:00")
    assert "stands for -06:00 in North America" in got[times[2]][1]


def test_an_offset_no_place_has_is_rejected_not_misread(ws, tmp_path):
    # DuckDB reads +99:99 as 100 hours 39 minutes, +05:75 as 6:15: such rows are unreadable,
    # and the offsets places have, to +14:00 and -12:00 (and Nepal's +05:45), are read.
    impossible = ["+99:99", "+24:00", "+0575", "+25:00", "+05:75", "+14:01", "-1430", " UTC+15"]
    possible = {"+14:00": "2026-02-28 22:00:00", "-12:00": "2026-03-02 00:00:00"}
    possible |= {"+0545": "2026-03-01 06:15:00", " UTC-12:45": "2026-03-02 00:45:00"}
    given = [*impossible, *possible]
    text = "event_id,ts,event,user_id\n" + "".join(
        f"{i},2026-03-01T12:00:00{offset},x,u\n" for i, offset in enumerate(given)
    )
    summary = ws.import_files([write(tmp_path / "offsets.csv", text)], timezone="Europe/Oslo")
    assert summary.rejected_by_reason == {"unparseable_timestamp": len(impossible)}
    got = rejected(ws)
    assert got[["line", "field"]].values.tolist() == [[i + 2, "ts"] for i in range(len(impossible))]
    assert "offset from UTC is no real one" in got["detail"][0]
    stored = events(ws).set_index("event_id")["ts"].astype(str).to_dict()
    assert stored == {str(given.index(o)): utc for o, utc in possible.items()}
    # A format that reads an offset (%z) refuses them too.
    zoned = write(tmp_path / "z.csv", "ts,event,user_id\n01.03.2026 12:00 +9999,x,u\n")
    summary = ws.import_files([zoned], ts_format="%d.%m.%Y %H:%M %z")
    assert summary.rejected_by_reason == {"unparseable_timestamp": 1}


def test_a_timestamp_format_reads_local_and_offset_times(ws, tmp_path):
    # US month/day/year in the import's time zone; a row that does not follow the format is
    # rejected and says which format it did not follow.
    local = write(
        tmp_path / "us.csv",
        "event_id,ts,event,user_id\na,03/01/2026 12:00,x,u\nb,13/01/2026 12:00,x,u\n",
    )
    summary = ws.import_files([local], timezone="Europe/Stockholm", ts_format="%m/%d/%Y %H:%M")
    assert (summary.stored, summary.rejected_by_reason) == (1, {"unparseable_timestamp": 1})
    assert events(ws)["ts"].astype(str).tolist() == ["2026-03-01 11:00:00"]  # CET is UTC+1
    assert rejected(ws)["detail"].tolist() == [
        "cannot read '13/01/2026 12:00' with the format '%m/%d/%Y %H:%M'"
    ]
    # A format with an offset gives instants: the import's time zone does not apply.
    zoned = write(tmp_path / "z.csv", "event_id,ts,event,user_id\nc,01.03.2026 12:00 -0530,x,u\n")
    ws.import_files([zoned], timezone="Europe/Stockholm", ts_format="%d.%m.%Y %H:%M %z")
    got = events(ws).set_index("event_id")["ts"].astype(str).to_dict()
    assert got["c"] == "2026-03-01 17:30:00"


@pytest.mark.parametrize("native", [True, False])
def test_times_no_reading_understands_come_with_the_format_that_reads_them(
    tmp_path, monkeypatch, native
):
    # An orders export in US month/day/year: every row is rejected, and the summary names the
    # --ts-format that reads them; dates that fit day-first as well name both.
    text = "ts,event,user_id\n12/1/2010 8:26,purchase,17850\n12/13/2010 8:34,purchase,13047\n"
    unsure = "ts,event,user_id\n1/2/2026 10:00,purchase,1\n"
    with init_workspace(tmp_path / "ws") as workspace:
        if not native:
            monkeypatch.setattr(workspace.store, "sql_connection", lambda: None)
        summary = workspace.import_files([write(tmp_path / "orders.csv", text)])
        assert (summary.stored, summary.ts_format_hints) == (0, ["%m/%d/%Y %H:%M"])
        again = workspace.import_files([tmp_path / "orders.csv"], ts_format="%m/%d/%Y %H:%M")
        assert (again.stored, again.ts_format_hints) == (2, [])
        both = workspace.import_files([write(tmp_path / "unsure.csv", unsure)])
        assert both.ts_format_hints == ["%m/%d/%Y %H:%M", "%d/%m/%Y %H:%M"]
        assert both.to_dict()["ts_format_hints"] == both.ts_format_hints


@pytest.mark.parametrize("ts_format", ["day-month-year", "%Q"])
def test_an_unusable_timestamp_format_is_one_error_and_nothing_is_written(ws, tmp_path, ts_format):
    path = write(tmp_path / "e.csv", "ts,event,user_id\n01/03/2026,a,u\n")
    with pytest.raises(ImportFileError, match="Invalid --ts-format"):
        ws.import_files([path], ts_format=ts_format)
    assert ws.store.count("events") == ws.store.count("rejected") == 0


@pytest.mark.parametrize(
    ("name", "separator", "newline"),
    [("semi.csv", ";", "\r\n"), ("bar.csv", "|", "\n"), ("tab.txt", "\t", "\n")],
)
def test_the_field_separator_is_found_from_the_header(ws, tmp_path, name, separator, newline):
    # Spreadsheets in many locales save CSV with semicolons (here with a BOM and CRLF lines);
    # a comma inside a field does not fool the count.
    lines = [
        ["event_id", "ts", "event", "user_id", "campaign"],
        ["a", "2026-01-01T10:00:00Z", "pricing_view", "u1", "spring, north"],
        ["b", "2026-01-01T10:05:00Z", "purchase", "u1", ""],
    ]
    text = newline.join(separator.join(row) for row in lines) + newline
    path = write(tmp_path / name, "\ufeff" + text)
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (2, 0)
    frame = events(ws)
    assert frame["event"].tolist() == ["pricing_view", "purchase"]
    assert frame["campaign"].tolist()[0] == "spring, north"


@pytest.mark.parametrize("names", [[f"col_{i:05d}" for i in range(14_000)], ["n" * 140_000]])
def test_a_header_longer_than_pythons_csv_field_limit_is_read(ws, tmp_path, names):
    # Python's csv refuses a field over 131,072 characters: the whole header, split by a
    # separator it does not hold, or one long name.
    header = ",".join(["ts", "event", "user_id", *names])
    assert len(header) > 131_072
    path = write(tmp_path / "wide.csv", f"{header}\n2026-03-01 10:00:00,view,u1,1\n")
    with readers.open_file(path) as reader:
        assert reader.columns == ["ts", "event", "user_id", *names]
    if len(names) == 1:
        assert ws.import_files([path]).stored == 1


def test_excels_separator_line_names_the_separator_and_lines_count_from_it(ws, tmp_path):
    text = (
        "sep=;\r\nts;event;anonymous_id\r\n"
        "2026-01-05T10:00:00Z;a,b;x\r\n"  # a comma in a value: the named separator holds
        "2026-01-05T10:00:00Z;two;x;extra\r\n"
        'bad;"multi\r\nline";x\r\n'
        "2026-01-05T11:00:00Z;last;x\r\n"
    )
    summary = ws.import_files([write(tmp_path / "excel.csv", "\ufeff" + text)])
    assert summary.stored == 2
    assert sorted(events(ws)["event"]) == ["a,b", "last"]
    got = rejected(ws)[["line", "reason"]].values.tolist()
    assert got == [[4, "wrong_field_count"], [5, "unparseable_timestamp"]]


def test_comment_lines_above_the_header_are_skipped_and_lines_count_on(ws, tmp_path):
    # A report export's preamble (Google Analytics); a header whose first column is "#" stays.
    text = (
        "# ----------------------------------------\n# All Web Site Data\n# 20240101-20240131\n"
        "\nts,event,anonymous_id\n2026-01-05T10:00:00Z,a,x\nbad,b,x\n"
    )
    summary = ws.import_files([write(tmp_path / "report.csv", text)])
    assert (summary.stored, summary.rejected) == (1, 1)
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[7, "unparseable_timestamp"]]
    numbered = "#,ts,event,anonymous_id\n1,2026-01-05T11:00:00Z,c,x\n"
    assert ws.import_files([write(tmp_path / "numbered.csv", numbered)]).stored == 1
    assert json.loads(events(ws)["properties"].iloc[-1]) == {"#": "1"}


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
@pytest.mark.parametrize("preamble", ["", "# report\n\n"])
def test_blank_lines_in_a_csv_file_count_as_lines(ws, tmp_path, newline, preamble):
    # pyarrow skips blank lines; the rows after them are numbered as an editor shows them. A
    # blank line inside a quoted value is part of its row.
    lines = [
        "ts,event,anonymous_id,note",
        "2026-01-05T10:00:00Z,a,x,",
        "",
        "bad1,b,x,",  # line 4 below the header
        "",
        "",
        'bad2,c,x,"two',
        "",
        'lines"',
        "2026-01-05T10:01:00Z,d,x,,too many",  # line 10
        "",
        "bad3,e,x,",  # line 12
    ]
    text = preamble.replace("\n", newline) + newline.join(lines) + newline
    ws.import_files([write(tmp_path / "blank.csv", text)])
    skipped = preamble.count("\n")
    got = rejected(ws)[["line", "reason"]].values.tolist()
    assert got == [
        [4 + skipped, "unparseable_timestamp"],
        [7 + skipped, "unparseable_timestamp"],
        [10 + skipped, "wrong_field_count"],
        [12 + skipped, "unparseable_timestamp"],
    ]


def test_a_reports_title_lines_above_the_header_are_skipped_and_lines_count_on(ws, tmp_path):
    # A BI tool's CSV export: a title, a date range (quoted: its comma is no separator), a
    # blank line, then the table. A file of one column keeps its first line as the header.
    text = (
        'Customer events export\n"Jan 1, 2024 - Jan 31, 2024"\n\n'
        "Timestamp;Event Name;Customer ID\n2026-01-05 10:00:00;view;1001\nlater;view;1002\n"
    )
    summary = ws.import_files([write(tmp_path / "report.csv", text)])
    assert (summary.stored, summary.rejected) == (1, 1)
    assert events(ws)["person_id"].tolist() == ["1001"]
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[6, "unparseable_timestamp"]]
    with pytest.raises(
        ImportFileError, match=r"missing required column 'ts'\. Found columns: event"
    ):
        ws.import_files([write(tmp_path / "one.csv", "event\nview\nbuy\n")])


def test_commas_in_the_header_keep_the_comma_separator(ws, tmp_path):
    path = write(
        tmp_path / "e.csv",
        'ts,event,user_id,"note; more"\n2026-01-01T10:00:00Z,a,u1,"x; y"\n',
    )
    ws.import_files([path])
    assert json.loads(events(ws)["properties"][0]) == {"note; more": "x; y"}


@pytest.mark.parametrize(("separator", "called"), [(";", "semicolon"), ("\t", "tab")])
def test_the_separator_that_splits_the_rows_as_the_header_beats_commas_in_a_name(
    ws, tmp_path, separator, called
):
    # Split at its commas, the header has as many names as at its real separator.
    name = "Belopp (SEK, inkl. moms, exkl. frakt, netto)"
    rows = [["ts", "event", "user_id", name], ["2026-03-01 10:00:00", "view", "u1", "12,50"]]
    text = "".join(separator.join(row) + "\n" for row in rows)
    assert ws.import_files([write(tmp_path / "e.csv", text)]).stored == 1
    assert json.loads(events(ws)["properties"][0]) == {name: "12,50"}
    header = write(tmp_path / "header.csv", text.splitlines()[0])  # no rows to tell
    with pytest.raises(
        ImportFileError,
        match=r"missing required column 'ts'.* split at each comma into 4 columns; split at "
        f"each {called}, it has a column 'ts'",
    ):
        ws.import_files([header])


def test_a_decimal_comma_is_read_when_asked_and_never_guessed(ws, tmp_path):
    rows = ["12,50", "1.234,50", "7", "12.50", "1,234"]
    text = "event_id;ts;event;user_id;revenue\n" + "".join(
        f"r{i};2026-01-01T10:0{i}:00Z;purchase;u1;{value}\n" for i, value in enumerate(rows)
    )
    path = write(tmp_path / "eu.csv", text)
    ws.import_files([path])
    plain = events(ws).set_index("event_id")["revenue"].to_dict()
    assert plain == {"r2": 7.0, "r3": 12.5}  # a comma is never taken for a decimal point
    first = rejected(ws).set_index("line")["detail"].to_dict()
    assert first[2] == "cannot read '12,50' as a number (import with --decimal-comma?)"
    assert sorted(first) == [2, 3, 6]

    with init_workspace(tmp_path / "eu", template="four_stage_delight") as european:
        summary = european.import_files([path], decimal_comma=True)
        got = events(european).set_index("event_id")["revenue"].to_dict()
        assert got == {"r0": 12.5, "r1": 1234.5, "r2": 7.0, "r4": 1.234}
        assert summary.rejected_by_reason == {"invalid_revenue": 1}
        assert rejected(european)["detail"].tolist() == [
            "cannot read '12.50' as a number with a decimal comma (1.234,50)"
        ]


def test_a_decimal_comma_never_misreads_numbers_a_file_types(ws, tmp_path):
    # A CSV in a decimal-comma locale imported with a JSON export and a workbook: JSON numbers
    # and number cells are numbers (0.125 is no 125), text is read with the comma.
    from openpyxl import Workbook

    segment = '{{"messageId": "{}", "type": "track", "event": "Order Completed", '
    segment += '"userId": "u1", "timestamp": "2026-01-05T10:00:00Z", {}}}\n'
    lines = [
        segment.format("j1", '"properties": {"revenue": 12.345, "currency": "KWD"}'),
        segment.format("j2", '"properties": {"revenue": 0.125}'),
        segment.format("j3", '"properties": {"revenue": 19.99}, "price": 2.499'),
        segment.format("j4", '"properties": {"revenue": "1.234,50"}, "price": 3'),
    ]
    json_file = write(tmp_path / "export.jsonl", "".join(lines))
    csv_file = write(
        tmp_path / "calls.csv",
        "event_id;user_id;ts;event;revenue\nc1;u9;2026-01-05 10:00;call;1 234,50\n",
    )
    book = Workbook()
    book.active.append(["event_id", "user_id", "ts", "event", "revenue"])
    book.active.append(["x1", "k1", datetime(2026, 1, 5, 10), "call", 0.125])
    book.active.append(["x2", "k2", datetime(2026, 1, 5, 10), "call", 12.5])
    book.active.append(["x3", "k3", datetime(2026, 1, 5, 10), "call", "1 234,50"])
    book.save(tmp_path / "amounts.xlsx")
    files = [csv_file, json_file, tmp_path / "amounts.xlsx"]
    summary = ws.import_files(files, decimal_comma=True)
    assert (summary.stored, summary.rejected) == (8, 0)
    stored = events(ws).set_index("event_id")
    assert stored["revenue"].to_dict() == {
        "c1": 1234.5,
        "j1": 12.345,
        "j2": 0.125,
        "j3": 19.99,
        "j4": 1234.5,
        "x1": 0.125,
        "x2": 12.5,
        "x3": 1234.5,
    }
    # A top-level JSON number kept in properties stays that number.
    assert json.loads(stored.loc["j3", "properties"])["price"] == 2.499


def test_a_time_format_reads_text_beside_a_workbooks_date_cells(ws, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["user_id", "ts", "event"])
    book.active.append(["k1", datetime(2026, 1, 5, 10, 0), "call"])
    book.active.append(["k2", "06/01/2026 10:00", "call"])
    book.active.append(["k3", datetime(2026, 1, 7, 10, 0, 30), "call"])  # its seconds: ISO
    book.save(tmp_path / "dates.xlsx")
    summary = ws.import_files([tmp_path / "dates.xlsx"], ts_format="%d/%m/%Y %H:%M")
    assert (summary.stored, summary.rejected) == (2, 1)
    stored = events(ws).set_index("person_id")["ts"].astype(str).to_dict()
    assert stored == {"k1": "2026-01-05 10:00:00", "k2": "2026-01-06 10:00:00"}
    assert "2026-01-07T10:00:30" in rejected(ws)["detail"].iloc[0]


def test_revenue_written_with_its_currency_is_read(ws, tmp_path):
    # A shop's export writes amounts as money: each purchase was rejected as an unreadable
    # number. A code or a symbol of one currency names the currency when the row has none.
    rows = [
        ("$12.50", ""),
        ("$1,234.00", ""),
        ("12.50 USD", ""),
        ("€9.99", ""),
        ("US$ 20", ""),
        ("99 kr", ""),
        ("£5", "EUR"),  # the row's own currency wins
        ("-$5", ""),
        ("1,234", ""),
        ("12 apples", ""),
    ]
    text = "event_id,ts,event,user_id,revenue,currency\n" + "".join(
        f'r{i},2026-01-01T10:{i:02d}:00Z,purchase,u1,"{amount}",{currency}\n'
        for i, (amount, currency) in enumerate(rows)
    )
    summary = ws.import_files([write(tmp_path / "orders.csv", text)])
    assert summary.rejected_by_reason == {"invalid_revenue": 2, "negative_revenue": 1}
    stored = events(ws).set_index("event_id")
    assert stored["revenue"].to_dict() == {
        "r0": 12.5,
        "r1": 1234.0,
        "r2": 12.5,
        "r3": 9.99,
        "r4": 20.0,
        "r5": 99.0,
        "r6": 5.0,
    }
    currencies = stored["currency"].to_dict()
    assert currencies == {
        "r0": None,
        "r1": None,
        "r2": "USD",
        "r3": "EUR",
        "r4": "USD",
        "r5": None,
        "r6": "EUR",
    }
    assert rejected(ws)["line"].tolist() == [9, 10, 11]  # -$5 negative; 1,234 and apples unread
    euro = 'event_id,ts,event,user_id,revenue\ne1,2026-01-02T10:00:00Z,purchase,u1,"1.234,50 €"\n'
    ws.import_files([write(tmp_path / "eu.csv", euro)], decimal_comma=True)
    assert events(ws).set_index("event_id").loc["e1", ["revenue", "currency"]].tolist() == [
        1234.5,
        "EUR",
    ]


@pytest.mark.parametrize(
    ("decimal_comma", "amounts"),
    [
        (True, ["1 234,50", "1\u00a0234,50 kr", "1\u202f234,50\u00a0€", "-2 345 678,5"]),
        (False, ["1 234.50", "1\u00a0234.50 USD", "$1\u202f234.50", "-2 345 678.5"]),
    ],
)
def test_spaces_between_thousands_are_read_and_other_spaces_are_not(
    ws, tmp_path, decimal_comma, amounts
):
    # Swedish and French locales group thousands with a space, often a no-break one; "1 2"
    # and "12 34" are no groups of three digits: unread, not guessed.
    values = [*amounts, "1 2", "12 34", "1234 567"]
    text = "ts;event;user_id;revenue\n" + "".join(
        f"2026-01-01T10:{i:02d}:00Z;purchase;u{i};{value}\n" for i, value in enumerate(values)
    )
    summary = ws.import_files([write(tmp_path / "sv.csv", text)], decimal_comma=decimal_comma)
    assert summary.rejected_by_reason == {"invalid_revenue": 3, "negative_revenue": 1}
    assert events(ws)["revenue"].tolist() == [1234.5, 1234.5, 1234.5]
    assert rejected(ws)["line"].tolist() == [5, 6, 7, 8]


def test_markup_and_sql_looking_text_is_stored_as_given(ws, tmp_path):
    nasty_event = "<script>alert('x')</script>"
    nasty_id = "u'; DROP TABLE events; --"
    table = pa.table(
        {"ts": ["2026-01-01T10:00:00Z"], "event": [nasty_event], "user_id": [nasty_id]}
    )
    path = tmp_path / "nasty.parquet"
    pq.write_table(table, path)
    ws.import_files([path])
    frame = events(ws)
    assert frame["event"].tolist() == [nasty_event]
    assert frame["person_id"].tolist() == [nasty_id]
    assert ws.store.count("events") == 1


def test_a_ten_megabyte_field_rejects_only_its_row(ws, tmp_path):
    huge = "x" * (10 * 1024 * 1024)
    path = write(
        tmp_path / "big.csv",
        HEADER + f"2026-01-01T10:00:00Z,{huge},a,,\n2026-01-01T10:00:00Z,fine,a,,\n",
    )
    summary = ws.import_files([path])
    assert summary.stored == 1
    bad = rejected(ws)
    assert bad["reason"].tolist() == ["field_too_long"]
    assert bad["field"].tolist() == ["event"]
    assert len(bad["row"][0]) <= 65_536


def test_properties_too_long_name_the_column_that_holds_the_most(ws, tmp_path):
    # Unknown columns are kept in properties: its limit names the file's column, not
    # "properties"; a flattened export's column by its name, the file's own properties as such.
    ws.config = dataclasses.replace(ws.config, max_properties_chars=100)
    save_config(ws.config, ws.path)
    long = "p" * 98
    plain = write(
        tmp_path / "plain.csv",
        f"ts,event,user_id,plan,country\n2026-03-01T10:00:00Z,x,u,{long},se\n"
        "2026-03-01T10:00:00Z,x,u,pro,se\n",
    )
    flat = write(
        tmp_path / "flat.csv",
        f"ts,event,user_id,properties.plan,properties.x\n2026-03-01T10:00:00Z,x,u,{long},1\n",
    )
    row = {"ts": "2026-03-01T10:00:00Z", "event": "x", "user_id": "u"}
    own = write(
        tmp_path / "own.jsonl",
        "".join(json.dumps({**row, "properties": p}) + "\n" for p in ({"plan": long}, [long])),
    )
    summary = ws.import_files([plain, flat, own])
    assert (summary.stored, summary.rejected_by_reason) == (1, {"field_too_long": 4})
    got = rejected(ws)
    assert got["field"].tolist() == ["properties.plan", "properties", "properties", "plan"]
    assert got["detail"].tolist()[2:] == [
        "properties has 102 characters; the limit is 100",  # a list: no member to name
        "properties has 124 characters, 100 of them in plan; the limit is 100",
    ]


def test_latin1_lines_in_a_utf8_file_are_rejected_and_the_rest_kept(ws, tmp_path):
    good = HEADER + "2026-01-01T10:00:00Z,café_visit,a,,\n"
    bad = "2026-01-01T10:00:00Z,caf\xe9_latin1,a,,\n".encode("latin-1")
    path = tmp_path / "mixed.csv"
    path.write_bytes(good.encode("utf-8") + bad + b"2026-01-01T11:00:00Z,after,a,,\n")
    summary = ws.import_files([path])
    assert summary.stored == 2
    assert sorted(events(ws)["event"]) == ["after", "café_visit"]
    got = rejected(ws)
    assert got[["line", "reason"]].values.tolist() == [[3, "invalid_encoding"]]
    assert "\\xe9" in got["row"][0]


def test_gzipped_files_import_as_their_contents(ws, tmp_path):
    # Exports often come gzipped (Segment's, Amplitude's): each is read through a copy in the
    # workspace, which goes when the import ends, whatever happens.
    good = HEADER + "2026-01-01T10:00:00Z,café_visit,a,,\n"
    bad = "2026-01-01T10:00:00Z,caf\xe9_latin1,a,,\n".encode("latin-1")
    mixed = tmp_path / "mixed.csv.gz"
    mixed.write_bytes(gzip.compress(good.encode() + bad + b"2026-01-01T11:00:00Z,after,a,,\n"))
    line = '{"ts": "2026-01-01T12:00:00Z", "event": "from_json", "anonymous_id": "a"}\n'
    lines = tmp_path / "export.jsonl.gz"
    lines.write_bytes(gzip.compress((line + "not json\n").encode()))
    summary = ws.import_files([mixed, lines])
    assert (summary.stored, summary.rejected) == (3, 2)
    assert sorted(events(ws)["event"]) == ["after", "café_visit", "from_json"]
    got = rejected(ws).sort_values("source")
    assert got[["source", "line", "reason"]].values.tolist() == [
        [str(lines), 2, "invalid_json"],
        [str(mixed), 3, "invalid_encoding"],
    ]
    segment = tmp_path / "1490929283385.e7f8d66d-5a55-4e6f-8e1f-a7ad8bef7a5b.gz"  # S3's naming
    segment.write_bytes(gzip.compress(line.replace("from_json", "from_s3").encode()))
    assert ws.import_files([segment]).stored == 1
    unknown = tmp_path / "notes.2026.gz"
    unknown.write_bytes(gzip.compress(b"plain text\n"))
    with pytest.raises(ImportFileError, match="unknown file type"):
        ws.import_files([unknown])
    broken = tmp_path / "cut.csv.gz"
    broken.write_bytes(gzip.compress(good.encode())[:-12])  # cut short
    not_gzip = tmp_path / "plain.csv.gz"
    not_gzip.write_text(good)
    for path in (broken, not_gzip):
        with pytest.raises(ImportFileError, match=rf"{path.name}: not a readable gzip file"):
            ws.import_files([mixed, path])
    assert ws.store.count("events") == 4
    leftovers = [p.name for p in ws.path.iterdir() if p.name.startswith("journeylens-")]
    assert leftovers == []


def test_a_compressed_file_named_without_its_compression_is_read_by_its_first_bytes(ws, tmp_path):
    # Exports often come gzipped under their plain name (``gzip -c a.csv > b.csv``), or zipped.
    text = HEADER + "2026-01-01T10:00:00Z,first,a,,\nyesterday,bad,a,,\n"
    csv_file = tmp_path / "b.csv"
    csv_file.write_bytes(gzip.compress(text.encode()))
    line = '{"ts": "2026-01-01T12:00:00Z", "event": "from_json", "anonymous_id": "a"}\n'
    jsonl = tmp_path / "b.jsonl"
    jsonl.write_bytes(gzip.compress(line.encode()))
    zipped = tmp_path / "export.csv"
    with zipfile.ZipFile(zipped, "w") as packed:
        packed.writestr("day1.csv", HEADER + "2026-01-02T10:00:00Z,zipped,a,,\n")
    summary = ws.import_files([csv_file, jsonl, zipped])
    assert (summary.stored, summary.rejected) == (3, 1)
    assert sorted(events(ws)["event"]) == ["first", "from_json", "zipped"]
    assert rejected(ws)[["source", "line", "reason"]].values.tolist() == [
        [str(csv_file), 3, "unparseable_timestamp"]
    ]
    assert summary.notes == [
        f"{zipped}: the file is a zip archive, though its name does not end in .zip; the "
        "files it holds were read.",
        f"{csv_file}: the file is gzip-compressed, though its name does not end in .gz; it "
        "was read decompressed.",
        f"{jsonl}: the file is gzip-compressed, though its name does not end in .gz; it was "
        "read decompressed.",
    ]
    assert [p.name for p in ws.path.iterdir() if p.name.startswith("journeylens-")] == []


def test_a_file_compressed_in_a_way_import_does_not_read_is_refused_naming_it(ws, tmp_path):
    import bz2
    import lzma

    from openpyxl import Workbook

    text = (HEADER + "2026-01-01T10:00:00Z,first,a,,\n").encode()
    book = Workbook()
    book.active.append(["ts", "event", "user_id"])
    book.save(tmp_path / "sheet.xlsx")
    frame = pd.DataFrame({"ts": ["2026-01-01"], "event": ["e"], "user_id": ["u"]})
    parquet = write_frame(frame, tmp_path / "plain.parquet")
    cases = {
        "b.csv": (bz2.compress(text), "bzip2-compressed, which journeylens does not"),
        "x.jsonl": (lzma.compress(text), "xz-compressed, which journeylens does not"),
        "e.parquet": (gzip.compress(parquet.read_bytes()), "gzip-compressed; a Parquet file"),
        "e.parquet.gz": (gzip.compress(parquet.read_bytes()), "gzip-compressed; a Parquet"),
        "s.xlsx": (gzip.compress((tmp_path / "sheet.xlsx").read_bytes()), "gzip-compressed; an"),
    }
    for name, (data, message) in cases.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ImportFileError, match=rf"{name}: the file is {message}"):
            ws.import_files([tmp_path / name])
    # A workbook is a zip archive, and reads as a workbook; a Parquet file as Parquet.
    assert ws.import_files([tmp_path / "sheet.xlsx", parquet]).notes == []
    assert ws.store.count("events") == 1


@pytest.mark.parametrize("way", ["csv", "parquet", "arrow"])
def test_identical_rows_of_one_file_are_all_kept_and_reimports_store_nothing(
    tmp_path, monkeypatch, way
):
    """A file without ids may repeat a row (a double click within the second, a shop's log
    going back to a product): every copy is an event. The same rows in another file, or the
    file imported again, are the same events."""
    rows = [
        ("2026-01-01 10:00:00", "product_view", "u"),
        ("2026-01-01 10:00:00", "review_page", "u"),
        ("2026-01-01 10:00:00", "product_view", "u"),
        ("2026-01-01 10:00:05", "add_to_cart", "u"),
        ("2026-01-01 10:00:05", "add_to_cart", "u"),
        ("2026-01-01 10:00:05", "add_to_cart", "u"),
    ]
    frame = pd.DataFrame(rows, columns=["timestamp", "event", "user_id"])
    path = write_frame(frame, tmp_path / ("log.csv" if way == "csv" else "log.parquet"))
    overlap = tmp_path / "overlap.csv"
    frame.iloc[3:].to_csv(overlap, index=False)  # the three add_to_cart rows, exported again
    with init_workspace(tmp_path / "ws", template="four_stage_delight") as workspace:
        if way == "arrow":
            monkeypatch.setattr(workspace.store, "sql_connection", lambda: None)
        summary = workspace.import_files([path])
        assert (summary.stored, summary.duplicates_in_files) == (6, 0)
        stored = workspace.events.order_by("person_seq").execute()
        assert stored["event"].tolist() == [r[1] for r in rows]
        assert stored["event_id"].nunique() == 6
        assert set(stored["event_id"].str.len()) == {32}
        again = workspace.import_files([path, overlap])
        assert (again.stored, again.duplicates_in_files, again.already_stored) == (0, 3, 6)
        both = init_workspace(tmp_path / "both", template="four_stage_delight")
        with both:
            first = both.import_files([overlap, path])
            assert (first.stored, first.duplicates_in_files) == (6, 3)
            ids = both.events.order_by("person_seq").execute()["event_id"].tolist()
        assert ids == stored["event_id"].tolist()


@pytest.mark.parametrize("second", ["csv", "parquet"])
def test_files_imported_together_are_received_in_the_order_given(tmp_path, second):
    # A row without a receipt time is received at the import's time plus a microsecond per
    # line, the lines of the files before it counted first: a view in one file and a purchase
    # in the next at the same second keep the files' order, however long each file is.
    views = write(
        tmp_path / "views.csv",
        "ts,event,user_id\n" + "".join(f"2026-01-01T10:00:0{i}Z,view,u{i}\n" for i in range(3)),
    )
    orders = pd.DataFrame({"ts": ["2026-01-01T10:00:00Z"] * 2, "event": "buy", "user_id": "u0"})
    path = write_frame(orders, tmp_path / f"orders.{second}")
    with init_workspace(tmp_path / "ws") as workspace:
        workspace.import_files([views, path])
        stored = workspace.events.order_by("received_at").execute()
    offsets = (stored["received_at"] - stored["received_at"].min()).dt.total_seconds() * 1e6
    # views.csv: lines 2-4; then orders: after views.csv's last line (4), its own lines.
    first = 2 if second == "csv" else 1  # a Parquet row's line is its number, from 1
    assert stored["event"].tolist() == ["view"] * 3 + ["buy"] * 2
    assert offsets.round().astype(int).tolist() == [0, 1, 2, 2 + first, 3 + first]
    person = stored[stored["person_id"] == "u0"].sort_values("person_seq")
    assert person["event"].tolist() == ["view", "buy", "buy"]


def test_an_id_written_as_a_float_is_the_whole_number(tmp_path):
    # pandas writes a column of customer ids with gaps as floats (UCI's Online Retail: 17850.0):
    # the same customer as 17850 in another file. Other ids keep their text.
    frame = pd.DataFrame(
        {
            "ts": ["2026-01-01T10:00:00Z"] * 5,
            "event": ["a", "b", "c", "d", "e"],
            "user_id": [17850.0, None, -3.0, 2.0, 7.0],
            "anonymous_id": ["x", "y", "1.05", "A1.0", "v2.0"],
        }
    )
    for suffix in ("csv", "parquet"):
        with init_workspace(tmp_path / suffix) as workspace:
            workspace.import_files([write_frame(frame, tmp_path / f"orders.{suffix}")])
            stored = events(workspace).sort_values("event")
        assert stored["user_id"].tolist() == ["17850", None, "-3", "2", "7"]
        assert stored["anonymous_id"].tolist() == ["x", "y", "1.05", "A1.0", "v2.0"]


def test_a_directory_imports_its_data_files_in_name_order(ws, tmp_path):
    # Segment's S3 folders by day, Spark's part files: every data file below, none other.
    root = tmp_path / "exports"
    line = '{{"ts": "2026-01-0{0}T10:00:00Z", "event": "{1}", "anonymous_id": "a", "id": "e"}}\n'
    for day, name in ((2, "second"), (1, "first")):
        folder = root / f"2026-01-0{day}"
        folder.mkdir(parents=True)
        packed = folder / f"1490929283385.{name}.gz"  # S3's naming: no type
        packed.write_bytes(gzip.compress(line.format(day, name).encode()))
    (root / "part-0.csv").write_text(HEADER + "2026-01-03T10:00:00Z,third,a,,\n")
    for skipped in ("_SUCCESS", ".part-0.csv.crc", "README.txt", "_tmp/x.csv"):
        (root / skipped).parent.mkdir(exist_ok=True)
        (root / skipped).write_text("not data\n")
    summary = ws.import_files([root])
    assert (summary.stored, summary.duplicates_in_files) == (2, 1)  # "e" twice: the first wins
    assert sorted(events(ws)["event"]) == ["first", "third"]
    empty = tmp_path / "empty"
    (empty / "_logs").mkdir(parents=True)
    with pytest.raises(ImportFileError, match="empty: a directory without a file to import"):
        ws.import_files([empty])


def test_a_file_in_another_encoding_is_refused_not_stored_as_mojibake(ws, tmp_path):
    text = HEADER + "".join(f"2026-01-01T10:00:0{i}Z,köp_{i},å{i},,\n" for i in range(5))
    path = write(tmp_path / "latin.csv", "ts,évènement,anonymous_id\n" + text, "latin-1")
    with pytest.raises(ImportFileError, match="not UTF-8"):
        ws.import_files([path])
    assert ws.store.count("events") == 0


@pytest.mark.parametrize("rows", [["café Åsa"], ["café Åsa", "Göteborg", "plain", "Malmö"]])
def test_a_cp1252_file_is_refused_as_cp1252_whatever_its_rows(ws, tmp_path, rows):
    # Swedish text reads in cp1250 too ("Ĺsa"): the hint names cp1252, whose reading differs
    # only in Western European letters; one row in cp1252 is no UTF-8 file with a bad line.
    text = "timestamp,event,user_id,note\n" + "".join(
        f"2026-03-01T10:0{i}:00Z,view,u-{i},{note}\n" for i, note in enumerate(rows)
    )
    path = write(tmp_path / "cp1252.csv", text, "cp1252")
    with pytest.raises(ImportFileError, match=r"not UTF-8 text \(it looks like cp1252;"):
        ws.import_files([path])
    assert ws.store.count("events") == ws.store.count("rejected") == 0
    assert ws.import_files([path], encoding="cp1252").stored == len(rows)
    notes = [json.loads(p)["note"] for p in events(ws)["properties"]]
    assert notes == rows


def test_central_european_text_is_not_taken_for_cp1252():
    from journeylens.collect.encoding import _western

    assert _western("Åsa, Göteborg, café".encode("cp1252"), "cp1250")
    assert not _western("Łódź, zażółć gęślą jaźń".encode("cp1250"), "cp1250")
    assert not _western("Příliš žluťoučký kůň".encode("cp1250"), "cp1250")  # no cp1252 ť
    assert not _western("日本語".encode("shift_jis"), "shift_jis")


def test_an_explicit_encoding_is_decoded(ws, tmp_path):
    path = write(tmp_path / "cp.csv", HEADER + "2026-01-01T10:00:00Z,köp,å,,\n", "cp1252")
    ws.import_files([path], encoding="cp1252")
    assert events(ws)["event"].tolist() == ["köp"]


def test_utf16_with_bom_is_read(ws, tmp_path):
    path = write(tmp_path / "u16.csv", HEADER + "2026-01-01T10:00:00Z,日本,a,,\n", "utf-16")
    ws.import_files([path])
    assert events(ws)["event"].tolist() == ["日本"]


def test_unknown_columns_are_kept_in_properties(ws, tmp_path):
    path = write(tmp_path / "p.csv", "ts,event,user_id,plan,color\n2026-01-01,x,u,pro,\n")
    ws.import_files([path])
    # An empty value is an absent property.
    assert json.loads(events(ws)["properties"][0]) == {"plan": "pro"}


def lines_file(path: Path, rows: list[dict[str, str | None]]) -> Path:
    """``rows`` (of text values) as the CSV, JSON Lines, JSON array, XES, workbook or Parquet
    file ``path``: each row on its own line, under a header where the format has one."""
    suffix = path.suffix
    if suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif suffix == ".json":
        path.write_text("[\n" + ",\n".join(json.dumps(row) for row in rows) + "\n]\n")
    elif suffix == ".xes":
        attributes = (
            "".join(f'<string key="{k}" value="{v}"/>' for k, v in row.items()) for row in rows
        )
        tags = "".join(f"<event>{event}</event>\n" for event in attributes)
        path.write_text(f'<?xml version="1.0"?>\n<log><trace>\n{tags}</trace></log>\n')
    elif suffix == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        book.active.append(list(rows[0]))
        for row in rows:
            book.active.append(list(row.values()))
        book.save(path)
    elif suffix == ".parquet":
        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        write_frame(pd.DataFrame(rows), path)
    return path


@pytest.mark.parametrize(
    ("suffix", "row_group_size"), [("parquet", 1), ("parquet", 100), ("csv", 0), ("jsonl", 0)]
)
def test_columns_named_alike_but_for_case_are_both_kept_as_given(
    ws, tmp_path, suffix, row_group_size
):
    # DuckDB tells names apart without case: the store's own scan of such a Parquet file
    # stopped with "Duplicate struct entry name".
    rows = [
        {"ts": "2026-03-04T10:00:00Z", "event": "view", "user_id": "u", "USER_ID": "U"}
        | {"Plan": "A", "plan": "b"},
        {"ts": "2026-03-04T10:01:00Z", "event": "buy", "user_id": "u", "USER_ID": None}
        | {"Plan": "C", "plan": None},
    ]
    path = tmp_path / f"alike.{suffix}"
    if suffix == "parquet":  # in one row group, or many (which the store scans in ranges)
        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=row_group_size)
    else:
        lines_file(path, rows)
    assert ws.import_files([path]).stored == 2
    frame = events(ws)
    assert frame["user_id"].tolist() == ["u", "u"]
    assert frame["properties"].map(json.loads).tolist() == [
        {"USER_ID": "U", "Plan": "A", "plan": "b"},
        {"Plan": "C"},
    ]


def test_only_parquet_files_the_store_cannot_tell_apart_are_arranged_in_python(tmp_path):
    # The store's own scan is the fast way: a file without such names keeps it.
    from journeylens.collect.importer import _scannable
    from journeylens.collect.readers import open_file

    def scannable(*names: str) -> bool:
        path = tmp_path / "names.parquet"
        pq.write_table(pa.table({name: ["x"] for name in ("ts", "event", *names)}), path)
        with open_file(path) as reader:
            return _scannable(reader)

    assert scannable("user_id", "plan", "line", "Straße")
    assert not scannable("user_id", "Plan", "plan")
    assert not scannable("user_id", "USER_ID")
    assert not scannable("user_id", "_line")
    assert not scannable("user_id", "_LINE")
    assert not scannable("user_id", "__line")
    assert not scannable("user_id", "FILE_ROW_NUMBER")


@pytest.mark.parametrize(
    ("suffix", "second_line"),
    [("csv", 3), ("xlsx", 3), ("parquet", 2), ("jsonl", 2), ("json", 2), ("xes", 4)],
)
def test_a_column_named_line_is_kept_and_lines_still_count(ws, tmp_path, suffix, second_line):
    # ``_line`` is the readers' own column for a row's line: a file's stopped the import with
    # "Field "_line" exists 2 times", or lost its value.
    rows = [
        {"ts": "2026-03-04T10:00:00Z", "event": "view", "user_id": "u", "_line": "7"}
        | {"__line": "x"},
        {"ts": "not a time", "event": "view", "user_id": "u", "_line": "8", "__line": "y"},
    ]
    path = lines_file(tmp_path / f"lines.{suffix}", rows)
    summary = ws.import_files([path])
    assert (summary.stored, summary.rejected) == (1, 1)
    assert json.loads(events(ws)["properties"][0]) == {"_line": "7", "__line": "x"}
    bad = rejected(ws)
    assert bad["line"].tolist() == [second_line]
    assert json.loads(bad["row"][0])["_line"] == "8"


def test_a_column_named_line_can_be_mapped(ws, tmp_path):
    path = write(tmp_path / "m.csv", "ts,_line,user_id\n2026-01-01,signup,u\n")
    ws.import_files([path], mapping={"event": "_line"})
    assert events(ws)["event"].tolist() == ["signup"]


def test_map_renames_source_columns(ws, tmp_path):
    path = write(tmp_path / "m.csv", "created,name,customer\n2026-01-01,x,u\n")
    ws.import_files([path], mapping={"ts": "created", "event": "name", "user_id": "customer"})
    assert events(ws)["person_id"].tolist() == ["u"]


def test_map_to_a_missing_column_names_it(ws, tmp_path):
    path = write(tmp_path / "m.csv", "created,event,user_id\n2026-01-01,x,u\n")
    with pytest.raises(ImportFileError, match="no column 'createdd'"):
        ws.import_files([path], mapping={"ts": "createdd"})
    with pytest.raises(ImportFileError, match=r"'time' is not a column of the events table\."):
        ws.import_files([path], mapping={"time": "created"})


def test_stage_by_label_in_any_language_and_unknown_stage_rejected(ws, tmp_path):
    path = write(
        tmp_path / "s.csv",
        "ts,event,user_id,stage\n"
        "2026-01-01,unmapped_a,u,Medvetenhet\n"
        "2026-01-01,unmapped_b,u,nowhere\n",
    )
    ws.import_files([path])
    assert events(ws)["stage"].tolist() == ["awareness"]
    bad = rejected(ws)
    assert bad["reason"].tolist() == ["unknown_stage"]
    assert bad["detail"][0] == (
        "unknown stage 'nowhere'; known: awareness, consideration, decision, delight, or their "
        "labels in en, sv, nb, fi, ro, zh (any case)"
    )


def test_a_decomposed_label_names_its_stage_as_the_composed_one_does(ws, tmp_path):
    # Some systems write "Ö" as "O" and a combining diaeresis (NFD).
    label = "Övervägande"  # the template's own Swedish label for consideration
    decomposed = unicodedata.normalize("NFD", label)
    rows = [decomposed, label, f" {decomposed.upper()} "]
    path = write(
        tmp_path / "nfd.csv",
        "ts,event,user_id,stage\n"
        + "".join(f"2026-03-01T10:00:00Z,x,d{i},{stage}\n" for i, stage in enumerate(rows)),
    )
    assert ws.import_files([path]).stored == 3
    assert events(ws)["stage"].tolist() == ["consideration"] * 3


def test_a_label_whose_case_folds_apart_from_its_lower_case_names_its_stage(ws, tmp_path):
    # "Straße".casefold() is "strasse" but its lower case "straße": both name the stage, as
    # does "STRASSE", which a catalog's stage names it by too (Config.resolve_stage).
    stages = list(ws.config.stages)
    stages[0] = dataclasses.replace(stages[0], labels={**stages[0].labels, "sv": "Straße"})
    ws.config = dataclasses.replace(ws.config, stages=tuple(stages))
    save_config(ws.config, ws.path)
    path = write(
        tmp_path / "ss.csv",
        "ts,event,user_id,stage\n"
        + "".join(
            f"2026-03-01T10:00:00Z,x,s{i},{stage}\n"
            for i, stage in enumerate(["Straße", "straße", "STRASSE", "STRAẞE", "Strase"])
        ),
    )
    assert ws.import_files([path]).stored == 4
    assert events(ws)["stage"].tolist() == ["awareness"] * 4
    assert ws.config.resolve_stage("STRASSE") == "awareness"
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[6, "unknown_stage"]]


def test_json_lines_read_in_blocks_keep_every_line_and_its_number(ws, tmp_path, monkeypatch):
    # Blocks of a few characters: lines cross block ends, and one line is longer than a block.
    monkeypatch.setattr("journeylens.collect.jsonfiles.JSON_BLOCK_CHARS", 40)
    row = '{{"ts":"2026-01-01T10:0{0}:00Z","event":"e{0}","anonymous_id":"p"{1}}}'
    lines = [
        row.format(0, ', "k/1": "s", "k~2": "t", "q\\"": "u"') + "\r\n",
        "\n",
        "  \t \n",
        row.format(1, ', "note": "' + "x" * 200 + '"') + "\n",
        "[1, 2]\n",
        row.format(2, "") + "\n",
        row.format(3, ', "late": {"a": 1}'),  # no line end at the end of the file
    ]
    summary = ws.import_files([write(tmp_path / "blocks.jsonl", "".join(lines))])
    assert (summary.rows, summary.stored, summary.rejected) == (5, 4, 1)
    assert rejected(ws)[["line", "reason", "row"]].values.tolist() == [
        [5, "invalid_json", "[1, 2]"]
    ]
    stored = events(ws).sort_values("event")
    assert stored["event"].tolist() == ["e0", "e1", "e2", "e3"]
    properties = [json.loads(p or "null") for p in stored["properties"]]
    assert properties[0] == {"k/1": "s", "k~2": "t", 'q"': "u"}
    assert properties[2] is None
    assert properties[1] == {"note": "x" * 200}
    assert properties[3] == {"late": {"a": 1}}


def test_json_lines_whose_later_blocks_have_other_keys(ws, tmp_path, monkeypatch):
    # A JSON Lines file has no header: its first block's keys are not the file's. Further on,
    # an anonymous visitor's records lack userId, and another tool's id name turns up.
    monkeypatch.setattr("journeylens.collect.jsonfiles.JSON_BLOCK_CHARS", 300)
    known = '{{"ts": "2026-01-01T10:0{0}:00Z", "event": "view", "userId": "u", "plan": "pro"}}\n'
    visitor = '{{"ts": "2026-01-02T10:0{0}:00Z", "event": "view", "device_id": "d{0}"}}\n'
    text = "".join(known.format(i) for i in range(4)) + "".join(visitor.format(i) for i in range(4))
    summary = ws.import_files([write(tmp_path / "mixed.jsonl", text)])
    assert (summary.stored, summary.rejected) == (8, 0)
    stored = events(ws)
    assert stored["person_id"].tolist() == ["u"] * 4 + ["d0", "d1", "d2", "d3"]
    assert stored["anonymous_id"].tolist()[4:] == ["d0", "d1", "d2", "d3"]
    assert [json.loads(p or "{}").get("plan") for p in stored["properties"]][:5] == [
        *["pro"] * 4,
        None,
    ]


def test_json_lines_with_a_column_map(ws, tmp_path):
    text = (
        '{"when": "2026-01-01T10:00:00Z", "event": "a", "uid": "u1"}\n'
        '{"when": "2026-01-01T11:00:00Z", "event": "b", "uid": "u1"}\n'
    )
    path = write(tmp_path / "mapped.jsonl", text)
    summary = ws.import_files([path], mapping={"user_id": "uid", "ts": "when"})
    assert (summary.stored, summary.rejected) == (2, 0)
    assert events(ws)[["event", "person_id"]].values.tolist() == [["a", "u1"], ["b", "u1"]]
    with pytest.raises(ImportFileError, match="no column 'userid'"):
        ws.import_files([path], mapping={"user_id": "userid"})


def test_nan_revenue_is_missing_and_infinite_revenue_is_rejected(ws, tmp_path):
    # NaN is how pandas and Python's json write a missing number; an infinity is no amount.
    base = '{{"ts": "2026-01-01T10:00:00Z", "event": "purchase", "anonymous_id": "p{0}", '
    values = ["NaN", "Infinity", '"nan"', '"-inf"', "12.5"]
    text = "".join(base.format(i) + f'"revenue": {v}}}\n' for i, v in enumerate(values))
    summary = ws.import_files([write(tmp_path / "nan.jsonl", text)])
    assert (summary.stored, summary.rejected_by_reason) == (3, {"invalid_revenue": 2})
    assert sorted(rejected(ws)["line"]) == [2, 4]
    stored = events(ws).sort_values("anonymous_id")
    assert stored["anonymous_id"].tolist() == ["p0", "p2", "p4"]
    assert stored["revenue"].isna().tolist() == [True, True, False]
    table = pa.table(
        {
            "ts": ["2026-01-01T10:00:00Z"] * 2,
            "event": ["view", "buy"],
            "anonymous_id": ["q", "q"],
            "revenue": pa.array([float("nan"), 5.0]),
        }
    )
    pq.write_table(table, tmp_path / "nan.parquet")
    assert ws.import_files([tmp_path / "nan.parquet"]).stored == 2
    assert (
        ws.store.execute(ws.events.filter(ws.events.anonymous_id == "q").revenue.isnan().sum()) == 0
    )


def test_nan_inside_a_nested_object_is_read(ws, tmp_path):
    # A Mixpanel export written by Python's json: NaN inside "properties" (and a Segment context).
    lines = [
        '{"event": "Purchase", "properties": {"time": 1767607872, "distinct_id": "u1", '
        '"$insert_id": "i1", "revenue": NaN, "score": Infinity}}',
        '{"event": "Purchase", "properties": {"time": 1767607873, "distinct_id": "u1", '
        '"$insert_id": "i2", "revenue": 5}}',
    ]
    summary = ws.import_files([write(tmp_path / "mp.jsonl", "\n".join(lines) + "\n")])
    assert summary.stored == 2
    stored = events(ws).sort_values("event_id")
    assert stored["event_id"].tolist() == ["i1", "i2"]
    assert stored["revenue"].isna().tolist() == [True, False]


def test_csv_text_that_spells_missing_is_kept_and_such_numbers_are_missing(ws, tmp_path):
    # "NA" is Namibia and North America: only an empty field is missing text. A number written
    # as R, spreadsheets or databases write a missing one is missing, not unreadable.
    rows = [
        ("a1", "NA", "null", "NA"),
        ("a2", "N/A", "NULL", "#N/A"),
        ("a3", "None", "view", " null "),
        ("a4", "", "buy", "n/a"),
        ("a5", "EU", "buy", "x"),
    ]
    text = "ts,anonymous_id,region,event,revenue\n" + "".join(
        f"2026-01-01T10:00:00Z,{a},{region},{event},{revenue}\n"
        for a, region, event, revenue in rows
    )
    summary = ws.import_files([write(tmp_path / "na.csv", text)])
    assert (summary.stored, summary.rejected_by_reason) == (4, {"invalid_revenue": 1})
    stored = events(ws).sort_values("anonymous_id")
    assert stored["event"].tolist() == ["null", "NULL", "view", "buy"]
    assert stored["revenue"].isna().all()
    regions = [json.loads(p or "{}").get("region") for p in stored["properties"]]
    assert regions == ["NA", "N/A", "None", None]


def test_a_json_lines_value_may_hold_unicode_line_separators(ws, tmp_path):
    # U+2028 and U+0085 are line breaks to str.splitlines, but not to JSON Lines.
    rows = [
        {"ts": "2026-01-01T10:00:00Z", "event": "x", "anonymous_id": "a1", "note": "one\u2028two"},
        {"ts": "2026-01-01T10:01:00Z", "event": "y", "anonymous_id": "a1", "note": "three\x85"},
    ]
    text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    summary = ws.import_files([write(tmp_path / "seps.jsonl", text)])
    assert (summary.stored, summary.rejected) == (2, 0)
    notes = [json.loads(p)["note"] for p in events(ws)["properties"]]
    assert notes == ["one\u2028two", "three\x85"]


def test_a_json_file_holding_one_array_imports_its_elements(ws, tmp_path):
    records = [
        {"ts": "2026-01-01T10:00:00Z", "event": "a", "anonymous_id": "p", "plan": {"x": 1}},
        5,  # element 2: not an object
        {"ts": "2026-01-01T10:01:00Z", "event": "b", "anonymous_id": "p"},
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records, indent=2))  # pretty-printed: records span lines
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored) == (3, 2)
    assert rejected(ws)[["line", "reason", "row"]].values.tolist() == [[2, "invalid_json", "5"]]
    stored = events(ws)
    assert stored["event"].tolist() == ["a", "b"]
    assert json.loads(stored["properties"][0]) == {"plan": {"x": 1}}


@pytest.mark.parametrize(("name", "text"), [("e.jsonl", "{}\n{}\n"), ("e.json", "[{}]")])
def test_records_without_any_key_are_rejected_as_missing_their_id(
    make_workspace, tmp_path, name, text
):
    workspace = make_workspace()
    summary = workspace.import_files([write(tmp_path / name, text)])
    assert (summary.stored, summary.rejected_by_reason) == (0, {"missing_id": text.count("{}")})
    assert set(rejected(workspace)["row"]) == {"{}"}


def test_an_api_answer_wrapping_its_records_imports_them(ws, tmp_path):
    # An analytics API's answer saved as it came ({"results": [...], "next": ...}): the longest
    # list of objects holds the records, numbered from 1. One event with a list of its own
    # (a purchase's products) stays one event.
    answer = {
        "next": "https://app.example.com/api/events?after=2",
        "columns": [{"name": "event"}],
        "results": [
            {"timestamp": "2026-01-01T10:00:00Z", "event": "$pageview", "distinct_id": "d1"},
            {"timestamp": "later", "event": "$pageview", "distinct_id": "d1"},
            {"timestamp": "2026-01-01T10:02:00Z", "event": "signup", "distinct_id": "d1"},
        ],
    }
    path = tmp_path / "events_api.json"
    path.write_text(json.dumps(answer, indent=2))
    summary = ws.import_files([path])
    assert (summary.rows, summary.stored) == (3, 2)
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[2, "unparseable_timestamp"]]
    assert events(ws)["event"].tolist() == ["$pageview", "signup"]
    order = {
        "timestamp": "2026-01-02T10:00:00Z",
        "event": "Order Completed",
        "userId": "u1",
        "products": [{"sku": "a"}, {"sku": "b"}],
    }
    (tmp_path / "order.json").write_text(json.dumps(order))
    assert ws.import_files([tmp_path / "order.json"]).stored == 1
    assert json.loads(events(ws)["properties"].iloc[-1])["products"][1] == {"sku": "b"}


def test_a_broken_json_array_is_one_clear_error_and_nothing_is_stored(ws, tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"ts": "2026-01-01T10:00:00Z", "event": "a", "anonymous_id": "p"}, {"ts"')
    with pytest.raises(ImportFileError, match=r"cut\.json: not a valid JSON array"):
        ws.import_files([path])
    assert ws.store.count("events") == 0


def test_jsonl_with_segment_names_and_nested_properties(ws, tmp_path):
    lines = [
        {
            "messageId": "m1",
            "timestamp": "2026-01-01T10:00:00Z",
            "event": "purchase",
            "userId": "u1",
            "anonymousId": "a1",
            "properties": {"revenue_note": "x", "n": 2},
        },
        "not json at all",
        {
            "messageId": "m2",
            "timestamp": "2026-01-01T11:00:00Z",
            "event": "x",
            "anonymousId": "a1",
            "context": {"ip": "1.2.3.4"},
            "tags": ["a", "b"],
            "note": {"kind": "object here"},
        },
        {
            "messageId": "m3",
            "timestamp": "2026-01-01T12:00:00Z",
            "event": "x",
            "anonymousId": "a1",
            "note": "text there",
        },
    ]
    text = "\n".join(json.dumps(x) if isinstance(x, dict) else x for x in lines) + "\n"
    path = write(tmp_path / "s.jsonl", text)
    summary = ws.import_files([path])
    assert summary.stored == 3
    frame = events(ws).set_index("event_id")
    assert frame.loc["m1", "person_id"] == "u1"
    assert frame.loc["m2", "person_id"] == "u1"
    assert json.loads(frame.loc["m1", "properties"]) == {"revenue_note": "x", "n": 2}
    # Objects and arrays stay JSON; a key that is text in another row stays text throughout.
    assert json.loads(frame.loc["m2", "properties"]) == {
        "context": {"ip": "1.2.3.4"},
        "tags": ["a", "b"],
        "note": '{"kind":"object here"}',
    }
    assert json.loads(frame.loc["m3", "properties"]) == {"note": "text there"}
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[2, "invalid_json"]]


def test_segment_calls_without_an_event_name_are_named_by_their_type(ws, tmp_path):
    # A Segment export: page/screen calls carry a name, identify calls none; an order's
    # revenue and currency are properties; the page's UTM parameters are context.campaign.
    base = {"timestamp": "2026-01-01T10:00:00Z", "anonymousId": "a1"}
    utm = {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}}
    calls = [
        {"messageId": "p1", "type": "page", "name": "Pricing", "context": utm},
        {"messageId": "p2", "type": "page"},
        {"messageId": "s1", "type": "screen", "name": "Cart"},
        {"messageId": "i1", "type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
        {
            "messageId": "o1",
            "type": "track",
            "event": "Order Completed",
            "properties": {"revenue": 99.5, "currency": "EUR"},
        },
        {"messageId": "o2", "event": "Order Refunded", "properties": {"revenue": -5}},
        {"messageId": "t1", "type": "track"},
    ]
    lines = [json.dumps({**base, **call}) for call in calls]
    summary = ws.import_files([write(tmp_path / "segment.jsonl", "\n".join(lines) + "\n")])
    frame = events(ws).set_index("event_id")
    assert frame["event"].to_dict() == {
        "p1": "Viewed Pricing Page",
        "p2": "Loaded a Page",
        "s1": "Viewed Cart Screen",
        "i1": "identify",
        "o1": "Order Completed",
    }
    assert set(frame["person_id"]) == {"u1"}  # the identify call stitched the page views
    assert (frame.loc["o1", "revenue"], frame.loc["o1", "currency"]) == (99.5, "EUR")
    assert frame.loc["p1", ["source", "medium", "campaign"]].tolist() == ["google", "cpc", "spring"]
    assert frame.loc["p2", ["source", "medium", "campaign"]].isna().all()
    assert summary.rejected_by_reason == {"negative_revenue": 1, "missing_event": 1}


def test_a_segment_alias_call_links_its_previous_id(ws, tmp_path):
    # Segment sends an alias call's old id as previousId beside the device's anonymousId.
    calls = [
        {"messageId": "v1", "event": "pricing_view", "anonymousId": "old"},
        {"messageId": "v2", "event": "blog_view", "anonymousId": "dev2"},
        {"messageId": "al", "type": "alias", "anonymousId": "dev2", "previousId": "old"},
    ]
    lines = [
        json.dumps({**call, "timestamp": f"2026-01-01T1{i}:00:00Z", "userId": None})
        for i, call in enumerate(calls)
    ]
    lines[-1] = lines[-1].replace('"userId": null', '"userId": "u1"')
    ws.import_files([write(tmp_path / "alias.jsonl", "\n".join(lines) + "\n")])
    frame = events(ws).set_index("event_id")
    assert frame.loc["al", "anonymous_id"] == "old"
    assert frame.loc[["v1", "al"], "person_id"].tolist() == ["u1", "u1"]


def test_a_segment_alias_call_keeps_its_own_anonymous_id_in_properties(ws, tmp_path):
    # The alias call's previousId takes anonymous_id; the device's own anonymousId beside it
    # is kept, as previousId is, not dropped.
    calls = [
        {"messageId": "m1", "type": "track", "event": "Viewed", "anonymousId": "anon-Y"},
        {"messageId": "m2", "type": "identify", "userId": "U2", "anonymousId": "anon-old"},
        {
            "messageId": "m3",
            "type": "alias",
            "previousId": "U2",
            "userId": "U3",
            "anonymousId": "anon-Y",
        },
    ]
    lines = [
        json.dumps({**call, "timestamp": f"2026-01-0{i + 1}T09:00:00Z"})
        for i, call in enumerate(calls)
    ]
    ws.import_files([write(tmp_path / "alias.jsonl", "\n".join(lines) + "\n")])
    frame = events(ws).set_index("event_id")
    assert frame.loc["m3", ["anonymous_id", "user_id", "person_id"]].tolist() == ["U2", "U3", "U3"]
    assert json.loads(frame.loc["m3", "properties"]) == {
        "previousId": "U2",
        "anonymousId": "anon-Y",
    }
    assert frame.loc["m2", "person_id"] == "U3"  # the previous user is the alias's person
    assert frame.loc["m1", "properties"] is None  # other calls' anonymousId is their column


def test_other_tools_column_names_are_understood_best_first(ws, tmp_path):
    # An Amplitude export; Segment's corrected timestamp wins over the client's clock
    # wherever the columns stand; names no rule knows stay properties.
    text = (
        "originalTimestamp,timestamp,event_type,device_id,user_id,insert_id,uuid\n"
        "2026-01-01T09:00:00Z,2026-01-01T10:00:00Z,pricing_view,d1,,i1,e1\n"
        "2026-01-01T09:30:00Z,2026-01-01T10:30:00Z,purchase,d1,u1,i2,e2\n"
    )
    ws.import_files([write(tmp_path / "amplitude.csv", text)])
    frame = events(ws)
    assert frame["event_id"].tolist() == ["e1", "e2"]
    assert frame["event"].tolist() == ["pricing_view", "purchase"]
    assert frame["ts"].dt.hour.tolist() == [10, 10]
    assert frame["anonymous_id"].tolist() == ["d1", "d1"]
    assert frame["person_id"].tolist() == ["u1", "u1"]
    assert json.loads(frame["properties"][0]) == {
        "originalTimestamp": "2026-01-01T09:00:00Z",
        "insert_id": "i1",
    }


def test_a_snowplow_export_reads_its_names_and_not_its_event_kind(ws, tmp_path):
    # Snowplow's atomic.events: `event` is the kind of event, `event_name` its name; the
    # derived time wins over the collector's, which is when it was received.
    text = (
        "app_id,collector_tstamp,derived_tstamp,event,event_id,event_name,domain_userid,"
        "user_id,mkt_source,mkt_medium,mkt_campaign,page_urlpath\n"
        "shop,2026-01-01 10:00:05,2026-01-01 10:00:01,page_view,e1,page_view,c1,,google,cpc,"
        "spring,/pricing\n"
        "shop,2026-01-01 10:05:05,2026-01-01 10:05:01,unstruct,e2,add_to_cart,c1,u1,,,,/cart\n"
    )
    ws.import_files([write(tmp_path / "snowplow.csv", text)])
    frame = events(ws)
    assert frame["event_id"].tolist() == ["e1", "e2"]
    assert frame["event"].tolist() == ["page_view", "add_to_cart"]
    assert frame["ts"].dt.second.tolist() == [1, 1]
    assert frame["received_at"].dt.second.tolist() == [5, 5]
    assert frame["person_id"].tolist() == ["u1", "u1"]
    assert frame[["source", "medium", "campaign"]].values.tolist()[0] == ["google", "cpc", "spring"]
    assert json.loads(frame["properties"][1])["event"] == "unstruct"


def test_a_snowplow_transaction_gives_revenue_currency_and_device(ws, tmp_path):
    # tr_total is the transaction's revenue (other events leave it empty); dvce_type names
    # the device its own way, and a kind that is none of ours stays in properties only.
    text = (
        "collector_tstamp,derived_tstamp,event,event_id,event_name,domain_userid,tr_total,"
        "tr_currency,dvce_type\n"
        "2026-06-02 10:00:01,2026-06-02 10:00:00,page_view,e1,page_view,d1,,,Computer\n"
        "2026-06-02 10:05:01,2026-06-02 10:05:00,transaction,e2,transaction,d1,99.95,NOK,Mobile\n"
        "2026-06-02 10:06:01,2026-06-02 10:06:00,page_view,e3,page_view,d2,,,tablet\n"
        "2026-06-02 10:07:01,2026-06-02 10:07:00,page_view,e4,page_view,d3,,,Game console\n"
    )
    ws.import_files([write(tmp_path / "snowplow.csv", text)])
    frame = events(ws).set_index("event_id")
    assert frame.loc["e2", ["revenue", "currency"]].tolist() == [99.95, "NOK"]
    assert frame["revenue"].isna().sum() == 3
    assert frame["device"].tolist()[:3] == ["desktop", "mobile", "tablet"]
    assert frame.loc["e4", "device"] is None
    assert json.loads(frame.loc["e4", "properties"])["dvce_type"] == "Game console"


def test_epoch_numbers_are_read_in_their_unit(ws, tmp_path):
    # Seconds, milliseconds, GA4's microseconds and pandas' nanoseconds, as numbers and as text.
    second = 1767261600  # 2026-01-01 10:00:00 UTC
    values = [second, second * 1000, second * 10**6, second * 10**9]
    table = pa.table(
        {
            "event_timestamp": pa.array(values, pa.int64()),
            "event_name": ["a", "b", "c", "d"],
            "user_pseudo_id": ["p"] * 4,
        }
    )
    pq.write_table(table, tmp_path / "ga4.parquet")
    text = "ts,event,anonymous_id\n" + "".join(f"{v},t{i},q\n" for i, v in enumerate(values))
    summary = ws.import_files([tmp_path / "ga4.parquet", write(tmp_path / "epoch.csv", text)])
    assert (summary.stored, summary.rejected) == (8, 0)
    assert set(events(ws)["ts"]) == {pd.Timestamp("2026-01-01 10:00:00")}


def test_epoch_nanoseconds_are_exact_and_a_short_epoch_is_implausible(ws, tmp_path):
    # Nanoseconds cut to the microsecond as an ISO fraction is (a double would round them
    # to .123457), as a Parquet integer and as text; eight digits are an epoch before 1990.
    nanoseconds = 1772366400123456789  # 2026-03-01 12:00:00.123456789 UTC
    table = pa.table(
        {"ts": pa.array([nanoseconds], pa.int64()), "event": ["typed"], "user_id": ["u"]}
    )
    pq.write_table(table, tmp_path / "ns.parquet")
    text = f"ts,event,user_id\n{nanoseconds},text,u\n2026-03-01T12:00:00.123456789Z,iso,u\n"
    text += "99999999,short,u\n"
    summary = ws.import_files([tmp_path / "ns.parquet", write(tmp_path / "ns.csv", text)])
    assert summary.rejected_by_reason == {"implausible_timestamp": 1}
    assert rejected(ws)["line"].tolist() == [4]
    stored = events(ws).set_index("event")["ts"].to_dict()
    assert set(stored.values()) == {pd.Timestamp("2026-03-01 12:00:00.123456")}


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        (1772366400.123456, "2026-03-01 12:00:00.123456"),  # seconds: binary .12345602...
        (1772366400.000001, "2026-03-01 12:00:00.000001"),
        (1772366400999.9995, "2026-03-01 12:00:00.999999"),  # milliseconds, cut
        (1703434161786.8154, "2023-12-24 16:09:21.786815"),  # times 1000 as a double: .5 µs
        (1713953676790.7434, "2024-04-24 10:14:36.790743"),
    ],
)
def test_a_float_epoch_is_the_number_written_to_the_microsecond(ws, tmp_path, number, expected):
    # A Parquet double (pandas' float64 seconds or milliseconds) is read as the decimal it is
    # written as, the same time as that number in a CSV or JSON file gives.
    table = pa.table({"ts": pa.array([number], pa.float64()), "event": ["typed"], "user_id": ["u"]})
    pq.write_table(table, tmp_path / "float.parquet")
    record = {"ts": number, "event": "json", "user_id": "u"}
    summary = ws.import_files(
        [
            tmp_path / "float.parquet",
            write(tmp_path / "float.csv", f"ts,event,user_id\n{number!r},text,u\n"),
            write(tmp_path / "float.jsonl", json.dumps(record) + "\n"),
        ]
    )
    assert (summary.stored, summary.rejected) == (3, 0)
    stored = events(ws).set_index("event")["ts"].astype(str).to_dict()
    assert stored == {"typed": expected, "text": expected, "json": expected}


def test_an_epoch_in_text_is_cut_past_its_ninth_decimal_too(ws, tmp_path):
    # Nine decimals were read exactly and the tenth rounded them: .9999999999 s was a second on.
    text = "ts,event,user_id\n1767261600.9999999999,s,u\n1767261600999.9999999999,ms,u\n"
    summary = ws.import_files([write(tmp_path / "e.csv", text)])
    assert (summary.stored, summary.rejected) == (2, 0)
    assert set(events(ws)["ts"].astype(str)) == {"2026-01-01 10:00:00.999999"}


AGENTS = {
    "iphone": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1",
    "pixel": "Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36",
    "galaxy_tab": "Mozilla/5.0 (Linux; Android 13; SM-X710) Chrome/120.0 Safari/537.36",
    "ipad": "Mozilla/5.0 (iPad; CPU OS 16_0 like Mac OS X) Mobile/15E148 Safari/604.1",
    "mac": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) Version/17.0 Safari/605.1.15",
}


def test_device_comes_from_segment_context_when_not_given(ws, tmp_path):
    calls = [{"messageId": k, "context": {"userAgent": a}} for k, a in AGENTS.items()]
    calls += [
        {"messageId": "app", "context": {"device": {"type": "ios"}}},
        {"messageId": "given", "device": "kiosk", "context": {"userAgent": AGENTS["mac"]}},
        {"messageId": "none", "context": {"ip": "1.2.3.4"}},
    ]
    base = {"timestamp": "2026-01-01T10:00:00Z", "anonymousId": "a1", "event": "x"}
    lines = [json.dumps({**base, **call}) for call in calls]
    ws.import_files([write(tmp_path / "ua.jsonl", "\n".join(lines) + "\n")])
    assert events(ws).set_index("event_id")["device"].to_dict() == {
        "iphone": "mobile",
        "pixel": "mobile",
        "galaxy_tab": "tablet",
        "ipad": "tablet",
        "mac": "desktop",
        "app": "mobile",
        "given": "kiosk",
        "none": None,
    }


def test_a_parquet_context_struct_gives_campaign_and_device(ws, tmp_path):
    # Parquet keeps Segment's context as a struct, not as JSON text.
    context = [
        {"campaign": {"source": "google", "medium": "cpc", "name": "spring"}, "userAgent": None},
        {"campaign": None, "userAgent": AGENTS["pixel"]},
    ]
    table = pa.table(
        {
            "messageId": ["c1", "c2"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T11:00:00Z"],
            "event": ["x", "y"],
            "anonymousId": ["a1", "a1"],
            "context": context,
        }
    )
    pq.write_table(table, tmp_path / "segment.parquet")
    ws.import_files([tmp_path / "segment.parquet"])
    frame = events(ws).set_index("event_id")
    assert frame.loc["c1", ["source", "medium", "campaign"]].tolist() == ["google", "cpc", "spring"]
    assert frame["device"].tolist() == [None, "mobile"]


MIXPANEL = [
    {
        "event": "Signed Up",
        "properties": {
            "time": 1700000000,
            "distinct_id": "u1",
            "$insert_id": "m1",
            "$device_id": "d1",
            "$user_id": "u1",
            "utm_source": "google",
            "utm_medium": "cpc",
            "plan": "pro",
        },
    },
    # A newer export: time in milliseconds; the device before login.
    {
        "event": "Viewed Page",
        "properties": {
            "time": 1699999000000,
            "$insert_id": "m2",
            "distinct_id": "$device:d1",
            "$device_id": "d1",
        },
    },
    {
        "event": "Purchase",
        "properties": {
            "time": 1700000100,
            "distinct_id": "u1",
            "$insert_id": "m3",
            "revenue": 49.5,
        },
    },
    {
        "event": "Broken",
        "properties": {"time": "yesterday", "distinct_id": "u1", "$insert_id": "m4"},
    },
]


def test_a_mixpanel_export_is_read_from_its_properties(ws, tmp_path):
    lines = "\n".join(json.dumps(row) for row in MIXPANEL) + "\n"
    summary = ws.import_files([write(tmp_path / "mixpanel.jsonl", lines)])
    assert (summary.stored, summary.rejected_by_reason) == (3, {"unparseable_timestamp": 1})
    frame = events(ws).set_index("event_id")
    assert frame.loc["m1", ["anonymous_id", "user_id", "source", "medium"]].tolist() == [
        "d1",
        "u1",
        "google",
        "cpc",
    ]
    assert str(frame.loc["m1", "ts"]) == "2023-11-14 22:13:20"
    assert str(frame.loc["m2", "ts"]) == "2023-11-14 21:56:40"
    assert frame.loc["m3", "revenue"] == 49.5
    # The device's anonymous page view before the login joins the user.
    assert set(frame["person_id"]) == {"u1"}
    assert json.loads(frame.loc["m1", "properties"])["plan"] == "pro"
    assert rejected(ws).loc[0, "field"] == "ts"


def test_a_mixpanel_identify_of_a_device_id_joins_the_visit_before_the_login(ws, tmp_path):
    # Mixpanel's SDKs name the anonymous visitor "$device:<id>" in distinct_id and in the
    # $identify's $anon_distinct_id, and "<id>" in $device_id: the same visitor.
    rows = [
        {
            "event": "Viewed Page",
            "properties": {
                "time": 1772359200,
                "distinct_id": "$device:abc",
                "$device_id": "abc",
                "$insert_id": "i1",
            },
        },
        {
            "event": "Viewed Page",
            "properties": {"time": 1772359230, "distinct_id": "$device:xyz", "$insert_id": "i0"},
        },
        {
            "event": "$identify",
            "properties": {
                "time": 1772359260,
                "distinct_id": "user42",
                "$anon_distinct_id": "$device:abc",
                "$insert_id": "i2",
            },
        },
    ]
    write(tmp_path / "mixpanel.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ws.import_files([tmp_path / "mixpanel.jsonl"])
    frame = events(ws).set_index("event_id")
    assert frame.loc["i1", "person_id"] == frame.loc["i2", "person_id"] == "user42"
    assert frame.loc["i0", "anonymous_id"] == "xyz"  # from distinct_id, without the prefix


def test_a_mixpanel_distinct_id_is_the_user_where_no_user_id_names_one(ws, tmp_path):
    # Older SDKs, custom trackers and the original ID merge send no $user_id: distinct_id is
    # the event's identity, unless it names the device ($device_id, or "$device:<id>").
    # $create_alias links its distinct_id to its alias.
    def row(insert_id: str, time: int, distinct_id: str, **more: str) -> dict:
        props = {"time": 1767608000 + time, "distinct_id": distinct_id, "$insert_id": insert_id}
        return {"event": more.pop("event", "Purchase"), "properties": props | more}

    rows = [
        row("o1", 0, "u-zed", **{"$device_id": "dev-9"}),
        row("o2", 1, "u-zed", **{"$device_id": "dev-10"}),
        row("o3", 2, "dev-11", **{"$device_id": "dev-11"}),
        row("o4", 3, "$device:dev-12", **{"$device_id": "dev-12"}),
        row("a1", 4, "legacy-anon-77", event="Viewed Page"),
        row("a2", 5, "legacy-anon-77", event="$create_alias", alias="u-dave"),
        row("a3", 6, "u-dave"),
    ]
    write(tmp_path / "mixpanel.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    ws.import_files([tmp_path / "mixpanel.jsonl"])
    frame = events(ws).set_index("event_id")
    assert frame[["anonymous_id", "user_id", "person_id"]].values.tolist() == [
        ["dev-9", "u-zed", "u-zed"],
        ["dev-10", "u-zed", "u-zed"],
        ["dev-11", None, "dev-11"],
        ["dev-12", None, "dev-12"],
        ["legacy-anon-77", "legacy-anon-77", "u-dave"],
        ["legacy-anon-77", "u-dave", "u-dave"],
        ["u-dave", "u-dave", "u-dave"],
    ]
    assert frame.loc["a2", "type"] == "alias"


def test_device_comes_from_the_operating_system_in_mixpanel_and_amplitude(ws, tmp_path):
    def mixpanel(i: int, system: str | None, device: str | None = None) -> dict:
        props = {"time": 1700000000 + i, "distinct_id": f"m{i}", "$insert_id": f"m{i}"}
        props |= {"$os": system} if system else {}
        props |= {"$device": device} if device else {}
        return {"event": "view", "properties": props}

    rows = [
        mixpanel(1, "iOS", "iPhone"),
        mixpanel(2, "iOS", "iPad"),
        mixpanel(3, "Mac OS X"),
        mixpanel(4, "Android"),
        mixpanel(5, "PlayStation"),
        mixpanel(6, None),
    ]
    write(tmp_path / "mixpanel.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    amplitude = [
        {
            "uuid": f"a{i}",
            "event_type": "view",
            "event_time": "2026-01-01 10:00:00",
            "device_id": f"a{i}",
            "platform": platform,
            "device_type": kind,
        }
        for i, (platform, kind) in enumerate(
            [
                ("iOS", "Apple iPhone 13"),
                ("iOS", "Apple iPad Pro"),
                ("Web", "Mac"),  # the web says nothing; the device's name does
                ("Android", None),
                ("Web", "Apple iPhone"),
                ("Web", "Windows"),
                ("Web", None),
            ]
        )
    ]
    write(tmp_path / "amplitude.jsonl", "".join(json.dumps(r) + "\n" for r in amplitude))
    ws.import_files([tmp_path / "mixpanel.jsonl", tmp_path / "amplitude.jsonl"])
    device = events(ws).set_index("event_id")["device"].to_dict()
    assert [device[f"m{i}"] for i in range(1, 7)] == [
        "mobile",
        "tablet",
        "desktop",
        "mobile",
        None,
        None,
    ]
    assert [device[f"a{i}"] for i in range(7)] == [
        "mobile",
        "tablet",
        "desktop",
        "mobile",
        "mobile",
        "desktop",
        None,
    ]


def test_a_platform_that_names_the_device_fills_device(ws, tmp_path):
    # retentioneering's shop log: platform is desktop, mobile or tablet itself.
    text = "event_id,ts,event,user_id,platform\n" + "".join(
        f"e{i},2026-01-01T10:0{i}:00Z,view,u,{platform}\n"
        for i, platform in enumerate(["desktop", "Mobile", " TABLET ", "Web", ""])
    )
    ws.import_files([write(tmp_path / "shop.csv", text)])
    device = events(ws).set_index("event_id")["device"].to_dict()
    assert [device[f"e{i}"] for i in range(5)] == ["desktop", "mobile", "tablet", None, None]


def test_a_mixpanel_export_as_parquet_reads_the_properties_struct(ws, tmp_path):
    rows = [
        {**row, "properties": {**row["properties"], "time": int(row["properties"]["time"])}}
        for row in MIXPANEL[:1] + MIXPANEL[2:3]
    ]
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "mixpanel.parquet")
    summary = ws.import_files([tmp_path / "mixpanel.parquet"])
    assert summary.stored == 2
    frame = events(ws).set_index("event_id")
    assert frame.loc["m1", "user_id"] == "u1"
    assert frame.loc["m3", "revenue"] == 49.5
    assert json.loads(frame.loc["m1", "properties"])["utm_source"] == "google"


def ga4_row(name: str, micros: int, params: dict, **extra: object) -> dict:
    """A row of GA4's BigQuery export, its parameters as GA4 nests them."""

    def value(v: object) -> dict:
        slot = (
            "string_value"
            if isinstance(v, str)
            else ("int_value" if isinstance(v, int) else "double_value")
        )
        return {
            "string_value": None,
            "int_value": None,
            "float_value": None,
            "double_value": None,
            slot: v,
        }

    return {
        "event_date": "20201101",
        "event_timestamp": micros,
        "event_name": name,
        "event_params": [{"key": k, "value": value(v)} for k, v in params.items()],
        "user_pseudo_id": "1234.5678",
        "device": {"category": "tablet", "operating_system": "Android"},
        "traffic_source": {"name": "(organic)", "medium": "organic", "source": "bing"},
        **extra,
    }


GA4 = [
    ga4_row(
        "page_view",
        1604188800123456,
        {
            "page_location": "https://shop/x",
            "source": "google",
            "medium": "cpc",
            "campaign": "spring",
        },
        ecommerce=None,  # every row has every column, as in GA4's export
        user_id=None,
    ),
    ga4_row(
        "purchase",
        1604188900000000,
        {"value": 59.0, "currency": "EUR", "ga_session_id": 1604188800},
        ecommerce={"purchase_revenue": 59.0, "transaction_id": "T1"},
        user_id="u7",
    ),
]


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_a_ga4_export_is_read_as_it_nests_its_values(ws, tmp_path, suffix):
    path = tmp_path / f"ga4.{suffix}"
    if suffix == "jsonl":
        write(path, "\n".join(json.dumps(row) for row in GA4) + "\n")
    else:
        pq.write_table(pa.Table.from_pylist(GA4), path)
    assert ws.import_files([path]).stored == 2
    frame = events(ws)
    view, purchase = frame.iloc[0], frame.iloc[1]
    assert str(view["ts"]) == "2020-11-01 00:00:00.123456"
    assert frame["device"].tolist() == ["tablet", "tablet"]
    # The event's own campaign, not the user's first acquisition (traffic_source).
    assert [view["source"], view["medium"], view["campaign"]] == ["google", "cpc", "spring"]
    assert purchase["source"] is None
    assert (purchase["revenue"], purchase["currency"]) == (59.0, "EUR")
    params = json.loads(purchase["properties"])["event_params"]
    assert params == {"value": 59.0, "currency": "EUR", "ga_session_id": 1604188800}
    assert set(frame["person_id"]) == {"u7"}


def test_nested_exports_import_alike_on_every_engine(make_workspace, tmp_path):
    workspace = make_workspace()
    mixpanel = write(tmp_path / "m.jsonl", "\n".join(json.dumps(r) for r in MIXPANEL) + "\n")
    ga4 = write(tmp_path / "g.jsonl", "\n".join(json.dumps(r) for r in GA4) + "\n")
    summary = workspace.import_files([mixpanel, ga4])
    assert (summary.stored, summary.rejected) == (5, 1)
    frame = events(workspace).set_index("event_id")
    assert frame.loc["m1", ["anonymous_id", "user_id", "source"]].tolist() == ["d1", "u1", "google"]
    purchase = frame[frame["event"] == "purchase"].iloc[0]
    assert purchase[["device", "revenue", "currency"]].tolist() == ["tablet", 59.0, "EUR"]


def test_posthog_identify_joins_the_anonymous_visit_to_the_user(make_workspace, tmp_path):
    # PostHog sends $identify under the user's new distinct_id, naming the anonymous one in
    # properties.$anon_distinct_id; a CSV export holds properties as JSON text.
    rows = [
        ("v1", "$pageview", "anon-1", {"$current_url": "https://shop.example/pricing"}),
        ("v2", "$identify", "ann@example.com", {"$anon_distinct_id": "anon-1"}),
        ("v3", "purchase", "ann@example.com", {"revenue": 30}),
        ("v4", "$pageview", "anon-2", {"note": "mentions $anon_distinct_id in text"}),
    ]
    frame = pd.DataFrame(
        {
            "uuid": [r[0] for r in rows],
            "event": [r[1] for r in rows],
            "distinct_id": [r[2] for r in rows],
            "timestamp": [f"2026-01-01T10:0{i}:00Z" for i in range(len(rows))],
            "properties": [json.dumps(r[3]) for r in rows],
        }
    )
    frame.to_csv(tmp_path / "posthog.csv", index=False)
    ws = make_workspace()
    ws.import_files([tmp_path / "posthog.csv"])
    stored = events(ws).set_index("event_id")
    assert stored.loc["v2", ["anonymous_id", "user_id"]].tolist() == ["anon-1", "ann@example.com"]
    assert set(stored.loc[["v1", "v2", "v3"], "person_id"]) == {"ann@example.com"}
    assert stored.loc["v4", ["anonymous_id", "user_id", "person_id"]].tolist() == [
        "anon-2",
        None,
        "anon-2",
    ]
    funnel = ws.funnel("$pageview", "purchase").to_frame()
    assert funnel["people"].tolist() == [2, 1]


def test_placeholder_ids_are_missing_not_one_person(ws, tmp_path):
    # A tracking bug that sends "undefined" as every visitor's user id must not stitch them all.
    text = HEADER + "".join(
        f"2026-01-01T10:0{i}:00Z,view,{anonymous},{user},\n"
        for i, (anonymous, user) in enumerate(
            [
                ("a1", "undefined"),
                ("a2", " Undefined "),
                ("a3", "null"),
                ("guest", "0"),
                ("", "NULL"),
            ]
        )
    )
    summary = ws.import_files([write(tmp_path / "ids.csv", text)])
    assert (summary.stored, summary.rejected_by_reason) == (4, {"missing_id": 1})
    stored = events(ws).sort_values("anonymous_id", na_position="last")
    assert stored["person_id"].tolist() == ["a1", "a2", "a3", "0"]  # "0" is an id
    assert stored["user_id"].tolist() == [None, None, None, "0"]
    assert "placeholders" in rejected(ws)["detail"][0]


def test_placeholder_ids_are_configurable(tmp_path):
    ws = init_workspace(tmp_path / "ws")
    ws.config = dataclasses.replace(ws.config, placeholder_ids=("visitor",))
    save_config(ws.config, ws.path)
    ws.close()
    ws = open_workspace(tmp_path / "ws")
    text = HEADER + "2026-01-01T10:00:00Z,view,a1,visitor,\n2026-01-01T10:01:00Z,view,a2,guest,\n"
    ws.import_files([write(tmp_path / "ids.csv", text)])
    assert events(ws)["user_id"].tolist() == [None, "guest"]
    ws.close()


def test_a_person_id_column_is_read_as_the_user(ws, tmp_path):
    # PostHog's batch exports carry the person it merged every distinct_id into.
    lines = [
        {"uuid": "b1", "event": "$pageview", "distinct_id": "anon-9", "person_id": "P1"},
        {"uuid": "b2", "event": "purchase", "distinct_id": "bo@example.com", "person_id": "P1"},
    ]
    text = "".join(
        json.dumps({**line, "timestamp": f"2026-01-01T10:0{i}:00Z"}) + "\n"
        for i, line in enumerate(lines)
    )
    ws.import_files([write(tmp_path / "batch.jsonl", text)])
    stored = events(ws).set_index("event_id")
    assert stored["person_id"].tolist() == ["P1", "P1"]
    assert stored["anonymous_id"].tolist() == ["anon-9", "bo@example.com"]


def test_a_posthog_batch_identify_keeps_its_distinct_id_beside_the_person(ws, tmp_path):
    # A batch export's rows carry the person PostHog merged the ids into: the $identify row's
    # own distinct_id (the e-mail a CRM knows the customer by) stays its anonymous id, and
    # the anonymous visitor's own rows link the visitor.
    lines = [
        {
            "uuid": "0001",
            "event": "$pageview",
            "properties": {"$current_url": "https://shop.example/pricing"},
            "distinct_id": "anon-h",
            "person_id": "018d-person-h",
        },
        {
            "uuid": "0002",
            "event": "$identify",
            "properties": {"$anon_distinct_id": "anon-h"},
            "distinct_id": "hank@example.com",
            "person_id": "018d-person-h",
        },
    ]
    text = "".join(
        json.dumps({**line, "timestamp": f"2026-01-05 10:1{i}:00.000000"}) + "\n"
        for i, line in enumerate(lines)
    )
    crm = write(
        tmp_path / "crm.csv", "user_id,ts,event\nhank@example.com,2026-01-06 09:00:00,call\n"
    )
    ws.import_files([write(tmp_path / "batch.jsonl", text), crm])
    stored = events(ws)
    assert stored[["event", "anonymous_id", "user_id"]].values.tolist() == [
        ["$pageview", "anon-h", "018d-person-h"],
        ["$identify", "hank@example.com", "018d-person-h"],
        ["call", None, "hank@example.com"],
    ]
    assert set(stored["person_id"]) == {"018d-person-h"}  # the call joins the visit


def test_a_process_mining_event_log_imports_with_its_xes_names(ws, tmp_path):
    # pm4py writes an event log as CSV with the XES attribute names; each case is a journey.
    log = pd.DataFrame(
        {
            "case:concept:name": ["c1", "c1", "c2"],
            "concept:name": ["register request", "check ticket", "register request"],
            "time:timestamp": [
                "2026-01-01 10:00:00+01:00",
                "2026-01-01 11:00:00+01:00",
                "2026-01-02",
            ],
            "org:resource": ["Pete", "Mike", "Ellen"],
        }
    )
    log.to_csv(tmp_path / "log.csv", index=False)
    assert ws.import_files([tmp_path / "log.csv"]).stored == 3
    stored = events(ws).sort_values("ts")
    assert stored["person_id"].tolist() == ["c1", "c1", "c2"]
    assert stored["event"].tolist() == ["register request", "check ticket", "register request"]
    assert str(stored["ts"].iloc[0]) == "2026-01-01 09:00:00"
    assert json.loads(stored["properties"].iloc[1]) == {"org:resource": "Mike"}


def test_headers_written_another_way_find_their_columns(ws, tmp_path):
    # A spreadsheet's headers: other case, spaces, camelCase; an exact name still wins.
    text = (
        "\ufeffUser ID;EventName;Event Time;Revenue;user-id;Type\n"
        "u1;visit;2026-01-05;;x;shoe\n"
        "u1;purchase;2026-01-06 10:00;12.5;y;shoe\n"
    )
    summary = ws.import_files([write(tmp_path / "sheet.csv", text)])
    assert (summary.stored, summary.rejected) == (2, 0)
    stored = events(ws)
    assert stored["event"].tolist() == ["visit", "purchase"]
    assert stored["person_id"].tolist() == ["u1", "u1"]  # the first "userid" column, not user-id
    assert stored["revenue"].tolist()[1] == 12.5
    # A product's "Type" is no Segment call type: it stays a property.
    assert [json.loads(p) for p in stored["properties"]] == [
        {"user-id": "x", "Type": "shoe"},
        {"user-id": "y", "Type": "shoe"},
    ]
    exact = "user_id,User ID,ts,event\nu2,u3,2026-01-05,visit\n"
    ws.import_files([write(tmp_path / "exact.csv", exact)])
    assert "u2" in set(events(ws)["person_id"])


@pytest.mark.parametrize("form", ["csv", "parquet"])
def test_events_at_the_same_second_keep_the_files_order(ws, tmp_path, form):
    # Second-resolution exports log a view and the add to cart in the same second; the file
    # lists them in the order they happened, and the sequence keeps it (not the ids' order).
    rows = [
        (f"2019-10-01 00:{u:02d}:00", name, str(u))
        for u in range(40)
        for name in (["view", "cart"] if u % 4 else ["cart", "view"])
    ]
    frame = pd.DataFrame(rows, columns=["event_time", "event_type", "user_id"])
    ws.import_files([write_frame(frame, tmp_path / f"ties.{form}")])
    from journeylens.analytics.funnels import FunnelSpec, run_funnel

    people = run_funnel(ws.events, FunnelSpec(steps=["view", "cart"])).to_frame()["people"]
    assert people.tolist() == [40, 30]  # one user in four carted first: no cart after the view
    stored = ws.events.order_by(["person_id", "person_seq"]).execute()
    assert stored["event"].tolist()[:2] == ["cart", "view"]  # user 0, as the file has it
    # A later import's event at the same second comes after the stored ones.
    more = "event_time,event_type,user_id\n2019-10-01 00:01:00,checkout,1\n"
    ws.import_files([write(tmp_path / "more.csv", more)])
    one = ws.events.filter(ws.events.person_id == "1").order_by("person_seq").execute()
    assert one["event"].tolist() == ["view", "cart", "checkout"]


def test_an_excel_workbook_imports_its_first_sheet(ws, tmp_path):
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append([])  # a blank first row: the header is the first row with a value
    sheet.append(["User ID", "Event", "Date", "Revenue", "Paid"])
    sheet.append([541312140, "visit", datetime(2026, 1, 5, 9, 30), None, False])
    sheet.append([541312140, "purchase", datetime(2026, 1, 5, 10, 0), 12.5, True, "gift"])
    sheet.append([777, "visit", "not a date", None, None])
    book.create_sheet("notes").append(["ignored"])
    book.save(tmp_path / "sheet.xlsx")
    summary = ws.import_files([tmp_path / "sheet.xlsx"])
    assert (summary.stored, summary.rejected) == (2, 1)
    stored = events(ws)
    assert stored["person_id"].tolist() == ["541312140", "541312140"]  # a whole number, as is
    assert [str(t) for t in stored["ts"]] == ["2026-01-05 09:30:00", "2026-01-05 10:00:00"]
    assert stored["revenue"].tolist()[1] == 12.5
    # A value under no header is kept, named by its column.
    assert json.loads(stored["properties"].iloc[1]) == {"Paid": "true", "column6": "gift"}
    bad = rejected(ws).iloc[0]
    assert (bad["line"], bad["field"], bad["reason"]) == (5, "ts", "unparseable_timestamp")
    (tmp_path / "broken.xlsx").write_text("not a workbook")
    with pytest.raises(ImportFileError, match="not a readable Excel workbook"):
        ws.import_files([tmp_path / "broken.xlsx"])


def test_a_reports_title_lines_above_its_table_are_not_the_header(ws, tmp_path):
    # A BI tool's export: a title and a note above the table, a blank row, then the header.
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.append(["Customer events export"])
    sheet.append(["Generated 2024-02-01"])
    sheet.append([])
    sheet.append(["Timestamp", "Event Name", "Customer ID", "Revenue"])
    sheet.append([datetime(2024, 1, 5, 10, 0), "view", 1001, None])
    sheet.append([datetime(2024, 1, 5, 10, 5), "purchase", 1001, 19.5])
    book.save(tmp_path / "report.xlsx")
    summary = ws.import_files([tmp_path / "report.xlsx"])
    assert (summary.stored, summary.rejected) == (2, 0)
    stored = events(ws)
    assert stored["person_id"].tolist() == ["1001", "1001"]  # the customer is the person
    assert stored["revenue"].tolist()[1] == 19.5
    # A sheet of one column has its first row as the header.
    single = Workbook()
    single.active.append(["event"])
    single.active.append(["view"])
    single.save(tmp_path / "single.xlsx")
    with pytest.raises(
        ImportFileError, match=r"missing required column 'ts'\. Found columns: event"
    ):
        ws.import_files([tmp_path / "single.xlsx"])


def test_a_survey_tools_export_imports_as_feedback(ws, tmp_path):
    text = (
        "Response ID,Submitted At,Email,Score,Comment\n"
        "r1,2026-01-05 10:00,a@x.com,9,Great service\n"
        'r2,2026-01-06 11:00,b@x.com,3,"Slow delivery, bad support"\n'
    )
    # The e-mail address is whom the answer is from; the response id is the answer's own.
    summary = ws.import_files(
        [write(tmp_path / "survey.csv", text)], kind="feedback", constants={"metric": "nps"}
    )
    assert (summary.stored, summary.rejected) == (2, 0)
    answers = ws.feedback.order_by("ts").execute()
    assert answers["feedback_id"].tolist() == ["r1", "r2"]
    assert answers["person_id"].tolist() == ["a@x.com", "b@x.com"]
    assert answers["score"].tolist() == [9.0, 3.0]
    assert str(answers["ts"].iloc[1]) == "2026-01-06 11:00:00"
    # Without anybody's id, the answers are anonymous; such events would be nobody's.
    anonymous = write(
        tmp_path / "anonymous.csv", "Response ID,Submitted At,Score\nr3,2026-01-07,8\n"
    )
    summary = ws.import_files([anonymous], kind="feedback", constants={"metric": "nps"})
    assert (summary.stored, summary.rejected) == (1, 0)
    with pytest.raises(ImportFileError) as refused:
        ws.import_files([anonymous], constants={"event": "answered"})
    assert "to know whose rows these are" in str(refused.value)


def test_anonymous_survey_answers_are_stored_without_a_person_and_counted(ws, tmp_path):
    # Google Forms' default export has no id column at all; a Delighted response may have no
    # e-mail address. Their answers count (in the NPS of all respondents) with no person.
    gforms = write(
        tmp_path / "gforms.csv",
        '"Timestamp","How likely are you to recommend us?","Any comments?"\n'
        '"2026-03-01 10:00:00","9","Hyvä palvelu"\n'
        '"2026-03-01 11:00:00","6","Frakten var dyr"\n',
    )
    question = {"score": "How likely are you to recommend us?", "comment": "Any comments?"}
    summary = ws.import_files([gforms], "feedback", question, constants={"metric": "nps"})
    assert (summary.stored, summary.rejected) == (2, 0)
    delighted = write(
        tmp_path / "delighted.csv",
        "Response ID,Score,Response Timestamp,Person ID,Email,Delighted Source\n"
        "98765001,10,1772359200,444001,lars@example.se,email\n"
        "98765003,5,1772532000,444003,,link\n",
    )
    summary = ws.import_files([delighted], "feedback", constants={"metric": "nps"})
    assert (summary.stored, summary.rejected) == (2, 0)
    # Importing again stores nothing twice (an anonymous answer's id is its row's hash), and
    # events imported later (which update answers' people) leave the anonymous ones alone.
    again = ws.import_files([gforms], "feedback", question, constants={"metric": "nps"})
    assert (again.stored, again.already_stored) == (0, 2)
    ws.import_files([write(tmp_path / "e.csv", HEADER + "2026-03-01T09:00:00Z,view,a1,,\n")])
    answers = ws.feedback.order_by(["ts", "score"]).execute().astype({"ts": str})
    assert answers[["ts", "person_id", "score", "comment"]].values.tolist() == [
        ["2026-03-01 10:00:00", None, 9.0, "Hyvä palvelu"],
        ["2026-03-01 10:00:00", "lars@example.se", 10.0, None],
        ["2026-03-01 11:00:00", None, 6.0, "Frakten var dyr"],
        ["2026-03-03 10:00:00", None, 5.0, None],
    ]
    status = ws.status().to_dict()
    assert (status["feedback"], status["people"], status["rejected"]) == (4, 1, 0)


@pytest.mark.parametrize(
    ("header", "row", "expected"),
    [
        # Typeform: the answer's time is its submission, not when the form was opened.
        (
            "Start Date (UTC),Submit Date (UTC),email,Score",
            "2026-03-01 10:00:00,2026-03-01 10:01:30,ola@example.no,9",
            {"ts": "2026-03-01 10:01:30", "user_id": "ola@example.no"},
        ),
        # Typeform: its "#" is the response's token, the answer's id.
        (
            "#,Submit Date (UTC),email,Score",
            "a1b2c3d4e5f6g7h8,2026-03-01 10:01:30,ola@example.no,9",
            {"feedback_id": "a1b2c3d4e5f6g7h8"},
        ),
        # Elsewhere "#" numbers rows (answer 1 of every file): it stays a property.
        (
            "#,Submitted At,email,Score",
            "1,2026-03-01 10:01:30,ola@example.no,9",
            {"properties": '{"#":"1"}'},
        ),
        # Qualtrics: the respondent's language.
        (
            "RecordedDate,RecipientEmail,UserLanguage,Score",
            "2026-03-01 10:00:00,asa@example.se,SV,9",
            {"user_id": "asa@example.se", "language": "sv"},
        ),
        # Delighted: its Person ID is its own number; the shop knows the respondent by e-mail.
        (
            "Response ID,Score,Person ID,Email,Delighted Source,Created At",
            "98765001,9,444001,lars@example.se,email,2026-03-01 10:00:00",
            {"user_id": "lars@example.se", "feedback_id": "98765001"},
        ),
        # Delighted's Response Timestamp: epoch seconds.
        (
            "Response ID,Score,Comment,Response Timestamp,Response Date,Email",
            "98765001,10,Tack!,1772359200,2026-03-01 10:00:00 +0000,lars@example.se",
            {"ts": "2026-03-01 10:00:00", "comment": "Tack!"},
        ),
    ],
)
def test_survey_tools_headers_find_their_columns(ws, tmp_path, header, row, expected):
    path = write(tmp_path / "survey.csv", f"{header}\n{row}\n")
    summary = ws.import_files([path], kind="feedback", constants={"metric": "nps"})
    assert (summary.stored, summary.rejected) == (1, 0)
    answer = ws.feedback.execute().astype({"ts": str}).iloc[0]
    assert {column: answer[column] for column in expected} == expected


def test_a_score_exported_with_its_label_is_read(ws, tmp_path):
    # Survey tools export an answer's label beside its number; a label alone, or a range, is
    # no score.
    survey = write(
        tmp_path / "labels.csv",
        "ResponseId,RecordedDate,Email,NPS\n"
        "R1,2026-03-01 10:00,a@x.com,10 - Extremely likely\n"
        "R2,2026-03-01 10:00,b@x.com,0 – Not at all likely\n"
        "R3,2026-03-01 10:00,c@x.com,5 (Neutral)\n"
        "R4,2026-03-01 10:00,d@x.com,Very likely\n"
        "R5,2026-03-01 10:00,e@x.com,9-10\n",
    )
    summary = ws.import_files([survey], "feedback", {"score": "NPS"}, constants={"metric": "nps"})
    assert (summary.stored, summary.rejected_by_reason) == (3, {"invalid_score": 2})
    scores = ws.feedback.order_by("feedback_id").execute()["score"].tolist()
    assert scores == [10.0, 0.0, 5.0]


@pytest.mark.parametrize(
    ("metric", "scores"),
    [("csat", [5.0, 1.0, 5.0, 1.0, 5.0]), ("success", [1.0, 0.0, 1.0, 0.0, 1.0])],
)
def test_a_good_or_bad_rating_is_the_top_or_bottom_of_the_scale(ws, tmp_path, metric, scores):
    # Zendesk rates a ticket Good or Bad (its survey page says "Good, I'm satisfied"); a CSAT
    # or a success reads them as its scale's ends. "Offered" (asked, not answered) is no score.
    zendesk = write(
        tmp_path / "zendesk.csv",
        "Ticket ID,Satisfaction,Created at,Requester email\n"
        "12001,Good,2026-03-01 10:00:00 +0100,asa@example.se\n"
        "12002,bad,2026-03-01 10:00:01 +0100,matti@example.fi\n"
        '12003,"Good, I\u2019m satisfied",2026-03-01 10:00:02 +0100,kari@example.no\n'
        '12004,"Bad, I\'m unsatisfied",2026-03-01 10:00:03 +0100,ion@example.ro\n'
        "12005,Good with comment,2026-03-01 10:00:04 +0100,li@example.cn\n"
        "12006,Offered,2026-03-01 10:00:05 +0100,ola@example.no\n",
    )
    mapping = {"score": "Satisfaction"}
    summary = ws.import_files([zendesk], "feedback", mapping, constants={"metric": metric})
    assert (summary.stored, summary.rejected_by_reason) == (5, {"invalid_score": 1})
    answers = ws.feedback.order_by("ts").execute()
    assert answers["score"].tolist() == scores
    assert answers["user_id"].tolist()[0] == "asa@example.se"  # Zendesk's requester
    # An NPS has no good or bad: the words stay unread.
    summary = ws.import_files([zendesk], "feedback", mapping, constants={"metric": "nps"})
    assert (summary.stored, summary.rejected_by_reason) == (0, {"invalid_score": 6})


def test_a_response_with_several_questions_is_an_answer_per_metric(ws, tmp_path):
    # One survey response, two questions: imported once per metric, both answers are stored
    # under the response's id; importing either again stores nothing. A later login of the
    # visitor moves both answers to the user.
    survey = write(
        tmp_path / "survey.csv",
        "ResponseId,RecordedDate,anonymous_id,NPS,CSAT\nR1,2026-03-01 10:00,d1,9,5\n",
    )
    for metric in ("NPS", "CSAT", "CSAT"):
        ws.import_files(
            [survey], "feedback", {"score": metric}, constants={"metric": metric.lower()}
        )
    visits = "".join(f"2026-03-01T09:0{i}:00Z,page_view,d1,\n" for i in range(4))
    ws.import_files([write(tmp_path / "visits.csv", "ts,event,anonymous_id,user_id\n" + visits)])
    ws.import_files(
        [
            write(
                tmp_path / "login.csv",
                "ts,event,anonymous_id,user_id\n2026-03-02T09:00:00Z,login,d1,u1\n",
            )
        ]
    )
    answers = ws.feedback.order_by("metric").execute()
    assert answers[["feedback_id", "metric", "score"]].values.tolist() == [
        ["R1", "csat", 5.0],
        ["R1", "nps", 9.0],
    ]
    assert answers["person_id"].tolist() == ["u1", "u1"]


def test_a_qualtrics_export_names_its_respondents_and_skips_its_two_label_rows(ws, tmp_path):
    # Qualtrics writes the question texts and its import ids as two rows under the header:
    # they label the columns (no rows, nothing rejected); the answers are the recipients', and
    # a bad one is rejected under its own line.
    text = (
        "StartDate,RecordedDate,ResponseId,RecipientEmail,Q1,Q2\n"
        'Start Date,Recorded Date,Response ID,Recipient Email,"How likely\n...?",Why?\n'
        '"{""ImportId"":""startDate"",""timeZone"":""America/Denver""}",'
        '"{""ImportId"":""recordedDate""}",'
        '"{""ImportId"":""_recordId""}","{""ImportId"":""recipientEmail""}",'
        '"{""ImportId"":""QID1""}","{""ImportId"":""QID2_TEXT""}"\n'
        "2026-03-01 10:00:00,2026-03-01 10:02:12,R_1a,ann@example.com,9,Fast delivery\n"
        "2026-03-01 11:00:00,yesterday,R_2b,bo@example.com,7,\n"
    )
    summary = ws.import_files(
        [write(tmp_path / "qualtrics.csv", text)],
        kind="feedback",
        mapping={"score": "Q1", "comment": "Q2"},
        constants={"metric": "nps"},
    )
    assert (summary.rows, summary.stored, summary.rejected) == (2, 1, 1)
    assert rejected(ws)[["line", "reason"]].values.tolist() == [[6, "unparseable_timestamp"]]
    answer = ws.feedback.execute().iloc[0]
    assert (answer["feedback_id"], answer["person_id"], answer["score"]) == (
        "R_1a",
        "ann@example.com",
        9.0,
    )


def test_rows_under_the_header_are_data_unless_every_cell_is_an_import_id(ws, tmp_path):
    text = (
        "ts,event,user_id,props\n"
        "label,label,label,label\n"
        '2026-03-01T10:00:00Z,a,u1,"{""ImportId"":""x""}"\n'
    )
    summary = ws.import_files([write(tmp_path / "e.csv", text)])
    assert (summary.rows, summary.stored, summary.rejected) == (2, 1, 1)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_flattened_export_s_properties_columns_are_the_properties(tmp_path, suffix):
    # PostHog's CSV export (and pandas' json_normalize) flattens properties into columns named
    # properties.<key>: they are the row's properties, and PostHog's $device_type says the device.
    frame = pd.DataFrame(
        {
            "event": ["$pageview", "$pageview"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"],
            "distinct_id": ["d1", "d1"],
            "properties.$current_url": ["https://x.io/pricing", "https://x.io/signup"],
            "properties.$device_type": ["Mobile", "Mobile"],
            "plan": ["pro", None],
        }
    )
    path = write_frame(frame, tmp_path / f"posthog.{suffix}")
    with init_workspace(tmp_path / "ws") as workspace:
        workspace.import_files([path])
        stored = events(workspace)
    assert stored["device"].tolist() == ["mobile", "mobile"]
    assert json.loads(stored["properties"][0]) == {
        "$current_url": "https://x.io/pricing",
        "$device_type": "Mobile",
        "plan": "pro",
    }


def _mixpanel_events() -> list[dict]:
    """A visit on a device, the login that names its user, and a purchase, as Mixpanel exports
    them: every field but the event in ``properties``."""
    base = {"$device_id": "dev1", "$os": "iOS", "mp_lib": "web"}
    return [
        {
            "event": "Page Viewed",
            "properties": {
                **base,
                "time": 1772359200,
                "distinct_id": "$device:dev1",
                "$insert_id": "i1",
                "$current_url": "https://shop.example.com/",
                "utm_source": "facebook",
                "utm_medium": "social",
            },
        },
        {
            "event": "Purchase",
            "properties": {
                **base,
                "time": 1772359260,
                "distinct_id": "u-101",
                "$user_id": "u-101",
                "$insert_id": "i2",
                "revenue": 49.5,
                "currency": "EUR",
            },
        },
    ]


def _posthog_events() -> list[dict]:
    """An anonymous visit and a purchase of one person, as PostHog's events export holds them."""

    def event(n: int, name: str, url: str, **properties: str) -> dict:
        return {
            "event": name,
            "distinct_id": "0190-anon",
            "timestamp": f"2026-03-01T10:0{n}:00.250000Z",
            "properties": {"$current_url": url, "$device_type": "Tablet", **properties},
            "person": {"properties": {"email": "ann@example.com"}},
            "person_id": "0190-person",
            "uuid": f"0190-e{n}",
        }

    return [
        event(0, "$pageview", "https://shop.example.com/", utm_source="newsletter"),
        event(1, "purchase", "https://shop.example.com/thanks", **{"$browser": "Safari"}),
    ]


CANONICAL = ["event_id", "ts", "event", "anonymous_id", "user_id", "person_id", "device"]
CANONICAL += ["source", "medium", "channel", "revenue", "currency", "touchpoint"]


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        (
            _mixpanel_events(),
            [
                ["i1", "dev1", None, "u-101", "mobile", "facebook", "social"],
                ["i2", "dev1", "u-101", "u-101", "mobile", None, None],
            ],
        ),
        (
            _posthog_events(),
            [
                [
                    "0190-e0",
                    "0190-anon",
                    "0190-person",
                    "0190-person",
                    "tablet",
                    "newsletter",
                    None,
                ],
                ["0190-e1", "0190-anon", "0190-person", "0190-person", "tablet", None, "web"],
            ],
        ),
    ],
    ids=["mixpanel", "posthog"],
)
def test_a_flattened_csv_export_reads_as_its_json_export(tmp_path, records, expected):
    # Mixpanel's and PostHog's CSV exports flatten the nested fields into columns named with dots
    # (properties.time, properties.$insert_id, person.properties.email): each canonical column is
    # what the JSON export of the same events gives (Mixpanel's was refused: no 'ts' column).
    json_path = write(tmp_path / "export.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    pd.json_normalize(records).to_csv(tmp_path / "export.csv", index=False)
    stored = {}
    for path in (json_path, tmp_path / "export.csv"):
        with init_workspace(tmp_path / f"ws-{path.suffix}") as workspace:
            summary = workspace.import_files([path])
            assert (summary.stored, summary.rejected) == (2, 0)
            stored[path.suffix] = events(workspace)[CANONICAL]
    pd.testing.assert_frame_equal(stored[".csv"], stored[".jsonl"])
    shown = ["event_id", "anonymous_id", "user_id", "person_id", "device", "source", "channel"]
    assert stored[".csv"][shown].values.tolist() == expected


def test_posthog_and_amplitude_exports_give_device_and_campaign(ws, tmp_path):
    posthog = pd.DataFrame(
        {
            "uuid": ["p1", "p2"],
            "event": ["$pageview", "$pageview"],
            "timestamp": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z"],
            "distinct_id": ["d1", "d1"],
            "properties": [
                json.dumps({"$device_type": "Mobile", "utm_source": "newsletter"}),
                json.dumps({"$device_type": "Desktop"}),
            ],
        }
    )
    posthog.to_csv(tmp_path / "posthog.csv", index=False)
    amplitude = {
        "uuid": "a1",
        "event_type": "Add To Cart",
        "event_time": "2026-01-01 11:00:00.000000",
        "device_id": "dev9",
        "user_id": "u9",
        "event_properties": {"sku": "X1"},
        "user_properties": {"utm_source": "google", "utm_medium": "cpc"},
    }
    write(tmp_path / "amplitude.jsonl", json.dumps(amplitude) + "\n")
    ws.import_files([tmp_path / "posthog.csv", tmp_path / "amplitude.jsonl"])
    frame = events(ws).set_index("event_id")
    assert frame.loc[["p1", "p2"], "device"].tolist() == ["mobile", "desktop"]
    assert frame.loc[["p1", "p2"], "source"].tolist() == ["newsletter", None]
    assert frame.loc["a1", ["source", "medium"]].tolist() == ["google", "cpc"]


def test_an_amplitude_export_keeps_every_event_of_every_device(ws, tmp_path):
    # Amplitude's event_id counts each device's events: two devices both have 1, 2, ... Read as
    # the event's id, only one device's events would be stored; uuid is the id.
    rows = [
        {
            "amplitude_id": 100 + n,
            "uuid": f"{device}-{i}",
            "$insert_id": f"insert-{device}-{i}",
            "event_id": i,
            "event_type": event,
            "event_time": f"2026-01-01 10:0{i}:00.000000",
            "device_id": device,
            "user_id": None,
            "event_properties": {"$revenue": 20.0} if event == "Purchased" else {"sku": "X1"},
        }
        for n, device in enumerate(["d1", "d2"])
        for i, event in enumerate(["Viewed Pricing", "Purchased"], start=1)
    ]
    write(tmp_path / "amplitude.jsonl", "".join(json.dumps(r) + "\n" for r in rows))
    summary = ws.import_files([tmp_path / "amplitude.jsonl"])
    assert summary.stored == 4
    frame = events(ws).set_index("event_id").sort_index()
    assert frame.index.tolist() == ["d1-1", "d1-2", "d2-1", "d2-2"]
    assert frame["revenue"].tolist()[1::2] == [20.0, 20.0]
    assert [json.loads(p)["event_id"] for p in frame["properties"]] == ["1", "2", "1", "2"]
    again = ws.import_files([tmp_path / "amplitude.jsonl"], mapping={"event_id": "uuid"})
    assert again.stored == 0  # the same ids: nothing twice


def test_odd_nested_values_never_stop_an_import(ws, tmp_path):
    base = {"ts": "2026-01-01T10:00:00Z", "event": "x", "anonymous_id": "a1"}
    odd = [
        {"event_params": [1, "two"]},
        {"event_params": {"key": "value"}},
        {"event_params": [{"key": "k", "value": "flat"}]},
        {"device": ["mobile"]},
        {"ecommerce": {"purchase_revenue": "lots"}},
    ]
    lines = [json.dumps({**base, "event_id": f"o{i}", **row}) for i, row in enumerate(odd)]
    summary = ws.import_files([write(tmp_path / "odd.jsonl", "\n".join(lines) + "\n")])
    assert summary.stored + summary.rejected == len(odd)
    assert summary.rejected_by_reason == {"invalid_revenue": 1}


def test_set_gives_a_column_the_file_lacks_one_value(ws, tmp_path):
    # A survey tool's NPS export has no metric column; a store's sales file no channel.
    survey = write(
        tmp_path / "nps.csv",
        "Created At,Email,Score,Comment,name\n2026-01-02T09:00:00Z,u1,9,Smidigt!,Ann\n",
    )
    mapping = {"ts": "Created At", "user_id": "Email", "score": "Score", "comment": "Comment"}
    summary = ws.import_files([survey], "feedback", mapping, constants={"metric": "nps"})
    assert (summary.stored, summary.rejected) == (1, 0)
    answers = ws.feedback.execute()
    assert answers[["metric", "score", "person_id"]].values.tolist() == [["nps", 9.0, "u1"]]

    table = pa.table({"ts": ["2026-01-01T10:00:00Z"] * 2, "event": ["purchase", "refund"]})
    table = table.append_column("user_id", pa.array(["u1", "u1"]))
    pq.write_table(table, tmp_path / "store.parquet", row_group_size=1)  # scanned by the store
    csv = write(
        tmp_path / "store.csv", "ts,event,user_id,name\n2026-01-01T11:00:00Z,purchase,u2,x\n"
    )
    ws.import_files([tmp_path / "store.parquet", csv], constants={"channel": "store"})
    stored = events(ws)
    assert stored["channel"].tolist() == ["store", "store", "store"]
    assert stored["event"].tolist() == ["purchase", "refund", "purchase"]  # `name`: a property
    assert json.loads(stored["properties"][2]) == {"name": "x"}


@pytest.mark.parametrize(
    ("constants", "message"),
    [
        ({"metrik": "nps"}, "'metrik' is not a column of the feedback table"),
        ({"score": "9"}, "would hide the file's column 'score'"),
    ],
)
def test_set_refuses_unknown_or_hidden_columns(ws, tmp_path, constants, message):
    path = write(tmp_path / "f.csv", "ts,user_id,score\n2026-01-02T09:00:00Z,u1,9\n")
    with pytest.raises(ImportFileError, match=message):
        ws.import_files([path], "feedback", constants={"metric": "nps", **constants})
    assert ws.store.count("feedback") == 0


def test_a_row_without_an_id_hashes_alike_as_json_lines_and_csv(tmp_path):
    # The stand-in id is a hash of the row as given, nested JSON included as its text: the
    # same row from either format is one event, and an import never changes it.
    row = {"timestamp": "2026-01-01T11:00:00Z", "event": "x", "anonymousId": "a", "ctx": {"k": 5}}
    jsonl = write(tmp_path / "r.jsonl", json.dumps(row) + "\n")
    csv = write(
        tmp_path / "r.csv",
        'timestamp,event,anonymousId,ctx\n2026-01-01T11:00:00Z,x,a,"{""k"":5}"\n',
    )
    ids = []
    for path in (jsonl, csv):
        with init_workspace(tmp_path / path.suffix[1:]) as workspace:
            workspace.import_files([path])
            ids.append(events(workspace)["event_id"].tolist())
    assert ids[0] == ids[1]
    assert len(ids[0][0]) == 32


def test_a_json_record_without_an_id_hashes_alike_whatever_records_come_with_it(tmp_path):
    # A log that grows: the same record, read in a block with records of other keys (or an
    # explicit null), is the same event; importing the grown file stores only what is new.
    record = {"ts": "2026-01-01T11:00:00Z", "event": "x", "anonymousId": "a"}
    later = {"ts": "2026-01-01T12:00:00Z", "event": "y", "anonymousId": "a", "plan": "pro"}
    nulls = {**record, "userId": None}
    log = tmp_path / "log.jsonl"
    ids = []
    with init_workspace(tmp_path / "ws") as workspace:
        for records in ([record], [record, later]):
            log.write_text("".join(json.dumps(r) + "\n" for r in records))
            assert workspace.import_files([log]).stored == 1
        ids.append(events(workspace).set_index("event")["event_id"]["x"])
    with init_workspace(tmp_path / "nulls") as workspace:
        workspace.import_files([write(tmp_path / "nulls.jsonl", json.dumps(nulls) + "\n")])
        ids.append(events(workspace)["event_id"][0])
    assert ids[0] == ids[1]


def test_parquet_with_typed_columns(ws, tmp_path):
    table = pa.table(
        {
            "ts": pa.array([1767261600_000000, 1767265200_000000], pa.timestamp("us", tz="UTC")),
            "event": ["a", "purchase"],
            "user_id": pa.array([1, 2], pa.int64()),
            "revenue": [None, 12.5],
        }
    )
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    ws.import_files([path])
    frame = events(ws)
    assert frame["person_id"].tolist() == ["1", "2"]
    assert frame["ts"].astype(str).tolist() == ["2026-01-01 10:00:00", "2026-01-01 11:00:00"]
    assert frame["revenue"].tolist()[1] == 12.5


def test_feedback_import_checks_scales(ws, tmp_path):
    path = write(
        tmp_path / "f.csv",
        "ts,user_id,metric,score,touchpoint,comment,language\n"
        "2026-01-01,u,nps,9,checkout_payment,Smidigt!,sv\n"
        "2026-01-01,u,nps,11,checkout_payment,,\n"
        "2026-01-01,u,mood,3,,,\n",
    )
    summary = ws.import_files([path], kind="feedback")
    assert summary.stored == 1
    assert sorted(rejected(ws)["reason"]) == ["score_out_of_range", "unknown_metric"]
    frame = ws.feedback.execute()
    assert frame["person_id"].tolist() == ["u"]
    assert frame["comment"].tolist() == ["Smidigt!"]


def test_an_nps_answer_is_a_whole_number(ws, tmp_path):
    # An NPS of 7.5 (an average, or a typo) is neither passive nor promoter: refused. Other
    # scales take halves (a CSAT of 4.5 stars).
    path = write(
        tmp_path / "f.csv",
        "ts,user_id,metric,score\n2026-01-01,u,nps,7.5\n2026-01-01,u,nps,8\n"
        "2026-01-01,v,csat,4.5\n",
    )
    summary = ws.import_files([path], kind="feedback")
    assert summary.stored == 2
    reasons = rejected(ws)
    assert reasons["reason"].tolist() == ["score_out_of_range"]
    assert "whole number from 0 to 10" in reasons["detail"].iloc[0]
    assert sorted(ws.feedback.execute()["score"].tolist()) == [4.5, 8.0]


def test_touchpoint_catalog_import_merges_into_the_config(ws, tmp_path):
    path = write(
        tmp_path / "cat.csv",
        "touchpoint,match,stage,channel,kind,cost\n"
        "podcast,podcast_*|promo_pod,Medvetenhet,offline,paid,500\n"
        "broken,x,nowhere,web,owned,0\n",
    )
    summary = ws.import_files([path], kind="touchpoints")
    assert (summary.stored, summary.rejected) == (1, 1)
    podcast = {t.touchpoint: t for t in ws.config.touchpoints}["podcast"]
    assert podcast.match == ("podcast_*", "promo_pod")
    assert podcast.stage == "awareness"
    from journeylens.workspace import open_workspace

    ws.close()
    reopened = open_workspace(ws.path)
    assert "podcast" in {t.touchpoint for t in reopened.config.touchpoints}
    reopened.close()


def mixed_parquet(path: Path, row_group_size: int = 3) -> Path:
    """Good rows, duplicates, rows without ids, bad rows and an unknown column, as Parquet."""
    at = pa.timestamp("us")
    table = pa.table(
        {
            "messageId": ["m1", "m1", None, None, "m4", "m5", "m6", "m7", "m8"],
            "ts": pa.array(
                [
                    "2026-01-01 10:00:00",
                    "2026-01-01 11:00:00",
                    "2026-01-01 12:00:00",
                    "2026-01-01 12:00:00",
                    "2026-01-02 10:00:00",
                    "2031-01-01 10:00:00",
                    None,
                    "2026-01-03 09:00:00",
                    "2026-01-03 10:00:00",
                ],
                pa.string(),
            ).cast(at),
            "received_at": pa.array([1767261600_000000] * 9, at),
            "event": ["a", "dup", "b", "b", "purchase", "x", "x", "purchase", "pricing_view"],
            "anonymous_id": ["x", "x", "x", "y", "x", "x", "x", None, "z"],
            "userId": [None, None, None, None, "u1", None, None, None, "u1"],
            "revenue": [None, None, None, None, 10.0, None, None, -3.0, None],
            "stage": [None, None, None, None, None, None, None, None, "Övervägande"],
            "plan": [None, "pro", None, "free", None, None, None, None, None],
        }
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.mark.parametrize("timezone", ["UTC", "Europe/Oslo"])
@pytest.mark.parametrize(("row_group_size", "parts"), [(3, [6, 3]), (100, [4, 4, 1])])
def test_parquet_read_by_the_store_gives_what_the_batch_reader_gives(
    tmp_path, monkeypatch, timezone, row_group_size, parts
):
    """The store scanning the file (row groups of 3: in row ranges of whole groups) or reading
    its Arrow batches (one row group), Arrow batches arranged in Python and Arrow batches
    checked apart (as on Spark) store the same rows and rejections."""
    from journeylens.collect import importer

    path = mixed_parquet(tmp_path / "mixed.parquet", row_group_size)
    monkeypatch.setattr(importer, "SCAN_ROWS", 4)
    monkeypatch.setattr(importer, "CHUNK_ROWS", 3)  # Arrow parts cut into record batches of 3
    scan = importer._scannable
    ways = {"scan": (scan, True), "batches": (lambda r: False, True), "arrow": (scan, False)}
    results = {}
    for name, (scannable, native) in ways.items():
        monkeypatch.setattr(importer, "_scannable", scannable)
        with init_workspace(tmp_path / name, template="four_stage_delight") as workspace:
            if not native:
                monkeypatch.setattr(workspace.store, "sql_connection", lambda: None)
            seen: list[int] = []
            summary = workspace.import_files([path], timezone=timezone, progress=seen.append)
            summary = summary.to_dict()
            summary.pop("seconds"), summary.pop("rows_per_second")
            bad = rejected(workspace).drop(columns="rejected_at")
            results[name] = (summary, events(workspace), bad, seen)
    summary, stored, bad, seen = results["scan"]
    assert seen == parts
    assert summary["rejected_by_reason"] == {
        "future_timestamp": 1,
        "missing_timestamp": 1,
        "missing_id": 1,
    }
    assert (summary["stored"], summary["duplicates_in_files"]) == (5, 1)
    assert bad["line"].tolist() == [6, 7, 8]
    assert json.loads(stored.set_index("event_id").loc["m1", "properties"] or "{}") == {}
    for other in ("batches", "arrow"):
        assert results[other][0] == summary
        pd.testing.assert_frame_equal(results[other][1], stored)
        pd.testing.assert_frame_equal(results[other][2], bad)


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
def test_a_file_of_thousands_of_columns_imports_as_a_narrow_one_would(
    tmp_path, monkeypatch, suffix
):
    # An analytics tool's raw data feed can have a thousand columns and more; each used to be
    # carried through every step of the parsing, which ran out of memory for a few rows.
    from journeylens.collect import validate

    def feed(columns: int) -> Path:
        extra = {f"col_{i}": [f"v{i}", None, str(i)] for i in range(columns)}
        frame = pd.DataFrame(
            {
                "ts": ["2026-01-01T10:00:00Z", "2026-01-01T10:01:00Z", "not a time"],
                "event": ["view", "buy", "view"],
                "user_id": ["u1", "u1", "u2"],
                **extra,
            }
        )
        return write_frame(frame, tmp_path / f"feed_{columns}.{suffix}")

    with init_workspace(tmp_path / "wide") as wide:
        summary = wide.import_files([feed(3000)])
        stored = events(wide)
        assert (summary.stored, summary.rejected) == (2, 1)
        assert json.loads(stored["properties"][0])["col_2999"] == "v2999"
        assert rejected(wide)["row"][0].startswith('{"ts":"not a time"')

    # Past WIDE_COLUMNS the batch is narrowed at the scan: the same rows, ids and properties
    # as without narrowing.
    stores = []
    for name, threshold in (("narrowed", validate.WIDE_COLUMNS), ("whole", 10**6)):
        monkeypatch.setattr(validate, "WIDE_COLUMNS", threshold)
        with init_workspace(tmp_path / name) as workspace:
            workspace.import_files([feed(150)])
            stores.append((events(workspace).drop(columns="received_at"), rejected(workspace)))
    pd.testing.assert_frame_equal(stores[0][0], stores[1][0])
    cut = ["line", "field", "reason", "detail", "row"]
    pd.testing.assert_frame_equal(stores[0][1][cut], stores[1][1][cut])


def test_an_imports_rejected_rows_list_by_line_whatever_batch_read_them(ws, tmp_path, monkeypatch):
    # A file read in many batches: its rejected rows share the import's time, so the listing
    # (newest import first) starts at the file's first bad line, not at the last batch's.
    from journeylens.analytics.rejected import run_rejected

    monkeypatch.setattr(csvfiles, "CSV_BLOCK_BYTES", 256)
    rows = "".join(
        f"2026-01-0{1 + i % 9}T10:00:00Z,view,u{i}\nlater,view,u{i}\n" for i in range(40)
    )
    summary = ws.import_files([write(tmp_path / "e.csv", "ts,event,user_id\n" + rows)])
    assert (summary.stored, summary.rejected) == (40, 40)
    assert ws.rejected.rejected_at.nunique().execute() == 1
    assert run_rejected(ws.rejected, limit=3).rows["line"].tolist() == [3, 5, 7]


def test_a_sites_own_log_knows_the_visitor_by_cookie_before_the_signup(ws, tmp_path):
    # The first touch (an ad click, by cookie only) was rejected for want of an id, and the
    # cookie never linked to the e-mail the signup gave: the journey lost its first touch.
    text = (
        "timestamp,event,cookie_id,email,utm_source\n"
        "2024-03-01T09:00:00Z,landing_page_view,c1,,google\n"
        "2024-03-01T09:02:00Z,signup,c1,ann@x.com,\n"
    )
    summary = ws.import_files([write(tmp_path / "web.csv", text)])
    assert (summary.stored, summary.rejected) == (2, 0)
    stored = events(ws)
    assert stored["person_id"].tolist() == ["ann@x.com", "ann@x.com"]
    assert stored["source"].tolist()[0] == "google"


def test_a_process_mining_csv_export_reads_case_activity_and_completion(ws, tmp_path):
    # Disco's and the BPI challenges' CSV shape: the case is the person, the activity the event,
    # the completion its time (the start stays a property).
    text = (
        "Case ID,Activity,Resource,Start Timestamp,Complete Timestamp\n"
        "173688,A_SUBMITTED,112,2011/10/01 00:38:44.546,2011/10/01 00:38:44.546\n"
        "173688,W_Completeren aanvraag,112,2011/10/01 00:40:00.000,2011/10/01 11:45:13.917\n"
    )
    assert ws.import_files([write(tmp_path / "bpi.csv", text)]).stored == 2
    stored = events(ws)
    assert stored["event"].tolist() == ["A_SUBMITTED", "W_Completeren aanvraag"]
    assert stored["person_id"].tolist() == ["173688", "173688"]
    assert str(stored["ts"].iloc[1]) == "2011-10-01 11:45:13.917000"
    assert json.loads(stored["properties"].iloc[1])["Start Timestamp"] == "2011/10/01 00:40:00.000"


def test_a_zip_archive_of_gzipped_exports_imports_as_its_files(ws, tmp_path):
    # Amplitude's export: a zip of gzipped JSON Lines files, one per hour, in a folder.
    def hour(h: int) -> bytes:
        rows = [
            {
                "uuid": f"e{h}{i}",
                "event_type": "page_view",
                "device_id": "d1",
                "event_time": f"2026-01-01 1{h}:0{i}:00.000000",
            }
            for i in range(3)
        ]
        return gzip.compress("".join(json.dumps(r) + "\n" for r in rows).encode())

    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        for h in (0, 1):
            packed.writestr(f"123/123_2026-01-01_{h}#0.json.gz", hour(h))
        packed.writestr("123/README", "not data")
    assert ws.import_files([archive]).stored == 6
    assert ws.import_files([archive]).stored == 0  # again: nothing twice
    assert not [p for p in ws.path.iterdir() if "export.zip" in p.name]  # unpacked, removed


def test_an_archives_rejected_rows_name_its_member_and_are_replaced_on_import_again(ws, tmp_path):
    archive = tmp_path / "calls.zip"
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr(
            "calls.csv",
            "user_id,ts,event\nz1,2026-01-05T10:00:00Z,call\n,2026-01-05T11:00:00Z,call\n",
        )
        packed.writestr("broken/more.csv", "")
    for _ in range(3):
        with pytest.raises(ImportFileError) as refused:
            ws.import_files([archive])
        # The empty member is named as it is in the archive, not by its scratch copy.
        assert str(archive / "broken" / "more.csv") in str(refused.value)
        assert "journeylens-calls.zip" not in str(refused.value)
    (tmp_path / "calls.zip").unlink()
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr(
            "calls.csv",
            "user_id,ts,event\nz1,2026-01-05T10:00:00Z,call\n,2026-01-05T11:00:00Z,call\n",
        )
    for _ in range(3):
        ws.import_files([archive])
    stored = rejected(ws)
    assert stored["source"].tolist() == [str(archive / "calls.csv")]
    assert ws.status().to_dict()["rejected"] == 1


def test_an_archive_that_would_unpack_outside_its_folder_or_is_no_zip_is_refused(ws, tmp_path):
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as packed:
        packed.writestr("../outside.csv", "ts,event,user_id\n2026-01-01T10:00:00Z,x,u1\n")
    with pytest.raises(ImportFileError, match="would be unpacked outside"):
        ws.import_files([sneaky])
    assert not (tmp_path / "outside.csv").exists()
    with pytest.raises(ImportFileError, match="not a readable zip archive"):
        ws.import_files([write(tmp_path / "broken.zip", "no zip")])
    empty = tmp_path / "empty.zip"
    with zipfile.ZipFile(empty, "w") as packed:
        packed.writestr("notes.txt", "nothing")
    with pytest.raises(ImportFileError, match="an archive without a file to import"):
        ws.import_files([empty])
    assert ws.status().to_dict()["events"] == 0


def test_a_language_tag_is_stored_as_its_primary_subtag(ws, tmp_path):
    # Tools write the answer's language as FI, nb-NO, zh_CN or (Qualtrics) ZH-S and NO; the
    # six languages' comments group under fi, nb, zh: text that is no tag stays as given.
    given = ["FI", "nb-NO", "zh_CN", "ZH-S", "NO", "sv-SE", " en ", "Svenska språket"]
    rows = "".join(f"2026-03-0{i + 1}T10:00:00Z,u{i},nps,9,{g}\n" for i, g in enumerate(given))
    data = write(tmp_path / "fb.csv", "ts,user_id,metric,score,language\n" + rows)
    assert ws.import_files([data], "feedback").stored == len(given)
    stored = ws.feedback.order_by("ts").execute()["language"].tolist()
    assert stored == ["fi", "nb", "zh", "zh", "nb", "sv", "en", "Svenska språket"]


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_values_of_spaces_alone_are_missing_and_spaced_values_are_kept(ws, tmp_path, suffix):
    # White space of any kind (spaces: ASCII, no-break, ideographic; a tab) alone is an empty
    # value: line 2's user id is missing, line 3 has no id at all, line 5 only its anonymous
    # one. Values with text are stored as given, the spaces around them too (line 4's event).
    frame = pd.DataFrame(
        {
            "ts": ["2026-01-01T10:00:00Z"] * 4,
            "event": ["view", "view", " view ", "view"],
            "anonymous_id": ["a1", " \u00a0", "a3", "a4"],
            "user_id": ["\u3000 ", "  ", None, "\t"],
        }
    )
    summary = ws.import_files([write_frame(frame, tmp_path / f"e{suffix}")])
    assert (summary.stored, summary.rejected_by_reason) == (3, {"missing_id": 1})
    stored = ws.events.order_by("anonymous_id").execute()
    assert stored["anonymous_id"].tolist() == ["a1", "a3", "a4"]
    assert stored["user_id"].tolist() == [None, None, None]
    assert stored["event"].tolist() == ["view", " view ", "view"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_tabs_and_line_breaks_around_an_id_are_white_space_like_spaces(ws, tmp_path, suffix):
    # A tab alone is no id (visitors v1 and v2 are not one person "\t"), nor is a placeholder
    # with a tab or a line break around it; an id with text keeps it as given, as with spaces.
    users = ["\t", "\t", "\tundefined", "undefined\r\n", "\u00a0\tnull\u2028", "\tbo"]
    frame = pd.DataFrame(
        {
            "ts": [f"2026-03-01T1{i}:00:00Z" for i in range(len(users))],
            "event": ["view"] * len(users),
            "anonymous_id": [f"v{i + 1}" for i in range(len(users))],
            "user_id": users,
        }
    )
    path = tmp_path / f"ids{suffix}"
    if suffix == ".jsonl":
        frame.to_json(path, orient="records", lines=True)
    else:
        frame.to_csv(path, index=False)
    assert ws.import_files([path]).stored == len(users)
    stored = events(ws)
    assert stored["user_id"].tolist() == [None] * 5 + ["\tbo"]
    assert stored["person_id"].tolist() == ["v1", "v2", "v3", "v4", "v5", "\tbo"]
