"""The members of a JSON file's one object, found in blocks, against Python's own json."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from journeylens.collect import wrapped

# Keys and text with what a scan of the structure must not read as structure: quotes and
# backslashes (escaped, and runs of them ending a string), brackets, commas and colons.
texts = st.text(alphabet='ab"\\[]{},: é', max_size=6)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-99, 99), texts)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(texts, inner, max_size=3)),
    max_leaves=8,
)
members = st.one_of(values, st.lists(st.dictionaries(texts, values, max_size=3), max_size=4))
objects = st.dictionaries(texts, members, max_size=4)


def members_of(text: str, block: int) -> list[wrapped.Member] | None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answer.json"
        path.write_text(text, encoding="utf-8")
        wrapped.BLOCK_BYTES, saved = block, wrapped.BLOCK_BYTES
        try:
            return wrapped.object_members(path)
        finally:
            wrapped.BLOCK_BYTES = saved


def described(found: list[wrapped.Member], data: bytes) -> list[tuple[str, Any]]:
    """Each member's key with its array as its place in the file holds it, its length where
    its first element is an object."""
    return [
        (m.key, (json.loads(data[m.start : m.end]), m.length if m.objects else None))
        if m.array
        else (m.key, None)
        for m in found
    ]


@settings(max_examples=150, deadline=None)
@given(objects, st.sampled_from([None, 0, 2]), st.booleans(), st.integers(3, 40))
def test_an_objects_members_and_its_arrays_are_found_as_json_reads_them(
    answer, indent, ascii_only, block
):
    text = json.dumps(answer, indent=indent, ensure_ascii=ascii_only)
    found = members_of(text, block)
    assert found is not None
    expected = [
        (key, (value, len(value) if value and isinstance(value[0], dict) else None))
        if isinstance(value, list)
        else (key, None)
        for key, value in answer.items()
    ]
    assert described(found, text.encode()) == expected


@settings(max_examples=60, deadline=None)
@given(objects, st.integers(3, 40), st.data())
def test_anything_but_one_whole_object_has_no_members(answer, block, data):
    text = json.dumps(answer)
    cut = data.draw(st.integers(0, len(text) - 1))
    assert members_of(text[:cut], block) is None  # a truncated object
    assert members_of(text + "\n" + text, block) is None  # JSON Lines
    assert members_of(text + " 1", block) is None
    assert members_of(f"[{text}]", block) is None


@pytest.mark.parametrize("block", [3, 7, 1 << 20])
def test_a_trailing_comma_is_copied_as_a_space(tmp_path, block):
    # DuckDB's JSON functions read [{...},] as one element; its reader of arrays refuses it.
    text = '\ufeff {"next": "x\\\\", "results": [ {"a": "],"}, {"a": 2} ,\n ], "n": [1,]}'
    (tmp_path / "a.json").write_text(text, encoding="utf-8")
    wrapped.BLOCK_BYTES, saved = block, wrapped.BLOCK_BYTES
    try:
        found = wrapped.object_members(tmp_path / "a.json")
    finally:
        wrapped.BLOCK_BYTES = saved
    assert found is not None
    assert [(m.key, m.array, m.objects) for m in found] == [
        ("next", False, False),
        ("results", True, True),
        ("n", True, False),
    ]
    assert found[1].length == 2
    wrapped.copy_array(tmp_path / "a.json", found[1], tmp_path / "results.json")
    copied = (tmp_path / "results.json").read_text()
    assert copied == '[ {"a": "],"}, {"a": 2}  \n ]'
    assert json.loads(copied) == [{"a": "],"}, {"a": 2}]


@pytest.mark.parametrize("block", range(3, 12))
def test_runs_of_backslashes_longer_than_a_block_escape_as_a_whole(block):
    answer = {"a" + "\\" * 9 + '"': [{"x": "\\" * 8}], "b": "\\" * 5 + '"],', "c": [{}, {}]}
    text = json.dumps(answer)
    found = members_of(text, block)
    assert found is not None
    assert described(found, text.encode()) == [
        ("a" + "\\" * 9 + '"', ([{"x": "\\" * 8}], 1)),
        ("b", None),
        ("c", ([{}, {}], 2)),
    ]
