"""How much ink real digits hold, against pictures that hold none: the numbers behind
``MIN_INK`` in ``tasks/core/images.py``.

Ink is :func:`tasks.core.images.ink_in_frame`: fully inked pixels of a 28x28 frame that shows
the whole picture (for an MNIST digit, the sum of its pixels / 255). Prints, for MNIST's
training and test digits, the least ink, the 0.1st and 1st percentiles and the median; the
least ink of MNIST digits drawn the way the tests draw users' pictures, and how many of them
would be refused; and the ink of pictures that are no digit. No training; about 2 minutes.

    python bench/bench_ink.py [--mirror /path/to/mnist]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.core.idx import parse_idx_images
from tasks.core.images import MIN_INK, ink_above_paper, ink_in_frame

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def ink(gray: np.ndarray) -> float:
    return ink_in_frame(ink_above_paper(gray))


def on_page(digit: np.ndarray, size: int, page: int) -> np.ndarray:
    """``digit`` scaled to ``size`` px in the corner of a white ``page`` px page, dark ink: the
    way tests/integration/test_retraining_week.py and bench/bench_intake.py draw them."""
    drawn = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    canvas = np.zeros((page, page), np.uint8)
    canvas[:size, :size] = drawn
    return 255 - canvas


def cropped(digit: np.ndarray) -> np.ndarray:
    """``digit`` dark on white, cut to its bounding box: no margin of paper left."""
    rows = np.flatnonzero((digit > 64).any(axis=1))
    cols = np.flatnonzero((digit > 64).any(axis=0))
    return 255 - digit[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def no_digits() -> dict[str, np.ndarray]:
    """Pictures that hold no digit, as the grayscale the intake decodes them to."""
    dot = np.full((28, 28), 255, np.uint8)
    dot[14, 14] = 0
    speck = np.full((200, 200), 255, np.uint8)
    speck[90:93, 120:123] = 200
    grain = np.random.default_rng(0).normal(235, 8, (200, 200)).clip(0, 255).astype(np.uint8)
    return {"blank white page 200x200": np.full((200, 200), 255, np.uint8),
            "white ink on transparent (composited onto white)": np.full((64, 64), 255, np.uint8),
            "one black pixel on a 28x28 picture": dot,
            "faint 3x3 speck (grey 200) on a 200x200 page": speck,
            "scanned blank page (grey 235, std 8), 200x200": grain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    args = parser.parse_args()
    splits = {}
    for split, name in (("train", "train-images-idx3-ubyte.gz"),
                        ("test", "t10k-images-idx3-ubyte.gz")):
        with gzip.open(args.mirror / name) as stream:
            splits[split] = parse_idx_images(stream.read(), name)
    print(f"MIN_INK = {MIN_INK:g} (a picture with no more ink is no digit)\n")
    print(f"{'MNIST digits':50s} {'min':>6s} {'p0.1':>6s} {'p1':>6s} {'median':>7s}")
    for split, digits in splits.items():
        amounts = np.array([ink(digit) for digit in digits])
        print(f"{split + f' ({len(digits):,})':50s} {amounts.min():6.1f} "
              f"{np.percentile(amounts, 0.1):6.1f} {np.percentile(amounts, 1):6.1f} "
              f"{np.median(amounts):7.1f}")
    drawn: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "20 px on an 80 px page (retraining week, least)": lambda d: on_page(d, 20, 80),
        "60 px on a 200 px page (bench_intake, least)": lambda d: on_page(d, 60, 200),
        "90 px on a 200 px page (images on paper)": lambda d: on_page(d, 90, 200),
        "cut to its bounding box, no margin": cropped,
    }
    print(f"\n{'MNIST training digits drawn as a user would':50s} {'min':>6s}  below MIN_INK")
    for label, draw in drawn.items():
        amounts = np.array([ink(draw(digit)) for digit in splits["train"]])
        print(f"{label:50s} {amounts.min():6.2f}  {int((amounts <= MIN_INK).sum())} "
              f"of {len(amounts):,}")
    print(f"\n{'no digit':50s} {'ink':>6s}")
    for label, gray in no_digits().items():
        print(f"{label:50s} {ink(gray):6.2f}")


if __name__ == "__main__":
    main()
