"""``--explain``: for each stage, would it run or come from cache, and why. Runs nothing.

It computes each stage's key exactly as the cache policy does (same function, same inputs),
then checks the manifest and outputs the policy would check. Where an upstream stage would run,
the downstream inputs are not known yet, and the answer says so rather than guessing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.cache import CacheStore, Manifest
from tasks.cache_key import stage_key
from tasks.config import FlowConfig
from tasks.core.registry import get_dataset
from tasks.data import download, preprocess
from tasks.layout import Layout
from tasks.model import evaluate, train
from tasks.report import export


@dataclass(frozen=True)
class Verdict:
    """One stage's answer."""

    stage: str
    runs: bool
    reason: str

    def __str__(self) -> str:
        return f"{self.stage:<10} {'would run' if self.runs else 'cached':<9}  {self.reason}"


def explain(config: FlowConfig) -> list[Verdict]:
    """What a run of ``config`` would do, stage by stage."""
    layout = Layout.of(config)
    store = CacheStore(layout.cache_root)
    forced = set(config.forced_stages())
    training = config.training()
    verdicts: list[Verdict] = []
    manifests: dict[str, Manifest | None] = {}

    def judge(name: str, fn: Callable[..., Any], inputs: dict[str, Any] | None,
              upstream: str | None = None, exclude: tuple[str, ...] = ()) -> None:
        if inputs is None:
            verdicts.append(Verdict(name, True, f"follows `{upstream}`, which runs first (cached "
                                                "only if it reproduces identical bytes)"))
            manifests[name] = None
            return
        key, components = stage_key(name, fn, inputs, exclude)
        problems = store.hit_problems(key)
        manifest = store.read_manifest(key)
        if name in forced:
            verdicts.append(Verdict(name, True, f"forced by --force {config.force}"))
        elif not problems:
            verdicts.append(Verdict(name, False, _made_by(manifest)))
        elif manifest is not None:
            verdicts.append(Verdict(name, True, "; ".join(problems)))
        else:
            previous = store.read_last_components(name)
            verdicts.append(Verdict(name, True, describe_change(previous, components)))
        manifests[name] = manifest if not problems and name not in forced else None

    spec = get_dataset(config.data.dataset)
    judge("download", download.fn, {"dataset": spec.name, "raw_dir": layout.raw_dir},
          exclude=("mirror", "timeout", "retries"))
    raw = manifests["download"] or _expected_download(layout, spec.name)
    judge("preprocess", preprocess.fn, {"raw": raw, "out_dir": layout.parquet_dir})
    data = manifests["preprocess"]
    judge("train", train.fn, data and {"data": data, "config": training,
                                       "models_root": layout.models_dir}, "preprocess")
    model = manifests["train"]
    judge("evaluate", evaluate.fn, model and {"data": data, "model": model, "l2": training.l2},
          "train")
    evaluation = manifests["evaluate"]
    judge("export", export.fn, evaluation and {"data": data, "model": model,
                                               "evaluation": evaluation}, "evaluate")
    return verdicts


def _made_by(manifest: Manifest | None) -> str:
    provenance = (manifest or {}).get("provenance", {})
    run, finished = provenance.get("flow_run", "?"), provenance.get("finished", "?")
    return f"outputs of run `{run}` ({finished}) intact"


def _expected_download(layout: Layout, dataset: str) -> Manifest:
    """The manifest a download produces: fixed paths and the dataset's known digests."""
    files = get_dataset(dataset).files
    outputs = {role: {"path": str(Path(layout.raw_dir) / f.name), "sha256": f.sha256,
                      "bytes": f.size} for role, f in files.items()}
    return {"outputs": outputs, "info": {"dataset": dataset}}


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
