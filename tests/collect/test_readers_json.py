"""The JSON Lines reader (DuckDB parses the lines) against Python's own json on generated files."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.collect import jsonfiles, readers
from journeylens.errors import ImportFileError
from journeylens.workspace import init_workspace

# Keys with the characters a JSON path or pointer would read as syntax, and some that are not.
keys = st.sampled_from(["a", "b.c", "k/1", "k~2", 'q"', "", "$browser", "élève", "日本", "a b"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["{not json", "[1]", "null", "  "]),  # text that looks like JSON
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["x", "y"]), inner)
    ),
    max_leaves=6,
)
records = st.dictionaries(keys, values, max_size=5)
# A line: an object, or something the reader must reject or skip.
lines = st.one_of(
    records.map(lambda r: ("object", r)),
    st.sampled_from(["[1, 2]", "5", '"text"', "{broken", "", "   "]).map(lambda t: ("other", t)),
)


def _expected_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return json.dumps(value)


def _same(got: str | None, want: Any) -> bool:
    """``got`` (the reader's text) says ``want`` (the value as Python decoded it)."""
    if want is None or isinstance(want, str):
        return got == want
    if isinstance(want, bool):
        return got == json.dumps(want)
    if isinstance(want, int | float):
        return got is not None and math.isclose(float(got), want, rel_tol=1e-15, abs_tol=0)
    return got is not None and json.loads(got) == want


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(lines, min_size=1, max_size=12), st.booleans(), st.integers(1, 200))
def test_every_line_reads_as_python_reads_it(generated, ascii_only, block):
    text = "".join(
        (json.dumps(body, ensure_ascii=ascii_only) if kind == "object" else body) + "\n"
        for kind, body in generated
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "lines.jsonl"
        path.write_text(text, encoding="utf-8")
        jsonfiles.JSON_BLOCK_CHARS, saved = block, jsonfiles.JSON_BLOCK_CHARS
        try:
            with readers.open_file(path) as reader:
                tables = list(reader.batches())
        finally:
            jsonfiles.JSON_BLOCK_CHARS = saved
    rows = [row for table in tables for row in table.to_pylist()]
    objects = {n: body for n, (kind, body) in enumerate(generated, 1) if kind == "object"}
    assert [row["_line"] for row in rows] == sorted(objects)
    for row in rows:
        want = objects[row["_line"]]
        got = {k: v for k, v in row.items() if k != "_line" and v is not None}
        assert set(got) == {k for k, v in want.items() if v is not None}
        for key, value in got.items():
            assert _same(value, want[key]), (key, value, want[key])
    others = {n for n, (kind, body) in enumerate(generated, 1) if kind == "other" and body.strip()}
    assert set(reader.invalid_json) == others
    for table in tables:  # a key is JSON-typed when every value it has in the block is one
        for name in table.column_names:
            if name == "_line":
                continue
            present = [objects[n][name] for n in table["_line"].to_pylist() if name in objects[n]]
            present = [v for v in present if v is not None]
            structured = bool(present) and all(isinstance(v, dict | list) for v in present)
            assert isinstance(table[name].type, pa.JsonType) == structured, name


def imported(tmp_path: Path, records: list[dict], order: str = "event_id") -> tuple:
    """The import summary of ``records`` as JSON Lines in a new workspace, and its events."""
    path = tmp_path / "records.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    with init_workspace(tmp_path / "ws") as workspace:
        summary = workspace.import_files([path])
        return summary, workspace.events.order_by(order).execute()


def test_each_record_takes_its_columns_from_its_own_keys(tmp_path):
    # One file, three tools' names: no record's keys decide how the others are read.
    records = [
        {"timestamp": "2026-01-01T10:00:00Z", "event": "a", "userId": "u1", "time": "soon"},
        {"time": 1767265200, "event": "b", "distinct_id": "d2"},
        {"ts": "2026-01-01T12:00:00Z", "event_name": "c", "user_id": "u3"},
    ]
    summary, frame = imported(tmp_path, records, "ts")
    assert (summary.stored, summary.rejected) == (3, 0)
    assert frame["event"].tolist() == ["a", "b", "c"]
    assert [str(t) for t in frame["ts"]] == [
        "2026-01-01 10:00:00",
        "2026-01-01 11:00:00",
        "2026-01-01 12:00:00",
    ]
    assert frame["person_id"].tolist() == ["u1", "d2", "u3"]
    # A key another record's column came from is a property where the record's own did not.
    assert [json.loads(p) if p else None for p in frame["properties"]] == [
        {"time": "soon"},
        None,
        None,
    ]


def test_a_segment_page_call_is_named_by_its_type_though_no_record_has_an_event(tmp_path):
    # Segment's ``name`` is a page's name, never the event's, whichever records are read with it.
    calls = [
        {"messageId": "p1", "type": "page", "name": "Pricing", "anonymousId": "a1"},
        {"messageId": "p2", "type": "screen", "name": "Cart", "anonymousId": "a1"},
    ]
    _, frame = imported(tmp_path, [{**c, "timestamp": "2026-01-01T10:00:00Z"} for c in calls])
    assert frame["event"].tolist() == ["Viewed Pricing Page", "Viewed Cart Screen"]


def test_a_record_without_the_files_id_name_or_user_is_not_given_a_loose_one(tmp_path):
    # An order's id shared by its lines, a product's name, an e-mail: read only where they are
    # the best source the file has, else the lines would be one event, products events, and
    # a visitor someone else.
    records = [
        {"messageId": "m1", "event": "order", "id": "o7", "userId": "u1", "email": "x@y.z"},
        {"event": "order line", "id": "o7", "anonymousId": "a1", "email": "x@y.z"},
        {"event": "order line", "id": "o7", "anonymousId": "a1"},
        {"name": "Red Shirt", "userId": "u1"},
    ]
    stamped = [{**r, "timestamp": "2026-01-01T10:00:00Z"} for r in records]
    summary, frame = imported(tmp_path, stamped, "event")
    assert (summary.stored, summary.rejected_by_reason) == (3, {"missing_event": 1})
    assert frame["user_id"].tolist() == ["u1", None, None]
    assert frame["event_id"].iloc[0] == "m1"


def read_records(path: Path) -> tuple[list[dict], dict[int, str]]:
    """The rows ``path`` reads as, and the elements that are no object."""
    with readers.open_file(path, scratch=path.parent) as reader:
        rows = [row for table in reader.batches() for row in table.to_pylist()]
    return rows, reader.invalid_json


def api_answer(n: int) -> tuple[list[object], dict[str, object]]:
    """``n`` records (and one element that is no record), and an API's answer wrapping them."""
    records: list[object] = [
        {"timestamp": f"2026-01-01T10:{i % 60:02d}:00Z", "event": "$pageview", "uuid": str(i)}
        for i in range(n)
    ]
    records.insert(1, 5)
    return records, {"next": "https://app.example.com/api?after=2", "results": records}


@pytest.mark.parametrize("indent", [None, 2])
def test_an_api_answer_reads_as_its_array_of_records_would(tmp_path, indent):
    records, answer = api_answer(3)
    (tmp_path / "array.json").write_text(json.dumps(records, indent=indent))
    (tmp_path / "answer.json").write_text(json.dumps(answer, indent=indent))
    assert read_records(tmp_path / "answer.json") == read_records(tmp_path / "array.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["answer.json", "array.json"]


def test_a_broken_record_in_an_api_answer_is_one_error_naming_the_file(tmp_path):
    path = tmp_path / "answer.json"
    path.write_text('{"results": [{"event": "a"}, {"event": tru}], "next": null}')
    with pytest.raises(ImportFileError) as caught:
        read_records(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: not a valid JSON array in 'results' (")
    assert f'"{path}"' in message  # not the copy it was read from, which is gone
    assert [p.name for p in tmp_path.iterdir()] == ["answer.json"]


# The peak memory of reading a file in a new interpreter (VmHWM: ru_maxrss survives exec).
PEAK_SCRIPT = """
import sys
from pathlib import Path
from journeylens.collect.readers import open_file
with open_file(Path(sys.argv[1])) as reader:
    rows = sum(batch.num_rows for batch in reader.batches())
status = open("/proc/self/status").read().split("VmHWM:")[1]
print(rows, int(status.split()[0]) // 1024)
"""


def reading_peak_mb(path: Path) -> tuple[int, int]:
    done = subprocess.run(
        [sys.executable, "-c", PEAK_SCRIPT, str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows, peak = done.stdout.split()
    return int(rows), int(peak)


def test_an_api_answer_is_read_in_the_memory_its_array_of_records_takes(tmp_path):
    # 200,000 records (16 MB): read whole, the answer took 510 MB where the array of the same
    # records, streamed, took 240 MB; the answer's array is streamed as well.
    records, answer = api_answer(200_000)
    (tmp_path / "array.json").write_text(json.dumps(records))
    (tmp_path / "answer.json").write_text(json.dumps(answer))
    rows, array_peak = reading_peak_mb(tmp_path / "array.json")
    assert rows == len(records) - 1  # the element 5 is no record
    answer_rows, answer_peak = reading_peak_mb(tmp_path / "answer.json")
    assert answer_rows == rows
    assert answer_peak < array_peak + 48
