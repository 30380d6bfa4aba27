"""Moving production as one transaction: pointer, record and log line together or not at all.

Every move (the gate's, a person's approval, ``mnist-flow promote``, ``mnist-flow rollback``)
happens in one turn of the pointer's own ``flock`` (:func:`tasks.engine.pointer.pointer_lock`),
in this order: re-read production, re-check the decision against it, copy the model and write
its record, swap the link, append the log line. If a later step fails, the earlier ones are
undone (the link and record go back to the model before), so a reader never finds a
production the log does not explain.

Why our own lock and not Prefect's ``transaction()``: the pointer's lock is what every other
writer of production already takes (repair, the gate run from a sweep, two flows at once), and
it works with no Prefect server and from the command line, which ``promote`` and ``rollback``
must; a Prefect transaction's rollback hooks run only for Prefect tasks inside it and would not
stop a concurrent ``mnist-flow rollback`` from interleaving.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

from tasks.core.errors import MnistFlowError, OutputError
from tasks.core.production import (
    POINTER,
    POINTER_JSON,
    STORE,
    WEIGHT_FILES,
    Production,
    install_production,
    read_production,
)
from tasks.core.promotion import PromotionRecord
from tasks.core.promotion_log import append_decision
from tasks.engine.pointer import pointer_lock


class PromotionRefusedError(MnistFlowError):
    """A forced promotion or a rollback that cannot be done as asked (the message says why)."""


def commit_decision(dataset_dir: Path, candidate_dir: Path, record: PromotionRecord, *,
                    action: str = "gate") -> None:
    """Log ``record`` and, when it promotes, put the candidate in production. The caller holds
    the pointer's lock and decided against the production it read under it. An unchanged
    decision (the candidate already is production) is not logged."""
    if record.outcome == "unchanged":
        return
    line = asdict(record)
    if not record.promoted:
        append_decision(dataset_dir, action, line)
        return
    target = Path(STORE) / candidate_dir.name
    info = Production(
        model=candidate_dir.name, path=target.as_posix(), source=str(candidate_dir),
        promoted_at=record.decided_at, reason=record.reason, policy=record.policy,
        accuracy=record.candidate_accuracy, test_accuracy=record.candidate_scores.get("test"),
        scores=record.candidate_scores, eval_sizes=record.eval_sizes,
        previous=record.production, previous_accuracy=record.production_accuracy)
    move_production(dataset_dir, candidate_dir, info, action, line)


def settle_approval(dataset_dir: Path, candidate_dir: Path, advice: PromotionRecord,
                    answer: tuple[bool, str, str] | None, *, now: datetime | None = None
                    ) -> PromotionRecord:
    """A person's ``answer`` (approve, reviewer, note) to ``advice`` (None: none came before
    the deadline), committed under the lock. An approval is refused when production is no
    longer the model the reviewer compared against: they approved a comparison that no longer
    holds."""
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    with pointer_lock(Path(dataset_dir) / POINTER):
        current = read_production(dataset_dir)
        now_in = current and current.model
        if answer is None:
            outcome, reason = "rejected", "no answer before the deadline"
        elif now_in != advice.production:
            outcome, reason = "rejected", (
                f"answer by {answer[1]} refused: production moved from "
                f"{advice.production or 'nothing'} to {now_in or 'nothing'} while waiting; "
                f"run again to compare against it")
        else:
            approve, reviewer, note = answer
            outcome = "promoted" if approve else "rejected"
            reason = f"{'approved' if approve else 'refused'} by {reviewer}" + (
                f": {note}" if note else "")
        record = replace(advice, outcome=outcome, reason=reason, decided_at=when)
        commit_decision(Path(dataset_dir), Path(candidate_dir), record, action="approval")
    return record


def move_production(dataset_dir: Path, source: Path, info: Production, action: str,
                    line: dict) -> None:
    """Install ``info`` (the model copied from ``source``) and append ``line``; on a failure
    after the link moved, put the previous production back and re-raise. Lock held."""
    before = read_production(dataset_dir)
    try:
        install_production(dataset_dir, source, info)
    except OSError as error:
        raise OutputError(f"cannot put {source} in production in {dataset_dir}: "
                          f"{error.strerror or error}; make {dataset_dir} writable, then run "
                          f"again") from None
    try:
        append_decision(dataset_dir, action, line)
    except BaseException:
        _restore(dataset_dir, before)
        raise


def _restore(dataset_dir: Path, before: Production | None) -> None:
    """Undo an install: the link and record of ``before``, or none at all."""
    if before is None:
        (dataset_dir / POINTER).unlink(missing_ok=True)
        (dataset_dir / POINTER_JSON).unlink(missing_ok=True)
        return
    install_production(dataset_dir, dataset_dir / before.path, before)


def force_promote(dataset_dir: Path, model_dir: Path, *, reason: str, by: str,
                  now: datetime | None = None) -> Production:
    """Put the exported model in ``model_dir`` in production whatever the gate would say,
    logged with ``reason`` and ``by``; PromotionRefusedError if it has no weights or already
    is production."""
    dataset_dir, model_dir = Path(dataset_dir), Path(model_dir)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    if not all((model_dir / name).is_file() for name in WEIGHT_FILES):
        raise PromotionRefusedError(f"{model_dir} holds no exported model (W_1.csv, b_1.csv, "
                                    f"W_2.csv, b_2.csv); run the pipeline for it first")
    with pointer_lock(dataset_dir / POINTER):
        current = read_production(dataset_dir)
        if current is not None and current.model == model_dir.name:
            raise PromotionRefusedError(f"{model_dir.name} already is in production")
        info = Production(
            model=model_dir.name, path=(Path(STORE) / model_dir.name).as_posix(),
            source=str(model_dir), promoted_at=when, reason=f"forced by {by}: {reason}",
            policy="force", accuracy=_test_accuracy(model_dir), test_accuracy=None, scores={},
            eval_sizes={}, previous=current and current.model,
            previous_accuracy=current and current.accuracy)
        move_production(dataset_dir, model_dir, info, "force", _line(info, current, when))
    return info


def rollback(dataset_dir: Path, *, reason: str, by: str,
             now: datetime | None = None) -> Production:
    """Put back the model the current production replaced (its promoted copy); repeated, it
    walks further back. PromotionRefusedError when there is nothing to go back to."""
    dataset_dir = Path(dataset_dir)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    with pointer_lock(dataset_dir / POINTER):
        current = read_production(dataset_dir)
        if current is None or current.previous is None:
            raise PromotionRefusedError(
                f"there is no earlier model to roll back to in {dataset_dir}: "
                + ("nothing is in production" if current is None else
                   f"{current.model} was the first model promoted"))
        folder = dataset_dir / STORE / current.previous
        if not folder.is_dir():
            raise PromotionRefusedError(f"the previous model's copy {folder} is gone; promote "
                                        f"a model by id with `mnist-flow promote` instead")
        earlier = _record_inside(folder)
        info = replace(earlier, promoted_at=when, policy="rollback",
                       reason=f"rolled back from {current.model} by {by}: {reason}")
        move_production(dataset_dir, folder, info, "rollback", _line(info, current, when))
    return info


def _record_inside(folder: Path) -> Production:
    try:
        return Production.parse((folder / POINTER_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, TypeError):
        raise PromotionRefusedError(f"the record of {folder} cannot be read; promote it by id "
                                    f"with `mnist-flow promote` instead") from None


def _test_accuracy(model_dir: Path) -> float:
    """The model's own test accuracy (``metrics.json``), 0.0 when it has none."""
    try:
        value = json.loads((model_dir / "metrics.json").read_text(encoding="utf-8"))["test"][
            "accuracy"]
        return float(value)
    except (OSError, ValueError, KeyError, TypeError):
        return 0.0


def _line(info: Production, replaced: Production | None, when: str) -> dict:
    """The log line of a move made by hand: ``info`` replacing ``replaced``."""
    return {"outcome": "promoted", "candidate": info.model,
            "production": replaced and replaced.model, "reason": info.reason,
            "decided_at": when, "policy": info.policy, "candidate_accuracy": info.accuracy,
            "production_accuracy": replaced and replaced.accuracy}
