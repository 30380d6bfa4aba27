"""The promotion gate: production moves only to a model that is better, by rules one can trust.

Production (see :mod:`tasks.core.production`) is a *relative* symlink into a copy of the model's
folder, so it survives moving or copying the whole artifacts folder and the cache deleting a
model folder; ``np.loadtxt("production/W_1.csv")`` reads through it like a folder. It is
swapped atomically: a reader sees the old model or the new, never a mix.

Both models are scored on the same rows: the dataset's test split plus the intake holdout
when there is one. Policies: ``if-better`` (the default) promotes when the rules of
:mod:`tasks.core.gate_rules` pass (a significant paired gain, above a margin, with no class's
recall dropping past a limit); ``always`` promotes; ``never`` does not, not even a first
model; ``ask`` decides as ``if-better`` and then waits for a person (the flow pauses; see
``tasks/stages/promote.py``). Under every policy but ``never`` the first model is promoted.
The move itself is one transaction: :mod:`tasks.core.promotion_commit`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import ConfigError, WeightsError
from tasks.core.export import load_weights_csv
from tasks.core.gate_rules import Thresholds, compare, comparison_figures, judge
from tasks.core.network import Params, predict
from tasks.core.production import POINTER, REPAIR, ProductionDamagedError, read_production
from tasks.engine.pointer import pointer_lock

Policy = Literal["if-better", "always", "never", "ask"]
POLICIES: tuple[str, ...] = ("if-better", "always", "never", "ask")
DEFAULT_THRESHOLDS = Thresholds()
EvalSets = Mapping[str, tuple[NDArray[np.float32], NDArray[np.uint8]]]


@dataclass(frozen=True)
class Scores:
    """One model on the evaluation sets: accuracy overall and per set, and its ``(n,)``
    predictions on all sets' rows in order (the paired test needs them row by row)."""

    accuracy: float
    n_samples: int
    per_set: dict[str, float]
    sizes: dict[str, int]
    predictions: NDArray[np.intp] = field(repr=False, compare=False)


@dataclass(frozen=True)
class PromotionRecord:
    """One decision of the gate: the ledger row, the table artifact row and the event payload.

    ``outcome`` is ``promoted``, ``rejected`` or ``unchanged`` (the candidate already is
    production). Accuracies are fractions in [0, 1]; timestamps are ISO 8601 UTC.
    ``thresholds`` are the rules' settings; ``comparison`` the paired figures
    (:func:`tasks.core.gate_rules.comparison_figures`), None without a production to compare.
    """

    dataset: str
    outcome: str
    reason: str
    policy: str
    thresholds: dict[str, float]
    candidate: str
    candidate_dir: str
    candidate_accuracy: float
    production: str | None
    production_accuracy: float | None
    candidate_scores: dict[str, float]
    production_scores: dict[str, float] | None
    eval_sizes: dict[str, int]
    decided_at: str
    comparison: dict | None = None

    @property
    def promoted(self) -> bool:
        return self.outcome == "promoted"

    def line(self) -> str:
        """The one line for the console and the report."""
        before = ("none" if self.production_accuracy is None
                  else f"{self.production_accuracy:.4f} ({self.production})")
        return (f"{self.outcome}: {self.reason} (candidate {self.candidate} "
                f"{self.candidate_accuracy:.4f} vs production {before} on "
                f"{sum(self.eval_sizes.values())} images)")


def check_policy(policy: str) -> None:
    """ConfigError unless ``policy`` is one of POLICIES."""
    if policy not in POLICIES:
        raise ConfigError(f"unknown promotion policy {policy!r}; expected one of "
                          f"{', '.join(POLICIES)}")


def score(params: Params, sets: EvalSets) -> Scores:
    """Accuracy of ``params`` on each ``name -> (X (n, 784) float32, y (n,) uint8)`` set and on
    their union; empty sets are skipped."""
    hits: dict[str, int] = {}
    sizes: dict[str, int] = {}
    predictions = []
    for name, (X, y) in sets.items():
        if len(y):
            predicted = predict(params, X)
            predictions.append(predicted)
            hits[name] = int((predicted == np.asarray(y, np.intp)).sum())
            sizes[name] = len(y)
    total = sum(sizes.values())
    assert total, "no evaluation rows"
    return Scores(sum(hits.values()) / total, total,
                  {name: hits[name] / sizes[name] for name in sizes}, sizes,
                  np.concatenate(predictions).astype(np.intp))


def all_labels(sets: EvalSets) -> NDArray[np.intp]:
    """``(n,)`` labels of every non-empty set, in the order :func:`score` predicts them."""
    return np.concatenate([np.asarray(y, np.intp) for _, y in sets.values() if len(y)])


def decide(policy: Policy, labels: NDArray[np.intp] | None, candidate: NDArray[np.intp],
           production: NDArray[np.intp] | None, *, thresholds: Thresholds = DEFAULT_THRESHOLDS,
           same_model: bool = False) -> tuple[str, str, dict | None]:
    """``(outcome, reason, comparison figures)`` for the ``(n,)`` predictions ``candidate``
    and ``production`` (None: nothing in production) on rows with ``labels``. Under ``ask``
    the outcome is the rules' advice; a person has the last word."""
    check_policy(policy)
    if same_model:
        return "unchanged", "the candidate already is the production model", None
    if policy == "never":
        return "rejected", "policy 'never': production is never moved automatically", None
    if production is None or labels is None:
        return "promoted", "first model: nothing was in production", None
    compared = compare(labels, candidate, production,
                       max_class_drop=thresholds.max_class_drop)
    figures = comparison_figures(compared)
    if policy == "always":
        return "promoted", f"policy 'always' (gain {compared.gain:+.2f} points)", figures
    verdict = judge(compared, thresholds)
    return ("promoted" if verdict.promote else "rejected"), verdict.reason, figures


def evaluate(dataset_dir: Path, candidate_dir: Path, candidate: Scores, sets: EvalSets, *,
             dataset: str, policy: Policy, thresholds: Thresholds, when: str
             ) -> PromotionRecord:
    """Decide about the scored ``candidate`` against the production of now (read and scored
    here). The caller holds the pointer's lock when it will act on the decision."""
    current = read_production(dataset_dir)
    old = score_production(dataset_dir, sets) if current is not None else None
    outcome, reason, figures = decide(
        policy, all_labels(sets), candidate.predictions, old and old.predictions,
        thresholds=thresholds,
        same_model=current is not None and current.model == candidate_dir.name)
    return PromotionRecord(
        dataset=dataset, outcome=outcome, reason=reason, policy=policy,
        thresholds=asdict(thresholds), candidate=candidate_dir.name,
        candidate_dir=str(candidate_dir), candidate_accuracy=candidate.accuracy,
        production=current and current.model, production_accuracy=old and old.accuracy,
        candidate_scores=candidate.per_set, production_scores=old and old.per_set,
        eval_sizes=candidate.sizes, decided_at=when, comparison=figures)


def gate(dataset_dir: Path, candidate_dir: Path, sets: EvalSets, *, dataset: str,
         policy: Policy = "if-better", thresholds: Thresholds = DEFAULT_THRESHOLDS,
         now: datetime | None = None, commit: bool = True) -> PromotionRecord:
    """Score the model in ``candidate_dir`` (its ``W_*.csv``, ``b_*.csv``) against production
    on ``sets``, decide, and (``commit``) promote it when the decision says so.

    Production is read, scored, decided against and moved in one turn of the pointer's lock
    (:func:`tasks.core.promotion_commit.commit_decision`). A damaged production raises
    :class:`ProductionDamagedError` and nothing moves; an unwritable dataset folder raises
    :class:`OutputError`.
    """
    from tasks.core.promotion_commit import commit_decision

    check_policy(policy)
    dataset_dir, candidate_dir = Path(dataset_dir), Path(candidate_dir)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    new = score(load_weights_csv(candidate_dir), sets)
    with pointer_lock(dataset_dir / POINTER):
        record = evaluate(dataset_dir, candidate_dir, new, sets, dataset=dataset,
                          policy=policy, thresholds=thresholds, when=when)
        if commit:
            commit_decision(dataset_dir, candidate_dir, record)
    return record


def score_production(dataset_dir: Path, sets: EvalSets) -> Scores:
    """The production model's scores; ProductionDamagedError if its weights cannot be read."""
    try:
        return score(load_weights_csv(dataset_dir / POINTER), sets)
    except WeightsError as error:
        raise ProductionDamagedError(f"the production model {dataset_dir / POINTER} cannot be "
                                f"read: {error}; nothing was promoted. Run `{REPAIR}` to "
                                f"rebuild it, or move it away to start production afresh"
                                ) from None


def record_dict(record: PromotionRecord) -> dict:
    """The record as plain JSON-ready data (ledger line, table row, event payload)."""
    return asdict(record)
