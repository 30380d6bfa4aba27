"""The prediction command on real exported weights and a PNG drawn from a test image."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from flows.cli import main as cli_main
from flows.cli import subcommand_parser
from tasks.core.export import write_weights_csv
from tasks.core.network import predict
from tasks.core.production import Production, install_production
from tasks.core.train import train_network
from tasks.core.train_config import get_preset
from tasks.engine.pointer import pointer_lock

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
    record = Production(model=folder.name, path=f"promoted/{folder.name}", source=str(folder),
                        promoted_at="2026-12-06T00:00:00+00:00", reason="test", policy="always",
                        accuracy=0.9, test_accuracy=0.9, scores={}, eval_sizes={},
                        previous=None, previous_accuracy=None)
    (tmp_path / "mnist").mkdir()
    with pointer_lock(tmp_path / "mnist" / "production"):
        install_production(tmp_path / "mnist", folder, record)
    assert main(["--artifacts-dir", str(tmp_path)]) == 0
    assert f"from {tmp_path / 'mnist' / 'production'}" in capsys.readouterr().out
    (tmp_path / "mnist" / "production.json").write_text('{"model": ')  # cut short
    assert main(["--artifacts-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: production of ") and "production.json cannot be read" in err
    assert "mnist-flow production repair" in err and len(err.strip().splitlines()) == 1


def test_a_picture_without_a_digit_says_so_instead_of_guessing(exported, mnist_mirror,
                                                               tmp_path: Path, capsys) -> None:
    folder, _ = exported
    Image.new("L", (200, 200), 255).save(tmp_path / "blank.png")
    speck = np.full((200, 200), 255, np.uint8)
    speck[90:93, 120:123] = 200
    Image.fromarray(speck).save(tmp_path / "speck.png")
    label = _test_image_png(mnist_mirror, 0, tmp_path / "digit.png")
    images = [str(tmp_path / name) for name in ("blank.png", "digit.png", "speck.png")]
    assert main(["--weights", str(folder), *images]) == 0
    lines = capsys.readouterr().out.strip().splitlines()[1:]
    assert lines[0].startswith(f"{images[0]}: no digit found (its ink fills 0.00 of the 784 ")
    assert lines[1].startswith(f"{images[1]}: {label} (probability ")
    assert lines[2].startswith(f"{images[2]}: no digit found (its ink fills 0.")
    assert len(lines) == 3


def test_a_folder_is_one_error_line_as_the_help_says(exported, tmp_path: Path, capsys) -> None:
    folder, _ = exported
    assert main(["--weights", str(folder), str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err == (f"error: {tmp_path} is a folder; pass the pictures in it "
                   f"(e.g. {tmp_path}/*.png)\n")
    help_text = " ".join(subcommand_parser("predict").format_help().split())
    assert "a folder is refused (exit 2): pass the pictures in it" in help_text
    assert "a picture without a digit prints 'no digit found'" in help_text


def test_a_picture_named_in_bytes_that_are_not_utf8(exported, mnist_mirror,
                                                    tmp_path: Path) -> None:
    """stdout is strict UTF-8: the name is printed with its odd byte escaped."""
    folder, _ = exported
    label = _test_image_png(mnist_mirror, 0, tmp_path / "digit.png")
    odd = os.fsencode(tmp_path) + b"/digit-\xff.png"
    os.rename(os.fsencode(tmp_path / "digit.png"), odd)
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "predict.py"), "--weights", str(folder), odd],
        capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stderr
    assert f"{tmp_path}/digit-\\xff.png: {label} (probability " in completed.stdout
    junk = os.fsencode(tmp_path) + b"/junk-\xff.png"
    Path(os.fsdecode(junk)).write_bytes(b"not a picture")
    completed = subprocess.run(
        [sys.executable, str(REPO_ROOT / "flows" / "predict.py"), "--weights", str(folder), junk],
        capture_output=True, text=True, check=False)
    shown = f"{tmp_path}/junk-\\xff.png"
    assert (completed.returncode, completed.stderr) == (2, (
        f"error: {shown} is not a readable image (cannot identify image file '{shown}'); pass a "
        f"PNG or JPEG of a handwritten digit\n"))
