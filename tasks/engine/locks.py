"""A Prefect lock manager on ``flock``: concurrent runs take turns per stage, dead ones let go.

With ``isolation_level="SERIALIZABLE"``, Prefect holds a lock on a cache key from the moment a
stage starts until its result is written, so a second run of the same stage waits and then
finds it Cached instead of computing it again (or reading a half-written record). Prefect's own
``FileSystemLockManager`` writes lock files that outlive a killed process, so a run killed
mid-stage would block the next one forever. A kernel ``flock`` is released when its process dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

from prefect.locking.protocol import LockManager

_POLL_SECONDS = 0.1


class FlockLockManager(LockManager):
    """One lock file per cache key in ``directory``; held with ``fcntl.flock``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._held: dict[str, tuple[int, str]] = {}
        self._guard = threading.Lock()

    def __reduce__(self) -> tuple[type, tuple[Path]]:
        # Dask ships a task and its cache policy to worker processes; a held lock never
        # travels, so the copy starts with no locks and a guard of its own.
        return (type(self), (self.directory,))

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.lock"

    def _try_lock(self, key: str) -> int | None:
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def acquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                     hold_timeout: float | None = None) -> bool:
        with self._guard:
            if key in self._held:
                return self._held[key][1] == holder
        deadline = None if acquire_timeout is None else time.monotonic() + acquire_timeout
        while (fd := self._try_lock(key)) is None:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        with self._guard:
            self._held[key] = (fd, holder)
        return True

    async def aacquire_lock(self, key: str, holder: str, acquire_timeout: float | None = None,
                            hold_timeout: float | None = None) -> bool:
        return self.acquire_lock(key, holder, acquire_timeout, hold_timeout)

    def release_lock(self, key: str, holder: str) -> None:
        with self._guard:
            fd, owner = self._held.get(key, (None, None))
            if fd is None or owner != holder:
                raise ValueError(f"no lock on {key} held by {holder}")
            del self._held[key]
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    def is_locked(self, key: str) -> bool:
        with self._guard:
            if key in self._held:
                return True
        fd = self._try_lock(key)
        if fd is None:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        return False

    def is_lock_holder(self, key: str, holder: str) -> bool:
        with self._guard:
            return key in self._held and self._held[key][1] == holder

    def wait_for_lock(self, key: str, timeout: float | None = None) -> bool:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.is_locked(key):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            time.sleep(_POLL_SECONDS)
        return True

    async def await_for_lock(self, key: str, timeout: float | None = None) -> bool:
        return self.wait_for_lock(key, timeout)
