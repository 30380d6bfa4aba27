"""Run report: data URIs round-trip, every section renders from what is present, rows flatten."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tasks.core.errors import DataError
from tasks.core.report import metrics_table_rows, png_data_uri, render_report

CLOTHES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
           "Bag", "Ankle boot")


def _png(path: Path, color: int = 0) -> Path:
    Image.new("L", (4, 3), color).save(path, format="PNG")
    return path


def _metrics() -> dict[str, object]:
    per_class = [{"class": name, "precision": 0.9, "recall": np.float32(0.8), "f1": 0.847,
                  "support": np.int64(1000)} for name in CLOTHES]
    return {
        "test": {"accuracy": np.float64(0.8775), "loss": 0.41234, "per_class": per_class,
                 "confusion": np.eye(10, dtype=np.int64).tolist()},
        "train": {"accuracy": 0.9012, "loss": 0.35, "n": 60000},
        "seconds": 3.5,
    }


def test_png_data_uri_round_trips_the_file_bytes(tmp_path: Path) -> None:
    path = _png(tmp_path / "plot.png", color=200)
    uri = png_data_uri(path)
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert base64.b64decode(uri[len(prefix):], validate=True) == path.read_bytes()


def test_png_data_uri_refuses_a_file_that_is_not_png(tmp_path: Path) -> None:
    (tmp_path / "plot.png").write_bytes(b"GIF89a not a png")
    with pytest.raises(DataError, match="expected a PNG"):
        png_data_uri(tmp_path / "plot.png")


def test_png_data_uri_names_a_missing_plot(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"missing\.png"):
        png_data_uri(tmp_path / "missing.png")


def test_metrics_table_rows_flattens_splits_to_json_ready_scalars() -> None:
    rows = metrics_table_rows(_metrics())
    assert rows == [
        {"split": "test", "accuracy": 0.8775, "loss": 0.41234},
        {"split": "train", "accuracy": 0.9012, "loss": 0.35, "n": 60000},
    ]
    assert type(rows[0]["accuracy"]) is float
    json.dumps(rows)


def test_metrics_table_rows_of_nothing_is_empty() -> None:
    assert metrics_table_rows({}) == []
    assert metrics_table_rows({"seconds": 1.0}) == []


def test_report_has_every_section_in_order(tmp_path: Path) -> None:
    plots = {"acc_and_loss_rate.png": _png(tmp_path / "a.png", 10),
             "confusion_matrix.png": _png(tmp_path / "c.png", 90)}
    stages = [{"name": "download", "status": "cached", "seconds": 0.012},
              {"name": "train", "status": "ran", "seconds": 4.2, "reason": "lr changed"}]
    text = render_report(
        title="mnist-flow run 42", summary={"preset": "original", "accuracy": 0.8775,
                                            "seconds": 12.345},
        metrics=_metrics(), plots=plots, stages=stages,
        note="nothing changed since run 41;\nweights come from cache",
    )
    # pictures first (curves, then the confusion matrix), per-class tables last
    headings = ["# mnist-flow run 42", "## Plots", "### acc_and_loss_rate.png",
                "### confusion_matrix.png", "## Summary", "## Metrics", "## Stages",
                "## Per-class precision, recall and F1 (test)"]
    positions = [text.index(f"\n{heading}\n" if i else f"{heading}\n")
                 for i, heading in enumerate(headings)]
    assert positions == sorted(positions)
    assert "> nothing changed since run 41;\n> weights come from cache" in text
    assert "| preset | original |" in text and "| accuracy | 87.75 % |" in text
    assert "| seconds | 12.35 |" in text
    assert "| test | 87.75 % | 0.4123 |" in text
    for name in CLOTHES:
        assert f"| {name} | 0.9000 | 0.8000 | 0.8470 | 1000 |" in text
    assert "| download | cached | 0.01 | — |" in text
    assert "| train | ran | 4.20 | lr changed |" in text
    for name, path in plots.items():
        assert f"![{name}]({png_data_uri(path)})" in text
    assert "file://" not in text


def test_report_leaves_out_what_is_absent() -> None:
    text = render_report(title="t", summary={}, metrics={"test": {"accuracy": 0.5}}, plots={})
    assert "## Metrics" in text and "| test | 50.00 % |" in text
    for missing in ("## Summary", "## Per-class", "## Stages", "## Plots", ">"):
        assert missing not in text


def test_report_cells_cannot_break_the_table() -> None:
    text = render_report(title="t", summary={"run": "a|b\nc", "lr": 1e-5, "missing": None},
                         metrics={}, plots={})
    assert "| run | a\\|b c |" in text
    assert "| lr | 1e-05 |" in text and "| missing | — |" in text


def test_report_with_a_missing_plot_raises_instead_of_a_broken_image(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"gone\.png"):
        render_report(title="t", summary={}, metrics={}, plots={"x": tmp_path / "gone.png"})
