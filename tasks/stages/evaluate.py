"""evaluate: the trained parameters scored on train and test, into ``metrics.json``."""

from __future__ import annotations

import json
from typing import Any

from prefect import get_run_logger, task

from tasks.core.registry import get_dataset
from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
from tasks.splits import load_stage_split


@task(name="evaluate")
def score(data: Manifest, model: Manifest, l2: float) -> dict[str, Any]:
    """Score the trained parameters on train and test; write ``metrics.json``."""
    from tasks.core.checkpoint import load_params
    from tasks.core.metrics import evaluate as evaluate_params

    params = load_params(model.path("params"))
    class_names = get_dataset(data.dataset).class_names
    metrics = {}
    for split in ("train", "test"):
        X, y = load_stage_split(data, split)
        metrics[split] = evaluate_params(params, X, y, l2=l2, class_names=class_names).to_dict()
    out = model.path("params").parent / "metrics.json"
    write_text_atomic(out, json.dumps(metrics, indent=1))
    get_run_logger().info("test accuracy %.4f, train accuracy %.4f",
                          metrics["test"]["accuracy"], metrics["train"]["accuracy"])
    return finish({"metrics": out}, dataset=data.dataset,
                  test_accuracy=metrics["test"]["accuracy"],
                  train_accuracy=metrics["train"]["accuracy"], test_loss=metrics["test"]["loss"])


evaluate = Stage("evaluate", score, upstream={"data": "preprocess", "model": "train"},
                 parameters=lambda config, layout: {"l2": config.training().l2},
                 outputs=("metrics",))
