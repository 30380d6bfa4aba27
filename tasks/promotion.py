"""The promote stage (the gate) and what the run publishes about it.

``promote`` scores the new model and the production model on the same rows (the test split
plus the intake holdout), moves ``<dataset>/production`` when the policy says so, writes the
decision beside the model (``promotion.json``) and emits ``mnist-flow.model.promoted`` or
``.rejected``. A rejection is not a failure: the run completes and production stays.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact

from tasks.cache import finish
from tasks.core.atomic import write_text_atomic
from tasks.core.ledger import ledger_path, read_entries
from tasks.manifest import Manifest
from tasks.splits import load_stage_split

HISTORY_ROWS = 20


@task(name="promote")
def promote(data: Manifest, intake: Manifest, model: Manifest, dataset_dir: Path,
            policy: str, tolerance: float) -> dict[str, Any]:
    """Run the gate for the model (its exported ``W_*.csv``); write ``promotion.json`` beside
    it."""
    # Imported here, as in every task module: numpy and pyarrow are not for a run whose gate
    # decision comes from cache (publish calls this module's other functions in every run).
    from tasks.core.datasets import load_split
    from tasks.core.promotion import gate, record_dict
    from tasks.events import emit_promotion_event

    candidate = model.path("params").parent
    sets = {"test": load_stage_split(data, "test"), "holdout": load_split(intake.path("holdout"))}
    record = gate(Path(dataset_dir), candidate, sets, dataset=data.dataset,
                  policy=policy, tolerance=tolerance)  # type: ignore[arg-type]
    write_text_atomic(candidate / "promotion.json", json.dumps(record_dict(record), indent=1))
    get_run_logger().info(record.line())
    emit_promotion_event(record)
    fields = {k: v for k, v in record_dict(record).items() if k != "dataset"}
    return finish({"promotion": candidate / "promotion.json"}, dataset=data.dataset,
                  line=record.line(), **fields)


def promotion_line(promotion: Manifest, decided: bool) -> str:
    """The run's one line about the gate; a decision served from cache says so."""
    line = promotion.info["line"]
    return line if decided else (f"{line} (decided by run `{promotion.provenance.flow_run}`; "
                                 f"nothing changed since)")


def ledger_fields(promotion: Manifest, decided: bool) -> dict[str, Any]:
    """What the run's ledger line says about the gate (``decided``: the gate ran this run)."""
    keep = ("outcome", "reason", "policy", "tolerance", "candidate", "candidate_accuracy",
            "production", "production_accuracy", "eval_sizes", "decided_at")
    return {"decided": decided, **{key: promotion.info[key] for key in keep}}


def post_promotions(artifacts_dir: Path, dataset: str) -> list[dict[str, Any]]:
    """The keyed table artifact ``<dataset>-promotions``: the last decisions, newest first,
    read from the ledger (lines whose run decided). Returns its rows."""
    decided = [entry for entry in read_entries(ledger_path(artifacts_dir))
               if entry.get("dataset") == dataset and _decision(entry).get("decided")]
    rows = [_row(entry) for entry in reversed(decided[-HISTORY_ROWS:])]
    if rows:
        create_table_artifact(key=f"{dataset}-promotions", table=rows,
                              description=f"{dataset}: the promotion gate's last decisions")
    return rows


def _decision(entry: Mapping[str, Any]) -> Mapping[str, Any]:
    value = entry.get("promotion")
    return value if isinstance(value, Mapping) else {}


def _row(entry: Mapping[str, Any]) -> dict[str, Any]:
    decision = _decision(entry)
    before = decision.get("production_accuracy")
    return {"time": entry.get("time"), "run": entry.get("run"),
            "outcome": decision.get("outcome"), "candidate": decision.get("candidate"),
            "candidate accuracy": round(decision.get("candidate_accuracy", 0.0), 4),
            "production": decision.get("production") or "none",
            "production accuracy": "" if before is None else round(before, 4),
            "policy": decision.get("policy"), "reason": decision.get("reason")}
