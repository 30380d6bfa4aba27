"""The last stages: export (CSV weights, plots, report file) and publish (what the user sees).

``export`` is cached like every stage. ``publish`` always runs: it moves ``artifacts/latest`` to
this run's model and posts the metrics table and the report to the Prefect UI, saying plainly
when nothing was retrained.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.cache import finish
from tasks.core.atomic import write_text_atomic
from tasks.core.errors import OutputError
from tasks.core.registry import get_dataset
from tasks.core.report import metrics_table_rows, render_report
from tasks.ledger import record_main_run
from tasks.manifest import Manifest
from tasks.promotion import ledger_fields, post_promotions, promotion_line
from tasks.splits import load_stage_split


@task(name="export")
def export(data: Manifest, model: Manifest, evaluation: Manifest) -> dict[str, Any]:
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
                           summary=_summary(model, evaluation),
                           metrics=metrics, plots=plots)
    write_text_atomic(out / "report.md", report)
    outputs["report.md"] = out / "report.md"
    get_run_logger().info("exported weights and plots to %s", out)
    return finish(outputs, dataset=data.dataset)


def _summary(model: Manifest, evaluation: Manifest) -> dict[str, Any]:
    info = evaluation.info
    return {"test accuracy": info["test_accuracy"], "train accuracy": info["train_accuracy"],
            "test loss": info["test_loss"], "training seconds": model.provenance.seconds,
            "updates": model.info["steps"], "model folder": str(model.path("params").parent)}


def point_latest(artifacts_dir: Path, model_folder: Path) -> Path:
    """Make ``artifacts_dir/latest`` a relative symlink to ``model_folder``, atomically.

    A ``latest`` that is not a symlink (a folder or file a user put there) is never replaced:
    OutputError says so.
    """
    latest = Path(artifacts_dir) / "latest"
    if latest.exists() and not latest.is_symlink():
        raise OutputError(f"{latest} is a {'folder' if latest.is_dir() else 'file'}, not the "
                          f"symbolic link to the last model this run maintains; move it away, "
                          f"then run again (this run's model is in {model_folder})")
    staging = latest.with_name(f".latest.{os.getpid()}.tmp")
    try:
        staging.unlink(missing_ok=True)
        staging.symlink_to(os.path.relpath(model_folder, latest.parent))
        os.replace(staging, latest)
    except OSError as error:
        staging.unlink(missing_ok=True)
        raise OutputError(f"cannot point {latest} at {model_folder}: {error.strerror}; make "
                          f"{latest.parent} writable, then run again") from None
    return latest


@task(name="publish", cache_policy=NO_CACHE)
def publish(artifacts_dir: Path, preset: str, data: Manifest, model: Manifest,
            evaluation: Manifest, exported: Manifest, promotion: Manifest,
            stages: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Point ``latest`` at this run's model; record the run and the gate's decision in the
    ledger; post the metrics table, the report and (when the gate decided) the promotions
    table to Prefect."""
    dataset, model_folder = model.dataset, model.path("params").parent
    latest = point_latest(artifacts_dir, model_folder)
    metrics = json.loads(evaluation.path("metrics").read_text(encoding="utf-8"))
    retrained = any(s["name"] == "train" and s["status"] == "ran" for s in stages)
    decided = any(s["name"] == "promote" and s["status"] == "ran" for s in stages)
    record_main_run(artifacts_dir, data=data, preset=preset, retrained=retrained,
                    model_folder=model_folder,
                    metrics={f"{split}_accuracy": metrics[split]["accuracy"]
                             for split in ("train", "test", "validation") if split in metrics},
                    promotion=ledger_fields(promotion, decided))
    if decided:  # otherwise the table is the one an earlier run posted: one API call less
        post_promotions(artifacts_dir, dataset)
    gate_line = promotion_line(promotion, decided)
    note = f"{run_note(model, stages)}\n{gate_line}"
    rows = [{"flow_run": flow_run.name, "preset": preset, "retrained": retrained, **row}
            for row in metrics_table_rows(_scalars(metrics))]
    create_table_artifact(key=f"{dataset}-metrics", table=rows,
                          description=f"{dataset} accuracy and loss of run {flow_run.name}")
    plots = {name: path for name, path in exported.paths().items() if name.endswith(".png")}
    create_markdown_artifact(
        key=f"{dataset}-report", description=f"{dataset} run report",
        markdown=render_report(title=f"{dataset} run {flow_run.name}",
                               summary={"preset": preset, **_summary(model, evaluation)},
                               metrics=metrics, plots=plots, stages=stages, note=note))
    get_run_logger().info(note)
    return {"latest": str(latest), "model_dir": str(model_folder),
            "note": note, "promotion": gate_line, "outcome": promotion.info["outcome"],
            "test_accuracy": metrics["test"]["accuracy"],
            "train_accuracy": metrics["train"]["accuracy"]}


def run_note(model: Manifest, stages: Sequence[Mapping[str, Any]]) -> str:
    """What this run did, truthfully: "nothing changed" only when no stage ran, otherwise each
    stage that ran and the reason ``--explain`` gives for it."""
    ran = [s for s in stages if s["status"] != "cached"]
    if not ran:
        return (f"Nothing changed since run `{model.provenance.flow_run}` "
                f"({model.provenance.finished}): data, code and parameters are the same, so "
                f"every stage comes from cache. New labelled images in the intake folder "
                f"retrain on them (docs/retraining.md).")
    groups: list[tuple[list[str], str]] = []  # consecutive stages that ran for one reason
    for s in ran:
        reason = s.get("reason") or "no reason recorded"
        if groups and groups[-1][1] == reason:
            groups[-1][0].append(s["name"])
        else:
            groups.append(([s["name"]], reason))
    return "Reran " + "; ".join(f"{', '.join(names)} ({reason})" for names, reason in groups) + "."


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("n_samples", "accuracy", "loss")
    return {split: {k: v for k, v in values.items() if k in keep}
            for split, values in metrics.items()}
