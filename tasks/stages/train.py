"""train: the network on the base training split plus the new rows validate kept.

Training writes into a folder named after what it learned from (the training settings and the
digests of the data), so switching settings back and forth finds each earlier model again.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task
from prefect.artifacts import create_progress_artifact, update_progress_artifact

from tasks.core.train_config import TrainConfig
from tasks.dashboard import post
from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache import finish
from tasks.engine.cache_key import digest_json, to_jsonable
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
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
    (the base splits and, for the main flow, the new rows validate kept)."""
    digests = [to_jsonable(config), data.digests()]
    if intake is not None:
        digests.append(intake.sha256("incoming"))
    return Path(models_root) / digest_json(digests)[:12]


def training_rows(data: Manifest, intake: Manifest) -> tuple[NDArray[np.float32],
                                                                NDArray[np.uint8]]:
    """The base train split followed by the new rows validate kept: ``(n, 784)``, ``(n,)``."""
    import numpy as np

    from tasks.core.datasets import load_split

    X_train, y_train = load_stage_split(data, "train")
    X_new, y_new = load_split(intake.path("incoming"))
    if not len(y_new):
        return X_train, y_train
    return np.concatenate([X_train, X_new]), np.concatenate([y_train, y_new])


@task(name="train")
def fit(data: Manifest, intake: Manifest, config: TrainConfig,
        models_root: Path) -> dict[str, Any]:
    """Train the network on the base split plus the intake rows; write ``params.npz``,
    ``history.csv`` and ``config.json`` into the model folder."""
    from tasks.core.checkpoint import save_params
    from tasks.core.export import write_history_csv
    from tasks.core.train import train_network

    logger = get_run_logger()
    X_train, y_train = training_rows(data, intake)
    logger.info("training on %d rows (%d from intake)", len(y_train),
                len(y_train) - len(load_stage_split(data, "train")[1]))
    X_test, y_test = load_stage_split(data, "test")
    logger.info("training: %s", config.model_dump_json())
    result = train_network(X_train, y_train, X_test, y_test, config,
                           on_progress=_progress_reporter(logger))
    out = model_dir(models_root, data, config, intake)
    outputs = {"params": save_params(result.params, out / "params.npz"),
               "history": out / "history.csv", "config": out / "config.json"}
    write_history_csv(result.history, outputs["history"])
    write_text_atomic(outputs["config"], config.model_dump_json(indent=1))
    logger.info("trained in %.2f s; model folder %s", result.seconds, out)
    return finish(outputs, dataset=data.dataset, seconds=result.seconds, steps=result.steps)


def _progress_reporter(logger: Any) -> Any:
    """A callback that logs every 10 % and moves the dashboard's progress bar.

    The bar is best-effort (:func:`tasks.dashboard.post`): the first update the API does not
    take stops the bar, with one warning, and training goes on.
    """
    progress_id = post("the training progress bar", create_progress_artifact, progress=0.0,
                       description="Training progress (%)")
    bar, logged, updated = [progress_id], [-100.0], [time.monotonic()]

    def report(point: TrainProgress) -> None:
        percent = 100.0 * (point.step + 1) / point.total_steps
        last = point.step + 1 == point.total_steps
        if percent - logged[0] >= 10.0 or last:  # a readable log, whatever the resolution
            logged[0] = percent
            logger.info("train %5.1f%%  step %d/%d  loss %.4f  train acc %.4f  test acc %.4f",
                        percent, point.step + 1, point.total_steps, point.loss,
                        point.train_accuracy, point.test_accuracy)
        if bar[0] is not None and (last or time.monotonic() - updated[0]
                                   >= PROGRESS_UPDATE_SECONDS):
            updated[0] = time.monotonic()
            bar[0] = post("a training progress update", update_progress_artifact, bar[0],
                          progress=min(percent, 100.0))

    return report


train = Stage("train", fit, upstream={"data": "preprocess", "intake": "validate"},
              parameters=lambda config, layout: {"config": config.training(),
                                                 "models_root": layout.models_dir},
              outputs=("params", "history", "config"))
