"""The members of a ``.json`` file holding one object, as an API's answer wraps its records in
one (``{"results": [{...}, ...], "next": ...}``), found without holding the file in memory.

A JSON parser holds the whole object (for a million records, gigabytes). Here the file is read
in blocks, and NumPy finds in each the quotes no backslash escapes, and so the marks
(``{}[],:``) outside strings: the depths they open and close are the file's structure. Only
the marks of the object itself (its members' keys and the brackets of their values) are
looked at one by one; an array's elements are counted by the commas between them. The array
that holds the records is then copied to a file of its own (:func:`copy_array`), which
DuckDB's reader of JSON arrays streams as it does a file holding one array.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import msgspec
import numpy as np

__all__ = ["BLOCK_BYTES", "Member", "copy_array", "object_members"]

BLOCK_BYTES = 16 << 20
_SPACE = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"
_QUOTE, _BACKSLASH = ord('"'), ord("\\")
_COMMA, _COLON = ord(","), ord(":")
_LBRACE, _RBRACE, _LBRACKET, _RBRACKET = (ord(c) for c in "{}[]")
_MARKS = np.zeros(256, dtype=bool)
_MARKS[list(b"{}[],:")] = True
_DEPTH = np.zeros(256, dtype=np.int64)  # what each mark does to the depth
_DEPTH[list(b"{[")], _DEPTH[list(b"}]")] = 1, -1


@dataclass
class Member:
    """A member of the file's object: its key and, for an array, where it lies in the file
    (``start`` its ``[``, ``end`` the byte after its ``]``)."""

    key: str
    array: bool = False
    start: int = 0
    end: int = 0
    commas: int = 0  # between its elements, at its own depth
    objects: bool = False  # an array whose first element is an object
    # A comma after its last element, which JSON does not allow but DuckDB's JSON functions
    # read (and its reader of arrays does not): where it is.
    trailing_comma: int | None = None

    @property
    def length(self) -> int:
        """The elements of an array of objects (it has one at least)."""
        return self.commas + 1 - (self.trailing_comma is not None)


@dataclass
class _Walk:
    """Where the walk through the file's structure is, between blocks."""

    keys: BinaryIO  # the file, to read a key from
    depth: int = 0
    members: list[Member] = field(default_factory=list)
    last: int = -1  # the place of the object's "{" or of the comma after its last member
    previous: tuple[int, int, int] = (-1, 0, 0)  # the last mark: place, byte, depth before it
    first_pending: bool = False  # an array's "[" ended a block: its first element is next
    started: bool = False  # the object has begun
    closed: bool = False  # the object has ended

    @property
    def open_array(self) -> Member | None:
        member = self.members[-1] if self.members else None
        return member if member and member.array and not member.end else None


def object_members(path: Path) -> list[Member] | None:
    """The members of the one JSON object the UTF-8 file ``path`` holds, in their order; None
    when it holds anything else (an array, several objects, text that is not JSON).

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "answer.json"
    ...     _ = path.write_text('{"next": null, "results": [{"event": "a"}, {"event": "b"}]}')
    ...     [(m.key, m.length) for m in object_members(path) if m.objects]
    [('results', 2)]
    """
    with path.open("rb") as handle, path.open("rb") as keys:
        walk = _Walk(keys)
        for offset, block, marks in _marks_outside_strings(handle):
            if not _step(walk, offset, block, marks):
                return None
    return walk.members if walk.closed else None


def copy_array(path: Path, member: Member, target: Path) -> None:
    """Copy ``member``'s array from ``path`` to ``target``, a file of that array alone (a
    trailing comma written as a space), in blocks."""
    comma = member.trailing_comma
    with path.open("rb") as source, target.open("wb") as copy:
        source.seek(member.start)
        _copy_bytes(source, copy, (comma if comma is not None else member.end) - member.start)
        if comma is not None:
            copy.write(b" ")
            source.seek(comma + 1)
            _copy_bytes(source, copy, member.end - comma - 1)


def _copy_bytes(source: BinaryIO, target: BinaryIO, count: int) -> None:
    while count > 0 and (chunk := source.read(min(count, BLOCK_BYTES))):
        target.write(chunk)
        count -= len(chunk)


def _marks_outside_strings(handle: BinaryIO) -> Iterator[tuple[int, bytes, np.ndarray]]:
    """Each block of the file: its offset, its bytes, and the places in it of the marks that
    are not inside a string."""
    inside, slashes, offset = False, 0, 0
    while block := handle.read(BLOCK_BYTES):
        data = np.frombuffer(block, dtype=np.uint8)
        quotes = _unescaped(data, np.flatnonzero(data == _QUOTE), slashes)
        marks = np.flatnonzero(_MARKS[data])
        # Inside a string: after an odd number of quotes (the block's start inside one counts).
        yield offset, block, marks[(np.searchsorted(quotes, marks) + inside) % 2 == 0]
        inside = bool((len(quotes) + inside) % 2)
        trailing = len(block) - len(block.rstrip(b"\\"))
        slashes = trailing + (slashes if trailing == len(block) else 0)
        offset += len(block)


def _unescaped(data: np.ndarray, quotes: np.ndarray, slashes: int) -> np.ndarray:
    """The ``quotes`` that no backslash escapes: those after no run of backslashes or an even
    one (``slashes``: the run that ended the block before, which goes on into this one)."""
    at = np.flatnonzero(data == _BACKSLASH)
    if not len(at) and not slashes:
        return quotes
    if slashes and (not len(at) or at[0] != 0):
        at = np.concatenate(([-1], at))  # the run before the block, as if it ended here
    breaks = np.flatnonzero(np.diff(at) != 1) + 1
    starts, ends = at[np.r_[0, breaks]], at[np.r_[breaks - 1, len(at) - 1]] + 1
    lengths = ends - starts + np.where(starts <= 0, slashes - (starts < 0), 0)
    run = np.minimum(np.searchsorted(ends, quotes), len(ends) - 1)
    return quotes[(ends[run] != quotes) | (lengths[run] % 2 == 0)]


@dataclass(frozen=True)
class _Block:
    """A block of the file (at ``offset``) and its marks: their places in it, their bytes, and
    the depth before each."""

    offset: int
    text: bytes
    marks: np.ndarray
    chars: np.ndarray
    before: np.ndarray

    def mark(self, i: int) -> tuple[int, int, int]:
        """The ``i``-th mark: its place in the file, its byte, the depth before it."""
        return self.offset + int(self.marks[i]), int(self.chars[i]), int(self.before[i])

    def rest_blank(self, i: int) -> bool:
        """Whether only white space follows the ``i``-th mark in the block."""
        return not self.text[int(self.marks[i]) + 1 :].strip(_SPACE)


def _step(walk: _Walk, offset: int, text: bytes, marks: np.ndarray) -> bool:
    """Walk one block's marks: the object's members, and its arrays' commas. False when the
    file is not one JSON object."""
    if walk.closed:
        return not text.strip(_SPACE)
    if not walk.started and not _starts(walk, offset, text, marks):
        return False
    if not len(marks):
        return True
    chars = np.frombuffer(text, dtype=np.uint8)[marks]
    after = walk.depth + np.cumsum(_DEPTH[chars])
    if after.min() < 0:
        return False
    block = _Block(offset, text, marks, chars, after - _DEPTH[chars])
    if walk.first_pending:
        walk.members[-1].objects, walk.first_pending = bool(chars[0] == _LBRACE), False
    commas = marks[(chars == _COMMA) & (block.before == 2)]
    for i in np.flatnonzero((block.before <= 1) | (after <= 1)).tolist():
        if not _object_mark(walk, *block.mark(i)):
            return False
        if walk.closed:
            return block.rest_blank(i)
        _array_mark(walk, block, i, commas)
    if (member := walk.open_array) is not None:
        _count_commas(member, offset, len(text), commas)
    walk.previous, walk.depth = block.mark(-1), int(after[-1])
    return True


def _starts(walk: _Walk, offset: int, text: bytes, marks: np.ndarray) -> bool:
    """Whether the file so far may be the start of an object: white space (after a
    byte-order mark), then its "{"."""
    head = (text.removeprefix(_BOM) if offset == 0 else text).lstrip(_SPACE)
    walk.started = bool(head)
    return not head or (head[:1] == b"{" and int(marks[0]) == len(text) - len(head))


def _array_mark(walk: _Walk, block: _Block, i: int, commas: np.ndarray) -> None:
    """Take the ``i``-th mark of ``block`` where it opens or closes a member's array: whether
    the array's first element is an object, and its commas."""
    place, char, depth = block.mark(i)
    if char == _LBRACKET and depth == 1:
        walk.first_pending = i + 1 == len(block.marks)
        walk.members[-1].objects = not walk.first_pending and bool(block.chars[i + 1] == _LBRACE)
    elif char == _RBRACKET and depth == 2:
        _close_array(walk, place, block.mark(i - 1) if i else walk.previous, block, commas)


def _object_mark(walk: _Walk, place: int, char: int, depth: int) -> bool:
    """Take a mark of the object itself (at ``depth`` before it: its braces, the colons and
    commas between its members, the brackets of their values). False when it makes no JSON
    object."""
    member = walk.members[-1] if walk.members else None
    if depth == 0 or (depth == 1 and char == _COMMA):  # the object's "{", a comma after a member
        walk.last = place
    elif depth == 1 and char == _COLON:
        key = _key(walk.keys, walk.last + 1, place)
        if key is None:
            return False
        walk.members.append(Member(key))
    elif depth == 1 and char in (_LBRACE, _LBRACKET):
        if member is None:
            return False
        member.array, member.start = char == _LBRACKET, place
    elif depth == 1:  # the object's end
        walk.closed = True
        return char == _RBRACE
    else:  # the end of a member's value
        return member is not None and member.array == (char == _RBRACKET)
    return True


def _key(keys: BinaryIO, start: int, end: int) -> str | None:
    """The key written between ``start`` and ``end`` (a JSON string in white space)."""
    keys.seek(start)
    try:
        key = msgspec.json.decode(keys.read(end - start))
    except msgspec.DecodeError:
        return None
    return key if isinstance(key, str) else None


def _close_array(
    walk: _Walk, place: int, last: tuple[int, int, int], block: _Block, commas: np.ndarray
) -> None:
    """End the array open at ``place`` (``last``: the mark before its "]"): a comma with only
    white space between it and the "]" is a trailing comma."""
    member = walk.members[-1]
    _count_commas(member, block.offset, place - block.offset, commas)
    member.end = place + 1
    comma, char, depth = last
    if char == _COMMA and depth == 2 and _blank(walk.keys, comma + 1, place):
        member.trailing_comma = comma


def _count_commas(member: Member, offset: int, end: int, commas: np.ndarray) -> None:
    """Count the block's commas (at ``commas`` in the block at ``offset``) of ``member``'s
    array, up to ``end`` in the block."""
    start = max(member.start - offset, -1)
    member.commas += int(np.searchsorted(commas, end) - np.searchsorted(commas, start, "right"))


def _blank(handle: BinaryIO, start: int, end: int) -> bool:
    """Whether the file holds only white space from ``start`` to ``end``."""
    handle.seek(start)
    while start < end and (chunk := handle.read(min(end - start, 1 << 16))):
        if chunk.strip(_SPACE):
            return False
        start += len(chunk)
    return True
