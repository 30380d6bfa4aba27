"""Reading the preprocessed splits in the model stages, once per process."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.datasets import load_split
from tasks.manifest import Manifest


def load_stage_split(data: Manifest, split: str) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """``(X (n, 784) float32, y (n,) uint8)`` of ``split`` from the preprocess manifest.

    train, evaluate and export all read the splits; one process keeps one read-only copy per
    file version (path + sha256) instead of reading 190 MB three times.
    """
    return _load_split_once(str(data.path(split)), data.sha256(split))


@lru_cache(maxsize=2)
def _load_split_once(path: str, sha256: str) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    del sha256  # part of the cache key only: a rewritten file is read again
    return load_split(Path(path))
