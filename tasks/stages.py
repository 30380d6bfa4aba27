"""The stage table: every stage of the pipeline, in order, declared once.

The flow runs it (``StageRunner.run_all``), ``--explain`` walks it, ``--force`` takes its names,
the sweep runs its data stages, and the tests check the flow against it. Adding a stage is one
entry here plus its task (see ``docs/caching.md``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tasks.config import FlowConfig
from tasks.core.inbox import folder_digest
from tasks.core.registry import get_dataset
from tasks.data import download, preprocess
from tasks.intake import intake
from tasks.layout import Layout
from tasks.manifest import Manifest, Output
from tasks.model import evaluate, train
from tasks.promotion import promote
from tasks.report import export
from tasks.runner import Stage


def _download_parameters(config: FlowConfig, layout: Layout) -> dict[str, Any]:
    data = config.data
    return {"dataset": data.dataset, "raw_dir": layout.raw_dir, "mirror": data.resolved_mirror(),
            "timeout": data.timeout, "retries": data.retries}


def _expected_download(layout: Layout) -> Manifest:
    """What a download produces, known before it runs: fixed paths, the registry's digests."""
    files = get_dataset(layout.dataset).files
    outputs = {role: Output(path=(Path(layout.raw_dir) / f.name).relative_to(layout.root)
                            .as_posix(), sha256=f.sha256, size=f.size, mtime_ns=0, inode=0)
               for role, f in files.items()}
    return Manifest(stage="download", dataset=layout.dataset, outputs=outputs, root=layout.root)


def _intake_parameters(config: FlowConfig, layout: Layout) -> dict[str, Any]:
    # The folder's content is the key (tasks.core.inbox.folder_digest never raises on a bad
    # file and does not hash oversized ones), not its path: the path is unkeyed.
    inbox = Path(config.retraining.incoming or layout.incoming_dir).resolve()
    return {"inbox": inbox, "digest": folder_digest(inbox), "out_dir": layout.intake_dir,
            "dataset": layout.dataset}


STAGES: tuple[Stage, ...] = (
    Stage("download", download, parameters=_download_parameters,
          unkeyed=("mirror", "timeout", "retries"),
          outputs=("train_images", "train_labels", "test_images", "test_labels"),
          expected=_expected_download),
    Stage("preprocess", preprocess, upstream={"raw": "download"},
          parameters=lambda config, layout: {"out_dir": layout.parquet_dir},
          outputs=("train", "test")),
    Stage("intake", intake, parameters=_intake_parameters, unkeyed=("inbox",),
          outputs=("incoming", "holdout", "manifest")),
    Stage("train", train, upstream={"data": "preprocess", "intake": "intake"},
          parameters=lambda config, layout: {"config": config.training(),
                                             "models_root": layout.models_dir},
          outputs=("params", "history", "config")),
    Stage("evaluate", evaluate, upstream={"data": "preprocess", "model": "train"},
          parameters=lambda config, layout: {"l2": config.training().l2},
          outputs=("metrics",)),
    Stage("export", export, upstream={"data": "preprocess", "model": "train",
                                      "evaluation": "evaluate"},
          # By name, not tasks.core.network.PARAM_NAMES and tasks.core.plots.PLOT_NAMES:
          # importing numpy and matplotlib would cost every run, cached or not, ~0.4 s
          # (tests/test_imports.py checks the names against those constants).
          outputs=("W_1", "b_1", "W_2", "b_2", "acc_and_loss_rate.png", "confusion_matrix.png",
                   "misclassified.png", "hidden_weights.png", "report.md")),
    # After export: the gate reads the candidate's W_*.csv, as predict and production do.
    # Keyed on the trained model, not on export's manifest: a new plot or report (same
    # weights) must not make the gate decide again.
    Stage("promote", promote, upstream={"data": "preprocess", "intake": "intake",
                                        "model": "train"},
          parameters=lambda config, layout: {"dataset_dir": layout.dataset_dir,
                                             "policy": config.retraining.promote,
                                             "tolerance": config.retraining.tolerance},
          outputs=("promotion",)),
)


def stage_names() -> tuple[str, ...]:
    """The stages in run order (the choices of ``--force``)."""
    return tuple(stage.name for stage in STAGES)


def stage(name: str) -> Stage:
    """The table entry called ``name``."""
    return next(s for s in STAGES if s.name == name)
