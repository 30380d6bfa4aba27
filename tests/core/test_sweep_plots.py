"""The sweep plot: one panel per swept setting, written atomically."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.core.errors import ConfigError
from tasks.core.sweep_plots import plot_validation_vs_params

ROWS = [{"lr": lr, "optimizer": opt, "validation_accuracy": acc}
        for lr, opt, acc in [(0.001, "adam", 0.93), (0.01, "momentum", 0.95),
                             (0.1, "adam", 0.90)]]


def test_writes_a_png_with_numeric_and_categorical_panels(tmp_path: Path) -> None:
    path = plot_validation_vs_params(ROWS, ["lr", "optimizer"], tmp_path / "sweep.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["sweep.png"]  # no temporary left


def test_same_rows_give_the_same_bytes(tmp_path: Path) -> None:
    a = plot_validation_vs_params(ROWS, ["lr"], tmp_path / "a.png").read_bytes()
    b = plot_validation_vs_params(ROWS, ["lr"], tmp_path / "b.png").read_bytes()
    assert a == b


def test_no_points_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least one point"):
        plot_validation_vs_params([], ["lr"], tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
