"""mnist-flow: download → preprocess → intake → validate → train → evaluate → export → promote,
cached stage by stage.

    mnist-flow                      # the original project, exactly
    mnist-flow --preset fast        # 96 % in seconds
    mnist-flow explain --lr 0.05    # what would rerun, and why

``python flows/mnist_flow.py …`` is the same command (the entry the project first promised).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":  # before Prefect is imported: the entry point sets the environment
    from flows.cli import main

    sys.exit(main())

import argparse
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from prefect.runtime import flow_run

from flows.config_flow import config_flow
from tasks import pipeline
from tasks.config import FlowConfig
from tasks.engine.atomic import remove_stale_temps
from tasks.engine.runner import StageRunner
from tasks.layout import Layout

if TYPE_CHECKING:
    from tasks.engine.cache import Verdict


@config_flow(name="mnist-flow", log_prints=False)
def mnist_flow(config: FlowConfig = FlowConfig()) -> dict[str, Any]:  # noqa: B008
    """Train and export the 784-hidden-10 network; unchanged stages come from cache."""
    config.training()  # invalid settings fail before any stage starts
    layout = Layout.of(config)
    remove_stale_temps(layout.root)  # left by a run killed mid-write
    runner = StageRunner(layout, forced=config.forced_stages(pipeline.stage_names()),
                         verify=config.verify)
    done = runner.run_all(pipeline.MAIN, config)
    return {**done[pipeline.MAIN[-1].name],
            "stages": [asdict(outcome) for outcome in runner.outcomes],
            "flow_run_id": flow_run.id}


# ---------------------------------------------------------------- the subcommands
def run_command(args: argparse.Namespace) -> None:
    """``mnist-flow run``: run the flow and print a summary (or explain, with ``--explain``)."""
    from flows.options import config_from_args
    from flows.prefect_api import dashboard_url

    if args.explain:
        explain_command(args)
        return
    result = mnist_flow(config_from_args(args))
    print_summary(result, dashboard_url(result["flow_run_id"]))


def explain_command(args: argparse.Namespace) -> None:
    """``mnist-flow explain``: each stage's verdict, running nothing."""
    from flows.options import config_from_args

    for line in explain_lines(config_from_args(args)):
        print(line)


def explain_lines(config: FlowConfig) -> list[str]:
    """What ``mnist-flow explain`` prints for ``config``: the check, then a line per stage."""
    from tasks.engine.explain import verification_line

    return [verification_line(config.verify), *map(str, explain_run(config))]


def explain_run(config: FlowConfig) -> list[Verdict]:
    """What a run of ``config`` would do, stage by stage (runs nothing)."""
    from tasks.engine.explain import explain

    return explain(pipeline.MAIN, config, Layout.of(config),
                   forced=config.forced_stages(pipeline.stage_names()), verify=config.verify)


def print_summary(result: dict[str, Any], dashboard: str | None) -> None:
    print(f"\ntest accuracy {result['test_accuracy']:.4f}   "
          f"train accuracy {result['train_accuracy']:.4f}")
    print(f"weights and plots: {result['model_dir']}  (also {result['latest']})")
    for stage in result["stages"]:
        print(f"  {stage['name']:<10} {stage['status']:<7} {stage['seconds']:7.2f} s")
    if result.get("note"):
        print(result["note"])
    if dashboard:
        print(f"dashboard: {dashboard}")
