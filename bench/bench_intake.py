"""Benchmark the intake of 1,000 PNG pictures of digits.

Renders 1,000 MNIST training digits (the last ones of the split, never test images) as dark
ink on 200x200 white pages, each scaled and shifted, into an ImageFolder-layout folder; then
times, best of ``--repeats``: the folder digest alone (the stage's cache key), and the whole
intake (digest, checks, decode, MNIST-like centring, standardization, both Parquet files and
the manifest). The floor measured in the same run is decoding the same PNGs with Pillow.

    python bench/bench_intake.py [--mirror /path/to/mnist] [--count 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.intake import folder_digest, list_files, run_intake
from tasks.core.registry import MNIST

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mnist"


def fastest(repeats: int, run: Callable[[], object]) -> tuple[float, object]:
    """Seconds of the fastest of ``repeats`` runs (the least disturbed by other load), result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


def render_folder(mirror: Path, root: Path, count: int) -> None:
    """``count`` training digits as ``root/<label>/<i>.png`` pages, scaled and shifted."""
    with gzip.open(mirror / "train-images-idx3-ubyte.gz") as stream:
        images = parse_idx_images(stream.read(), "train-images")[-count:]
    with gzip.open(mirror / "train-labels-idx1-ubyte.gz") as stream:
        labels = parse_idx_labels(stream.read(), "train-labels")[-count:]
    rng = np.random.default_rng(0)
    for index, (digit, label) in enumerate(zip(images, labels, strict=True)):
        size = int(rng.integers(60, 160))
        ink = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
        page = np.zeros((200, 200), np.uint8)
        top, left = rng.integers(0, 200 - size + 1, size=2)
        page[top:top + size, left:left + size] = ink
        (root / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(255 - page).save(root / str(label) / f"{index:05d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "incoming"
        render_folder(args.mirror, root, args.count)
        files = [root / name for name in list_files(root)]
        megabytes = sum(path.stat().st_size for path in files) / 1e6
        floor, _ = fastest(args.repeats, lambda: [Image.open(p).load() for p in files])
        digest, _ = fastest(args.repeats, lambda: folder_digest(root))
        whole, result = fastest(args.repeats,
                                lambda: run_intake(root, Path(tmp) / "out", MNIST.class_names))
    print(f"{len(files)} PNGs, {megabytes:.1f} MB, 200x200 pages")
    print(f"floor (Pillow decode only):   {floor:6.2f} s")
    print(f"folder digest (cache key):    {digest:6.2f} s")
    print(f"whole intake:                 {whole:6.2f} s  "
          f"({whole / len(files) * 1e3:.2f} ms a file, {whole / floor:.1f}x the floor)")
    print(result.summary())


if __name__ == "__main__":
    main()
