"""History points: measured in batches, reported in step order, from copies of the parameters."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core import history
from tasks.core.history import HistoryRecorder, TrainProgress
from tasks.core.train_config import TrainConfig
from tests.core.test_snapshot_scores import random_snapshots


def test_snapshots_are_measured_in_batches_and_reported_in_step_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "SNAPSHOTS_PER_BATCH", 4)
    rng = np.random.default_rng(2)
    sets = {"train": (rng.standard_normal((50, 784), dtype=np.float32),
                      rng.integers(0, 10, 50)),
            "test": (rng.standard_normal((20, 784), dtype=np.float32), rng.integers(0, 10, 20))}
    seen: list[TrainProgress] = []
    params = random_snapshots(1)[0]
    with HistoryRecorder(TrainConfig(hidden=5, eval_every=1, steps=10), 10, sets,
                         seen.append) as recorder:
        for step in range(10):
            recorder.record(step, 0.01, params)
            for value in params.values():
                value *= 1.1  # training updates in place: the snapshot must be a copy
            assert len(recorder.rows) == 4 * ((step + 1) // 4)  # measured a batch at a time
        recorder.finish()
    assert [row["step"] for row in recorder.rows] == list(range(10))
    assert [point.step for point in seen] == list(range(10))
    assert len({row["loss"] for row in recorder.rows}) == 10  # each its own snapshot
