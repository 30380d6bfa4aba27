"""``mnist-flow history``: the ledger's last runs as a table, whatever the file holds."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from tasks.core.ledger import append_entry, ledger_path, make_entry
from tests.ledger_lines import DAMAGE, WHY, encoded, main_line, write_ledger

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


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
    assert "yes" in out[2] and "0.8300" in out[2]
    assert out[-1] == f"the last 2 runs in {ledger_path(tmp_path)}; --last N shows more"


def test_filters_by_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    record(tmp_path, "main", 1, 0.8)
    record(tmp_path, "sweep", 2, 0.9)
    assert history("--artifacts-dir", str(tmp_path), "--kind", "sweep") == 0
    out = capsys.readouterr().out
    assert "run-2" in out and "run-1" not in out
    assert out.splitlines()[-1] == f"1 of 1 runs in {ledger_path(tmp_path)}"


def test_an_empty_ledger_says_how_to_fill_it(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert history("--artifacts-dir", str(tmp_path)) == 0
    assert "no runs recorded" in capsys.readouterr().out


def test_a_bad_count_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert history("--artifacts-dir", str(tmp_path), "--last", "0") == 2
    assert "error: --last" in capsys.readouterr().err


def test_damaged_lines_are_skipped_with_one_warning_and_the_rest_shown(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    damaged_ledger(tmp_path)
    # A handler on the root logger, as importing Prefect installs, must not repeat the warning.
    handler = logging.StreamHandler(sys.stderr)
    logging.getLogger().addHandler(handler)
    try:
        assert history("--artifacts-dir", str(tmp_path)) == 0
    finally:
        logging.getLogger().removeHandler(handler)
    captured = capsys.readouterr()
    assert_shows_the_good_runs_and_one_warning(tmp_path, captured.out, captured.err)


@pytest.mark.e2e
def test_the_console_script_prints_the_warning_once(tmp_path: Path) -> None:
    damaged_ledger(tmp_path)
    done = subprocess.run([str(CONSOLE_SCRIPT), "history", "--artifacts-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert_shows_the_good_runs_and_one_warning(tmp_path, done.stdout, done.stderr)


def damaged_ledger(artifacts: Path) -> None:
    """Two good runs, and between them every kind of damage, the last line torn."""
    lines = [encoded(main_line("run-1", 0.81))]
    lines += [DAMAGE[damage](main_line("bad")) for damage in sorted(DAMAGE) if damage != "torn"]
    lines.append(encoded(main_line("run-2", 0.82)))
    write_ledger(ledger_path(artifacts), lines, torn_tail=DAMAGE["torn"](main_line("bad")))


def assert_shows_the_good_runs_and_one_warning(artifacts: Path, out: str, err: str) -> None:
    table = out.splitlines()
    assert [row.split()[3] for row in table[1:3]] == ["run-1", "run-2"]
    assert "0.8100" in table[1] and "0.8200" in table[2] and "bad" not in out
    assert table[-1] == f"2 of 2 runs in {ledger_path(artifacts)}"
    assert err.splitlines() == [
        f"warning: {ledger_path(artifacts)}: skipped {len(DAMAGE)} lines that are not complete "
        f"entries; the first, line 2: {WHY[sorted(DAMAGE)[0]]}"]


def test_the_ledger_is_read_from_its_end(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    """Damage older than the runs shown is not read: no warning about it."""
    damaged_ledger(tmp_path)
    with open(ledger_path(tmp_path), "ab") as stream:
        stream.write(b"\n" + b"\n".join(encoded(main_line(f"run-{i}")) for i in (3, 4, 5)) + b"\n")
    assert history("--artifacts-dir", str(tmp_path), "--last", "2") == 0
    captured = capsys.readouterr()
    assert "run-4" in captured.out and "run-5" in captured.out and "run-3" not in captured.out
    assert captured.err == ""


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
