"""Where everything goes: every path derives from the one artifacts directory.

    artifacts/
      <dataset>/raw/        verified IDX payloads
      <dataset>/parquet/    train.parquet, test.parquet
      <dataset>/models/<id>/  params.npz, history.csv, metrics.json, W_*.csv, b_*.csv, plots
      <dataset>/incoming/<class>/*.png  new labelled images (default intake folder)
      <dataset>/intake/<digest>/  incoming.parquet, holdout.parquet, manifest.json
      <dataset>/production -> promoted/<id>  the production model (production.json beside)
      latest -> <dataset>/models/<id>   the last successful run
      <dataset>/.cache/     one JSON record per stage run (Prefect's, holding our manifest), locks
      ledger.jsonl          one line per training run, every dataset (``... history``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tasks.cache import cache_root_for
from tasks.config import FlowConfig


@dataclass(frozen=True)
class Layout:
    """The folders of one artifacts directory for one dataset (absolute paths)."""

    root: Path
    dataset: str

    @classmethod
    def of(cls, config: FlowConfig) -> Layout:
        return cls(Path(config.artifacts_dir).resolve(), config.data.dataset)

    @property
    def dataset_dir(self) -> Path:
        return self.root / self.dataset

    @property
    def raw_dir(self) -> Path:
        return self.dataset_dir / "raw"

    @property
    def parquet_dir(self) -> Path:
        return self.dataset_dir / "parquet"

    @property
    def models_dir(self) -> Path:
        return self.dataset_dir / "models"

    @property
    def incoming_dir(self) -> Path:
        """The default intake folder (``--incoming`` replaces it)."""
        return self.dataset_dir / "incoming"

    @property
    def intake_dir(self) -> Path:
        return self.dataset_dir / "intake"

    @property
    def cache_root(self) -> Path:
        return cache_root_for(self.root, self.dataset)
