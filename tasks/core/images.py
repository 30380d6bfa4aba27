"""Turning a picture of a digit into one network input, preprocessed the way MNIST was built.

MNIST's digits are white strokes on black: each was scaled so its bounding box fits 20x20 with
its aspect ratio kept (anti-aliased), then placed in a 28x28 frame so that its centre of mass
sits at the centre. A user's picture (any size or mode, often dark ink on white paper, the
digit anywhere on the sheet) goes through the same steps, then through the very function that
standardized the training set. The prediction command and the intake stage both call
:func:`mnist_like_pixels`, so a picture is seen the same way in training and in use.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError

SIDE = 28
BOX = 20  # MNIST's digits fit a 20x20 box inside the 28x28 frame
# A digit needs far fewer pixels; refusing larger headers before decoding keeps a crafted
# "decompression bomb" (tiny file, gigapixel header) from filling memory.
MAX_PIXELS = 40_000_000
# Ink fainter than this share of the darkest stroke is paper texture, JPEG noise or shadow;
# it does not count towards the bounding box.
INK_THRESHOLD = 0.25


def load_user_image(path: Path, *, invert: bool | None = None) -> NDArray[np.float32]:
    """Load ``path`` (PNG, JPEG, ... any size or mode) as one standardized ``(784,) float32`` row.

    ``invert=None`` inverts when the picture's border is mostly light (dark ink on paper);
    ``True`` / ``False`` force it. Raises :class:`DataError` naming the file if it is missing
    or not an image.
    """
    return standardize_images(mnist_like_pixels(read_grayscale(path), invert=invert)[None])[0]


def mnist_like_pixels(gray: NDArray[np.uint8], *, invert: bool | None = None,
                      ) -> NDArray[np.uint8]:
    """A grayscale picture ``(H, W) uint8`` as an MNIST digit ``(28, 28) uint8``, white on black.

    Steps: invert dark-on-light pictures (``invert=None`` decides by the border's median);
    subtract the paper's level (the border's median) so only ink is left; crop to the bounding
    box of the ink; scale it so its longer side is 20 pixels (aspect kept, anti-aliased); paste
    it into 28x28 with its centre of mass at the centre. A picture without ink gives all zeros.
    """
    pixels = np.asarray(gray, dtype=np.float32)
    assert pixels.ndim == 2 and pixels.size, pixels.shape
    if invert is None:
        invert = float(np.median(_border(pixels))) > 127
    if invert:
        pixels = 255 - pixels
    ink = np.clip(pixels - float(np.median(_border(pixels))), 0, None)
    peak = float(ink.max())
    if peak <= 0:
        return np.zeros((SIDE, SIDE), dtype=np.uint8)
    rows = np.flatnonzero((ink >= INK_THRESHOLD * peak).any(axis=1))
    cols = np.flatnonzero((ink >= INK_THRESHOLD * peak).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] * (255 / peak)
    return _centre_by_mass(_fit_box(crop.round().astype(np.uint8)))


def _fit_box(crop: NDArray[np.uint8]) -> NDArray[np.float32]:
    """``(h, w)`` -> ``(h', w') float32`` with ``max(h', w') == BOX``, aspect ratio kept."""
    height, width = crop.shape
    scale = BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # LANCZOS on a shrink averages over the whole footprint, like MNIST's anti-aliasing.
    resized = Image.fromarray(crop, mode="L").resize(size, Image.Resampling.LANCZOS)
    return np.asarray(resized, dtype=np.float32)


def _centre_by_mass(glyph: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Paste ``glyph (h, w)`` into a ``(28, 28)`` frame with its centre of mass at the centre."""
    mass = float(glyph.sum())
    if mass <= 0:
        return np.zeros((SIDE, SIDE), dtype=np.uint8)
    ys, xs = np.indices(glyph.shape)
    # Measured on MNIST's training digits: the centre of mass sits at (14.0, 14.0) in pixel
    # indices (std 0.29), not at the frame's geometric centre (13.5, 13.5).
    centre = SIDE / 2
    top = round(centre - float((ys * glyph).sum()) / mass)
    left = round(centre - float((xs * glyph).sum()) / mass)
    frame = np.zeros((SIDE, SIDE), dtype=np.float32)
    # a lopsided glyph may overhang the frame by a few pixels: those are cut, as in MNIST
    y0, x0 = max(top, 0), max(left, 0)
    y1 = min(top + glyph.shape[0], SIDE)
    x1 = min(left + glyph.shape[1], SIDE)
    frame[y0:y1, x0:x1] = glyph[y0 - top:y1 - top, x0 - left:x1 - left]
    return np.clip(frame, 0, 255).round().astype(np.uint8)


def read_grayscale(path: Path) -> NDArray[np.uint8]:
    """The image at ``path`` as ``(H, W) uint8`` grayscale (alpha composited onto white)."""
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


def _border(pixels: NDArray[np.floating]) -> NDArray[np.floating]:
    return np.concatenate([pixels[0], pixels[-1], pixels[1:-1, 0], pixels[1:-1, -1]])
