"""Sweep wall time for 8 points: sequential, thread pool, local Dask; and Dask's fixed cost.

    python bench/bench_sweep.py [--mirror DIR] [--epochs N] [--workers 2]

All runs share one artifacts folder whose data stages are prepared first (and then cached);
before each engine the points' outputs are deleted, which voids their cache entries, so every
engine trains the same 8 points for real. One temporary Prefect server serves all runs, so
the engines differ only in where the points run. The Dask fixed cost is measured separately
in the same run: start a LocalCluster (127.0.0.1) and import Prefect and the sweep tasks on
every worker.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")

REPO = Path(__file__).resolve().parents[1]


def _import_on_worker() -> float:
    started = time.perf_counter()
    import prefect  # noqa: F401

    import tasks.stages.sweep_point  # noqa: F401
    return time.perf_counter() - started


def dask_fixed_cost(workers: int) -> tuple[float, float]:
    """Seconds to start a local cluster, and to import Prefect + our tasks on its workers."""
    from distributed import Client, LocalCluster

    started = time.perf_counter()
    with LocalCluster(host="127.0.0.1", dashboard_address="127.0.0.1:0", n_workers=workers,
                      threads_per_worker=1, processes=True) as cluster, Client(cluster) as client:
        client.wait_for_workers(workers)
        up = time.perf_counter() - started
        started = time.perf_counter()
        client.run(_import_on_worker)
        imported = time.perf_counter() - started
    return up, imported


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=os.environ.get("MNIST_MIRROR",
                                                           str(REPO.parent / "shared" / "mnist")))
    parser.add_argument("--epochs", type=int, default=2, help="epochs per point (fast preset)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from flows.sweep_flow import run_sweep
    from tasks.core.sweep import SearchSpace, parse_dimension
    from tasks.sweep_config import SweepConfig

    artifacts = Path(tempfile.mkdtemp(prefix="bench-sweep-"))
    space = SearchSpace(dimensions=(parse_dimension("lr=0.001,0.002"),
                                    parse_dimension("hidden=16,32"),
                                    parse_dimension("l2=0.001,0.002")))

    def config(engine: str, workers: int) -> SweepConfig:
        return SweepConfig.model_validate({
            "base": {"preset": "fast", "train": {"epochs": args.epochs},
                     "artifacts_dir": artifacts, "data": {"mirror": args.mirror}},
            "space": space, "engine": engine, "workers": workers})

    server = SubprocessASGIServer()
    server.start()
    rows = []
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            prepare = SweepConfig.model_validate({**config("threads", 1).model_dump(),
                                                  "space": SearchSpace(dimensions=(
                                                      parse_dimension("hidden=8"),))})
            run_sweep(prepare)  # data stages, once
            for name, engine, workers in [("sequential (1 thread)", "threads", 1),
                                          (f"thread pool ({args.workers})", "threads",
                                           args.workers),
                                          (f"local Dask ({args.workers} workers)", "dask",
                                           args.workers)]:
                shutil.rmtree(artifacts / "mnist" / "sweep" / "points", ignore_errors=True)
                started = time.perf_counter()
                result = run_sweep(config(engine, workers))
                seconds = time.perf_counter() - started
                assert result["statuses"] == ["ran"] * 8, result["statuses"]
                point_seconds = sum(r["seconds"] for r in result["leaderboard"])
                rows.append((name, seconds, point_seconds))
            up, imported = dask_fixed_cost(args.workers)
    finally:
        server.stop()
        shutil.rmtree(artifacts, ignore_errors=True)
    base = rows[0][1]
    print(f"8 points, fast preset, {args.epochs} epoch(s) each, {os.cpu_count()} cores\n")
    print(f"{'engine':<28} {'wall s':>8} {'sum of point s':>15} {'speed-up':>9}")
    for name, seconds, point_seconds in rows:
        print(f"{name:<28} {seconds:8.2f} {point_seconds:15.2f} {base / seconds:8.2f}x")
    print(f"\nDask fixed cost: cluster start {up:.2f} s, import Prefect + tasks on the workers "
          f"{imported:.2f} s (both in parallel across workers) = {up + imported:.2f} s")
    per_point = rows[0][1] / 8
    print(f"sequential cost per point {per_point:.2f} s: Dask's fixed cost equals "
          f"{(up + imported) / per_point:.1f} points of sequential work")
    return 0


if __name__ == "__main__":
    sys.exit(main())
