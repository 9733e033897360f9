"""The CSV reader against Python's csv module on generated files: every value, every line."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeylens.collect import csvfiles, readers

# The only value read as missing: an empty field ("NA", "null" and the like are text).
MISSING = {""}

# Text with the characters CSV quoting is about, and some that are not. A carriage return
# inside a quoted value is left to the whole-file case: pyarrow 26 drops the "\n" of a quoted
# "\r\n" that a block boundary splits (journeylens reads 16 MiB blocks).
SPECIAL = list("ab ,;\"\n\t'é日|")
values = st.text(alphabet=st.sampled_from(SPECIAL), max_size=6)
rows = st.lists(st.tuples(values, values, values), min_size=1, max_size=30)
values_cr = st.text(alphabet=st.sampled_from([*SPECIAL, "\r"]), max_size=6)
rows_cr = st.lists(st.tuples(values_cr, values_cr, values_cr), min_size=1, max_size=30)


cases = st.one_of(
    st.tuples(rows, st.sampled_from([",", ";"]), st.sampled_from([64, 256, 16 << 20])),
    st.tuples(rows_cr, st.sampled_from([",", ";"]), st.just(16 << 20)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_every_row_reads_as_python_writes_it(case):
    generated, delimiter, block = case
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["first", "second", "third"])
    writer.writerows(generated)
    text = buffer.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_bytes(text.encode("utf-8"))
        csvfiles.CSV_BLOCK_BYTES, saved = block, csvfiles.CSV_BLOCK_BYTES  # batches end mid-file
        try:
            with readers.open_file(path) as reader:
                assert reader.columns == ["first", "second", "third"]
                tables = list(reader.batches())
                assert not reader.wrong_fields
                assert not reader.unclosed_quote
        finally:
            csvfiles.CSV_BLOCK_BYTES = saved
    got = [row for table in tables for row in table.to_pylist()]
    expected, line = [], 2  # the header is line 1
    for row in generated:
        record = {
            name: (None if value in MISSING else value)
            for name, value in zip(("first", "second", "third"), row, strict=True)
        }
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n").writerow(row)
        written = buffer.getvalue()
        if written.strip("\n") or any(row):  # csv writes "" for a row of empty strings
            expected.append({**record, "_line": line})
        line += written.count("\n")
    assert got == expected


blank_cases = st.tuples(
    st.lists(st.tuples(values, values, values, st.integers(0, 2)), min_size=1, max_size=30),
    st.sampled_from(["\n", "\r\n"]),
    st.sampled_from([64, 256, 16 << 20]),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(blank_cases)
def test_blank_lines_between_rows_count_as_lines(case):
    # Blank lines (which pyarrow skips) between the rows, values that hold blank lines of
    # their own: every row's ``_line`` is the line an editor shows it on.
    generated, newline, block = case
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["first", "second", "third"])
    expected, line = [], 2
    for *row, blanks in generated:
        buffer.write(newline * blanks)
        line += blanks
        writer.writerow(row)
        record = dict(zip(("first", "second", "third"), row, strict=True))
        expected.append({k: v or None for k, v in record.items()} | {"_line": line})
        line += csv_lines(row)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8"))
        csvfiles.CSV_BLOCK_BYTES, saved = block, csvfiles.CSV_BLOCK_BYTES
        try:
            with readers.open_file(path) as reader:
                got = [row for table in reader.batches() for row in table.to_pylist()]
        finally:
            csvfiles.CSV_BLOCK_BYTES = saved
    assert got == expected


def csv_lines(row: list[str]) -> int:
    """The lines Python's csv module writes ``row`` on."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(row)
    return buffer.getvalue().count("\n")
