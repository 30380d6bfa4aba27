"""The flat optimizers against textbook formulas, and the flat views they update."""

from __future__ import annotations

import numpy as np

from tasks.core.network import init_params
from tasks.core.optimizers import Adam, Momentum, flat_views, weight_mask


def test_flat_views_share_memory_with_the_vector() -> None:
    template = init_params(3, np.random.default_rng(0))
    flat, views = flat_views(template, np.float64)
    assert flat.size == 3 * 784 + 3 + 10 * 3 + 10
    views["b_2"][...] = 7
    assert flat[-10:].tolist() == [7.0] * 10
    mask = weight_mask(template, np.float64)
    assert mask.sum() == 3 * 784 + 30 and mask[-10:].sum() == 0


def test_adam_matches_the_textbook_update() -> None:
    rng = np.random.default_rng(0)
    theta = rng.standard_normal(50)
    reference = theta.copy()
    m = np.zeros(50)
    v = np.zeros(50)
    adam = Adam(50, np.float64, beta1=0.9, beta2=0.999, eps=1e-8)
    for t in range(1, 6):
        grad = rng.standard_normal(50)
        adam.step(theta, grad, 0.01)
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        reference -= 0.01 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    np.testing.assert_allclose(theta, reference, rtol=1e-10)


def test_momentum_matches_the_heavy_ball_update() -> None:
    theta = np.ones(4)
    momentum = Momentum(4, np.float64, momentum=0.5)
    momentum.step(theta, np.full(4, 2.0), 0.1)
    momentum.step(theta, np.full(4, 2.0), 0.1)
    np.testing.assert_allclose(theta, 1 - 0.1 * 2 - 0.1 * 3)
