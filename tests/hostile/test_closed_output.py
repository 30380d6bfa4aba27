"""A reader that stops reading (`mnist-flow release --list | head -3`) ends the command
quietly with 0, not with a BrokenPipeError traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tasks.core.quarantine import QuarantinedFile, write_table

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


def test_a_closed_pipe_ends_a_long_listing_quietly(tmp_path: Path) -> None:
    write_table(tmp_path / "mnist" / "quarantine", [QuarantinedFile(
        f"3/scan{i:05d}.png", f"{i:064x}", 3, "label", "labelled 3, the model says 8",
        stored=f"files/3/scan{i:05d}.png") for i in range(10_000)])  # ~600 kB: over a pipe
    listing = subprocess.Popen([str(CONSOLE_SCRIPT), "release", "--list", "--artifacts-dir",
                                str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    assert listing.stdout is not None and listing.stderr is not None
    assert listing.stdout.readline().startswith("files/3/scan00000.png")
    listing.stdout.close()  # as `head` does once it has its lines
    err = listing.stderr.read()
    assert listing.wait(timeout=120) == 0, err
    assert err == ""
