"""How a transfer is going: progress reports for the user, and the floor under its pace.

A socket timeout catches a mirror that goes silent, not one that trickles (each byte resets
it). :class:`Pace` fails a transfer that averages less than ``MIN_RATE`` bytes/s over a window
of ``timeout`` seconds, or that takes longer than ``DEADLINE_FACTOR * timeout`` in all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger("tasks.core.fetch")  # one logger for everything a download says

_PROGRESS_EVERY = 0.5  # seconds between on_progress calls
_LOG_AFTER = 3.0  # downloads shorter than this are not logged as progress
_LOG_EVERY = 5.0
MIN_RATE = 1_000  # bytes/s: far below any working link, far above a trickle
DEADLINE_FACTOR = 20  # one file from one mirror: at most this many timeouts (10 min at 30 s)


class StalledTransferError(Exception):
    """The transfer is too slow or past its deadline; the message says which."""


@dataclass(frozen=True)
class DownloadProgress:
    """Progress of one file: compressed bytes ``done`` of ``total`` (None if unknown),
    ``rate`` in bytes/s and ``eta`` in seconds (None if unknown)."""

    file: str
    done: int
    total: int | None
    rate: float
    eta: float | None


class Pace:
    """The floor under a transfer: ``min_rate`` bytes/s over every ``timeout``-second window,
    and ``DEADLINE_FACTOR * timeout`` seconds for the whole file; StalledTransferError otherwise."""

    def __init__(self, timeout: float, min_rate: float) -> None:
        self.timeout, self.min_rate = timeout, min_rate

    def start(self) -> Pace:
        self.deadline = time.monotonic() + DEADLINE_FACTOR * self.timeout
        self.window_start, self.window_bytes = time.monotonic(), 0
        return self

    def check(self, n_bytes: int) -> None:
        now = time.monotonic()
        if now > self.deadline:
            limit = DEADLINE_FACTOR * self.timeout
            raise StalledTransferError(f"took longer than {limit:.0f} s, the limit per file "
                                       f"({DEADLINE_FACTOR} x --timeout)")
        self.window_bytes += n_bytes
        elapsed = now - self.window_start
        if elapsed >= self.timeout:
            rate = self.window_bytes / elapsed
            if rate < self.min_rate:
                raise StalledTransferError(
                    f"too slow: {rate:.0f} bytes/s over {elapsed:.0f} s, below the minimum "
                    f"{self.min_rate:.0f} bytes/s (stalled or trickling mirror)")
            self.window_start, self.window_bytes = now, 0


class Progress:
    """Calls ``on_progress`` every ~0.5 s and at the end; logs downloads longer than ~3 s."""

    def __init__(self, name: str, total: int | None,
                 on_progress: Callable[[DownloadProgress], None] | None) -> None:
        self.name, self.total, self.on_progress = name, total, on_progress
        self.done = 0
        self.start = self.last_call = self.last_log = time.monotonic()

    def update(self, n_bytes: int) -> None:
        self.done += n_bytes
        now = time.monotonic()
        if now - self.last_call >= _PROGRESS_EVERY:
            self.last_call = now
            slow = now - self.start >= _LOG_AFTER
            self._report(now, log=slow and now - self.last_log >= _LOG_EVERY)

    def finish(self) -> None:
        now = time.monotonic()
        self._report(now, log=now - self.start >= _LOG_AFTER)

    def _report(self, now: float, *, log: bool) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        eta = (self.total - self.done) / rate if self.total and rate > 0 else None
        snapshot = DownloadProgress(self.name, self.done, self.total, rate, eta)
        if self.on_progress is not None:
            self.on_progress(snapshot)
        if log:
            self.last_log = now
            logger.info("%s: %s", self.name, format_progress(snapshot))


def format_progress(progress: DownloadProgress) -> str:
    """``"3.1 / 9.9 MB at 2.4 MB/s, ETA 3 s"``: one line for a console or a log."""
    total = f" / {progress.total / 1e6:.1f}" if progress.total else ""
    eta = f", ETA {progress.eta:.0f} s" if progress.eta is not None else ""
    return f"{progress.done / 1e6:.1f}{total} MB at {progress.rate / 1e6:.1f} MB/s{eta}"
