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
from tasks.data import download, preprocess
from tasks.layout import Layout
from tasks.model import evaluate, train
from tasks.report import export, publish
from tasks.runner import StageRunner


@flow(name="mnist-flow", log_prints=False)
def mnist_flow(config: FlowConfig = FlowConfig()) -> dict[str, Any]:  # noqa: B008
    """Train and export the 784-hidden-10 network; unchanged stages come from cache."""
    training = config.training()
    layout = Layout.of(config)
    stages = StageRunner(layout.cache_root, forced=config.forced_stages())
    raw = stages.run(download, dataset=config.data.dataset, raw_dir=layout.raw_dir,
                     mirror=config.data.resolved_mirror(), timeout=config.data.timeout,
                     retries=config.data.retries)
    data = stages.run(preprocess, raw=raw, out_dir=layout.parquet_dir)
    model = stages.run(train, data=data, config=training, models_root=layout.models_dir)
    evaluation = stages.run(evaluate, data=data, model=model, l2=training.l2)
    exported = stages.run(export, data=data, model=model, evaluation=evaluation)
    published = publish(layout.root, config.preset, model, evaluation, exported, stages.records)
    return {**published, "stages": stages.records}


if __name__ == "__main__":
    from flows.cli import main

    sys.exit(main(mnist_flow))
