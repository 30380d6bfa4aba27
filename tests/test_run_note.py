"""The run's one-line account of what reran: consecutive stages with one reason share it."""

from __future__ import annotations

from tasks.report import run_note


def test_stages_that_ran_for_the_same_reason_are_named_once() -> None:
    first = "never ran in this artifacts directory"
    stages = [{"name": name, "status": "ran", "reason": first}
              for name in ("download", "preprocess", "train")]
    assert run_note(None, stages) == f"Reran download, preprocess, train ({first})."


def test_each_different_reason_is_kept_in_order() -> None:
    stages = [{"name": "download", "status": "cached"},
              {"name": "train", "status": "ran", "reason": "parameter `config.lr` changed"},
              {"name": "evaluate", "status": "ran", "reason": "follows `train`"},
              {"name": "export", "status": "ran", "reason": "follows `train`"},
              {"name": "promote", "status": "ran", "reason": None}]
    assert run_note(None, stages) == (
        "Reran train (parameter `config.lr` changed); evaluate, export (follows `train`); "
        "promote (no reason recorded).")
