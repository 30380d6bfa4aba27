"""Shared fixtures: the real MNIST mirror beside the checkout, and its preprocessed arrays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def mnist_mirror() -> Path:
    """The local MNIST mirror: ``$MNIST_MIRROR`` if it is a folder, else ``../shared/mnist``."""
    configured = os.environ.get("MNIST_MIRROR", "")
    folder = Path(configured) if configured and "://" not in configured else None
    folder = folder or REPO_ROOT.parent / "shared" / "mnist"
    if not (folder / "train-images-idx3-ubyte.gz").is_file():
        pytest.fail(f"the MNIST mirror {folder} is missing; set MNIST_MIRROR to its folder")
    return folder


@pytest.fixture(scope="session")
def mnist_parquet(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> dict[str, Path]:
    """``{"train": path, "test": path}``: the real MNIST fetched from the local mirror folder
    and preprocessed to Parquet, once per session."""
    from tasks.core.datasets import preprocess_dataset
    from tasks.core.fetch import fetch_dataset
    from tasks.core.registry import get_dataset

    spec = get_dataset("mnist")
    root = tmp_path_factory.mktemp("mnist_data")
    raw = fetch_dataset(spec, [str(mnist_mirror)], root / "raw")
    digests = {role: spec.files[role].sha256 for role in raw}
    return preprocess_dataset(raw, root / "processed", source_digests=digests)


@pytest.fixture(scope="session")
def mnist_arrays(mnist_parquet: dict[str, Path]) -> tuple:
    """``(X_train (60000, 784) float32, y_train (60000,) uint8, X_test (10000, 784) float32,
    y_test (10000,) uint8)`` from :func:`tasks.core.datasets.load_split`; arrays are read-only."""
    from tasks.core.datasets import load_split

    X_train, y_train = load_split(mnist_parquet["train"])
    X_test, y_test = load_split(mnist_parquet["test"])
    return X_train, y_train, X_test, y_test


@pytest.fixture(scope="session")
def fast_params(mnist_arrays: tuple) -> dict:
    """The ``fast`` preset trained on the real MNIST training set (float32 params dict)."""
    from tasks.core.train import train_network
    from tasks.core.train_config import get_preset

    return train_network(*mnist_arrays, get_preset("fast")).params
