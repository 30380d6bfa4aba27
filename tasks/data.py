"""The data stages as Prefect tasks: download (fetch + verify) and preprocess (Parquet).

Each task reads its inputs, calls the pure functions of ``tasks.core``, and returns its
manifest (see :func:`tasks.cache.finish`), which the next stage takes as input. Like every
task module, it imports the modules that load numpy or pyarrow inside the task that uses them:
a run whose stages all come from cache never loads either (~0.15 s; ``tests/test_imports.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.cache import finish
from tasks.core.fetch import DownloadProgress, fetch_dataset, format_progress, resolve_mirrors
from tasks.core.registry import get_dataset
from tasks.manifest import Manifest


@task(name="download")
def download(dataset: str, raw_dir: Path, mirror: str | None, timeout: float,
             retries: int) -> dict[str, Any]:
    """Fetch, decompress and verify the four IDX payloads into ``raw_dir``."""
    logger = get_run_logger()
    spec = get_dataset(dataset)
    mirrors = resolve_mirrors(spec, mirror)
    logger.info("mirrors, in order: %s", ", ".join(mirrors))

    def report(progress: DownloadProgress) -> None:
        logger.info(format_progress(progress))

    paths = fetch_dataset(spec, mirrors, Path(raw_dir), timeout=timeout, retries=retries,
                          on_progress=report)
    logger.info("verified %d files in %s", len(paths), raw_dir)
    # fetch_dataset verified each payload against the registry's sha256: no second hash.
    return finish(paths, dataset=dataset,
                  digests={role: spec.files[role].sha256 for role in paths})


@task(name="preprocess")
def preprocess(raw: Manifest, out_dir: Path) -> dict[str, Any]:
    """Normalize and standardize every image; write ``train.parquet`` and ``test.parquet``."""
    from tasks.core.datasets import preprocess_splits
    from tasks.handover import keep_split

    written = preprocess_splits(raw.paths(), Path(out_dir), source_digests=raw.digests())
    for split in written.values():  # train and evaluate, in this process, need not read them
        keep_split(split.path, split.sha256, (split.X, split.y))
    get_run_logger().info("wrote %s", ", ".join(str(s.path) for s in written.values()))
    # write_split hashed each file as it wrote it: no second hash. The metadata written into
    # each file names its data in the ledger (tasks.ledger), with no Parquet file opened.
    return finish({name: s.path for name, s in written.items()}, dataset=raw.dataset,
                  digests={name: s.sha256 for name, s in written.items()},
                  split_metadata={name: s.metadata for name, s in written.items()})
