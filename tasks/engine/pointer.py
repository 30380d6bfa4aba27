"""Named pointers: a relative symlink swapped atomically, with an optional record beside it.

``artifacts/latest``, ``<dataset>/production`` (with ``production.json``) and
``<dataset>/champion`` are all pointers. A pointer is swapped by renaming a new link over the
old one, so a reader sees the old target or the new, never neither; the link is relative, so
it survives moving or copying the whole artifacts folder. Writers take turns on an ``flock``
beside the link, so the record and the link of two concurrent swaps never interleave.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from tasks.engine.atomic import write_text_atomic
from tasks.engine.errors import OutputError


def lock_path(link: Path) -> Path:
    """The lock file that serializes the swaps of ``link`` (hidden, beside it)."""
    return link.with_name(f".{link.name}.lock")


@contextlib.contextmanager
def pointer_lock(link: Path) -> Iterator[None]:
    """Hold ``link``'s lock: one swap at a time, and a reader inside sees a finished one.
    The kernel drops the lock of a killed process."""
    path = lock_path(link)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise OutputError(f"cannot lock {link}: {error.strerror}; make {link.parent} "
                          f"writable, then run again") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the flock


def wait_for_swap(link: Path, seconds: float) -> None:
    """Block until no swap of ``link`` holds its lock, for a reader that found it mid-swap
    (a shared lock, polled, at most ``seconds``; read-only, so a reader needs no write access).
    No lock file: no swap ever ran, nothing to wait for."""
    try:
        fd = os.open(lock_path(link), os.O_RDONLY)
    except OSError:
        return
    deadline = time.monotonic() + seconds
    try:
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.01)
    finally:
        os.close(fd)


def swap_pointer(link: Path, target: Path, *, record: Path | None = None,
                 record_text: str | None = None, locked: bool = False) -> Path:
    """Point ``link`` at ``target`` (a relative symlink) and write ``record_text`` to
    ``record``, both under the pointer's lock; the record first, so a reader that checks the
    link against the record sees them disagree only while the lock is held. Returns ``link``.

    A ``link`` that exists and is not a symlink (a folder or file a user put there) is never
    replaced: :class:`OutputError` says so, as it does for an unwritable folder. ``locked``:
    the caller already holds :func:`pointer_lock` (to decide and swap in one turn).
    """
    link, target = Path(link), Path(target)
    with contextlib.nullcontext() if locked else pointer_lock(link):
        if link.exists() and not link.is_symlink():
            kind = "folder" if link.is_dir() else "file"
            raise OutputError(f"{link} is a {kind}, not the symbolic link this pipeline "
                              f"maintains; move it away, then run again (the new target is "
                              f"{target})")
        if record is not None and record_text is not None:
            write_text_atomic(record, record_text)
        staging = link.with_name(f".{link.name}.{os.getpid()}.tmp")
        try:
            staging.unlink(missing_ok=True)
            staging.symlink_to(os.path.relpath(target, link.parent), target_is_directory=True)
            os.replace(staging, link)
        except OSError as error:
            staging.unlink(missing_ok=True)
            raise OutputError(f"cannot point {link} at {target}: {error.strerror}; make "
                              f"{link.parent} writable, then run again") from None
    return link
