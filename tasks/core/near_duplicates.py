"""Near-duplicates: a new image that copies a test or holdout image, or another new image.

Distance: the Pearson correlation of two preprocessed 28x28 digits (a row of the splits is
already standardized to mean 0 and std 1, so it is their dot product / 784). Both sides are
first centred the way the intake centres a picture (:func:`tasks.core.images.mnist_like_pixels`:
crop, scale to 20 px, centre of mass), so a copy that was shifted, padded or rescaled on its
page lands on the same pixels as its original. Two images correlating at or above the
threshold (0.995 by default) are the same picture. Why not a perceptual hash: a 64-bit pHash of
a 28x28 digit keeps so little that different writers' 1s and 7s share hashes within a few bits
(an earlier attempt measured too many false matches; not re-measured here). The correlation
of 200 one-pixel shifted test PNGs with their originals stays above 0.995, and 3,000 training
digits reach at most 0.9881 with any test image (``python bench/bench_validate.py``).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from tasks.core.datasets import N_FEATURES, standardize_images

# Rows compared at a time: a (chunk, n_reference) float32 block of correlations stays ~40 MB.
_CHUNK = 1024


def recentred_rows(X: NDArray[np.float32]) -> NDArray[np.float32]:
    """Preprocessed rows ``(n, 784) float32`` centred as the intake centres a picture, then
    standardized again: ``(n, 784) float32``. A split's rows hold MNIST's own centring, a
    picture's the intake's; comparing them pixel by pixel needs one of the two."""
    from tasks.core.images import NoDigitError, mnist_like_pixels

    low, high = X.min(axis=1, keepdims=True), X.max(axis=1, keepdims=True)
    # A standardized row is an affine map of its pixels: the background (0) is its minimum.
    gray = ((X - low) / np.maximum(high - low, 1e-6) * 255).round().astype(np.uint8)
    digits = np.zeros((len(X), 28, 28), np.uint8)
    for index, image in enumerate(gray.reshape(-1, 28, 28)):
        try:
            digits[index] = mnist_like_pixels(image, invert=False)
        except NoDigitError:  # a blank row stays blank: it matches nothing
            continue
    return standardize_images(digits)


def best_matches(X: NDArray[np.float32], reference: NDArray[np.float32],
                 ) -> tuple[NDArray[np.intp], NDArray[np.float32]]:
    """For each row of ``X (n, 784)``, the index of the reference row ``(m, 784)`` it
    correlates with most and that correlation: ``(n,) intp``, ``(n,) float32`` (-1 and 0 when
    ``reference`` is empty)."""
    if not len(reference) or not len(X):
        return np.full(len(X), -1, np.intp), np.zeros(len(X), np.float32)
    index = np.empty(len(X), np.intp)
    value = np.empty(len(X), np.float32)
    for start in range(0, len(X), _CHUNK):
        block = X[start:start + _CHUNK] @ reference.T / np.float32(N_FEATURES)  # (chunk, m)
        index[start:start + _CHUNK] = block.argmax(axis=1)
        value[start:start + _CHUNK] = block.max(axis=1)
    return index, value


def repeats_within(X: NDArray[np.float32], min_correlation: float) -> NDArray[np.intp]:
    """``(n,) intp``: for each row of ``X (n, 784)`` the earlier row it repeats (correlation
    at or above ``min_correlation``), else -1. The first of a group is kept: counted once."""
    first = np.full(len(X), -1, np.intp)
    for start in range(0, len(X), _CHUNK):
        block = X[start:start + _CHUNK] @ X[:start + _CHUNK].T / np.float32(N_FEATURES)
        for offset, row in enumerate(block):
            earlier = np.flatnonzero(row[:start + offset] >= min_correlation)
            if len(earlier):
                first[start + offset] = earlier[0]
    return first
