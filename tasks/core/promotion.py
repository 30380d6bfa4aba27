"""The promotion gate: production moves only to a model that is at least as good.

    artifacts/<dataset>/production        -> promoted/<model id>   (relative symlink)
    artifacts/<dataset>/promoted/<id>/    a copy of the model's files (W_*.csv, b_*.csv, ...)
    artifacts/<dataset>/production.json   which model, its metrics, when and why it was promoted

Production is a *relative* symlink into a copy of the model's folder, so it survives moving or
copying the whole artifacts folder (``mv``, ``cp -a``, ``rsync -a``) and the cache deleting a
model folder; ``np.loadtxt("production/W_1.csv")`` reads through it like a folder. It is
swapped atomically (a new link renamed over the old, :func:`tasks.engine.pointer.swap_pointer`):
a reader sees the old model or the new, never a mix. ``production.json`` is written just before
the swap, under the same lock, and names the link's target, so a reader can check both agree.

Both models are scored on the same rows: the dataset's test split plus the intake holdout
when there is one. Policies: ``if-better`` (the default) promotes when the candidate's accuracy
is at least the production model's minus ``tolerance``; ``always`` promotes; ``never`` does not,
not even a first model. Under ``if-better`` and ``always`` the first model ever is promoted.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from tasks.core.errors import ConfigError, MnistFlowError, OutputError
from tasks.core.export import load_weights_csv
from tasks.core.network import Params, predict
from tasks.engine.pointer import swap_pointer

Policy = Literal["if-better", "always", "never"]
POLICIES: tuple[str, ...] = ("if-better", "always", "never")
POINTER = "production"
POINTER_JSON = "production.json"
STORE = "promoted"
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


@dataclass(frozen=True)
class Production:
    """``production.json``: the model in production, its scores, when and why it got there.

    ``path`` is the pointer's target relative to the dataset folder (``promoted/<model>``);
    ``test_accuracy`` is on the test split alone (None if it was not scored); ``previous`` is
    the model it replaced.
    """

    model: str
    path: str
    source: str
    promoted_at: str
    reason: str
    policy: str
    accuracy: float
    test_accuracy: float | None
    scores: dict[str, float]
    eval_sizes: dict[str, int]
    previous: str | None
    previous_accuracy: float | None


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


def read_production(dataset_dir: Path) -> Production | None:
    """The content of ``production.json``, or None when nothing is in production (no pointer,
    or a record that cannot be read: the gate then treats production as empty and says so)."""
    path = Path(dataset_dir) / POINTER_JSON
    if not path.is_file() or not (Path(dataset_dir) / POINTER).exists():
        return None
    try:
        return Production(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError):
        return None


def gate(dataset_dir: Path, candidate_dir: Path, sets: EvalSets, *, dataset: str,
         policy: Policy = "if-better", tolerance: float = 0.0,
         now: datetime | None = None) -> PromotionRecord:
    """Score the model in ``candidate_dir`` (its ``W_*.csv``, ``b_*.csv``) against production
    on ``sets``, decide, and promote it when the decision says so. Returns the record.

    A production model that cannot be read (deleted, damaged) counts as none, and the reason
    says so. Raises :class:`OutputError` when the dataset folder cannot be written.
    """
    check_policy(policy, tolerance)
    dataset_dir, candidate_dir = Path(dataset_dir), Path(candidate_dir)
    when = (now or datetime.now(UTC)).isoformat(timespec="seconds")
    new = score(load_weights_csv(candidate_dir), sets)
    current = read_production(dataset_dir)
    old: Scores | None = None
    note = ""
    if current is not None:
        try:
            old = score(load_weights_csv(dataset_dir / POINTER), sets)
        except MnistFlowError as error:
            current, note = None, f" (the production model could not be read: {error})"
    outcome, reason = decide(policy, new.accuracy, old and old.accuracy, tolerance=tolerance,
                             same_model=current is not None and current.model == candidate_dir.name)
    record = PromotionRecord(
        dataset=dataset, outcome=outcome, reason=reason + note, policy=policy,
        tolerance=tolerance, candidate=candidate_dir.name, candidate_dir=str(candidate_dir),
        candidate_accuracy=new.accuracy, production=current and current.model,
        production_accuracy=old and old.accuracy, candidate_scores=new.per_set,
        production_scores=old and old.per_set, eval_sizes=new.sizes, decided_at=when)
    if record.promoted:
        promote(dataset_dir, candidate_dir, record)
    return record


def promote(dataset_dir: Path, candidate_dir: Path, record: PromotionRecord) -> Path:
    """Copy the model's files into ``promoted/<id>``, then swing ``production`` to it and write
    ``production.json``, together under the pointer's lock. Returns the pointer's path."""
    dataset_dir, candidate_dir = Path(dataset_dir), Path(candidate_dir)
    target = Path(STORE) / candidate_dir.name
    try:
        _copy_model(candidate_dir, dataset_dir / target)
    except OSError as error:
        raise OutputError(f"cannot copy {candidate_dir} into {dataset_dir / target}: "
                          f"{error.strerror or error}; make {dataset_dir} writable, then run "
                          f"again") from None
    info = Production(
        model=candidate_dir.name, path=target.as_posix(), source=str(candidate_dir),
        promoted_at=record.decided_at, reason=record.reason, policy=record.policy,
        accuracy=record.candidate_accuracy, test_accuracy=record.candidate_scores.get("test"),
        scores=record.candidate_scores, eval_sizes=record.eval_sizes,
        previous=record.production, previous_accuracy=record.production_accuracy)
    return swap_pointer(dataset_dir / POINTER, dataset_dir / target,
                        record=dataset_dir / POINTER_JSON,
                        record_text=json.dumps(asdict(info), indent=1))


def record_dict(record: PromotionRecord) -> dict:
    """The record as plain JSON-ready data (ledger line, table row, event payload)."""
    return asdict(record)


def _copy_model(source: Path, destination: Path) -> None:
    """Copy the regular files of ``source`` into ``destination`` via a temporary folder; an
    existing ``destination`` (the same content-addressed model promoted before) is kept."""
    if destination.is_dir():
        return
    tmp = destination.with_name(f".{destination.name}.{os.getpid()}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        for item in sorted(source.iterdir()):
            if item.is_file() and not item.is_symlink():
                shutil.copy2(item, tmp / item.name)
        os.rename(tmp, destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
