"""Attribution from a path-counts file gives what the same journeys give as events."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys

import ibis
import pandas as pd
import pytest

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.analytics.path_counts import read_path_counts, run_path_attribution
from journeylens.errors import ImportFileError, SpecError
from journeylens.testing import converting_events, journey_paths, journeys

# Models that read neither times nor the direct channel: a path carries neither.
MODELS = ["first_touch", "last_touch", "linear", "u_shape", "j_shape", "markov", "shapley"]
# Peak resident memory (MB) of a run on 600,000 counted journeys with the engine held to 128 MB:
# about 230 here, what three journeys take (written out by the engine the journeys took 400,
# expanded in Python 870).
PEAK_MB = 600


def test_path_counts_attribute_as_the_journeys_they_count(tmp_path):
    events = ibis.memtable(converting_events(seed=11, people=2000))
    spec = AttributionSpec(MODELS, level="touchpoint")
    paths = journey_paths(events, spec)
    file = tmp_path / "paths.csv"
    names = {"conv": "total_conversions", "value": "total_conversion_value", "null": "total_null"}
    paths.rename(columns=names).to_csv(file, index=False)
    ours = run_path_attribution(file, MODELS)
    direct = run_attribution(events, spec)
    for measure in ("conversions", "revenue"):
        got = ours.pivot(measure).rename_axis("key").sort_index()
        want = direct.pivot(measure).rename_axis("key").sort_index()
        pd.testing.assert_frame_equal(got, want, rtol=1e-9, check_names=False)
    assert ours.totals["conversions"] == direct.totals["conversions"]


ROWS = [  # path, conversions, value, nulls
    ("search > email > direct", 2, 30.0, 3),
    ("(direct) / (none) > email", 1, 7.5, 0),
    ("social", 0, 0.0, 4),
    ("search > search > social > email", 3, 45.5, 1),
    ("direct", 1, 2.0, 2),
]


def _written_out(rows):
    """The journeys the rows count, one by one, as events: touches a second apart, the
    conversion a second after the last."""
    people = {}
    for path, conversions, value, nulls in rows:
        names = [n.strip() for n in path.split(">")]
        for k in range(conversions + nulls):
            steps = [
                (n, "2026-01-01" if i == 0 else "+1s", {"channel": n}) for i, n in enumerate(names)
            ]
            if k < conversions:
                steps.append(("conversion", "+1s", {"revenue": value / conversions}))
            people[f"p{len(people)}"] = steps
    return ibis.memtable(journeys(people))


@pytest.mark.parametrize("order", [1, 2])
def test_every_model_on_counted_paths_equals_the_journeys_written_out(tmp_path, order):
    file = tmp_path / "paths.csv"
    pd.DataFrame(
        ROWS, columns=["path", "total_conversions", "total_conversion_value", "total_null"]
    ).to_csv(file, index=False)
    models = [*MODELS, "last_non_direct", "inverse_j", "shapley_ordered", "time_decay"]
    ours = run_path_attribution(file, models, markov_order=order)
    spec = AttributionSpec(models[:-1], level="channel", goal="conversion", markov_order=order)
    direct = run_attribution(_written_out(ROWS), spec)
    for measure in ("conversions", "revenue"):
        got = ours.pivot(measure).rename_axis("key").sort_index()
        want = direct.pivot(measure).rename_axis("key").sort_index()
        pd.testing.assert_frame_equal(
            got.drop(columns="time_decay"), want, rtol=1e-9, check_names=False
        )
        # A path has no times: time decay weighs its touches alike, as linear does.
        pd.testing.assert_series_equal(got["time_decay"], got["linear"], check_names=False)
    assert (
        ours.totals
        == direct.totals
        == {"conversions": 7.0, "revenue": 85.0, "unattributed": 0.0, "unattributed_revenue": 0.0}
    )
    pd.testing.assert_frame_equal(ours.transition_matrix, direct.transition_matrix)
    pd.testing.assert_frame_equal(ours.removal_effects, direct.removal_effects)
    pd.testing.assert_frame_equal(ours.shapley_positions, direct.shapley_positions)


def test_a_conversion_path_report_reads_with_its_own_names(tmp_path):
    # Google Analytics' export: other names, '>' without spaces, no null column.
    file = tmp_path / "report.csv"
    file.write_text(
        "Source/Medium Path,Conversions,Conversion Value\ngoogle / cpc>email,3,30\nemail,1,5\n"
    )
    rows = read_path_counts(file).frame
    assert rows["path"].tolist() == [["google / cpc", "email"], ["email"]]
    result = run_path_attribution(file, ["last_touch"])
    assert result.pivot("conversions")["last_touch"].to_dict() == {"email": 4.0, "google / cpc": 0}
    assert result.pivot("revenue")["last_touch"].to_dict() == {"email": 35.0, "google / cpc": 0}


def test_direct_in_a_report_is_direct_however_the_report_writes_it(tmp_path):
    # "direct", Google Analytics' "(direct) / (none)" alike: last non-direct passes over them.
    file = tmp_path / "report.csv"
    file.write_text(
        "Source/Medium Path,Conversions,Conversion Value\n"
        "google / cpc>(direct) / (none),3,30\nemail>direct,1,5\n"
    )
    result = run_path_attribution(file, ["last_non_direct"])
    credit = result.pivot("conversions")["last_non_direct"].to_dict()
    assert {k: v for k, v in credit.items() if v} == {"google / cpc": 3.0, "email": 1.0}


def test_a_report_export_with_its_preamble_and_formatted_numbers(tmp_path):
    file = tmp_path / "ga.csv"
    file.write_text(
        "# ----------------------------------------\n# Top Conversion Paths\n"
        "# 20240101-20240131\n# ----------------------------------------\n\n"
        "MCF Channel Grouping Path,Conversions,Conversion Value\n"
        'Organic Search > Direct,"1,200","US$12,000.50"\nDirect,5,300\n'
    )
    rows = read_path_counts(file).frame
    assert rows["conversions"].tolist() == [1200, 5]
    assert rows["value"].tolist() == [12000.5, 300.0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("path,total_conversions\na > b,1.5\n", "line 2, column 'total_conversions': '1.5' is"),
        ("path,total_conversions\na > b,-1\n", "is not a whole number ≥ 0"),
        ("path,total_null\n,3\n", "line 2, column 'path': the path is empty"),
        ("route,count\na,1\n", "needs a path column"),
    ],
)
def test_bad_path_counts_name_the_line_and_column(tmp_path, text, message):
    file = tmp_path / "bad.csv"
    file.write_text(text)
    with pytest.raises(ImportFileError, match=message):
        read_path_counts(file)


def test_incrementality_needs_events(tmp_path):
    file = tmp_path / "p.csv"
    file.write_text("path,total_conversions\na,1\n")
    with pytest.raises(SpecError, match="needs events"):
        run_path_attribution(file, ["incrementality"])


def test_a_row_with_value_but_no_conversion_is_refused_naming_its_line(tmp_path):
    # ChannelAttribution credits this row's 30 along A > B; a journey's revenue rides on its
    # conversion, so there is nothing to carry it: refused rather than dropped.
    file = tmp_path / "p.csv"
    file.write_text(
        "path,total_conversions,total_conversion_value,total_null\nB,1,5,0\nA>B,0,30,7\n"
    )
    message = r"line 3, column 'total_conversion_value': '30' of value with no conversions"
    with pytest.raises(ImportFileError, match=message):
        run_path_attribution(file, ["linear"])


def test_value_without_a_conversion_column_is_refused(tmp_path):
    file = tmp_path / "p.csv"
    file.write_text("path,total_null,value\nA,3,0\nA>B,7,12.5\n")
    message = r"line 3, column 'value': '12\.5' of value with no conversions \(the file has no"
    with pytest.raises(ImportFileError, match=message):
        read_path_counts(file)


def test_counted_journeys_attribute_within_the_engines_memory_limit(tmp_path):
    # 600,000 journeys from three rows (ChannelAttribution's files count millions): each row runs
    # as two weighted journeys, so memory stays the interpreter's ~200 MB however many the
    # rows count.
    file = tmp_path / "big.csv"
    file.write_text(
        "path,total_conversions,total_conversion_value,total_null\n"
        "A>B>C,6000,60000,174000\nB>C,6000,30000,174000\nC,6000,6000,234000\n"
    )
    # The peak as VmHWM: ru_maxrss survives exec, so a child of a grown pytest would report
    # pytest's own peak.
    script = (
        "import sys\n"
        "from journeylens.analytics.path_counts import run_path_attribution\n"
        "result = run_path_attribution(sys.argv[1], ['linear'])\n"
        "print(result.totals['conversions'], result.totals['revenue'])\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(int(status.split()[0]) // 1024)\n"
    )
    env = {**os.environ, "JOURNEYLENS_MEMORY_LIMIT": "128MB"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(file)], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    totals, peak_mb = done.stdout.splitlines()[-2:]  # after the engine's progress bar, if any
    assert totals == "18000.0 96000.0"
    assert int(peak_mb) < PEAK_MB


HEADER = "path,total_conversions,total_conversion_value,total_null\n"


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        (
            "p.csv",
            HEADER.encode() + b"a > b,1,5,0\nb,1,2\nc,1,1,0\nd,1\n",
            r"p\.csv, line 3: could not be read \(wrong_field_count: the row has 3 fields, the "
            r"header 4\); 2 lines could not be read\. Nothing was attributed\.",
        ),
        (
            "p.csv",
            (HEADER + "a,1,5,0\n" + HEADER + "b,1,2,0\n").encode(),
            r"line 3: could not be read \(repeated_header: the header row again",
        ),
        (
            "p.csv",
            HEADER.encode() + b"a,1,5,0\nb\xe9,1,2,0\n" + "caf\u00e9,1,1,0\n".encode() * 4,
            r"line 3: could not be read \(invalid_encoding: the line is not valid UTF-8; shown "
            r"with \\x escapes: b\\xe9,1,2,0\)\.",
        ),
        (
            "p.csv",
            (HEADER + 'a,1,5,0\n"b,1,2,0\nc,1,1,0\n').encode(),
            r"line 3: could not be read \(unclosed_quote: .* close the quote and run again\)\.",
        ),
        (
            "p.jsonl",
            b'{"path": "a", "total_conversions": 1}\n{"path": "b", \n',
            r"p\.jsonl, line 2: could not be read \(invalid_json: ",
        ),
    ],
    ids=["wrong_field_count", "repeated_header", "invalid_encoding", "unclosed_quote", "json"],
)
def test_a_line_the_reader_could_not_read_stops_the_run_naming_it(tmp_path, name, data, message):
    # Counts are totals: a row left out would skew every model as a wrong count would.
    file = tmp_path / name
    file.write_bytes(data)
    with pytest.raises(ImportFileError, match=message):
        read_path_counts(file)


def test_a_file_in_another_encoding_reads_in_the_encoding_named(tmp_path):
    file = tmp_path / "p.csv"
    file.write_bytes(b"path,total_conversions\na > b,3\nc > \xff d,2\n")
    advice = r"re-run with --encoding NAME; nothing was attributed\.$"
    with pytest.raises(ImportFileError, match=advice):
        read_path_counts(file)
    read = read_path_counts(file, encoding="cp1252").frame
    assert read["path"].tolist() == [["a", "b"], ["c", "\u00ff d"]]
    unknown = r"unknown encoding 'cp125'\..*nothing was attributed\.$"
    with pytest.raises(ImportFileError, match=unknown):
        read_path_counts(file, encoding="cp125")


def _workbook(path, sheets):
    """A workbook of ``sheets`` (title → rows under COLUMNS; None: an empty sheet)."""
    with pd.ExcelWriter(path) as writer:
        for title, rows in sheets.items():
            frame = pd.DataFrame() if rows is None else pd.DataFrame(rows, columns=COLUMNS)
            frame.to_excel(writer, sheet_name=title, index=False)
    return path


COLUMNS = ["path", "total_conversions", "total_conversion_value", "total_null"]


def test_a_workbooks_other_sheets_with_values_stop_the_run_naming_them(tmp_path):
    book = _workbook(
        tmp_path / "p.xlsx",
        {"March": [["a > b", 2, 10, 1]], "Empty": None, "April": [["b", 1, 5, 0]]},
    )
    message = (
        r"p\.xlsx: its first sheet, 'March', is not its only sheet with values; nothing was "
        r"attributed\. The workbook's other sheets with values, 'April', were not read"
    )
    with pytest.raises(ImportFileError, match=message):
        read_path_counts(book)
    assert read_path_counts(book, sheets=["april"]).frame["path"].tolist() == [["b"]]
    both = read_path_counts(book, sheets=["*"]).frame
    assert both["path"].tolist() == [["a", "b"], ["b"]]
    assert both["conversions"].tolist() == [2, 1]


def test_a_bad_value_in_a_named_sheet_names_the_sheet(tmp_path):
    book = _workbook(tmp_path / "p.xlsx", {"March": [["a", 1, 1, 0]], "April": [["b", -1, 0, 0]]})
    with pytest.raises(ImportFileError, match=r"p\.xlsx\[April\], line 2, column 'total_conv"):
        read_path_counts(book, sheets=["April"])


def test_a_one_sheet_workbook_and_a_gzipped_file_read_as_before(tmp_path):
    book = _workbook(tmp_path / "p.xlsx", {"Paths": [["a > b", 2, 10, 1]], "Notes": None})
    assert read_path_counts(book).frame["conversions"].tolist() == [2]
    packed = tmp_path / "p.csv.gz"
    packed.write_bytes(gzip.compress((HEADER + "a > b,2,10,1\n").encode()))
    assert read_path_counts(packed).frame["path"].tolist() == [["a", "b"]]
    with pytest.raises(ImportFileError, match="--sheet names sheets of Excel workbooks"):
        read_path_counts(packed, sheets=["April"])
