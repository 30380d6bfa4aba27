"""mnist-sweep: train every point of a search space, rank on validation, crown a champion.

    mnist-flow sweep --grid lr=0.001,0.002 hidden=20,32 --epochs 2
    mnist-flow sweep --random 8 --grid lr=log:0.0005..0.01 hidden=16..64
    mnist-flow sweep --grid l2=0,0.002 --dask                     # local Dask (the [dask] extra)
    mnist-flow sweep --grid l2=0,0.002 --dask-address tcp://host:8786

``python flows/sweep_flow.py …`` is the same as ``mnist-flow sweep …``. The data stages run
once (cached like the main flow's); each point is its own cached task on the thread pool or on
Dask. Dask's local cluster starts worker processes that re-import this file, hence everything
below the ``__main__`` guard.
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # before Prefect is imported: the entry point sets the environment
    from flows.cli import main

    sys.exit(main(["sweep", *sys.argv[1:]]))

import argparse
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from prefect import flow
from prefect.runtime import flow_run
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner
from threadpoolctl import threadpool_limits

from tasks import pipeline
from tasks.core.errors import ConfigError
from tasks.core.sweep import SearchSpace, parse_dimension, parse_value
from tasks.engine.atomic import remove_stale_temps
from tasks.engine.runner import StageRunner
from tasks.layout import Layout
from tasks.stages.finish_sweep import finish_sweep
from tasks.stages.sweep_point import sweep_point
from tasks.sweep_config import SweepConfig


@flow(name="mnist-sweep", log_prints=False)
def sweep_flow(config: SweepConfig) -> dict[str, Any]:
    """Prepare the data once, train every point as its own cached task, rank and publish."""
    layout = Layout.of(config.base)
    points = config.point_configs()
    remove_stale_temps(layout.root)  # left by a run killed mid-write
    stages = StageRunner(layout)
    data = stages.run_all(pipeline.DATA, config.base)[sweep_point.upstream["data"]]
    point_task = stages.configure(sweep_point)
    inputs = [{"data": data, "config": c, "points_root": layout.sweep_points_dir}
              for c in points]
    for point_inputs in inputs:
        stages.prepare(sweep_point, point_inputs)  # a damaged point's record is dropped
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
    manifests = [sweep_point.check_outputs(stages.manifest(s.result())) for s in states]
    finished = finish_sweep(layout.root, data, config.space.names, manifests, statuses)
    return {**finished, "statuses": statuses, "engine": describe_engine(config),
            "data_stages": [asdict(outcome) for outcome in stages.outcomes],
            "flow_run_id": flow_run.id}


def make_task_runner(config: SweepConfig) -> TaskRunner[Any]:
    """The thread pool, a local Dask cluster bound to 127.0.0.1, or an existing cluster."""
    if config.dask_address or config.engine == "dask":
        try:
            from prefect_dask import DaskTaskRunner
        except ImportError:
            raise ConfigError("sweeps on Dask need the optional Dask support; install it with: "
                              "pip install 'mnist-flow[dask]'") from None

        # A stop (Ctrl-C, SIGTERM) tears the cluster down while workers still talk to the
        # scheduler; it logs each closed connection at INFO *with its traceback*. The stop is
        # told in one line already.
        logging.getLogger("distributed.batched").setLevel(logging.WARNING)
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
    runner = make_task_runner(config)  # first: a missing [dask] extra is told before any work
    with _api_shared_with_workers(config):
        return sweep_flow.with_options(task_runner=runner)(config)


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


# ---------------------------------------------------------------- the subcommand
def config_from_args(args: argparse.Namespace) -> SweepConfig:
    """The SweepConfig the options describe; ConfigError naming the option if invalid."""
    from flows.options import check_artifacts_dir, flow_document, given, validate
    from tasks.config import SweepOptions

    fixed = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set {item!r}: expected NAME=VALUE, e.g. --set epochs=2")
        fixed[name.strip()] = parse_value(value)
    dimensions = tuple(parse_dimension(spec) for spec in args.space)
    config = validate(SweepConfig, {
        "base": flow_document(args, fixed),
        "space": SearchSpace(dimensions=dimensions, mode="random" if args.random else "grid",
                             draws=args.random, seed=args.draw_seed),
        **given(args, SweepOptions)})
    config.point_configs()  # every point must be a valid training before anything starts
    check_artifacts_dir(config.base.artifacts_dir)
    return config


def sweep_command(args: argparse.Namespace) -> None:
    """``mnist-flow sweep``: run the sweep, print the leaderboard."""
    from flows.prefect_api import dashboard_url

    config = config_from_args(args)
    result = run_sweep(config)
    print_summary(result, dashboard_url(result["flow_run_id"]))


def print_summary(result: dict[str, Any], dashboard: str | None, limit: int = 10) -> None:
    from tasks.core.tables import leaderboard_text

    print(leaderboard_text(result["leaderboard"], limit=limit))
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
    if dashboard:
        print(f"dashboard: {dashboard}")
