"""The rules of the promotion gate: is a candidate better than production, on the same images?

Both models are scored on the same rows, so the comparison is *paired*: only the images on
which exactly one of them is right carry information. McNemar's exact test asks, of those
``b + c`` discordant images (``b``: only the candidate right; ``c``: only production right),
how likely a split at least as favourable to the candidate as ``b`` is if both models were
equally good (each discordant image a fair coin). It is one-sided, because the gate asks
"is the candidate better", and exact (a binomial tail, summed in log space: no scipy and no
overflow at 10,000 images). We chose it over a paired bootstrap: it is deterministic (the same
predictions always give the same decision), costs one pass over the predictions, and is what
the comparison of two classifiers on one test set calls for (Dietterich 1998).

A candidate is promoted only when all three rules pass:

- **significance**: the one-sided p-value is below ``significance`` (noise does not flip
  production between two equally good models);
- **margin**: its accuracy gain is at least ``min_gain`` points (a real but negligible gain
  is not worth a change of production);
- **no class left behind**: no class's recall drops by more than ``max_class_drop`` points
  (an overall gain that reads every 7 as a 1 is refused, naming the class).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True)
class Thresholds:
    """The gate's settings: p-value bound, and margins in accuracy points (0-100 scale)."""

    significance: float = 0.05
    min_gain: float = 0.1
    max_class_drop: float = 2.0


@dataclass(frozen=True)
class PairedComparison:
    """The figures of one candidate-vs-production comparison on ``n`` shared images.

    Accuracies and recalls are in points (percent). ``candidate_only`` / ``production_only``
    count the discordant images; ``recall_drops`` maps a class whose recall fell by more than
    the limit to its change in points (negative).
    """

    n: int
    candidate_accuracy: float
    production_accuracy: float
    candidate_only: int
    production_only: int
    p_value: float
    candidate_recall: dict[int, float]
    production_recall: dict[int, float]
    recall_drops: dict[int, float] = field(default_factory=dict)

    @property
    def gain(self) -> float:
        """Accuracy gain of the candidate over production, in points."""
        return self.candidate_accuracy - self.production_accuracy

    def recall_change(self, label: int) -> float:
        return self.candidate_recall[label] - self.production_recall[label]


@dataclass(frozen=True)
class RuleVerdict:
    """The gate's answer: ``promote``, the reason in words, and the figures behind it."""

    promote: bool
    reason: str
    comparison: PairedComparison


def binomial_upper_tail(successes: int, trials: int) -> float:
    """P(X >= ``successes``) for X ~ Binomial(``trials``, 1/2), exact, summed in log space.

    Notes
    -----
    log C(n, k) = log n! - log k! - log (n-k)!, with log m! a cumulative sum of logs; the
    tail is a log-sum-exp of those terms minus n log 2, so n in the tens of thousands
    neither overflows nor underflows to a wrong 0.
    """
    if trials == 0 or successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    log_factorial = np.concatenate(([0.0], np.cumsum(np.log(np.arange(1, trials + 1)))))
    k = np.arange(successes, trials + 1)
    log_terms = log_factorial[trials] - log_factorial[k] - log_factorial[trials - k]
    top = log_terms.max()
    log_tail = top + np.log(np.exp(log_terms - top).sum()) - trials * np.log(2.0)
    return float(min(1.0, np.exp(log_tail)))


def compare(labels: NDArray[np.integer], candidate: NDArray[np.integer],
            production: NDArray[np.integer], *, n_classes: int = 10,
            max_class_drop: float = 2.0) -> PairedComparison:
    """Compare two models' predictions on the same images.

    ``labels``, ``candidate``, ``production``: ``(n,)`` integer class indices, row i of each
    about the same image. A class absent from ``labels`` has no recall and is not judged.
    """
    labels, candidate, production = (np.asarray(a, np.intp) for a in (labels, candidate,
                                                                         production))
    assert labels.shape == candidate.shape == production.shape and labels.size, "rows differ"
    cand_right, prod_right = candidate == labels, production == labels
    b = int((cand_right & ~prod_right).sum())
    c = int((prod_right & ~cand_right).sum())
    per_class = np.bincount(labels, minlength=n_classes)
    present = [int(k) for k in np.flatnonzero(per_class)]
    cand_hits = np.bincount(labels[cand_right], minlength=n_classes)
    prod_hits = np.bincount(labels[prod_right], minlength=n_classes)
    cand_recall = {k: 100.0 * cand_hits[k] / per_class[k] for k in present}
    prod_recall = {k: 100.0 * prod_hits[k] / per_class[k] for k in present}
    # 1e-9: recalls are ratios of counts; a drop of exactly the limit is allowed
    drops = {k: cand_recall[k] - prod_recall[k] for k in present
             if prod_recall[k] - cand_recall[k] > max_class_drop + 1e-9}
    return PairedComparison(
        n=int(labels.size), candidate_accuracy=100.0 * cand_right.mean(),
        production_accuracy=100.0 * prod_right.mean(), candidate_only=b, production_only=c,
        p_value=binomial_upper_tail(b, b + c), candidate_recall=cand_recall,
        production_recall=prod_recall, recall_drops=drops)


def judge(comparison: PairedComparison, thresholds: Thresholds) -> RuleVerdict:
    """Apply the three rules to ``comparison``; the reason names every rule that failed, or
    the figures that made the candidate pass."""
    c, gain = comparison, comparison.gain
    p = f"p = {c.p_value:.2g}"
    failed: list[str] = []
    if gain <= 0:
        failed.append(f"gain {gain:+.2f} points: no better than production ({p})")
    elif c.p_value >= thresholds.significance:
        failed.append(f"gain {gain:+.2f} points is not significant ({p} >= "
                      f"{thresholds.significance:g})")
    elif gain < thresholds.min_gain:
        failed.append(f"gain {gain:+.2f} points is below the margin of "
                      f"{thresholds.min_gain:g} points ({p})")
    # the worst class first: the one a reviewer must look at
    for label, change in sorted(c.recall_drops.items(), key=lambda item: item[1]):
        failed.append(f"class {label} recall {change:+.1f} points")
    if failed:
        return RuleVerdict(False, "; ".join(failed), c)
    return RuleVerdict(True, f"gain {gain:+.2f} points is significant ({p}; "
                             f"{c.candidate_only} vs {c.production_only} discordant)", c)


def comparison_figures(comparison: PairedComparison) -> dict[str, object]:
    """The comparison as JSON-ready data (decision record, ledger line, event payload)."""
    c = comparison
    return {"n": c.n, "gain_points": round(c.gain, 4), "p_value": c.p_value,
            "candidate_only": c.candidate_only, "production_only": c.production_only,
            "candidate_recall": {str(k): round(v, 3) for k, v in c.candidate_recall.items()},
            "production_recall": {str(k): round(v, 3) for k, v in c.production_recall.items()},
            "recall_drops": {str(k): round(v, 3) for k, v in c.recall_drops.items()}}
