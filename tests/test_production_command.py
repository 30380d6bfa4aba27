"""``mnist-flow production``: what is in production, and its repair, as a user types them."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli import main
from tasks.core.production import Production, install_production
from tasks.engine.pointer import pointer_lock


def _promote(artifacts: Path, model: str) -> Path:
    source = artifacts / "mnist" / "models" / model
    source.mkdir(parents=True)
    for name in ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv"):
        (source / name).write_text("0\n")
    record = Production(model=model, path=f"promoted/{model}", source=str(source),
                        promoted_at="2026-12-06T03:00:00+00:00", reason="first model",
                        policy="if-better", accuracy=0.9632, test_accuracy=0.9631,
                        scores={}, eval_sizes={}, previous=None, previous_accuracy=None)
    with pointer_lock(artifacts / "mnist" / "production"):
        install_production(artifacts / "mnist", source, record)
    return source


def test_it_shows_nothing_then_the_model_since_when_and_why(tmp_path: Path, capsys) -> None:
    assert main(["production", "--artifacts-dir", str(tmp_path)]) == 0
    assert "nothing is in production for mnist yet" in capsys.readouterr().out
    _promote(tmp_path, "abc123def456")
    assert main(["production", "--artifacts-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "model      abc123def456" in out and "since      2026-12-06T03:00:00" in out
    assert "accuracy   0.9632 (test split 0.9631)" in out and "first model" in out


@pytest.mark.parametrize("damage", ["cut", "link", "folder"])
def test_damage_is_one_line_and_repair_mends_it(tmp_path: Path, capsys, damage: str) -> None:
    _promote(tmp_path, "abc123def456")
    dataset_dir = tmp_path / "mnist"
    link_before = os.readlink(dataset_dir / "production")
    if damage == "cut":
        (dataset_dir / "production.json").write_text('{"model": "abc')
    elif damage == "link":
        (dataset_dir / "production").unlink()
    else:
        for item in (dataset_dir / "promoted" / "abc123def456").iterdir():
            item.unlink()
        (dataset_dir / "promoted" / "abc123def456").rmdir()
    assert main(["production", "--artifacts-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: production of ") and len(err.strip().splitlines()) == 1
    assert main(["production", "repair", "--artifacts-dir", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip()
    assert os.readlink(dataset_dir / "production") == link_before
    assert main(["production", "--artifacts-dir", str(tmp_path)]) == 0
    assert "abc123def456" in capsys.readouterr().out
    assert main(["production", "repair", "--artifacts-dir", str(tmp_path)]) == 0
    assert "production is intact" in capsys.readouterr().out


def test_repair_with_nothing_left_says_so_and_changes_nothing(tmp_path: Path, capsys) -> None:
    source = _promote(tmp_path, "abc123def456")
    dataset_dir = tmp_path / "mnist"
    for folder in (dataset_dir / "promoted" / "abc123def456", source):
        for item in folder.iterdir():
            item.unlink()
        folder.rmdir()
    record = (dataset_dir / "production.json").read_bytes()
    assert main(["production", "repair", "--artifacts-dir", str(tmp_path)]) == 2
    assert "is gone from" in capsys.readouterr().err
    assert (dataset_dir / "production.json").read_bytes() == record
