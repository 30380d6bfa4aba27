"""The IDX parser against random and mutated bytes: a good file or a DataError naming it."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.errors import DataError
from tasks.core.idx import IMAGES_MAGIC, LABELS_MAGIC, parse_idx_images, parse_idx_labels

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
SOURCE = "fuzzed-idx-file"
U32 = st.integers(0, 2**32 - 1)


def _header(*words: int) -> bytes:
    return np.array(words, dtype=">u4").tobytes()


def _valid_images(n: int, seed: int) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    return _header(IMAGES_MAGIC, n, 28, 28) + pixels.tobytes()


def _parse(kind: str, data: bytes) -> np.ndarray | None:
    """The parsed array, or None after checking the DataError names the source."""
    parse = parse_idx_images if kind == "images" else parse_idx_labels
    try:
        return parse(data, SOURCE)
    except DataError as error:
        assert SOURCE in str(error)
        return None


@FUZZ
@given(kind=st.sampled_from(["images", "labels"]), data=st.binary(max_size=4096))
def test_random_bytes(kind: str, data: bytes) -> None:
    array = _parse(kind, data)
    if array is not None:  # a random file that parses must really be a well-formed one
        expected_magic = IMAGES_MAGIC if kind == "images" else LABELS_MAGIC
        assert int.from_bytes(data[:4], "big") == expected_magic
        assert array.nbytes + 4 * (1 + array.ndim) == len(data)


@FUZZ
@given(n=st.integers(0, 5), seed=st.integers(0, 9), position=st.integers(0, 15),
       value=st.integers(0, 255))
def test_mutated_header_byte(n: int, seed: int, position: int, value: int) -> None:
    data = bytearray(_valid_images(n, seed))
    data[position] = value
    array = _parse("images", bytes(data))
    if array is not None:
        assert array.shape == (int.from_bytes(data[4:8], "big"), 28, 28)
        assert bytes(data) == _valid_images(array.shape[0], seed)


@FUZZ
@given(dims=st.tuples(U32, U32, U32), payload=st.binary(max_size=2048))
def test_huge_declared_dimensions_allocate_nothing(dims: tuple[int, int, int],
                                                   payload: bytes) -> None:
    """A header may claim 2**96 bytes; the parser must compare, not allocate."""
    data = _header(IMAGES_MAGIC, *dims) + payload
    tracemalloc.start()
    try:
        array = _parse("images", data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"parsing {len(data)} bytes allocated {peak} bytes"
    if array is not None:
        assert array.shape == dims and array.nbytes == len(payload)


@FUZZ
@given(n=st.integers(1, 6), seed=st.integers(0, 9), cut=st.integers(1, 5000))
def test_truncated_files(n: int, seed: int, cut: int) -> None:
    data = _valid_images(n, seed)
    assert _parse("images", data[: max(len(data) - cut, 0)]) is None


@FUZZ
@given(n=st.integers(0, 6), seed=st.integers(0, 9), extra=st.binary(min_size=1, max_size=64))
def test_trailing_bytes(n: int, seed: int, extra: bytes) -> None:
    assert _parse("images", _valid_images(n, seed) + extra) is None


@FUZZ
@given(labels=st.lists(st.integers(0, 255), max_size=64), extra=st.binary(max_size=3))
def test_labels_out_of_range_or_padded(labels: list[int], extra: bytes) -> None:
    data = _header(LABELS_MAGIC, len(labels)) + bytes(labels) + extra
    array = _parse("labels", data)
    if array is not None:
        assert not extra and all(label < 10 for label in labels)
        assert array.tolist() == labels
    else:
        assert extra or any(label >= 10 for label in labels)


def test_product_of_dimensions_does_not_wrap() -> None:
    """n * rows * cols = 2**64 wraps to 0 in int64, matching an empty payload: still refused
    by the length check (not only later, by the 28x28 check)."""
    data = _header(IMAGES_MAGIC, 2**31, 2**31, 4)
    with pytest.raises(DataError, match="implies"):
        parse_idx_images(data, SOURCE)
