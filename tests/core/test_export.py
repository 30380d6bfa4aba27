"""Weight CSVs round-trip exactly; malformed ones raise WeightsError naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tasks.core.errors import WeightsError
from tasks.core.export import (
    load_weights_csv,
    read_history_csv,
    write_history_csv,
    write_metrics_json,
    write_weights_csv,
)
from tasks.core.network import PARAM_NAMES, init_params, predict_proba


def _trained_like(dtype: type, hidden: int = 5) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    params = init_params(hidden, rng, scale=0.3, dtype=dtype)
    params["b_1"] = (rng.standard_normal((hidden, 1)) * 1e-7).astype(dtype)
    params["b_2"] = rng.standard_normal((10, 1)).astype(dtype)
    return params


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_export_then_load_gives_identical_params_and_predictions(dtype, tmp_path: Path) -> None:
    params = _trained_like(dtype)
    paths = write_weights_csv(params, tmp_path)
    assert sorted(p.name for p in paths.values()) == ["W_1.csv", "W_2.csv", "b_1.csv", "b_2.csv"]
    first_row = (tmp_path / "W_1.csv").read_text().splitlines()[0]
    assert len(first_row.split(",")) == 784
    assert len((tmp_path / "b_1.csv").read_text().splitlines()) == 5
    loaded = load_weights_csv(tmp_path)
    for name in PARAM_NAMES:
        assert loaded[name].dtype == np.dtype(dtype)
        np.testing.assert_array_equal(loaded[name], params[name])
    X = np.random.default_rng(0).standard_normal((50, 784)).astype(np.float32)
    np.testing.assert_array_equal(predict_proba(loaded, X), predict_proba(params, X))
    assert not list(tmp_path.glob(".*.tmp"))


def _exported(tmp_path: Path) -> Path:
    write_weights_csv(_trained_like(np.float64), tmp_path)
    return tmp_path


@pytest.mark.parametrize(("file", "content", "message"), [
    ("W_2.csv", None, "W_2.csv is missing"),
    ("b_1.csv", "", "b_1.csv is empty"),
    ("W_1.csv", "1,2,three\n", "W_1.csv is not a table"),
    ("b_2.csv", "0\n" * 9 + "nan\n", "b_2.csv holds a non-finite value"),
    ("W_2.csv", ",".join(["0.5"] * 4) + "\n", "W_2.csv has shape 1x4, expected 10x5"),
    ("b_1.csv", "1\n2\n", "b_1.csv has shape 2x1, expected 5x1"),
    ("W_1.csv", "1,2\n3\n", "W_1.csv is not a table"),
])
def test_malformed_files_are_named(tmp_path: Path, file: str, content: str | None,
                                   message: str) -> None:
    folder = _exported(tmp_path)
    if content is None:
        (folder / file).unlink()
    else:
        (folder / file).write_text(content)
    with pytest.raises(WeightsError, match=message):
        load_weights_csv(folder)


def test_binary_garbage_is_a_weights_error(tmp_path: Path) -> None:
    folder = _exported(tmp_path)
    (folder / "W_1.csv").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(WeightsError, match=r"W_1\.csv"):
        load_weights_csv(folder)


def test_history_and_metrics_files(tmp_path: Path) -> None:
    rows = [{"step": 0, "lr": 0.01, "loss": 2.3, "train_accuracy": 0.1, "test_accuracy": 0.1},
            {"step": 50, "lr": 0.0096, "loss": 1.1, "train_accuracy": 0.6, "test_accuracy": 0.61}]
    write_history_csv(rows, tmp_path / "history.csv")
    lines = (tmp_path / "history.csv").read_text().splitlines()
    assert lines[0] == "step,lr,loss,train_accuracy,test_accuracy"
    assert lines[2] == "50,0.0096,1.1,0.6,0.61"
    assert read_history_csv(tmp_path / "history.csv") == rows
    write_metrics_json({"test": {"accuracy": np.float64(0.9), "confusion": np.eye(2, dtype=int)},
                        "bad": float("nan")}, tmp_path / "metrics.json")
    restored = json.loads((tmp_path / "metrics.json").read_text())
    assert restored == {"test": {"accuracy": 0.9, "confusion": [[1, 0], [0, 1]]}, "bad": None}
