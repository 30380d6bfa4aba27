"""User pictures become network inputs preprocessed exactly like the training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError
from tasks.core.images import load_user_image


def _digit() -> np.ndarray:
    pixels = np.zeros((28, 28), dtype=np.uint8)
    pixels[5:23, 12:16] = 255  # a "1": white stroke on black, like MNIST
    pixels[6:9, 9:12] = 180
    return pixels


def test_a_28x28_mnist_style_png_is_standardized_like_training(tmp_path: Path) -> None:
    Image.fromarray(_digit(), mode="L").save(tmp_path / "one.png")
    row = load_user_image(tmp_path / "one.png")
    assert row.shape == (784,) and row.dtype == np.float32
    np.testing.assert_array_equal(row, standardize_images(_digit()[None])[0])


def test_dark_ink_on_white_large_rgba_is_inverted_and_resized(tmp_path: Path) -> None:
    big = Image.fromarray(255 - _digit(), mode="L").resize((280, 280), Image.Resampling.NEAREST)
    big.convert("RGBA").save(tmp_path / "paper.png")
    row = load_user_image(tmp_path / "paper.png")
    reference = standardize_images(_digit()[None])[0]
    assert row.shape == (784,)
    assert np.corrcoef(row, reference)[0, 1] > 0.95


@pytest.mark.parametrize("content", [b"", b"not an image at all", b"\x89PNG\r\n\x1a\ntruncated"])
def test_non_images_raise_data_error_naming_the_file(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "digit.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match=r"digit\.png"):
        load_user_image(path)


def test_missing_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_user_image(tmp_path / "nope.png")
