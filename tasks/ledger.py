"""Writing one ledger line for a training, from what a task knows (see :mod:`tasks.core.ledger`).

Shared by the main flow's ``publish`` and the sweep's point and finish tasks, so both kinds of
run describe themselves with the same fields, the same data digest and the same code digest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect.runtime import flow_run

from tasks.core.ledger import (
    LedgerEntry,
    append_entry,
    data_digest,
    ledger_path,
    make_entry,
    parse_entry,
    read_entries,
)
from tasks.engine.cache_key import library_versions, module_code_digest
from tasks.engine.manifest import Manifest

# The module of ``train_network``, named rather than imported: a run served from cache writes
# its ledger line without loading numpy (a test checks the name).
TRAINING_MODULE = "tasks.core.train"


def training_code_digest() -> str:
    """Digest of the training code: ``train_network``'s module and the project modules it runs."""
    return module_code_digest(TRAINING_MODULE)[0]


def record_training(artifacts_dir: Path, *, kind: str, data: Manifest,
                    parameters: Mapping[str, Any], metrics: Mapping[str, Any], cached: bool,
                    model_dir: Path, once: bool = False, **extra: Any) -> LedgerEntry:
    """Append one line for a training on the splits of the preprocess manifest ``data`` to
    ``<artifacts>/ledger.jsonl``; return the entry as every reader will read it.

    ``once``: skip the line when the ledger already holds this training (same kind, model
    folder, data and code). A sweep point killed after its line but before its cache record
    trains again on the next sweep; the same training must not be counted twice. The ledger
    is read from its end up to the latest such line (damaged lines are skipped with a
    warning), so a fresh training reads it all.
    """
    line = make_entry(kind=kind, run=flow_run.name or "", dataset=data.dataset,
                      parameters=parameters, data=data_digest(data.info["split_metadata"]),
                      code=training_code_digest(), versions=library_versions(),
                      metrics=metrics, cached=cached, model_dir=model_dir, **extra)
    # Checked before it is written: the ledger only gets lines its readers can read.
    entry = parse_entry(json.dumps(line))
    path = ledger_path(artifacts_dir)
    if once and read_entries(path, last=1, where=lambda earlier: _same_training(entry, earlier)):
        return entry
    append_entry(path, line)
    return entry


def _same_training(entry: LedgerEntry, earlier: LedgerEntry) -> bool:
    return (earlier.kind, earlier.model_dir, earlier.data_digest, earlier.code_digest) == (
        entry.kind, entry.model_dir, entry.data_digest, entry.code_digest)


def model_parameters(model_folder: Path) -> dict[str, Any]:
    """The training settings saved beside a model (``config.json``, written by ``train``)."""
    return json.loads((Path(model_folder) / "config.json").read_text(encoding="utf-8"))


def record_main_run(artifacts_dir: Path, *, data: Manifest, preset: str, model_folder: Path,
                    metrics: Mapping[str, Any], retrained: bool, **extra: Any) -> LedgerEntry:
    """The main flow's line: its model's saved settings, scores, whether it trained, and
    ``extra`` fields (the gate's decision)."""
    return record_training(artifacts_dir, kind="main", data=data,
                           parameters=model_parameters(model_folder),
                           metrics=metrics, cached=not retrained, model_dir=model_folder,
                           preset=preset, **extra)
