"""publish: the last entry of the pipeline, never cached. What the user sees of a run.

It moves ``artifacts/latest`` to this run's model, writes the run's ledger line (with the
gate's decision), and posts the metrics table, the report and (when the gate decided) the
promotions table to the Prefect UI, saying plainly when nothing was retrained.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.runtime import flow_run

from tasks.core.ledger import LedgerEntry, RecordedDecision, ledger_path, read_entries
from tasks.core.report import metrics_table_rows, render_report
from tasks.dashboard import post
from tasks.engine.manifest import Manifest
from tasks.engine.pointer import swap_pointer
from tasks.engine.stage import Stage, StageOutcome
from tasks.ledger import record_main_run
from tasks.stages.export import model_summary

HISTORY_ROWS = 20
# What the ledger line keeps of the gate's decision (the promote stage's manifest info).
DECISION_FIELDS = ("outcome", "reason", "policy", "thresholds", "candidate",
                   "candidate_accuracy", "production", "production_accuracy", "eval_sizes",
                   "decided_at", "comparison")


@dataclass(frozen=True)
class GateDecision:
    """The promote stage's decision as this run sees it (``decided``: the gate ran now)."""

    line: str
    outcome: str
    fields: Mapping[str, Any]
    decided: bool
    decided_by: str

    @classmethod
    def of(cls, promotion: Manifest, outcome: StageOutcome) -> GateDecision:
        info = promotion.info
        return cls(line=str(info["line"]), outcome=str(info["outcome"]),
                   fields={key: info[key] for key in DECISION_FIELDS},
                   decided=outcome.ran, decided_by=promotion.provenance.flow_run)

    def console_line(self) -> str:
        """The run's one line about the gate; a decision served from cache says so."""
        return self.line if self.decided else (
            f"{self.line} (decided by run `{self.decided_by}`; nothing changed since)")

    def ledger_fields(self) -> dict[str, Any]:
        return {"decided": self.decided, **self.fields}


@task(name="publish", cache_policy=NO_CACHE)
def publish_run(data: Manifest, model: Manifest, evaluation: Manifest, exported: Manifest,
                promotion: Manifest, artifacts_dir: Path, latest: Path, preset: str,
                outcomes: Sequence[StageOutcome]) -> dict[str, Any]:
    """Point ``latest`` at this run's model; record the run and the gate's decision in the
    ledger; post the metrics table, the report and (when the gate decided) the promotions
    table to Prefect, best-effort (a dashboard that does not answer costs a warning)."""
    dataset, model_folder = model.dataset, model.path("params").parent
    by_name = {outcome.name: outcome for outcome in outcomes}
    decision = GateDecision.of(promotion, by_name["promote"])
    swap_pointer(latest, model_folder)
    metrics = json.loads(evaluation.path("metrics").read_text(encoding="utf-8"))
    # Only the decisions the table shows, read from the ledger's end: not the whole history.
    earlier = read_entries(ledger_path(artifacts_dir), last=HISTORY_ROWS,
                           where=lambda e: e.dataset == dataset and _decision(e) is not None,
                           ) if decision.decided else []
    entry = record_main_run(artifacts_dir, data=data, preset=preset,
                            retrained=by_name["train"].ran, model_folder=model_folder,
                            metrics={f"{split}_accuracy": metrics[split]["accuracy"]
                                     for split in ("train", "test", "validation")
                                     if split in metrics},
                            promotion=decision.ledger_fields())
    if decision.decided:  # otherwise the table is the one an earlier run posted
        post("the promotions table", post_promotions, dataset, [*earlier, entry])
    note = f"{run_note(model, outcomes)}\n{decision.console_line()}"
    rows = [{"flow_run": flow_run.name, "preset": preset, "retrained": by_name["train"].ran,
             **row} for row in metrics_table_rows(_scalars(metrics))]
    post("the metrics table", create_table_artifact, key=f"{dataset}-metrics", table=rows,
         description=f"{dataset} accuracy and loss of run {flow_run.name}")
    plots = {name: path for name, path in exported.paths().items() if name.endswith(".png")}
    post(
        "the run report", create_markdown_artifact,
        key=f"{dataset}-report", description=f"{dataset} run report",
        markdown=render_report(title=f"{dataset} run {flow_run.name}",
                               summary={"preset": preset, **model_summary(model, evaluation)},
                               metrics=metrics, plots=plots,
                               stages=[_outcome_row(o) for o in outcomes], note=note))
    get_run_logger().info(note)
    return {"latest": str(latest), "model_dir": str(model_folder),
            "note": note, "promotion": decision.console_line(), "outcome": decision.outcome,
            "test_accuracy": metrics["test"]["accuracy"],
            "train_accuracy": metrics["train"]["accuracy"]}


def run_note(model: Manifest | None, outcomes: Sequence[StageOutcome]) -> str:
    """What this run did, truthfully: "nothing changed" only when no stage ran, otherwise each
    stage that ran and the reason ``explain`` gives for it."""
    ran = [o for o in outcomes if not o.cached]
    if not ran:
        assert model is not None
        return (f"Nothing changed since run `{model.provenance.flow_run}` "
                f"({model.provenance.finished}): data, code and parameters are the same, so "
                f"every stage comes from cache. New labelled images in the intake folder "
                f"retrain on them (docs/retraining.md).")
    groups: list[tuple[list[str], str]] = []  # consecutive stages that ran for one reason
    for outcome in ran:
        reason = outcome.reason or "no reason recorded"
        if groups and groups[-1][1] == reason:
            groups[-1][0].append(outcome.name)
        else:
            groups.append(([outcome.name], reason))
    return "Reran " + "; ".join(f"{', '.join(names)} ({reason})" for names, reason in groups) + "."


def post_promotions(dataset: str, entries: Sequence[LedgerEntry]) -> list[dict[str, Any]]:
    """The keyed table artifact ``<dataset>-promotions``: the last decisions among ledger
    ``entries``, newest first (lines whose run decided). Returns its rows."""
    decided = [(entry, decision) for entry in entries
               if entry.dataset == dataset and (decision := _decision(entry)) is not None]
    rows = [_row(entry, decision) for entry, decision in reversed(decided[-HISTORY_ROWS:])]
    if rows:
        create_table_artifact(key=f"{dataset}-promotions", table=rows,
                              description=f"{dataset}: the promotion gate's last decisions")
    return rows


def _decision(entry: LedgerEntry) -> RecordedDecision | None:
    """The gate's decision on ``entry``'s line if its run made it (not taken from cache)."""
    decision = entry.promotion
    return decision if decision is not None and decision.decided else None


def _row(entry: LedgerEntry, decision: RecordedDecision) -> dict[str, Any]:
    return {"time": entry.time, "run": entry.run,
            "outcome": decision.outcome, "candidate": decision.candidate,
            "candidate accuracy": _rounded(decision.candidate_accuracy),
            "production": decision.production or "none",
            "production accuracy": _rounded(decision.production_accuracy),
            "policy": decision.policy, "reason": decision.reason}


def _rounded(value: float | None) -> float | str:
    # A ledger line may hold NaN or infinity (json writes them); a JSON table cannot: blank.
    return round(value, 4) if value is not None and math.isfinite(value) else ""


def _outcome_row(outcome: StageOutcome) -> dict[str, Any]:
    return {"name": outcome.name, "status": outcome.status, "seconds": outcome.seconds,
            "reason": outcome.reason}


def _scalars(metrics: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("n_samples", "accuracy", "loss")
    return {split: {k: v for k, v in values.items() if k in keep}
            for split, values in metrics.items()}


publish = Stage("publish", publish_run, cached=False,
                upstream={"data": "preprocess", "model": "train", "evaluation": "evaluate",
                          "exported": "export", "promotion": "promote"},
                parameters=lambda config, layout: {"artifacts_dir": layout.root,
                                                   "latest": layout.latest_link,
                                                   "preset": config.preset})
