"""download: fetch, decompress and verify the dataset's four IDX payloads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import get_run_logger, task

from tasks.core.fetch import DownloadProgress, fetch_dataset, format_progress, resolve_mirrors
from tasks.core.registry import get_dataset
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest, Output
from tasks.engine.stage import Stage


@task(name="download")
def fetch_raw(dataset: str, raw_dir: Path, mirror: str | None, timeout: float,
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


def _parameters(config: Any, layout: Any) -> dict[str, Any]:
    data = config.data
    return {"dataset": data.dataset, "raw_dir": layout.raw_dir, "mirror": data.resolved_mirror(),
            "timeout": data.timeout, "retries": data.retries}


def _expected(layout: Any) -> Manifest:
    """What a download produces, known before it runs: fixed paths, the registry's digests."""
    files = get_dataset(layout.dataset).files
    outputs = {role: Output(path=(Path(layout.raw_dir) / f.name).relative_to(layout.root)
                            .as_posix(), sha256=f.sha256, size=f.size, mtime_ns=0, inode=0)
               for role, f in files.items()}
    return Manifest(stage="download", dataset=layout.dataset, outputs=outputs, root=layout.root)


# The mirror, timeout and retries cannot change the bytes: every file is verified by digest.
download = Stage("download", fetch_raw, parameters=_parameters,
                 unkeyed=("mirror", "timeout", "retries"),
                 outputs=("train_images", "train_labels", "test_images", "test_labels"),
                 expected=_expected)
