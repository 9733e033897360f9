"""JSON Lines files, and files holding one JSON array, as Arrow batches of text columns.

A JSON Lines file is read in blocks of whole lines (about :data:`JSON_BLOCK_CHARS` each), each
line its own ``_line``; a ``.json`` file holding one array (or one object whose member holds
the records, as an API's answer wraps them: see :mod:`.wrapped`) is streamed by DuckDB's JSON
reader, its elements numbered from 1. Every key becomes a column of text, or of JSON where all
its values in the block are objects or arrays; a record that is no JSON object is named in
``reader.invalid_json``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from journeylens.collect.columns import ALIASES, LINE, given_name, held_name, loose_name, with_lines
from journeylens.collect.encoding import scratch_file
from journeylens.collect.local import local_engine
from journeylens.collect.wrapped import Member, copy_array, object_members
from journeylens.errors import ImportFileError

if TYPE_CHECKING:
    from journeylens.collect.readers import FileReader

__all__ = ["JSON_BLOCK_CHARS", "json_batches", "object_keys"]

JSON_BLOCK_CHARS = 16 << 20


def json_batches(reader: FileReader, array_rows: int) -> Iterator[pa.Table]:
    """Each block of records as a table of text columns, one per key, parsed by DuckDB.

    A value is its text (a string unquoted, a number or boolean as written in JSON, an object
    or array as compact JSON); a key whose values in the block are all objects or arrays is
    typed JSON, so it stays an object (not a string holding one) where it lands in
    ``properties``. A record that is not a JSON object goes to ``reader.invalid_json``.
    ``array_rows``: the elements of a file's JSON array per block.
    """
    with local_engine() as con:
        for block in _json_blocks(reader, array_rows):
            con.register("_json_block", block)
            try:
                table = _json_columns(con, reader)
            finally:
                con.unregister("_json_block")
            if table.num_rows:
                yield table


def _json_blocks(reader: FileReader, array_rows: int) -> Iterator[pa.Table]:
    """The file's records in blocks of ``_line`` and ``text``: a JSON Lines file's lines
    (blank ones and lines not valid text left out), or the elements of a file holding one JSON
    array, numbered from 1."""
    source, encoding = reader.text()
    if reader.suffix == ".json" and _is_json_array(source, encoding):
        yield from _array_elements(reader, reader.data, array_rows)
        return
    if reader.suffix == ".json" and (member := _records_member(reader)) is not None:
        copy = scratch_file(reader.scratch, ".json")
        try:
            copy_array(reader.data, member, copy)
            yield from _array_elements(reader, copy, array_rows, f" in '{member.key}'")
        finally:
            copy.unlink(missing_ok=True)
        return
    first = 1
    for text in _line_blocks(source, encoding):
        block = _lines_table(text.encode(), first, reader.bad_lines)
        first += text.count("\n")
        yield block


def _line_blocks(path: Path, encoding: str) -> Iterator[str]:
    """The text of ``path`` in blocks of whole lines, about ``JSON_BLOCK_CHARS`` each."""
    size = JSON_BLOCK_CHARS
    # Lines end at "\n" only, as the encoding check counted them: a JSON string may hold a raw
    # U+2028 or a lone "\r", which are not line ends here.
    rest = ""
    with open(path, encoding=encoding, newline="\n") as handle:
        chunk = handle.read(size)
        while chunk:
            following = handle.read(size)
            text = rest + chunk
            if not following:  # the end: the last line may have no line end
                yield text
                return
            cut = text.rfind("\n") + 1
            if cut:
                yield text[:cut]
            rest, chunk = text[cut:], following


def _lines_table(data: bytes, first: int, skip: Mapping[int, str]) -> pa.Table:
    """The lines of ``data`` (UTF-8, each with its line end) numbered from ``first``, without
    the lines in ``skip``; the text is ``data`` itself, not a copy."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10) + 1
    if not data.endswith(b"\n"):
        ends = np.append(ends, len(data))
    offsets = np.concatenate(([0], ends)).astype(np.int64)
    text = pa.LargeStringArray.from_buffers(len(ends), pa.py_buffer(offsets), pa.py_buffer(data))
    table = with_lines(pa.table({"text": text}), first)
    if skip:
        table = table.filter(pc.invert(pc.is_in(table["_line"], pa.array(list(skip)))))
    return table


def _json_columns(con: duckdb.DuckDBPyConnection, reader: FileReader) -> pa.Table:
    """The records of the registered ``_json_block`` as columns (see ``json_batches``)."""
    # The distinct key lists (few: records share their shape), each with its first line.
    shapes = con.execute(
        "SELECT keys, min(_line) AS first FROM (SELECT _line, try(json_keys(text)) AS keys "
        "FROM _json_block) GROUP BY keys ORDER BY first"
    ).fetchall()
    others = []
    if any(not keys for keys, _ in shapes):  # a line that is blank, not JSON, or no object
        others = con.execute(
            "SELECT _line, text, trim(text, ' \t\r\n') = '' AS blank FROM _json_block "
            "WHERE try(json_type(text)) IS DISTINCT FROM 'OBJECT'"
        ).fetchall()
        invalid = ((line, text.rstrip("\r\n")) for line, text, blank in others if not blank)
        reader.invalid_json.update(invalid)
    keys = list(dict.fromkeys(key for shape, _ in shapes for key in shape or ()))
    paths = [_pointer(key) for key in keys]
    values = "".join(f"v[{i}], " for i in range(1, len(keys) + 1))
    objects = "try(json_type(text)) = 'OBJECT'" if others else "true"
    # In the block's order: DuckDB keeps it (preserve_insertion_order) without a sort.
    found = con.execute(
        f"SELECT {values}_line FROM (SELECT _line, json_extract_string(text, ?::VARCHAR[]) AS v "
        f"FROM _json_block WHERE {objects})",
        [paths],
    ).to_arrow_table()
    structured = _structured(con, keys, found)
    # With a decimal comma, text "0.125" is 125: the keys whose values are all JSON numbers
    # with a decimal point somewhere keep their type, so that none is read as text.
    numbers = _decimals(con, keys, found) if reader.form.decimal_comma else set()
    columns = {
        held_name(key): found.column(i).cast(pa.json_())
        if key in structured
        else found.column(i).cast(pa.float64())
        if key in numbers
        else found.column(i)
        for i, key in enumerate(keys)
    }
    columns[LINE] = found.column(len(keys))
    return pa.table(columns)


def _pointer(key: str) -> str:
    """The JSON pointer (RFC 6901) to the top-level ``key``: any characters, none read as
    syntax."""
    return "/" + key.replace("~", "~0").replace("/", "~1")


def _structured(con: duckdb.DuckDBPyConnection, keys: list[str], found: pa.Table) -> set[str]:
    """The keys whose values in the block are all objects or arrays (and not all null)."""
    # Text starting with "{" or "[" may be an object or array; other text cannot.
    return _all_of(con, keys, found, r"^[\[{]", ("OBJECT", "ARRAY"))


def _decimals(con: duckdb.DuckDBPyConnection, keys: list[str], found: pa.Table) -> set[str]:
    """The keys whose values in the block are all numbers (or null), some written with a
    decimal point."""
    return _all_of(con, keys, found, r"^-?[0-9]*\.[0-9]", ("DOUBLE", "BIGINT", "UBIGINT"))


def _all_of(
    con: duckdb.DuckDBPyConnection,
    keys: list[str],
    found: pa.Table,
    looks: str,
    json_types: tuple[str, ...],
) -> set[str]:
    """The keys, among those with a value (as text in ``found``) matching the regular
    expression ``looks``, whose values in the block are all of ``json_types`` (or null)."""
    candidates = [
        key
        for i, key in enumerate(keys)
        if pc.any(pc.match_substring_regex(found.column(i), looks)).as_py()
    ]
    if not candidates:
        return set()
    listed = ", ".join(f"'{t}'" for t in json_types)
    kinds = ", ".join(
        f"bool_and(t[{i}] IN ({listed})) FILTER (WHERE t[{i}] <> 'NULL')"
        for i in range(1, len(candidates) + 1)
    )
    row = con.execute(
        f"SELECT {kinds} FROM (SELECT try(json_type(text, ?::VARCHAR[])) AS t FROM _json_block)",
        [[_pointer(key) for key in candidates]],
    ).fetchone()
    return {key for key, every in zip(candidates, row or (), strict=True) if every}


def _is_json_array(path: Path, encoding: str) -> bool:
    with open(path, encoding=encoding, errors="replace") as handle:
        while chunk := handle.read(4096):
            start = chunk.lstrip("\ufeff \t\r\n")
            if start:
                return start.startswith("[")
    return False


# The elements of a file's JSON array, as DuckDB's reader streams them (each up to 256 MB).
_ELEMENTS = (
    "read_json(?, format = 'array', records = false, columns = {json: 'JSON'}, "
    "maximum_object_size = 268435456)"
)
# The keys that make an object an event (a record), not a wrapper of records.
_RECORD_KEYS = frozenset(
    loose_name(name) for key in ("ts", "event") for name in (key, *ALIASES.get(key, ()))
)


def _records_member(reader: FileReader) -> Member | None:
    """The member of a ``.json`` file's one object that holds its records, as an API's answer
    wraps them (``{"results": [{...}, ...], "next": ...}``): the longest array of objects,
    when the object itself has no time or event name (an event's own list, a purchase's
    ``products``, is no wrapper). None for anything else (JSON Lines, one event, text that is
    not JSON: read as lines, which names the bad ones)."""
    if reader.bad_lines or reader.encoding != "utf8":
        return None
    members = object_members(reader.data)
    if members is None or any(loose_name(m.key) in _RECORD_KEYS for m in members):
        return None
    lists = [m for m in members if m.array and m.objects]
    return max(lists, key=lambda m: (m.length, m.key)) if lists else None


def _array_elements(
    reader: FileReader, array: Path, rows: int, within: str = ""
) -> Iterator[pa.Table]:
    """The elements of the JSON array file ``array`` (the file itself, or a copy of the array
    of records its one object holds, ``within`` it: see :func:`_records_member`) in blocks
    of ``_line`` and ``text``, ``rows`` at a time, streamed by DuckDB's JSON reader."""
    if reader.bad_lines or reader.encoding != "utf8":
        where = f"line {min(reader.bad_lines)} is" if reader.bad_lines else "it is"
        raise ImportFileError.nothing_done(
            f"{reader.path}: a JSON array file must be UTF-8 and {where} not; convert it to "
            "UTF-8 (or to JSON Lines)"
        )
    query = f"SELECT json::VARCHAR AS text FROM {_ELEMENTS}"
    number = 1
    try:
        with local_engine() as con:
            batches = con.execute(query, [str(array)]).fetch_record_batch(rows)
            for batch in batches:
                yield with_lines(pa.Table.from_batches([batch]), number)
                number += batch.num_rows
    except duckdb.Error as exc:
        after = f" after element {number - 1}" if number > 1 else ""
        told = str(exc).replace(str(array), str(reader.path))  # a copy is named as the file
        raise ImportFileError.nothing_done(
            f"{reader.path}: not a valid JSON array{within}{after} ({told})"
        ) from exc


def object_keys(batch: pa.Table, sample: int = 1000) -> dict[str, set[str]]:
    """The keys of the objects in each JSON column of a JSON Lines batch (its first
    ``sample`` values)."""
    keys: dict[str, set[str]] = {}
    for name in batch.column_names:
        column = batch.column(name)
        if not isinstance(column.type, pa.JsonType):
            continue
        found = keys.setdefault(given_name(name), set())
        for text in column.slice(0, sample).cast(pa.string()).to_pylist():
            value = _decoded(text) if text is not None else None
            if isinstance(value, dict):
                found.update(value)
    return keys


def _decoded(text: str) -> object:
    """A JSON value; with ``NaN`` or ``Infinity`` in it (Python's ``json.dumps`` writes them,
    DuckDB reads them), by the standard library, which reads them too; None for what neither
    reads (its keys are then not sampled, and the row is checked as every other)."""
    try:
        return msgspec.json.decode(text)
    except msgspec.DecodeError:
        try:
            return json.loads(text)
        except ValueError:
            return None
