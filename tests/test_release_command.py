"""``mnist-flow release`` as a user runs it: list, release, and one error line for a file that
is not held."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.core.quarantine import QuarantinedFile, quarantine_files, read_table

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


def mnist_flow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CONSOLE_SCRIPT), *args], capture_output=True, text=True,
                          timeout=300)


def test_release_lists_moves_back_and_refuses_unknown_files(tmp_path: Path) -> None:
    incoming, artifacts = tmp_path / "incoming", tmp_path / "artifacts"
    quarantine = artifacts / "mnist" / "quarantine"
    (incoming / "4").mkdir(parents=True)
    (incoming / "4" / "x.png").write_bytes(b"png")
    quarantine_files(incoming, quarantine, [QuarantinedFile(
        "4/x.png", "abc", 4, "label", "labelled 4, the model says 9")], "now")

    listed = mnist_flow("release", "--list", "--artifacts-dir", str(artifacts))
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == [
        "files/4/x.png  [label] labelled 4, the model says 9",
        f"1 files in {quarantine.resolve()}"]

    unknown = mnist_flow("release", "4/y.png", "--artifacts-dir", str(artifacts))
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1
    assert unknown.stderr.startswith("error: 4/y.png is not in the quarantine")

    other = tmp_path / "elsewhere"
    done = mnist_flow("release", str(quarantine / "files" / "4" / "x.png"), "--incoming",
                      str(other), "--artifacts-dir", str(artifacts))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("released 4/x.png (label: labelled 4, the model says 9) -> ")
    assert (other / "4" / "x.png").read_bytes() == b"png" and read_table(quarantine) == []
