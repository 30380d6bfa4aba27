"""mnist-sweep: train every point of a search space, rank on validation, crown a champion.

    python flows/sweep_flow.py --grid lr=0.001,0.002 hidden=20,32 --set epochs=2
    python flows/sweep_flow.py --random 8 --space lr=log:0.0005..0.01 hidden=16..64
    python flows/sweep_flow.py --grid l2=0,0.002 --dask                       # local Dask
    python flows/sweep_flow.py --grid l2=0,0.002 --dask-address tcp://host:8786

The data stages run once (cached like the main flow's); each point is its own cached task on
the thread pool or on Dask. Dask's local cluster starts worker processes that re-import this
file, hence everything below the ``__main__`` guard.
"""

from __future__ import annotations

import os
import sys

# Offline, Prefect's telemetry call fails noisily; the user's own setting wins.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

import argparse
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from pydantic import ValidationError
from threadpoolctl import threadpool_limits

from flows.cli import add_download_options, download_settings
from flows.lifecycle import guarded_run
from tasks.config import describe_validation_error
from tasks.core.atomic import remove_stale_temps
from tasks.core.errors import ConfigError
from tasks.core.registry import DATASETS
from tasks.core.sweep import SearchSpace, parse_dimension, parse_value
from tasks.core.train_config import PRESETS
from tasks.layout import Layout
from tasks.runner import Stage, StageRunner
from tasks.stages import STAGES, stage_names
from tasks.sweep import SweepConfig, finish_sweep, sweep_dir, train_point

# The sweep's own stage: one per point, fed the preprocess manifest like `train`.
POINT = Stage("sweep-point", train_point, upstream={"data": "preprocess"},
              outputs=("params", "history", "config", "validation"))


@flow(name="mnist-sweep", log_prints=False)
def sweep_flow(config: SweepConfig) -> dict[str, Any]:
    """Prepare the data once, train every point as its own cached task, rank and publish."""
    layout = Layout.of(config.base)
    points = config.point_configs()
    remove_stale_temps(layout.root)  # left by a run killed mid-write
    stages = StageRunner(layout)
    data_stages = STAGES[:stage_names().index("preprocess") + 1]
    data = stages.run_all(data_stages, config.base)["preprocess"]
    point_task = stages.configure(POINT)
    points_root = sweep_dir(layout.root, layout.dataset) / "points"
    inputs = [{"data": data, "config": c, "points_root": points_root} for c in points]
    for point_inputs in inputs:
        stages.prepare(POINT, point_inputs)  # a damaged point's record is dropped: it reruns
    # One BLAS thread for the whole sweep: threads entering and leaving training's own limit
    # in any order then never leave a neighbour with spinning BLAS threads.
    with threadpool_limits(limits=1, user_api="blas"):
        futures = [point_task.submit(**point_inputs) for point_inputs in inputs]
        for future in futures:
            future.wait()
    states = [future.state for future in futures]
    failed = [(c, s) for c, s in zip(points, states, strict=True) if not s.is_completed()]
    if failed:
        config_text, state = failed[0]
        raise ConfigError(f"{len(failed)} of {len(points)} sweep points failed; first: "
                          f"{config_text.model_dump(exclude_defaults=True)}: {state.message}")
    statuses = ["cached" if s.name == "Cached" else "ran" for s in states]
    manifests = [stages.manifest(s.result()) for s in states]
    finished = finish_sweep(layout.root, data, config.space.names, manifests, statuses)
    return {**finished, "statuses": statuses, "engine": describe_engine(config),
            "data_stages": stages.records}


def make_task_runner(config: SweepConfig) -> TaskRunner[Any]:
    """The thread pool, a local Dask cluster bound to 127.0.0.1, or an existing cluster."""
    if config.dask_address or config.engine == "dask":
        from prefect_dask import DaskTaskRunner

        if config.dask_address:
            return DaskTaskRunner(address=config.dask_address)
        return DaskTaskRunner(cluster_class="distributed.LocalCluster", cluster_kwargs={
            "host": "127.0.0.1", "dashboard_address": "127.0.0.1:0",
            "n_workers": config.workers, "threads_per_worker": 1, "processes": True})
    return ThreadPoolTaskRunner(max_workers=config.workers)


def describe_engine(config: SweepConfig) -> str:
    if config.dask_address:
        return f"dask at {config.dask_address}"
    if config.engine == "dask":
        return f"local dask, {config.workers} workers"
    return f"thread pool, {config.workers} threads"


def run_sweep(config: SweepConfig) -> dict[str, Any]:
    """Run :func:`sweep_flow` on the engine ``config`` names."""
    with _api_shared_with_workers(config):
        return sweep_flow.with_options(task_runner=make_task_runner(config))(config)


@contextlib.contextmanager
def _api_shared_with_workers(config: SweepConfig) -> Iterator[None]:
    # With no Prefect API configured, every Dask worker process would start its own temporary
    # server (seconds each, and its task runs invisible to ours): start the one temporary
    # server here and hand its address to the workers.
    if not (config.engine == "dask" or config.dask_address) or PREFECT_API_URL.value():
        yield
        return
    from prefect.logging.handlers import APILogWorker
    from prefect.server.api.server import SubprocessASGIServer

    server = SubprocessASGIServer()
    server.start()
    try:
        with temporary_settings(updates={PREFECT_API_URL: server.api_url}):
            yield
            APILogWorker.drain_all(timeout=5)  # before the server goes, or exit waits on retries
    finally:
        server.stop()


# ---------------------------------------------------------------- command line
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python flows/sweep_flow.py",
        description="Train every point of a hyperparameter grid (or N random draws), rank them "
                    "on a validation split held out from the training set, export the best as "
                    "the champion if it beats the current one. Finished points come from cache.")
    space = parser.add_argument_group("search space (settings are TrainConfig fields)")
    space.add_argument("--grid", "--space", dest="space", nargs="+", metavar="NAME=VALUES",
                       required=True, help="NAME=V1,V2,... values; with --random also "
                       "NAME=LOW..HIGH or NAME=log:LOW..HIGH ranges")
    space.add_argument("--random", type=int, metavar="N",
                       help="draw N random points instead of the full grid")
    space.add_argument("--draw-seed", type=int, default=0, help="seed of the random draws")
    parser.add_argument("--preset", default="fast", choices=sorted(PRESETS),
                        help="base training settings (default: fast)")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="fixed overrides of the preset, e.g. --set epochs=2")
    parser.add_argument("--validation-size", type=int, default=10_000,
                        help="last N training rows held out to rank points (default: 10000)")
    engine = parser.add_mutually_exclusive_group()
    engine.add_argument("--dask", action="store_true",
                        help="run points on a local Dask cluster (127.0.0.1)")
    engine.add_argument("--dask-address", metavar="tcp://HOST:8786",
                        help="run points on an existing Dask cluster; its workers must see "
                             "the artifacts folder at the same path")
    parser.add_argument("--workers", type=int, default=2,
                        help="threads, or local Dask worker processes (default: 2)")
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS))
    parser.add_argument("--mirror", help="one mirror instead of the public ones (URL or folder)")
    add_download_options(parser)
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"),
                        help="where every output goes (default: ./artifacts)")
    return parser


def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The SweepConfig the options describe; ConfigError naming the option if invalid."""
    fixed = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set epochs=2")
        fixed[name.strip()] = parse_value(value)
    dimensions = tuple(parse_dimension(spec) for spec in args.space)
    try:
        config = SweepConfig.model_validate({
            "base": {"preset": args.preset, "train": fixed, "artifacts_dir": args.artifacts_dir,
                     "data": download_settings(args)},
            "space": SearchSpace(dimensions=dimensions, mode="random" if args.random else "grid",
                                 draws=args.random, seed=args.draw_seed),
            "validation_size": args.validation_size, "workers": args.workers,
            "engine": "dask" if args.dask else "threads", "dask_address": args.dask_address})
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    config.point_configs()  # every point must be a valid training before anything starts
    return config


def print_summary(result: dict[str, Any], limit: int = 10) -> None:
    from tasks.core.ledger import format_table

    board = result["leaderboard"]
    columns = [c for c in board[0] if c not in ("point",)]
    rows = [[_cell(row.get(c), c) for c in columns] for row in board[:limit]]
    print(format_table(columns, rows))
    best, champion = result["best"], result["champion"]
    print(f"\nbest point {best['point']}: validation accuracy {best['validation_accuracy']:.4f}, "
          f"test accuracy {best['test_accuracy']:.4f} (scored once, after choosing)")
    verdict = "moved to it" if result["champion_moved"] else f"kept {champion['point']} " \
        f"(validation {champion['validation_accuracy']:.4f})"
    print(f"champion {result['champion_dir']}: {verdict}")
    print(f"leaderboard {result['leaderboard_csv']}\nplot        {result['plot']}")
    ran = result["statuses"].count("ran")
    print(f"{ran} points trained, {len(result['statuses']) - ran} from cache "
          f"({result['engine']})")


def _cell(value: Any, column: str) -> str:
    scored = column.endswith(("accuracy", "loss"))
    return f"{value:.4f}" if isinstance(value, float) and scored else str(value)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse options, run the sweep, print the leaderboard; return the exit status."""
    from flows.cli import exit_status, local_server_settings

    args = build_parser().parse_args(argv)
    interrupted = "finished points are kept, rerun to resume"

    def work() -> None:
        config = config_from_args(args)
        with local_server_settings(), guarded_run(interrupted=interrupted):
            result = run_sweep(config)
        print_summary(result)

    return exit_status(work, interrupted=interrupted)


if __name__ == "__main__":
    sys.exit(main())
