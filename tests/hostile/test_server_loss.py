"""Losing the Prefect server mid-run costs no work: the running stage finishes and is kept, the
run ends with one ``error:`` line and exit 2 within 30 s of the loss, and a rerun resumes.

The server here is a real ``prefect server start`` on 127.0.0.1 (its own process group), lost
while the training stage computes: killed with SIGKILL, as a crashed or OOM-killed server
would be, or frozen with SIGSTOP, as a hung one (it accepts connections and never answers).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from prefect import flow, task
from prefect.settings import PREFECT_API_URL, temporary_settings

from flows.lifecycle import ServerLostError, guarded_run, run_is_idle
from tests.hostile.faulty_servers import healthy_api
from tests.integration.conftest import prefect_server

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
# ~15 s of single-sample SGD: long enough that the kill lands inside training, short enough
# that the stage finishes soon after it.
STEPS = "100000"
# The promise, checked as an upper bound (the product ends ~12 s after the loss:
# LOST_AFTER_SECONDS plus the end of the stage), not as a benchmark.
ENDS_WITHIN_SECONDS = 30.0
HANG_GUARD = 300


def _run(artifacts: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([str(CONSOLE_SCRIPT), "--preset", "original", "--steps", STEPS,
                             "--artifacts-dir", str(artifacts)], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.parametrize("loss", [signal.SIGKILL, signal.SIGSTOP], ids=["killed", "hung"])
def test_losing_the_server_mid_training_keeps_the_work(loss: signal.Signals, tmp_path: Path,
                                                       mnist_mirror: Path) -> None:
    artifacts = tmp_path / "artifacts"
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
    with prefect_server(tmp_path / "first", mnist_mirror) as server:
        run = _run(artifacts, server.env)
        assert run.stdout is not None
        before = []
        for line in run.stdout:
            before.append(line)
            if "train  90." in line:  # 90 % of the steps done: the rest takes a second or two
                break
        else:
            pytest.fail(f"the run ended before training 90 %:\n{''.join(before)}")
        os.killpg(server.process.popen.pid, loss)
        lost = time.monotonic()
        try:
            after, _ = run.communicate(timeout=HANG_GUARD)
        except subprocess.TimeoutExpired:
            run.kill()
            pytest.fail("the run did not end after losing its server")
        finally:
            with contextlib.suppress(ProcessLookupError):  # a frozen one too
                os.killpg(server.process.popen.pid, signal.SIGKILL)
        seconds = time.monotonic() - lost
    # shown with -s; the report quotes it
    print(f"server {signal.Signals(loss).name} -> run ended: {seconds:.1f} s")
    assert run.returncode == 2, after
    lines = after.strip().splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [lines[-1]], after  # one line, the last
    assert lines[-1].startswith(f"error: lost the Prefect server at {server.api}; "
                                "finished stages are kept"), after
    assert "Traceback" not in after and "Error logging to API" not in after, after
    assert seconds < ENDS_WITHIN_SECONDS, after
    # the training finished after the loss, and its outputs and record are kept
    assert "train 100.0%" in after, after
    mnist = artifacts / "mnist"
    assert len(list((mnist / "raw").glob("*-ubyte"))) == 4
    assert (mnist / "parquet" / "train.parquet").is_file()
    assert [path.name for path in (mnist / "models").glob("*/params.npz")] == ["params.npz"]
    assert list((mnist / ".cache" / "records").glob("train-*")), "train's record is kept"

    if loss != signal.SIGKILL:
        return  # the rerun is the same for both
    # a new server (or the same one restarted): the rerun resumes after training
    with prefect_server(tmp_path / "second", mnist_mirror) as server:
        rerun = _run(artifacts, server.env)
        output, _ = rerun.communicate(timeout=HANG_GUARD)
    assert rerun.returncode == 0, output
    for stage in ("download", "preprocess", "intake", "validate", "train"):
        assert f"  {stage:<10} cached" in output, output


# ---------------------------------------------------------------- when a lost run may end
MAIN = threading.main_thread().ident


@task
def _idle_inside_a_task() -> bool:
    assert MAIN is not None
    return run_is_idle(MAIN)


@flow
def _idle_where() -> dict[str, bool]:
    assert MAIN is not None
    between_tasks = run_is_idle(MAIN)
    inside_a_task = _idle_inside_a_task()
    awaiting_a_task = _idle_inside_a_task.submit().result()  # this one runs in a pool thread
    return {"between tasks": between_tasks, "inside a task": inside_a_task,
            "awaiting a task": awaiting_a_task}


def test_a_lost_run_waits_for_running_tasks_only(prefect_api_url: str) -> None:
    """:func:`run_is_idle` reads Prefect's engines off the thread stacks: checked against a
    real flow run, so a Prefect release that moves them fails here."""
    assert threading.current_thread() is threading.main_thread()
    assert MAIN is not None
    assert run_is_idle(MAIN) is False  # no flow runs here (serve between runs)
    assert _idle_where() == {"between tasks": True, "inside a task": False,
                             "awaiting a task": False}


# ---------------------------------------------------------------- Prefect's client gave up first
def test_a_connection_error_from_a_lost_server_is_the_one_line() -> None:
    """Prefect's client raises at once, without retries, when it never reached the server
    (a flow starting just after the server went away): the same line, not a traceback."""
    kept = "finished stages are kept, rerun to resume"
    with healthy_api() as (url, stop), temporary_settings({PREFECT_API_URL: url}), \
            pytest.raises(ServerLostError) as lost, guarded_run(interrupted=kept):
        stop()
        raise httpx.ConnectError("[Errno 111] Connection refused")
    assert str(lost.value) == f"lost the Prefect server at {url}; {kept}"
    # a server that is there: the error is not ours to explain
    with healthy_api() as (live, _), temporary_settings({PREFECT_API_URL: live}), \
            pytest.raises(httpx.ConnectError), guarded_run(interrupted=kept):
        raise httpx.ConnectError("a bug elsewhere")
