"""Standardization, the Parquet split format, and the whole preprocess stage on real MNIST."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tasks.core.datasets import (
    load_split,
    preprocess_dataset,
    preprocess_splits,
    read_split_metadata,
    standardize_images,
    write_split,
)
from tasks.core.errors import DataError
from tasks.core.idx import parse_idx_images, parse_idx_labels
from tasks.core.registry import MNIST

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _idx(magic: int, array: np.ndarray) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


def test_standardize_matches_float64_reference() -> None:
    images = np.random.default_rng(0).integers(0, 256, (5000, 28, 28), dtype=np.uint8)
    X = standardize_images(images)
    assert X.dtype == np.float32 and X.shape == (5000, 784) and X.flags.c_contiguous
    ref = images.reshape(5000, 784) / 255.0
    ref = (ref - ref.mean(axis=1, keepdims=True)) / ref.std(axis=1, keepdims=True)
    np.testing.assert_allclose(X, ref, atol=1e-5)


@pytest.mark.parametrize("value", [0, 1, 128, 255])
def test_blank_images_become_zeros_not_nan(value: int) -> None:
    images = np.random.default_rng(1).integers(0, 256, (4, 28, 28), dtype=np.uint8)
    images[2] = value
    X = standardize_images(images)
    assert np.isfinite(X).all()
    assert not X[2].any()
    assert abs(float(X[3].std()) - 1) < 1e-5


def test_one_pixel_image_is_finite_and_standard() -> None:
    images = np.zeros((1, 28, 28), dtype=np.uint8)
    images[0, 5, 5] = 1
    X = standardize_images(images)
    assert np.isfinite(X).all()
    assert abs(float(X.std()) - 1) < 1e-4 and abs(float(X.mean())) < 1e-5


def test_standardize_empty() -> None:
    assert standardize_images(np.zeros((0, 28, 28), dtype=np.uint8)).shape == (0, 784)


def test_write_load_round_trip_and_metadata(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.standard_normal((50, 784)).astype(np.float32)
    y = rng.integers(0, 10, 50).astype(np.uint8)
    path = tmp_path / "split.parquet"
    write_split(path, X, y, {"a": "1", "mnist_flow.x": "é"})
    X_read, y_read = load_split(path)
    np.testing.assert_array_equal(X_read, X)
    np.testing.assert_array_equal(y_read, y)
    assert X_read.dtype == np.float32 and X_read.flags.c_contiguous and y_read.dtype == np.uint8
    assert read_split_metadata(path) == {"a": "1", "mnist_flow.x": "é"}
    assert [p.name for p in tmp_path.iterdir()] == ["split.parquet"]


def test_several_row_groups_load_into_one_array(tmp_path: Path) -> None:
    X = np.arange(10 * 784, dtype=np.float32).reshape(10, 784)
    y = np.arange(10, dtype=np.uint8)
    path = tmp_path / "split.parquet"
    write_split(path, X, y, {})
    pq.write_table(pq.read_table(path), path, row_group_size=3)
    X_read, y_read = load_split(path)
    np.testing.assert_array_equal(X_read, X)
    np.testing.assert_array_equal(y_read, y)


def _write_table(path: Path, pixels: pa.Array, labels: pa.Array) -> Path:
    pq.write_table(pa.table({"pixels": pixels, "label": labels}), path)
    return path


@pytest.mark.parametrize("case", ["missing", "garbage", "wrong_columns", "float64",
                                  "bad_label", "null_label", "null_pixel"])
def test_load_split_rejects(tmp_path: Path, case: str) -> None:
    path = tmp_path / "split.parquet"
    good_pixels = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(784 * 2, np.float32)), 784)
    match = {"missing": "cannot read", "garbage": "cannot read",
             "wrong_columns": "expected columns", "float64": "expected columns",
             "bad_label": "expected labels 0..9, found 12",
             "null_label": "nulls", "null_pixel": "null values"}[case]
    if case == "garbage":
        path.write_bytes(b"PAR1 not really")
    elif case == "wrong_columns":
        pd.DataFrame({"x": [1.0]}).to_parquet(path)
    elif case == "float64":
        pixels = pa.FixedSizeListArray.from_arrays(pa.array(np.zeros(784 * 2)), 784)
        _write_table(path, pixels, pa.array([1, 2], pa.uint8()))
    elif case == "bad_label":
        _write_table(path, good_pixels, pa.array([1, 12], pa.uint8()))
    elif case == "null_label":
        _write_table(path, good_pixels, pa.array([1, None], pa.uint8()))
    elif case == "null_pixel":
        values = pa.array([0.0] * 783 + [None] + [0.0] * 784, pa.float32())
        pixels = pa.FixedSizeListArray.from_arrays(values, 784)
        _write_table(path, pixels, pa.array([1, 2], pa.uint8()))
    with pytest.raises(DataError, match=match) as caught:
        load_split(path)
    assert str(path) in str(caught.value)


def _tiny_raw(tmp_path: Path, n_train: int = 5, n_train_labels: int = 5) -> dict[str, Path]:
    rng = np.random.default_rng(3)
    contents = {
        "train_images": _idx(2051, rng.integers(0, 256, (n_train, 28, 28))),
        "train_labels": _idx(2049, rng.integers(0, 10, n_train_labels)),
        "test_images": _idx(2051, rng.integers(0, 256, (2, 28, 28))),
        "test_labels": _idx(2049, np.array([0, 9])),
    }
    raw = {}
    for role, data in contents.items():
        raw[role] = tmp_path / role
        raw[role].write_bytes(data)
    return raw


def test_preprocess_tiny(tmp_path: Path) -> None:
    raw = _tiny_raw(tmp_path)
    out = preprocess_dataset(raw, tmp_path / "out")
    assert out == {"train": tmp_path / "out" / "train.parquet",
                   "test": tmp_path / "out" / "test.parquet"}
    X, y = load_split(out["test"])
    assert X.shape == (2, 784) and list(y) == [0, 9]
    meta = read_split_metadata(out["train"])
    assert meta["mnist_flow.source_sha256.images"] == hashlib.sha256(
        raw["train_images"].read_bytes()).hexdigest()
    assert meta["mnist_flow.split"] == "train"
    assert {"mnist_flow.numpy", "mnist_flow.pyarrow", "mnist_flow.preprocessing"} <= set(meta)


def test_preprocess_splits_hands_over_the_digest_metadata_and_arrays_it_wrote(
        tmp_path: Path) -> None:
    written = preprocess_splits(_tiny_raw(tmp_path), tmp_path / "out")
    for split in ("train", "test"):
        entry = written[split]
        assert entry.sha256 == hashlib.sha256(entry.path.read_bytes()).hexdigest()
        assert entry.metadata == read_split_metadata(entry.path)  # the ledger's data digest
        X, y = load_split(entry.path)
        np.testing.assert_array_equal(entry.X, X)
        np.testing.assert_array_equal(entry.y, y)
        assert entry.X.dtype == np.float32 and not entry.X.flags.writeable


def test_reading_a_split_does_not_import_pandas(tmp_path: Path) -> None:
    """pandas costs 0.3 s of import; the default run writes and reads splits without it."""
    script = (f"import sys; from pathlib import Path; from tasks.core.datasets import "
              f"preprocess_splits, load_split; "
              f"w = preprocess_splits({{k: Path(v) for k, v in {_raw_str(tmp_path)}.items()}}, "
              f"Path({str(tmp_path / 'out')!r})); load_split(w['train'].path); "
              f"assert 'pandas' not in sys.modules, 'pandas imported'")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr


def _raw_str(tmp_path: Path) -> dict[str, str]:
    return {role: str(path) for role, path in _tiny_raw(tmp_path).items()}


def test_preprocess_count_mismatch(tmp_path: Path) -> None:
    raw = _tiny_raw(tmp_path, n_train=5, n_train_labels=4)
    with pytest.raises(DataError, match=r"holds 5 images but .* holds 4 labels"):
        preprocess_dataset(raw, tmp_path / "out")
    assert not (tmp_path / "out" / "train.parquet").exists()


def test_real_mnist_splits(mnist_parquet: dict[str, Path], mnist_arrays, mnist_mirror) -> None:
    X_train, y_train, X_test, y_test = mnist_arrays
    assert X_train.shape == (60000, 784) and X_test.shape == (10000, 784)
    assert list(np.bincount(y_train, minlength=10)) == MNIST_TRAIN_COUNTS
    assert list(np.bincount(y_test, minlength=10)) == MNIST_TEST_COUNTS
    for X in (X_train, X_test):
        assert X.dtype == np.float32 and X.flags.c_contiguous
        assert np.isfinite(X).all()
        assert np.abs(X.mean(axis=1, dtype=np.float64)).max() < 1e-4
        assert np.abs(X.std(axis=1, dtype=np.float64) - 1).max() < 1e-4
    # Reading back gives exactly what was written: recompute from the source payloads.
    for split, X, y in (("train", X_train, y_train), ("test", X_test, y_test)):
        prefix = "train" if split == "train" else "t10k"
        images = gzip.decompress((mnist_mirror / f"{prefix}-images-idx3-ubyte.gz").read_bytes())
        labels = gzip.decompress((mnist_mirror / f"{prefix}-labels-idx1-ubyte.gz").read_bytes())
        np.testing.assert_array_equal(X, standardize_images(parse_idx_images(images, split)))
        np.testing.assert_array_equal(y, parse_idx_labels(labels, split))
        meta = read_split_metadata(mnist_parquet[split])
        assert meta["mnist_flow.source_sha256.images"] == MNIST.files[f"{split}_images"].sha256


def test_real_split_opens_in_other_readers(mnist_parquet: dict[str, Path]) -> None:
    path = mnist_parquet["test"]
    frame = pd.read_parquet(path)
    assert len(frame) == 10000 and frame["label"].dtype == np.uint8
    assert len(frame["pixels"].iloc[0]) == 784
    import polars  # comes with the [test] extra: the test runs, never skips
    frame = polars.read_parquet(path)
    assert frame.schema["pixels"] == polars.Array(polars.Float32, 784)
    import duckdb
    # DuckDB sees a list of FLOAT (numbers it can aggregate), not opaque bytes
    query = f"SELECT count(*), typeof(first(pixels)), max(len(pixels)) FROM '{path}'"
    count, type_name, length = duckdb.sql(query).fetchall()[0]
    assert (count, length) == (10000, 784) and type_name.startswith("FLOAT[")
