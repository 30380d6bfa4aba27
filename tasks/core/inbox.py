"""The intake folder as files: what is in it and its digest, the intake stage's cache key.

Apart from :mod:`tasks.core.intake`, which decodes and writes (numpy, Pillow, pyarrow): the key
is computed on every run, cached or not, and needs none of them.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from tasks.engine.atomic import sha256_file

MAX_FILE_BYTES = 10 * 1024 * 1024


def list_files(incoming: Path) -> list[str]:
    """Every file below ``incoming`` as a sorted relative POSIX path; ``[]`` if it is absent.

    Symlinked folders are not followed, so the scan stays inside ``incoming``.
    """
    incoming = Path(incoming)
    if not incoming.is_dir():
        return []
    found = []
    for folder, dirs, files in os.walk(incoming, onerror=None):
        dirs.sort()
        relative = Path(folder).relative_to(incoming)
        found.extend((relative / name).as_posix() for name in files)
        found.extend((relative / name).as_posix() for name in dirs
                     if (Path(folder) / name).is_symlink())
    return sorted(found)


def folder_digest(incoming: Path) -> str:
    """sha256 over each file's relative path and content digest: the intake stage's key.

    Files too large to accept are keyed by their size only (they are rejected whatever their
    bytes), so a stray multi-gigabyte file costs no hashing. ``"empty"`` stands for no files.
    """
    entries = [f"{path}\0{_content_key(Path(incoming) / path)}" for path in list_files(incoming)]
    return hashlib.sha256("\n".join(entries).encode()).hexdigest() if entries else "empty"


def _content_key(path: Path) -> str:
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode):
            return "not-a-file"
        if info.st_size > MAX_FILE_BYTES:
            return f"too-large:{info.st_size}"
        return sha256_file(path)
    except OSError as error:
        return f"unreadable:{error.errno}"
