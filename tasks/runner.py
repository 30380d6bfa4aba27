"""Running stages: what a stage is (one table entry), and a runner that records each outcome."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from prefect import Task

from tasks.cache import RECORD_SERIALIZER, CacheStore, StageCachePolicy, Verdict, judge
from tasks.layout import Layout
from tasks.locks import FlockLockManager
from tasks.manifest import Manifest, Verify

if TYPE_CHECKING:
    from tasks.config import FlowConfig


def _no_parameters(config: FlowConfig, layout: Layout) -> dict[str, Any]:
    del config, layout
    return {}


@dataclass(frozen=True)
class Stage:
    """One stage, declared once (see :mod:`tasks.stages` for the table).

    ``upstream`` maps a task argument to the stage whose manifest it receives. ``parameters``
    builds the task's other arguments from the run's config; all of them are part of the key
    except those named in ``unkeyed``. ``content`` names parameters that are folders whose
    files' digests enter the key. ``outputs`` names the files the stage records; ``expected``
    gives the manifest a stage is known to produce before it runs (``--explain``), if any.
    """

    name: str
    task: Task[..., Any]
    upstream: Mapping[str, str] = field(default_factory=dict)
    parameters: Callable[[FlowConfig, Layout], dict[str, Any]] = _no_parameters
    unkeyed: tuple[str, ...] = ()
    content: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    expected: Callable[[Layout], Manifest] | None = None

    def verdict(self, store: CacheStore, inputs: Mapping[str, Any], *, verify: Verify = "stat",
                forced: bool = False) -> Verdict:
        """Would this stage run with ``inputs``, and why (reads only)."""
        return judge(store, self.name, self.task.fn, inputs, exclude=self.unkeyed,
                     content=self.content, verify=verify, forced=forced)


@dataclass
class StageRunner:
    """Runs stages against one artifacts folder's cache and records each outcome and reason.

    ``forced`` stages ignore their cached result (Prefect's ``refresh_cache``) and overwrite it.
    Two runs of the same stage with the same key take turns (see :mod:`tasks.locks`): the
    second finds the first one's result Cached.
    """

    layout: Layout
    forced: Collection[str] = ()
    verify: Verify = "stat"
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def store(self) -> CacheStore:
        return CacheStore(self.layout.root, self.layout.dataset)

    def run_all(self, stages: Sequence[Stage], config: FlowConfig) -> dict[str, Manifest]:
        """Run ``stages`` in order, each fed its upstream manifests; return every manifest."""
        manifests: dict[str, Manifest] = {}
        for stage in stages:
            inputs = {arg: manifests[up] for arg, up in stage.upstream.items()}
            manifests[stage.name] = self.run(stage, **inputs,
                                             **stage.parameters(config, self.layout))
        return manifests

    def run(self, stage: Stage, **inputs: Any) -> Manifest:
        """Run ``stage`` with ``inputs``; return its manifest, or raise the error it raised."""
        verdict = self.prepare(stage, inputs)
        started = time.perf_counter()
        state = self.configure(stage)(**inputs, return_state=True)
        seconds = time.perf_counter() - started
        status = "cached" if state.name == "Cached" else "ran" if state.is_completed() else "failed"
        reason = verdict.reason if verdict.runs else "its record vanished while it was checked"
        self.records.append({"name": stage.name, "status": status, "seconds": round(seconds, 2),
                             "reason": reason if status != "cached" else ""})
        return self.manifest(state.result())

    def prepare(self, stage: Stage, inputs: Mapping[str, Any]) -> Verdict:
        """Judge ``stage``; drop a record that must not be served, so Prefect reruns it, and
        record the new stat of outputs that were re-hashed and matched (a restored folder)."""
        forced = stage.name in self.forced
        verdict = stage.verdict(self.store, inputs, verify=self.verify, forced=forced)
        if verdict.stale and not forced:
            self.store.drop(verdict.key)
        elif verdict.manifest is not None and (fresh := verdict.manifest.restat()) is not None:
            self.store.update(verdict.key, fresh)
        return verdict

    def configure(self, stage: Stage) -> Task[..., Any]:
        """``stage``'s task with this folder's cache: a keyed policy, JSON records, keys
        serialized by flock, refresh when forced. Safe to send to Dask workers."""
        policy = StageCachePolicy(stage=stage.name, exclude=stage.unkeyed, content=stage.content,
                                  artifacts=self.layout.root)
        return stage.task.with_options(
            cache_policy=policy.configure(lock_manager=FlockLockManager(
                self.layout.cache_root / "locks"), isolation_level="SERIALIZABLE"),
            result_storage=self.store.records.resolve(),
            result_serializer=RECORD_SERIALIZER,
            persist_result=True,
            refresh_cache=stage.name in self.forced,
        )

    def manifest(self, result: Mapping[str, Any]) -> Manifest:
        """A stage task's result (its manifest as JSON), resolved against this folder."""
        return Manifest.from_json(result, self.layout.root)
