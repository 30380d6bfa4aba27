"""Trained parameters between stages: one ``.npz`` file, exact, and never unpickled.

The CSV files are the product's export format; this is the fast, lossless hand-over from the
train stage to evaluate and export (``allow_pickle=False``: a tampered file cannot run code).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.core.errors import WeightsError
from tasks.core.network import PARAM_NAMES, Params
from tasks.engine.atomic import atomic_path


def save_params(params: Params, path: Path) -> Path:
    """Write ``params`` atomically.

    W_1 (hidden, 784), b_1 (hidden, 1), W_2 (10, hidden), b_2 (10, 1), any float dtype.
    """
    with atomic_path(Path(path)) as tmp, open(tmp, "wb") as stream:
        np.savez(stream, **{name: params[name] for name in PARAM_NAMES})
    return Path(path)


def load_params(path: Path) -> Params:
    """Read parameters saved by :func:`save_params`; :class:`WeightsError` if unreadable."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            params = {name: archive[name] for name in PARAM_NAMES}
    except (OSError, KeyError, ValueError) as error:
        raise WeightsError(f"cannot read trained parameters from {path}: {error}; "
                           f"rerun the train stage (--force train)") from None
    return params
