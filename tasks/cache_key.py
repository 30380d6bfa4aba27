"""What a stage's cache key covers, as plain JSON: parameters, code, library versions.

* ``parameters``: the task's inputs, as JSON. Upstream stages hand over *manifests* (paths
  plus the sha256 of every file), so the content of the input files is part of the key;
* ``code``: the source of the task function and of every ``tasks.core`` module it reaches
  through imports: editing a numpy function a stage calls reruns the stage;
* ``versions``: Python, numpy, pyarrow, pandas, matplotlib.

No Prefect here: the cache policy (:mod:`tasks.cache`) and ``--explain`` both call
:func:`stage_key`, so what would run and what does run cannot disagree.
"""

from __future__ import annotations

import ast
import dataclasses
import hashlib
import importlib.util
import inspect
import json
import platform
from collections.abc import Callable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

PROJECT_PACKAGE = "tasks.core"
VERSIONED_LIBRARIES = ("numpy", "pyarrow", "pandas", "matplotlib")


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


def _referenced_modules(fn: Callable[..., Any], seen: set[Any] | None = None) -> set[str]:
    """The ``tasks.core`` modules whose names appear in ``fn``'s body, following calls into
    other project helpers (``tasks.data.load_stage_split`` → ``tasks.core.datasets``)."""
    seen = set() if seen is None else seen
    seen.add(fn)
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
        if not isinstance(module, str):
            continue
        if module.startswith(PROJECT_PACKAGE + "."):
            modules.add(module)
        elif module.startswith("tasks.") and callable(obj):
            target = inspect.unwrap(obj)  # through lru_cache and similar wrappers
            if inspect.isfunction(target) and target not in seen:
                modules |= _referenced_modules(target, seen)
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
