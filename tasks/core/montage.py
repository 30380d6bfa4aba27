"""Many small square images on one axes: one image drawn once instead of one axes per tile.

Used by the misclassified-images and hidden-weights plots (:mod:`tasks.core.plots`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import DataError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

_GAP = 6  # pixels between montage tiles, room for their labels


def as_square_images(X: NDArray[np.float32], what: str) -> tuple[NDArray[np.float64], int]:
    """Reshape ``(n, side*side)`` rows into ``(n, side, side) float64``; return them and side."""
    X = np.asarray(X, dtype=np.float64)
    side = math.isqrt(X.shape[1]) if X.ndim == 2 else 0
    if X.ndim != 2 or side * side != X.shape[1] or side == 0:
        raise DataError(
            f"{what}: expected a (n, side*side) array of flattened square images such as "
            f"(n, 784), found shape {X.shape}; pass the flattened pixel matrix"
        )
    return X.reshape(X.shape[0], side, side), side


def montage(tiles: NDArray[np.float64], columns: int) -> NDArray[np.float64]:
    """Tile ``(n, side, side)`` images into one ``(rows*(side+2), columns*(side+2))`` image.

    Gaps and empty cells are NaN, drawn in the background colour. One image on one axes draws
    ~10x faster than one axes per tile (each axes builds ticks and a layout of its own).
    """
    n, side, _ = tiles.shape
    rows, cell = max(1, math.ceil(n / columns)), side + _GAP
    canvas = np.full((rows * cell, columns * cell), np.nan)
    for i, tile in enumerate(tiles):
        top, left = (i // columns) * cell + _GAP // 2, (i % columns) * cell + _GAP // 2
        canvas[top:top + side, left:left + side] = tile
    return canvas


def montage_axes(fig: Figure, *, height: float, top_inches: float, right: float = 0.98) -> Axes:
    ax = fig.add_axes((0.02, 0.02, right - 0.02, 1 - top_inches / height - 0.02))
    ax.set_axis_off()
    return ax


def label_tiles(ax: Axes, labels: Sequence[str], columns: int, side: int, fontsize: float) -> None:
    """Write ``labels[i]`` just above tile ``i`` of a :func:`montage` drawn on ``ax``."""
    cell = side + _GAP
    for i, label in enumerate(labels):
        x = (i % columns) * cell + cell / 2 - 0.5
        y = (i // columns) * cell + _GAP // 2 - 0.8
        ax.text(x, y, label, ha="center", va="bottom", fontsize=fontsize)
