"""Zip archives among the files to import: their data files, unpacked to a scratch folder.

Tools export in archives: Amplitude's export is a ``.zip`` of gzipped JSON Lines files, one per
hour. An archive given to ``import`` (or found in a directory given to it) is unpacked, member
by member and streamed, into a folder named after it, whose data files are then imported in
name order as a directory's would be (:func:`journeylens.collect.readers.expand_paths`). The
folder is removed when the import ends. A member whose name would leave the folder (``../x``,
an absolute path) is refused, not unpacked.
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from journeylens.collect.readers import expand_paths, is_archive
from journeylens.errors import ImportFileError


def unpack_archives(paths: Sequence[Path], scratch: Path, folders: list[Path]) -> list[Path]:
    """``paths`` with each archive replaced by the data files it holds, unpacked under
    ``scratch``; each folder made is appended to ``folders`` for the caller to remove
    (:func:`remove_folders`), also when this raises."""
    files: list[Path] = []
    for path in map(Path, paths):
        if not is_archive(path):
            files.append(path)
            continue
        folder = Path(tempfile.mkdtemp(prefix=f"journeylens-{path.name}-", dir=scratch))
        folders.append(folder)
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


def remove_folders(folders: Sequence[Path]) -> None:
    for folder in folders:
        shutil.rmtree(folder, ignore_errors=True)
