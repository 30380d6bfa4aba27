"""The cache policy: a stage is skipped only when nothing it depends on changed.

A stage's key digests its parameters (upstream manifests carry every input file's sha256), the
source of the code it runs and the library versions (see :mod:`tasks.cache_key`). Prefect's
stock policies miss the last two and never look at files. On top of the key, a hit
is honoured only if the stage's own manifest (``<cache>/manifests/<key>.json``, JSON, never
unpickled) is present and every output it lists still has the recorded sha256; otherwise the
Prefect record is dropped and the stage reruns.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.transactions import get_transaction

from tasks.cache_key import stage_key, to_jsonable
from tasks.core.atomic import sha256_file, write_text_atomic

logger = logging.getLogger(__name__)

Manifest = dict[str, Any]
# Prefect's JSONSerializer as StageRunner configures it: the only one a record may name.
_JSON_SERIALIZER = {
    "type": "json", "jsonlib": "json", "dumps_kwargs": {}, "loads_kwargs": {},
    "object_encoder": "prefect.serializers.prefect_json_object_encoder",
    "object_decoder": "prefect.serializers.prefect_json_object_decoder",
}


# ---------------------------------------------------------------- manifests
def file_entry(path: Path) -> dict[str, Any]:
    """A manifest entry: where a file is and what its bytes hash to."""
    return {"path": str(path), "sha256": sha256_file(path), "bytes": path.stat().st_size}


def output_problems(manifest: Manifest) -> list[str]:
    """Why the outputs of ``manifest`` can no longer be trusted (empty when intact)."""
    problems = []
    for entry in manifest.get("outputs", {}).values():
        path = Path(entry["path"])
        if not path.is_file():
            problems.append(f"output `{path.name}` missing")
        elif path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            problems.append(f"output `{path.name}` altered (sha256 differs from its manifest)")
    return problems


@dataclasses.dataclass(frozen=True)
class CacheStore:
    """Where one artifacts directory keeps its cache: Prefect records and our manifests."""

    root: Path

    @property
    def records(self) -> Path:
        return self.root / "records"

    def manifest_path(self, key: str) -> Path:
        return self.root / "manifests" / f"{key}.json"

    def last_components_path(self, stage: str) -> Path:
        return self.root / "last" / f"{stage}.json"

    def read_manifest(self, key: str) -> Manifest | None:
        try:
            return json.loads(self.manifest_path(key).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def write_manifest(self, key: str, manifest: Manifest) -> None:
        write_text_atomic(self.manifest_path(key), json.dumps(manifest, indent=1, sort_keys=True))

    def read_last_components(self, stage: str) -> dict[str, Any] | None:
        try:
            return json.loads(self.last_components_path(stage).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def drop_record(self, key: str) -> None:
        (self.records / key).unlink(missing_ok=True)

    def record_problems(self, key: str) -> list[str]:
        """Why Prefect's record for ``key`` must not be read (empty when it is safe).

        Prefect deserializes a record with the serializer the record itself names, pickle
        included, so a record planted in the folder could run code. Ours are JSON with the
        default serializer and hold exactly the manifest; anything else is refused.
        """
        try:
            record = json.loads((self.records / key).read_bytes())
            serializer, result = record["metadata"]["serializer"], json.loads(record["result"])
        except (OSError, ValueError, KeyError, TypeError):
            return ["its Prefect record is not a JSON record"]
        if serializer != _JSON_SERIALIZER or result != self.read_manifest(key) or (
                "__class__" in record["result"]):
            return ["its Prefect record is not the plain JSON of its manifest"]
        return []

    def hit_problems(self, key: str) -> list[str]:
        """Why ``key`` cannot be served from cache; empty when it can."""
        manifest = self.read_manifest(key)
        if manifest is None:
            return ["no completed run with these inputs, parameters and code"]
        return output_problems(manifest)


@dataclasses.dataclass
class StageCachePolicy(CachePolicy):
    """Key = stage + inputs (manifests carry file digests) + code closure + library versions.

    Every stage task takes a ``cache_root`` input (its artifacts directory's cache folder),
    which locates the manifests and is not itself part of the key. ``exclude`` names further
    inputs that cannot change the outputs (a mirror URL: files are verified by digest).
    """

    stage: str = ""
    exclude: tuple[str, ...] = ()

    def compute_key(self, task_ctx: TaskRunContext, inputs: dict[str, Any],
                    flow_parameters: dict[str, Any], **kwargs: Any) -> str | None:
        store = CacheStore(Path(inputs["cache_root"]))
        key, components = stage_key(self.stage, task_ctx.task.fn, inputs, self.exclude)
        problems = store.hit_problems(key)
        if not problems and (store.records / key).exists():
            problems = store.record_problems(key)
        if problems and (store.records / key).exists():
            logger.info("%s: cached result ignored: %s", self.stage, "; ".join(problems))
            store.drop_record(key)
        write_text_atomic(store.last_components_path(self.stage), json.dumps(components, indent=1))
        return key


def record_outputs(cache_root: Path, outputs: Mapping[str, Path], *,
                   seconds: float | None = None, **info: Any) -> Manifest:
    """Called at the end of a stage: hash its outputs and save the manifest under the run's key.

    Returns the manifest, which is also the task's (JSON) result and the next stage's input.
    ``provenance`` says which flow run made the outputs and how long the work took; it is left
    out of downstream keys, so a rerun that reproduces the same bytes changes nothing after it.
    """
    manifest: Manifest = {
        "outputs": {name: file_entry(Path(path)) for name, path in outputs.items()},
        "info": to_jsonable(info),
        "provenance": {"flow_run": flow_run.name or "", "finished": _now(), "seconds": seconds},
    }
    key = current_key()
    if key:
        CacheStore(cache_root).write_manifest(key, manifest)
    return manifest


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def result_storage(cache_root: Path) -> Path:
    """Prefect's result records for one artifacts directory, beside our manifests."""
    return CacheStore(cache_root).records.resolve()


def cache_root_for(artifacts_dir: Path, dataset: str) -> Path:
    """The cache folder of one dataset in an artifacts directory.

    One per dataset, so switching datasets never serves, or explains against, the other's runs.
    """
    return Path(artifacts_dir).resolve() / dataset / ".cache"


def artifacts_dir_of(cache_root: Path) -> Path:
    """The artifacts directory a cache folder belongs to (inverse of :func:`cache_root_for`)."""
    return Path(cache_root).parent.parent


def current_key() -> str | None:
    """The running task's cache key (None outside a cached task)."""
    transaction = get_transaction()
    return transaction.key if transaction is not None else None
