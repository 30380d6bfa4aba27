"""Validation of new images before they train: the thresholds and the order of the checks.

Each accepted intake row is judged, in this order (the first refusal is its reason):

1. **leakage**: a near-duplicate of a test image, or (a training row) of a held-out intake
   image, is refused with the name of the image it copies (:mod:`tasks.core.near_duplicates`);
2. **duplicate**: a near-duplicate of an earlier new image is refused: counted once;
3. **label**: the model confidently predicts another class (:mod:`tasks.core.label_check`);
   a class of the batch in which most images are refused is refused whole;

and the batch gets a drift score (:mod:`tasks.core.drift`). Rows of files a person released
are never refused; rows of files accepted by an earlier validation are not judged on their label
again (a new production model must not quarantine what it already trained on).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from tasks.core.drift import DriftReport, drift_report
from tasks.core.label_check import (
    Scorer,
    class_thresholds,
    disagreeing_classes,
    rejected_labels,
)
from tasks.core.near_duplicates import best_matches, repeats_within
from tasks.core.quarantine import QuarantinedFile
from tasks.core.validation_config import MIN_CLASS_IMAGES, ValidationConfig

# Per row, why it is refused: (check, reason, the image it copies), or None while it passes.
Reasons = list[tuple[str, str, str] | None]


@dataclass(frozen=True)
class NewImage:
    """One accepted intake file: ``path`` relative to the intake folder, its sha256, label,
    and whether intake held it out for evaluation."""

    path: str
    sha256: str
    label: int
    holdout: bool


@dataclass(frozen=True)
class Reference:
    """What new images are compared with: base training rows ``X (N, 784)``, ``y (N,)`` and
    the test rows centred like the intake's, ``test (m, 784)``."""

    X: NDArray[np.float32]
    y: NDArray[np.uint8]
    test: NDArray[np.float32]
    test_labels: NDArray[np.uint8]


@dataclass(frozen=True)
class Verdict:
    """The batch's outcome: ``kept (n,)`` True for rows that may train or evaluate, the refused
    files, the drift report, the classes refused whole and the model that judged labels."""

    kept: NDArray[np.bool_]
    refused: list[QuarantinedFile]
    drift: DriftReport
    classes: list[int] = field(default_factory=list)
    model: str = ""


def judge_batch(images: Sequence[NewImage], X: NDArray[np.float32], reference: Reference,
                scorer: Scorer, settings: ValidationConfig, *, released: set[str],
                accepted_before: set[str]) -> Verdict:
    """Judge ``images`` whose rows are ``X (n, 784)`` (same order); see the module's steps."""
    labels = np.array([image.label for image in images], np.uint8)
    reasons: Reasons = [None] * len(images)
    _leakage(images, X, reference, settings.duplicate_correlation, reasons)
    _repeats(images, X, settings.duplicate_correlation, reasons)
    classes = _labels(images, X, labels, reference, scorer, settings, accepted_before, reasons)
    refused = [QuarantinedFile(image.path, image.sha256, image.label, *why)
               for image, why in zip(images, reasons, strict=True)
               if why is not None and image.sha256 not in released]
    refused_digests = {item.sha256 for item in refused}
    kept = np.array([image.sha256 not in refused_digests for image in images], bool)
    drift = drift_report(X, reference.X, scorer, settings.drift_threshold)
    return Verdict(kept, refused, drift, classes, scorer.name)


def _leakage(images: Sequence[NewImage], X: NDArray[np.float32], reference: Reference,
             threshold: float, reasons: Reasons) -> None:
    """Refuse copies of test images; then training rows that copy a held-out new image."""
    index, value = best_matches(X, reference.test)
    for row in np.flatnonzero(value >= threshold):
        copied = int(index[row])
        reasons[row] = ("leakage", f"copies test image #{copied} (label "
                        f"{int(reference.test_labels[copied])}; correlation "
                        f"{value[row]:.4f})", f"test #{copied}")
    held = np.flatnonzero([image.holdout for image in images])
    training = np.flatnonzero([not image.holdout and reasons[row] is None
                               for row, image in enumerate(images)])
    index, value = best_matches(X[training], X[held])
    for row, copied, score in zip(training, index, value, strict=True):
        if score >= threshold:
            source = images[held[copied]].path
            reasons[row] = ("leakage", f"copies held-out image {source} (correlation "
                            f"{score:.4f})", source)


def _repeats(images: Sequence[NewImage], X: NDArray[np.float32], threshold: float,
             reasons: Reasons) -> None:
    """Refuse every near-duplicate of an earlier new image (the first is kept)."""
    candidates = np.flatnonzero([why is None for why in reasons])
    first = repeats_within(X[candidates], threshold)
    for row, earlier in zip(candidates, first, strict=True):
        if earlier >= 0:
            source = images[candidates[earlier]].path
            reasons[row] = ("duplicate", f"near-duplicate of {source} in this batch", source)


def _labels(images: Sequence[NewImage], X: NDArray[np.float32], labels: NDArray[np.uint8],
            reference: Reference, scorer: Scorer, settings: ValidationConfig,
            accepted_before: set[str], reasons: Reasons) -> list[int]:
    """Refuse rows whose label the model rejects, then whole classes that mostly disagree;
    return those classes."""
    thresholds = class_thresholds(scorer.proba(reference.X), reference.y)
    probs = scorer.proba(X)
    rejected = rejected_labels(probs, labels, thresholds, settings.label_confidence)
    rejected &= np.array([image.sha256 not in accepted_before for image in images], bool)
    predicted = probs.argmax(axis=1)
    for row in np.flatnonzero(rejected):
        if reasons[row] is None:
            reasons[row] = ("label", f"labelled {labels[row]}, the model says "
                            f"{predicted[row]} with p={probs[row, predicted[row]]:.2f} "
                            f"(class threshold {thresholds[predicted[row]]:.2f})", "")
    classes = disagreeing_classes(labels, rejected, share=settings.class_disagreement,
                                  min_images=MIN_CLASS_IMAGES)
    for row in np.flatnonzero(np.isin(labels, classes)):
        if reasons[row] is None and images[row].sha256 not in accepted_before:
            share = rejected[labels == labels[row]].mean()
            reasons[row] = ("label", f"class {labels[row]}: the model disagrees with "
                            f"{share:.0%} of this batch's images of it; the folder looks "
                            f"mislabelled as a whole", "")
    return classes
