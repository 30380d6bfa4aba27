"""The part of an artifacts folder the engine owns: one namespace per dataset, its cache.

    <root>/<dataset>/.cache/records/<key>   one JSON record per stage run (Prefect's)
    <root>/<dataset>/.cache/locks/          one flock file per cache key being computed

The pipeline's own folders (raw files, models, production, ...) are a subclass's business
(:class:`tasks.layout.Layout`): the engine only needs the root, the namespace and the cache.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def cache_root_for(artifacts_dir: Path, dataset: str) -> Path:
    """The cache folder of one dataset in an artifacts directory.

    One per dataset, so switching datasets never serves, or explains against, the other's runs.
    """
    return Path(artifacts_dir).resolve() / dataset / ".cache"


@dataclass(frozen=True)
class StoreLayout:
    """An artifacts folder ``root`` (absolute) and the dataset namespace a run works in."""

    root: Path
    dataset: str

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.dataset

    @property
    def cache_root(self) -> Path:
        return cache_root_for(self.root, self.dataset)

    @property
    def records_dir(self) -> Path:
        return self.cache_root / "records"

    @property
    def locks_dir(self) -> Path:
        return self.cache_root / "locks"
