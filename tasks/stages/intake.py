"""intake: new labelled pictures in ``<incoming>/<class>/`` become training rows.

The stage's key is the folder's content (:func:`tasks.core.inbox.folder_digest`: each file's
relative path and sha256), not its path, so a scheduled run with nothing new comes from cache.
Outputs go to ``<dataset>/intake/<digest>/``: an earlier folder content found again is served
from its own record. Bad files are rejected, logged and named; they never fail the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.core.inbox import folder_digest
from tasks.core.registry import get_dataset
from tasks.engine.cache import finish
from tasks.engine.stage import Stage


@task(name="intake")
def take_in(inbox: Path, digest: str, out_dir: Path, dataset: str) -> dict[str, Any]:
    """Scan ``inbox``; write ``incoming.parquet``, ``holdout.parquet`` and ``manifest.json``."""
    from tasks.core.intake import run_intake
    from tasks.events import emit_rejected_files_event

    logger = get_run_logger()
    result = run_intake(Path(inbox), Path(out_dir) / digest[:12],
                        get_dataset(dataset).class_names)
    logger.info(result.summary())
    for item in result.rejected:
        logger.warning("intake rejected %s: %s", item.path, item.reason)
    emit_rejected_files_event(dataset, result)
    held = sum(item.holdout for item in result.accepted)
    return finish({name: Path(path) for name, path in result.outputs.items()}, dataset=dataset,
                  summary=result.summary(), training=len(result.accepted) - held, holdout=held,
                  rejected=[{"path": f.path, "reason": f.reason} for f in result.rejected])


def _parameters(config: Any, layout: Any) -> dict[str, Any]:
    # The folder's content is the key (folder_digest never raises on a bad file and does not
    # hash oversized ones), not its path: the path is unkeyed.
    inbox = Path(config.retraining.incoming or layout.incoming_dir).resolve()
    return {"inbox": inbox, "digest": folder_digest(inbox), "out_dir": layout.intake_dir,
            "dataset": layout.dataset}


intake = Stage("intake", take_in, parameters=_parameters, unkeyed=("inbox",),
               outputs=("incoming", "holdout", "manifest"))
