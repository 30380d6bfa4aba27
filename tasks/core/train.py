"""Training the network: the original's single-sample SGD, full-batch GD, and minibatch loops.

:func:`train_network` takes arrays and a :class:`TrainConfig` and returns the parameters and a
history (step, learning rate, loss, train/test/validation accuracy every ``eval_every``
updates). It is deterministic: the same arrays and config give the same bits.

Three loops, one per kind of update:

* ``sgd``: the original, exactly. ``RandomState(seed)`` draws W_1 then W_2, then one sample
  index per update with ``randint(0, m)``; each update works on one column in the original's
  features-by-samples layout, in float64. History points never touch the random stream.
* ``gd``: one full-batch gradient per update.
* ``momentum`` / ``adam``: shuffled minibatches, one permutation per epoch from a seeded
  ``Generator``, with preallocated buffers and all parameters in one flat vector.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from threadpoolctl import ThreadpoolController

from tasks.core.errors import ConfigError, DataError
from tasks.core.history import HISTORY_COLUMNS, HistoryRecorder, TrainProgress, check_finite
from tasks.core.network import N_CLASSES, N_FEATURES, Params, init_params, loss_and_grads
from tasks.core.optimizers import flat_views, make_optimizer, weight_mask
from tasks.core.schedules import Schedule, make_schedule
from tasks.core.train_config import TrainConfig

logger = logging.getLogger(__name__)

# Everything runs on one BLAS thread: splitting a 64x784 product across threads costs more
# than it saves, and on a busy machine OpenBLAS's spinning threads made the `fast` preset 10x
# slower (20 s instead of 2 s). History points use the second core with a worker thread
# (tasks.core.history).


@dataclass
class TrainResult:
    """Trained parameters, the history rows (dicts keyed by :data:`HISTORY_COLUMNS`, plus
    ``validation_accuracy`` when a validation split was held out), updates run and seconds."""

    params: Params
    history: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0

    def history_columns(self) -> list[str]:
        """Column names of the history rows, in order."""
        return list(self.history[0]) if self.history else list(HISTORY_COLUMNS)


def train_network(X_train: NDArray[np.float32], y_train: NDArray[np.uint8],
                  X_test: NDArray[np.float32], y_test: NDArray[np.uint8], config: TrainConfig,
                  *, on_progress: Callable[[TrainProgress], None] | None = None) -> TrainResult:
    """Train on ``X_train (n, 784) float32``, ``y_train (n,) uint8``; track ``X_test, y_test``.

    The last ``config.validation_size`` training samples are held out (not trained on) and
    reported as ``validation_accuracy``. The test set is only measured, never used to choose.
    Raises :class:`TrainingDivergedError` on a non-finite loss, :class:`DataError` on arrays of
    the wrong shape and :class:`ConfigError` on a validation split as large as the data.
    """
    _check_arrays(X_train, y_train, "training")
    _check_arrays(X_test, y_test, "test")
    n_train = len(X_train) - config.validation_size
    if n_train < 1:
        raise ConfigError(f"validation_size {config.validation_size} leaves no training samples "
                          f"out of {len(X_train)}; lower validation_size")
    X_fit, y_fit = X_train[:n_train], y_train[:n_train]
    history_n = config.history_train_samples or n_train
    sets = {"train": (X_fit[:history_n], y_fit[:history_n]), "test": (X_test, y_test)}
    if config.validation_size:
        sets["validation"] = (X_train[n_train:], y_train[n_train:])
    total = _total_steps(config, n_train)
    schedule = make_schedule(config.schedule, lr=config.lr, total_steps=total,
                             decay=config.decay, every=config.decay_every,
                             min_ratio=config.min_lr_ratio)
    loop = {"sgd": _train_sgd, "gd": _train_gd}.get(config.optimizer, _train_minibatch)
    started = time.perf_counter()
    # overflow on the way to a non-finite loss is expected; check_finite reports it
    with (np.errstate(over="ignore", invalid="ignore"),
          ThreadpoolController().limit(limits=1, user_api="blas"),
          HistoryRecorder(config, total, sets, on_progress) as recorder):
        params = loop(X_fit, y_fit, config, schedule, recorder)
        recorder.finish()
    seconds = time.perf_counter() - started
    logger.info("trained %s for %d updates in %.2f s: test accuracy %.4f", config.optimizer,
                total, seconds, recorder.rows[-1]["test_accuracy"])
    return TrainResult(params=params, history=recorder.rows, steps=total, seconds=seconds)


def _check_arrays(X: NDArray[Any], y: NDArray[Any], name: str) -> None:
    if X.ndim != 2 or X.shape[1] != N_FEATURES or y.shape != (len(X),) or len(X) == 0:
        raise DataError(f"the {name} arrays must be X (n, {N_FEATURES}) and y (n,) with n > 0; "
                        f"found X {X.shape} and y {y.shape}; load them with load_split")


def _total_steps(config: TrainConfig, n_train: int) -> int:
    if config.optimizer in ("sgd", "gd"):
        assert config.steps is not None
        return config.steps
    assert config.epochs is not None
    return config.epochs * math.ceil(n_train / min(config.batch_size, n_train))


def _train_sgd(X: NDArray[np.float32], y: NDArray[np.uint8], config: TrainConfig,
               schedule: Schedule, recorder: HistoryRecorder) -> Params:
    """The original loop: one sample per update, drawn by ``randint(0, m)``, column layout."""
    rng = np.random.RandomState(config.seed)
    params = init_params(config.hidden, rng, scale=config.init_scale, dtype=config.dtype,
                         he=config.init == "he")
    update = _sgd_update(params, config.l2)
    labels = y.tolist()
    for step, j in enumerate(_sample_indices(rng, len(X), recorder.total_steps)):
        lr = schedule(step)
        check_finite(update(X[j], labels[j], lr), step, lr, config)
        if recorder.due(step):
            recorder.record(step, lr, params)
    return params


def _sample_indices(rng: np.random.RandomState, m: int, total: int) -> Iterator[int]:
    """``total`` draws of ``rng.randint(0, m)``, drawn a block at a time.

    ``randint(0, m, size=n)`` consumes the stream exactly like ``n`` calls of ``randint(0, m)``
    and yields the same numbers, at a fraction of the per-call cost.
    """
    for start in range(0, total, _SAMPLE_BLOCK):
        yield from rng.randint(0, m, size=min(_SAMPLE_BLOCK, total - start)).tolist()


_SAMPLE_BLOCK = 4096


def _sgd_update(params: Params, l2: float) -> Callable[[NDArray[np.float32], int, float], float]:
    """``update(x (784,) float32, label, lr)``: one in-place step of ``params``; returns the loss.

    The original's expressions in the original's order, each written into a preallocated
    buffer (``out=``) instead of a fresh temporary: the same roundings, so the same bits, with
    no allocation. The loss only feeds the divergence check, so it is taken with ``math.log``
    (``total`` is in [1, 10], or NaN once training has diverged).
    """
    W_1, b_1, W_2, b_2 = params["W_1"], params["b_1"], params["W_2"], params["b_2"]
    hidden, dtype = len(b_1), W_1.dtype
    # dZ_1 @ x.T: numpy's matmul takes a slow non-BLAS loop when the inner dimension is 1.
    # Padded to 2 with zeros it runs in BLAS, 6x faster, with the same bits: each element is
    # one product plus zeros (a zero product comes out +0 both ways).
    x_rows, dZ_1_columns = np.zeros((2, N_FEATURES), dtype), np.zeros((hidden, 2), dtype)
    x_vector, x, dZ_1 = x_rows[0], x_rows[:1].T, dZ_1_columns[:, :1]      # views
    Z_1, A_1 = np.empty_like(b_1), np.empty_like(b_1)                     # (hidden, 1)
    Z_2, exp, dZ_2 = (np.empty_like(b_2) for _ in range(3))                # (10, 1)
    active = np.empty(b_1.shape, bool)
    dW_1, l2_W_1, dW_2, l2_W_2 = (np.empty_like(W) for W in (W_1, W_1, W_2, W_2))

    def update(sample: NDArray[np.float32], label: int, lr: float) -> float:
        # in-place forms (np.add(a, b, out=a)) keep the buffers closure variables, not locals
        x_vector[...] = sample
        np.add(np.matmul(W_1, x, out=Z_1), b_1, out=Z_1)
        np.maximum(Z_1, 0, out=A_1)
        np.add(np.matmul(W_2, A_1, out=Z_2), b_2, out=Z_2)
        np.subtract(Z_2, Z_2.max(), out=Z_2)                # shifted: exp cannot overflow
        total = np.exp(Z_2, out=exp).sum()
        loss = math.log(total) - float(Z_2[label, 0])
        np.divide(exp, total, out=dZ_2)
        dZ_2[label, 0] -= 1                                 # ŷ - y, N = 1
        np.matmul(W_2.T, dZ_2, out=dZ_1)
        np.multiply(dZ_1, np.greater(Z_1, 0, out=active), out=dZ_1)
        np.add(np.matmul(dZ_2, A_1.T, out=dW_2), np.multiply(l2, W_2, out=l2_W_2), out=dW_2)
        np.add(np.matmul(dZ_1_columns, x_rows, out=dW_1),  # dZ_1 @ x.T
               np.multiply(l2, W_1, out=l2_W_1), out=dW_1)
        for param, grad in ((W_1, dW_1), (b_1, dZ_1), (W_2, dW_2), (b_2, dZ_2)):
            param -= np.multiply(lr, grad, out=grad)
        return loss

    return update


def _train_gd(X: NDArray[np.float32], y: NDArray[np.uint8], config: TrainConfig,
              schedule: Schedule, recorder: HistoryRecorder) -> Params:
    """Full-batch gradient descent, initialized exactly like the original."""
    rng = np.random.RandomState(config.seed)
    dtype = np.dtype(config.dtype)
    params = init_params(config.hidden, rng, scale=config.init_scale, dtype=dtype,
                         he=config.init == "he")
    X = X.astype(dtype, copy=False)
    for step in range(recorder.total_steps):
        lr = schedule(step)
        loss, grads = loss_and_grads(params, X, y, config.l2)
        check_finite(loss, step, lr, config)
        for name, grad in grads.items():
            params[name] -= lr * grad
        if recorder.due(step):
            recorder.record(step, lr, params)
    return params


@dataclass
class _Buffers:
    """Preallocated per-batch arrays of the minibatch loop: rows = samples, except ``z_2``
    (classes by samples, so the softmax reduces across ten rows instead of along short ones)."""

    x: NDArray[Any]                # (batch, 784)
    a_1: NDArray[Any]              # (batch, hidden)
    z_2: NDArray[Any]              # (10, batch)
    d_1: NDArray[Any]              # (batch, hidden)
    column_max: NDArray[Any]       # (batch,)
    active: NDArray[np.bool_]      # (batch, hidden)
    label_at: NDArray[np.intp]     # (batch,) flat index of each sample's label logit in z_2

    @classmethod
    def allocate(cls, batch: int, hidden: int, dtype: Any) -> _Buffers:
        return cls(np.empty((batch, N_FEATURES), dtype), np.empty((batch, hidden), dtype),
                   np.empty((N_CLASSES, batch), dtype), np.empty((batch, hidden), dtype),
                   np.empty(batch, dtype), np.empty((batch, hidden), bool),
                   np.empty(batch, np.intp))


def _train_minibatch(X: NDArray[np.float32], y: NDArray[np.uint8], config: TrainConfig,
                     schedule: Schedule, recorder: HistoryRecorder) -> Params:
    """Momentum SGD or Adam on shuffled minibatches; one permutation per epoch."""
    dtype = np.dtype(config.dtype)
    rng = np.random.default_rng(config.seed)
    init = init_params(config.hidden, rng, scale=config.init_scale, dtype=dtype,
                       he=config.init == "he")
    theta, params = flat_views(init, dtype)
    for name, value in init.items():
        params[name][...] = value
    grad, grads = flat_views(init, dtype)
    decay = _decay_term(weight_mask(init, dtype), theta)
    optimizer = make_optimizer(config.optimizer, theta.size, dtype, momentum=config.momentum,
                               beta2=config.beta2, eps=config.eps)
    X = X.astype(dtype, copy=False)
    labels = y.astype(np.intp)
    batch = min(config.batch_size, len(X))
    buffers = _Buffers.allocate(batch, config.hidden, dtype)
    step = 0
    for _ in range(config.epochs or 0):
        order = rng.permutation(len(X))
        shuffled_labels = labels[order]
        for start in range(0, len(X), batch):
            lr = schedule(step)
            stop = start + batch
            loss = _batch_grads(params, grads, X, order[start:stop],
                                shuffled_labels[start:stop], buffers)
            check_finite(loss, step, lr, config)
            if config.l2:
                grad += decay(config.l2)
            if config.weight_decay:
                theta -= decay(lr * config.weight_decay)
            optimizer.step(theta, grad, lr)
            if recorder.due(step):
                recorder.record(step, lr, params)
            step += 1
    return {name: value.copy() for name, value in params.items()}


def _decay_term(mask: NDArray[Any], theta: NDArray[Any]) -> Callable[[float], NDArray[Any]]:
    """``term(rate)``: ``rate · (mask · theta)`` in a reused buffer (the weights' L2 gradient
    or decoupled decay; the mask keeps the biases out)."""
    term = np.empty_like(theta)

    def decay(rate: float) -> NDArray[Any]:
        return np.multiply(rate, np.multiply(mask, theta, out=term), out=term)

    return decay


def _batch_grads(params: Params, grads: Params, X: NDArray[Any], index: NDArray[np.intp],
                 y: NDArray[np.intp], buf: _Buffers) -> float:
    """Write the cross-entropy gradients of batch ``X[index]``, labels ``y``, into ``grads``;
    return its loss.

    The first layer has samples as rows, ``A_1 = max(X·W_1ᵀ + b_1ᵀ, 0)``; the second has
    them as columns, ``Z_2 = W_2·A_1ᵀ + b_2``, so each softmax reduction is an elementwise
    pass over ten rows. ``A_1 > 0`` stands in for ``Z_1 > 0`` (same mask), so ``Z_1`` is never
    stored. Reductions call ``np.add.reduce`` directly: ``np.sum``'s wrapper costs as much as
    the sum of 64 numbers.
    """
    n = len(index)
    x, a_1, d_1, top = buf.x[:n], buf.a_1[:n], buf.d_1[:n], buf.column_max[:n]
    z_2 = buf.z_2.reshape(-1)[:N_CLASSES * n].reshape(N_CLASSES, n)    # contiguous (10, n)
    label_at = np.add(np.multiply(y, n, out=buf.label_at[:n]), np.arange(n), out=buf.label_at[:n])
    # mode="clip" (the indices are valid): "raise" with out= gathers into a temporary first
    np.take(X, index, axis=0, out=x, mode="clip")
    np.matmul(x, params["W_1"].T, out=a_1)
    a_1 += params["b_1"].T
    np.maximum(a_1, 0, out=a_1)
    np.matmul(params["W_2"], a_1.T, out=z_2)
    z_2 += params["b_2"]
    z_2 -= np.maximum.reduce(z_2, axis=0, out=top)
    picked = z_2.reshape(-1)[label_at]
    np.exp(z_2, out=z_2)
    sums = np.add.reduce(z_2, axis=0, out=top)
    z_2 /= sums
    loss = float(np.add.reduce(np.log(sums, out=top)) - np.add.reduce(picked)) / n
    z_2.reshape(-1)[label_at] -= 1
    z_2 *= 1.0 / n                                              # dZ_2 = (ŷ - y) / n
    np.matmul(z_2, a_1, out=grads["W_2"])
    np.add.reduce(z_2, axis=1, out=grads["b_2"][:, 0])
    np.matmul(z_2.T, params["W_2"], out=d_1)
    d_1 *= np.greater(a_1, 0, out=buf.active[:n])
    np.matmul(d_1.T, x, out=grads["W_1"])
    np.add.reduce(d_1, axis=0, out=grads["b_1"][:, 0])
    return loss
