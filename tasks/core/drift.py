"""Drift: does a batch of new images look like the training set?

Two views, each a two-sample statistic normalised so that 0 means "a sample of the same
distribution" whatever the batch size:

- **ink**: the batch's per-pixel mean against the base split's, in units of the base split's
  per-pixel standard deviation (a thick pen, an inverted or rotated scan moves it);
- **hidden**: per class, the mean of the model's internal representation (the hidden layer)
  of the batch's images of that class against the base split's images of that class, in base
  standard deviations; averaged over classes weighted by their counts. Classes are the
  model's predictions, not the given labels: wrong labels are the label check's business and
  must not read as drift (20 mislabelled of 43 scored 1.4 when grouped by label).

Each is ``sqrt(max(0, mean_k(d_k^2) - (1/n + 1/N)))`` with ``d_k`` the difference of means of
feature ``k`` over its base std: the subtracted term is what two samples of sizes ``n`` and
``N`` of one distribution show by chance, so an ordinary batch scores ~0 and the score grows like
an effect size (``python bench/bench_validate.py``: 300 ordinary digits 0.19, thick pen 0.73,
rotated 1.46, inverted 6.53). The batch's score is the larger view.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tasks.core.label_check import Scorer

# Classes with fewer new images than this do not enter the hidden view: a mean of a handful
# of images is mostly noise.
MIN_CLASS_IMAGES = 5
# Features whose base std is below this (pixels that are always background) are left out of
# the ink view: any ink there would divide by ~0.
MIN_STD = 1e-3


@dataclass(frozen=True)
class DriftReport:
    """A batch's drift score (the larger of ``ink`` and ``hidden``), the threshold it is
    compared with, and the per-class hidden scores."""

    score: float
    threshold: float
    ink: float
    hidden: float
    per_class: dict[str, float] = field(default_factory=dict)

    @property
    def drifted(self) -> bool:
        return self.score > self.threshold

    def line(self) -> str:
        verdict = "DRIFT" if self.drifted else "no drift"
        return (f"drift score {self.score:.2f} (threshold {self.threshold:g}; ink "
                f"{self.ink:.2f}, hidden layer {self.hidden:.2f}): {verdict}")


def mean_shift(new: NDArray[np.float32], base: NDArray[np.float32]) -> float:
    """The normalised two-sample statistic of ``new (n, k)`` against ``base (N, k)``."""
    if len(new) == 0 or len(base) < 2:
        return 0.0
    std = base.std(axis=0)
    kept = std >= MIN_STD
    if not kept.any():
        return 0.0
    d = (new[:, kept].mean(axis=0) - base[:, kept].mean(axis=0)) / std[kept]
    excess = float(np.mean(d.astype(np.float64) ** 2)) - (1 / len(new) + 1 / len(base))
    return float(np.sqrt(max(0.0, excess)))


def drift_report(X_new: NDArray[np.float32], X_base: NDArray[np.float32], scorer: Scorer,
                 threshold: float) -> DriftReport:
    """Compare new rows ``X_new (n, 784)`` with base rows ``X_base (N, 784)``, grouped by the
    class ``scorer`` predicts, in ``scorer.features`` space."""
    ink = mean_shift(X_new, X_base)
    new_features, base_features = scorer.features(X_new), scorer.features(X_base)
    y_new = scorer.proba(X_new).argmax(axis=1) if len(X_new) else np.zeros(0, np.intp)
    y_base = scorer.proba(X_base).argmax(axis=1)
    per_class: dict[str, float] = {}
    for label in np.unique(y_new):
        rows = y_new == label
        if rows.sum() >= MIN_CLASS_IMAGES:
            per_class[str(label)] = mean_shift(new_features[rows],
                                               base_features[y_base == label])
    counts = {label: int((y_new == int(label)).sum()) for label in per_class}
    hidden = (sum(per_class[c] * counts[c] for c in per_class) / sum(counts.values())
              if per_class else 0.0)
    return DriftReport(round(max(ink, hidden), 4), threshold, round(ink, 4), round(hidden, 4),
                       {label: round(value, 4) for label, value in per_class.items()})
