"""Whole-pipeline wall time against Prefect's own floor, in ephemeral and server mode.

    python bench/bench_flow.py [--mirror DIR] [--repeat N]

Each measurement is one `mnist-flow` process, timed from start to exit, as a user waits for
it. The floor is a flow with the same number of tasks (one per stage, plus publish) that do
nothing, measured in the same run and the same mode, interleaved with the runs (floor, cold,
cached, ``--repeat`` times); each figure is the best of its ``--repeat``. Targets: the
all-cached rerun within floor + 0.3 s (issue 11); a cold run of the `original` preset within
floor + 4 s in server mode and floor + 5 s in ephemeral mode (issue 14). Where the seconds of
a run go: ``bench/profile_run.py``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHED_TARGET = 0.3  # seconds over the empty flow for an all-cached rerun
# Prefect's floor for our run: an empty flow with as many tasks as a run has (every stage of
# the table, plus publish), so the difference is our own work.
_EMPTY_FLOW_TEMPLATE = """
from prefect import flow, task

@task
def stage(x):
    return x

@flow(name="empty-flow")
def empty():
    for i in range({tasks}):
        stage(i)

empty()
"""


def floor_tasks() -> int:
    """How many tasks a run of the pipeline has: every stage of ``tasks.pipeline.MAIN``
    (publish included)."""
    sys.path.insert(0, str(REPO))
    from tasks.pipeline import MAIN

    return len(MAIN)


def empty_flow() -> str:
    """The floor's script: as many do-nothing tasks as a run of the pipeline has."""
    return _EMPTY_FLOW_TEMPLATE.format(tasks=floor_tasks())


COLD_TARGET = {"ephemeral": 5.0, "server": 4.0}  # seconds over the empty flow (issue 14)


def write_bytecode(repo: Path) -> None:
    """Compile the project's modules: a user's second run finds the bytecode its first run
    wrote, and the runs measured here must be such runs even under PYTHONDONTWRITEBYTECODE
    (compiling the ~45 modules costs a run ~0.03 s)."""
    for package in ("tasks", "flows"):
        compileall.compile_dir(repo / package, quiet=1)


def timed(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    return seconds


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def prefect_server(env: dict[str, str]) -> Iterator[str]:
    """A real `prefect server start` on 127.0.0.1 and a free port, stopped afterwards."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port",
         str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/api"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(url + "/health", timeout=1).close()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise RuntimeError("prefect server did not start within 120 s")
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


def measure(mode: str, env: dict[str, str], mirror: str, repeat: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty_flow.py"
        empty.write_text(empty_flow())
        flow = [str(Path(sys.executable).with_name("mnist-flow")), "--mirror", mirror]
        floors, colds, cached = [], [], []
        for i in range(repeat):  # interleaved: a slow minute of the machine hits all three
            floors.append(timed([sys.executable, str(empty)], env))
            artifacts = ["--artifacts-dir", str(Path(scratch) / f"artifacts-{i}")]
            colds.append(timed(flow + artifacts, env))
            cached.append(timed(flow + artifacts, env))
    floor = min(floors)
    row = {"floor": floor, "cold": min(colds), "cached": min(cached)}
    print(f"{mode:<10} {floor:8.2f} {row['cold']:8.2f} {row['cached']:8.2f}"
          f" {row['cold'] - floor:+10.2f} {row['cached'] - floor:+10.2f}")
    return row


# Prefect settings that look like they could shorten the temporary server's start.
EPHEMERAL_VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {},
    "no migration check": {"PREFECT_SERVER_DATABASE_MIGRATE_ON_START": "false"},
    "no background services": {
        f"PREFECT_SERVER_SERVICES_{name}_ENABLED": "false"
        for name in ("SCHEDULER", "LATE_RUNS", "FOREMAN", "TRIGGERS", "EVENT_PERSISTER",
                     "TASK_RUN_RECORDER", "REPOSSESSOR", "CANCELLATION_CLEANUP",
                     "PAUSE_EXPIRATIONS")},
}


def measure_ephemeral_settings(env: dict[str, str], repeat: int) -> None:
    """The empty flow's wall time in ephemeral mode under each settings variant."""
    with tempfile.TemporaryDirectory() as scratch:
        empty = Path(scratch) / "empty_flow.py"
        empty.write_text(empty_flow())
        print(f"\n{'ephemeral start, settings':<28} {'floor s':>8}")
        for name, settings in EPHEMERAL_VARIANTS.items():
            seconds = min(timed([sys.executable, str(empty)], {**env, **settings})
                          for _ in range(repeat))
            print(f"{name:<28} {seconds:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=os.environ.get("MNIST_MIRROR",
                                                           str(REPO.parent / "shared" / "mnist")))
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    write_bytecode(REPO)
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "DO_NOT_TRACK": "1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               # a loaded machine starts the temporary server in more than the default 20 s
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
        env.pop("PREFECT_API_URL", None)
        timed([sys.executable, "-c", empty_flow()], env)  # first start creates the database
        print(f"{'mode':<10} {'floor s':>8} {'cold s':>8} {'cached s':>8}"
              f" {'cold-floor':>10} {'cached-floor':>10}")
        rows = {"ephemeral": measure("ephemeral", env, args.mirror, args.repeat)}
        with prefect_server(env) as url:
            rows["server"] = measure("server", {**env, "PREFECT_API_URL": url}, args.mirror,
                                     args.repeat)
        measure_ephemeral_settings(env, args.repeat)
    print(f"\n{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end")
    print(f"targets: cached <= floor + {CACHED_TARGET} s; cold (original preset) <= floor + 4 s "
          f"(server), + 5 s (ephemeral)")
    for mode, row in rows.items():
        cached_ok = row["cached"] - row["floor"] <= CACHED_TARGET
        cold_ok = row["cold"] - row["floor"] <= COLD_TARGET[mode]
        print(f"{mode:<10} cached {'met' if cached_ok else 'MISSED'}, "
              f"cold {'met' if cold_ok else 'MISSED'}")


if __name__ == "__main__":
    main()
