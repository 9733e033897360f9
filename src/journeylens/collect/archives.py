"""Zip archives among the files to import: their data files, unpacked to a scratch folder.

Tools export in archives: Amplitude's export is a ``.zip`` of gzipped JSON Lines files, one per
hour. An archive given to ``import`` (or found in a directory given to it) is unpacked, member
by member and streamed, into a folder named after it, whose data files are then imported in
name order as a directory's would be (:func:`journeylens.collect.readers.expand_paths`). The
folder is removed when the import ends. An archive named as a data file (``export.csv``) is
known by its first bytes (:func:`journeylens.collect.readers.is_archive`) and unpacked alike,
with a note (:func:`archive_notes`). A member whose name would leave the folder (``../x``,
an absolute path) is refused, not unpacked. A member is named by the archive's path and its
own (``exports/calls.zip/calls.csv``: :func:`as_given`) in rejected rows and messages, the same
at every import of the archive, so importing it again replaces its rejected rows.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath

from journeylens.collect.readers import expand_paths, is_archive
from journeylens.errors import ImportFileError


def unpack_archives(paths: Sequence[Path], scratch: Path, folders: dict[Path, Path]) -> list[Path]:
    """``paths`` with each archive replaced by the data files it holds, unpacked under
    ``scratch``; each folder made is added to ``folders`` (with its archive) for the caller to
    remove (:func:`remove_folders`), also when this raises."""
    files: list[Path] = []
    for path in map(Path, paths):
        if not is_archive(path):
            files.append(path)
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"journeylens-{path.name}-", dir=scratch))
        folders[folder] = path
        _unpack(path, folder)
        try:
            files.extend(expand_paths([folder]))
        except ImportFileError:
            raise ImportFileError(
                f"{path}: an archive without a file to import (.csv, .tsv, .parquet, .jsonl, "
                ".json, gzipped or not, .xlsx or .xes)."
            ) from None
    return files


def _unpack(path: Path, folder: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if member.is_dir():
                    continue
                parts = PurePosixPath(member.filename.replace("\\", "/")).parts
                if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
                    raise ImportFileError(
                        f"{path}: the member '{member.filename}' would be unpacked outside "
                        "the archive's folder; nothing was imported."
                    )
                target = folder.joinpath(*parts)
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as packed, target.open("wb") as out:
                    shutil.copyfileobj(packed, out, 16 << 20)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError) as exc:
        raise ImportFileError(f"{path}: not a readable zip archive ({exc}).") from exc


def archive_notes(folders: Mapping[Path, Path]) -> list[str]:
    """A note on each archive unpacked into ``folders`` that is named otherwise than ``.zip``
    (see :func:`journeylens.collect.readers.is_archive`)."""
    return [
        f"{archive}: the file is a zip archive, though its name does not end in .zip; the "
        "files it holds were read."
        for archive in folders.values()
        if archive.suffix.lower() != ".zip"
    ]


def remove_folders(folders: Iterable[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)


def as_given(path: Path, folders: Mapping[Path, Path]) -> Path:
    """``path`` as the user knows it: a file unpacked from an archive (into one of
    ``folders``) as the archive's path followed by its own within it.

    Examples
    --------
    >>> folders = {Path("/ws/journeylens-a.zip-x1"): Path("in/a.zip")}
    >>> as_given(Path("/ws/journeylens-a.zip-x1/d/e.csv"), folders)
    PosixPath('in/a.zip/d/e.csv')
    >>> as_given(Path("in/b.csv"), {})
    PosixPath('in/b.csv')
    """
    for folder, archive in folders.items():
        if path.is_relative_to(folder):
            return archive / path.relative_to(folder)
    return path


def in_message(text: str, folders: Mapping[Path, Path]) -> str:
    """A message about files unpacked into ``folders``, naming them as :func:`as_given`."""
    for folder, archive in folders.items():
        text = text.replace(str(folder), str(archive))
    return text
