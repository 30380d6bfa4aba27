"""Reading the preprocessed splits in the model stages, once per process."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.engine.manifest import Manifest
from tasks.handover import keep_split, kept_split

if TYPE_CHECKING:
    from tasks.handover import Split


def load_stage_split(data: Manifest, split: str) -> Split:
    """``(X (n, 784) float32, y (n,) uint8)`` of ``split`` from the preprocess manifest.

    train, evaluate and export all read the splits; one process keeps one read-only copy per
    file version (path + sha256) instead of reading 190 MB three times, and a process that
    has just preprocessed them reads nothing (:mod:`tasks.handover`).
    """
    from tasks.core.datasets import load_split  # pyarrow: not for a run served from cache

    path, sha256 = data.path(split), data.sha256(split)
    arrays = kept_split(path, sha256)
    if arrays is None:
        arrays = load_split(path)
        keep_split(path, sha256, arrays)
    return arrays
