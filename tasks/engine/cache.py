"""The cache: one record per stage run, a pure key, and a hit check that trusts no file blindly.

* The store of record is Prefect's own result record, ``<dataset>/.cache/records/<key>``:
  JSON, holding the stage's :class:`~tasks.engine.manifest.Manifest` (outputs with sha256 and
  stat, what the key covered, which run made it). Nothing else is kept per stage.
* The key (:func:`tasks.engine.cache_key.stage_key`) is computed without side effects by
  :class:`StageCachePolicy`, which Prefect calls.
* Before a stage runs, :func:`judge` (called by the runner and by ``--explain``) checks the
  record: it must be plain JSON (Prefect would unpickle a planted pickle record) and every
  output must still be intact. A record that fails is dropped, so Prefect reruns the stage.

See ``docs/caching.md``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.serializers import JSONSerializer

from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache_key import describe_change, stage_key
from tasks.engine.layout import cache_root_for
from tasks.engine.manifest import Manifest, Output, Provenance, Verify

# The serializer of every record: plain json, without Prefect's object hooks. A record holds a
# manifest, which is plain JSON, and Prefect looks each hook up by first trying to import
# "prefect.serializers.<hook>" as a module: ~5 ms a record, 0.08 s of an all-cached run.
RECORD_SERIALIZER = JSONSerializer(object_encoder=None, object_decoder=None)
# What a record names as its serializer: the only one a record may name.
_JSON_SERIALIZER = RECORD_SERIALIZER.model_dump(mode="json")


@dataclasses.dataclass(frozen=True)
class CacheStore:
    """One dataset's records in one artifacts folder (``root``)."""

    root: Path
    dataset: str

    @property
    def records(self) -> Path:
        return cache_root_for(self.root, self.dataset) / "records"

    def read(self, key: str) -> tuple[Manifest | None, str | None]:
        """The manifest recorded under ``key``, or None and why it cannot be used (None when
        there is no record at all)."""
        try:
            raw = (self.records / key).read_bytes()
        except OSError:
            return None, None
        try:
            record = json.loads(raw)
            serializer, text = record["metadata"]["serializer"], record["result"]
            if serializer != _JSON_SERIALIZER or "__class__" in text:
                return None, "its Prefect record is not a plain JSON manifest"
            return Manifest.from_json(json.loads(text), self.root), None
        except (ValueError, KeyError, TypeError):
            return None, "its Prefect record is not a plain JSON manifest"

    def update(self, key: str, manifest: Manifest) -> None:
        """Replace the manifest inside the record ``key`` (atomically), keeping Prefect's
        metadata."""
        path = self.records / key
        record = json.loads(path.read_bytes())
        record["result"] = json.dumps(manifest.to_json())
        write_text_atomic(path, json.dumps(record))

    def drop(self, key: str) -> None:
        (self.records / key).unlink(missing_ok=True)

    def latest(self, stage: str) -> Manifest | None:
        """The most recently written readable record of ``stage`` (what changed since?)."""
        candidates = sorted(self.records.glob(f"{stage}-*"), reverse=True,
                            key=lambda p: p.stat().st_mtime_ns if p.exists() else 0)
        for path in candidates:
            manifest, _ = self.read(path.name)
            if manifest is not None:
                return manifest
        return None


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a stage runs or comes from cache, and why (what ``--explain`` prints)."""

    stage: str
    runs: bool
    reason: str
    key: str = ""
    manifest: Manifest | None = None
    stale: bool = False  # a record exists under the key but must not be served

    def __str__(self) -> str:
        return f"{self.stage:<10} {'would run' if self.runs else 'cached':<9}  {self.reason}"


def judge(store: CacheStore, name: str, fn: Callable[..., Any], inputs: Mapping[str, Any], *,
          exclude: tuple[str, ...] = (), verify: Verify = "stat", forced: bool = False) -> Verdict:
    """Would stage ``name`` with ``inputs`` run, and why; reads, never writes."""
    key, components = stage_key(name, fn, inputs, exclude=exclude, root=store.root)
    manifest, unreadable = store.read(key)
    problems = [unreadable] if unreadable else manifest.problems(verify) if manifest else []
    how = "sha256 of every output" if verify == "full" else "stat, sha256 where it changed"
    if forced:
        return Verdict(name, True, "forced by --force", key)
    if manifest is not None and not problems:
        provenance = manifest.provenance
        return Verdict(name, False, f"outputs of run `{provenance.flow_run}` "
                                    f"({provenance.finished}) intact (checked by {how})",
                       key, manifest)
    if problems:
        return Verdict(name, True, "; ".join(problems), key, stale=True)
    previous = store.latest(name)
    return Verdict(name, True, describe_change(previous and previous.key, components), key)


@dataclasses.dataclass
class StageCachePolicy(CachePolicy):
    """Key = stage + inputs (manifests carry file digests) + code closure + library versions.

    Pure: computes the key and nothing else. ``artifacts`` is the artifacts folder the runner
    configured (keys hold paths relative to it); ``exclude`` names inputs that cannot change the
    outputs (a mirror URL: files are verified by digest).
    """

    stage: str = ""
    exclude: tuple[str, ...] = ()
    artifacts: Path = Path(".")

    def components(self, fn: Callable[..., Any], inputs: Mapping[str, Any]) -> tuple[
            str, dict[str, Any]]:
        return stage_key(self.stage, fn, inputs, exclude=self.exclude, root=self.artifacts)

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any],
                    flow_parameters: dict[str, Any], **kwargs: Any) -> str | None:
        return self.components(task_ctx.task.fn, inputs)[0]


def finish(outputs: Mapping[str, Path], *, dataset: str, seconds: float | None = None,
           digests: Mapping[str, str] | None = None, **info: Any) -> dict[str, Any]:
    """Called at the end of a stage task: describe its outputs (hashing each once, unless the
    writer passed its sha256 in ``digests``) and return the manifest as JSON, which Prefect
    stores as the record. ``info`` holds small facts for later stages (a step count)."""
    context = TaskRunContext.get()
    assert context is not None, "finish() runs inside a stage task"
    policy = context.task.cache_policy
    assert isinstance(policy, StageCachePolicy), "stage tasks run through StageRunner"
    known = digests or {}
    manifest = Manifest(
        stage=policy.stage, dataset=dataset,
        outputs={name: Output.of(Path(path), policy.artifacts, known.get(name))
                 for name, path in outputs.items()},
        info=info, key=policy.components(context.task.fn, context.parameters)[1],
        provenance=Provenance(flow_run=flow_run.name or "", seconds=seconds,
                              finished=datetime.now(UTC).isoformat(timespec="seconds")))
    return manifest.to_json()
