"""The cache policy: a stage is skipped only when nothing it depends on changed.

A stage's key is the digest of four components:

* ``parameters``: the task's inputs, as JSON. Upstream stages hand over *manifests* (paths
  plus the sha256 of every file), so the content of the input files is part of the key;
* ``code``: the source of the task function and of every ``tasks.core`` module it reaches
  through imports: editing a numpy function a stage calls reruns the stage;
* ``versions``: Python, numpy, pyarrow, pandas, matplotlib;
* ``stage``: its name.

Prefect's stock policies miss the last two and never look at files. On top of the key, a hit
is honoured only if the stage's own manifest (``<cache>/manifests/<key>.json``, JSON, never
unpickled) is present and every output it lists still has the recorded sha256; otherwise the
Prefect record is dropped and the stage reruns.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import inspect
import json
import logging
import platform
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from prefect.cache_policies import CachePolicy
from prefect.context import TaskRunContext
from prefect.runtime import flow_run
from prefect.transactions import get_transaction
from pydantic import BaseModel

from tasks.core.atomic import sha256_file, write_text_atomic

logger = logging.getLogger(__name__)

PROJECT_PACKAGE = "tasks.core"
VERSIONED_LIBRARIES = ("numpy", "pyarrow", "pandas", "matplotlib")
Manifest = dict[str, Any]
# Prefect's JSONSerializer as StageRunner configures it: the only one a record may name.
_JSON_SERIALIZER = {
    "type": "json", "jsonlib": "json", "dumps_kwargs": {}, "loads_kwargs": {},
    "object_encoder": "prefect.serializers.prefect_json_object_encoder",
    "object_decoder": "prefect.serializers.prefect_json_object_decoder",
}


# ---------------------------------------------------------------- key components
def to_jsonable(value: Any) -> Any:
    """Inputs as plain JSON values: models dumped, paths as strings, keys sorted by json.dumps."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, str | int | float | bool):
        return value
    raise TypeError(f"cache key input of type {type(value).__name__} is not JSON-able")


def digest_json(value: Any) -> str:
    """sha256 of the canonical JSON of ``value``."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour the outputs depend on."""
    versions = {"python": platform.python_version()}
    for name in VERSIONED_LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "absent"
    return versions


def _module_source(name: str) -> str:
    spec = importlib.util.find_spec(name)
    assert spec is not None and spec.origin, name
    return Path(spec.origin).read_text(encoding="utf-8")


def _project_imports(name: str) -> set[str]:
    """The ``tasks.core`` modules that module ``name`` imports directly."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(_module_source(name))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {m for m in found if m.startswith(PROJECT_PACKAGE + ".") and _is_module(m)}


def _is_module(name: str) -> bool:
    # `from tasks.core.errors import ConfigError` also yields the candidate
    # `tasks.core.errors.ConfigError`, which is not a module.
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def project_closure(roots: set[str]) -> list[str]:
    """``roots`` plus every ``tasks.core`` module they reach through imports, sorted."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_project_imports(name) - seen)
    return sorted(seen)


def _referenced_modules(fn: Callable[..., Any]) -> set[str]:
    """The ``tasks.core`` modules whose names appear in ``fn``'s body."""
    names: set[str] = set()
    codes = [fn.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if inspect.iscode(c))
    modules = set()
    for name in names:
        obj = fn.__globals__.get(name)
        module = obj.__name__ if inspect.ismodule(obj) else getattr(obj, "__module__", None)
        if isinstance(module, str) and module.startswith(PROJECT_PACKAGE + "."):
            modules.add(module)
    return modules


@cache
def code_digest(fn: Callable[..., Any]) -> tuple[str, tuple[str, ...]]:
    """Digest of ``fn``'s source and of the project modules it runs, and those modules' names."""
    modules = project_closure(_referenced_modules(fn))
    digest = hashlib.sha256(inspect.getsource(fn).encode())
    for name in modules:
        digest.update(name.encode() + b"\0" + _module_source(name).encode() + b"\0")
    return digest.hexdigest(), tuple(modules)


def key_components(stage: str, fn: Callable[..., Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Everything a stage's cache key covers, as JSON (also what ``--explain`` compares)."""
    code, modules = code_digest(fn)
    return {
        "stage": stage,
        "parameters": to_jsonable(dict(inputs)),
        "code": code,
        "code_modules": list(modules),
        "versions": library_versions(),
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


def stage_key(stage: str, fn: Callable[..., Any], inputs: Mapping[str, Any],
              exclude: tuple[str, ...] = ()) -> tuple[str, dict[str, Any]]:
    """A stage's cache key and the components it digests."""
    kept = {k: _without_provenance(v) for k, v in inputs.items()
            if k not in exclude and k != "cache_root"}
    components = key_components(stage, fn, kept)
    return f"{stage}-{digest_json(components)[:32]}", components


def _without_provenance(value: Any) -> Any:
    # An upstream manifest's provenance (which run made it, when) must not change our key:
    # a rerun that reproduces the same bytes leaves downstream stages cached.
    if isinstance(value, Mapping) and "provenance" in value:
        return {k: v for k, v in value.items() if k != "provenance"}
    return value


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


def describe_change(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """What differs between two key-component sets, in words (for ``--explain`` and logs)."""
    if previous is None:
        return "never ran in this artifacts directory"
    reasons = []
    old_params, new_params = previous.get("parameters", {}), current["parameters"]
    for path, old, new in _diff(old_params, new_params):
        if path.endswith(".sha256"):
            reasons.append(f"input `{path.split('.')[-2]}` content changed")
        else:
            reasons.append(f"parameter `{path}` changed {_short(old)} → {_short(new)}")
    if previous.get("code") != current["code"]:
        reasons.append("code changed in " + ", ".join(current["code_modules"]) + " or the task")
    for lib, version in current["versions"].items():
        if previous.get("versions", {}).get(lib) != version:
            reasons.append(f"{lib} {previous.get('versions', {}).get(lib)} → {version}")
    return "; ".join(reasons) or "same inputs as the last run, but its outputs were not recorded"


def _diff(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new)):
            out += _diff(old.get(key), new.get(key), f"{path}.{key}" if path else key)
        return out
    return [] if old == new else [(path, old, new)]


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
