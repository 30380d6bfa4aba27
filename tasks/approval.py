"""The ``ask`` policy's Prefect side: post the comparison, emit the event, pause for a person.

The flow run pauses with :func:`prefect.flow_runs.pause_flow_run` and an :class:`Approval`
form; the dashboard shows it under the run's "Resume" button, and a script answers it through
the API (``POST /flow_runs/{id}/resume`` with ``run_input``). ``pause_flow_run`` reads the flow
run's context, which a task run inside it also has, so the pause happens inside the promote
task: the flow stays a list of stages. The decision is then re-checked and committed under
production's lock (:func:`tasks.core.promotion_commit.settle_approval`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from prefect.artifacts import create_markdown_artifact
from prefect.exceptions import FlowPauseTimeout
from prefect.flow_runs import pause_flow_run
from prefect.input import RunInput
from pydantic import Field

from tasks.core.approval_report import disagreements, render_approval
from tasks.core.export import load_weights_csv
from tasks.core.gate_rules import Thresholds
from tasks.core.promotion import (
    EvalSets,
    PromotionRecord,
    all_labels,
    gate,
    score,
    score_production,
)
from tasks.core.promotion_commit import settle_approval
from tasks.dashboard import post
from tasks.events import emit_awaiting_approval_event

POLL_SECONDS = 5  # how often the paused run asks the server whether it was answered


class Approval(RunInput):
    """The form a reviewer fills in to let a candidate into production, or not."""

    approve: bool = Field(description="Put the candidate in production.")
    reviewer: str = Field(min_length=1, description="Who decides (kept in the log).")
    note: str = Field("", description="Why, in a few words (kept in the log).")


def ask_for_approval(dataset_dir: Path, candidate_dir: Path, sets: EvalSets, *,
                     dataset: str, thresholds: Thresholds, timeout: float) -> PromotionRecord:
    """The rules' advice, shown to a person; their answer (or the deadline) decides."""
    advice = gate(dataset_dir, candidate_dir, sets, dataset=dataset, policy="ask",
                  thresholds=thresholds, commit=False)
    if advice.outcome == "unchanged":
        return advice
    markdown = render_approval(advice, _disagreeing_images(dataset_dir, candidate_dir, sets,
                                                           advice), timeout)
    post("the approval request", create_markdown_artifact, key=f"{dataset}-approval",
         markdown=markdown, description=f"{dataset}: approve {advice.candidate}?")
    emit_awaiting_approval_event(advice)
    try:
        answer = pause_flow_run(wait_for_input=Approval, timeout=max(1, round(timeout)),
                                poll_interval=POLL_SECONDS, key=f"approve-{advice.candidate}")
    except FlowPauseTimeout:
        answer = None
        _run_again()
    return settle_approval(dataset_dir, candidate_dir, advice, answer and (
        answer.approve, answer.reviewer, answer.note))


def _run_again() -> None:
    """After the deadline the server still holds the run as Paused, and would hold every later
    task as "NotReady": set it Running again (forced: no resume without an answer exists)."""
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext
    from prefect.states import Running

    context = FlowRunContext.get()
    assert context is not None and context.flow_run is not None, "paused outside a flow run"
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(context.flow_run.id, Running(), force=True)


def _disagreeing_images(dataset_dir: Path, candidate_dir: Path, sets: EvalSets,
                        advice: PromotionRecord) -> list[tuple[np.ndarray, int, int, int]]:
    if advice.production is None:
        return []
    labels = all_labels(sets)
    rows = np.concatenate([X for X, y in sets.values() if len(y)])
    mine = score(load_weights_csv(candidate_dir), sets).predictions
    theirs = score_production(dataset_dir, sets).predictions
    return [(rows[i], int(labels[i]), int(mine[i]), int(theirs[i]))
            for i in disagreements(labels, mine, theirs)]
