"""The validate stage in the real flow on the real MNIST: refused files leave the intake folder
for the quarantine before training, the kept ones train, and a released file trains next run."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.core.datasets import load_split
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.quarantine import release
from tests.e2e.conftest import statuses, with_changes

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def digits(mirror: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    prefix = "train" if split == "train" else "t10k"
    with gzip.open(mirror / f"{prefix}-images-idx3-ubyte.gz") as stream:
        images = parse_idx_images(stream.read(), prefix)
    with gzip.open(mirror / f"{prefix}-labels-idx1-ubyte.gz") as stream:
        labels = parse_idx_labels(stream.read(), prefix)
    return images, labels


def save(digit: np.ndarray, path: Path, shift: int = 0) -> None:
    """``digit`` on a 32x32 black page, moved ``shift`` pixels right and down."""
    page = np.zeros((32, 32), np.uint8)
    page[2 + shift:30 + shift, 2 + shift:30 + shift] = digit
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(page).save(path)


def test_refused_files_are_quarantined_before_training_and_a_release_trains(
        quick_config: FlowConfig, mnist_mirror: Path, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    config = with_changes(quick_config, retraining={"incoming": str(incoming)})
    train_images, train_labels = digits(mnist_mirror, "train")
    test_images, _ = digits(mnist_mirror, "test")
    for index in range(-40, -20):  # right labels
        save(train_images[index], incoming / str(train_labels[index]) / f"good{-index}.png")
    for index in range(-20, 0):  # each labelled as the next digit
        save(train_images[index], incoming / str((train_labels[index] + 1) % 10) /
             f"bad{-index}.png")
    for index in (5, 77, 901):  # test images, shifted by one pixel
        save(test_images[index], incoming / "0" / f"test{index}.png", shift=1)

    result = mnist_flow(config)

    assert statuses(result)["validate"] == "ran"
    dataset_dir = config.artifacts_dir.resolve() / "mnist"
    table = json.loads((dataset_dir / "quarantine" / "quarantine.json").read_text())
    by_name = {Path(item["path"]).name: item for item in table}
    for index in (5, 77, 901):
        assert by_name[f"test{index}.png"]["check"] == "leakage"
        assert by_name[f"test{index}.png"]["copies"] == f"test #{index}"
    wrong = [name for name in by_name if name.startswith("bad")]
    right = [name for name in by_name if name.startswith("good")]
    assert len(wrong) >= 16 and len(right) <= 1, by_name  # >= 80 % caught, <= 5 % wrongly
    for item in table:  # moved, not deleted
        assert not (incoming / item["path"]).exists()
        assert (dataset_dir / "quarantine" / item["stored"]).is_file()
    kept = sum(len(load_split(path)[1]) for path in (dataset_dir / "validate").glob(
        "*/*.parquet"))
    assert kept == 43 - len(table)
    report = json.loads((dataset_dir / "validate" / "report.json").read_text())
    assert report["counts"]["leakage"] == 3 and not report["drift"]["drifted"]

    rerun = mnist_flow(config)  # the intake folder changed (files left), the kept rows not
    assert statuses(rerun)["intake"] == "ran" and statuses(rerun)["train"] == "cached"

    stored = dataset_dir / "quarantine" / by_name[wrong[0]]["stored"]
    [line] = list(release(dataset_dir / "quarantine", [stored]))
    assert "the next run trains on it" in line
    assert (incoming / by_name[wrong[0]]["path"]).is_file() and not stored.exists()
    after = mnist_flow(config)
    assert statuses(after)["train"] == "ran"
    remaining = json.loads((dataset_dir / "quarantine" / "quarantine.json").read_text())
    assert len(remaining) == len(table) - 1
