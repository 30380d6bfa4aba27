"""User pictures become network inputs preprocessed exactly like the training set."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError
from tasks.core.idx import parse_idx_images
from tasks.core.images import load_user_image, mnist_like_pixels


def _digit() -> np.ndarray:
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[5:23, 12:16] = 255  # a "1": white stroke on black, like MNIST
    pixels[6:9, 9:12] = 180
    return pixels


def test_a_png_goes_through_the_mnist_steps_then_the_training_standardization(
        tmp_path: Path) -> None:
    Image.fromarray(_digit(), mode="L").save(tmp_path / "one.png")
    row = load_user_image(tmp_path / "one.png")
    assert row.shape == (784,) and row.dtype == np.float32
    np.testing.assert_array_equal(row, standardize_images(mnist_like_pixels(_digit())[None])[0])


def _page(top: int, left: int, paper: int = 255) -> np.ndarray:
    """A dark 100x40 bar on a 300x300 page of gray level ``paper``."""
    page = np.full((300, 300), paper, np.uint8)
    page[top:top + 100, left:left + 40] = 10
    return page


def test_the_bounding_box_fits_20x20_with_its_aspect_ratio_and_is_centred_by_mass() -> None:
    digit = mnist_like_pixels(_page(30, 200))
    assert digit.dtype == np.uint8 and digit.shape == (28, 28)
    rows = np.flatnonzero((digit > 64).any(axis=1))
    cols = np.flatnonzero((digit > 64).any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20  # the longer side (100 px) became 20
    assert 7 <= cols[-1] - cols[0] + 1 <= 9  # 40 px wide -> 8, aspect ratio kept
    ys, xs = np.indices(digit.shape)
    mass = digit.sum()
    assert abs((ys * digit).sum() / mass - 14) <= 0.5  # where MNIST puts it
    assert abs((xs * digit).sum() / mass - 14) <= 0.5


def test_where_the_digit_sits_on_the_page_does_not_matter() -> None:
    np.testing.assert_array_equal(mnist_like_pixels(_page(0, 0)), mnist_like_pixels(_page(150, 90)))


def test_gray_paper_is_background_not_ink() -> None:
    on_gray = mnist_like_pixels(_page(100, 100, paper=190))
    np.testing.assert_array_equal(on_gray > 0, mnist_like_pixels(_page(100, 100)) > 0)


def test_white_on_black_is_not_inverted_and_a_blank_page_is_all_zeros() -> None:
    np.testing.assert_array_equal(mnist_like_pixels(255 - _page(50, 50)),
                                  mnist_like_pixels(_page(50, 50)))
    np.testing.assert_array_equal(mnist_like_pixels(np.full((40, 60), 255, np.uint8)),
                                  np.zeros((28, 28), np.uint8))
    assert mnist_like_pixels(_page(50, 50), invert=False).sum() == 0  # forced: no ink left


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_non_images_raise_data_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"digit\.png"):
        load_user_image(path)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_user_image(tmp_path / "nope.png")


def test_an_mnist_digit_comes_back_nearly_unchanged(mnist_mirror: Path) -> None:
    """MNIST's own digits already fit 20x20 and sit by centre of mass: the steps change them
    little (a faint edge pixel may shift the box by one)."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        digits = parse_idx_images(stream.read(), "t10k-images")[:200]
    alike = [np.corrcoef(mnist_like_pixels(digit).ravel(), digit.ravel())[0, 1]
             for digit in digits]
    assert np.percentile(alike, 5) > 0.99 and np.median(alike) > 0.9999
