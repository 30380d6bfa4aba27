"""The prediction command on real exported weights and a PNG drawn from a test image."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows.cli import main as cli_main
from tasks.core.export import write_weights_csv
from tasks.core.network import predict
from tasks.core.train import train_network
from tasks.core.train_config import get_preset

REPO_ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str]) -> int:
    return cli_main(["predict", *argv])


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory, mnist_arrays) -> tuple[Path, float]:
    """The ``fast`` preset cut to 2 epochs, exported; and its test accuracy."""
    config = get_preset("fast").model_copy(update={"epochs": 2})
    result = train_network(*mnist_arrays, config)
    folder = tmp_path_factory.mktemp("weights")
    write_weights_csv(result.params, folder)
    _, _, X_test, y_test = mnist_arrays
    return folder, float((predict(result.params, X_test) == y_test).mean())


def _test_image_png(mirror: Path, index: int, path: Path) -> int:
    with gzip.open(mirror / "t10k-images-idx3-ubyte.gz") as stream:
        images = np.frombuffer(stream.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(mirror / "t10k-labels-idx1-ubyte.gz") as stream:
        labels = np.frombuffer(stream.read(), np.uint8, offset=8)
    # drawn as a user would: dark ink on white paper, 4x larger
    Image.fromarray(255 - images[index]).resize((112, 112)).save(path)
    return int(labels[index])


def test_reports_accuracy_and_classifies_a_png(exported, mnist_parquet, mnist_mirror,
                                               tmp_path: Path, capsys) -> None:
    folder, accuracy = exported
    label = _test_image_png(mnist_mirror, 0, tmp_path / "digit.png")
    code = main(["--weights", str(folder), "--data-dir", str(mnist_parquet["test"].parent),
                 str(tmp_path / "digit.png")])
    out = capsys.readouterr().out
    assert code == 0
    assert f"test accuracy: {accuracy:.4f} on 10000 images" in out
    assert f"digit.png: {label} (probability" in out


def test_errors_exit_2_with_one_message_and_no_traceback(tmp_path: Path) -> None:
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "predict.py"), "--weights", str(tmp_path)],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 2
    assert "W_1.csv is missing" in completed.stderr
    assert "Traceback" not in completed.stderr


def test_missing_test_parquet_and_bad_image(exported, tmp_path: Path, capsys) -> None:
    folder, _ = exported
    assert main(["--weights", str(folder), "--data-dir", str(tmp_path)]) == 2
    assert "test.parquet does not exist" in capsys.readouterr().err
    (tmp_path / "x.png").write_text("hello")
    assert main(["--weights", str(folder), str(tmp_path / "x.png")]) == 2
    assert "x.png is not a readable image" in capsys.readouterr().err


def test_without_weights_it_uses_production_or_says_there_is_none(exported, tmp_path: Path,
                                                                  capsys) -> None:
    folder, _ = exported
    assert main(["--artifacts-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: no production model at {tmp_path / 'mnist' / 'production'}")
    assert "--weights" in err and len(err.strip().splitlines()) == 1
    (tmp_path / "mnist").mkdir()
    (tmp_path / "mnist" / "production").symlink_to(folder)
    assert main(["--artifacts-dir", str(tmp_path)]) == 0
    assert f"from {tmp_path / 'mnist' / 'production'}" in capsys.readouterr().out
