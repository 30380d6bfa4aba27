"""Digits drawn on a sheet of paper are read as well as the plain MNIST images they came from.

Fifty MNIST test digits are rendered as dark ink on a 200x200 white page in four placements;
each page goes through the very function the prediction command uses. The target (issue 13):
in every placement, at least as many correct readings as from the plain images, less one.
"""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.images import load_user_image
from tasks.core.network import predict

PAGE = 200
N_DIGITS = 50


def _ink(digit: np.ndarray, size: int) -> Image.Image:
    return Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR)


def _on_page(ink: Image.Image, top: int, left: int) -> np.ndarray:
    canvas = np.zeros((PAGE, PAGE), np.uint8)
    pixels = np.asarray(ink)
    canvas[top:top + pixels.shape[0], left:left + pixels.shape[1]] = pixels
    return 255 - canvas  # dark ink on white paper


def _filling(digit: np.ndarray, index: int) -> np.ndarray:
    return _on_page(_ink(digit, PAGE), 0, 0)


def _centred(digit: np.ndarray, index: int) -> np.ndarray:
    return _on_page(_ink(digit, 90), 55, 55)


def _shifted(digit: np.ndarray, index: int) -> np.ndarray:
    corners = [(5, 5), (5, 105), (105, 5), (105, 105), (60, 8), (8, 60)]
    return _on_page(_ink(digit, 90), *corners[index % len(corners)])


def rotated_page(digit: np.ndarray, index: int, angle: float) -> np.ndarray:
    """The digit turned by ``angle`` degrees and put somewhere on the page."""
    ink = _ink(digit, 90).rotate(angle, resample=Image.Resampling.BILINEAR, expand=True)
    room = PAGE - ink.size[0]
    return _on_page(ink, (index * 37) % room, (index * 61) % room)


def _rotated_shifted(digit: np.ndarray, index: int) -> np.ndarray:
    # A sheet photographed a little askew. MNIST holds slanted digits but no rotated ones, so
    # the network itself is not rotation-invariant: measured on 1,000 digits
    # (bench/bench_paper_digits.py), +-5 degrees cost nothing, +-8 about 2 points, +-15 about 6.
    return rotated_page(digit, index, (-6.0, -3.0, 3.0, 6.0)[index % 4])


PLACEMENTS: dict[str, Callable[[np.ndarray, int], np.ndarray]] = {
    "filling the page": _filling, "centred with a margin": _centred,
    "shifted": _shifted, "rotated and shifted": _rotated_shifted,
}


@pytest.fixture(scope="module")
def test_digits(mnist_mirror: Path) -> tuple[np.ndarray, np.ndarray]:
    """The first 50 raw MNIST test digits ``(50, 28, 28) uint8`` and labels ``(50,) uint8``."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        images = parse_idx_images(stream.read(), "t10k-images")
    with gzip.open(mnist_mirror / "t10k-labels-idx1-ubyte.gz") as stream:
        labels = parse_idx_labels(stream.read(), "t10k-labels")
    return images[:N_DIGITS], labels[:N_DIGITS]


@pytest.mark.parametrize("placement", list(PLACEMENTS))
def test_pages_read_as_well_as_plain_mnist_less_one(placement: str, test_digits, fast_params,
                                                    tmp_path: Path) -> None:
    digits, labels = test_digits
    plain = int((predict(fast_params, standardize_images(digits)) == labels).sum())
    rows = []
    for index, digit in enumerate(digits):
        path = tmp_path / f"{index}.png"
        Image.fromarray(PLACEMENTS[placement](digit, index)).save(path)
        rows.append(load_user_image(path))
    on_paper = int((predict(fast_params, np.stack(rows)) == labels).sum())
    print(f"{placement}: {on_paper}/{N_DIGITS} on paper, {plain}/{N_DIGITS} plain")
    assert on_paper >= plain - 1, f"{placement}: {on_paper} correct on paper, {plain} plain"
