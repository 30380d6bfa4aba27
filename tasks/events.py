"""Prefect events the pipeline emits, for automations and the dashboard's event feed.

    mnist-flow.model.promoted            resource: the model   payload: the gate's record
    mnist-flow.model.rejected            resource: the model   payload: the gate's record
    mnist-flow.model.awaiting-approval   resource: the model   payload: the rules' advice
                                         (policy ask: a person must answer in the dashboard)
    mnist-flow.incoming.rejected-files   resource: the intake folder  payload: files, reasons
    mnist-flow.incoming.quarantined      resource: the intake folder  payload: counts, files
    mnist-flow.incoming.drift            resource: the intake folder  payload: drift report

The model's resource id is ``mnist-flow.model.<dataset>.<model id>``; inside a flow or task
run Prefect adds the run as a related resource. Emitting never fails a run nor holds it up: it
goes through :func:`tasks.dashboard.post` (a warning at most, within its deadline).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from prefect.events import Event, emit_event

from tasks.core.intake import IntakeResult
from tasks.core.promotion import PromotionRecord, record_dict
from tasks.dashboard import post

if TYPE_CHECKING:
    from tasks.core.validate_intake import ValidationOutcome

MODEL_PROMOTED = "mnist-flow.model.promoted"
MODEL_REJECTED = "mnist-flow.model.rejected"
MODEL_AWAITING_APPROVAL = "mnist-flow.model.awaiting-approval"
FILES_REJECTED = "mnist-flow.incoming.rejected-files"
FILES_QUARANTINED = "mnist-flow.incoming.quarantined"
DRIFT = "mnist-flow.incoming.drift"
# Events are capped in size by the server (1.5 MB by default); a folder of 10,000 bad files
# is named by count, and its first files, in the event; the manifest has them all.
MAX_LISTED_FILES = 100


def model_resource(dataset: str, model_id: str) -> dict[str, str]:
    """The Prefect resource of one trained model."""
    return {"prefect.resource.id": f"mnist-flow.model.{dataset}.{model_id}",
            "prefect.resource.name": f"{dataset} model {model_id}",
            "mnist-flow.dataset": dataset}


@dataclass(frozen=True)
class EventFields:
    """What one event says: its name, primary resource and payload (``emit_event``'s args)."""

    event: str
    resource: dict[str, str]
    payload: dict[str, Any]


def promotion_event(record: PromotionRecord) -> EventFields | None:
    """``mnist-flow.model.promoted`` or ``.rejected`` for the gate's ``record``; None when the
    candidate already was production (nothing happened)."""
    if record.outcome == "unchanged":
        return None
    return EventFields(MODEL_PROMOTED if record.promoted else MODEL_REJECTED,
                       model_resource(record.dataset, record.candidate),
                       {**record_dict(record), "summary": record.line()})


def awaiting_approval_event(advice: PromotionRecord) -> EventFields:
    """``mnist-flow.model.awaiting-approval``: the rules' advice and its figures, for a person."""
    return EventFields(MODEL_AWAITING_APPROVAL, model_resource(advice.dataset, advice.candidate),
                       {**record_dict(advice), "summary": f"awaiting approval; the rules "
                                                          f"advise {advice.line()}"})


def production_moved_event(dataset: str, model: str, fields: dict[str, Any]) -> EventFields:
    """``mnist-flow.model.promoted`` for a move made by a command (forced, rolled back)."""
    return EventFields(MODEL_PROMOTED, model_resource(dataset, model),
                       {"dataset": dataset, **fields})


def rejected_files_event(dataset: str, result: IntakeResult) -> EventFields | None:
    """``mnist-flow.incoming.rejected-files`` naming the files intake dropped and why; None
    when it dropped none."""
    rejected = result.rejected
    if not rejected:
        return None
    files = [{"path": item.path, "reason": item.reason} for item in rejected]
    resource = {"prefect.resource.id": f"mnist-flow.incoming.{dataset}",
                "prefect.resource.name": result.incoming, "mnist-flow.dataset": dataset}
    return EventFields(FILES_REJECTED, resource, {
        "dataset": dataset, "incoming": result.incoming, "digest": result.digest,
        "rejected": len(rejected), "accepted": len(result.accepted),
        "files": files[:MAX_LISTED_FILES], "truncated": len(files) > MAX_LISTED_FILES})


def incoming_resource(dataset: str, incoming: str) -> dict[str, str]:
    """The Prefect resource of one dataset's intake folder."""
    return {"prefect.resource.id": f"mnist-flow.incoming.{dataset}",
            "prefect.resource.name": incoming, "mnist-flow.dataset": dataset}


def validation_events(dataset: str, incoming: str, outcome: ValidationOutcome,
                      ) -> list[EventFields]:
    """``mnist-flow.incoming.quarantined`` when validation moved files (counts by check, the
    first files), ``mnist-flow.incoming.drift`` when the batch's drift score crossed its
    threshold; either, both or none."""
    from tasks.core.validation_report import counts

    events = []
    resource = incoming_resource(dataset, incoming)
    if outcome.moved:
        files = [{"path": f.path, "check": f.check, "reason": f.reason, "copies": f.copies}
                 for f in outcome.moved]
        events.append(EventFields(FILES_QUARANTINED, resource, {
            "dataset": dataset, "incoming": incoming, "quarantined": len(files),
            "counts": counts(outcome.verdict), "classes_refused": outcome.verdict.classes,
            "files": files[:MAX_LISTED_FILES], "truncated": len(files) > MAX_LISTED_FILES}))
    if outcome.verdict.drift.drifted:
        events.append(EventFields(DRIFT, resource, {
            "dataset": dataset, "incoming": incoming, **asdict(outcome.verdict.drift),
            "summary": outcome.verdict.drift.line()}))
    return events


def emit_validation_events(dataset: str, incoming: str, outcome: ValidationOutcome) -> None:
    """Emit :func:`validation_events`."""
    for fields in validation_events(dataset, incoming, outcome):
        _emit(fields)


def emit_promotion_event(record: PromotionRecord) -> Event | None:
    """Emit :func:`promotion_event` (from inside a run: the run becomes a related resource)."""
    return _emit(promotion_event(record))


def emit_awaiting_approval_event(advice: PromotionRecord) -> Event | None:
    return _emit(awaiting_approval_event(advice))


def emit_production_moved_event(dataset: str, model: str, fields: dict[str, Any]
                                ) -> Event | None:
    return _emit(production_moved_event(dataset, model, fields))


def emit_rejected_files_event(dataset: str, result: IntakeResult) -> Event | None:
    """Emit :func:`rejected_files_event` when intake dropped files."""
    return _emit(rejected_files_event(dataset, result))


def _emit(fields: EventFields | None) -> Event | None:
    if fields is None:
        return None
    return post(f"the event {fields.event}", emit_event, fields.event,
                resource=fields.resource, payload=fields.payload)
