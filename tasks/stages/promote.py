"""promote: the gate. Production moves only to a model the policy accepts.

It scores the new model and the production model on the same rows (the test split plus the
held-out intake rows validate kept) and applies the policy: ``if-better``'s rules
(:mod:`tasks.core.gate_rules`), ``always``, ``never``, or ``ask`` (the rules advise, a person
answers while the run is paused: :mod:`tasks.approval`). It moves ``<dataset>/production``
when the decision says so, writes the decision beside the model (``promotion.json``) and emits
``mnist-flow.model.promoted`` or ``.rejected``. A rejection is not a failure: the run
completes and production stays.

A decision served from cache stands only while production is still the model it was made
against (:func:`_still_stands`); otherwise the gate decides again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prefect import get_run_logger, task

from tasks.core.production import read_production
from tasks.engine.atomic import write_text_atomic
from tasks.engine.cache import finish
from tasks.engine.manifest import Manifest
from tasks.engine.stage import Stage
from tasks.splits import load_stage_split

if TYPE_CHECKING:
    from tasks.config import RetrainingConfig


@task(name="promote")
def run_gate(data: Manifest, intake: Manifest, model: Manifest, dataset_dir: Path,
             settings: RetrainingConfig) -> dict[str, Any]:
    """Run the gate for the model (its exported ``W_*.csv``) with the policy ``settings``
    name; write ``promotion.json`` beside it."""
    from tasks.approval import ask_for_approval
    from tasks.core.datasets import load_split
    from tasks.core.promotion import gate, record_dict
    from tasks.events import emit_promotion_event

    candidate = model.path("params").parent
    sets = {"test": load_stage_split(data, "test"), "holdout": load_split(intake.path("holdout"))}
    if settings.promote == "ask":
        record = ask_for_approval(Path(dataset_dir), candidate, sets, dataset=data.dataset,
                                  thresholds=settings.thresholds(),
                                  timeout=settings.approval_timeout)
    else:
        record = gate(Path(dataset_dir), candidate, sets, dataset=data.dataset,
                      policy=settings.promote, thresholds=settings.thresholds())
    write_text_atomic(candidate / "promotion.json", json.dumps(record_dict(record), indent=1))
    get_run_logger().info(record.line())
    emit_promotion_event(record)
    fields = {k: v for k, v in record_dict(record).items() if k != "dataset"}
    return finish({"promotion": candidate / "promotion.json"}, dataset=data.dataset,
                  line=record.line(), **fields)


def _parameters(config: Any, layout: Any) -> dict[str, Any]:
    # Every run, cached or not (and explain), checks production first: a decision served from
    # cache must never be reported as standing while production is broken underneath it.
    read_production(layout.dataset_dir)
    return {"dataset_dir": layout.dataset_dir, "settings": config.retraining.gate()}


def _still_stands(manifest: Manifest, parameters: Mapping[str, Any]) -> str | None:
    """None while production is what the cached decision compared against (or what it put
    there); otherwise why the gate must decide again."""
    current = read_production(Path(parameters["dataset_dir"]))
    now_in = current and current.model
    info = manifest.info
    expected = info["candidate"] if info["outcome"] == "promoted" else info["production"]
    if info["outcome"] == "unchanged" or now_in == expected:
        return None
    return (f"production moved to {now_in or 'nothing'} since the decision against "
            f"{expected or 'nothing'}")


# After export: the gate reads the candidate's W_*.csv, as predict and production do. Keyed on
# the trained model, not on export's manifest: a new plot or report (same weights) must not
# make the gate decide again.
promote = Stage("promote", run_gate,
                upstream={"data": "preprocess", "intake": "validate", "model": "train"},
                parameters=_parameters, outputs=("promotion",), still_stands=_still_stands)
