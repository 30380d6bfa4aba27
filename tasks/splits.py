"""Reading the preprocessed splits in the model stages, once per process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.datasets import load_split
from tasks.manifest import Manifest

Split = tuple[NDArray[np.float32], NDArray[np.uint8]]


def load_stage_split(data: Manifest, split: str) -> Split:
    """``(X (n, 784) float32, y (n,) uint8)`` of ``split`` from the preprocess manifest.

    train, evaluate and export all read the splits; one process keeps one read-only copy per
    file version (path + sha256) instead of reading 190 MB three times, and a process that
    has just preprocessed them keeps the arrays it wrote (:func:`keep_split`).
    """
    path = data.path(split)
    key = (str(path.resolve()), data.sha256(split))
    if key not in _SPLITS:
        keep_split(path, data.sha256(split), load_split(path))
    return _SPLITS[key]


def keep_split(path: Path, sha256: str, arrays: Split) -> None:
    """Remember the arrays of the file at ``path`` with ``sha256`` (read-only ``X``), for
    :func:`load_stage_split`; the two most recent files are kept (train and test)."""
    while len(_SPLITS) >= 2:
        del _SPLITS[next(iter(_SPLITS))]  # the oldest
    _SPLITS[(str(Path(path).resolve()), sha256)] = arrays


# (resolved path, sha256) -> arrays: a rewritten file is a new key.
_SPLITS: dict[tuple[str, str], Split] = {}
