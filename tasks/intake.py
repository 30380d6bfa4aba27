"""The intake stage: new labelled pictures in ``<incoming>/<class>/`` become training rows.

The stage's key is the folder's content (:func:`tasks.core.inbox.folder_digest`: each file's
relative path and sha256), not its path, so a scheduled run with nothing new comes from cache.
Outputs go to ``<dataset>/intake/<digest>/``: an earlier folder content found again is served
from its own record. Bad files are rejected, logged and named; they never fail the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.cache import finish
from tasks.core.registry import get_dataset


@task(name="intake")
def intake(inbox: Path, digest: str, out_dir: Path, dataset: str) -> dict[str, Any]:
    """Scan ``inbox``; write ``incoming.parquet``, ``holdout.parquet`` and ``manifest.json``."""
    # Imported here, as in every task module: they load numpy and pyarrow, which a run whose
    # intake comes from cache never needs (tests/test_imports.py).
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
