"""Make sure a text file is what it claims to be before a byte of it is stored.

UTF-8 (with or without a byte-order mark) and UTF-16/32 with a byte-order mark are read as they
are. A file in another single encoding is refused with the encoding it looks like, so the user can
re-run with ``--encoding``; nothing is stored as mojibake. UTF-16/32 without a byte-order mark is
such a file too, told by its NUL bytes (see ``WIDE``), which UTF-8 text has none of. A UTF-8 file
with a few lines in another encoding (latin-1 pasted into UTF-8) keeps its good lines: the bad
ones are reported by line number and go to the ``rejected`` table. What tells the two apart is the
lines with text beyond ASCII: in a UTF-8 file most of them are UTF-8; in a file in another
encoding (even of one row) few or none are.

An encoding the user names (``--encoding``) must be one of text (not ``rot13``, ``base64`` or
``idna``), and the whole file valid in it; else the file is refused, with the encoding it looks
like where that is another.
"""

from __future__ import annotations

import codecs
import encodings
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from journeylens.errors import ImportFileError, did_you_mean

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
WIDE_SAMPLE = 1 << 16  # bytes read to tell UTF-16/32 without a byte-order mark
# UTF-16/32 without a byte-order mark, by where its NUL bytes fall, counting the bytes in fours:
# (name, places where many characters have one, places where almost none has one). An ASCII
# character (a CSV's digits, separators, line ends) in UTF-16-LE is its byte and a NUL, so half
# its bytes are NUL, at odd places; at even places only the rare U+xx00 (U+0100, U+4E00) has one.
WIDE = (
    ("utf-32-le", (2, 3), (0,)),
    ("utf-32-be", (0, 1), (3,)),
    ("utf-16-le", (1, 3), (0, 2)),
    ("utf-16-be", (0, 2), (1, 3)),
)
WIDE_MOST, WIDE_FEW = 0.25, 0.05  # shares of NUL bytes at each of those places
# What to do about an encoding name that reads no file.
_NAME_ONE = (
    "Name the one the file was saved in (such as cp1252, latin-1, utf-16-le, shift_jis), or "
    "leave out --encoding: UTF-8 is read as it is and another encoding named"
)


@dataclass
class TextCheck:
    encoding: str
    bad_lines: dict[int, str] = field(default_factory=dict)
    cleaned: Path | None = None
    lines: int | None = None  # newline count, when the check read the whole file
    quotes: int | None = None  # '"' count (a CSV's quotes pair up), when it read it as UTF-8
    # Whether a line end follows another (a blank line), when it read it as UTF-8.
    blank_lines: bool | None = None


def check_text(
    path: Path, encoding: str | None = None, scratch: Path | None = None, shown: Path | None = None
) -> TextCheck:
    """Decide how to read ``path``; see the module docstring. ``shown``: the file the user gave,
    for the messages, when ``path`` is a copy of it (a gzipped file's decompressed text)."""
    shown = shown or path
    if encoding:
        return TextCheck(_verify(path, encoding, shown))
    head = _head(path)
    marked = _marked(head)
    if marked is not None:
        return TextCheck("utf8" if marked == "utf-8-sig" else marked)
    wide = _wide(head)
    if wide is not None:
        raise ImportFileError.nothing_done(
            f"{shown}: not UTF-8 text (it looks like {wide}, without a byte-order mark). "
            f"Convert it to UTF-8 or re-run with --encoding {wide}"
        )
    counts = _utf8_counts(path)
    if counts is not None:
        return TextCheck("utf8", lines=counts[0], quotes=counts[1], blank_lines=counts[2])
    return _mixed(path, scratch, shown)


def scratch_file(scratch: Path | None, suffix: str) -> Path:
    """A new empty file for a copy of an input file, in ``scratch`` (else the temporary
    directory); whoever asks for it removes it."""
    directory = scratch or Path(tempfile.gettempdir())
    return Path(tempfile.mkstemp(prefix="journeylens-", suffix=suffix, dir=directory)[1])


def text_codec(encoding: str, shown: Path) -> str:
    """The name of the codec that reads the text file ``shown`` in ``encoding`` (the user's
    ``--encoding``), refusing a name Python does not know, or a codec that does not turn
    bytes into text (``rot13``, ``base64``) or cannot read a file: ``idna`` reads a domain name
    and refuses to replace what it cannot read, as the readers do with a CSV's label rows."""
    try:
        info = codecs.lookup(encoding)
    except LookupError as exc:
        # Python's names join words with "_"; "-" is how encodings are written (utf-16-le).
        wanted = encodings.normalize_encoding(encoding).lower()
        close = did_you_mean(wanted, _text_codecs()).replace("_", "-")
        raise ImportFileError.nothing_done(
            f"{shown}: unknown encoding '{encoding}'.{close} {_NAME_ONE}"
        ) from exc
    if not _reads_files(info):
        raise ImportFileError.nothing_done(
            f"{shown}: '{encoding}' is not an encoding of text files. {_NAME_ONE}"
        )
    return info.name


def _reads_files(info: codecs.CodecInfo) -> bool:
    if not info._is_text_encoding:  # rot13 turns text into text, base64 bytes into bytes
        return False
    try:
        info.incrementaldecoder("replace").decode(b"a", final=True)
    except UnicodeError:
        return False
    return True


def _text_codecs() -> list[str]:
    """Python's names of the encodings that read text files, for the closest to a wrong one."""
    names = {*encodings.aliases.aliases, *encodings.aliases.aliases.values()}
    readable = []
    for name in sorted(names):
        try:
            info = codecs.lookup(name)
        except LookupError:  # a platform's own (mbcs on Windows)
            continue
        if _reads_files(info):
            readable.append(name)
    return readable


def _verify(path: Path, encoding: str, shown: Path) -> str:
    """The codec of ``encoding`` (see :func:`text_codec`), when all of ``path`` is valid in it."""
    codec = text_codec(encoding, shown)
    decoder = codecs.getincrementaldecoder(codec)()
    line = 1
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            try:
                decoder.decode(chunk)
            except UnicodeError as exc:  # UTF-16 without its byte-order mark raises no position
                if isinstance(exc, UnicodeDecodeError):
                    line += chunk[: exc.start].count(b"\n")
                    why = exc.reason
                else:
                    why = str(exc)
                raise _not_valid(path, shown, f" line {line}", encoding, why) from exc
            line += chunk.count(b"\n")
    try:
        decoder.decode(b"", final=True)
    except UnicodeError as exc:
        why = "the file ends inside a character"
        raise _not_valid(path, shown, "", encoding, why) from exc
    return codec


def _not_valid(path: Path, shown: Path, where: str, encoding: str, why: str) -> ImportFileError:
    """The error for a file not valid in the ``encoding`` the user named, with the encoding it
    looks like (as it is found without ``--encoding``) where that is another."""
    given = codecs.lookup(encoding).name
    found = [name for name in _looks_like(path) if codecs.lookup(name).name != given]
    if not found:
        advice = "Re-run with the encoding the file was saved in"
    elif found[0] in ("utf-8", "utf-16", "utf-32"):
        advice = f"It looks like {found[0]}, which is read without --encoding: re-run without it"
    else:
        advice = f"It looks like {found[0]}: re-run with --encoding {found[0]}"
    return ImportFileError.nothing_done(f"{shown}{where}: not valid {encoding} ({why}). {advice}")


def _looks_like(path: Path) -> list[str]:
    """The encodings ``path`` looks like, likeliest first, as :func:`check_text` finds them:
    by a byte-order mark, by NUL bytes (UTF-16/32 without a mark), as UTF-8, else guessed."""
    head = _head(path)
    named = _marked(head) or _wide(head)
    if named is not None:
        return ["utf-8" if named == "utf-8-sig" else named]
    if _utf8_counts(path) is not None:
        return ["utf-8"]
    return _likely(path)


def _head(path: Path) -> bytes:
    with path.open("rb") as handle:
        return handle.read(WIDE_SAMPLE)


def _marked(head: bytes) -> str | None:
    """The encoding the byte-order mark at the start of ``head`` names, if it has one."""
    return next((name for bom, name in _BOMS if head.startswith(bom)), None)


def _wide(head: bytes) -> str | None:
    """The UTF-16 or UTF-32 encoding (see ``WIDE``) that ``head``, a file's first bytes
    without a byte-order mark, is in; None for text in any other encoding."""
    share = [head[place::4].count(0) / max(len(head[place::4]), 1) for place in range(4)]
    for name, most, few in WIDE:
        if min(share[p] for p in most) >= WIDE_MOST and max(share[p] for p in few) <= WIDE_FEW:
            return name
    return None


def _utf8_counts(path: Path) -> tuple[int, int, bool] | None:
    """The numbers of line ends and of quote characters, and whether a line end follows
    another (a blank line), if the whole file is valid UTF-8, else None."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines = quotes = 0
    blank, tail = False, b""  # the end of the chunk before: a blank line may span two
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(CHUNK):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
                quotes += chunk.count(b'"')
                blank = blank or has_blank_line(tail + chunk[:2]) or has_blank_line(chunk)
                tail = chunk[-2:]
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return None
    return lines, quotes, blank


def has_blank_line(data: bytes) -> bool:
    """Whether a line end in ``data`` follows another (a blank line, ``\\r\\n`` ends too)."""
    return b"\n\n" in data or b"\n\r\n" in data


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
        raise ImportFileError.nothing_done(
            f"{shown}: not UTF-8 text{_guess(path)}. Convert it to UTF-8 or re-run with "
            "--encoding NAME"
        )
    cleaned = scratch_file(scratch, path.suffix)
    quotes, blank = 0, False
    with path.open("rb") as source, cleaned.open("wb") as target:
        for raw in source:
            line = raw.decode("utf-8", errors="replace").encode("utf-8")
            quotes += line.count(b'"')
            blank = blank or line in (b"\n", b"\r\n")
            target.write(line)
    return TextCheck("utf8", bad, cleaned, lines=total, quotes=quotes, blank_lines=blank)


def _guess(path: Path) -> str:
    likely = _likely(path)
    if len(likely) == 2:
        return f" (it looks like cp1252; {likely[1]} if its text is not Western European)"
    return f" (it looks like {likely[0]})" if likely else ""


def _likely(path: Path) -> list[str]:
    """The encodings ``path``, not UTF-8, looks like: none, charset_normalizer's guess, or
    cp1252 and the guess where they read it alike but for Western letters (see ``_western``)."""
    from charset_normalizer import from_path

    best = from_path(path, steps=8, chunk_size=4096).best()
    if best is None:
        return []
    with path.open("rb") as handle:
        sample = handle.read(GUESS_SAMPLE)
    return ["cp1252", best.encoding] if _western(sample, best.encoding) else [best.encoding]


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
