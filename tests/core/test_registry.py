"""The dataset registry: MNIST's facts, and an actionable error on an unknown name."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.errors import ConfigError
from tasks.core.registry import DATASETS, MNIST, ROLES, get_dataset


def test_mnist_entry_matches_the_shipped_sums(mnist_mirror: Path) -> None:
    sums = {}
    for line in (mnist_mirror / "SHA256SUMS").read_text().splitlines():
        if line and not line.startswith("#"):
            digest, name = line.split()
            sums[name] = digest
    assert {f.name: f.sha256 for f in MNIST.files.values()} == sums
    assert tuple(MNIST.files) == ROLES
    assert [f.size for f in MNIST.files.values()] == [47040016, 60008, 7840016, 10008]
    assert MNIST.files["test_images"].remote_name == "t10k-images-idx3-ubyte.gz"
    assert MNIST.class_names == tuple("0123456789")
    assert MNIST.mirrors[0].startswith("https://") and MNIST.mirrors[-1].startswith("http://")


def test_get_dataset() -> None:
    assert get_dataset("mnist") is MNIST
    assert DATASETS["mnist"] is MNIST
    with pytest.raises(ConfigError, match=r"unknown dataset 'emnist'.*mnist"):
        get_dataset("emnist")
