"""Optimizers over one flat parameter vector, and the flat storage that makes them cheap.

A minibatch step of a 784-20-10 network touches four small arrays. Updating each with its own
dozen ufunc calls costs more than the matrix products, so the trainer stores all parameters
(and all gradients) as views into one contiguous vector: an Adam step is then eight ufunc
calls on a single ~16k-element array, whatever the number of parameters.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.core.network import Params


def flat_views(template: Params, dtype: Any) -> tuple[NDArray[Any], Params]:
    """A zeroed flat vector and a dict of views into it shaped like ``template``."""
    total = sum(array.size for array in template.values())
    flat = np.zeros(total, dtype=dtype)
    views: Params = {}
    offset = 0
    for name, array in template.items():
        views[name] = flat[offset:offset + array.size].reshape(array.shape)
        offset += array.size
    return flat, views


def weight_mask(template: Params, dtype: Any) -> NDArray[Any]:
    """A flat 0/1 vector: 1 on the weight matrices (``W_*``), 0 on the biases."""
    mask, views = flat_views(template, dtype)
    for name, view in views.items():
        view[...] = name.startswith("W_")
    return mask


class Momentum:
    """SGD with (heavy-ball) momentum: ``v = μ·v + g``, ``θ -= lr·v``."""

    def __init__(self, size: int, dtype: Any, *, momentum: float) -> None:
        self.velocity = np.zeros(size, dtype=dtype)
        self.momentum = momentum

    def step(self, theta: NDArray[Any], grad: NDArray[Any], lr: float) -> None:
        """Update ``theta`` in place from ``grad``."""
        self.velocity *= self.momentum
        self.velocity += grad
        theta -= lr * self.velocity


class Adam:
    """Adam (Kingma & Ba 2015) with bias correction, updating in place.

    Notes
    -----
    The bias corrections are folded into one scalar step size, so the per-element work is
    two moment updates, one square root and one fused divide. The scalars are Python floats,
    so a float32 vector is updated in float32 throughout (a numpy float64 scalar would turn
    those passes into float64 loops with a cast each way, five times slower).
    """

    def __init__(self, size: int, dtype: Any, *, beta1: float, beta2: float,
                 eps: float) -> None:
        self.m = np.zeros(size, dtype=dtype)
        self.v = np.zeros(size, dtype=dtype)
        self._buffer = np.zeros(size, dtype=dtype)
        self._moment_buffer = np.zeros(size, dtype=dtype)
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.t = 0

    def step(self, theta: NDArray[Any], grad: NDArray[Any], lr: float) -> None:
        """Update ``theta`` in place from ``grad``."""
        self.t += 1
        b1, b2, buf = self.beta1, self.beta2, self._buffer
        self.m *= b1
        self.m += np.multiply(1 - b1, grad, out=self._moment_buffer)
        np.multiply(grad, grad, out=buf)
        buf *= 1 - b2
        self.v *= b2
        self.v += buf
        correction = math.sqrt(1 - b2 ** self.t)
        step_size = lr * correction / (1 - b1 ** self.t)
        np.sqrt(self.v, out=buf)
        buf += self.eps * correction
        np.divide(self.m, buf, out=buf)
        buf *= step_size
        theta -= buf


def make_optimizer(kind: str, size: int, dtype: Any, *, momentum: float, beta2: float,
                   eps: float) -> Momentum | Adam:
    """The optimizer ``kind`` (``momentum`` or ``adam``) for a flat vector of ``size``."""
    if kind == "momentum":
        return Momentum(size, dtype, momentum=momentum)
    if kind == "adam":
        return Adam(size, dtype, beta1=momentum, beta2=beta2, eps=eps)
    raise ValueError(f"no flat optimizer {kind!r}")
