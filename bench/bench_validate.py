"""Benchmark the validate stage's checks on the real MNIST (issue 22's targets).

Prints one table: share of 3,000 shuffled-label training digits quarantined (per-image rule,
and with the whole-class rule), of 3,000 correctly labelled digits drawn scaled and shifted on
larger pages, of 200 one-pixel-shifted test images saved as PNG (leakage), the drift verdict of
300 inverted, 90-degree rotated, thick-pen and ordinary digits; then the cost of the checks for
1,000 images against the intake of the same 1,000 PNG files, measured in the same run. Labels
are judged by the reference network (no production model: the harder case).

    python bench/bench_validate.py [--mirror /path/to/mnist] [--repeats 3]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from tasks.core.datasets import standardize_images
from tasks.core.drift import drift_report
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.images import load_mnist_digit, mnist_like_pixels
from tasks.core.intake import run_intake
from tasks.core.label_check import class_thresholds, fit_reference_scorer, rejected_labels
from tasks.core.near_duplicates import best_matches, recentred_rows
from tasks.core.registry import MNIST
from tasks.core.validate_intake import centred_test
from tasks.core.validation import NewImage, Reference, judge_batch
from tasks.core.validation_config import ValidationConfig

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mnist"
SETTINGS = ValidationConfig()


def read(mirror: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(mirror / f"{prefix}-images-idx3-ubyte.gz") as stream:
        images = parse_idx_images(stream.read(), prefix)
    with gzip.open(mirror / f"{prefix}-labels-idx1-ubyte.gz") as stream:
        return images, parse_idx_labels(stream.read(), prefix)


def on_page(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``digit`` scaled to 20-60 px, anywhere on an 80x80 white page, dark ink (as a user's)."""
    size = int(rng.integers(20, 61))
    ink = np.asarray(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR))
    page = np.zeros((80, 80), np.uint8)
    top, left = rng.integers(0, 80 - size + 1, size=2)
    page[top:top + size, left:left + size] = ink
    return 255 - page


def as_rows(pages: list[np.ndarray]) -> np.ndarray:
    return standardize_images(np.stack([mnist_like_pixels(page) for page in pages]))


def batch(labels: np.ndarray) -> list[NewImage]:
    return [NewImage(f"{label}/{i}.png", f"{i}", int(label), False)
            for i, label in enumerate(labels)]


def quarantined(X: np.ndarray, labels: np.ndarray, reference: Reference, scorer) -> float:
    verdict = judge_batch(batch(labels), X, reference, scorer, SETTINGS, released=set(),
                          accepted_before=set())
    return 100 * (1 - verdict.kept.mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    train_images, train_labels = read(args.mirror, "train")
    test_images, test_labels = read(args.mirror, "t10k")
    X_base, y_base = standardize_images(train_images[:50_000]), train_labels[:50_000]
    rng = np.random.default_rng(22)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        test = centred_test(Path(tmp) / "reference", "bench", standardize_images(test_images))
        centring = time.perf_counter() - started
        started = time.perf_counter()
        scorer = fit_reference_scorer(X_base, y_base)
        fitting = time.perf_counter() - started
        reference = Reference(X_base[:10_000], y_base[:10_000], test, test_labels)
        new, new_labels = train_images[-3000:], train_labels[-3000:]
        wrong = ((new_labels + rng.integers(1, 10, 3000)) % 10).astype(np.uint8)
        X_new = standardize_images(new)
        per_image = judge_batch(batch(wrong), X_new, reference, scorer,
                                SETTINGS.model_copy(update={"class_disagreement": 1.0}),
                                released=set(), accepted_before=set())
        rows.append(("3,000 shuffled labels, per-image rule", 100 * (1 - per_image.kept.mean()),
                     ">= 90 %"))
        rows.append(("3,000 shuffled labels, with whole-class rule",
                     quarantined(X_new, wrong, reference, scorer), ">= 90 %"))
        paged = as_rows([on_page(digit, rng) for digit in new])
        rows.append(("3,000 right labels on larger pages", quarantined(
            paged, new_labels, reference, scorer), "<= 2 %"))
        rows += factor_rows(scorer, reference, X_new, wrong, paged, new_labels)
        _, closest = best_matches(recentred_rows(X_new), reference.test)
        rows.append((f"3,000 training digits: max correlation {closest.max():.4f} with a test "
                     f"image", 100 * (closest >= SETTINGS.duplicate_correlation).mean(),
                     "0 % (distinct pictures)"))
        rows.append(leakage_row(Path(tmp), test_images, test_labels, reference, scorer, rng))
        for name, X in drift_cases(train_images[-3300:-3000]).items():
            report = drift_report(X, reference.X, scorer, SETTINGS.drift_threshold)
            rows.append((f"300 {name}: drift score {report.score:.2f}",
                         100.0 * report.drifted, "flagged" if name != "ordinary" else "not"))
        cost = cost_rows(Path(tmp), train_images[-1000:], train_labels[-1000:], reference,
                         scorer, rng, args.repeats)
    print(f"{'case':<62} {'flagged %':>10}  target")
    for name, share, target in rows:
        print(f"{name:<62} {share:>10.1f}  {target}")
    print(f"\none-off costs: reference network {fitting:.2f} s (only without production); "
          f"test split centred {centring:.2f} s (cached per test split)")
    for line in cost:
        print(line)


def factor_rows(scorer, reference, X_wrong, wrong, X_right, right) -> list[tuple]:
    """The per-image label rule at other factors than the default: caught and wrongly refused."""
    thresholds = class_thresholds(scorer.proba(reference.X), reference.y)
    rows = []
    for factor in (0.6, 1.0):
        caught = rejected_labels(scorer.proba(X_wrong), wrong, thresholds, factor).mean()
        refused = rejected_labels(scorer.proba(X_right), right, thresholds, factor).mean()
        rows.append((f"--label-confidence {factor}: shuffled caught", 100 * caught, ""))
        rows.append((f"--label-confidence {factor}: right labels refused", 100 * refused, ""))
    return rows


def leakage_row(tmp: Path, test_images, test_labels, reference, scorer, rng) -> tuple:
    """200 test images, shifted by one pixel, saved as PNG and read back as the intake does."""
    picked = rng.choice(len(test_images), 200, replace=False)
    rows = []
    for index in picked:
        page = np.zeros((30, 30), np.uint8)
        dy, dx = rng.integers(0, 3, size=2)
        page[dy:dy + 28, dx:dx + 28] = test_images[index]
        Image.fromarray(page).save(tmp / f"test{index}.png")
        rows.append(load_mnist_digit(tmp / f"test{index}.png"))
    verdict = judge_batch(batch(test_labels[picked]), standardize_images(np.stack(rows)),
                          reference, scorer, SETTINGS, released=set(), accepted_before=set())
    copies = {item.copies for item in verdict.refused if item.check == "leakage"}
    found = sum(f"test #{index}" in copies for index in picked)
    return ("200 shifted test PNGs found as leakage", 100 * found / 200, "100 %")


def drift_cases(images: np.ndarray) -> dict[str, np.ndarray]:
    """Rows: ordinary, inverted rows (a file would be inverted back by the intake itself),
    rotated 90 degrees, thick pen (each stroke grown by a pixel)."""
    thick = np.maximum.reduce([images, np.roll(images, 1, 1), np.roll(images, 1, 2),
                               np.roll(np.roll(images, 1, 1), 1, 2)])
    return {"ordinary": standardize_images(images),
            "inverted": -standardize_images(images),
            "rotated 90 degrees": standardize_images(np.rot90(images, 1, axes=(1, 2)).copy()),
            "thick pen": standardize_images(thick)}


def cost_rows(tmp: Path, images, labels, reference, scorer, rng, repeats: int) -> list[str]:
    """The checks on 1,000 images against the intake of the same 1,000 PNG files."""
    folder = tmp / "incoming"
    for i, (digit, label) in enumerate(zip(images, labels, strict=True)):
        (folder / str(label)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(on_page(digit, rng)).save(folder / str(label) / f"{i:04d}.png")
    intake, validate = [], []
    for attempt in range(repeats):
        started = time.perf_counter()
        result = run_intake(folder, tmp / f"intake{attempt}", MNIST.class_names)
        intake.append(time.perf_counter() - started)
        X = np.asarray(standardize_images(np.stack([
            load_mnist_digit(folder / item.path) for item in result.accepted])))
        started = time.perf_counter()
        judge_batch(batch(labels), X, reference, scorer, SETTINGS, released=set(),
                    accepted_before=set())
        validate.append(time.perf_counter() - started)
    best_intake, best_validate = min(intake), min(validate)
    return [f"1,000 images, best of {repeats}: intake {best_intake:.2f} s (baseline), "
            f"validation checks {best_validate:.2f} s = {best_validate / best_intake:.2f}x "
            f"the intake (target < 1 s)"]


if __name__ == "__main__":
    main()
