"""``explain``: for each stage, would it run or come from cache, and why. Runs nothing.

It walks the pipeline it is given and judges each stage exactly as the runner does before
running it (same key, same record, same output check). Where an upstream stage would run, the
downstream inputs are not known yet, and the answer says so rather than guessing.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from tasks.engine.cache import CacheStore, Verdict
from tasks.engine.layout import StoreLayout
from tasks.engine.manifest import Manifest, Verify
from tasks.engine.runner import verdict
from tasks.engine.stage import Stage


def explain(pipeline: Sequence[Stage], config: Any, layout: StoreLayout, *,
            forced: Collection[str] = (), verify: Verify = "stat") -> list[Verdict]:
    """What a run of ``pipeline`` with ``config`` would do, stage by cached stage."""
    store = CacheStore(layout.root, layout.dataset)
    verdicts: list[Verdict] = []
    manifests: dict[str, Manifest | None] = {}
    for stage in (s for s in pipeline if s.cached):
        waiting = [up for up in stage.upstream.values() if manifests.get(up) is None]
        if waiting:
            judged = Verdict(stage.name, True, f"follows `{waiting[0]}`, which runs first "
                                               "(cached only if it reproduces identical bytes)")
        else:
            inputs = {arg: manifests[up] for arg, up in stage.upstream.items()}
            judged = verdict(stage, store, {**inputs, **stage.parameters(config, layout)},
                             verify=verify, forced=stage.name in forced)
        verdicts.append(judged)
        manifests[stage.name] = judged.manifest if not judged.runs else (
            stage.expected(layout) if stage.expected else None)
    return verdicts


def verification_line(verify: Verify) -> str:
    """Which check ``explain`` (and the run) applies to recorded outputs."""
    if verify == "full":
        return "verify: full (every recorded output re-hashed with sha256)"
    return ("verify: stat (outputs whose size, mtime and inode are unchanged are trusted; "
            "the others re-hashed; --verify full re-hashes all)")
