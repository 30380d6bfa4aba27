"""Latency and throughput of ``mnist-flow app`` under a bounded load, on 127.0.0.1.

    python bench/bench_app.py [--requests N] [--clients N]

Starts a real ``mnist-flow app`` (uvicorn, one process) on a free port over a temporary
artifacts folder holding a 784-20-10 model put in production through the gate, then sends
``--requests`` requests from ``--clients`` concurrent clients (threads, one keep-alive
connection each) for each of: ``GET /health`` (the baseline: the HTTP stack alone, measured
in the same run), ``POST /predict`` with a 28x28 PNG, and with a JSON 28x28 array. Prints
p50, p99 and the slowest latency, requests per second and the errors, and the ratio of each
p50 to the baseline's.

Target (issue 24): p99 under 20 ms for a 28x28 PNG on the 2-core machine, no error.
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 20.0
WARMUP = 50  # requests per client before the clock starts: connections, first model load


def digit_pixels() -> np.ndarray:
    """A dark "7" on white paper, ``(28, 28) uint8``."""
    pixels = np.full((28, 28), 255, np.uint8)
    pixels[5:8, 6:22] = 0
    for row in range(8, 24):
        col = 21 - (row - 8) * 10 // 16
        pixels[row, col - 1:col + 2] = 0
    return pixels


def png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def start_app(artifacts: Path) -> tuple[subprocess.Popen[str], int]:
    """A production model in ``artifacts`` and ``mnist-flow app`` serving it; its port."""
    from tasks.core.export import write_weights_csv
    from tasks.core.network import init_params
    from tasks.core.promotion import gate

    model = artifacts / "mnist" / "models" / "bench-model"
    write_weights_csv(init_params(20, np.random.RandomState(0)), model)
    sets = {"test": (np.zeros((4, 784), np.float32), np.zeros(4, np.uint8))}
    gate(artifacts / "mnist", model, sets, dataset="mnist", policy="always")
    command = Path(sys.executable).with_name("mnist-flow")
    process = subprocess.Popen([str(command), "app", "--artifacts-dir", str(artifacts),
                                "--port", "0"], stdout=subprocess.PIPE, text=True,
                               stderr=subprocess.DEVNULL,  # its "interrupted;" line at the end
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    line = process.stdout.readline()
    if " at http://127.0.0.1:" not in line:
        process.kill()
        sys.exit(f"the app did not start: {line!r}")
    return process, int(line.split("http://127.0.0.1:", 1)[1].split(";", 1)[0])


def load(port: int, method: str, path: str, body: bytes | None, content_type: str,
         requests: int, clients: int) -> tuple[list[float], int, float]:
    """Latencies (seconds) of ``requests`` requests from ``clients`` threads, the number of
    errors (not 200), and the wall seconds of the whole load."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    ready = threading.Barrier(clients + 1)

    def client(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        headers = {"Content-Type": content_type}

        def one() -> tuple[float, bool]:
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            return time.perf_counter() - started, response.status == 200

        for _ in range(WARMUP):
            one()
        ready.wait()
        mine, bad = [], 0
        for _ in range(count):
            seconds, ok = one()
            mine.append(seconds)
            bad += not ok
        connection.close()
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    shares = [requests // clients + (i < requests % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return latencies, errors[0], time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per endpoint")
    parser.add_argument("--clients", type=int, default=8, help="concurrent clients")
    args = parser.parse_args()
    pixels = digit_pixels()
    cases = [("GET /health (baseline)", "GET", "/health", None, "text/plain"),
             ("POST /predict, 28x28 PNG", "POST", "/predict", png(pixels), "image/png"),
             ("POST /predict, JSON 28x28", "POST", "/predict",
              json.dumps(pixels.tolist()).encode(), "application/json")]
    with tempfile.TemporaryDirectory() as folder:
        process, port = start_app(Path(folder))
        try:
            rows = [(name, *load(port, method, path, body, kind, args.requests, args.clients))
                    for name, method, path, body, kind in cases]
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    print(f"{args.requests:,} requests per row from {args.clients} concurrent clients, "
          f"127.0.0.1, one app process")
    print(f"{'endpoint':<28}{'p50 ms':>8}{'p99 ms':>8}{'max ms':>8}{'req/s':>8}{'errors':>8}"
          f"{'p50 / baseline':>16}")
    base = float(np.percentile(rows[0][1], 50))
    for name, latencies, errors, wall in rows:
        ms = np.asarray(latencies) * 1000
        p50, p99 = np.percentile(ms, 50), np.percentile(ms, 99)
        print(f"{name:<28}{p50:>8.1f}{p99:>8.1f}{ms.max():>8.1f}{len(ms) / wall:>8.0f}"
              f"{errors:>8}{p50 / (base * 1000):>15.1f}x")
    png_p99 = float(np.percentile(np.asarray(rows[1][1]) * 1000, 99))
    verdict = "met" if png_p99 < TARGET_P99_MS and not rows[1][2] else "NOT met"
    print(f"target p99 < {TARGET_P99_MS:g} ms for a 28x28 PNG with no error: {verdict} "
          f"({png_p99:.1f} ms, {rows[1][2]} errors)")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
