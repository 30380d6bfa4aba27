"""Running a stage: the per-run task options, and a record of what ran and what came from cache."""

from __future__ import annotations

import time
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prefect import Task

from tasks.cache import result_storage
from tasks.locks import FlockLockManager


@dataclass
class StageRunner:
    """Runs stage tasks against one artifacts directory's cache and records each outcome.

    ``forced`` stages ignore their cached result (Prefect's ``refresh_cache``) and overwrite it.
    Two runs of the same stage with the same key take turns (see :mod:`tasks.locks`): the
    second finds the first one's result Cached.
    """

    cache_root: Path
    forced: Collection[str] = ()
    records: list[dict[str, Any]] = field(default_factory=list)

    def run(self, stage: Task[..., Any], **inputs: Any) -> Any:
        """Run ``stage`` with ``inputs``; return its result, or raise the error it raised."""
        configured = configure_stage(stage, self.cache_root, refresh=stage.name in self.forced)
        started = time.perf_counter()
        state = configured(**inputs, cache_root=self.cache_root, return_state=True)
        seconds = time.perf_counter() - started
        status = "cached" if state.name == "Cached" else "ran" if state.is_completed() else "failed"
        self.records.append({"name": stage.name, "status": status, "seconds": round(seconds, 2)})
        return state.result()


def configure_stage(stage: Task[..., Any], cache_root: Path, *,
                    refresh: bool = False) -> Task[..., Any]:
    """``stage`` with one artifacts folder's cache: JSON records beside our manifests, keys
    serialized by flock, ``refresh`` to ignore and overwrite a cached result. Safe to send to
    Dask workers."""
    return stage.with_options(
        cache_policy=stage.cache_policy.configure(
            lock_manager=FlockLockManager(cache_root / "locks"), isolation_level="SERIALIZABLE"),
        result_storage=result_storage(cache_root),
        result_serializer="json",
        persist_result=True,
        refresh_cache=refresh,
    )
