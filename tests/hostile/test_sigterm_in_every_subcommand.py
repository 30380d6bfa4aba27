"""SIGTERM (``kill``, ``docker stop``, systemd) in the subcommands that run no flow: each stops
with its one ``interrupted; ...`` line and exit 130, as on Ctrl-C, never a silent 143.

Each command is given an input large enough to keep it busy, and the signal is sent only once
the command is seen inside that work: printing a table or a list larger than the pipe it
writes to (it cannot finish until the test reads on), or holding a file of a 5 GB intake
folder open to hash it (a minute of work). No test sleeps and hopes.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from tasks.core.export import write_weights_csv
from tasks.core.inbox import MAX_FILE_BYTES
from tasks.core.ledger import ledger_path, make_entry
from tasks.core.network import init_params
from tasks.core.quarantine import QuarantinedFile, write_table
from tasks.core.train_config import TrainConfig
from tests.serving.conftest import one_on_paper, png_bytes, promote

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
NOTHING_WRITTEN = "interrupted; nothing was written"


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(CONSOLE_SCRIPT), *args], text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _pipe_capacity(process: subprocess.Popen[str]) -> int:
    assert process.stdout is not None
    return fcntl.fcntl(process.stdout.fileno(), fcntl.F_GETPIPE_SZ)


def _terminate(process: subprocess.Popen[str], line: str = NOTHING_WRITTEN) -> tuple[str, str]:
    """SIGTERM, then everything the command printed; it must end with 130 and ``line``."""
    process.send_signal(signal.SIGTERM)
    try:  # a hang guard, not a timing measurement
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("SIGTERM did not stop the command")
    assert process.returncode == 130, err
    assert err.strip().splitlines() == [line], err
    return out, err


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[str], what: str) -> None:
    """Poll until ``condition()`` (a hang guard bounds it, not a timing assertion)."""
    deadline = time.monotonic() + 300
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the command ended (exit {process.returncode}) before {what}: "
                        f"{process.communicate()[1]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"never saw {what}")
        time.sleep(0.01)


def test_sigterm_while_history_prints_a_long_table(tmp_path: Path) -> None:
    rows = 10_000
    lines = []
    for i in range(rows):
        settings = TrainConfig(lr=round(0.01 + i * 1e-6, 6), seed=i).model_dump()
        lines.append(json.dumps(make_entry(
            kind="main", run=f"run-{i}", dataset="mnist", parameters=settings,
            data="0123456789abcdef", code="c" * 64, versions={"numpy": "2"},
            metrics={"test_accuracy": 0.9, "train_accuracy": 0.91}, cached=False,
            model_dir=tmp_path / "mnist" / "models" / str(i)), sort_keys=True))
    ledger_path(tmp_path).write_text("\n".join(lines) + "\n", encoding="utf-8")
    history = _start("history", "--last", str(rows), "--artifacts-dir", str(tmp_path))
    # every row holds at least its 19-character time: the table cannot fit in the pipe
    assert rows * 20 > 2 * _pipe_capacity(history)
    assert history.stdout is not None
    heading = history.stdout.readline()  # the table has started; it cannot finish unread
    assert "time" in heading and "run" in heading, heading
    out, _ = _terminate(history)
    assert "runs in" not in out  # the summary after the table was never reached


def test_sigterm_while_predict_prints_many_answers(tmp_path: Path) -> None:
    weights = tmp_path / "weights"
    write_weights_csv(init_params(20, np.random.RandomState(0)), weights)
    folder = tmp_path / ("scans-" + "d" * 200)  # long names: long answer lines
    folder.mkdir()
    pixels = np.zeros((28, 28), np.uint8)
    pixels[4:24, 12:16] = 255  # a "1"
    Image.fromarray(pixels).save(folder / "one.png")
    line = len(f"{folder / 'one.png'}: 1 (probability 0.1234)\n")
    count = 1 + 4 * 65536 // line
    predict = _start("predict", "--weights", str(weights), *[str(folder / "one.png")] * count)
    assert count * line > 2 * _pipe_capacity(predict)
    assert predict.stdout is not None
    first = predict.stdout.readline()  # every image classified, the answers being printed
    assert first.startswith("loaded 784-20-10 weights"), first
    out, _ = _terminate(predict)
    assert out.count("one.png:") < count


def test_sigterm_while_explain_hashes_a_large_intake_folder(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming" / "3"
    incoming.mkdir(parents=True)
    for i in range(500):  # sparse: 5 GB to hash, no disk used
        with open(incoming / f"scan{i:03d}.png", "wb") as scan:
            scan.truncate(MAX_FILE_BYTES)  # the largest file still hashed
    explain = _start("explain", "--artifacts-dir", str(tmp_path / "artifacts"),
                     "--incoming", str(tmp_path / "incoming"))

    def hashing() -> bool:
        try:
            fds = os.listdir(f"/proc/{explain.pid}/fd")
        except OSError:  # ended: _wait_for says so
            return False
        for fd in fds:
            try:
                if os.readlink(f"/proc/{explain.pid}/fd/{fd}").startswith(str(incoming)):
                    return True
            except OSError:  # closed meanwhile
                pass
        return False

    _wait_for(hashing, explain, "explain hashing the intake folder")
    out, _ = _terminate(explain)
    assert out == ""  # explain prints its verdicts only once it has them all


def test_sigterm_while_app_answers_requests(tmp_path: Path) -> None:
    promote(tmp_path, "model-a", seed=1)
    app = _start("app", "--artifacts-dir", str(tmp_path), "--port", "0")
    assert app.stdout is not None
    line = app.stdout.readline()  # printed once it accepts connections
    assert " at http://127.0.0.1:" in line, line
    url = line.split(" at ", 1)[1].split(";", 1)[0]
    answer = httpx.post(f"{url}/predict", content=png_bytes(one_on_paper()), timeout=60)
    assert answer.json()["model"] == "model-a"  # serving: now stop it
    _terminate(app)


def _model_folder(artifacts: Path, name: str) -> Path:
    folder = artifacts / "mnist" / "models" / name
    folder.mkdir(parents=True)
    for file in ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv"):
        (folder / file).write_text("0\n")
    return folder


@pytest.mark.parametrize("command", [["promote", "bbb", "--reason", "try it"],
                                     ["rollback", "--reason", "undo"]])
def test_sigterm_while_promote_or_rollback_waits_for_production(tmp_path: Path,
                                                                command: list[str]) -> None:
    """Another writer holds production's lock; the command waits on it and is stopped there."""
    art = ["--artifacts-dir", str(tmp_path)]
    for name in ("aaa", "bbb"):
        _model_folder(tmp_path, name)
    for name in ("aaa", "bbb"):  # two promotions: there is something to roll back to
        done = subprocess.run([str(CONSOLE_SCRIPT), "promote", name, "--reason", "x", *art],
                              capture_output=True, text=True, check=False)
        assert done.returncode == 0, done.stderr
    link = tmp_path / "mnist" / "production"
    before = (os.readlink(link), (tmp_path / "mnist" / "promotions.jsonl").read_bytes())
    lock = tmp_path / "mnist" / ".production.lock"
    with lock.open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        process = _start(*command, *art)

        def waiting_on_the_lock() -> bool:
            try:
                return any(os.readlink(f"/proc/{process.pid}/fd/{fd}") == str(lock)
                           for fd in os.listdir(f"/proc/{process.pid}/fd"))
            except OSError:  # an fd closed meanwhile, or the process ended: looked at again
                return False

        _wait_for(waiting_on_the_lock, process, "the command waiting on production's lock")
        _terminate(process, "interrupted; production was left as it was")
    assert (os.readlink(link), (tmp_path / "mnist" / "promotions.jsonl").read_bytes()) == before


def test_sigterm_while_release_lists_a_large_quarantine(tmp_path: Path) -> None:
    rows = 10_000
    write_table(tmp_path / "mnist" / "quarantine", [QuarantinedFile(
        f"3/scan{i:05d}.png", f"{i:064x}", 3, "label", "labelled 3, the model says 8 with "
        "p=0.99", stored=f"files/3/scan{i:05d}.png") for i in range(rows)])
    listing = _start("release", "--list", "--artifacts-dir", str(tmp_path))
    assert rows * 60 > 2 * _pipe_capacity(listing)
    assert listing.stdout is not None
    first = listing.stdout.readline()  # the list has started; it cannot finish unread
    assert first.startswith("files/3/scan00000.png  [label]"), first
    out, _ = _terminate(
        listing, "interrupted; files released so far stay released, the others stay in quarantine")
    assert "files in" not in out  # the count after the list was never reached
