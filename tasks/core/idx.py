"""Parse IDX files (the MNIST container format) into numpy arrays, refusing anything malformed.

IDX layout: a big-endian header of a magic number (``0x0000 08 0d``: zero, type code 0x08 =
uint8, number of dimensions) followed by one uint32 per dimension, then the raw uint8 payload.
Images use magic 2051 (3 dims: n, rows, cols), labels 2049 (1 dim: n).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import DataError

IMAGES_MAGIC = 2051
LABELS_MAGIC = 2049
IMAGE_SHAPE = (28, 28)
N_CLASSES = 10


def _read_header(data: bytes, source: str, magic: int, n_dims: int) -> tuple[int, ...]:
    """Check the magic number and payload length; return the dimensions from the header."""
    header_len = 4 * (1 + n_dims)
    if len(data) < header_len:
        raise DataError(
            f"{source}: expected an IDX file of at least {header_len} header bytes, found "
            f"{len(data)} bytes; the file is truncated, delete it and download it again"
        )
    header = np.frombuffer(data, dtype=">u4", count=1 + n_dims)
    if int(header[0]) != magic:
        raise DataError(
            f"{source}: expected IDX magic number {magic}, found {int(header[0])}; "
            "this is not the right IDX file (or not IDX at all), check the mirror"
        )
    dims = tuple(int(d) for d in header[1:])
    # Python ints: four uint32 dimensions overflow int64, and a wrapped product could match
    expected = header_len + math.prod(dims)
    if len(data) != expected:
        raise DataError(
            f"{source}: header {dims} implies {expected} bytes, found {len(data)}; "
            "the file is truncated or padded, delete it and download it again"
        )
    return dims


def parse_idx_images(data: bytes, source: str) -> NDArray[np.uint8]:
    """Parse an IDX image file's bytes into a read-only ``(n, 28, 28) uint8`` view of ``data``.

    ``source`` names the file in error messages. Raises DataError on a wrong magic number,
    wrong image size or a payload length that disagrees with the header.
    """
    n, rows, cols = _read_header(data, source, IMAGES_MAGIC, 3)
    if (rows, cols) != IMAGE_SHAPE:
        raise DataError(
            f"{source}: expected {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images, found {rows}x{cols}; "
            "this is not an MNIST-format image file"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=16).reshape(n, rows, cols)


def parse_idx_labels(data: bytes, source: str) -> NDArray[np.uint8]:
    """Parse an IDX label file's bytes into a read-only ``(n,) uint8`` array of values 0..9.

    Raises DataError on a wrong magic number, bad length or a label outside 0..9.
    """
    (n,) = _read_header(data, source, LABELS_MAGIC, 1)
    labels = np.frombuffer(data, dtype=np.uint8, offset=8)
    assert labels.shape == (n,)
    if n and int(labels.max()) >= N_CLASSES:
        bad = int(np.argmax(labels >= N_CLASSES))
        raise DataError(
            f"{source}: expected labels 0..{N_CLASSES - 1}, found {int(labels[bad])} at index "
            f"{bad}; the label file is corrupt, delete it and download it again"
        )
    return labels


def read_idx_images(path: Path) -> NDArray[np.uint8]:
    """Read a decompressed IDX image file: ``(n, 28, 28) uint8``."""
    return parse_idx_images(_read(path), str(path))


def read_idx_labels(path: Path) -> NDArray[np.uint8]:
    """Read a decompressed IDX label file: ``(n,) uint8`` in 0..9."""
    return parse_idx_labels(_read(path), str(path))


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as error:
        raise DataError(f"{path}: cannot read the IDX file ({error}); check the path") from error
