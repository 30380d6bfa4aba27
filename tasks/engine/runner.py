"""Running a pipeline: each stage fed its upstream manifests, each outcome recorded."""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prefect import Task

from tasks.engine.cache import RECORD_SERIALIZER, CacheStore, StageCachePolicy, Verdict, judge
from tasks.engine.layout import StoreLayout
from tasks.engine.locks import FlockLockManager
from tasks.engine.manifest import Manifest, Verify
from tasks.engine.stage import Stage, StageOutcome


def verdict(stage: Stage, store: CacheStore, inputs: Mapping[str, Any], *,
            verify: Verify = "stat", forced: bool = False) -> Verdict:
    """Would ``stage`` run with ``inputs``, and why (reads only). A cached result its stage's
    ``still_stands`` no longer vouches for is stale: the stage runs again under the same key."""
    judged = judge(store, stage.name, stage.task.fn, inputs, exclude=stage.unkeyed,
                   verify=verify, forced=forced)
    if judged.runs or judged.manifest is None or stage.still_stands is None:
        return judged
    why = stage.still_stands(judged.manifest, inputs)
    return judged if why is None else Verdict(stage.name, True, why, judged.key, stale=True)


@dataclass
class StageRunner:
    """Runs stages against one artifacts folder's cache and records each outcome and reason.

    ``forced`` stages ignore their cached result (Prefect's ``refresh_cache``) and overwrite it.
    Two runs of the same stage with the same key take turns (see :mod:`tasks.engine.locks`):
    the second finds the first one's result Cached.
    """

    layout: StoreLayout
    forced: Collection[str] = ()
    verify: Verify = "stat"
    outcomes: list[StageOutcome] = field(default_factory=list)

    @property
    def store(self) -> CacheStore:
        return CacheStore(self.layout.root, self.layout.dataset)

    def run_all(self, stages: Sequence[Stage], config: Any) -> dict[str, Any]:
        """Run ``stages`` in order, each fed its upstream manifests and the parameters it
        builds from ``config``; return each stage's manifest (an uncached stage's result)."""
        done: dict[str, Any] = {}
        for stage in stages:
            inputs = {arg: done[up] for arg, up in stage.upstream.items()}
            parameters = stage.parameters(config, self.layout)
            if stage.cached:
                done[stage.name] = self.run(stage, **inputs, **parameters)
            else:
                done[stage.name] = stage.task(**inputs, **parameters,
                                              outcomes=tuple(self.outcomes))
        return done

    def run(self, stage: Stage, **inputs: Any) -> Manifest:
        """Run ``stage`` with ``inputs``; return its manifest, or raise the error it raised."""
        verdict = self.prepare(stage, inputs)
        started = time.perf_counter()
        state = self.configure(stage)(**inputs, return_state=True)
        seconds = round(time.perf_counter() - started, 2)
        status = "cached" if state.name == "Cached" else "ran" if state.is_completed() else "failed"
        reason = verdict.reason if verdict.runs else "its record vanished while it was checked"
        self.outcomes.append(StageOutcome(stage.name, status, seconds,
                                          reason if status != "cached" else ""))
        return stage.check_outputs(self.manifest(state.result()))

    def prepare(self, stage: Stage, inputs: Mapping[str, Any]) -> Verdict:
        """Judge ``stage``; drop a record that must not be served, so Prefect reruns it, and
        record the new stat of outputs that were re-hashed and matched (a restored folder)."""
        forced = stage.name in self.forced
        judged = verdict(stage, self.store, inputs, verify=self.verify, forced=forced)
        if judged.stale and not forced:
            self.store.drop(judged.key)
        elif judged.manifest is not None and (fresh := judged.manifest.restat()) is not None:
            self.store.update(judged.key, fresh)
        return judged

    def configure(self, stage: Stage) -> Task[..., Any]:
        """``stage``'s task with this folder's cache: a keyed policy, JSON records, keys
        serialized by flock, refresh when forced. Safe to send to Dask workers."""
        policy = StageCachePolicy(stage=stage.name, exclude=stage.unkeyed,
                                  artifacts=self.layout.root)
        return stage.task.with_options(
            cache_policy=policy.configure(lock_manager=FlockLockManager(self.layout.locks_dir),
                                          isolation_level="SERIALIZABLE"),
            result_storage=self.store.records.resolve(),
            result_serializer=RECORD_SERIALIZER,
            persist_result=True,
            refresh_cache=stage.name in self.forced,
        )

    def manifest(self, result: Mapping[str, Any]) -> Manifest:
        """A stage task's result (its manifest as JSON), resolved against this folder."""
        return Manifest.from_json(result, self.layout.root)
