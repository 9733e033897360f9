"""A file's encoding: read as it is, or refused in one line that names the encoding to use."""

from __future__ import annotations

from pathlib import Path

import pytest

from journeylens.errors import ImportFileError
from journeylens.testing import run_cli
from journeylens.workspace import Workspace, init_workspace

ROWS = "ts,event,user_id\n2026-03-01T10:00:00Z,view,u1\n2026-03-01T10:05:00Z,köp,u1\n"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    workspace = init_workspace(tmp_path / "ws")
    yield workspace
    workspace.close()


def saved(path: Path, encoding: str, text: str = ROWS) -> Path:
    path.write_bytes(text.encode(encoding))
    return path


@pytest.mark.parametrize(
    ("encoding", "given", "refusal"),
    [
        # UTF-16 without its byte-order mark: Python's utf-16 wants one; the file names its order.
        (
            "utf-16-le",
            "utf-16",
            r" line 1: not valid utf-16 \(UTF-16 stream does not start with BOM\)\. It looks like "
            r"utf-16-le: re-run with --encoding utf-16-le; nothing was imported\.",
        ),
        # An odd number of bytes (ROWS has 75 in UTF-8) read in twos: the last one is left over.
        (
            "utf-8",
            "utf-16-le",
            r": not valid utf-16-le \(the file ends inside a character\)\. It looks like utf-8, "
            r"which is read without --encoding: re-run without it",
        ),
        ("utf-8", "rot13", r": 'rot13' is not an encoding of text files\. Name the one"),
        ("utf-8", "base64", r": 'base64' is not an encoding of text files\."),
        ("utf-8", "idna", r": 'idna' is not an encoding of text files\."),
        ("utf-8", "utf16le", r": unknown encoding 'utf16le'\. Did you mean 'utf-16le'\?"),
    ],
)
def test_a_wrong_encoding_refuses_the_file_naming_what_to_do(
    ws, tmp_path, encoding, given, refusal
):
    path = saved(tmp_path / "e.csv", encoding)
    with pytest.raises(ImportFileError, match=f"^{path}{refusal}"):
        ws.import_files([path], encoding=given)
    assert ws.store.count("events") == ws.store.count("rejected") == 0


def test_a_file_not_in_the_named_encoding_is_refused_naming_the_one_it_looks_like(ws, tmp_path):
    text = "ts,event,user_id,note\n" + "".join(
        f"2026-03-01T10:0{i}:00Z,view,u-{i},{note}\n"
        for i, note in enumerate(["plain", "café Åsa", "Göteborg"])
    )
    path = saved(tmp_path / "e.csv", "cp1252", text)
    with pytest.raises(
        ImportFileError,
        match=rf"^{path} line 3: not valid utf-8 \(invalid continuation byte\)\. It looks like "
        r"cp1252: re-run with --encoding cp1252; nothing was imported\.",
    ):
        ws.import_files([path], encoding="utf-8")


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark_is_refused_naming_its_byte_order(ws, tmp_path, encoding):
    # Its ASCII is valid UTF-8 with a NUL byte beside each character: read as UTF-8, every row
    # was rejected with odd previews.
    path = saved(tmp_path / "e.csv", encoding)
    with pytest.raises(
        ImportFileError,
        match=rf"not UTF-8 text \(it looks like {encoding}, without a byte-order mark\)\. "
        rf"Convert it to UTF-8 or re-run with --encoding {encoding}; nothing was imported\.",
    ):
        ws.import_files([path])
    assert ws.store.count("events") == ws.store.count("rejected") == 0
    assert ws.import_files([path], encoding=encoding).stored == 2
    assert sorted(ws.events.execute()["event"]) == ["köp", "view"]


def test_utf16_and_32_are_told_by_where_their_nul_bytes_fall():
    from journeylens.collect.encoding import _wide

    text = "ts,event,user_id\n2026-03-01T10:00:00Z,浏览,用户一\n"
    for encoding in ("utf-16-le", "utf-16-be", "utf-32-le", "utf-32-be"):
        assert _wide(text.encode(encoding)) == encoding
    for other in ("utf-8", "gb18030"):
        assert _wide(text.encode(other)) is None
    assert _wide(bytes(4096)) is None  # NUL bytes everywhere: no text
    assert _wide(bytes(range(256)) * 16) is None


def test_the_command_line_refuses_a_wrong_encoding_in_one_line(tmp_path):
    path = saved(tmp_path / "le.csv", "utf-16-le")
    run_cli("init", str(tmp_path / "ws"), check=True)
    for given in ("utf-16", "rot13"):
        result = run_cli("import", str(path), "--encoding", given, workspace=tmp_path / "ws")
        assert result.returncode == 2
        assert result.stderr.startswith(f"Error: {path}")
        assert result.stderr.count("\n") == 1
