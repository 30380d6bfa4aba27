"""What the promotion gate costs on 10,000 test + 300 holdout images, against scoring one model.

Two ``fast`` models (seeds 1 and 2: equal quality) are trained once on MNIST, exported as the
pipeline exports them, one put in production; then, best of ``--repeat``:

- the baseline: one model's predictions on the 10,300 images (``score``);
- the rules alone: the paired comparison and the verdict on two prediction vectors;
- the whole gate (:func:`tasks.core.promotion.gate`): both models' CSVs read, both scored, the
  production link and record read under the lock, the rules applied, the refusal logged.

Prints a table and each row's ratio to the baseline. Training takes about half a minute.

    python bench/bench_gate.py --mirror /work/shared/mnist [--repeat 20]
"""

from __future__ import annotations

import argparse
import gzip
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tasks.core.datasets import standardize_images
from tasks.core.export import load_weights_csv, write_weights_csv
from tasks.core.gate_rules import Thresholds, compare, judge
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.promotion import gate, score
from tasks.core.train import train_network
from tasks.core.train_config import get_preset

DEFAULT_MIRROR = Path(__file__).resolve().parents[2] / "shared" / "mnist"
HOLDOUT = 300  # about a week of new labelled images (tests/integration/test_retraining_week.py)


def best_ms(call: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return 1000 * min(times)


def load(mirror: Path, prefix: str) -> tuple[np.ndarray, np.ndarray]:
    def unzipped(kind: str) -> bytes:
        return gzip.decompress((mirror / f"{prefix}-{kind}.gz").read_bytes())

    images = parse_idx_images(unzipped("images-idx3-ubyte"), prefix)
    return standardize_images(images), parse_idx_labels(unzipped("labels-idx1-ubyte"), prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", type=Path, default=DEFAULT_MIRROR)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    X_train, y_train = load(args.mirror, "train")
    X_test, y_test = load(args.mirror, "t10k")
    sets = {"test": (X_test, y_test), "holdout": (X_train[-HOLDOUT:], y_train[-HOLDOUT:])}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for seed in (1, 2):
            config = get_preset("fast").model_copy(update={"seed": seed})
            params = train_network(X_train[:-HOLDOUT], y_train[:-HOLDOUT], X_test, y_test,
                                   config).params
            write_weights_csv(params, root / f"seed{seed}")
        dataset_dir = root / "mnist"
        first = gate(dataset_dir, root / "seed1", sets, dataset="mnist")
        assert first.promoted
        one, two = (score(load_weights_csv(root / f"seed{s}"), sets) for s in (1, 2))
        labels = np.concatenate([y for _, y in sets.values()])
        record = gate(dataset_dir, root / "seed2", sets, dataset="mnist")
        rows = {
            "score one model (baseline)": best_ms(
                lambda: score(load_weights_csv(root / "seed2"), sets), args.repeat),
            "the rules alone (compare + judge)": best_ms(
                lambda: judge(compare(labels, two.predictions, one.predictions), Thresholds()),
                args.repeat),
            "the whole gate (read, score both, decide, log)": best_ms(
                lambda: gate(dataset_dir, root / "seed2", sets, dataset="mnist"), args.repeat),
        }
    n = sum(len(y) for _, y in sets.values())
    print(f"gate on {n:,} images ({len(y_test):,} test + {HOLDOUT} holdout), best of "
          f"{args.repeat}; seed 2 vs seed 1 in production:")
    print(f"  {record.outcome}: {record.reason}\n")
    baseline = rows["score one model (baseline)"]
    print(f"{'':50s} {'ms':>8s} {'x baseline':>11s}")
    for name, ms in rows.items():
        print(f"{name:50s} {ms:8.1f} {ms / baseline:11.2f}")


if __name__ == "__main__":
    main()
