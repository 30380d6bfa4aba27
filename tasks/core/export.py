"""Exporting a trained network: the four weight CSVs, the history CSV and ``metrics.json``.

The CSVs keep the original project's names, shapes and orientation (``W_1.csv`` holds
``hidden`` rows of 784 comma-separated numbers, ``b_1.csv`` ``hidden`` rows of one). Values are
written with ``%.17g`` (float64) or ``%.9g`` (float32): enough digits that parsing them back
gives the same bits, hence the same predictions. Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from tasks.core.errors import WeightsError
from tasks.core.network import PARAM_NAMES, Params, param_shapes
from tasks.engine.atomic import write_text_atomic

_FORMATS = {np.dtype(np.float64): "%.17g", np.dtype(np.float32): "%.9g"}
_FLOAT32_DIGITS = 9


def write_weights_csv(params: Params, out_dir: Path) -> dict[str, Path]:
    """Write ``W_1.csv, b_1.csv, W_2.csv, b_2.csv`` into ``out_dir``; return name -> path.

    Raises :class:`WeightsError` (writing nothing) if any parameter holds NaN or infinity:
    such a file would load and predict garbage.
    """
    out_dir = Path(out_dir)
    for name in PARAM_NAMES:
        if not np.isfinite(params[name]).all():
            raise WeightsError(f"refusing to write {out_dir / (name + '.csv')}: parameter {name} "
                               f"holds NaN or infinite values; the training diverged, lower "
                               f"`lr` or `l2` and train again")
    paths: dict[str, Path] = {}
    for name in PARAM_NAMES:
        array = np.asarray(params[name])
        fmt = _FORMATS.get(array.dtype, "%.17g")
        buffer = io.StringIO()
        np.savetxt(buffer, np.atleast_2d(array), fmt=fmt, delimiter=",")
        paths[name] = out_dir / f"{name}.csv"
        write_text_atomic(paths[name], buffer.getvalue())
    return paths


def load_weights_csv(folder: Path, *, dtype: Any = None) -> Params:
    """Load and validate the four weight CSVs of ``folder``.

    The dtype is float64 if any value carries more than 9 significant digits (a ``%.17g``
    export), else float32, unless ``dtype`` forces one. Raises :class:`WeightsError` naming the
    file for a missing, empty, unparsable, non-finite or wrongly shaped file.
    """
    folder = Path(folder)
    texts = {name: _read_text(folder / f"{name}.csv") for name in PARAM_NAMES}
    if dtype is None:
        wide = any(_max_significant_digits(t) > _FLOAT32_DIGITS for t in texts.values())
        dtype = np.float64 if wide else np.float32
    params = {name: _parse(folder / f"{name}.csv", text, dtype) for name, text in texts.items()}
    _check_shapes(folder, params)
    return params


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise WeightsError(f"weights file {path} is missing; expected the four files "
                           f"{', '.join(n + '.csv' for n in PARAM_NAMES)} written by the export "
                           f"stage; run the pipeline again or point --weights at that folder")
    try:
        # utf-8-sig: a file saved by a spreadsheet starts with a byte-order mark
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise WeightsError(f"weights file {path} cannot be read as text ({error}); "
                           f"re-export the weights") from None
    if not text.strip():
        raise WeightsError(f"weights file {path} is empty; expected comma-separated numbers; "
                           f"re-export the weights")
    return text


def _parse(path: Path, text: str, dtype: Any) -> np.ndarray:
    try:
        array = np.loadtxt(io.StringIO(text), delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError as error:
        raise WeightsError(f"weights file {path} is not a table of comma-separated numbers "
                           f"({error}); re-export the weights") from None
    if not np.isfinite(array).all():
        bad = tuple(int(i) for i in np.argwhere(~np.isfinite(array))[0])
        raise WeightsError(f"weights file {path} holds a non-finite value (first at row, column "
                           f"{bad}); the network was exported after diverging; retrain it")
    return array.astype(dtype)


def _check_shapes(folder: Path, params: Params) -> None:
    hidden = params["W_1"].shape[0]
    for name, expected in param_shapes(hidden).items():
        found = params[name].shape
        if found != expected:
            raise WeightsError(
                f"weights file {folder / (name + '.csv')} has shape {found[0]}x{found[1]}, "
                f"expected {expected[0]}x{expected[1]} (hidden = {hidden}, from W_1.csv's "
                f"rows); the four files do not belong together, re-export them")


def _max_significant_digits(text: str) -> int:
    """Most significant digits of any number in ``text`` (leading zeros do not count)."""
    most = 0
    for token in text.replace("\n", ",").split(","):
        mantissa = token.strip().lower().split("e")[0].lstrip("+-").replace(".", "")
        most = max(most, len(mantissa.lstrip("0")))
    return most


def write_history_csv(history: Sequence[Mapping[str, float]], path: Path) -> None:
    """Write the history rows (dicts with the same keys) as CSV with a header, atomically."""
    buffer = io.StringIO()
    columns = list(history[0]) if history else ["step", "lr", "loss", "train_accuracy",
                                                "test_accuracy"]
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    for row in history:
        writer.writerow([_format_cell(row[column]) for column in columns])
    write_text_atomic(Path(path), buffer.getvalue())


def read_history_csv(path: Path) -> list[dict[str, float]]:
    """Read rows written by :func:`write_history_csv` back as dicts of floats."""
    with open(path, newline="", encoding="utf-8") as stream:
        return [{key: float(value) for key, value in row.items()}
                for row in csv.DictReader(stream)]


def _format_cell(value: Any) -> str:
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return repr(float(value))


def write_metrics_json(metrics: Mapping[str, Any], path: Path) -> None:
    """Write ``metrics`` as indented JSON, atomically; numpy scalars and arrays are converted.

    Non-finite floats are written as ``null`` so the file stays strict JSON.
    """
    text = json.dumps(_plain(metrics), indent=2, allow_nan=False) + "\n"
    write_text_atomic(Path(path), text)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
