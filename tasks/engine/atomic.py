"""Digests and atomic writes: the two primitives every stage uses to never lie about a file.

A file is written under a temporary name in its destination folder and renamed into place only
once complete, so a crash, a Ctrl-C or a full disk never leaves a file that a later run takes
for finished. ``os.replace`` is atomic within one filesystem, which the same folder guarantees.

The writer holds an ``flock`` on its temporary file until the rename. A process killed with
SIGKILL cannot clean up, but the kernel drops its lock, so :func:`remove_stale_temps` can tell
an orphan (lock free) from a file another live process is still writing (lock held).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from tasks.engine.errors import OutputError

_CHUNK = 1 << 20
# Failures of the destination itself; other OSErrors in the body (a dropped download, an
# unreadable source) belong to the caller and pass through unchanged.
_OUTPUT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS})
# A staged symlink (``latest``) cannot be locked; it lives for microseconds, so one older than
# this was left by a killed process.
_STALE_LINK_SECONDS = 600.0

logger = logging.getLogger(__name__)


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

    The file gets the mode a plain ``open()`` would give under the current umask (``mkstemp``
    alone makes it 0600, which the rename would keep: unreadable to other users). On any
    exception (including KeyboardInterrupt) the temporary file is removed and ``destination``
    is left as it was. A full disk or a read-only or unwritable folder raises
    :class:`OutputError` naming ``destination``.
    """
    destination = Path(destination)
    try:
        destination.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".tmp",
                                        dir=destination.parent)
    except OSError as error:
        raise _output_error(destination, error) from error
    tmp = Path(tmp_name)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours until closed: see remove_stale_temps
        os.fchmod(fd, 0o666 & ~current_umask())
        yield tmp
        os.replace(tmp, destination)
    except OSError as error:
        tmp.unlink(missing_ok=True)
        if error.errno in _OUTPUT_ERRNOS:
            raise _output_error(destination, error) from error
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        os.close(fd)


def current_umask() -> int:
    """The process umask, read without changing it (``os.umask`` sets it, racing threads)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # no /proc: the brief set-and-restore is the only way
    os.umask(mask)
    return mask


def remove_stale_temps(root: Path) -> list[Path]:
    """Remove the temporary files under ``root`` that no live process is writing.

    Matches this module's names (``.NAME.*.tmp``). A file whose lock is free was left by a
    process that died mid-write (SIGKILL, power loss); a locked one is another run's, still
    being written, and is left alone. Returns the paths removed.
    """
    removed = []
    for path in Path(root).rglob(".*.tmp"):
        if _is_orphan(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    if removed:
        logger.info("removed %d temporary file(s) left by a killed run: %s", len(removed),
                    ", ".join(str(p) for p in removed))
    return removed


def _is_orphan(path: Path) -> bool:
    try:
        if path.is_symlink():
            return time.time() - path.lstat().st_mtime > _STALE_LINK_SECONDS
        if not path.is_file():
            return False
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except OSError:  # held: a live writer
        return False
    finally:
        os.close(fd)


def _output_error(destination: Path, error: OSError) -> OutputError:
    reason = os.strerror(error.errno) if error.errno else str(error)
    return OutputError(f"cannot write {destination}: {reason}; free disk space or make "
                       f"{destination.parent} writable (or choose another --artifacts-dir), "
                       f"then run again: finished stages are kept")


def write_bytes_atomic(destination: Path, data: bytes | memoryview) -> str:
    """Write ``data`` to ``destination`` atomically; return its hex sha256 (no re-read)."""
    with atomic_path(destination) as tmp:
        tmp.write_bytes(data)
    return sha256_bytes(data)


def write_text_atomic(destination: Path, text: str) -> str:
    """Write UTF-8 ``text`` to ``destination`` atomically; return the bytes' hex sha256."""
    return write_bytes_atomic(destination, text.encode("utf-8"))
