"""export: the weights as CSV in the original's orientation, the four plots and ``report.md``,
beside the model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.core.registry import get_dataset
from tasks.core.report import render_report
from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
from tasks.splits import load_stage_split


@task(name="export")
def write_exports(data: Manifest, model: Manifest, evaluation: Manifest) -> dict[str, Any]:
    """Write W_1.csv, W_2.csv, b_1.csv, b_2.csv, the four plots and report.md beside the model."""
    # Imported here: numpy and matplotlib cost a run whose export comes from cache ~0.4 s.
    from tasks.core.checkpoint import load_params
    from tasks.core.export import read_history_csv, write_weights_csv
    from tasks.core.network import predict
    from tasks.core.plots import write_all_plots

    params = load_params(model.path("params"))
    out = model.path("params").parent
    outputs: dict[str, Path] = write_weights_csv(params, out)
    metrics = json.loads(evaluation.path("metrics").read_text(encoding="utf-8"))
    X_test, y_test = load_stage_split(data, "test")
    plots = write_all_plots(
        history=read_history_csv(model.path("history")),
        confusion=metrics["test"]["confusion"],
        class_names=get_dataset(data.dataset).class_names,
        X_test=X_test, y_test=y_test, y_pred=predict(params, X_test), W_1=params["W_1"],
        out_dir=out)
    outputs.update(plots)
    report = render_report(title=f"{data.dataset} model report",
                           summary=model_summary(model, evaluation),
                           metrics=metrics, plots=plots)
    write_text_atomic(out / "report.md", report)
    outputs["report.md"] = out / "report.md"
    get_run_logger().info("exported weights and plots to %s", out)
    return finish(outputs, dataset=data.dataset)


def model_summary(model: Manifest, evaluation: Manifest) -> dict[str, Any]:
    """The model's headline figures, for the report file and the dashboard's report."""
    info = evaluation.info
    return {"test accuracy": info["test_accuracy"], "train accuracy": info["train_accuracy"],
            "test loss": info["test_loss"], "training seconds": model.provenance.seconds,
            "updates": model.info["steps"], "model folder": str(model.path("params").parent)}


export = Stage("export", write_exports,
               upstream={"data": "preprocess", "model": "train", "evaluation": "evaluate"},
               # By name, not tasks.core.network.PARAM_NAMES and tasks.core.plots.PLOT_NAMES:
               # importing numpy and matplotlib would cost every run, cached or not, ~0.4 s
               # (tests/test_imports.py checks the names against those constants).
               outputs=("W_1", "b_1", "W_2", "b_2", "acc_and_loss_rate.png",
                        "confusion_matrix.png", "misclassified.png", "hidden_weights.png",
                        "report.md"))
