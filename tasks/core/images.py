"""Turning a user's picture into one network input, preprocessed exactly like training.

MNIST digits are white strokes on black. A picture of any size or mode is converted to 8-bit
grayscale, resized to 28x28, inverted when its border is mostly light (a dark digit drawn on
white paper), then standardized by the very function that standardized the training set.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError

SIDE = 28
# A digit needs far fewer pixels; refusing larger headers before decoding keeps a crafted
# "decompression bomb" (tiny file, gigapixel header) from filling memory.
MAX_PIXELS = 40_000_000


def load_user_image(path: Path, *, invert: bool | None = None) -> NDArray[np.float32]:
    """Load ``path`` (PNG, JPEG, ... any size or mode) as one standardized ``(784,) float32`` row.

    ``invert=None`` inverts when the mean border pixel is above mid-gray; ``True`` / ``False``
    force it. Raises :class:`DataError` naming the file if it is missing or not an image.
    """
    pixels = read_grayscale_28(path)
    if invert is None:
        invert = _border_mean(pixels) > 127
    if invert:
        pixels = 255 - pixels
    return standardize_images(pixels[None])[0]


def read_grayscale_28(path: Path) -> NDArray[np.uint8]:
    """The image at ``path`` as ``(28, 28) uint8`` grayscale (alpha composited onto white)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"image {path} does not exist; pass the path of a PNG or JPEG file")
    try:
        with Image.open(path) as image:
            _check_size(path, image.size)
            image.load()
            gray = _to_gray(image)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError,
            SyntaxError, EOFError) as error:
        raise DataError(f"{path} is not a readable image ({error}); pass a PNG or JPEG of a "
                        f"handwritten digit") from None
    if gray.size != (SIDE, SIDE):
        gray = gray.resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.uint8).copy()


def _check_size(path: Path, size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        raise DataError(f"image {path} is {width}x{height} pixels; expected at least 1x1 and at "
                        f"most {MAX_PIXELS:,} pixels; crop or scale the digit down")


def _to_gray(image: Image.Image) -> Image.Image:
    # Transparent pixels have arbitrary colour underneath; treat them as white paper.
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        paper = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(paper, rgba).convert("L")
    if image.mode in ("I", "I;16", "F"):
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("it holds NaN or infinite pixel values")
        span = values.max() - values.min()
        scaled = (values - values.min()) / span * 255 if span else np.zeros_like(values)
        return Image.fromarray(scaled.round().astype(np.uint8), mode="L")
    return image.convert("L")


def _border_mean(pixels: NDArray[np.uint8]) -> float:
    border = np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
    return float(border.mean())
