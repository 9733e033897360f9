"""Attribution from a path-counts file gives what the same journeys give as events."""

from __future__ import annotations

import ibis
import pandas as pd
import pytest

from journeylens.analytics.attribution import AttributionSpec, run_attribution
from journeylens.analytics.path_counts import read_path_counts, run_path_attribution
from journeylens.errors import ImportFileError, SpecError
from journeylens.testing import converting_events, journey_paths

# Models that read neither times nor the direct channel: a path carries neither.
MODELS = ["first_touch", "last_touch", "linear", "u_shape", "j_shape", "markov", "shapley"]


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
