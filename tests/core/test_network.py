"""Numerical checks of the network: gradients against finite differences, stability, init."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.network import (
    PARAM_NAMES,
    cross_entropy,
    init_params,
    log_softmax,
    loss_and_grads,
    predict,
    predict_proba,
    softmax,
)


def _tiny_problem(seed: int = 0, n: int = 7, hidden: int = 3):
    rng = np.random.default_rng(seed)
    params = init_params(hidden, rng, scale=0.5)
    params["b_1"] = rng.standard_normal(params["b_1"].shape) * 0.1
    params["b_2"] = rng.standard_normal(params["b_2"].shape) * 0.1
    X = rng.standard_normal((n, 784))
    y = rng.integers(0, 10, size=n)
    return params, X, y


@pytest.mark.parametrize("l2", [0.0, 0.3])
@pytest.mark.parametrize("name", PARAM_NAMES)
def test_gradient_matches_central_differences(name: str, l2: float) -> None:
    params, X, y = _tiny_problem()
    _, grads = loss_and_grads(params, X, y, l2)
    rng = np.random.default_rng(1)
    # 40 random entries per parameter (all of them for the small ones)
    flat_indices = rng.choice(params[name].size, size=min(40, params[name].size), replace=False)
    h = 1e-6
    for flat in flat_indices:
        index = np.unravel_index(flat, params[name].shape)
        original = params[name][index]
        params[name][index] = original + h
        plus, _ = loss_and_grads(params, X, y, l2)
        params[name][index] = original - h
        minus, _ = loss_and_grads(params, X, y, l2)
        params[name][index] = original
        numeric = (plus - minus) / (2 * h)
        assert grads[name][index] == pytest.approx(numeric, rel=1e-5, abs=1e-8), (name, index)


def test_one_hot_and_integer_labels_give_the_same_gradients() -> None:
    params, X, y = _tiny_problem()
    loss_a, grads_a = loss_and_grads(params, X, y, 0.1)
    loss_b, grads_b = loss_and_grads(params, X, np.eye(10)[y], 0.1)
    assert loss_a == loss_b
    for name in PARAM_NAMES:
        np.testing.assert_array_equal(grads_a[name], grads_b[name])


def test_loss_falls_on_a_tiny_batch() -> None:
    params, X, y = _tiny_problem(n=16, hidden=8)
    first, _ = loss_and_grads(params, X, y, 0.0)
    for _ in range(200):
        loss, grads = loss_and_grads(params, X, y, 0.0)
        for name in PARAM_NAMES:
            params[name] -= 0.05 * grads[name]
    assert loss < 0.1 * first
    assert (predict(params, X) == y).all()


@pytest.mark.parametrize("scale", [1e4, -1e4])
def test_softmax_and_cross_entropy_are_finite_for_huge_logits(scale: float) -> None:
    Z = np.array([[1.0, -1.0, 0.5, 0, 0, 0, 0, 0, 0, 0.25]]) * scale
    probabilities = softmax(Z, axis=1)
    assert np.isfinite(probabilities).all()
    assert probabilities.sum() == pytest.approx(1.0)
    assert np.isfinite(log_softmax(Z)).all()
    for label in range(10):
        loss = cross_entropy(Z, np.array([label]))
        assert np.isfinite(loss) and loss >= 0


def test_softmax_axis_zero_matches_the_original_column_layout() -> None:
    Z = np.random.default_rng(0).standard_normal((10, 4))
    np.testing.assert_allclose(softmax(Z, axis=0), softmax(Z.T, axis=1).T)


def test_init_reproduces_the_original_seeded_draws() -> None:
    params = init_params(20, np.random.RandomState(1), scale=0.01)
    legacy = np.random.RandomState(1)
    np.testing.assert_array_equal(params["W_1"], legacy.randn(20, 784) * 0.01)
    np.testing.assert_array_equal(params["W_2"], legacy.randn(10, 20) * 0.01)
    assert not params["b_1"].any() and params["b_1"].shape == (20, 1)
    assert params["b_2"].shape == (10, 1)


def test_predict_proba_rows_sum_to_one_and_accept_one_image() -> None:
    params, X, _ = _tiny_problem()
    proba = predict_proba(params, X)
    assert proba.shape == (7, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(predict_proba(params, X[0]), proba[:1], rtol=1e-12)
