"""Ctrl-C (SIGINT) in each stage of ``python flows/mnist_flow.py``: a prompt exit 130 with one
short line and no traceback; the rerun resumes from the last completed stage.

One artifacts directory is carried through the chain: the run interrupted in stage k must find
stages before k in cache (their core functions are never called), and must not itself leave a
record that stage k finished. ``tests/hostile/run_flow.py`` stalls the chosen stage so the
signal lands inside it, as a Ctrl-C during a long stage would.
"""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest

from tasks.stages import stage_names
from tests.hostile.conftest import immutable, run_flow

INTERRUPTED = "interrupted; finished stages are kept, rerun to resume"


def _interrupt_in(stage: str, args: list[str], env: dict[str, str]) -> tuple[list[str], str]:
    process = run_flow(f"--stall={stage}", *args, env=env)
    assert process.stdout is not None
    before = []
    for line in process.stdout:
        before.append(line)
        if line.startswith(f"hostile: {stage} stalled"):
            break
    else:
        pytest.fail(f"the run ended before reaching {stage}:\n{''.join(before)}")
    process.send_signal(signal.SIGINT)
    # A hang guard, not a timing measurement: the stall itself lasts 300 s, and the product
    # stops by itself GRACE_SECONDS after the signal even when the API is starved or gone.
    # (The one failure seen here was a lost signal, not a slow stop: run_flow.py explains.)
    try:
        after, _ = process.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"SIGINT during {stage} did not stop the run")
    assert process.returncode == 130, after
    return before, after


def test_sigint_in_every_stage_then_resume(tmp_path: Path, mnist_mirror: Path,
                                           prefect_api_url: str) -> None:
    artifacts = tmp_path / "artifacts"
    args = ["--steps", "20", "--mirror", str(mnist_mirror), "--artifacts-dir", str(artifacts)]
    env = {"PREFECT_API_URL": prefect_api_url}
    for index, stage in enumerate(stage_names()):
        before, after = _interrupt_in(stage, args, env)
        called = {line.split()[1] for line in before if line.endswith("called\n")}
        assert called & set(stage_names()[:index - 1 if index else 0]) == set(), (
            f"stages finished by earlier runs must come from cache: {called}")
        assert after.strip().splitlines()[-1] == INTERRUPTED
        assert "Traceback" not in after and "KeyboardInterrupt" not in after, after
        records = artifacts / "mnist" / ".cache" / "records"
        assert not any(p.name.startswith(f"{stage}-") for p in records.glob("*"))
        assert list(artifacts.rglob("*.tmp")) == [], "no temporary file may survive"
    # The last run: only export is left. A read-only PREFECT_HOME does not matter with a
    # server: results and manifests live in the artifacts directory.
    home = tmp_path / "prefect-home"
    home.mkdir()
    with immutable(home):
        rerun = run_flow(*args, env={**env, "PREFECT_HOME": str(home)})
        output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    for stage in stage_names()[:-1]:
        assert f"{stage:<10} cached" in output, output
    assert "export     ran" in output
    assert (artifacts / "latest" / "W_1.csv").is_file()
