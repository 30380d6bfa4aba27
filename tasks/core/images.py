"""Turning a picture of a digit into one network input, preprocessed the way MNIST was built.

MNIST's digits are white strokes on black: each was scaled so its bounding box fits 20x20 with
its aspect ratio kept (anti-aliased), then placed in a 28x28 frame so that its centre of mass
sits at the centre. A user's picture (any size or mode, often dark ink on white paper, the
digit anywhere on the sheet) goes through the same steps, then through the very function that
standardized the training set. The prediction command and the intake stage both call
:func:`load_mnist_digit` (decode, then :func:`mnist_like_pixels`), so a picture is seen the
same way in training and in use, and a picture without a digit is refused the same way:
:class:`NoDigitError`.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.errors import DataError
from tasks.core.inbox import printable_name

SIDE = 28
BOX = 20  # MNIST's digits fit a 20x20 box inside the 28x28 frame
# A digit needs far fewer pixels; refusing larger headers before decoding keeps a crafted
# "decompression bomb" (tiny file, gigapixel header) from filling memory.
MAX_PIXELS = 40_000_000
# Ink fainter than this share of the darkest stroke is paper texture, JPEG noise or shadow;
# it does not count towards the bounding box.
BOX_INK_SHARE = 0.25
# A picture with no more ink than this is no digit: blank paper, white ink on a transparent
# background (composited onto white), a speck. Ink is counted in fully inked pixels of a 28x28
# frame showing the whole picture, MNIST's own frame (:func:`ink_in_frame`; for an MNIST digit,
# the sum of its pixels / 255). Measured by `python bench/bench_ink.py`: the least-inked of
# MNIST's 60,000 training digits holds 19.9 (10,000 test digits: 22.0; medians 100). One pixel
# is a twentieth of that and is a speck's ink: a black dot 1/28 of the picture's side, or a
# larger, fainter one. The smallest digits the tests draw (training digits scaled to 20 px on
# an 80 px page) hold 1.64 or more. Higher refuses small digits on big pages; lower trains on
# specks.
MIN_INK = 1.0


class ImageTooLargeError(DataError):
    """The picture's header declares more than :data:`MAX_PIXELS` (a decompression bomb, or
    a poster-sized scan): refused before decoding."""


class NoDigitError(DataError):
    """The picture decodes but holds no more ink than :data:`MIN_INK`: nothing to classify or
    to train on. The message starts ``no digit found``; callers add the file's name."""


def load_user_image(path: Path, *, invert: bool | None = None) -> NDArray[np.float32]:
    """Load ``path`` (PNG, JPEG, ... any size or mode) as one standardized ``(784,) float32`` row.

    ``invert=None`` inverts when the picture's border is mostly light (dark ink on paper);
    ``True`` / ``False`` force it. Raises :class:`DataError` naming the file if it is missing
    or not an image, and :class:`NoDigitError` if it holds no digit.
    """
    return standardize_images(load_mnist_digit(path, invert=invert)[None])[0]


def load_mnist_digit(path: Path, *, invert: bool | None = None) -> NDArray[np.uint8]:
    """The picture at ``path`` as an MNIST digit ``(28, 28) uint8``: the one path from a file
    to a digit, for the intake, ``predict`` and any other reader of users' pictures.

    Raises :class:`DataError` naming the file when it is not a readable image, and
    :class:`NoDigitError` when it holds no digit.
    """
    return mnist_like_pixels(read_grayscale(path), invert=invert)


def mnist_like_pixels(gray: NDArray[np.uint8], *, invert: bool | None = None,
                      ) -> NDArray[np.uint8]:
    """A grayscale picture ``(H, W) uint8`` as an MNIST digit ``(28, 28) uint8``, white on black.

    Steps: invert dark-on-light pictures (``invert=None`` decides by the border's median);
    subtract the paper's level (the border's median) so only ink is left; crop to the bounding
    box of the ink; scale it so its longer side is 20 pixels (aspect kept, anti-aliased); paste
    it into 28x28 with its centre of mass at the centre. Raises :class:`NoDigitError` when the
    picture's ink (:func:`ink_in_frame`) is no more than :data:`MIN_INK`.
    """
    above = ink_above_paper(gray, invert=invert)
    amount = ink_in_frame(above)
    if amount <= MIN_INK:
        raise NoDigitError(f"no digit found (its ink fills {amount:.2f} of the 784 pixels of a "
                           f"28x28 view; a digit fills more than {MIN_INK:g}): crop the picture "
                           f"to the digit or draw it darker")
    ink = np.clip(above, 0, None)
    peak = float(ink.max())
    rows = np.flatnonzero((ink >= BOX_INK_SHARE * peak).any(axis=1))
    cols = np.flatnonzero((ink >= BOX_INK_SHARE * peak).any(axis=0))
    crop = ink[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] * (255 / peak)
    return _centre_by_mass(_fit_box(crop.round().astype(np.uint8)))


def ink_above_paper(gray: NDArray[np.uint8], *, invert: bool | None = None,
                    ) -> NDArray[np.float32]:
    """``gray (H, W)`` as ink levels above the paper's, ``(H, W) float32``: white on black
    (inverted when ``invert``, or when the border's median is light if ``invert=None``), minus
    the border's median. Negative where the paper is lighter than its median."""
    pixels = np.asarray(gray, dtype=np.float32)
    assert pixels.ndim == 2 and pixels.size, pixels.shape
    if invert is None:
        invert = float(np.median(_border(pixels))) > 127
    if invert:
        pixels = 255 - pixels
    return pixels - float(np.median(_border(pixels)))


def ink_in_frame(above: NDArray[np.floating]) -> float:
    """A picture's ink in fully inked pixels of a 28x28 frame that shows all of it.

    ``above (H, W)``: :func:`ink_above_paper`. Averaging areas onto 28x28 keeps a stroke's
    mass while paper grain averages out; the paper's level and what grain is left are measured
    on the frame's border, and only ink more than 3 standard deviations of grain above the
    paper counts, so a scanned blank page is blank. For an MNIST digit (black border, already
    28x28) this is the sum of its pixels / 255.
    """
    view = Image.fromarray(np.asarray(above, dtype=np.float32), mode="F")
    frame = np.asarray(view.resize((SIDE, SIDE), Image.Resampling.BOX), dtype=np.float64)
    border = _border(frame)
    # Grain from the differences of neighbouring border cells (the median absolute one, as a
    # standard deviation): a digit cut so tight that ink runs along the border changes smoothly
    # there and barely moves it, where it would swamp the border's spread.
    grain = 1.4826 * float(np.median(np.abs(np.diff(border)))) / np.sqrt(2)
    paper = float(np.median(border))
    return float(np.clip(frame - paper - 3 * grain, 0, None).sum()) / 255


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
    """The image at ``path`` as ``(H, W) uint8`` grayscale (alpha composited onto white).

    Raises :class:`DataError` naming the file for a folder, a missing file, and any failure
    to decode it.
    """
    path = Path(path)
    shown = printable_name(str(path))  # a name that is not UTF-8 shows its bytes as \xNN
    if path.is_dir():
        raise DataError(f"{shown} is a folder; pass the pictures in it (e.g. {shown}/*.png)")
    if not path.is_file():
        raise DataError(f"image {shown} does not exist; pass the path of a PNG or JPEG file")
    return decode_grayscale(path, shown, repr(str(path)))


def digit_from_bytes(data: bytes, *, name: str = "the picture") -> NDArray[np.float32]:
    """An encoded picture (PNG, JPEG, ... bytes) as one standardized ``(784,) float32`` row:
    the path of :func:`load_user_image` for pictures that are no file (an HTTP body).

    Raises :class:`ImageTooLargeError`, :class:`DataError` (not an image) and
    :class:`NoDigitError` as :func:`load_user_image` does.
    """
    buffer = io.BytesIO(data)
    # Pillow's words quote the buffer as repr() writes it: replaced by ``name``
    return digit_from_pixels(decode_grayscale(buffer, name, repr(buffer)))


def digit_from_pixels(gray: NDArray[np.uint8]) -> NDArray[np.float32]:
    """A grayscale picture ``(H, W) uint8`` (a 28x28 drawing sent as numbers) as one
    standardized ``(784,) float32`` row, by the same steps as a decoded picture."""
    return standardize_images(mnist_like_pixels(gray)[None])[0]


def decode_grayscale(source: Path | BinaryIO, shown: str, quoted: str | None = None,
                     ) -> NDArray[np.uint8]:
    """Decode ``source`` (a file or bytes) as ``(H, W) uint8`` grayscale; errors name it
    ``shown`` (Pillow's words quote it as ``quoted``, replaced by ``shown``)."""
    try:
        with Image.open(source) as image:
            _check_size(shown, image.size)
            image.load()
            gray = np.asarray(_to_gray(image), dtype=np.uint8).copy()
    except DataError:
        raise
    except Image.DecompressionBombError as error:  # its header alone is over Pillow's limit
        raise ImageTooLargeError(f"image {shown} is refused before decoding: {error}; expected "
                                 f"at most {MAX_PIXELS:,} pixels") from None
    except Exception as error:
        # Pillow picks its decoder by content, not by name: a ".png" may reach any of ~40
        # plugins, each with its own failures (NotImplementedError for an odd DDS, struct.error,
        # IndexError, MemoryError on a crafted header ...). Only the decode is inside this try,
        # and Exception leaves KeyboardInterrupt and SystemExit to stop the run. Pillow's words
        # may quote the name as repr() writes it: shown as in the rest of the message.
        why = printable_name(_describe(error))
        if quoted is not None:
            why = why.replace(quoted, f"'{shown}'" if quoted.startswith("'") else shown)
        raise DataError(f"{shown} is not a readable image ({why}); pass a PNG or JPEG of a "
                        f"handwritten digit") from None
    return gray


def _describe(error: Exception) -> str:
    """Pillow's own words for the usual failures; other exceptions name their type too."""
    text = str(error)
    if text and isinstance(error, OSError | ValueError | SyntaxError | EOFError):
        return text
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _check_size(path: str, size: tuple[int, int]) -> None:
    width, height = size
    if width < 1 or height < 1 or width * height > MAX_PIXELS:
        refusal = ImageTooLargeError if width * height > MAX_PIXELS else DataError
        raise refusal(f"image {path} is {width}x{height} pixels; expected at least 1x1 and at "
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
