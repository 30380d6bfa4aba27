"""preprocess: normalize and standardize every image into ``train.parquet`` and
``test.parquet``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage


@task(name="preprocess")
def write_parquet(raw: Manifest, out_dir: Path) -> dict[str, Any]:
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


preprocess = Stage("preprocess", write_parquet, upstream={"raw": "download"},
                   parameters=lambda config, layout: {"out_dir": layout.parquet_dir},
                   outputs=("train", "test"))
