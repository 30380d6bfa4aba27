"""A person's answer under ``ask``, committed under production's lock and re-checked there."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tasks.core.production import read_production
from tasks.core.promotion import PromotionRecord
from tasks.core.promotion_commit import force_promote, settle_approval
from tasks.core.promotion_log import read_decisions

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def _model(dataset_dir: Path, name: str) -> Path:
    folder = dataset_dir / "models" / name
    folder.mkdir(parents=True)
    for file in ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv"):
        (folder / file).write_text("0\n")
    return folder


def _advice(candidate: Path, production: str | None) -> PromotionRecord:
    return PromotionRecord(
        dataset="mnist", outcome="promoted", reason="gain +0.43 points is significant",
        policy="ask", thresholds={"significance": 0.05}, candidate=candidate.name,
        candidate_dir=str(candidate), candidate_accuracy=0.97, production=production,
        production_accuracy=0.96, candidate_scores={"test": 0.97},
        production_scores={"test": 0.96}, eval_sizes={"test": 10_000},
        decided_at="2026-12-06T08:00:00+00:00")


@pytest.fixture()
def dataset_dir(tmp_path: Path) -> Path:
    force_promote(tmp_path, _model(tmp_path, "old"), reason="start", by="test", now=NOW)
    return tmp_path


@pytest.mark.parametrize(("answer", "outcome", "reason"), [
    ((True, "ana", "checked the 7s"), "promoted", "approved by ana: checked the 7s"),
    ((False, "bo", "too few 4s in the holdout"), "rejected",
     "refused by bo: too few 4s in the holdout"),
    ((True, "ana", ""), "promoted", "approved by ana"),
    (None, "rejected", "no answer before the deadline"),
])
def test_the_answer_decides(dataset_dir: Path, answer, outcome: str, reason: str) -> None:
    new = _model(dataset_dir, "new")
    record = settle_approval(dataset_dir, new, _advice(new, "old"), answer, now=NOW)
    assert (record.outcome, record.reason) == (outcome, reason)
    expected = "new" if outcome == "promoted" else "old"
    assert os.readlink(dataset_dir / "production") == f"promoted/{expected}"
    last = read_decisions(dataset_dir)[-1]
    assert (last["action"], last["outcome"], last["reason"]) == ("approval", outcome, reason)


def test_an_approval_after_production_moved_is_refused(dataset_dir: Path) -> None:
    new = _model(dataset_dir, "new")
    advice = _advice(new, "old")  # what the reviewer looked at
    force_promote(dataset_dir, _model(dataset_dir, "hotfix"), reason="urgent", by="ops", now=NOW)
    record = settle_approval(dataset_dir, new, advice, (True, "ana", "looks fine"), now=NOW)
    assert record.outcome == "rejected"
    assert record.reason == ("answer by ana refused: production moved from old to hotfix while "
                             "waiting; run again to compare against it")
    current = read_production(dataset_dir)
    assert current is not None and current.model == "hotfix"
