"""Make sure a text file is what it claims to be before a byte of it is stored.

UTF-8 (with or without a byte-order mark) and UTF-16/32 with a byte-order mark are read as they
are. A file in another single encoding is refused with the encoding it looks like, so the user can
re-run with ``--encoding``; nothing is stored as mojibake. A UTF-8 file with a few lines in
another encoding (latin-1 pasted into UTF-8) keeps its good lines: the bad ones are reported by
line number and go to the ``rejected`` table. What tells the two apart is the lines with text
beyond ASCII: in a UTF-8 file most of them are UTF-8; in a file in another encoding (even of one
row) few or none are.
"""

from __future__ import annotations

import codecs
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from journeylens.errors import ImportFileError

CHUNK = 16 << 20
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# More bad lines than this share of the lines beyond ASCII, or a bad first line, means the file
# is in another encoding.
MIXED_LIMIT = 0.5
GUESS_SAMPLE = 1 << 20  # bytes read to compare the readings of a guessed encoding and cp1252
# Letters of Western European languages beyond ASCII (Swedish å, ä, ö; German ß, ü; French é, ç,
# œ; Spanish ñ; ...): where a cp1252 reading differs from the guess only in these, it is cp1252.
WESTERN_LETTERS = frozenset("àáâãäåæçèéêëìíîïðñòóôõöøùúûüýþÿßœÀÁÂÃÄÅÆÇÈÉÊËÌÍÎÏÐÑÒÓÔÕÖØÙÚÛÜÝÞŸŒ")


@dataclass
class TextCheck:
    encoding: str
    bad_lines: dict[int, str] = field(default_factory=dict)
    cleaned: Path | None = None
    lines: int | None = None  # newline count, when the check read the whole file
    quotes: int | None = None  # '"' count (a CSV's quotes pair up), when it read it as UTF-8


def check_text(
    path: Path, encoding: str | None = None, scratch: Path | None = None, shown: Path | None = None
) -> TextCheck:
    """Decide how to read ``path``; see the module docstring. ``shown``: the file the user gave,
    for the messages, when ``path`` is a copy of it (a gzipped file's decompressed text)."""
    shown = shown or path
    if encoding:
        _verify(path, encoding, shown)
        return TextCheck(_arrow_name(encoding))
    with path.open("rb") as handle:
        head = handle.read(4)
    for bom, name in _BOMS:
        if head.startswith(bom):
            return TextCheck("utf8" if name == "utf-8-sig" else name)
    counts = _utf8_counts(path)
    if counts is not None:
        return TextCheck("utf8", lines=counts[0], quotes=counts[1])
    return _mixed(path, scratch, shown)


def scratch_file(scratch: Path | None, suffix: str) -> Path:
    """A new empty file for a copy of an input file, in ``scratch`` (else the temporary
    directory); whoever asks for it removes it."""
    directory = scratch or Path(tempfile.gettempdir())
    return Path(tempfile.mkstemp(prefix="journeylens-", suffix=suffix, dir=directory)[1])


def _arrow_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError as exc:
        raise ImportFileError(f"Unknown encoding '{encoding}'.") from exc


def _verify(path: Path, encoding: str, shown: Path) -> None:
    decoder = codecs.getincrementaldecoder(_arrow_name(encoding))()
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                line += chunk[: exc.start].count(b"\n")
                raise ImportFileError(
                    f"{shown} line {line}: not valid {encoding} ({exc.reason})."
                ) from exc
            line += chunk.count(b"\n")


def _utf8_counts(path: Path) -> tuple[int, int] | None:
    """The numbers of line ends and of quote characters if the whole file is valid UTF-8,
    else None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = quotes = 0
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
                quotes += chunk.count(b'"')
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return lines, quotes


def _mixed(path: Path, scratch: Path | None, shown: Path) -> TextCheck:
    bad: dict[int, str] = {}
    total = beyond_ascii = 0
    with path.open("rb") as handle:
        for total, raw in enumerate(handle, start=1):
            if raw.isascii():
                continue
            beyond_ascii += 1
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                bad[total] = raw.decode("utf-8", errors="backslashreplace").rstrip("\r\n")
    if 1 in bad or len(bad) > MIXED_LIMIT * beyond_ascii:
        raise ImportFileError(
            f"{shown}: not UTF-8 text{_guess(path)}. Convert it to UTF-8 or re-run with "
            "--encoding NAME; nothing was imported."
        )
    cleaned = scratch_file(scratch, path.suffix)
    quotes = 0
    with path.open("rb") as source, cleaned.open("wb") as target:
        for raw in source:
            line = raw.decode("utf-8", errors="replace").encode("utf-8")
            quotes += line.count(b'"')
            target.write(line)
    return TextCheck("utf8", bad, cleaned, lines=total, quotes=quotes)


def _guess(path: Path) -> str:
    from charset_normalizer import from_path

    best = from_path(path, steps=8, chunk_size=4096).best()
    if best is None:
        return ""
    with path.open("rb") as handle:
        sample = handle.read(GUESS_SAMPLE)
    if _western(sample, best.encoding):
        return f" (it looks like cp1252; {best.encoding} if its text is not Western European)"
    return f" (it looks like {best.encoding})"


def _western(sample: bytes, guessed: str) -> bool:
    """Whether ``sample`` is cp1252 rather than the single-byte encoding ``guessed``: it reads
    in both, and every character the two read differently is, in cp1252, a Western European
    letter (``WESTERN_LETTERS``). charset_normalizer takes Swedish "Åsa" for cp1250's "Ĺsa"."""
    try:
        if codecs.lookup(guessed).name == "cp1252":
            return False
        ours, theirs = sample.decode("cp1252"), sample.decode(guessed)
    except (LookupError, UnicodeDecodeError):
        return False
    if len(ours) != len(theirs):  # a multi-byte encoding: no character to compare with
        return False
    differ = {a for a, b in zip(ours, theirs, strict=True) if a != b}
    return bool(differ) and differ <= WESTERN_LETTERS
