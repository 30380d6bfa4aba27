"""The engine runs any pipeline it is given: a two-stage toy with no MNIST in it caches,
explains, forces, refuses a task that breaks its declaration, and hands the uncached last
stage every outcome."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from prefect import flow, task

from tasks.engine.cache import finish
from tasks.engine.explain import explain
from tasks.engine.layout import StoreLayout
from tasks.engine.manifest import Manifest
from tasks.engine.runner import StageRunner
from tasks.engine.stage import DeclarationError, Stage, StageOutcome, stage_names

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


@task(name="words")
def write_words(text: str, out: Path) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return finish({"words": out}, dataset="toy")


@task(name="count")
def count_words(words: Manifest, out: Path) -> dict[str, Any]:
    out.write_text(json.dumps(len(words.path("words").read_text().split())))
    return finish({"count": out}, dataset="toy")


@task(name="report")
def report(count: Manifest, outcomes: tuple[StageOutcome, ...]) -> dict[str, Any]:
    return {"count": json.loads(count.path("count").read_text()),
            "outcomes": [(o.name, o.status) for o in outcomes]}


@task(name="liar")
def liar(out: Path) -> dict[str, Any]:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("x")
    return finish({"something_else": out}, dataset="toy")


WORDS = Stage("words", write_words, parameters=lambda config, layout: {
    "text": config["text"], "out": layout.dataset_dir / "words.txt"}, outputs=("words",))
COUNT = Stage("count", count_words, upstream={"words": "words"},
              parameters=lambda config, layout: {"out": layout.dataset_dir / "count.json"},
              outputs=("count",))
REPORT = Stage("report", report, upstream={"count": "count"}, cached=False)
TOY = (WORDS, COUNT, REPORT)


@flow(name="toy")
def toy_flow(root: Path, text: str, force: tuple[str, ...] = ()) -> dict[str, Any]:
    runner = StageRunner(StoreLayout(root, "toy"), forced=force)
    return runner.run_all(TOY, {"text": text})["report"]


def test_a_pipeline_without_mnist_runs_caches_explains_and_forces(tmp_path: Path) -> None:
    layout = StoreLayout(tmp_path.resolve(), "toy")
    assert [v.runs for v in explain(TOY, {"text": "a b c"}, layout)] == [True, True]
    first = toy_flow(tmp_path.resolve(), "a b c")
    assert first == {"count": 3, "outcomes": [("words", "ran"), ("count", "ran")]}
    again = toy_flow(tmp_path.resolve(), "a b c")
    assert again["outcomes"] == [("words", "cached"), ("count", "cached")]
    verdicts = explain(TOY, {"text": "a b c"}, layout)
    assert [(v.stage, v.runs) for v in verdicts] == [("words", False), ("count", False)]
    assert "parameter `text` changed" in explain(TOY, {"text": "a b"}, layout)[0].reason
    changed = toy_flow(tmp_path.resolve(), "a b")
    assert changed == {"count": 2, "outcomes": [("words", "ran"), ("count", "ran")]}
    forced = toy_flow(tmp_path.resolve(), "a b", force=("count",))
    assert forced["outcomes"] == [("words", "cached"), ("count", "ran")]
    assert stage_names(TOY) == ("words", "count")


def test_a_task_that_records_other_outputs_than_declared_is_refused(tmp_path: Path) -> None:
    stage = Stage("liar", liar, parameters=lambda config, layout: {
        "out": layout.dataset_dir / "x.txt"}, outputs=("declared",))

    @flow(name="liar")
    def liar_flow() -> None:
        StageRunner(StoreLayout(tmp_path.resolve(), "toy")).run_all((stage,), {})

    with pytest.raises(DeclarationError, match="declares the outputs declared but its task "
                                               "recorded something_else"):
        liar_flow()
