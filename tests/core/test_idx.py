"""IDX parsing: good files parse to views of the bytes; every malformation names the file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tasks.core.errors import DataError
from tasks.core.idx import parse_idx_images, parse_idx_labels, read_idx_images, read_idx_labels


def _idx(magic: int, array: np.ndarray) -> bytes:
    header = np.array([magic, *array.shape], dtype=">u4").tobytes()
    return header + array.astype(np.uint8).tobytes()


@given(st.integers(0, 5), st.integers(0, 2**32 - 1))
def test_images_round_trip(n: int, seed: int) -> None:
    images = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    parsed = parse_idx_images(_idx(2051, images), "x")
    assert parsed.dtype == np.uint8 and parsed.shape == (n, 28, 28)
    np.testing.assert_array_equal(parsed, images)


def test_labels_parse() -> None:
    labels = parse_idx_labels(_idx(2049, np.arange(10)), "x")
    assert labels.dtype == np.uint8
    np.testing.assert_array_equal(labels, np.arange(10))


@pytest.mark.parametrize(("data", "match"), [
    (_idx(2049, np.zeros((2, 28, 28))), "expected IDX magic number 2051, found 2049"),
    (_idx(2051, np.zeros((2, 27, 28))), "expected 28x28 images, found 27x28"),
    (_idx(2051, np.zeros((2, 28, 28)))[:-1], "truncated or padded"),
    (_idx(2051, np.zeros((2, 28, 28))) + b"\0", "truncated or padded"),
    (b"\0\0\x08", "at least 16 header bytes"),
    (b"", "found 0 bytes"),
])
def test_bad_images_name_the_file(data: bytes, match: str) -> None:
    with pytest.raises(DataError, match=match) as caught:
        parse_idx_images(data, "train-images-idx3-ubyte")
    assert str(caught.value).startswith("train-images-idx3-ubyte: ")


@pytest.mark.parametrize(("data", "match"), [
    (_idx(2051, np.zeros(3)), "expected IDX magic number 2049, found 2051"),
    (_idx(2049, np.array([1, 10, 2])), "expected labels 0..9, found 10 at index 1"),
    (_idx(2049, np.array([1, 2]))[:-1], "truncated or padded"),
])
def test_bad_labels_name_the_file(data: bytes, match: str) -> None:
    with pytest.raises(DataError, match=match):
        parse_idx_labels(data, "labels-file")


def test_read_from_path(tmp_path: Path) -> None:
    images = np.full((3, 28, 28), 7, dtype=np.uint8)
    (tmp_path / "i").write_bytes(_idx(2051, images))
    (tmp_path / "l").write_bytes(_idx(2049, np.array([4, 5, 6])))
    np.testing.assert_array_equal(read_idx_images(tmp_path / "i"), images)
    np.testing.assert_array_equal(read_idx_labels(tmp_path / "l"), [4, 5, 6])
    with pytest.raises(DataError, match=str(tmp_path / "missing")):
        read_idx_images(tmp_path / "missing")
    with pytest.raises(DataError, match="magic"):
        read_idx_labels(tmp_path / "i")
