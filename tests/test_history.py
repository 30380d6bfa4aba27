"""``python flows/mnist_flow.py history``: the ledger's last runs as a table."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.cli import main as cli_main
from flows.history import main
from tasks.core.ledger import append_entry, ledger_path, make_entry


def record(artifacts: Path, kind: str, seed: int, accuracy: float) -> None:
    append_entry(ledger_path(artifacts), make_entry(
        kind=kind, run=f"run-{seed}", dataset="mnist", parameters={"seed": seed, "hidden": 20},
        data="0123456789abcdef", code="f" * 64, versions={}, cached=seed == 3,
        metrics={"test_accuracy": accuracy}, model_dir=artifacts / "m"))


def test_prints_the_last_runs_side_by_side(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for seed, accuracy in [(1, 0.81), (2, 0.82), (3, 0.83)]:
        record(tmp_path, "main" if seed < 3 else "sweep", seed, accuracy)
    assert cli_main(lambda config: {}, ["history", "--artifacts-dir", str(tmp_path),
                                        "-n", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["time", "kind", "run", "cached", "seed"]
    assert "run-1" not in "\n".join(out)
    assert out[2].split()[2:8] == ["main", "run-2", "no", "2", "-", "0.8200"]
    assert "yes" in out[3] and "0.8300" in out[3] and "2 of 3 runs" in out[-1]


def test_filters_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "main", 1, 0.8)
    record(tmp_path, "sweep", 2, 0.9)
    assert main(["--artifacts-dir", str(tmp_path), "--kind", "sweep"]) == 0
    out = capsys.readouterr().out
    assert "run-2" in out and "run-1" not in out


def test_an_empty_ledger_says_how_to_fill_it(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--artifacts-dir", str(tmp_path)]) == 0
    assert "no runs recorded" in capsys.readouterr().out


def test_a_bad_count_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--artifacts-dir", str(tmp_path), "--last", "0"]) == 2
    assert "error: --last" in capsys.readouterr().err
