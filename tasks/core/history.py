"""The training history: parameter snapshots taken during training, measured in batches.

A history point costs two forward passes over 10,000-row sets, while the `original` preset's
5001 updates together cost about as much as 20 of them. Measured one by one (101 points, two
products of 20 columns each), the points took 3x longer than the training itself. Taken as
float32 snapshots (63 kB each) and measured up to :data:`SNAPSHOTS_PER_BATCH` at a time, the
first layer of all of them is one matrix product ``X · [W_1 of every snapshot]ᵀ`` whose
640 columns run near the machine's peak (``bench/bench_train.py``). Snapshots are measured at
least every :data:`MAX_PENDING_SECONDS`, so progress reports stay live on long runs.

History numbers are float32 (curves, not results); the final accuracies come from the
evaluate stage in the parameters' own dtype. Nothing here touches a random stream.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from tasks.core.errors import TrainingDivergedError
from tasks.core.network import Params, l2_penalty
from tasks.core.train_config import TrainConfig

HISTORY_COLUMNS = ("step", "lr", "loss", "train_accuracy", "test_accuracy")
# The batched product is large enough for two threads to pay (1.7x on a quiet 2-core machine);
# training's own small products stay on one (see tasks.core.train).
HISTORY_BLAS_THREADS = min(2, os.cpu_count() or 1)
SNAPSHOTS_PER_BATCH = 32  # 32 x 20 hidden units: a (10,000 x 640) float32 block, 26 MB
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


def batched_scores(snapshots: list[Params], X: NDArray[np.float32],
                   y: NDArray[np.integer]) -> tuple[NDArray[np.float32], NDArray[np.float64]]:
    """Cross-entropy ``(k,) float32`` and accuracy ``(k,) float64`` of ``k`` float32 snapshots
    on ``X (n, 784) float32``, ``y (n,)``.

    Notes: the first layer of all snapshots is one product ``(n, 784) · (784, k·hidden)``; the
    second is one batched product ``(k, n, hidden) · (k, hidden, 10)``, and the log-softmax
    runs over the whole ``(k, n, 10)`` stack: per snapshot, those small steps cost as much as
    the large product.
    """
    k, hidden = len(snapshots), snapshots[0]["W_1"].shape[0]
    n = len(X)
    W_1 = np.concatenate([s["W_1"] for s in snapshots])              # (k·hidden, 784)
    b_1 = np.concatenate([s["b_1"][:, 0] for s in snapshots])        # (k·hidden,)
    A_1 = X @ W_1.T                                                  # (n, k·hidden)
    A_1 += b_1
    np.maximum(A_1, 0, out=A_1)
    W_2 = np.stack([s["W_2"].T for s in snapshots])                  # (k, hidden, 10)
    b_2 = np.stack([s["b_2"].T for s in snapshots])                  # (k, 1, 10)
    Z_2 = np.matmul(A_1.reshape(n, k, hidden).transpose(1, 0, 2), W_2) + b_2   # (k, n, 10)
    labels = np.asarray(y, dtype=np.intp)
    accuracy = (Z_2.argmax(axis=2) == labels).mean(axis=1)
    Z_2 -= Z_2.max(axis=2, keepdims=True)
    picked = np.take_along_axis(Z_2, labels[None, :, None], axis=2)[:, :, 0]   # (k, n)
    log_sum = np.log(np.exp(Z_2).sum(axis=2))                        # (k, n)
    return (log_sum - picked).mean(axis=1), accuracy


class HistoryRecorder:
    """Takes snapshots when a history point is due and measures them in batches.

    ``sets`` maps ``train``, ``test`` (and ``validation``) to ``(X (n, 784) float32, y (n,))``.
    Rows (dicts keyed by :data:`HISTORY_COLUMNS`, plus ``validation_accuracy``) appear in
    ``rows`` in step order once measured; :meth:`finish` measures what is left.
    """

    def __init__(self, config: TrainConfig, total_steps: int,
                 sets: Mapping[str, tuple[NDArray[np.float32], NDArray[Any]]],
                 on_progress: Callable[[TrainProgress], None] | None,
                 blas: ThreadpoolController) -> None:
        self.config, self.total_steps, self.on_progress, self.blas = (
            config, total_steps, on_progress, blas)
        self.sets = {name: (np.asarray(X, dtype=np.float32), y) for name, (X, y) in sets.items()}
        self.rows: list[dict[str, float]] = []
        self._pending: list[_Snapshot] = []
        self._oldest = 0.0

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
        rows = [{"step": s.step, "lr": s.lr} for s in pending]
        with self.blas.limit(limits=HISTORY_BLAS_THREADS, user_api="blas"):
            for name, (X, y) in self.sets.items():
                losses, accuracies = batched_scores([s.params for s in pending], X, y)
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
