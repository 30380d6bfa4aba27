"""What a stage's cache key covers, as plain JSON: parameters, code, library versions.

* ``parameters``: the task's inputs, as JSON. Upstream stages hand over manifests, whose key
  view holds every input file's sha256; paths inside the artifacts folder are written relative
  to it, so a moved folder keeps its keys (a folder whose content matters is keyed by a digest
  its stage computes, e.g. the intake's);
* ``code``: the whole source of every project module (``tasks.*``, ``flows.*``) the task's
  module reaches through its imports, at any depth, lazy imports included: any edit of such a
  module (a comment too: slightly too much, never too little) reruns every stage that can
  execute it, and an edit of any other module reruns nothing;
* ``versions``: Python, numpy, pyarrow, pandas, matplotlib, Pillow.

No Prefect here: the cache policy (:mod:`tasks.engine.cache`), the runner and ``--explain`` all call
:func:`stage_key`, so what would run and what does run cannot disagree.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import platform
import re
import sys
from collections.abc import Callable, Mapping
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

from pydantic import BaseModel

PROJECT_PACKAGES = ("tasks", "flows")
# Pillow: the intake decodes pictures with it and export writes PNGs with it.
VERSIONED_LIBRARIES = ("numpy", "pyarrow", "pandas", "matplotlib", "pillow")
ARTIFACTS = "<artifacts>"


def to_jsonable(value: Any, root: Path | None = None) -> Any:
    """Inputs as plain JSON values: manifests as their key view, models dumped, paths as
    strings (relative to ``root``, the artifacts folder, when inside it)."""
    if hasattr(value, "key_view"):
        return value.key_view()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value), root)
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v, root) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, root) for v in value]
    if isinstance(value, Path):
        if root is not None and value.is_relative_to(root):
            return f"{ARTIFACTS}/{value.relative_to(root).as_posix()}"
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
    return dict(_installed_versions())


@cache
def _installed_versions() -> tuple[tuple[str, str], ...]:
    # Read once per process: every stage's key asks twice, which cost an all-cached run 0.17 s.
    versions = [("python", platform.python_version())]
    for name in VERSIONED_LIBRARIES:
        try:
            versions.append((name, _installed_version(name)))
        except metadata.PackageNotFoundError:
            versions.append((name, "absent"))
    return tuple(versions)


_VERSION_LINE = re.compile(r"^Version:[ \t]*(\S+)", re.MULTILINE)


def _installed_version(name: str) -> str:
    """``metadata.version(name)``, read from the metadata's header line: ``version()`` parses
    the whole file as e-mail first (numpy's is 60 kB; ~4 ms a library)."""
    distribution = metadata.distribution(name)
    found = _VERSION_LINE.search(distribution.read_text("METADATA")
                                 or distribution.read_text("PKG-INFO") or "")
    return found[1] if found else distribution.version


@cache
def _module_file(name: str) -> Path | None:
    """The source file of project module ``name``, found on disk, or None if there is none.

    Nothing new is imported: ``importlib.util.find_spec("tasks.core.images.read_grayscale")``
    would import ``tasks.core.images`` (and Pillow) only to learn that a function is not a
    module, in every run, cached or not.
    """
    parent, _, leaf = name.rpartition(".")
    if not parent:
        spec = importlib.util.find_spec(name)
        return Path(spec.origin) if spec is not None and spec.origin else None
    package = sys.modules.get(parent)
    if package is not None:
        locations = [Path(p) for p in getattr(package, "__path__", ())]
    else:  # a package not imported yet: its folder, if it is one
        parent_file = _module_file(parent)
        locations = [parent_file.parent] if parent_file and parent_file.name == "__init__.py" \
            else []
    for location in locations:
        for candidate in (location / f"{leaf}.py", location / leaf / "__init__.py"):
            if candidate.is_file():
                return candidate
    return None


def _module_source(name: str) -> str:
    path = _module_file(name)
    assert path is not None, name
    return path.read_text(encoding="utf-8")


# `import a.b as c, d` or `from a.b import (c, d as e)`, anywhere (lazy imports too); a match
# inside a string only adds a module to the closure, which is harmless.
_IMPORT = re.compile(r"^[ \t]*(?:from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n#]*)"
                     r"|import[ \t]+([^\n#]*))", re.MULTILINE)


@cache
def _module_facts(name: str) -> tuple[str, frozenset[str]]:
    """A module's source digest and the project modules it imports anywhere in its body.

    Read as text, not parsed: parsing every module would cost a cached run ~0.5 s.
    """
    source = _module_source(name)
    imported: set[str] = set()
    for module, names, plain in _IMPORT.findall(source):
        if module:
            imported.add(module)
            imported.update(f"{module}.{_bare(n)}" for n in names.strip("()").split(","))
        else:
            imported.update(_bare(n) for n in plain.split(","))
    project = {m for m in imported if m.split(".")[0] in PROJECT_PACKAGES and _is_module(m)}
    return hashlib.sha256(source.encode()).hexdigest()[:16], frozenset(project)


def _bare(name: str) -> str:
    return name.split(" as ")[0].strip().rstrip("\\").strip()


def _is_module(name: str) -> bool:
    # `from tasks.core.errors import ConfigError` also yields the candidate
    # `tasks.core.errors.ConfigError`, which is not a module.
    return _module_file(name) is not None


def project_closure(roots: set[str]) -> list[str]:
    """``roots`` plus every project module they reach through imports, sorted."""
    seen: set[str] = set()
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_module_facts(name)[1] - seen)
    return sorted(seen)


def code_digest(fn: Callable[..., Any]) -> tuple[str, tuple[tuple[str, str], ...]]:
    """Digest of the code ``fn`` can run (its module and every project module that module
    reaches), and each of those modules' own digest, so a change can be named."""
    return module_code_digest(fn.__module__)


@cache
def module_code_digest(module: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    """:func:`code_digest` of the functions of project module ``module``, which need not be
    imported (its source is read from disk)."""
    modules = tuple((name, _module_facts(name)[0]) for name in project_closure({module}))
    return digest_json(modules), modules


def clear_code_cache() -> None:
    """Forget digested sources (tests edit modules within one process)."""
    module_code_digest.cache_clear()
    _module_facts.cache_clear()
    _module_file.cache_clear()


def stage_key(stage: str, fn: Callable[..., Any], inputs: Mapping[str, Any], *,
              exclude: tuple[str, ...] = (), root: Path | None = None,
              ) -> tuple[str, dict[str, Any]]:
    """A stage's cache key and the components it digests (also what ``--explain`` compares).

    ``exclude`` names inputs that cannot change the outputs; ``root`` is the artifacts folder.
    """
    kept = {k: v for k, v in inputs.items() if k not in exclude}
    code, modules = code_digest(fn)
    components = {"stage": stage, "parameters": to_jsonable(kept, root), "code": code,
                  "code_modules": dict(modules), "versions": library_versions()}
    return f"{stage}-{digest_json(components)[:32]}", components


def describe_change(previous: Mapping[str, Any] | None, current: Mapping[str, Any]) -> str:
    """What differs between two key-component sets, in words (``--explain`` and summaries)."""
    if not previous:
        return "never ran in this artifacts directory"
    reasons = []
    for path, old, new in _diff(previous.get("parameters", {}), current["parameters"]):
        if path.endswith(".sha256"):
            reasons.append(f"input `{path.split('.')[-2]}` content changed")
        else:
            reasons.append(f"parameter `{path}` changed {_short(old)} → {_short(new)}")
    if previous.get("code") != current["code"]:
        old_modules = previous.get("code_modules") or {}
        changed = [name for name, digest in current["code_modules"].items()
                   if not isinstance(old_modules, dict) or old_modules.get(name) != digest]
        reasons.append("code changed in " + (", ".join(changed) or "the modules it imports"))
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
