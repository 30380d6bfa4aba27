"""Digests and atomic writes: the two primitives every stage uses to never lie about a file.

A file is written under a temporary name in its destination folder and renamed into place only
once complete, so a crash, a Ctrl-C or a full disk never leaves a file that a later run takes
for finished. ``os.replace`` is atomic within one filesystem, which the same folder guarantees.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@contextlib.contextmanager
def atomic_path(destination: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``destination``; rename it into place on success.

    On any exception (including KeyboardInterrupt) the temporary file is removed and
    ``destination`` is left as it was.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp",
                                    dir=destination.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, destination)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(destination: Path, data: bytes) -> None:
    """Write ``data`` to ``destination`` atomically."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(destination: Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``destination`` atomically."""
    write_bytes_atomic(destination, text.encode("utf-8"))
