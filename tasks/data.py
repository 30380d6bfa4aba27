"""The data stages as Prefect tasks: download (fetch + verify) and preprocess (Parquet).

Each task reads its inputs, calls the pure functions of ``tasks.core``, and returns a manifest
(paths plus sha256 of every output) that the next stage takes as input and the cache verifies.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from prefect import get_run_logger, task

from tasks.cache import Manifest, StageCachePolicy, record_outputs
from tasks.core.datasets import load_split, preprocess_dataset
from tasks.core.fetch import DownloadProgress, fetch_dataset, format_progress, resolve_mirrors
from tasks.core.registry import get_dataset


@task(name="download", cache_policy=StageCachePolicy(
    stage="download", exclude=("mirror", "timeout", "retries")))
def download(dataset: str, raw_dir: Path, mirror: str | None, timeout: float, retries: int,
             cache_root: Path) -> Manifest:
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
    return record_outputs(cache_root, paths, dataset=dataset)


@task(name="preprocess", cache_policy=StageCachePolicy(stage="preprocess"))
def preprocess(raw: Manifest, out_dir: Path, cache_root: Path) -> Manifest:
    """Normalize and standardize every image; write ``train.parquet`` and ``test.parquet``."""
    payloads = {role: Path(entry["path"]) for role, entry in raw["outputs"].items()}
    digests = {role: entry["sha256"] for role, entry in raw["outputs"].items()}
    splits = preprocess_dataset(payloads, Path(out_dir), source_digests=digests)
    get_run_logger().info("wrote %s", ", ".join(str(p) for p in splits.values()))
    return record_outputs(cache_root, splits, dataset=raw["info"]["dataset"])


def load_stage_split(data: Manifest, split: str) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    """``(X (n, 784) float32, y (n,) uint8)`` of ``split`` from the preprocess manifest.

    train, evaluate and export all read the splits; one process keeps one read-only copy per
    file version (path + sha256) instead of reading 190 MB three times.
    """
    entry = data["outputs"][split]
    return _load_split_once(entry["path"], entry["sha256"])


@lru_cache(maxsize=2)
def _load_split_once(path: str, sha256: str) -> tuple[NDArray[np.float32], NDArray[np.uint8]]:
    del sha256  # part of the cache key only: a rewritten file is read again
    return load_split(Path(path))
