"""The promotion gate: production moves only to a model that is at least as good.

Production (see :mod:`tasks.core.production`) is a *relative* symlink into a copy of the model's
folder, so it survives moving or copying the whole artifacts folder (``mv``, ``cp -a``,
``rsync -a``) and the cache deleting a model folder; ``np.loadtxt("production/W_1.csv")``
reads through it like a folder. It is swapped atomically: a reader sees the old model or the
new, never a mix.

Both models are scored on the same rows: the dataset's test split plus the intake holdout
when there is one. Policies: ``if-better`` (the default) promotes when the candidate's accuracy
is at least the production model's minus ``tolerance``; ``always`` promotes; ``never`` does not,
not even a first model. Under ``if-better`` and ``always`` the first model ever is promoted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import ConfigError, OutputError, WeightsError
from tasks.core.export import load_weights_csv
from tasks.core.network import Params, predict
from tasks.core.production import (
    POINTER,
    REPAIR,
    STORE,
    Production,
    ProductionDamagedError,
    install_production,
    read_production,
)
from tasks.engine.pointer import pointer_lock

Policy = Literal["if-better", "always", "never"]
POLICIES: tuple[str, ...] = ("if-better", "always", "never")
EvalSets = Mapping[str, tuple[NDArray[np.float32], NDArray[np.uint8]]]


@dataclass(frozen=True)
class Scores:
    """Accuracy of one model on each evaluation set and on all of them together."""

    accuracy: float
    n_samples: int
    per_set: dict[str, float]
    sizes: dict[str, int]


@dataclass(frozen=True)
class PromotionRecord:
    """One decision of the gate: the ledger row, the table artifact row and the event payload.

    ``outcome`` is ``promoted``, ``rejected`` or ``unchanged`` (the candidate already is
    production). Accuracies are fractions in [0, 1]; timestamps are ISO 8601 UTC.
    """

    dataset: str
    outcome: str
    reason: str
    policy: str
    tolerance: float
    candidate: str
    candidate_dir: str
    candidate_accuracy: float
    production: str | None
    production_accuracy: float | None
    candidate_scores: dict[str, float]
    production_scores: dict[str, float] | None
    eval_sizes: dict[str, int]
    decided_at: str

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    def line(self) -> str:
        """The one line for the console and the report."""
        before = ("none" if self.production_accuracy is None
                  else f"{self.production_accuracy:.4f} ({self.production})")
        return (f"{self.outcome}: candidate {self.candidate} {self.candidate_accuracy:.4f} vs "
                f"production {before} on {sum(self.eval_sizes.values())} images; {self.reason}")


def check_policy(policy: str, tolerance: float) -> None:
    """ConfigError unless ``policy`` is one of POLICIES and ``0 <= tolerance <= 1``."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown promotion policy {policy!r}; expected one of "
                          f"{', '.join(POLICIES)}")
    if not 0 <= tolerance <= 1:
        raise ConfigError(f"promotion tolerance {tolerance!r} is outside [0, 1]; it is the "
                          f"accuracy a new model may lose, e.g. 0.002 for 0.2 points")


def score(params: Params, sets: EvalSets) -> Scores:
    """Accuracy of ``params`` on each ``name -> (X (n, 784) float32, y (n,) uint8)`` set and on
    their union; empty sets are skipped."""
    hits: dict[str, int] = {}
    sizes: dict[str, int] = {}
    for name, (X, y) in sets.items():
        if len(y):
            hits[name] = int((predict(params, X) == np.asarray(y, np.intp)).sum())
            sizes[name] = len(y)
    total = sum(sizes.values())
    assert total, "no evaluation rows"
    return Scores(sum(hits.values()) / total, total,
                  {name: hits[name] / sizes[name] for name in sizes}, sizes)


def decide(policy: Policy, candidate: float, production: float | None, *,
           tolerance: float = 0.0, same_model: bool = False) -> tuple[str, str]:
    """``(outcome, reason)`` for accuracies ``candidate`` and ``production`` (None: no model
    in production yet)."""
    check_policy(policy, tolerance)
    if same_model:
        return "unchanged", "the candidate already is the production model"
    if policy == "never":
        return "rejected", "policy 'never': production is never moved automatically"
    if production is None:
        return "promoted", "first model: nothing was in production"
    if policy == "always":
        return "promoted", "policy 'always'"
    delta = candidate - production
    # 1e-12: accuracies are ratios of counts; equal counts must compare equal
    if delta >= -tolerance - 1e-12:
        return "promoted", f"accuracy {delta:+.4f} vs production, tolerance {tolerance:g}"
    return "rejected", (f"accuracy {delta:+.4f} vs production is below the tolerance "
                        f"-{tolerance:g}")


def gate(dataset_dir: Path, candidate_dir: Path, sets: EvalSets, *, dataset: str,
         policy: Policy = "if-better", tolerance: float = 0.0,
         now: datetime | None = None) -> PromotionRecord:
    """Score the model in ``candidate_dir`` (its ``W_*.csv``, ``b_*.csv``) against production
    on ``sets``, decide, and promote it when the decision says so. Returns the record.

    Production is read, scored, decided against and moved in one turn of the pointer's lock:
    two gates deciding at once never both compare against the same old model and leave the
    link and its record disagreeing. A damaged production (a dangling link, a lost model, an
    unreadable record) raises :class:`ProductionDamagedError` and nothing moves; an unwritable
    dataset folder raises :class:`OutputError`.
    """
    check_policy(policy, tolerance)
    dataset_dir, candidate_dir = Path(dataset_dir), Path(candidate_dir)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    new = score(load_weights_csv(candidate_dir), sets)
    with pointer_lock(dataset_dir / POINTER):
        current = read_production(dataset_dir)
        old = _score_production(dataset_dir, sets) if current is not None else None
        outcome, reason = decide(policy, new.accuracy, old and old.accuracy,
                                 tolerance=tolerance, same_model=current is not None
                                 and current.model == candidate_dir.name)
        record = PromotionRecord(
            dataset=dataset, outcome=outcome, reason=reason, policy=policy,
            tolerance=tolerance, candidate=candidate_dir.name, candidate_dir=str(candidate_dir),
            candidate_accuracy=new.accuracy, production=current and current.model,
            production_accuracy=old and old.accuracy, candidate_scores=new.per_set,
            production_scores=old and old.per_set, eval_sizes=new.sizes, decided_at=when)
        if record.promoted:
            _install(dataset_dir, candidate_dir, record)
    return record


def _score_production(dataset_dir: Path, sets: EvalSets) -> Scores:
    try:
        return score(load_weights_csv(dataset_dir / POINTER), sets)
    except WeightsError as error:
        raise ProductionDamagedError(f"the production model {dataset_dir / POINTER} cannot be "
                                f"read: {error}; nothing was promoted. Run `{REPAIR}` to "
                                f"rebuild it, or move it away to start production afresh"
                                ) from None


def _install(dataset_dir: Path, candidate_dir: Path, record: PromotionRecord) -> Path:
    """Put the candidate in production (the caller holds the pointer's lock)."""
    target = Path(STORE) / candidate_dir.name
    info = Production(
        model=candidate_dir.name, path=target.as_posix(), source=str(candidate_dir),
        promoted_at=record.decided_at, reason=record.reason, policy=record.policy,
        accuracy=record.candidate_accuracy, test_accuracy=record.candidate_scores.get("test"),
        scores=record.candidate_scores, eval_sizes=record.eval_sizes,
        previous=record.production, previous_accuracy=record.production_accuracy)
    try:
        return install_production(dataset_dir, candidate_dir, info)
    except OSError as error:
        raise OutputError(f"cannot put {candidate_dir} in production in {dataset_dir}: "
                          f"{error.strerror or error}; make {dataset_dir} writable, then run "
                          f"again") from None


def record_dict(record: PromotionRecord) -> dict:
    """The record as plain JSON-ready data (ledger line, table row, event payload)."""
    return asdict(record)
