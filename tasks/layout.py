"""Where everything goes: every path derives from the one artifacts directory.

    artifacts/
      <dataset>/raw/        verified IDX payloads
      <dataset>/parquet/    train.parquet, test.parquet
      <dataset>/models/<id>/  params.npz, history.csv, metrics.json, W_*.csv, b_*.csv, plots
      <dataset>/incoming/<class>/*.png  new labelled images (default intake folder)
      <dataset>/intake/<digest>/  incoming.parquet, holdout.parquet, manifest.json
      <dataset>/validate/<digest>/  the rows validation kept (report.json beside)
      <dataset>/quarantine/  files/<class>/<name>, quarantine.json: pictures held back
      <dataset>/production -> promoted/<id>  the production model (production.json beside;
                            the names are tasks.core.promotion's)
      <dataset>/sweep/      points/<id>/, champions/<id>/, leaderboard.csv (the last sweep)
      <dataset>/champion -> sweep/champions/<id>   the sweep's champion
      latest -> <dataset>/models/<id>   the last successful run
      <dataset>/.cache/     one JSON record per stage run (Prefect's, holding our manifest), locks
      ledger.jsonl          one line per training run, every dataset (``... history``)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.engine.layout import StoreLayout


@dataclass(frozen=True)
class Layout(StoreLayout):
    """The folders of one artifacts directory for one dataset (absolute paths)."""

    @classmethod
    def of(cls, config: Any) -> Layout:
        """The layout of a :class:`tasks.config.FlowConfig` (its artifacts folder and
        dataset); typed loosely so that stage modules importing this one stay out of
        ``tasks.config``'s code digest."""
        return cls(Path(config.artifacts_dir).resolve(), config.data.dataset)

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
    def validate_dir(self) -> Path:
        return self.dataset_dir / "validate"

    @property
    def quarantine_dir(self) -> Path:
        """Pictures validation held back, and ``quarantine.json`` saying why."""
        return self.dataset_dir / "quarantine"

    @property
    def production_link(self) -> Path:
        """``<dataset>/production``: the promoted model (``tasks.core.production.POINTER``;
        the pure gate takes the dataset folder and keeps the name, a test ties the two)."""
        return self.dataset_dir / "production"

    @property
    def production_record(self) -> Path:
        return self.dataset_dir / "production.json"

    @property
    def latest_link(self) -> Path:
        """``artifacts/latest``: the last successful run's model folder, any dataset."""
        return self.root / "latest"

    @property
    def sweep_dir(self) -> Path:
        return self.dataset_dir / "sweep"

    @property
    def sweep_points_dir(self) -> Path:
        return self.sweep_dir / "points"

    @property
    def champions_dir(self) -> Path:
        return self.sweep_dir / "champions"

    @property
    def champion_link(self) -> Path:
        return self.dataset_dir / "champion"
