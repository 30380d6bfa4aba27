"""Arrays a stage hands to later stages of the same process, keyed by file version.

Preprocess keeps the splits it has just written; train, evaluate and export find them here
instead of reading 190 MB back (:mod:`tasks.splits`). A module of its own, imported by both
sides, so that editing either side's code reruns only that side's stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only for the types: tasks.splits imports this in every run
    import numpy as np
    from numpy.typing import NDArray

    Split = tuple[NDArray[np.float32], NDArray[np.uint8]]

# (resolved path, sha256) -> arrays: a rewritten file is a new key. Two: train and test.
_SPLITS: dict[tuple[str, str], Split] = {}


def keep_split(path: Path, sha256: str, arrays: Split) -> None:
    """Remember the arrays (``X`` read-only) of the file at ``path`` whose bytes hash to
    ``sha256``; the two most recent files are kept."""
    while len(_SPLITS) >= 2:
        del _SPLITS[next(iter(_SPLITS))]  # the oldest
    _SPLITS[(str(Path(path).resolve()), sha256)] = arrays


def kept_split(path: Path, sha256: str) -> Split | None:
    """The arrays kept for that file version, or None."""
    return _SPLITS.get((str(Path(path).resolve()), sha256))
