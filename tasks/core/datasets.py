"""Preprocess verified IDX payloads into standardized Parquet splits, and load them back.

Layout of a split file: a ``pixels`` column of type ``FixedSizeList<float32>[784]`` (one row per
image, the standardized pixels in row-major order) and a ``label`` column of type ``uint8``,
in a single row group. Every reader sees typed float32 numbers (polars ``Array(Float32, 784)``,
DuckDB ``FLOAT[784]``), and :func:`load_split` reinterprets the list's child buffer as one
contiguous ``(n, 784)`` array without copying. Measured on the training set (see
``bench/bench_data.py``): 784 separate float32 columns write ~10x slower, read back ~4x slower
and are 1.5x bigger; lz4 shrinks the file 5.7x (33 vs 188 MB) for ~0.03 s more read-back
(snappy and zstd read back slower), so the default is lz4.

The schema metadata records the source payload digests, the preprocessing and library versions.
"""

from __future__ import annotations

import logging
import platform
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from numpy.typing import NDArray

from tasks.core.errors import DataError
from tasks.core.idx import IMAGE_SHAPE, N_CLASSES, parse_idx_images, parse_idx_labels
from tasks.engine.atomic import sha256_bytes, write_bytes_atomic

logger = logging.getLogger(__name__)

N_FEATURES = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
PIXELS = "pixels"
LABEL = "label"
PREPROCESSING = (
    "pixels / 255 to [0, 1], then per image (x - mean) / std with the population std "
    "(ddof=0); images of zero variance become all zeros; float32"
)
_SCHEMA = pa.schema([
    pa.field(PIXELS, pa.list_(pa.field("element", pa.float32(), nullable=False), N_FEATURES),
             nullable=False),
    pa.field(LABEL, pa.uint8(), nullable=False),
])
_CHUNK_ROWS = 2048  # a block of rows that stays in cache while it is standardized


def standardize_images(images: NDArray[np.uint8]) -> NDArray[np.float32]:
    """Flatten and standardize each image: ``(n, 28, 28) uint8`` -> ``(n, 784) float32``.

    Pixels are divided by 255, then each row has its mean subtracted and is divided by its
    population std, so every row has mean 0 and std 1. A row of zero variance (a blank image)
    becomes all zeros rather than NaN.
    """
    n = images.shape[0]
    out = np.empty((n, N_FEATURES), dtype=np.float32)
    flat = images.reshape(n, N_FEATURES)
    for start in range(0, n, _CHUNK_ROWS):
        block = out[start:start + _CHUNK_ROWS]
        np.divide(flat[start:start + _CHUNK_ROWS], np.float32(255), out=block,
                  dtype=np.float32)
        mean = block.mean(axis=1, keepdims=True)
        block -= mean
        # std from the centred block: one pass fewer than np.std, same ddof=0 result
        std = np.sqrt(np.einsum("ij,ij->i", block, block) / np.float32(N_FEATURES))[:, None]
        blank = std == 0
        std[blank] = 1  # the centred row of a blank image is ~0; zeroed exactly below
        block /= std
        block[blank[:, 0]] = 0
    return out


def write_split(path: Path, features: NDArray[np.float32], labels: NDArray[np.uint8],
                metadata: Mapping[str, str], *, compression: str = "lz4") -> str:
    """Write one split atomically: ``features (n, 784) float32`` and ``labels (n,) uint8``.

    Returns the file's hex sha256, computed from the bytes before they are written (no re-read).
    ``metadata`` is stored as Parquet schema metadata (string keys and values).
    ``compression`` defaults to lz4: measured on the training set (``bench/bench_data.py``),
    it makes the file 5.7x smaller (33 vs 188 MB) for ~0.03 s more read-back; snappy and zstd
    read back slower.
    """
    features = np.ascontiguousarray(features)
    assert features.dtype == np.float32 and features.ndim == 2, features.dtype
    assert features.shape[1] == N_FEATURES, features.shape
    assert labels.dtype == np.uint8 and labels.shape == (features.shape[0],), labels.shape
    table = pa.Table.from_arrays([_pixels_array(features), _labels_array(labels)], schema=_SCHEMA)
    table = table.replace_schema_metadata(dict(metadata))
    # Into memory first (33 MB for the training set), then one write and one digest of the
    # whole buffer: streaming Parquet's ~370 small writes through a hashing Python file object
    # cost 0.14 s more (bench/profile_run.py).
    sink = pa.BufferOutputStream()
    # One row group so the reader gets one chunk and can reinterpret it without a copy;
    # no dictionary: standardized floats hardly repeat across images.
    # no statistics for pixels: min/max of 47M floats cost write time and help no reader.
    pq.write_table(table, sink, row_group_size=max(len(labels), 1), use_dictionary=[LABEL],
                   write_statistics=[LABEL], compression=compression)
    return write_bytes_atomic(Path(path), memoryview(sink.getvalue()))


# Arrow arrays straight from numpy's buffers: `pa.array(ndarray)` first asks whether the
# array is a pandas object, which imports pandas (0.3 s) into a run that never uses it.
def _pixels_array(features: NDArray[np.float32]) -> pa.FixedSizeListArray:
    values = pa.Array.from_buffers(pa.float32(), features.size, [None, pa.py_buffer(features)])
    return pa.FixedSizeListArray.from_arrays(values, N_FEATURES)


def _labels_array(labels: NDArray[np.uint8]) -> pa.Array:
    labels = np.ascontiguousarray(labels)
    return pa.Array.from_buffers(pa.uint8(), labels.size, [None, pa.py_buffer(labels)])


def load_split(path: Path) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """Load a split written by :func:`write_split`.

    Returns ``X (n, 784) float32`` (C-contiguous, read-only: it views Arrow's buffer) and
    ``y (n,) uint8`` in 0..9. Raises DataError naming the file if it cannot be read, has the
    wrong columns or types, holds nulls, or has labels out of range.
    """
    path = Path(path)
    try:
        # ParquetFile, not read_table: the latter loads pyarrow.dataset, which imports pandas
        with pq.ParquetFile(path, memory_map=True) as parquet:
            table = parquet.read(columns=[PIXELS, LABEL])
    except (OSError, pa.ArrowException, KeyError) as error:
        raise DataError(
            f"{path}: cannot read it as a split Parquet file ({error}); "
            "delete it and run the preprocess stage again"
        ) from error
    _check_schema(path, table.schema)
    X = _column_numpy(path, PIXELS, table.column(PIXELS)).reshape(-1, N_FEATURES)
    y = _column_numpy(path, LABEL, table.column(LABEL))
    if y.size and int(y.max()) >= N_CLASSES:
        raise DataError(
            f"{path}: expected labels 0..{N_CLASSES - 1}, found {int(y.max())}; "
            "delete the file and run the preprocess stage again"
        )
    assert X.shape[0] == y.shape[0] and X.flags.c_contiguous
    return X, y


def _check_schema(path: Path, schema: pa.Schema) -> None:
    types = {field.name: field.type for field in schema}
    pixels, label = types.get(PIXELS, pa.null()), types.get(LABEL, pa.null())
    # compare by structure: the list's child field name varies between writers
    pixels_ok = (pa.types.is_fixed_size_list(pixels) and pixels.list_size == N_FEATURES
                 and pixels.value_type == pa.float32())
    if not (pixels_ok and label == pa.uint8()):
        found = {name: str(schema.field(name).type) for name in schema.names}
        expected = {field.name: str(field.type) for field in _SCHEMA}
        raise DataError(
            f"{path}: expected columns {expected}, found {found}; this is not a split "
            "written by this pipeline, delete it and run the preprocess stage again"
        )


def _column_numpy(path: Path, name: str, column: pa.ChunkedArray) -> NDArray:
    """The column's values as numpy: a zero-copy view when it is one chunk."""
    if column.null_count:
        raise DataError(
            f"{path}: column {name!r} holds "
            f"{column.null_count} nulls, expected none; delete it and preprocess again"
        )
    chunks = [
        chunk.flatten() if pa.types.is_fixed_size_list(chunk.type) else chunk
        for chunk in column.chunks
    ]
    if any(chunk.null_count for chunk in chunks):
        raise DataError(
            f"{path}: column {name!r} holds null values, expected none; "
            "delete it and preprocess again"
        )
    if len(chunks) == 1:
        return _view(chunks[0])
    if not chunks:
        value_type = column.type.value_type if name == PIXELS else column.type
        return np.empty(0, dtype=_NUMPY_TYPES[value_type])
    return np.concatenate([_view(chunk) for chunk in chunks])


# numpy views of Arrow buffers by hand: Array.to_numpy asks pandas first (and imports it).
_NUMPY_TYPES = {pa.float32(): np.dtype(np.float32), pa.uint8(): np.dtype(np.uint8)}


def _view(chunk: pa.Array) -> NDArray:
    """A read-only numpy view of a null-free float32 or uint8 Arrow array."""
    dtype = _NUMPY_TYPES[chunk.type]
    if len(chunk) == 0:
        return np.empty(0, dtype=dtype)
    return np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                         offset=chunk.offset * dtype.itemsize)


def read_split_metadata(path: Path) -> dict[str, str]:
    """The string metadata stored with a split (digests, preprocessing, versions)."""
    try:
        raw = pq.read_schema(Path(path)).metadata or {}
    except (OSError, pa.ArrowException) as error:
        raise DataError(f"{path}: cannot read its Parquet schema ({error})") from error
    return {
        key.decode(): value.decode() for key, value in raw.items() if key != b"ARROW:schema"
    }


@dataclass(frozen=True)
class WrittenSplit:
    """A split file as :func:`preprocess_splits` wrote it: its path, sha256 and metadata, and
    the arrays it holds (``X (n, 784) float32`` read-only, ``y (n,) uint8``), equal to what
    :func:`load_split` would read back."""

    path: Path
    sha256: str
    metadata: dict[str, str]
    X: NDArray[np.float32]
    y: NDArray[np.uint8]


def preprocess_dataset(raw: Mapping[str, Path], out_dir: Path, *,
                       source_digests: Mapping[str, str] | None = None) -> dict[str, Path]:
    """Parse the four IDX payloads and write ``out_dir/train.parquet`` and ``test.parquet``.

    ``raw`` maps the roles ``train_images``, ``train_labels``, ``test_images``, ``test_labels``
    to decompressed IDX files. ``source_digests`` (role -> sha256) are recorded in the metadata;
    when absent they are computed from the bytes read. Returns ``{"train": path, "test": path}``.
    """
    written = preprocess_splits(raw, out_dir, source_digests=source_digests)
    return {split: entry.path for split, entry in written.items()}


def preprocess_splits(raw: Mapping[str, Path], out_dir: Path, *,
                      source_digests: Mapping[str, str] | None = None) -> dict[str, WrittenSplit]:
    """:func:`preprocess_dataset`, returning each split's digest and arrays with its path, so
    a caller that goes on to train needs neither to hash nor to read the files again."""
    out_dir = Path(out_dir)
    outputs: dict[str, WrittenSplit] = {}
    for split in ("train", "test"):
        images_path, labels_path = Path(raw[f"{split}_images"]), Path(raw[f"{split}_labels"])
        images_bytes, labels_bytes = _read_bytes(images_path), _read_bytes(labels_path)
        images = parse_idx_images(images_bytes, str(images_path))
        labels = parse_idx_labels(labels_bytes, str(labels_path))
        if images.shape[0] != labels.shape[0]:
            raise DataError(
                f"{images_path} holds {images.shape[0]} images but {labels_path} holds "
                f"{labels.shape[0]} labels; expected equal counts, check both come from "
                "the same dataset and download them again"
            )
        digests = source_digests or {}
        metadata = _split_metadata(split, {
            "images": (images_path.name, digests.get(f"{split}_images")
                       or sha256_bytes(images_bytes)),
            "labels": (labels_path.name, digests.get(f"{split}_labels")
                       or sha256_bytes(labels_bytes)),
        })
        path, X = out_dir / f"{split}.parquet", standardize_images(images)
        sha256 = write_split(path, X, labels, metadata)
        X.flags.writeable = False
        outputs[split] = WrittenSplit(path, sha256, metadata, X, labels)
        logger.info("wrote %s: %d rows", path, labels.shape[0])
    return outputs


def _split_metadata(split: str, sources: Mapping[str, tuple[str, str]]) -> dict[str, str]:
    metadata = {
        "mnist_flow.split": split,
        "mnist_flow.preprocessing": PREPROCESSING,
        "mnist_flow.python": platform.python_version(),
        "mnist_flow.numpy": np.__version__,
        "mnist_flow.pyarrow": pa.__version__,
    }
    for kind, (name, digest) in sources.items():
        metadata[f"mnist_flow.source.{kind}"] = name
        metadata[f"mnist_flow.source_sha256.{kind}"] = digest
    return metadata


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise DataError(
            f"{path}: cannot read the IDX payload ({error}); run the download stage again"
        ) from error
