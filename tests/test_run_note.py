"""The run's one-line account of what reran: consecutive stages with one reason share it."""

from __future__ import annotations

from tasks.engine.stage import StageOutcome
from tasks.stages.publish import run_note


def test_stages_that_ran_for_the_same_reason_are_named_once() -> None:
    first = "never ran in this artifacts directory"
    stages = [StageOutcome(name, "ran", 0.1, first) for name in ("download", "preprocess", "train")]
    assert run_note(None, stages) == f"Reran download, preprocess, train ({first})."


def test_each_different_reason_is_kept_in_order() -> None:
    stages = [StageOutcome("download", "cached", 0.1),
              StageOutcome("train", "ran", 0.1, "parameter `config.lr` changed"),
              StageOutcome("evaluate", "ran", 0.1, "follows `train`"),
              StageOutcome("export", "ran", 0.1, "follows `train`"),
              StageOutcome("promote", "ran", 0.1)]
    assert run_note(None, stages) == (
        "Reran train (parameter `config.lr` changed); evaluate, export (follows `train`); "
        "promote (no reason recorded).")
