"""The plots a run leaves behind: training curves, confusion matrix, misclassified images, weights.

Every figure is a bare :class:`matplotlib.figure.Figure` (no pyplot, so no global backend or
figure registry to leak between runs), drawn at 100 dpi and saved by Pillow as a 256-colour PNG
with no version stamp, so identical inputs give byte-identical files and the cache can compare
outputs.
Each PNG is renamed into place only once complete. Labels say "class", never "digit": another
dataset brings its own class names.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import ConfigError, DataError
from tasks.core.montage import as_square_images, label_tiles, montage, montage_axes
from tasks.engine.atomic import atomic_path

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.colors import Colormap
    from matplotlib.figure import Figure

logger = logging.getLogger(__name__)

DPI = 100
PLOT_NAMES = (
    "acc_and_loss_rate.png",
    "confusion_matrix.png",
    "misclassified.png",
    "hidden_weights.png",
)
_GRID_COLUMNS = 5
_REQUIRED_HISTORY = ("step", "loss", "train_accuracy", "test_accuracy")


# matplotlib (and PIL under it) is imported by the first figure, not with this module: a run
# whose export stage comes from cache never draws, and saves the 0.5-0.8 s import.
def _figure(**options: Any) -> Figure:
    from matplotlib.figure import Figure

    return Figure(**options)


def _white_bad(name: str) -> Colormap:
    """Colormap ``name`` with NaN (montage gaps) drawn white."""
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="white")


def _save_png(fig: Figure, path: Path) -> Path:
    """Write ``fig`` to ``path`` as a deterministic 256-colour PNG, atomically, and free its
    artists.

    256 colours, not matplotlib's RGBA: the plots look the same and their files are 3.3 times
    smaller (326 kB against 98 kB for the four of a run), and every run embeds them in the
    report it posts to the dashboard, served from cache or not (``bench/profile_run.py``).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from PIL import Image

    path = Path(path)
    fig.set_dpi(DPI)
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba(), "raw",
                            "RGBA", 0, 1)
    # Fast octree: deterministic, and ~15 ms a plot where median cut takes ~60 ms.
    image = rgba.convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE)
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG")  # the temporary name ends in ".tmp": format explicit
    fig.clear()
    logger.info("wrote %s (%d bytes)", path, path.stat().st_size)
    return path


def _placeholder(ax: Axes, text: str) -> None:
    """Replace ``ax`` by a centred sentence, so an empty plot says why it is empty."""
    ax.set_axis_off()
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=12, wrap=True,
            transform=ax.transAxes)


def _history_column(rows: Sequence[Mapping[str, float]], key: str) -> NDArray[np.float64] | None:
    """``key`` across all rows as ``(n_rows,) float64``, or None when any row lacks it."""
    if not all(key in row for row in rows):
        if key in _REQUIRED_HISTORY:
            raise DataError(
                f"training history: expected every row to have {key!r}, found rows without it; "
                "rerun training (--force train) to record a complete history"
            )
        return None
    return np.array([float(row[key]) for row in rows], dtype=np.float64)


def _draw_loss(ax: Axes, rows: Sequence[Mapping[str, float]]) -> None:
    """Loss (nats) of train and, if recorded, test against step; learning rate on a twin axis."""
    step = _history_column(rows, "step")
    loss = _history_column(rows, "loss")
    ax.plot(step, loss, color="tab:blue", label="train loss (cross-entropy + L2 penalty)")
    test_loss = _history_column(rows, "test_loss")
    if test_loss is not None:
        ax.plot(step, test_loss, color="tab:orange", label="test loss")
    ax.set(xlabel="training step", ylabel="loss (nats)",
           title=f"Loss (last train: {loss[-1]:.4f} nats)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    lr = _history_column(rows, "lr")
    if lr is not None:
        ax_lr = ax.twinx()
        ax_lr.plot(step, lr, color="0.45", linestyle=":", label="learning rate")
        ax_lr.set_ylabel("learning rate (per step)")
        ax_lr.set_ylim(bottom=0)
        lr_handles, lr_labels = ax_lr.get_legend_handles_labels()
        handles, labels = handles + lr_handles, labels + lr_labels
    ax.legend(handles, labels, loc="upper right")


def _draw_accuracy(ax: Axes, rows: Sequence[Mapping[str, float]]) -> None:
    """Train, test and (if recorded) validation accuracy in percent against step."""
    step = _history_column(rows, "step")
    series = (("train", "train_accuracy", "tab:blue"), ("test", "test_accuracy", "tab:orange"),
              ("validation", "validation_accuracy", "tab:green"))
    for label, key, color in series:
        values = _history_column(rows, key)
        if values is not None:
            ax.plot(step, 100.0 * values, color=color, label=f"{label} accuracy")
    last_test = 100.0 * float(rows[-1]["test_accuracy"])
    ax.set(xlabel="training step", ylabel="accuracy (%)",
           title=f"Accuracy (last test: {last_test:.2f} %)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")


def plot_training_curves(history: Sequence[Mapping[str, float]], path: Path) -> Path:
    """Plot loss and accuracy against step, train and test, side by side (``acc_and_loss_rate``).

    ``history`` holds one row per recording step with keys ``step``, ``lr``, ``loss`` (nats),
    ``train_accuracy`` and ``test_accuracy`` (fractions in [0, 1]), optionally ``test_loss``
    and ``validation_accuracy``. An empty history gives a figure that says so.
    """
    rows = list(history)
    fig = _figure(figsize=(12, 4.4))
    # Fixed margins, room for the twin learning-rate axis: a constrained layout searched for
    # them at 0.13 s of CPU a figure.
    fig.subplots_adjust(left=0.06, right=0.985, bottom=0.12, top=0.87, wspace=0.3)
    ax_loss, ax_accuracy = fig.subplots(1, 2)
    if rows:
        _draw_loss(ax_loss, rows)
        _draw_accuracy(ax_accuracy, rows)
    else:
        _placeholder(ax_loss, "No training history was recorded.")
        ax_accuracy.set_axis_off()
    fig.suptitle(f"Training curves ({len(rows)} recorded points)")
    return _save_png(fig, path)


def _check_confusion(confusion: NDArray[np.int64], class_names: Sequence[str]) -> NDArray[np.int64]:
    """Return ``confusion`` as ``(k, k) int64`` after checking it against ``class_names``."""
    counts = np.asarray(confusion)
    k = len(class_names)
    if counts.shape != (k, k):
        raise DataError(
            f"confusion matrix: expected shape ({k}, {k}) for {k} class names, found "
            f"{counts.shape}; pass the class names of the dataset that was evaluated"
        )
    if not np.issubdtype(counts.dtype, np.integer) or (counts < 0).any():
        raise DataError(
            f"confusion matrix: expected non-negative integer counts, found dtype {counts.dtype} "
            f"with minimum {counts.min()}; rerun evaluation (--force evaluate)"
        )
    return counts.astype(np.int64)


def plot_confusion_matrix(confusion: NDArray[np.int64], class_names: Sequence[str],
                          path: Path) -> Path:
    """Plot a ``(k, k) int64`` confusion matrix (rows true class, columns predicted).

    Cells show counts; colour shows each count as a share of its true class, on a square-root
    scale so that the few-percent confusions stay visible next to a ~95 % diagonal.
    """
    counts = _check_confusion(confusion, class_names)
    totals = counts.sum(axis=1, keepdims=True)
    share = 100.0 * np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
    from matplotlib.colors import PowerNorm

    norm = PowerNorm(gamma=0.5, vmin=0.0, vmax=100.0)
    long_names = max(len(str(name)) for name in class_names) > 3
    fig = _figure(figsize=(7.4, 6.4))
    fig.subplots_adjust(left=0.16 if long_names else 0.1, right=0.87,
                        bottom=0.2 if long_names else 0.09, top=0.89)  # fixed, not searched
    ax = fig.subplots()
    image = ax.imshow(share, cmap="Blues", norm=norm)
    colorbar = fig.colorbar(image, ax=ax, label="share of the true class (%, square-root scale)",
                            fraction=0.05, pad=0.03)
    colorbar.set_ticks([0, 1, 5, 10, 25, 50, 75, 100])
    for (row, col), count in np.ndenumerate(counts):
        color = "white" if norm(share[row, col]) > 0.6 else "black"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=8, color=color)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, labels=[str(name) for name in class_names],
                  rotation=40 if long_names else 0, ha="right" if long_names else "center")
    ax.set_yticks(ticks, labels=[str(name) for name in class_names])
    ax.set(xlabel="predicted class", ylabel="true class")
    total = int(counts.sum())
    accuracy = np.trace(counts) / total if total else float("nan")
    ax.set_title(f"Confusion matrix: {total} images, accuracy {accuracy:.2%}\n"
                 "cells: counts; colour: share of the row's true class")
    return _save_png(fig, path)


def _check_labels(y: NDArray[np.integer], n: int, n_classes: int, what: str) -> NDArray[np.int64]:
    """``y`` as ``(n,) int64`` in ``[0, n_classes)``, or DataError naming ``what``."""
    labels = np.asarray(y).ravel().astype(np.int64)
    if labels.shape != (n,) or (n and (labels.min() < 0 or labels.max() >= n_classes)):
        raise DataError(
            f"{what}: expected {n} labels in [0, {n_classes}), found shape {labels.shape} with "
            f"range [{labels.min(initial=0)}, {labels.max(initial=0)}]; pass labels that match "
            "the images and the class names"
        )
    return labels


def misclassified_indices(y_true: NDArray[np.integer], y_pred: NDArray[np.integer], *,
                          limit: int) -> NDArray[np.int64]:
    """Indices ``(m,) int64`` of the first ``limit`` rows where ``y_true != y_pred``, ascending."""
    wrong = np.flatnonzero(np.asarray(y_true).ravel() != np.asarray(y_pred).ravel())
    return wrong[:limit].astype(np.int64)


def plot_misclassified(X: NDArray[np.float32], y_true: NDArray[np.uint8], y_pred: NDArray[np.int64],
                       class_names: Sequence[str], path: Path, *, limit: int = 25) -> Path:
    """Grid of the first ``limit`` misclassified images, titled "true → predicted".

    ``X`` is ``(n, 784) float32`` standardized pixels, ``y_true`` ``(n,) uint8``, ``y_pred``
    ``(n,) int``. Each image is scaled to its own min/max (standardization removed the common
    scale). The choice is the first misclassified in order, so it is deterministic.
    """
    if limit < 1:
        raise ConfigError(f"misclassified plot: expected limit >= 1, found {limit}")
    images, _ = as_square_images(X, "misclassified plot images")
    n, k = images.shape[0], len(class_names)
    true = _check_labels(y_true, n, k, "misclassified plot true labels")
    pred = _check_labels(y_pred, n, k, "misclassified plot predicted labels")
    n_wrong = int(np.count_nonzero(true != pred))
    shown = misclassified_indices(true, pred, limit=limit)
    if shown.size == 0:
        fig = _figure(figsize=(8.5, 2.0), layout="constrained")
        _placeholder(fig.subplots(), f"No misclassified images: all {n} predictions are correct.")
        fig.suptitle("Misclassified images")
        return _save_png(fig, path)
    rows = math.ceil(shown.size / _GRID_COLUMNS)
    height = 1.8 * rows + 0.7
    fig = _figure(figsize=(8.5, height))
    ax = montage_axes(fig, height=height, top_inches=0.45)
    # Each image to its own [0, 1]: standardization removed the common scale.
    low = images[shown].min(axis=(1, 2), keepdims=True)
    span = np.maximum(images[shown].max(axis=(1, 2), keepdims=True) - low, 1e-12)
    side = images.shape[1]
    ax.imshow(montage((images[shown] - low) / span, _GRID_COLUMNS), cmap=_white_bad("gray"),
              vmin=0.0, vmax=1.0, interpolation="nearest", aspect="equal")
    label_tiles(ax, [f"{class_names[true[i]]} → {class_names[pred[i]]}" for i in shown],
                 _GRID_COLUMNS, side, fontsize=10)
    fig.suptitle(f"Misclassified images (true → predicted): first {shown.size} of {n_wrong} "
                 f"wrong out of {n}")
    return _save_png(fig, path)


def plot_hidden_weights(W_1: NDArray[np.floating], path: Path, *, limit: int = 36) -> Path:
    """Draw each hidden unit's input weights (a row of ``W_1``, ``(hidden, 784)``) as 28x28.

    Colour is per unit: weights divided by that unit's largest ``|weight|`` (printed above
    it), so each unit's pattern uses the full diverging scale and 0 is always white. At most
    ``limit`` units are drawn, keeping the PNG small enough to embed in the report.
    """
    if limit < 1:
        raise ConfigError(f"hidden weights plot: expected limit >= 1, found {limit}")
    weights, _ = as_square_images(W_1, "hidden weights W_1")
    shown = weights[:limit]
    columns = min(shown.shape[0], max(_GRID_COLUMNS, math.ceil(math.sqrt(shown.shape[0]))))
    rows = max(1, math.ceil(shown.shape[0] / columns))
    cell = min(1.7, 14.0 / columns)
    width, height = cell * columns + 1.0, cell * rows + 1.0
    fig = _figure(figsize=(width, height))
    ax = montage_axes(fig, height=height, top_inches=0.75, right=1 - 0.9 / width)
    scales = np.abs(shown).max(axis=(1, 2))
    normalized = shown / np.where(scales > 0, scales, 1.0)[:, None, None]
    image = ax.imshow(montage(normalized, columns), cmap=_white_bad("RdBu_r"), vmin=-1.0, vmax=1.0,
                      interpolation="nearest", aspect="equal")
    label_tiles(ax, [f"unit {u}  ±{scale:.2g}" for u, scale in enumerate(scales)], columns,
                 shown.shape[1], fontsize=8 if columns <= 6 else 6)
    colorbar_axes = fig.add_axes((1 - 0.75 / width, 0.2, 0.18 / width, 0.6))
    fig.colorbar(image, cax=colorbar_axes, label="weight ÷ the unit's max |weight|")
    fig.suptitle(f"Input weights of hidden units ({shown.shape[0]} of {weights.shape[0]} shown)\n"
                 "colour scale per unit, symmetric about 0: red > 0, blue < 0")
    return _save_png(fig, path)


def write_all_plots(*, history: Sequence[Mapping[str, float]], confusion: NDArray[np.int64],
                    class_names: Sequence[str], X_test: NDArray[np.float32],
                    y_test: NDArray[np.uint8], y_pred: NDArray[np.int64], W_1: NDArray[np.floating],
                    out_dir: Path) -> dict[str, Path]:
    """Write the four plots into ``out_dir``; return ``{file name: path}`` in PLOT_NAMES order."""
    out_dir = Path(out_dir)
    curves, matrix, wrong, weights = (out_dir / name for name in PLOT_NAMES)
    return {
        curves.name: plot_training_curves(history, curves),
        matrix.name: plot_confusion_matrix(confusion, class_names, matrix),
        wrong.name: plot_misclassified(X_test, y_test, y_pred, class_names, wrong),
        weights.name: plot_hidden_weights(W_1, weights),
    }
