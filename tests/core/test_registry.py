"""The dataset registry: MNIST's and Fashion-MNIST's facts, their mirrors, and an actionable
error on an unknown name."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import logging
from pathlib import Path

import pytest

from tasks.config import MIRROR_ENV, DataConfig
from tasks.core.errors import ConfigError
from tasks.core.fetch import resolve_mirrors
from tasks.core.registry import DATASETS, FASHION_MNIST, MNIST, ROLES, DatasetSpec, get_dataset


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


# --- Fashion-MNIST, and what every entry must hold -------------------------------------------

DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                   "Sneaker", "Bag", "Ankle boot")


def test_fashion_entry() -> None:
    assert get_dataset("fashion-mnist") is FASHION_MNIST
    assert FASHION_MNIST.class_names == FASHION_CLASSES
    assert FASHION_MNIST.mirrors == (
        "/usr/share/datasets/fashion-mnist/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/")
    # A drop-in successor: same names and sizes, other bytes.
    for role in ROLES:
        fashion, digits = FASHION_MNIST.files[role], MNIST.files[role]
        assert (fashion.name, fashion.size) == (digits.name, digits.size)
        assert fashion.sha256 != digits.sha256
    assert FASHION_MNIST.files["train_labels"].sha256 == (
        "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9")


@pytest.mark.skipif(not DEBIAN_FASHION.is_dir(),
                    reason=f"{DEBIAN_FASHION} absent: apt-get install dataset-fashion-mnist")
def test_fashion_entry_matches_the_debian_package() -> None:
    for idx_file in FASHION_MNIST.files.values():
        payload = gzip.decompress((DEBIAN_FASHION / idx_file.remote_name).read_bytes())
        assert (len(payload), hashlib.sha256(payload).hexdigest()) == (
            idx_file.size, idx_file.sha256), idx_file.name


@pytest.mark.parametrize("spec", list(DATASETS.values()), ids=list(DATASETS))
def test_every_entry_is_complete(spec: DatasetSpec) -> None:
    assert DATASETS[spec.name] is spec
    assert tuple(spec.files) == ROLES
    assert len(spec.class_names) == 10 == len(set(spec.class_names))
    assert spec.mirrors and all(m.endswith("/") for m in spec.mirrors)
    assert all(len(f.sha256) == 64 and int(f.sha256, 16) >= 0 for f in spec.files.values())


def test_datasets_never_share_a_payload_digest_or_a_mirror_variable() -> None:
    digests = [f.sha256 for spec in DATASETS.values() for f in spec.files.values()]
    assert len(digests) == len(set(digests))
    variables = [spec.mirror_env for spec in DATASETS.values()]
    assert None not in variables and len(variables) == len(set(variables))
    assert MNIST.mirror_env == MIRROR_ENV == "MNIST_MIRROR"
    assert FASHION_MNIST.mirror_env == "FASHION_MNIST_MIRROR"


def test_the_cli_offers_every_registered_dataset() -> None:
    from flows.cli import parse_args
    from flows.options import flow_document
    from tasks.config import FlowConfig

    for command in ("run", "sweep --grid lr=0.1", "serve --cron x", "explain"):
        assert parse_args([*command.split(), "--dataset", "fashion-mnist"]).dataset == (
            "fashion-mnist")
        # unset on the command line: the model's default, written once
        config = FlowConfig.model_validate(flow_document(parse_args(command.split())))
        assert config.data.dataset == "mnist"
    with pytest.raises(SystemExit):
        parse_args(["--dataset", "emnist"])


# --- mirrors: a packaged folder is optional, and each variable names one dataset --------------

def test_an_absent_default_folder_is_skipped_and_a_present_one_comes_first(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    absent, url = str(tmp_path / "absent") + "/", "http://mirror.example/fashion/"
    spec = dataclasses.replace(FASHION_MNIST, mirrors=(absent, str(tmp_path), url))
    with caplog.at_level(logging.INFO, logger="tasks.core.fetch"):
        assert resolve_mirrors(spec, None) == [str(tmp_path), url]
    assert f"skipping the local mirror {absent}" in caplog.text
    # The user's own mirror still replaces the defaults, the packaged copy included.
    assert resolve_mirrors(spec, "/elsewhere") == ["/elsewhere"]


def test_an_unknown_scheme_names_the_datasets_own_variable() -> None:
    with pytest.raises(ConfigError, match=r"FASHION_MNIST_MIRROR"):
        resolve_mirrors(FASHION_MNIST, "ftp://m.example/fashion/")


def test_each_mirror_variable_applies_to_its_own_dataset_only(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MNIST_MIRROR", "/srv/mnist")
    monkeypatch.delenv("FASHION_MNIST_MIRROR", raising=False)
    assert DataConfig(dataset="mnist").resolved_mirror() == "/srv/mnist"
    assert DataConfig(dataset="fashion-mnist").resolved_mirror() is None
    monkeypatch.setenv("FASHION_MNIST_MIRROR", "/srv/fashion")
    assert DataConfig(dataset="fashion-mnist").resolved_mirror() == "/srv/fashion"
    assert DataConfig(dataset="mnist").resolved_mirror() == "/srv/mnist"
    # An explicit mirror wins for whichever dataset it is given with.
    assert DataConfig(dataset="fashion-mnist", mirror="/x").resolved_mirror() == "/x"
