"""User pictures become network inputs preprocessed exactly like the training set."""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError
from tasks.core.idx import parse_idx_images
from tasks.core.images import (
    MIN_INK,
    NoDigitError,
    ink_above_paper,
    ink_in_frame,
    load_mnist_digit,
    load_user_image,
    mnist_like_pixels,
)


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


def test_white_on_black_is_not_inverted() -> None:
    np.testing.assert_array_equal(mnist_like_pixels(255 - _page(50, 50)),
                                  mnist_like_pixels(_page(50, 50)))


def _speck(size: int, dot: int, grey: int) -> np.ndarray:
    page = np.full((size, size), 255, np.uint8)
    page[size // 2:size // 2 + dot, size // 3:size // 3 + dot] = grey
    return page


NO_DIGIT = {
    "blank page": np.full((40, 60), 255, np.uint8),
    "black page": np.zeros((28, 28), np.uint8),
    "one black pixel on 28x28": _speck(28, 1, 0),
    "faint 3x3 speck on 200x200": _speck(200, 3, 200),
    "black 5x5 dot on 300x300": _speck(300, 5, 0),
    "scanned blank page (grain std 8)": np.random.default_rng(0).normal(
        235, 8, (200, 300)).clip(0, 255).astype(np.uint8),
}


@pytest.mark.parametrize("name", NO_DIGIT)
def test_a_picture_without_a_digit_is_refused_not_turned_into_zeros(name: str) -> None:
    with pytest.raises(NoDigitError, match=r"^no digit found \(its ink fills \d"):
        mnist_like_pixels(NO_DIGIT[name])


def test_forcing_the_wrong_inversion_leaves_no_digit() -> None:
    with pytest.raises(NoDigitError):
        mnist_like_pixels(_page(50, 50), invert=False)  # dark ink read as paper


def test_white_ink_on_a_transparent_background_is_no_digit(tmp_path: Path) -> None:
    """Transparent pixels are paper (white): white ink on them leaves nothing."""
    rgba = np.zeros((64, 64, 4), np.uint8)
    rgba[10:54, 28:36] = (255, 255, 255, 255)  # a white "1", opaque, on clear pixels
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "white.png")
    with pytest.raises(NoDigitError):
        load_mnist_digit(tmp_path / "white.png")
    rgba[10:54, 28:36] = (0, 0, 0, 255)  # the same "1" in black ink is a digit
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "black.png")
    assert load_mnist_digit(tmp_path / "black.png").max() == 255


def test_the_ink_threshold_is_far_below_every_mnist_digit(mnist_mirror: Path) -> None:
    """The measure is MNIST's own on its digits (sum / 255), and the least-inked of the 10,000
    test digits holds over 20 times MIN_INK (bench/bench_ink.py prints the numbers)."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        digits = parse_idx_images(stream.read(), "t10k-images")
    amounts = np.array([ink_in_frame(ink_above_paper(digit)) for digit in digits])
    np.testing.assert_allclose(amounts, digits.sum(axis=(1, 2)) / 255, rtol=1e-6)
    assert amounts.min() > 20 * MIN_INK


def test_a_digit_cut_to_its_bounding_box_is_still_a_digit(mnist_mirror: Path) -> None:
    """Ink running along the border is no paper grain: none of 2,000 MNIST test digits, cut
    tight and drawn dark on white, is refused (measuring grain by the spread of the border's
    cells, not their neighbours' differences, refused 60 of them)."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        digits = parse_idx_images(stream.read(), "t10k-images")[:2000]
    amounts = []
    for digit in digits:
        rows = np.flatnonzero((digit > 64).any(axis=1))
        cols = np.flatnonzero((digit > 64).any(axis=0))
        cut = 255 - digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
        amounts.append(ink_in_frame(ink_above_paper(cut)))
    assert min(amounts) > 10 * MIN_INK


def test_a_real_digit_drawn_on_paper_is_accepted(mnist_mirror: Path, tmp_path: Path) -> None:
    """The least-inked MNIST test digit, dark on white, 4x larger, in a PNG."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        digits = parse_idx_images(stream.read(), "t10k-images")
    faintest = digits[int(digits.sum(axis=(1, 2)).argmin())]
    Image.fromarray(255 - faintest).resize((112, 112)).save(tmp_path / "faint.png")
    digit = load_mnist_digit(tmp_path / "faint.png")
    assert np.corrcoef(digit.ravel(), faintest.ravel())[0, 1] > 0.9


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_non_images_raise_data_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"digit\.png"):
        load_user_image(path)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_user_image(tmp_path / "nope.png")


def test_a_folder_is_named_as_one(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=rf"^{re.escape(str(tmp_path))} is a folder; pass"):
        load_user_image(tmp_path)


def test_an_mnist_digit_comes_back_nearly_unchanged(mnist_mirror: Path) -> None:
    """MNIST's own digits already fit 20x20 and sit by centre of mass: the steps change them
    little (a faint edge pixel may shift the box by one)."""
    with gzip.open(mnist_mirror / "t10k-images-idx3-ubyte.gz") as stream:
        digits = parse_idx_images(stream.read(), "t10k-images")[:200]
    alike = [np.corrcoef(mnist_like_pixels(digit).ravel(), digit.ravel())[0, 1]
             for digit in digits]
    assert np.percentile(alike, 5) > 0.99 and np.median(alike) > 0.9999
