"""The floor under a transfer: too slow over a window, or past the per-file deadline."""

from __future__ import annotations

import pytest

from tasks.core import pace
from tasks.core.pace import DEADLINE_FACTOR, Pace, StalledTransferError


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(pace.time, "monotonic", fake)
    return fake


def test_a_trickle_fails_after_one_window(clock: _Clock) -> None:
    floor = Pace(timeout=10, min_rate=1000).start()
    for _ in range(9):
        clock.now += 1
        floor.check(1)  # within the first window: no verdict yet
    clock.now += 1
    with pytest.raises(StalledTransferError, match=r"too slow: 1 bytes/s over 10 s"):
        floor.check(1)


def test_a_fast_transfer_passes_every_window(clock: _Clock) -> None:
    floor = Pace(timeout=10, min_rate=1000).start()
    for _ in range(DEADLINE_FACTOR * 10 - 1):
        clock.now += 1
        floor.check(5000)


def test_the_per_file_deadline(clock: _Clock) -> None:
    floor = Pace(timeout=2, min_rate=0).start()
    clock.now += DEADLINE_FACTOR * 2 + 1
    with pytest.raises(StalledTransferError, match=r"took longer than 40 s, the limit per file"):
        floor.check(10**9)
