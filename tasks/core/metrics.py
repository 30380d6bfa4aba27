"""Evaluation of trained parameters: accuracy, loss, confusion matrix, per-class scores."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.core.network import N_CLASSES, Params, cross_entropy, forward, l2_penalty

_CHUNK = 10_000  # rows per forward pass: bounds the float64 copy of X to ~63 MB


@dataclass(frozen=True)
class Evaluation:
    """Scores of one split.

    ``confusion[i][j]`` counts samples of true class ``i`` predicted as ``j``. Precision,
    recall and F1 are per class (index = digit); a class never predicted (or never present)
    scores 0 rather than NaN so the result stays valid JSON.
    """

    n_samples: int
    accuracy: float
    loss: float
    confusion: list[list[int]]
    precision: list[float]
    recall: list[float]
    f1: list[float]
    class_names: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serializable dict (ints, floats, lists, str)."""
        return {
            "n_samples": self.n_samples, "accuracy": self.accuracy, "loss": self.loss,
            "confusion": self.confusion, "precision": self.precision, "recall": self.recall,
            "f1": self.f1, "class_names": self.class_names, "per_class": self.per_class(),
        }

    def per_class(self) -> list[dict[str, Any]]:
        """One row per class: name, precision, recall, F1 and support (true samples)."""
        return [
            {"class": name, "precision": p, "recall": r, "f1": f, "support": sum(row)}
            for name, p, r, f, row in zip(self.class_names, self.precision, self.recall,
                                          self.f1, self.confusion, strict=True)
        ]


def evaluate(params: Params, X: NDArray[np.floating], y: NDArray[np.integer], *,
             l2: float = 0.0, class_names: Sequence[str] | None = None) -> Evaluation:
    """Score ``params`` on ``X (n, 784)``, ``y (n,)``, computing in the parameters' dtype.

    ``loss`` is the mean cross-entropy plus ``½·λ·(‖W_1‖² + ‖W_2‖²)`` with ``λ = l2``, the
    training objective; pass ``l2=0`` for the plain cross-entropy.
    """
    labels = np.asarray(y).astype(np.intp)
    n = len(labels)
    predicted = np.empty(n, dtype=np.intp)
    total_ce = 0.0
    for start in range(0, n, _CHUNK):
        Z_2 = forward(params, X[start:start + _CHUNK])["Z_2"]
        chunk_labels = labels[start:start + _CHUNK]
        total_ce += cross_entropy(Z_2, chunk_labels) * len(chunk_labels)
        predicted[start:start + _CHUNK] = Z_2.argmax(axis=1)
    confusion = confusion_matrix(labels, predicted)
    precision, recall, f1 = _per_class_scores(confusion)
    names = list(class_names) if class_names is not None else [str(d) for d in range(N_CLASSES)]
    return Evaluation(
        n_samples=n, accuracy=float((predicted == labels).mean()) if n else 0.0,
        loss=(total_ce / n if n else 0.0) + l2_penalty(params, l2),
        confusion=confusion.tolist(), precision=precision, recall=recall, f1=f1,
        class_names=names,
    )


def confusion_matrix(labels: NDArray[np.integer], predicted: NDArray[np.integer],
                     n_classes: int = N_CLASSES) -> NDArray[np.int64]:
    """``(n_classes, n_classes)`` counts: row = true class, column = predicted class."""
    flat = labels.astype(np.int64) * n_classes + predicted.astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def _per_class_scores(confusion: NDArray[np.int64]) -> tuple[list[float], ...]:
    hits = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    actual = confusion.sum(axis=1)
    precision = np.divide(hits, predicted, out=np.zeros_like(hits), where=predicted > 0)
    recall = np.divide(hits, actual, out=np.zeros_like(hits), where=actual > 0)
    both = precision + recall
    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(hits), where=both > 0)
    return precision.tolist(), recall.tolist(), f1.tolist()
