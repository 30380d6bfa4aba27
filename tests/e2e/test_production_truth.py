"""Production has one truth and is never silently emptied: a damaged record, a deleted model
folder or a lost link stops the run with one line naming the file and the repair, nothing
moves, and ``mnist-flow production repair`` brings it back (issue 21)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

pytestmark = [pytest.mark.e2e]

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


@pytest.fixture
def user(tmp_path: Path, mnist_mirror: Path, prefect_server: None) -> dict[str, object]:
    env = {**os.environ, "MNIST_MIRROR": str(mnist_mirror), "PYTHONUNBUFFERED": "1",
           "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    return {"cwd": tmp_path, "env": env}


def mnist_flow(user: dict[str, object], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=user["cwd"], env=user["env"],
                          text=True, capture_output=True, timeout=900)


def _state(dataset_dir: Path) -> tuple[str | None, bytes | None]:
    link, record = dataset_dir / "production", dataset_dir / "production.json"
    return (os.readlink(link) if link.is_symlink() else None,
            record.read_bytes() if record.exists() else None)


def _one_error_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_a_damaged_production_stops_the_run_and_repair_brings_it_back(user) -> None:
    dataset_dir = Path(user["cwd"]) / "artifacts" / "mnist"
    good = mnist_flow(user, "--steps", "300")
    assert good.returncode == 0, good.stderr
    assert "promoted:" in good.stdout
    intact = _state(dataset_dir)

    # The record cut in half, then a deliberately bad model: it must not replace production.
    record = dataset_dir / "production.json"
    record.write_bytes(intact[1][: len(intact[1]) // 2])
    bad = mnist_flow(user, "--steps", "300", "--lr", "0.000001")
    _one_error_line(bad, "production.json cannot be read", "mnist-flow production repair",
                    "nothing was promoted")
    assert os.readlink(dataset_dir / "production") == intact[0]
    explain = mnist_flow(user, "explain", "--steps", "300", "--lr", "0.000001")
    _one_error_line(explain, "production.json cannot be read")
    predict = mnist_flow(user, "predict")
    _one_error_line(predict, "production.json cannot be read")

    repaired = mnist_flow(user, "production", "repair")
    assert repaired.returncode == 0 and "rewrote" in repaired.stdout, repaired.stderr
    assert _state(dataset_dir) == intact
    shown = mnist_flow(user, "production")
    assert shown.returncode == 0 and intact[0].split("/")[-1] in shown.stdout

    # The production model's folder deleted: a rerun with nothing else changed must not say
    # "nothing changed since" about it.
    shutil.rmtree(dataset_dir / intact[0])
    rerun = mnist_flow(user, "--steps", "300")
    line = _one_error_line(rerun, "which is missing")
    assert "nothing changed" not in rerun.stdout + line
    assert mnist_flow(user, "production", "repair").returncode == 0  # copied from models/
    again = mnist_flow(user, "--steps", "300")
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout or "nothing changed since" in again.stdout
