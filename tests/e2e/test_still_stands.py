"""A cached result its stage no longer vouches for reruns under the same key; an unchanged
rerun stays cached. The promote stage's hook: the production its decision was made against."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from prefect import flow, task

from tasks.core.production import Production, install_production
from tasks.engine.cache import finish
from tasks.engine.explain import explain
from tasks.engine.layout import StoreLayout
from tasks.engine.manifest import Manifest
from tasks.engine.pointer import pointer_lock
from tasks.engine.runner import StageRunner
from tasks.engine.stage import Stage
from tasks.stages.promote import _still_stands

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


@task(name="decide")
def decide_against(world: Path, out: Path) -> dict[str, Any]:
    seen = world.read_text()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"decided against {seen}")
    return finish({"decision": out}, dataset="toy", seen=seen)


def _world_unchanged(manifest: Manifest, inputs: dict[str, Any]) -> str | None:
    now = Path(inputs["world"]).read_text()
    return None if now == manifest.info["seen"] else f"the world is now {now}"


DECIDE = Stage("decide", decide_against, parameters=lambda config, layout: {
    "world": config["world"], "out": layout.dataset_dir / "decision.txt"},
    outputs=("decision",), still_stands=_world_unchanged)


@flow(name="still-stands")
def decide_flow(root: Path, world: Path) -> list[tuple[str, str, str]]:
    runner = StageRunner(StoreLayout(root, "toy"))
    runner.run_all((DECIDE,), {"world": world})
    return [(o.name, o.status, o.reason) for o in runner.outcomes]


def test_a_result_that_no_longer_stands_reruns_and_an_unchanged_one_stays_cached(
        tmp_path: Path) -> None:
    root, world = tmp_path.resolve() / "art", tmp_path / "world.txt"
    world.write_text("A")
    assert decide_flow(root, world)[0][1] == "ran"
    assert decide_flow(root, world) == [("decide", "cached", "")]
    world.write_text("B")  # outside the key: the parameter is the same path
    [verdict] = explain((DECIDE,), {"world": world}, StoreLayout(root, "toy"))
    assert verdict.runs and verdict.reason == "the world is now B"
    assert decide_flow(root, world) == [("decide", "ran", "the world is now B")]
    assert (root / "toy" / "decision.txt").read_text() == "decided against B"
    assert decide_flow(root, world) == [("decide", "cached", "")]


def _put_in_production(dataset_dir: Path, model: str) -> None:
    source = dataset_dir / "models" / model
    source.mkdir(parents=True)
    for name in ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv"):
        (source / name).write_text("0\n")
    record = Production(model=model, path=f"promoted/{model}", source=str(source),
                        promoted_at="2026-12-06T03:00:00+00:00", reason="test",
                        policy="if-better", accuracy=0.9, test_accuracy=None, scores={},
                        eval_sizes={}, previous=None, previous_accuracy=None)
    with pointer_lock(dataset_dir / "production"):
        install_production(dataset_dir, source, record)


@pytest.mark.parametrize(("outcome", "candidate", "production", "in_production", "stands"), [
    ("rejected", "new", "old", "old", True),     # production is what it was compared with
    ("rejected", "new", "old", "other", False),  # production moved: decide again
    ("promoted", "new", "old", "new", True),     # production is what it put there
    ("promoted", "new", "old", "old", False),    # rolled back since: decide again
    ("promoted", "new", None, None, False),      # production was removed
])
def test_a_cached_gate_decision_stands_only_against_its_production(
        tmp_path: Path, outcome: str, candidate: str, production: str | None,
        in_production: str | None, stands: bool) -> None:
    if in_production:
        _put_in_production(tmp_path, in_production)
    manifest = SimpleNamespace(info={"outcome": outcome, "candidate": candidate,
                                     "production": production})
    why = _still_stands(manifest, {"dataset_dir": tmp_path})  # type: ignore[arg-type]
    assert (why is None) == stands
    if not stands:
        assert why.startswith(f"production moved to {in_production or 'nothing'} since")
