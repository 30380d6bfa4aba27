"""Loss and accuracy of many parameter snapshots on one set, in a few large matrix products.

A history point measures a snapshot on 10,000-row sets; the ``original`` preset takes 101 of
them, and their first layers (63 GFLOP) cost more than the training itself. Three things keep
that near the machine's matrix-product rate:

* **One product for many snapshots.** The first layers of ``k`` snapshots are one product
  ``[W_1 of every snapshot] · Xᵀ``, shape ``(k·hidden, n)``: each snapshot's hidden block is a
  contiguous ``(hidden, n)`` slab, so the second layer is a batched product of contiguous
  matrices and the softmax runs over ten rows of length ``n`` (elementwise, not per sample).
* **Rows sorted by label, in chunks of one label.** Within a chunk the label's logit is one
  row, so the loss needs no gather, and ``argmax == label`` (first maximum wins on ties) is
  "the label's logit is the maximum and beats every earlier class": no argmax pass.
* **Background pixels folded into one column.** A pixel that holds each row's minimum (the
  background) in every row of a chunk contributes ``minimum · Σ its weights``: one column
  carries all of them. On MNIST a one-label chunk keeps ~515 of 784 pixels, a third fewer
  multiply-adds. The biases ride along as a column of ones.

Measured on one core, 32 snapshots on 10,000 rows take ~77 ms, of which ~67 ms is the first
layer's product; with samples as rows (``X · W_1ᵀ``, a strided second layer, argmax and
log-softmax over rows of ten) they took 144 ms.

The numbers are float32 (history curves, not results): sums come out in a different order
than one forward pass per snapshot, so a loss may differ in its last float32 digits.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from tasks.core.network import N_CLASSES, Params

MAX_CHUNK_ROWS = 2048  # a (640 x 2048) float32 block of hidden units, 5 MB: stays in cache


@dataclass(frozen=True)
class _Chunk:
    label: int
    kept: NDArray[np.intp]          # (n_kept,) pixels with a column of their own
    folded: NDArray[np.float32]     # (784,) 1 on the pixels folded into the background column
    features: NDArray[np.float32]   # (n_kept + 2, rows): kept pixels, row minimum, 1


@dataclass(frozen=True)
class ScoringSet:
    """A set of samples laid out for :func:`score_snapshots`; see :func:`prepare_scoring_set`."""

    chunks: tuple[_Chunk, ...]
    size: int


@dataclass(frozen=True)
class SnapshotStack:
    """``k`` float32 snapshots side by side: ``W_1ᵀ (784, k·hidden)``, ``b_1 (k·hidden,)``,
    ``W_2 (k, 10, hidden)``, ``b_2 (k, 10, 1)``."""

    W_1T: NDArray[np.float32]
    b_1: NDArray[np.float32]
    W_2: NDArray[np.float32]
    b_2: NDArray[np.float32]


def prepare_scoring_set(X: NDArray[np.float32], y: NDArray[np.integer]) -> ScoringSet:
    """``X (n, 784) float32``, labels ``y (n,)`` in 0-9, sorted by label and cut into chunks."""
    labels = np.asarray(y, dtype=np.intp)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(N_CLASSES + 1))
    assert bounds[-1] == len(X), "labels must be 0-9"
    chunks = [_chunk(label, X, order[start:min(start + MAX_CHUNK_ROWS, stop)])
              for label, (first, stop) in enumerate(itertools.pairwise(bounds))
              for start in range(first, stop, MAX_CHUNK_ROWS)]
    return ScoringSet(tuple(chunks), len(X))


def _chunk(label: int, X: NDArray[np.float32], rows: NDArray[np.intp]) -> _Chunk:
    X = np.asarray(X[rows], dtype=np.float32)                         # (len(rows), 784)
    minimum = X.min(axis=1)
    background = (minimum[:, None] == X).all(axis=0)                  # (784,)
    kept = np.flatnonzero(~background)
    features = np.empty((len(kept) + 2, len(X)), np.float32)
    # mode="clip" (the indices are valid): "raise" with out= gathers into a temporary first
    np.take(X.T, kept, axis=0, out=features[:len(kept)], mode="clip")
    features[-2] = minimum
    features[-1] = 1
    return _Chunk(label, kept, background.astype(np.float32), features)


def stack_snapshots(snapshots: list[Params]) -> SnapshotStack:
    """Float32 copies of ``k`` snapshots' parameters, stacked for :func:`score_snapshots`."""
    return SnapshotStack(
        np.concatenate([s["W_1"] for s in snapshots], dtype=np.float32).T.copy(),
        np.concatenate([s["b_1"][:, 0] for s in snapshots], dtype=np.float32),
        np.stack([s["W_2"] for s in snapshots]).astype(np.float32, copy=False),
        np.stack([s["b_2"] for s in snapshots]).astype(np.float32, copy=False))


def score_snapshots(stack: SnapshotStack,
                    data: ScoringSet) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Mean cross-entropy ``(k,)`` and accuracy ``(k,)`` of each stacked snapshot on ``data``."""
    k, _, hidden = stack.W_2.shape
    loss, correct = np.zeros(k), np.zeros(k, np.intp)
    # a diverged snapshot overflows on its way to a non-finite loss, which the caller reports
    # (np.errstate is per thread: the caller's does not reach a worker thread)
    with np.errstate(over="ignore", invalid="ignore"):
        for chunk in data.chunks:
            _score_chunk(stack, chunk, k, hidden, loss, correct)
    return loss / data.size, correct / data.size


def _score_chunk(stack: SnapshotStack, chunk: _Chunk, k: int, hidden: int,
                 loss: NDArray[np.float64], correct: NDArray[np.intp]) -> None:
    """Add the chunk's summed cross-entropy to ``loss`` and its hits to ``correct``."""
    Z = _logits(stack, chunk, k, hidden)                          # (k, 10, rows)
    top = Z.max(axis=1)                                           # (k, rows)
    mine = Z[:, chunk.label]                                      # (k, rows), a view
    hit = mine == top
    if chunk.label:  # argmax returns the first maximum: earlier classes must lose
        hit &= mine > Z[:, :chunk.label].max(axis=1)
    correct += hit.sum(axis=1)
    Z -= top[:, None]
    loss -= mine.sum(axis=1, dtype=np.float64)
    total = np.exp(Z, out=Z).sum(axis=1)                          # (k, rows)
    loss += np.log(total, out=total).sum(axis=1, dtype=np.float64)


def _logits(stack: SnapshotStack, chunk: _Chunk, k: int, hidden: int) -> NDArray[np.float32]:
    n_kept = len(chunk.kept)
    weights = np.empty((n_kept + 2, k * hidden), np.float32)          # rows match features
    np.take(stack.W_1T, chunk.kept, axis=0, out=weights[:n_kept], mode="clip")
    np.matmul(chunk.folded, stack.W_1T, out=weights[n_kept])
    weights[-1] = stack.b_1
    A_1 = weights.T @ chunk.features                                  # (k·hidden, rows)
    np.maximum(A_1, 0, out=A_1)
    Z = np.matmul(stack.W_2, A_1.reshape(k, hidden, -1))              # (k, 10, rows)
    Z += stack.b_2
    return Z

