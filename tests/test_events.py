"""What the events say, and that nothing is said when nothing happened. Emitting them to a real
server is tested in tests/integration/test_notify_on_rejection.py."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tasks.core.intake import IntakeFile, IntakeResult
from tasks.core.promotion import PromotionRecord
from tasks.events import (
    MAX_LISTED_FILES,
    model_resource,
    promotion_event,
    rejected_files_event,
)

RECORD = PromotionRecord(
    dataset="mnist", outcome="unchanged", reason="already production", policy="if-better",
    thresholds={"significance": 0.05}, candidate="abc", candidate_dir="/a/abc",
    candidate_accuracy=0.9,
    production="abc", production_accuracy=0.9, candidate_scores={"test": 0.9},
    production_scores={"test": 0.9}, eval_sizes={"test": 10}, decided_at="2026-11-30T08:00:00")


def test_nothing_to_tell_emits_nothing(tmp_path: Path) -> None:
    assert promotion_event(RECORD) is None
    clean = IntakeResult(str(tmp_path), "empty", [IntakeFile("3/a.png", "00", 3)])
    assert rejected_files_event("mnist", clean) is None


def test_events_name_the_model_and_cap_the_file_list(tmp_path: Path) -> None:
    assert model_resource("mnist", "abc")["prefect.resource.id"] == "mnist-flow.model.mnist.abc"
    event = promotion_event(replace(RECORD, outcome="rejected"))
    assert event is not None and event.event == "mnist-flow.model.rejected"
    assert event.payload["candidate_accuracy"] == 0.9 and "summary" in event.payload
    bad = [IntakeFile(f"eleven/{i}.png", reason="unknown class folder") for i in range(150)]
    files = rejected_files_event("mnist", IntakeResult(str(tmp_path), "d", bad))
    assert files is not None and files.payload["rejected"] == 150
    assert len(files.payload["files"]) == MAX_LISTED_FILES and files.payload["truncated"]


def test_awaiting_approval_carries_the_figures() -> None:
    from tasks.events import MODEL_AWAITING_APPROVAL, awaiting_approval_event

    figures = {"gain_points": 0.43, "p_value": 0.0072, "candidate_only": 169,
               "production_only": 126}
    advice = replace(RECORD, outcome="promoted", policy="ask", production="old",
                     reason="gain +0.43 points is significant", comparison=figures)
    event = awaiting_approval_event(advice)
    assert event.event == MODEL_AWAITING_APPROVAL
    assert event.resource["prefect.resource.id"] == "mnist-flow.model.mnist.abc"
    assert event.payload["comparison"] == figures and event.payload["policy"] == "ask"
    assert event.payload["summary"].startswith(
        "awaiting approval; the rules advise promoted: gain +0.43 points is significant")


def _outcome(moved: list, drift_score: float):
    import numpy as np

    from tasks.core.drift import DriftReport
    from tasks.core.validate_intake import ValidationOutcome
    from tasks.core.validation import Verdict

    verdict = Verdict(np.array([True, False]), moved, DriftReport(drift_score, 0.4, 0.1,
                                                                 drift_score), [3], "model")
    return ValidationOutcome(verdict, moved, Path("a"), Path("b"))


def test_validation_events_count_the_quarantine_and_report_drift_only_when_crossed() -> None:
    from tasks.core.quarantine import QuarantinedFile
    from tasks.events import DRIFT, FILES_QUARANTINED, validation_events

    assert validation_events("mnist", "/in", _outcome([], 0.1)) == []
    moved = [QuarantinedFile(f"3/{i}.png", "s", 3, "label", "no") for i in range(120)]
    moved.append(QuarantinedFile("0/t.png", "s", 0, "leakage", "copies", "test #5"))
    quarantined, drift = validation_events("mnist", "/in", _outcome(moved, 7.5))
    assert quarantined.event == FILES_QUARANTINED and drift.event == DRIFT
    assert quarantined.payload["quarantined"] == 121 and quarantined.payload["truncated"]
    assert quarantined.payload["counts"] == {"kept": 1, "label": 120, "leakage": 1,
                                             "duplicate": 0}
    assert quarantined.payload["classes_refused"] == [3]
    assert drift.payload["score"] == 7.5 and "DRIFT" in drift.payload["summary"]
    assert quarantined.resource["prefect.resource.id"] == "mnist-flow.incoming.mnist"
