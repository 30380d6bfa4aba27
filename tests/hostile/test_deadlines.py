"""Every wait has a deadline: a mirror that trickles, a Prefect API where nothing listens or
that accepts and never answers. Each ends in one ``error:`` line, exit 2, no temporary file.

The waits below are hang guards, generous for a loaded machine, not timing measurements.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tasks.core.fetch import fetch_dataset
from tasks.core.registry import get_dataset
from tests.hostile.conftest import REPO_ROOT, run_flow
from tests.hostile.faulty_servers import dead_port, silent_port, trickling_mirror

HANG_GUARD = 300


@pytest.fixture
def trickle() -> Iterator[str]:
    with trickling_mirror() as url:
        yield url


def test_trickling_mirror_fails_with_its_reason(tmp_path: Path, trickle: str,
                                                prefect_api_url: str) -> None:
    artifacts = tmp_path / "artifacts"
    process = run_flow("--mirror", trickle, "--timeout", "2", "--retries", "1",
                       "--artifacts-dir", str(artifacts), env={"PREFECT_API_URL": prefect_api_url})
    try:
        output, _ = process.communicate(timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("a trickling mirror stalled the run")
    assert process.returncode == 2, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "from any mirror" in errors[0], output
    assert "too slow" in output and "bytes/s" in output, output
    assert "Traceback" not in output
    assert list(artifacts.rglob("*.tmp")) == [], "no temporary file may survive"


def test_trickling_mirror_is_skipped_for_the_next(tmp_path: Path, trickle: str,
                                                  mnist_mirror: Path,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    spec = get_dataset("mnist")
    with caplog.at_level(logging.WARNING, logger="tasks.core.fetch"):
        paths = fetch_dataset(spec, [trickle, str(mnist_mirror)], tmp_path, timeout=1.5,
                              retries=1, backoff=0.1)
    assert sorted(p.name for p in paths.values()) == sorted(f.name for f in spec.files.values())
    assert "too slow" in caplog.text  # the first file found the trickle, the rest skipped it
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


# ---------------------------------------------------------------- the Prefect API
COMMANDS = {
    "run": [sys.executable, "flows/mnist_flow.py", "--steps", "5"],
    "serve": [sys.executable, "flows/mnist_flow.py", "serve", "--cron", "0 3 * * 0"],
    "sweep": [sys.executable, "flows/sweep_flow.py", "--grid", "lr=0.001", "--set", "epochs=1"],
}


@pytest.fixture(params=["nothing listens", "never answers"])
def bad_api(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "nothing listens":
        yield f"http://127.0.0.1:{dead_port()}/api"
        return
    with silent_port() as port:
        yield f"http://127.0.0.1:{port}/api"


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_unusable_prefect_api_is_one_error_line(command: str, bad_api: str, tmp_path: Path,
                                                mnist_mirror: Path) -> None:
    args = [*COMMANDS[command], "--mirror", str(mnist_mirror),
            "--artifacts-dir", str(tmp_path / "artifacts")]
    env = {**os.environ, "PREFECT_API_URL": bad_api}
    try:
        done = subprocess.run(args, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                              timeout=HANG_GUARD)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{command} hung on a Prefect API that {bad_api!r} never answers")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: the Prefect API at " + bad_api), lines
    assert "PREFECT_API_URL" in lines[0] and "prefect server start" in lines[0]
    assert not (tmp_path / "artifacts" / "mnist").exists(), "nothing may start"
