"""Helpers for the app's tests: models put in production through the gate, and a real
``mnist-flow app`` process on 127.0.0.1 (a free port, started and stopped by the test)."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from tasks.core.export import write_weights_csv
from tasks.core.network import Params, init_params
from tasks.core.promotion import EvalSets, PromotionRecord, gate

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
# The gate scores on these rows; "always" promotes whatever they say.
EVAL_SETS = {"test": (np.zeros((4, 784), np.float32), np.zeros(4, np.uint8))}


def promote(artifacts: Path, name: str, params: Params | None = None, *,
            seed: int = 0, sets: EvalSets = EVAL_SETS) -> PromotionRecord:
    """Export ``params`` (random ones from ``seed`` by default) as model ``name`` and put it
    in production through the gate (policy ``always``), scored on ``sets``."""
    model_dir = artifacts / "mnist" / "models" / name
    write_weights_csv(params if params is not None else
                      init_params(20, np.random.RandomState(seed)), model_dir)
    record = gate(artifacts / "mnist", model_dir, sets, dataset="mnist", policy="always")
    assert record.promoted, record
    return record


def png_bytes(pixels: np.ndarray) -> bytes:
    """``pixels (H, W) uint8`` encoded as PNG."""
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def one_on_paper() -> np.ndarray:
    """A dark "1" on white paper, ``(28, 28) uint8``."""
    pixels = np.full((28, 28), 255, np.uint8)
    pixels[4:24, 12:16] = 0
    return pixels


@contextlib.contextmanager
def app_process(artifacts: Path, *options: str) -> Iterator[str]:
    """``mnist-flow app`` on 127.0.0.1 and a free port; yields its URL; SIGTERM at the end
    must stop it with 130 and its one line."""
    process = subprocess.Popen(
        [str(CONSOLE_SCRIPT), "app", "--artifacts-dir", str(artifacts), "--port", "0",
         *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once it accepts connections
        assert " at http://127.0.0.1:" in line, (line, process.communicate(timeout=60))
        yield line.split(" at ", 1)[1].split(";", 1)[0]
    finally:
        process.send_signal(signal.SIGTERM)
        try:  # a hang guard, not a timing measurement
            _, err = process.communicate(timeout=120)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 130, err
    assert err.strip().splitlines()[-1] == "interrupted; nothing was written", err


def wait_healthy(url: str) -> None:
    """Poll /health until it answers (bounded by a hang guard)."""
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(f"{url}/health", timeout=30).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the app never answered /health"
        time.sleep(0.05)
