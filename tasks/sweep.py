"""The sweep's tasks: train one point (cached on its own), then rank, plot, and crown a champion.

Every point is one ``sweep-point`` task with the stage cache policy of the main flow, keyed on
its own settings and the data's digests: a sweep killed half-way reruns only the points that did
not finish, and a grown grid runs only its new points. A point trains on the training set minus
its last ``validation_size`` rows and is scored on those rows; it never reads the test split.
Only the sweep's best point (by validation) is scored on the test set, once, in ``finish_sweep``.

    <artifacts>/<dataset>/sweep/points/<id>/      params.npz, history.csv, config.json,
                                                  validation.json
    <artifacts>/<dataset>/sweep/leaderboard.csv, validation_vs_params.png   (the last sweep)
    <artifacts>/<dataset>/sweep/champions/<id>/   W_*.csv, b_*.csv, champion.json
    <artifacts>/<dataset>/champion -> sweep/champions/<id>   moves only when beaten on validation
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from tasks.cache import finish
from tasks.config import FlowConfig
from tasks.core.atomic import write_text_atomic
from tasks.core.checkpoint import load_params, save_params
from tasks.core.datasets import load_split
from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.export import write_history_csv, write_weights_csv
from tasks.core.metrics import evaluate as evaluate_params
from tasks.core.sweep import (
    SearchSpace,
    leaderboard_columns,
    rank_points,
    should_promote,
    split_mismatch,
    validation_split,
)
from tasks.core.sweep_plots import plot_validation_vs_params
from tasks.core.tables import leaderboard_csv
from tasks.core.train import train_network
from tasks.core.train_config import TrainConfig, apply_overrides
from tasks.ledger import record_training
from tasks.manifest import Manifest
from tasks.model import model_dir


class SweepConfig(BaseModel):
    """Everything one sweep needs: the base run, the search space, the split, the engine."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    base: FlowConfig = Field(default_factory=lambda: FlowConfig(preset="fast"),
                             description="Preset, fixed overrides, data and artifacts folder.")
    space: SearchSpace
    validation_size: int = Field(10_000, ge=1, description="Training rows held out (the last "
                                 "N) to rank points on; the test set is never used to choose.")
    engine: Literal["threads", "dask"] = Field("threads", description="Where points run.")
    dask_address: str | None = Field(None, description="An existing Dask scheduler "
                                     "(tcp://host:8786); its workers must see the artifacts "
                                     "folder at the same path.")
    workers: int = Field(2, ge=1, le=256, description="Threads, or local Dask workers.")

    def point_configs(self) -> list[TrainConfig]:
        """The base settings with each point's values, validated; ConfigError names the point."""
        fixed = {**self.base.train.model_dump(exclude_none=True),
                 "validation_size": self.validation_size}
        configs = []
        for point in self.space.points():
            try:
                configs.append(apply_overrides(self.base.preset, {**fixed, **point}))
            except ValidationError as error:
                raise ConfigError(f"sweep point {point} on preset {self.base.preset!r} is "
                                  f"not a valid training: "
                                  f"{describe_validation_error(error)}") from None
        return configs


def sweep_dir(artifacts_dir: Path, dataset: str) -> Path:
    return Path(artifacts_dir).resolve() / dataset / "sweep"


def champion_link(artifacts_dir: Path, dataset: str) -> Path:
    return Path(artifacts_dir).resolve() / dataset / "champion"


def train_and_score_point(data: Manifest, config: TrainConfig,
                          points_root: Path) -> dict[str, Any]:
    """Train one point on the training rows before the validation split and score it on them."""
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


# ---------------------------------------------------------------- after every point is done
def leaderboard_row(point: Manifest, status: str, swept: Sequence[str]) -> dict[str, Any]:
    """A point's leaderboard row: its swept values, validation scores, status, seconds, id."""
    settings = json.loads(point.path("config").read_text(encoding="utf-8"))
    info = point.info
    return {**{name: settings[name] for name in swept},
            "validation_accuracy": info["validation_accuracy"],
            "validation_loss": round(info["validation_loss"], 6),
            "train_accuracy": info["train_accuracy"],
            "seconds": round(point.provenance.seconds or 0.0, 2),
            "status": status, "point": info["point"]}




def write_leaderboard(board: Sequence[Mapping[str, Any]], swept: Sequence[str],
                      path: Path) -> Path:
    """The ranked rows as CSV, atomically."""
    write_text_atomic(path, leaderboard_csv(board, leaderboard_columns(swept, board)))
    return path


def read_champion(link: Path) -> dict[str, Any] | None:
    """The current champion's record (``champion.json`` behind the link), or None."""
    try:
        return json.loads((link / "champion.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def promote_champion(link: Path, candidate: Mapping[str, Any],
                     params_path: Path) -> tuple[bool, dict[str, Any]]:
    """Export ``candidate``'s weights and move ``link`` to them, if it beats the champion on
    validation. Returns (moved, the champion's record after the decision)."""
    current = read_champion(link)
    if not should_promote(current, candidate):
        assert current is not None
        return False, current
    out = link.parent / "sweep" / "champions" / str(candidate["point"])
    write_weights_csv(load_params(params_path), out)
    write_text_atomic(out / "champion.json", json.dumps(dict(candidate), indent=1))
    staging = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    staging.unlink(missing_ok=True)
    staging.symlink_to(os.path.relpath(out, link.parent))
    os.replace(staging, link)  # atomic: readers see the old champion or the new, never neither
    return True, dict(candidate)


def score_on_test(data: Manifest, params_path: Path) -> float:
    """Accuracy of saved parameters on the test split: called once per sweep, for its best."""
    X_test, y_test = load_split(data.path("test"))
    return evaluate_params(load_params(params_path), X_test, y_test).accuracy


@task(name="finish-sweep", cache_policy=NO_CACHE)
def finish_sweep(artifacts_dir: Path, data: Manifest, swept: Sequence[str],
                 points: Sequence[Manifest], statuses: Sequence[str]) -> dict[str, Any]:
    """Rank the points, write the leaderboard and plot, score the best on test, crown it if it
    beats the champion on validation, log cached points in the ledger, post the table."""
    dataset, logger = data.dataset, get_run_logger()
    folder = sweep_dir(artifacts_dir, dataset)
    board = rank_points([leaderboard_row(p, s, swept) for p, s in zip(points, statuses,
                                                                       strict=True)])
    by_id = {p.info["point"]: p for p in points}
    write_leaderboard(board, swept, folder / "leaderboard.csv")
    plot_validation_vs_params(board, swept, folder / "validation_vs_params.png",
                              title=f"{dataset} sweep")
    best_params = by_id[board[0]["point"]].path("params")
    settings = json.loads(by_id[board[0]["point"]].path("config").read_text(encoding="utf-8"))
    best = {**board[0], "test_accuracy": score_on_test(data, best_params), "settings": settings,
            "validation_split": validation_split(data.sha256("train"),
                                                 settings["validation_size"])}
    link = champion_link(artifacts_dir, dataset)
    mismatch = split_mismatch(read_champion(link), best)
    moved, champion = promote_champion(link, best, best_params)
    if mismatch:
        logger.warning("champion kept without comparing: %s, and accuracies on different "
                       "validation splits do not compare; remove %s to crown this sweep's best",
                       mismatch, link)
    _ledger_cached_points(artifacts_dir, data, points, statuses)
    create_table_artifact(key=f"{dataset}-sweep-leaderboard", table=list(board),
                          description=f"{dataset} sweep: {len(board)} points ranked on "
                                      f"validation accuracy; best scored on test once")
    logger.info("best point %s: validation %.4f, test %.4f; champion %s", best["point"],
                best["validation_accuracy"], best["test_accuracy"],
                "moved to it" if moved else f"stays {champion['point']}")
    return {"leaderboard": board, "best": best, "champion": champion, "champion_moved": moved,
            "leaderboard_csv": str(folder / "leaderboard.csv"),
            "plot": str(folder / "validation_vs_params.png"),
            "champion_dir": str(champion_link(artifacts_dir, dataset))}


def _ledger_cached_points(artifacts_dir: Path, data: Manifest, points: Sequence[Manifest],
                          statuses: Sequence[str]) -> None:
    # Points that trained wrote their own line; a point served from cache is logged here.
    for point, status in zip(points, statuses, strict=True):
        if status == "cached":
            config_path = point.path("config")
            info = point.info
            record_training(artifacts_dir, kind="sweep", data=data,
                            parameters=json.loads(config_path.read_text(encoding="utf-8")),
                            cached=True, model_dir=config_path.parent,
                            metrics={k: info[k] for k in ("validation_accuracy",
                                                          "validation_loss", "train_accuracy")},
                            point=info["point"])
