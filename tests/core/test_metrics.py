"""Evaluation: accuracy, loss, confusion matrix and per-class scores."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tasks.core.metrics import confusion_matrix, evaluate
from tasks.core.network import cross_entropy, forward, init_params, l2_penalty


def test_confusion_and_scores_on_known_predictions() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    predicted = np.array([0, 1, 1, 1, 0])
    confusion = confusion_matrix(labels, predicted, n_classes=3)
    assert confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]


def test_evaluate_matches_direct_computation_and_serializes() -> None:
    rng = np.random.default_rng(0)
    params = init_params(5, rng, scale=0.5)
    X = rng.standard_normal((25_000, 784)).astype(np.float32)  # spans 3 chunks
    y = rng.integers(0, 10, size=25_000).astype(np.uint8)
    result = evaluate(params, X, y, l2=0.1)
    Z_2 = forward(params, X)["Z_2"]
    predicted = Z_2.argmax(axis=1)
    assert result.accuracy == pytest.approx((predicted == y).mean())
    assert result.loss == pytest.approx(cross_entropy(Z_2, y) + l2_penalty(params, 0.1))
    assert np.array(result.confusion).sum() == 25_000
    assert np.trace(result.confusion) == (predicted == y).sum()
    digit = 3
    hits = ((predicted == digit) & (y == digit)).sum()
    assert result.precision[digit] == pytest.approx(hits / (predicted == digit).sum())
    assert result.recall[digit] == pytest.approx(hits / (y == digit).sum())
    restored = json.loads(json.dumps(result.to_dict(), allow_nan=False))
    assert restored["accuracy"] == result.accuracy and len(restored["f1"]) == 10
    row = restored["per_class"][digit]
    assert row["class"] == str(digit) and row["support"] == (y == digit).sum()
    assert row["recall"] == result.recall[digit]


def test_classes_never_predicted_score_zero_not_nan() -> None:
    params = init_params(2, np.random.default_rng(0))
    params["b_2"][:] = 0
    params["b_2"][4] = 100.0  # always predicts 4
    X = np.zeros((3, 784))
    result = evaluate(params, X, np.array([4, 1, 1]))
    assert result.precision[1] == 0.0 and result.recall[1] == 0.0 and result.f1[1] == 0.0
    assert result.precision[4] == pytest.approx(1 / 3)
    assert result.accuracy == pytest.approx(1 / 3)
