"""The training history: parameter snapshots taken during training, measured in batches.

A history point costs two forward passes over 10,000-row sets, while the `original` preset's
5001 updates together cost about as much as 20 of them. Snapshots are therefore taken as
float32 copies (63 kB each) and measured :data:`SNAPSHOTS_PER_BATCH` at a time by
:func:`tasks.core.snapshot_scores.score_snapshots`, a few large matrix products per set.
The sets are measured side by side on :data:`HISTORY_WORKERS` threads, each with one BLAS
thread (the products release the GIL): a multi-threaded OpenBLAS call would leave its idle
threads spinning, which doubled the CPU time of the history. Snapshots are measured at
least every :data:`MAX_PENDING_SECONDS`, so progress reports stay live on long runs.

History numbers are float32 (curves, not results); the final accuracies come from the
evaluate stage in the parameters' own dtype. Nothing here touches a random stream.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import TrainingDivergedError
from tasks.core.network import Params, l2_penalty
from tasks.core.snapshot_scores import (
    ScoringSet,
    prepare_scoring_set,
    score_snapshots,
    stack_snapshots,
)
from tasks.core.train_config import TrainConfig

HISTORY_COLUMNS = ("step", "lr", "loss", "train_accuracy", "test_accuracy")
# One worker per core, each on one BLAS thread: the sets of a batch are measured side by side
HISTORY_WORKERS = min(2, os.cpu_count() or 1)
SNAPSHOTS_PER_BATCH = 32  # 32 x 20 hidden units: products 640 rows tall
MAX_PENDING_SECONDS = 1.0


@dataclass(frozen=True)
class TrainProgress:
    """One history point, as passed to ``on_progress``; ``step`` counts from 0."""

    step: int
    total_steps: int
    loss: float
    train_accuracy: float
    test_accuracy: float


@dataclass(frozen=True)
class _Snapshot:
    step: int
    lr: float
    params: Params  # float32 copies
    penalty: float  # the L2 term, from the parameters in their own dtype


class HistoryRecorder:
    """Takes snapshots when a history point is due and measures them in batches.

    ``sets`` maps ``train``, ``test`` (and ``validation``) to ``(X (n, 784) float32, y (n,))``.
    Rows (dicts keyed by :data:`HISTORY_COLUMNS`, plus ``validation_accuracy``) appear in
    ``rows`` in step order once measured; :meth:`finish` measures what is left. Use it as a
    context manager: leaving the block stops its worker threads.
    """

    def __init__(self, config: TrainConfig, total_steps: int,
                 sets: Mapping[str, tuple[NDArray[np.float32], NDArray[Any]]],
                 on_progress: Callable[[TrainProgress], None] | None) -> None:
        self.config, self.total_steps, self.on_progress = config, total_steps, on_progress
        self.sets: dict[str, ScoringSet] = {
            name: prepare_scoring_set(X, y) for name, (X, y) in sets.items()}
        self.rows: list[dict[str, float]] = []
        self._pending: list[_Snapshot] = []
        self._oldest = 0.0
        self._workers = ThreadPoolExecutor(HISTORY_WORKERS, thread_name_prefix="history")

    def __enter__(self) -> HistoryRecorder:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._workers.shutdown(wait=True, cancel_futures=True)

    def due(self, step: int) -> bool:
        return step % self.config.eval_every == 0 or step == self.total_steps - 1

    def record(self, step: int, lr: float, params: Params) -> None:
        """Snapshot ``params`` at ``step`` (copies: training goes on updating them)."""
        if not self._pending:
            self._oldest = time.monotonic()
        self._pending.append(_Snapshot(
            step, lr, {name: array.astype(np.float32) for name, array in params.items()},
            l2_penalty(params, self.config.l2)))
        if (len(self._pending) >= SNAPSHOTS_PER_BATCH
                or time.monotonic() - self._oldest > MAX_PENDING_SECONDS):
            self.finish()

    def finish(self) -> None:
        """Measure every pending snapshot; report each to ``on_progress`` in step order."""
        pending, self._pending = self._pending, []
        if not pending:
            return
        stack = stack_snapshots([s.params for s in pending])
        scores = {name: self._workers.submit(score_snapshots, stack, data)
                  for name, data in self.sets.items()}
        rows = [{"step": s.step, "lr": s.lr} for s in pending]
        for name, future in scores.items():
            losses, accuracies = future.result()
            for row, snapshot, loss, accuracy in zip(rows, pending, losses, accuracies,
                                                     strict=True):
                if name == "train":
                    row["loss"] = float(loss) + snapshot.penalty
                    check_finite(row["loss"], snapshot.step, snapshot.lr, self.config)
                row[f"{name}_accuracy"] = float(accuracy)
        for row in rows:
            self.rows.append(row)
            if self.on_progress is not None:
                self.on_progress(TrainProgress(int(row["step"]), self.total_steps, row["loss"],
                                               row["train_accuracy"], row["test_accuracy"]))


def check_finite(loss: float, step: int, lr: float, config: TrainConfig) -> None:
    """:class:`TrainingDivergedError` saying what to change when ``loss`` is not finite."""
    if not math.isfinite(loss):
        raise TrainingDivergedError(
            f"training diverged at step {step}: the loss became {loss} (learning rate {lr:.3g} "
            f"at that step); lower `lr` (now {config.lr:g}) or `l2` (now {config.l2:g}) "
            f"and train again")
