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


def printable_name(name: str) -> str:
    """``name`` as text any log, JSON or terminal accepts: bytes of a file name that are not
    UTF-8 (which Python holds as surrogate escapes) written as ``\\xff``; others unchanged."""
    try:
        raw = os.fsencode(name)
    except UnicodeEncodeError:  # surrogates that no file name can hold
        return name.encode("utf-8", "backslashreplace").decode("utf-8")
    return raw.decode("utf-8", "backslashreplace")


def is_utf8_name(name: str) -> bool:
    """Whether ``name`` (as os.walk gives it) was valid UTF-8 on disk."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def list_files(incoming: Path) -> list[str]:
    """Every file below ``incoming`` as a sorted relative POSIX path; ``[]`` if it is absent.

    Symlinked folders are not followed, so the scan stays inside ``incoming``. A name that is
    not valid UTF-8 comes back as os.walk gives it (surrogate escapes): it still opens, and
    :func:`printable_name` shows it.
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
    # A name that is not valid UTF-8 arrives from os.walk with surrogate escapes; os.fsencode
    # gives back its raw bytes (str.encode() would raise), and valid names hash as before.
    entries = [os.fsencode(path) + b"\0" + _content_key(Path(incoming) / path).encode()
               for path in list_files(incoming)]
    return hashlib.sha256(b"\n".join(entries)).hexdigest() if entries else "empty"


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
