"""How well predict reads MNIST test digits drawn as dark ink on a 200x200 white page.

Renders the first ``--count`` test digits in the placements of
``tests/core/test_images_on_paper.py`` (filling the page, centred with a margin, shifted,
rotated and shifted) and, separately, rotated by fixed angles; counts correct predictions of
the ``fast`` preset (trained here, ~1 min) with today's MNIST-like preprocessing, against the
plain MNIST images of the same digits and against the plain resize to 28x28 that predict used
before (the baseline, in this file).

    python bench/bench_paper_digits.py [--mirror /path/to/mnist] [--count 1000]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests' page renderer

from tasks.core.datasets import standardize_images
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.images import mnist_like_pixels
from tasks.core.network import predict
from tasks.core.train import train_network
from tasks.core.train_config import get_preset
from tests.core.test_images_on_paper import PLACEMENTS, rotated_page

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def _read(mirror: Path, name: str, parse: Callable[[bytes, str], np.ndarray]) -> np.ndarray:
    with gzip.open(mirror / name) as stream:
        return parse(stream.read(), name)


def resized_only(page: np.ndarray) -> np.ndarray:
    """The baseline: resize to 28x28, invert when the border is light (predict until now)."""
    small = np.asarray(Image.fromarray(page).resize((28, 28), Image.Resampling.LANCZOS))
    border = np.concatenate([small[0], small[-1], small[:, 0], small[:, -1]])
    return 255 - small if border.mean() > 127 else small


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args()
    X_train = _read(args.mirror, "train-images-idx3-ubyte.gz", parse_idx_images)
    y_train = _read(args.mirror, "train-labels-idx1-ubyte.gz", parse_idx_labels)
    digits = _read(args.mirror, "t10k-images-idx3-ubyte.gz", parse_idx_images)[:args.count]
    labels = _read(args.mirror, "t10k-labels-idx1-ubyte.gz", parse_idx_labels)[:args.count]
    params = train_network(standardize_images(X_train), y_train, standardize_images(digits),
                           labels, get_preset("fast")).params

    def correct(images: list[np.ndarray]) -> int:
        return int((predict(params, standardize_images(np.stack(images))) == labels).sum())

    print(f"{args.count} MNIST test digits, fast preset; plain MNIST images: "
          f"{correct(list(digits))} correct")
    print(f"{'placement':28s} {'MNIST-like':>10s} {'resize only':>12s}")
    for name, render in PLACEMENTS.items():
        pages = [render(digit, index) for index, digit in enumerate(digits)]
        print(f"{name:28s} {correct([mnist_like_pixels(p) for p in pages]):10d} "
              f"{correct([resized_only(p) for p in pages]):12d}")
    for angle in (3, 5, 8, 10, 15, 20):
        counts = [correct([mnist_like_pixels(rotated_page(digit, index, sign * angle))
                           for index, digit in enumerate(digits)]) for sign in (1, -1)]
        print(f"rotated by +-{angle:2d} degrees     {counts[0]:10d} / {counts[1]} (+ / -)")


if __name__ == "__main__":
    main()
