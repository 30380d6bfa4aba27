"""mnist-flow: download → preprocess → train → evaluate → export, cached stage by stage.

    python flows/mnist_flow.py                      # the original project, exactly
    python flows/mnist_flow.py --preset fast        # 96 % in seconds
    python flows/mnist_flow.py --lr 0.05 --explain  # what would rerun, and why
"""

from __future__ import annotations

import os
import sys

# Offline, Prefect's telemetry call fails noisily; the user's own setting wins.
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# A run writes each large Parquet file once per process; Arrow's default allocator (mimalloc)
# spends ~0.6 s warming up for it, the system allocator does not (bench/bench_flow.py).
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")

from typing import Any

from prefect import flow

from tasks.config import FlowConfig
from tasks.core.atomic import remove_stale_temps
from tasks.layout import Layout
from tasks.report import publish
from tasks.runner import StageRunner
from tasks.stages import STAGES, stage_names


@flow(name="mnist-flow", log_prints=False)
def mnist_flow(config: FlowConfig = FlowConfig()) -> dict[str, Any]:  # noqa: B008
    """Train and export the 784-hidden-10 network; unchanged stages come from cache."""
    config.training()  # invalid settings fail before any stage starts
    layout = Layout.of(config)
    remove_stale_temps(layout.root)  # left by a run killed mid-write
    runner = StageRunner(layout, forced=config.forced_stages(stage_names()), verify=config.verify)
    done = runner.run_all(STAGES, config)
    published = publish(layout.root, config.preset, done["train"], done["evaluate"],
                        done["export"], runner.records)
    return {**published, "stages": runner.records}


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(mnist_flow))
