"""sweep-point: one point of a sweep, trained and scored on its validation rows, cached on its
own.

Every point is one ``sweep-point`` task with the stage cache policy of the main flow, keyed on
its own settings and the data's digests: a sweep killed half-way reruns only the points that did
not finish, and a grown grid runs only its new points. A point trains on the training set minus
its last ``validation_size`` rows and is scored on those rows; it never reads the test split.

    <artifacts>/<dataset>/sweep/points/<id>/   params.npz, history.csv, config.json,
                                               validation.json
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.core.train_config import TrainConfig
from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
from tasks.ledger import record_training
from tasks.stages.train import model_dir


def train_and_score_point(data: Manifest, config: TrainConfig,
                          points_root: Path) -> dict[str, Any]:
    """Train one point on the training rows before the validation split and score it on them."""
    from tasks.core.checkpoint import save_params
    from tasks.core.datasets import load_split
    from tasks.core.export import write_history_csv
    from tasks.core.metrics import evaluate as evaluate_params
    from tasks.core.train import train_network

    X, y = load_split(data.path("train"))
    n_fit = len(X) - config.validation_size
    X_val, y_val = X[n_fit:], y[n_fit:]
    # The held-out rows are also the tracked set, so the test split is never even read here.
    result = train_network(X, y, X_val, y_val, config)
    scores = evaluate_params(result.params, X_val, y_val, l2=0.0).to_dict()
    out = model_dir(points_root, data, config)
    history = [{k: v for k, v in row.items() if k != "test_accuracy"} for row in result.history]
    outputs = {"params": save_params(result.params, out / "params.npz"),
               "history": out / "history.csv", "config": out / "config.json",
               "validation": out / "validation.json"}
    write_history_csv(history, outputs["history"])
    write_text_atomic(outputs["config"], config.model_dump_json(indent=1))
    write_text_atomic(outputs["validation"], json.dumps(scores, indent=1))
    metrics = {"validation_accuracy": scores["accuracy"], "validation_loss": scores["loss"],
               "train_accuracy": history[-1]["train_accuracy"]}
    record_training(data.root, kind="sweep", data=data,
                    parameters=config.model_dump(mode="json"),
                    metrics=metrics, cached=False, model_dir=out, once=True,
                    point=out.name)
    get_run_logger().info("point %s: validation accuracy %.4f in %.1f s", out.name,
                          scores["accuracy"], result.seconds)
    return finish(outputs, dataset=data.dataset, point=out.name, seconds=result.seconds,
                  steps=result.steps, **metrics)


# The task wraps a module-level function, so Dask's pickling finds the function by name on a
# worker (rather than copying its bytecode).
train_point = task(name="sweep-point")(train_and_score_point)

# Submitted once per point by the sweep flow (not by a pipeline's run_all), fed the preprocess
# manifest like `train`.
sweep_point = Stage("sweep-point", train_point, upstream={"data": "preprocess"},
                    outputs=("params", "history", "config", "validation"))
