"""Classify digits with exported weights, in the spirit of the original ``predict.py``.

    python flows/predict.py --weights DIR [--data-dir PARQUET_DIR] [IMAGE.png ...]

Loads ``W_1.csv, b_1.csv, W_2.csv, b_2.csv`` from ``DIR``, reports the test accuracy when
``--data-dir`` holds ``test.parquet`` (or names the file itself), then prints the predicted
digit and its probability for each image. Errors print one message and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tasks.core.errors import DataError, MnistFlowError

EXIT_ERROR = 2


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="predict", description="Classify digits with the exported CSV weights.")
    parser.add_argument("--weights", type=Path, required=True,
                        help="folder holding W_1.csv, b_1.csv, W_2.csv, b_2.csv")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding test.parquet (or the file itself): report accuracy")
    parser.add_argument("images", type=Path, nargs="*",
                        help="pictures of digits (PNG/JPEG, any size; white or dark paper)")
    return parser.parse_args(argv)


def _test_file(data_dir: Path) -> Path:
    path = data_dir if data_dir.suffix == ".parquet" else data_dir / "test.parquet"
    if not path.is_file():
        raise DataError(f"{path} does not exist; point --data-dir at the preprocess stage's "
                        f"output folder (it holds test.parquet)")
    return path


def run(argv: Sequence[str] | None = None) -> list[str]:
    """Do the work of the command; return the lines it prints. Raises MnistFlowError."""
    # Imported here so `--help` answers without loading numpy, pyarrow and Pillow.
    from tasks.core.datasets import load_split
    from tasks.core.export import load_weights_csv
    from tasks.core.images import load_user_image
    from tasks.core.metrics import evaluate
    from tasks.core.network import predict_proba

    args = _parse_args(argv)
    params = load_weights_csv(args.weights)
    hidden = params["W_1"].shape[0]
    lines = [f"loaded 784-{hidden}-10 weights ({params['W_1'].dtype}) from {args.weights}"]
    if args.data_dir is not None:
        path = _test_file(args.data_dir)
        X, y = load_split(path)
        result = evaluate(params, X, y)
        lines.append(f"test accuracy: {result.accuracy:.4f} on {result.n_samples} images ({path})")
    for image in args.images:
        proba = predict_proba(params, load_user_image(image))[0]
        digit = int(proba.argmax())
        lines.append(f"{image}: {digit} (probability {proba[digit]:.4f})")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: print the results, or the error message on stderr with status 2."""
    try:
        lines = run(argv)
    except MnistFlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_ERROR
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
