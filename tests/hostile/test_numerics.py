"""Numerical hostility: a huge learning rate, a huge λ, blank images in the data. Training
ends in a TrainingDivergedError naming what to change, or in a finite model; a CSV export of
NaN weights never happens."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tasks.core.datasets import standardize_images
from tasks.core.errors import TrainingDivergedError
from tasks.core.export import load_weights_csv, write_weights_csv
from tasks.core.train import train_network
from tasks.core.train_config import TrainConfig

N_TRAIN, N_TEST = 2000, 500

OPTIMIZERS = {
    "sgd": {"optimizer": "sgd", "steps": 300},
    "gd": {"optimizer": "gd", "steps": 30},
    "adam": {"optimizer": "adam", "steps": None, "epochs": 1, "batch_size": 64},
    "momentum": {"optimizer": "momentum", "steps": None, "epochs": 1, "batch_size": 64},
}


@pytest.fixture(scope="module")
def data(mnist_arrays: tuple) -> tuple:
    X_train, y_train, X_test, y_test = mnist_arrays
    return X_train[:N_TRAIN], y_train[:N_TRAIN], X_test[:N_TEST], y_test[:N_TEST]


def _train_and_export(data: tuple, out: Path, **settings: object) -> str:
    """'diverged' (clear error, nothing written) or 'valid' (finite weights that load back)."""
    config = TrainConfig(eval_every=10, history_train_samples=500, **settings)
    try:
        result = train_network(*data, config)
    except TrainingDivergedError as error:
        message = str(error)
        assert "diverged" in message and "lower `lr`" in message
        return "diverged"
    assert all(np.isfinite(value).all() for value in result.params.values())
    assert all(np.isfinite(row["loss"]) for row in result.history)
    write_weights_csv(result.params, out)
    assert all(np.isfinite(v).all() for v in load_weights_csv(out).values())
    return "valid"


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("hostile", [{"lr": 1e3}, {"l2": 1e6}, {"lr": 1e3, "l2": 1e6}],
                         ids=["lr=1e3", "l2=1e6", "both"])
def test_huge_lr_or_l2_diverges_clearly_or_stays_finite(data: tuple, tmp_path: Path,
                                                        optimizer: str, hostile: dict) -> None:
    outcome = _train_and_export(data, tmp_path, **OPTIMIZERS[optimizer], **hostile)
    if outcome == "diverged":
        assert list(tmp_path.iterdir()) == []


def test_plain_sgd_with_lr_1e3_is_reported_as_divergence(data: tuple, tmp_path: Path) -> None:
    """The original loop at lr 1e3 cannot stay finite; the error says so and names lr."""
    with pytest.raises(TrainingDivergedError, match=r"lower `lr` \(now 1000\)"):
        train_network(*data, TrainConfig(lr=1e3, steps=300, eval_every=10))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_blank_images_in_the_data_train_a_valid_model(data: tuple, tmp_path: Path,
                                                      optimizer: str) -> None:
    X_train, y_train, X_test, y_test = data
    blank = standardize_images(np.zeros((N_TRAIN // 4, 28, 28), np.uint8))
    assert np.isfinite(blank).all() and not blank.any(), "zero variance must give zeros, not NaN"
    X = np.concatenate([X_train, blank])
    y = np.concatenate([y_train, np.arange(len(blank), dtype=np.uint8) % 10])
    X_test = np.concatenate([X_test, blank[:50]])
    y_test = np.concatenate([y_test, np.zeros(50, np.uint8)])
    outcome = _train_and_export((X, y, X_test, y_test), tmp_path, **OPTIMIZERS[optimizer])
    assert outcome == "valid"
