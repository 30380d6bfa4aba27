"""The model a long-running server answers with: production's, followed without a restart.

The gate moves production by writing its record, then swapping the link, under the pointer's
lock (:mod:`tasks.core.production`). A server holds the model it loaded with the identity of
what it read: the link's target and the ``stat`` of the record and of the four weight files.
Each request compares that identity with the files' (a ``readlink`` and five ``stat`` calls,
microseconds) and loads the model again only when it changed, so the request after a
promotion answers with the new model, and a request keeps the :class:`ServedModel` it was
handed even if production moves while it computes. Between the record and the link of a
swap, production reads as damaged for an instant: the reader then waits for the swap's lock
and reads again, instead of answering "damaged" for a healthy production.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import DataError, WeightsError
from tasks.core.export import load_weights_csv
from tasks.core.network import Params, predict_proba
from tasks.core.production import (
    POINTER,
    POINTER_JSON,
    WEIGHT_FILES,
    Production,
    ProductionDamagedError,
    read_production,
)
from tasks.engine.pointer import wait_for_swap

# How long a reader that finds production mid-swap waits for the swap's lock. A swap holds it
# for a gate's scoring (seconds on a busy machine); longer than that is a stuck writer.
SWAP_WAIT_SECONDS = 30.0
Identity = tuple[object, ...]


class NoProductionError(DataError):
    """Nothing was ever promoted for this dataset: there is no model to answer with."""


@dataclass(frozen=True)
class ServedModel:
    """A production model in memory: its record, its weights (``W_1 (h, 784)`` ...) and the
    identity of the files it was read from."""

    record: Production
    params: Params
    identity: Identity

    def probabilities(self, row: NDArray[np.float32]) -> NDArray[np.float64]:
        """``row (784,)`` standardized -> the ten class probabilities ``(10,) float64``."""
        return np.asarray(predict_proba(self.params, row[None])[0], dtype=np.float64)


def production_identity(dataset_dir: Path) -> Identity | None:
    """What changes whenever production changes: the link's target and the (inode, mtime,
    size) of the record and of the weights it points to; None when a file is missing."""
    try:
        target = os.readlink(dataset_dir / POINTER)
        files = [dataset_dir / POINTER_JSON, *(dataset_dir / target / n for n in WEIGHT_FILES)]
        stats = [os.stat(path) for path in files]
    except OSError:
        return None
    return (target, *((s.st_ino, s.st_mtime_ns, s.st_size) for s in stats))


class ProductionHolder:
    """The production model of ``dataset_dir``, reloaded when production moves.

    :meth:`current` is safe to call from many threads; one of them loads a new model while
    the others wait for it. It raises :class:`NoProductionError` before the first promotion
    and :class:`ProductionDamagedError` while production is damaged; both clear by themselves
    once a model is promoted or production repaired.
    """

    def __init__(self, dataset_dir: Path) -> None:
        self.dataset_dir = Path(dataset_dir)
        self._loaded: ServedModel | None = None
        self._loading = threading.Lock()

    def current(self) -> ServedModel:
        """The model to answer this request with."""
        loaded = self._loaded
        if loaded is not None and production_identity(self.dataset_dir) == loaded.identity:
            return loaded
        with self._loading:
            loaded = self._loaded  # another thread may have loaded it meanwhile
            if loaded is None or production_identity(self.dataset_dir) != loaded.identity:
                loaded = self._loaded = self._load()
            return loaded

    def _load(self) -> ServedModel:
        try:
            return self._read()
        except ProductionDamagedError:
            # Mid-swap (record written, link not yet) reads as damaged: a finished swap
            # releases the lock, then production reads whole, or truly damaged.
            wait_for_swap(self.dataset_dir / POINTER, SWAP_WAIT_SECONDS)
            return self._read()

    def _read(self) -> ServedModel:
        """Read record and weights; the identity must be the same before and after, or the
        files changed under the reader and it reads again."""
        for _ in range(5):
            before = production_identity(self.dataset_dir)
            record = read_production(self.dataset_dir)
            if record is None:
                raise NoProductionError(
                    f"nothing is in production for {self.dataset_dir.name} yet: run the "
                    f"pipeline (mnist-flow --dataset {self.dataset_dir.name}); its first model "
                    f"is promoted and served from the next request")
            try:
                params = load_weights_csv(self.dataset_dir / record.path)
            except WeightsError as error:
                raise ProductionDamagedError(f"the production model {record.model} cannot be "
                                             f"read: {str(error).splitlines()[0]}") from None
            if before is not None and production_identity(self.dataset_dir) == before:
                return ServedModel(record=record, params=params, identity=before)
        raise ProductionDamagedError(f"production of {self.dataset_dir} kept changing while "
                                     f"it was read")
