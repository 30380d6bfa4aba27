"""Batched snapshot scores equal one forward pass per snapshot: loss, accuracy, ties, background."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core import snapshot_scores
from tasks.core.network import cross_entropy, forward, init_params
from tasks.core.snapshot_scores import prepare_scoring_set, score_snapshots, stack_snapshots


def random_snapshots(k: int, hidden: int = 5, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """``k`` float32 parameter sets with non-zero biases (also used by test_history)."""
    rng = np.random.RandomState(seed)
    out = []
    for _ in range(k):
        params = init_params(hidden, rng, scale=0.5, dtype=np.float32)
        params["b_1"] += rng.randn(hidden, 1).astype(np.float32)
        params["b_2"] += rng.randn(10, 1).astype(np.float32)
        out.append(params)
    return out


def _scores(snapshots: list[dict[str, np.ndarray]], X: np.ndarray,
            y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return score_snapshots(stack_snapshots(snapshots), prepare_scoring_set(X, y))


def _assert_like_forward(snapshots: list[dict[str, np.ndarray]], X: np.ndarray,
                         y: np.ndarray) -> None:
    losses, accuracies = _scores(snapshots, X, y)
    for snapshot, loss, accuracy in zip(snapshots, losses, accuracies, strict=True):
        Z_2 = forward(snapshot, X)["Z_2"]
        assert accuracy == (Z_2.argmax(axis=1) == y).mean()
        assert loss == pytest.approx(cross_entropy(Z_2, y), rel=1e-5)


def test_batched_scores_equal_one_forward_pass_per_snapshot() -> None:
    rng = np.random.default_rng(1)
    X = rng.standard_normal((300, 784), dtype=np.float32)
    y = rng.integers(0, 10, 300).astype(np.uint8)
    _assert_like_forward(random_snapshots(7), X, y)


def test_background_pixels_and_chunks_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Images on a background (each row's minimum) that covers most pixels, in small chunks."""
    monkeypatch.setattr(snapshot_scores, "MAX_CHUNK_ROWS", 16)
    rng = np.random.default_rng(2)
    X = np.repeat(rng.standard_normal((400, 1), dtype=np.float32) - 3, 784, axis=1)
    ink = rng.random((400, 784)) < np.linspace(0, 0.5, 784)  # the first pixels: never ink
    X[ink] += rng.random(int(ink.sum()), dtype=np.float32) * 4
    y = rng.integers(0, 10, 400).astype(np.uint8)
    y[:3] = 9  # a label absent from most chunks, and labels 0-8 in several
    _assert_like_forward(random_snapshots(5, seed=3), X, y)


def test_ties_go_to_the_first_class_as_argmax_does() -> None:
    rng = np.random.default_rng(3)
    X = rng.standard_normal((200, 784), dtype=np.float32)
    y = rng.integers(0, 10, 200).astype(np.uint8)
    tied = random_snapshots(3)
    for params in tied:
        params["W_2"][:] = 0
        params["b_2"][:] = 0  # all ten logits equal: argmax says 0
    tied[1]["b_2"][[3, 7]] = 1  # two tied maxima: argmax says 3
    _, accuracies = _scores(tied, X, y)
    assert list(accuracies) == [(y == 0).mean(), (y == 3).mean(), (y == 0).mean()]
    _assert_like_forward(tied, X, y)
