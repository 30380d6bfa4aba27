"""The validation's thresholds pinned on small real sets: wrong labels refused and right ones
kept, copies of test images found and named, repeats counted once, drift flagged for inverted
and rotated digits and not for ordinary ones (the full-size measurements:
``python bench/bench_validate.py``)."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.datasets import standardize_images
from tasks.core.drift import drift_report, mean_shift
from tasks.core.label_check import (
    class_thresholds,
    disagreeing_classes,
    more_accurate,
    network_scorer,
    rejected_labels,
)
from tasks.core.near_duplicates import best_matches, recentred_rows, repeats_within
from tasks.core.validation import NewImage, Reference, judge_batch
from tasks.core.validation_config import ValidationConfig

SETTINGS = ValidationConfig()


@pytest.fixture(scope="module")
def scorer(fast_params: dict):
    return network_scorer(fast_params, "fast")


@pytest.fixture(scope="module")
def reference(mnist_arrays: tuple) -> Reference:
    X_train, y_train, X_test, y_test = mnist_arrays
    return Reference(X_train[:5000], y_train[:5000], recentred_rows(X_test[:500]), y_test[:500])


def unstandardized(X: np.ndarray) -> np.ndarray:
    """Rows back to ``(n, 28, 28) uint8`` pictures (the background is each row's minimum)."""
    low, high = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
    return ((X - low) / (high - low) * 255).round().astype(np.uint8).reshape(-1, 28, 28)


def test_wrong_labels_are_refused_and_right_ones_kept(mnist_arrays: tuple, scorer) -> None:
    X_train, y_train, X_test, y_test = mnist_arrays
    thresholds = class_thresholds(scorer.proba(X_train[:5000]), y_train[:5000])
    X, y = X_test[1000:1500], y_test[1000:1500]
    wrong = (y + np.random.default_rng(0).integers(1, 10, len(y))) % 10
    probs = scorer.proba(X)
    caught = rejected_labels(probs, wrong.astype(np.uint8), thresholds, 0.8).mean()
    kept_wrongly = rejected_labels(probs, y, thresholds, 0.8).mean()
    assert caught >= 0.9 and kept_wrongly <= 0.02, (caught, kept_wrongly)
    # a stricter factor catches fewer: the default is where the measurement put it
    assert rejected_labels(probs, wrong.astype(np.uint8), thresholds, 1.0).mean() < caught


def test_a_class_is_refused_whole_only_when_most_of_enough_images_disagree() -> None:
    labels = np.array([3] * 10 + [5] * 10 + [7] * 4, np.uint8)
    rejected = np.array([True] * 6 + [False] * 4 + [True] * 5 + [False] * 5 + [True] * 4)
    assert disagreeing_classes(labels, rejected, share=0.5, min_images=10) == [3]


def test_shifted_copies_of_test_images_are_found_and_distinct_digits_are_not(
        mnist_arrays: tuple) -> None:
    from tasks.core.images import mnist_like_pixels

    X_train, _, X_test, _ = mnist_arrays
    pages = np.zeros((50, 31, 31), np.uint8)
    for i, digit in enumerate(unstandardized(X_test[:50])):
        pages[i, 1 + i % 3:29 + i % 3, i % 2:28 + i % 2] = digit  # moved by 0-2 pixels
    copies = standardize_images(np.stack([mnist_like_pixels(p, invert=False) for p in pages]))
    index, value = best_matches(copies, recentred_rows(X_test[:500]))
    assert (index == np.arange(50)).all() and (value >= SETTINGS.duplicate_correlation).all()
    others = recentred_rows(X_train[:500])
    _, value = best_matches(others, recentred_rows(X_test[:500]))
    assert (value < SETTINGS.duplicate_correlation).all(), value.max()
    assert (repeats_within(others, SETTINGS.duplicate_correlation) == -1).all()
    twice = np.concatenate([others[:5], others[:5], others[:5]])
    assert repeats_within(twice, SETTINGS.duplicate_correlation).tolist() == [-1] * 5 + [
        0, 1, 2, 3, 4] * 2


@pytest.mark.parametrize(("change", "drifted"), [
    (lambda X: X, False),
    (lambda X: -X, True),  # inverted rows (intake inverts dark-on-light *files* itself)
    (lambda X: np.rot90(X.reshape(-1, 28, 28), 1, axes=(1, 2)).reshape(-1, 784), True),
])
def test_drift_flags_inverted_and_rotated_batches_not_ordinary_ones(
        mnist_arrays: tuple, scorer, change, drifted: bool) -> None:
    X_train, _, X_test, _ = mnist_arrays
    batch = np.ascontiguousarray(change(X_test[2000:2300]), np.float32)
    report = drift_report(batch, X_train[:5000], scorer, SETTINGS.drift_threshold)
    assert report.drifted == drifted, report.line()


def test_two_samples_of_one_distribution_score_near_zero() -> None:
    rng = np.random.default_rng(1)
    assert mean_shift(rng.normal(size=(300, 50)), rng.normal(size=(3000, 50))) < 0.1
    assert mean_shift(rng.normal(1, 1, size=(300, 50)), rng.normal(size=(3000, 50))) > 0.8


def test_a_batch_is_judged_in_order_and_trusted_files_pass(mnist_arrays: tuple, scorer,
                                                          reference: Reference) -> None:
    _, _, X_test, y_test = mnist_arrays
    rows = np.concatenate([reference.test[[7]], X_test[3000:3004], X_test[[3000]]])
    labels = [int(y_test[7])] + [int(y) for y in y_test[3000:3004]] + [int(y_test[3000])]
    labels[2] = (labels[2] + 1) % 10  # mislabelled
    labels[3] = (labels[3] + 1) % 10  # mislabelled, but accepted by an earlier validation
    labels[4] = (labels[4] + 1) % 10  # mislabelled, but released by a person
    images = [NewImage(f"{label}/{i}.png", f"sha{i}", label, False)
              for i, label in enumerate(labels)]
    verdict = judge_batch(images, rows, reference, scorer, SETTINGS, released={"sha4"},
                          accepted_before={"sha3"})
    reasons = {item.path: item for item in verdict.refused}
    assert reasons[images[0].path].check == "leakage"
    assert reasons[images[0].path].copies == "test #7"
    assert reasons[images[2].path].check == "label"
    assert reasons[images[5].path].check == "duplicate"
    assert reasons[images[5].path].copies == images[1].path
    assert set(reasons) == {images[i].path for i in (0, 2, 5)}
    assert verdict.kept.tolist() == [False, True, False, True, True, False]


def test_labels_are_judged_by_the_more_accurate_model(mnist_arrays: tuple, fast_params: dict,
                                                      scorer) -> None:
    """A weak production would refuse the genuine digits it misreads: the judge is whichever
    of production and the reference network reads the test split better."""
    _, _, X_test, y_test = mnist_arrays
    rng = np.random.default_rng(0)
    weak = network_scorer({name: value + rng.normal(0, 0.3, value.shape).astype(value.dtype)
                           for name, value in fast_params.items()}, "weak")
    for order in ([weak, scorer], [scorer, weak]):
        judge = more_accurate(order, X_test[:1000], y_test[:1000])
        assert judge.name.startswith("fast (") and "on the test split" in judge.name
        assert judge.proba is scorer.proba
