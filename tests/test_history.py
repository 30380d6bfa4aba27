"""``mnist-flow history``: the ledger's last runs as a table, whatever the file holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from flows.cli import main
from tasks.core.ledger import append_entry, ledger_path, make_entry


def record(artifacts: Path, kind: str, seed: int, accuracy: float) -> None:
    append_entry(ledger_path(artifacts), make_entry(
        kind=kind, run=f"run-{seed}", dataset="mnist", parameters={"seed": seed, "hidden": 20},
        data="0123456789abcdef", code="f" * 64, versions={}, cached=seed == 3,
        metrics={"test_accuracy": accuracy}, model_dir=artifacts / "m"))


def history(*argv: str) -> int:
    return main(["history", *argv])


def test_prints_the_last_runs_side_by_side(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for seed, accuracy in [(1, 0.81), (2, 0.82), (3, 0.83)]:
        record(tmp_path, "main" if seed < 3 else "sweep", seed, accuracy)
    assert history("--artifacts-dir", str(tmp_path), "-n", "2") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["time", "kind", "run", "cached", "seed", "val", "acc", "test",
                              "acc", "train", "acc", "data", "code"]
    assert "run-1" not in "\n".join(out)
    assert out[1].split()[2:9] == ["main", "run-2", "no", "2", "-", "0.8200", "-"]
    assert out[1].split()[-2:] == ["01234567", "ffffffff"]
    assert "yes" in out[2] and "0.8300" in out[2] and "2 of 3 runs" in out[-1]


def test_filters_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "main", 1, 0.8)
    record(tmp_path, "sweep", 2, 0.9)
    assert history("--artifacts-dir", str(tmp_path), "--kind", "sweep") == 0
    out = capsys.readouterr().out
    assert "run-2" in out and "run-1" not in out


def test_an_empty_ledger_says_how_to_fill_it(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert history("--artifacts-dir", str(tmp_path)) == 0
    assert "no runs recorded" in capsys.readouterr().out


def test_a_bad_count_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert history("--artifacts-dir", str(tmp_path), "--last", "0") == 2
    assert "error: --last" in capsys.readouterr().err


def test_damaged_lines_are_skipped_with_a_warning_and_the_rest_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "main", 1, 0.81)
    with open(ledger_path(tmp_path), "ab") as stream:
        stream.write(b'\xff\xfe not json\n[1, 2]\n')
    record(tmp_path, "main", 2, 0.82)
    with open(ledger_path(tmp_path), "ab") as stream:
        stream.write(b'{"kind": "main", "se')  # a torn last line
    assert history("--artifacts-dir", str(tmp_path)) == 0
    captured = capsys.readouterr()
    assert "run-1" in captured.out and "run-2" in captured.out
    assert "2 of 2 runs" in captured.out
    for line in (2, 3, 5):
        assert f"line {line} is not a complete entry; skipped" in captured.err
    assert "Traceback" not in captured.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_ledger_is_one_error_line(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "main", 1, 0.81)
    ledger_path(tmp_path).chmod(0)
    try:
        assert history("--artifacts-dir", str(tmp_path)) == 2
    finally:
        ledger_path(tmp_path).chmod(0o644)
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: cannot read the run ledger {ledger_path(tmp_path)}: Permission "
                   f"denied; fix its permissions, or point --artifacts-dir at another folder"]


def test_a_ledger_that_is_a_folder_is_one_error_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Runs as root too (where permissions cannot be tested): any unreadable file."""
    ledger_path(tmp_path).mkdir(parents=True)
    assert history("--artifacts-dir", str(tmp_path)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot read the run ledger") and err.count("\n") == 1
