"""``mnist-flow predict``: classify digits with exported weights, like the original
``predict.py``.

    mnist-flow predict [--weights DIR] [--data-dir PARQUET_DIR] [IMAGE.png ...]
    python flows/predict.py ...                     # the same command

Loads ``W_1.csv, b_1.csv, W_2.csv, b_2.csv`` from ``DIR`` (default: the production model,
``<artifacts>/<dataset>/production``, which the promotion gate moves), reports the test
accuracy when ``--data-dir`` holds ``test.parquet`` (or names the file itself), then prints
the predicted digit and its probability for each image, or ``no digit found`` for a picture
with no more ink than a speck (:data:`tasks.core.images.MIN_INK`: blank paper, white ink on a
transparent background) instead of a guess. A folder is refused (``error: DIR is a folder``,
exit 2): pass the pictures in it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tasks.core.errors import DataError
from tasks.layout import Layout


def _test_file(data_dir: Path) -> Path:
    path = data_dir if data_dir.suffix == ".parquet" else data_dir / "test.parquet"
    if not path.is_file():
        raise DataError(f"{path} does not exist; point --data-dir at the preprocess stage's "
                        f"output folder (it holds test.parquet)")
    return path


def predict_command(args: argparse.Namespace) -> None:
    """Print the results; raises MnistFlowError for a bad file."""
    print("\n".join(predictions(args)))


def weights_dir(args: argparse.Namespace) -> Path:
    """``--weights``, else the production model; DataError when there is none yet, and
    ProductionDamagedError (naming the file and the repair) when it is damaged."""
    from tasks.core.production import read_production

    if args.weights is not None:
        return args.weights
    production = Layout(Path(args.artifacts_dir).resolve(), args.dataset).production_link
    if read_production(production.parent) is None:
        raise DataError(f"no production model at {production} yet: run the pipeline "
                        f"(mnist-flow --artifacts-dir {args.artifacts_dir}), whose first "
                        f"model is promoted, or pass --weights DIR")
    return production


def predictions(args: argparse.Namespace) -> list[str]:
    """The lines the command prints."""
    # Imported here so `--help` answers without loading numpy, pyarrow and Pillow.
    from tasks.core.datasets import load_split
    from tasks.core.export import load_weights_csv
    from tasks.core.images import NoDigitError, load_user_image
    from tasks.core.inbox import printable_name
    from tasks.core.metrics import evaluate
    from tasks.core.network import predict_proba

    weights = weights_dir(args)
    params = load_weights_csv(weights)
    hidden = params["W_1"].shape[0]
    lines = [f"loaded 784-{hidden}-10 weights ({params['W_1'].dtype}) from {weights}"]
    if args.data_dir is not None:
        path = _test_file(args.data_dir)
        X, y = load_split(path)
        result = evaluate(params, X, y)
        lines.append(f"test accuracy: {result.accuracy:.4f} on {result.n_samples} images ({path})")
    for image in args.images:
        name = printable_name(str(image))  # stdout is strict UTF-8; a name may not be
        try:
            row = load_user_image(image)
        except NoDigitError as verdict:  # an answer, not an error: the others still count
            lines.append(f"{name}: {verdict}")
            continue
        proba = predict_proba(params, row)[0]
        digit = int(proba.argmax())
        lines.append(f"{name}: {digit} (probability {proba[digit]:.4f})")
    return lines


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(["predict", *sys.argv[1:]]))
