"""The 784 → hidden (ReLU) → 10 (softmax) network: initialization, forward pass, loss, gradients.

Parameters are a dict of arrays in the original's orientation: ``W_1 (hidden, 784)``,
``b_1 (hidden, 1)``, ``W_2 (10, hidden)``, ``b_2 (10, 1)``. Gradients use the same keys, so an
optimizer step or a CSV export is one loop.

The public functions take samples by rows, ``X (n, 784)``, as :func:`load_split` returns it,
and compute ``Z = X·Wᵀ + bᵀ``. The ``original`` trainer works on single columns instead (the
original's features-by-samples layout) in :mod:`tasks.core.train`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import DTypeLike, NDArray

Params = dict[str, NDArray[Any]]
PARAM_NAMES = ("W_1", "b_1", "W_2", "b_2")
N_FEATURES = 784
N_CLASSES = 10


def param_shapes(hidden: int) -> dict[str, tuple[int, int]]:
    """The shape of each parameter for ``hidden`` hidden units."""
    return {"W_1": (hidden, N_FEATURES), "b_1": (hidden, 1),
            "W_2": (N_CLASSES, hidden), "b_2": (N_CLASSES, 1)}


def init_params(hidden: int, rng: np.random.RandomState | np.random.Generator, *,
                scale: float = 0.01, dtype: DTypeLike = np.float64,
                he: bool = False) -> Params:
    """Draw ``W_1`` then ``W_2`` from a standard normal times ``scale``; biases zero.

    The draw order (W_1 before W_2, ``randn``-style standard normals in float64) is the
    original's, so ``RandomState(1)`` reproduces ``np.random.seed(1)`` bit for bit. With
    ``he=True`` each matrix is further multiplied by ``sqrt(2 / fan_in)``.
    """
    normal = rng.standard_normal  # RandomState.standard_normal(shape) is randn(*shape)
    W_1 = normal((hidden, N_FEATURES)) * scale
    W_2 = normal((N_CLASSES, hidden)) * scale
    if he:
        W_1 *= np.sqrt(2.0 / N_FEATURES)
        W_2 *= np.sqrt(2.0 / hidden)
    return {"W_1": W_1.astype(dtype), "b_1": np.zeros((hidden, 1), dtype=dtype),
            "W_2": W_2.astype(dtype), "b_2": np.zeros((N_CLASSES, 1), dtype=dtype)}


def log_softmax(Z: NDArray[np.floating], axis: int = -1) -> NDArray[np.floating]:
    """``log softmax(Z)`` along ``axis``, finite for any finite ``Z`` (max subtracted first)."""
    shifted = Z - Z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax(Z: NDArray[np.floating], axis: int = -1) -> NDArray[np.floating]:
    """``softmax(Z)`` along ``axis``; subtracting the max keeps ``exp`` from overflowing."""
    exp = np.exp(Z - Z.max(axis=axis, keepdims=True))
    return exp / exp.sum(axis=axis, keepdims=True)


def forward(params: Params, X: NDArray[np.floating]) -> dict[str, NDArray[np.floating]]:
    """Forward pass of ``X (n, 784)``: ``Z_1, A_1 (n, hidden)`` and logits ``Z_2 (n, 10)``.

    Computed in the parameters' dtype (``X`` is cast when it differs).
    """
    X = np.asarray(X, dtype=params["W_1"].dtype)
    Z_1 = X @ params["W_1"].T + params["b_1"].T
    A_1 = np.maximum(Z_1, 0)
    Z_2 = A_1 @ params["W_2"].T + params["b_2"].T
    return {"Z_1": Z_1, "A_1": A_1, "Z_2": Z_2}


def predict_proba(params: Params, X: NDArray[np.floating]) -> NDArray[np.floating]:
    """Class probabilities ``(n, 10)`` (rows sum to 1) of ``X (n, 784)``.

    One image ``(784,)`` gives ``(1, 10)``.
    """
    X = np.atleast_2d(X)
    return softmax(forward(params, X)["Z_2"], axis=1)


def predict(params: Params, X: NDArray[np.floating]) -> NDArray[np.intp]:
    """Predicted digit ``(n,)`` of each row of ``X (n, 784)``."""
    return forward(params, np.atleast_2d(X))["Z_2"].argmax(axis=1)


def l2_penalty(params: Params, l2: float) -> float:
    """``½·λ·(‖W_1‖² + ‖W_2‖²)``; biases are not penalized, as in the original."""
    if l2 == 0:
        return 0.0
    return 0.5 * l2 * float(np.vdot(params["W_1"], params["W_1"])
                            + np.vdot(params["W_2"], params["W_2"]))


def _labels(y: NDArray[Any]) -> NDArray[np.intp]:
    """Labels ``(n,)`` from labels or one-hot rows ``(n, 10)``."""
    return y.argmax(axis=1) if y.ndim == 2 else y.astype(np.intp, copy=False)


def cross_entropy(Z_2: NDArray[np.floating], labels: NDArray[np.integer]) -> float:
    """Mean cross-entropy of logits ``Z_2 (n, 10)`` against ``labels (n,)``, via log-softmax."""
    log_p = log_softmax(Z_2, axis=1)
    return float(-log_p[np.arange(len(labels)), labels].mean())


def loss_and_grads(params: Params, X: NDArray[np.floating], y: NDArray[Any],
                   l2: float = 0.0) -> tuple[float, Params]:
    """Loss and gradient of every parameter on the batch ``X (n, 784)``, ``y (n,)`` or ``(n, 10)``.

    Notes
    -----
    Loss = mean cross-entropy + ½·λ·(‖W_1‖² + ‖W_2‖²). Softmax followed by cross-entropy
    differentiates to ``dZ_2 = (ŷ - y) / n``; the penalty adds ``λ·W`` to each weight gradient.
    """
    labels = _labels(np.asarray(y))
    n = len(labels)
    X = np.asarray(X, dtype=params["W_1"].dtype)
    cache = forward(params, X)
    loss = cross_entropy(cache["Z_2"], labels) + l2_penalty(params, l2)
    dZ_2 = softmax(cache["Z_2"], axis=1)
    dZ_2[np.arange(n), labels] -= 1
    dZ_2 /= n                                              # (n, 10)
    dZ_1 = (dZ_2 @ params["W_2"]) * (cache["Z_1"] > 0)     # (n, hidden)
    grads = {
        "W_1": dZ_1.T @ X + l2 * params["W_1"],
        "b_1": dZ_1.sum(axis=0)[:, None],
        "W_2": dZ_2.T @ cache["A_1"] + l2 * params["W_2"],
        "b_2": dZ_2.sum(axis=0)[:, None],
    }
    return loss, grads
