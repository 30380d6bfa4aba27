"""The model stages as Prefect tasks: train, then evaluate.

Training writes into a folder named after what it learned from (the training settings and the
digests of the data), so switching settings back and forth finds each earlier model again.
The compute modules are imported inside the tasks: a run whose model stages come from cache
never loads numpy or pyarrow (``tests/test_imports.py``).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from tasks.cache import finish
from tasks.cache_key import digest_json, to_jsonable
from tasks.core.atomic import write_text_atomic
from tasks.core.registry import get_dataset
from tasks.core.train_config import TrainConfig
from tasks.manifest import Manifest
from tasks.splits import load_stage_split

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from tasks.core.history import TrainProgress

# The dashboard's progress bar: at most one API call a second (each ~20 ms; every 10 % cost a
# one-second training 0.2 s), plus the final 100 %.
PROGRESS_UPDATE_SECONDS = 1.0


def model_dir(models_root: Path, data: Manifest, config: TrainConfig,
              intake: Manifest | None = None) -> Path:
    """``models_root/<id>``: the id digests the settings and the training data's sha256s
    (the base splits and, for the main flow, the accepted intake rows)."""
    digests = [to_jsonable(config), data.digests()]
    if intake is not None:
        digests.append(intake.sha256("incoming"))
    return Path(models_root) / digest_json(digests)[:12]


def training_rows(data: Manifest, intake: Manifest) -> tuple[NDArray[np.float32],
                                                                NDArray[np.uint8]]:
    """The base train split followed by the accepted intake rows: ``(n, 784)``, ``(n,)``."""
    import numpy as np

    from tasks.core.datasets import load_split

    X_train, y_train = load_stage_split(data, "train")
    X_new, y_new = load_split(intake.path("incoming"))
    if not len(y_new):
        return X_train, y_train
    return np.concatenate([X_train, X_new]), np.concatenate([y_train, y_new])


@task(name="train")
def train(data: Manifest, intake: Manifest, config: TrainConfig,
          models_root: Path) -> dict[str, Any]:
    """Train the network on the base split plus the intake rows; write ``params.npz`` and
    ``history.csv`` into the model folder."""
    from tasks.core.checkpoint import save_params
    from tasks.core.export import write_history_csv
    from tasks.core.train import train_network

    logger = get_run_logger()
    X_train, y_train = training_rows(data, intake)
    logger.info("training on %d rows (%d from intake)", len(y_train),
                len(y_train) - len(load_stage_split(data, "train")[1]))
    X_test, y_test = load_stage_split(data, "test")
    logger.info("training: %s", config.model_dump_json())
    progress_id = create_progress_artifact(progress=0.0, description="Training progress (%)")
    logged, updated = [-100.0], [time.monotonic()]

    def report(point: TrainProgress) -> None:
        percent = 100.0 * (point.step + 1) / point.total_steps
        last = point.step + 1 == point.total_steps
        if percent - logged[0] >= 10.0 or last:  # a readable log, whatever the resolution
            logged[0] = percent
            logger.info("train %5.1f%%  step %d/%d  loss %.4f  train acc %.4f  test acc %.4f",
                        percent, point.step + 1, point.total_steps, point.loss,
                        point.train_accuracy, point.test_accuracy)
        if last or time.monotonic() - updated[0] >= PROGRESS_UPDATE_SECONDS:
            updated[0] = time.monotonic()
            update_progress_artifact(progress_id, progress=min(percent, 100.0))

    result = train_network(X_train, y_train, X_test, y_test, config, on_progress=report)
    out = model_dir(models_root, data, config, intake)
    outputs = {"params": save_params(result.params, out / "params.npz"),
               "history": out / "history.csv"}
    write_history_csv(result.history, outputs["history"])
    write_text_atomic(out / "config.json", config.model_dump_json(indent=1))
    outputs["config"] = out / "config.json"
    logger.info("trained in %.2f s; model folder %s", result.seconds, out)
    return finish(outputs, dataset=data.dataset, seconds=result.seconds, steps=result.steps)


@task(name="evaluate")
def evaluate(data: Manifest, model: Manifest, l2: float) -> dict[str, Any]:
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
