"""``--explain``: for each stage, would it run or come from cache, and why. Runs nothing.

It walks the stage table and judges each stage exactly as the runner does before running it
(same key, same record, same output check). Where an upstream stage would run, the downstream
inputs are not known yet, and the answer says so rather than guessing.
"""

from __future__ import annotations

from tasks.cache import CacheStore, Verdict
from tasks.config import FlowConfig
from tasks.layout import Layout
from tasks.manifest import Manifest
from tasks.stages import STAGES, stage_names


def explain(config: FlowConfig) -> list[Verdict]:
    """What a run of ``config`` would do, stage by stage."""
    layout = Layout.of(config)
    store = CacheStore(layout.root, layout.dataset)
    forced = set(config.forced_stages(stage_names()))
    verdicts: list[Verdict] = []
    manifests: dict[str, Manifest | None] = {}
    for stage in STAGES:
        waiting = [up for up in stage.upstream.values() if manifests.get(up) is None]
        if waiting:
            verdict = Verdict(stage.name, True, f"follows `{waiting[0]}`, which runs first "
                                                "(cached only if it reproduces identical bytes)")
        else:
            inputs = {arg: manifests[up] for arg, up in stage.upstream.items()}
            verdict = stage.verdict(store, {**inputs, **stage.parameters(config, layout)},
                                    verify=config.verify, forced=stage.name in forced)
        verdicts.append(verdict)
        manifests[stage.name] = verdict.manifest if not verdict.runs else (
            stage.expected(layout) if stage.expected else None)
    return verdicts


def verification_line(config: FlowConfig) -> str:
    """Which check ``--explain`` (and the run) applies to recorded outputs."""
    if config.verify == "full":
        return "verify: full (every recorded output re-hashed with sha256)"
    return ("verify: stat (outputs whose size, mtime and inode are unchanged are trusted; "
            "the others re-hashed; --verify full re-hashes all)")
