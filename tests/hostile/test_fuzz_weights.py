"""The CSV weight loader against hostile files: the same weights back, or a WeightsError
naming the file; and the writer never writes a non-finite network."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.core.errors import WeightsError
from tasks.core.export import load_weights_csv, write_weights_csv
from tasks.core.network import PARAM_NAMES, init_params

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
HIDDEN = 3


def _params(seed: int = 0) -> dict[str, np.ndarray]:
    return init_params(HIDDEN, np.random.RandomState(seed), scale=0.5, dtype=np.float64, he=False)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_weights_csv(_params(), tmp_path)
    return tmp_path


def _load_or_error(folder: Path, victim: str) -> dict[str, np.ndarray] | None:
    try:
        return load_weights_csv(folder)
    except WeightsError as error:
        assert str(folder / f"{victim}.csv") in str(error) or str(folder) in str(error)
        return None


CELL = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "-inf", "1e999", "abc", '"1"', "0x10", "1,2", "#", "1;2",
                     "\ufeff1", "\x00", "1e-400", "+1", "1_000"]),
    st.text(max_size=8),
)


@FUZZ
@given(victim=st.sampled_from(PARAM_NAMES),
       rows=st.lists(st.lists(CELL, min_size=1, max_size=12), max_size=12))
def test_any_table_loads_correctly_or_names_the_file(folder: Path, victim: str,
                                                     rows: list[list[str]]) -> None:
    (folder / f"{victim}.csv").write_text("\n".join(",".join(r) for r in rows), "utf-8")
    params = _load_or_error(folder, victim)
    if params is not None:
        hidden = params["W_1"].shape[0]
        assert params["W_1"].shape == (hidden, 784) and params["b_2"].shape == (10, 1)
        assert all(np.isfinite(value).all() for value in params.values())


@FUZZ
@given(victim=st.sampled_from(PARAM_NAMES), data=st.binary(max_size=512))
def test_random_bytes(folder: Path, victim: str, data: bytes) -> None:
    (folder / f"{victim}.csv").write_bytes(data)
    params = _load_or_error(folder, victim)
    if params is not None:
        assert all(np.isfinite(value).all() for value in params.values())


@pytest.mark.parametrize(("victim", "content", "words"), [
    ("W_1", "", "is empty"),
    ("b_1", "\n\n  \n", "is empty"),
    ("W_2", "nan," * 2 + "nan\n", "non-finite"),
    ("b_2", "inf\n" * 10, "non-finite"),
    ("b_2", "1e999\n" * 10, "non-finite"),
    ("b_1", "one\ntwo\nthree\n", "not a table"),
    ("b_1", "1,2\n3,4\n5,6\n", "has shape 3x2, expected 3x1"),  # an extra column
    ("W_2", "1,2,3\n" * 9, "has shape 9x3, expected 10x3"),      # a missing row
    ("W_2", "1,2,3\n1,2\n" * 5, "not a table"),                  # ragged rows
])
def test_malformed_files_name_file_and_problem(folder: Path, victim: str, content: str,
                                               words: str) -> None:
    (folder / f"{victim}.csv").write_text(content, "utf-8")
    with pytest.raises(WeightsError, match=words) as caught:
        load_weights_csv(folder)
    assert f"{victim}.csv" in str(caught.value)


def test_a_byte_order_mark_is_accepted(folder: Path) -> None:
    """A spreadsheet saving the CSV as "UTF-8 with BOM" must not break the weights."""
    for name in PARAM_NAMES:
        path = folder / f"{name}.csv"
        path.write_text("\ufeff" + path.read_text("utf-8"), "utf-8")
    loaded = load_weights_csv(folder)
    for name, value in _params().items():
        np.testing.assert_array_equal(loaded[name], value)


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", PARAM_NAMES)
def test_writer_refuses_non_finite_params(tmp_path: Path, name: str, bad: float) -> None:
    params = _params()
    params[name].flat[-1] = bad
    with pytest.raises(WeightsError, match=f"parameter {name} holds NaN or infinite"):
        write_weights_csv(params, tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing may be written for a diverged network"
