"""Training: the three loops on tiny data, divergence, reproducibility, and the real presets."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.core.errors import ConfigError, DataError, TrainingDivergedError
from tasks.core.history import TrainProgress
from tasks.core.network import init_params, loss_and_grads, predict
from tasks.core.optimizers import flat_views
from tasks.core.train import _batch_grads, _Buffers, train_network
from tasks.core.train_config import TrainConfig, get_preset


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, ...]:
    """Ten well-separated classes in 784 dimensions: 600 train and 200 test rows, float32."""
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((10, 784)) * 3
    y = rng.integers(0, 10, size=800).astype(np.uint8)
    X = (centres[y] + rng.standard_normal((800, 784))).astype(np.float32)
    return X[:600], y[:600], X[600:], y[600:]


CONFIGS = {
    "sgd": TrainConfig(steps=600, eval_every=100),
    "gd": TrainConfig(optimizer="gd", lr=0.1, steps=60, eval_every=20),
    "momentum": TrainConfig(optimizer="momentum", lr=0.01, l2=0.001, epochs=3,
                            batch_size=32, dtype="float32", init="he", init_scale=1.0),
    "adam": TrainConfig(optimizer="adam", lr=0.003, l2=0.001, epochs=3, batch_size=50,
                        schedule="cosine", dtype="float32", init="he", init_scale=1.0,
                        validation_size=100),
}


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_every_optimizer_learns_separable_blobs(kind: str, blobs) -> None:
    X_train, y_train, X_test, y_test = blobs
    config = CONFIGS[kind]
    seen: list[TrainProgress] = []
    result = train_network(X_train, y_train, X_test, y_test, config, on_progress=seen.append)
    assert (predict(result.params, X_test) == y_test).mean() >= 0.95
    assert result.params["W_1"].dtype == np.dtype(config.dtype)
    assert result.history[-1]["step"] == result.steps - 1
    assert result.history[-1]["loss"] < result.history[0]["loss"]
    assert [point.step for point in seen] == [row["step"] for row in result.history]
    assert seen[-1].total_steps == result.steps
    assert ("validation_accuracy" in result.history[0]) == (config.validation_size > 0)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
def test_same_seed_same_bits_other_seed_other_bits(kind: str, blobs) -> None:
    config = CONFIGS[kind]
    first = train_network(*blobs, config)
    again = train_network(*blobs, config)
    other = train_network(*blobs, config.model_copy(update={"seed": 7}))
    for name in first.params:
        np.testing.assert_array_equal(first.params[name], again.params[name])
    assert first.history == again.history
    assert not np.array_equal(first.params["W_1"], other.params["W_1"])


def test_history_points_do_not_consume_random_numbers(blobs) -> None:
    config = CONFIGS["sgd"]
    sparse = train_network(*blobs, config.model_copy(update={"eval_every": 1000}))
    dense = train_network(*blobs, config.model_copy(update={"eval_every": 1}))
    np.testing.assert_array_equal(sparse.params["W_1"], dense.params["W_1"])
    assert len(dense.history) == 600 and len(sparse.history) == 2


@pytest.mark.parametrize("kind", sorted(CONFIGS))
def test_divergence_names_the_step_and_the_fix(kind: str, blobs) -> None:
    config = CONFIGS[kind].model_copy(update={"lr": 1e30, "init_scale": 1e3, "l2": 0.0})
    with pytest.raises(TrainingDivergedError, match=r"diverged at step \d+.*lower `lr`"):
        train_network(*blobs, config)


def test_bad_inputs_are_reported(blobs) -> None:
    X_train, y_train, X_test, y_test = blobs
    with pytest.raises(DataError, match="training arrays"):
        train_network(X_train[:, :100], y_train, X_test, y_test, CONFIGS["sgd"])
    with pytest.raises(ConfigError, match="validation_size"):
        train_network(*blobs, CONFIGS["sgd"].model_copy(update={"validation_size": 600}))


@pytest.mark.slow
def test_original_preset_reproduces_the_published_accuracy(mnist_arrays) -> None:
    result = train_network(*mnist_arrays, get_preset("original"))
    X_train, y_train, X_test, y_test = mnist_arrays
    assert (predict(result.params, X_test) == y_test).mean() == 0.8775
    assert (predict(result.params, X_train) == y_train).mean() == pytest.approx(0.874, abs=1e-3)
    assert [row["step"] for row in result.history] == list(range(0, 5001, 50))
    assert result.history[-1]["test_accuracy"] == 0.8775


@pytest.mark.slow
def test_fast_preset_reaches_96_percent(mnist_arrays) -> None:
    _, _, X_test, y_test = mnist_arrays
    for seed in (0, 1):
        config = get_preset("fast").model_copy(update={"seed": seed})
        result = train_network(*mnist_arrays, config)
        assert (predict(result.params, X_test) == y_test).mean() >= 0.96, seed


@pytest.mark.slow
def test_full_batch_preset_reaches_89_percent(mnist_arrays) -> None:
    _, _, X_test, y_test = mnist_arrays
    result = train_network(*mnist_arrays, get_preset("full-batch"))
    assert (predict(result.params, X_test) == y_test).mean() >= 0.89


@pytest.mark.parametrize("n", [7, 16])  # a last, short batch and a full one
def test_minibatch_gradients_equal_the_reference_gradients(n: int) -> None:
    rng = np.random.default_rng(5)
    X = rng.standard_normal((50, 784), dtype=np.float32)
    labels = rng.integers(0, 10, 50)
    init = init_params(6, rng, scale=0.3, dtype=np.float32)
    init["b_1"] += 0.1
    init["b_2"] += rng.standard_normal((10, 1)).astype(np.float32)
    grads = flat_views(init, np.float32)[1]
    index = rng.permutation(50)[:n]
    loss = _batch_grads(init, grads, X, index, labels[index], _Buffers.allocate(16, 6, np.float32))
    expected_loss, expected = loss_and_grads(init, X[index], labels[index])
    assert loss == pytest.approx(expected_loss, rel=1e-5)
    for name, grad in expected.items():
        np.testing.assert_allclose(grads[name], grad, rtol=1e-4, atol=1e-6)
