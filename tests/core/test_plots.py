"""Plots: each writes a valid, deterministic PNG atomically, and refuses inputs it cannot draw."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import ConfigError, DataError
from tasks.core.plots import (
    PLOT_NAMES,
    misclassified_indices,
    plot_confusion_matrix,
    plot_hidden_weights,
    plot_misclassified,
    plot_training_curves,
    write_all_plots,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DIGITS = tuple(str(i) for i in range(10))
CLOTHES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def _history(n: int = 30) -> list[dict[str, float]]:
    steps = np.arange(n) * 50
    return [{"step": int(s), "lr": 0.1 * 0.5 ** (s // 500), "loss": 2.3 * np.exp(-s / 400) + 0.3,
             "train_accuracy": 0.95 - 0.8 * np.exp(-s / 300),
             "test_accuracy": 0.93 - 0.8 * np.exp(-s / 300)} for s in steps]


def _inputs(n: int = 60, n_wrong: int = 12) -> dict[str, object]:
    """Synthetic plot inputs: ``n`` standardized images of which the first ``n_wrong`` are wrong."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 784)).astype(np.float32)
    X = (X - X.mean(axis=1, keepdims=True)) / X.std(axis=1, keepdims=True)
    y_test = rng.integers(0, 10, n).astype(np.uint8)
    y_pred = y_test.astype(np.int64)
    y_pred[:n_wrong] = (y_pred[:n_wrong] + 1) % 10
    confusion = np.diag(rng.integers(800, 1100, 10)) + rng.poisson(3, (10, 10)) * (1 - np.eye(10))
    return {"history": _history(), "confusion": confusion.astype(np.int64), "class_names": DIGITS,
            "X_test": X, "y_test": y_test, "y_pred": y_pred,
            "W_1": rng.standard_normal((20, 784)) * 0.05}


def _png_size(path: Path) -> tuple[int, int]:
    """Assert ``path`` is a PNG Pillow can decode; return its (width, height) in pixels."""
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as image:
        image.load()
        assert image.format == "PNG"
        return image.size


@pytest.fixture(scope="module")
def all_plots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The four plots of :func:`_inputs`, drawn once for the tests that only read them."""
    return write_all_plots(**_inputs(), out_dir=tmp_path_factory.mktemp("plots"))


def test_write_all_plots_writes_four_valid_modest_pngs_and_nothing_else(
        all_plots: dict[str, Path]) -> None:
    paths = all_plots
    assert list(paths) == list(PLOT_NAMES)
    folder = paths[PLOT_NAMES[0]].parent
    assert sorted(p.name for p in folder.iterdir()) == sorted(PLOT_NAMES)
    sizes = {name: _png_size(path) for name, path in paths.items()}
    # savefig without bbox_inches keeps figsize * dpi exactly.
    assert sizes["acc_and_loss_rate.png"] == (1200, 440)
    assert sizes["confusion_matrix.png"] == (740, 640)
    assert sizes["misclassified.png"] == (850, round((1.8 * 3 + 0.7) * 100))
    assert sizes["hidden_weights.png"] == (round(1.7 * 5 * 100 + 100), round((1.7 * 4 + 1.0) * 100))
    for path in paths.values():
        assert path.stat().st_size < 150_000, path


def test_identical_inputs_give_byte_identical_pngs(
        all_plots: dict[str, Path], tmp_path: Path) -> None:
    again = write_all_plots(**_inputs(), out_dir=tmp_path)
    for name in PLOT_NAMES:
        assert all_plots[name].read_bytes() == again[name].read_bytes(), name


def test_changed_input_changes_the_png(tmp_path: Path) -> None:
    history = _history()
    plot_training_curves(history, tmp_path / "a.png")
    history[-1]["test_accuracy"] = 0.5
    plot_training_curves(history, tmp_path / "b.png")
    assert (tmp_path / "a.png").read_bytes() != (tmp_path / "b.png").read_bytes()


def test_png_bytes_match_across_processes_and_pyplot_stays_unloaded(tmp_path: Path) -> None:
    """A cached run compares outputs of two processes, so the bytes must not depend on one."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tasks.core.plots import plot_confusion_matrix\n"
        "import numpy as np\n"
        "plot_confusion_matrix(np.arange(100).reshape(10, 10), [str(i) for i in range(10)],"
        " Path(sys.argv[1]))\n"
        "print('matplotlib.pyplot' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "child.png")],
                          capture_output=True, text=True, check=True)
    plot_confusion_matrix(np.arange(100).reshape(10, 10), DIGITS, tmp_path / "parent.png")
    assert done.stdout.strip() == "False"
    assert (tmp_path / "child.png").read_bytes() == (tmp_path / "parent.png").read_bytes()


def test_png_carries_no_software_stamp(tmp_path: Path) -> None:
    path = plot_hidden_weights(np.ones((2, 784)), tmp_path / "w.png")
    with Image.open(path) as image:
        assert "Software" not in image.info


def test_failed_save_leaves_neither_temp_file_nor_final_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(self: Image.Image, fp: Path, *args: object, **kwargs: object) -> None:
        Path(fp).write_bytes(PNG_SIGNATURE)
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", half_write)
    with pytest.raises(OSError, match="disk full"):
        plot_training_curves(_history(), tmp_path / "curves.png")
    assert list(tmp_path.iterdir()) == []


def test_empty_history_draws_a_placeholder(tmp_path: Path) -> None:
    assert _png_size(plot_training_curves([], tmp_path / "curves.png")) == (1200, 440)


def test_optional_history_series_are_drawn_when_present(tmp_path: Path) -> None:
    rich = [dict(row, test_loss=row["loss"] + 0.1, validation_accuracy=0.9) for row in _history()]
    plot_training_curves(_history(), tmp_path / "plain.png")
    plot_training_curves(rich, tmp_path / "rich.png")
    assert (tmp_path / "plain.png").read_bytes() != (tmp_path / "rich.png").read_bytes()


def test_history_without_a_required_key_is_refused(tmp_path: Path) -> None:
    history = _history()
    del history[3]["test_accuracy"]
    with pytest.raises(DataError, match="test_accuracy"):
        plot_training_curves(history, tmp_path / "curves.png")
    assert not (tmp_path / "curves.png").exists()


def test_misclassified_indices_are_the_first_wrong_ones_in_order() -> None:
    y_true = np.array([0, 1, 2, 3, 4, 5], dtype=np.uint8)
    y_pred = np.array([0, 2, 2, 0, 1, 5])
    assert misclassified_indices(y_true, y_pred, limit=25).tolist() == [1, 3, 4]
    assert misclassified_indices(y_true, y_pred, limit=2).tolist() == [1, 3]
    assert misclassified_indices(y_true, y_true, limit=25).size == 0


@pytest.mark.parametrize(("n_wrong", "limit", "grid_rows"), [(12, 25, 3), (40, 25, 5), (40, 3, 1)])
def test_misclassified_grid_shows_at_most_limit_images(
        tmp_path: Path, n_wrong: int, limit: int, grid_rows: int) -> None:
    data = _inputs(n_wrong=n_wrong)
    path = plot_misclassified(data["X_test"], data["y_test"], data["y_pred"], CLOTHES,
                              tmp_path / "wrong.png", limit=limit)
    assert _png_size(path) == (850, round((1.8 * grid_rows + 0.7) * 100))


def test_misclassified_with_nothing_wrong_draws_a_placeholder(tmp_path: Path) -> None:
    data = _inputs(n_wrong=0)
    path = plot_misclassified(data["X_test"], data["y_test"], data["y_pred"], DIGITS,
                              tmp_path / "wrong.png")
    assert _png_size(path) == (850, 200)


def test_constant_image_and_dead_unit_draw_without_warnings(tmp_path: Path) -> None:
    X = np.zeros((2, 784), dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plot_misclassified(X, np.array([0, 1], np.uint8), np.array([1, 0]), DIGITS,
                           tmp_path / "wrong.png")
        plot_hidden_weights(np.zeros((3, 784)), tmp_path / "w.png")
    assert _png_size(tmp_path / "w.png")[0] > 0


def test_hidden_weights_draws_at_most_limit_units(tmp_path: Path) -> None:
    W_1 = np.random.default_rng(1).standard_normal((50, 784))
    width, height = _png_size(plot_hidden_weights(W_1, tmp_path / "w.png", limit=25))
    assert (width, height) == (round(1.7 * 5 * 100 + 100), round((1.7 * 5 + 1.0) * 100))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda p: plot_confusion_matrix(np.zeros((9, 9), np.int64), DIGITS, p), DataError,
         r"\(10, 10\)"),
        (lambda p: plot_confusion_matrix(-np.ones((10, 10), np.int64), DIGITS, p), DataError,
         "non-negative"),
        (lambda p: plot_confusion_matrix(np.full((10, 10), 0.5), DIGITS, p), DataError, "integer"),
        (lambda p: plot_misclassified(np.zeros((2, 700)), np.zeros(2), np.zeros(2), DIGITS, p),
         DataError, "784"),
        (lambda p: plot_misclassified(np.zeros((2, 784)), np.array([0, 10]), np.zeros(2), DIGITS,
                                      p), DataError, r"\[0, 10\)"),
        (lambda p: plot_misclassified(np.zeros((2, 784)), np.zeros(3), np.zeros(2), DIGITS, p),
         DataError, "expected 2 labels"),
        (lambda p: plot_misclassified(np.zeros((2, 784)), np.zeros(2), np.ones(2), DIGITS, p,
                                      limit=0), ConfigError, "limit"),
        (lambda p: plot_hidden_weights(np.zeros(784), p), DataError, "W_1"),
    ],
)
def test_unplottable_inputs_are_refused_before_writing(
        tmp_path: Path, call: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        call(tmp_path / "plot.png")
    assert list(tmp_path.iterdir()) == []

