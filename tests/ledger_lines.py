"""Ledger lines for the tests of its readers: realistic good ones, and each kind of damage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tasks.core.ledger import make_entry

DECISION = {"decided": True, "outcome": "promoted", "reason": "accuracy +0.0100 vs production",
            "policy": "if-better", "candidate": "c0ffee",
            "thresholds": {"significance": 0.05, "min_gain": 0.1, "max_class_drop": 2.0},
            "candidate_accuracy": 0.91, "production": "beef00", "production_accuracy": 0.9,
            "eval_sizes": {"test": 10000}, "decided_at": "2026-12-06T02:35:05+00:00"}


def main_line(run: str, accuracy: float = 0.91, **decision: Any) -> dict[str, Any]:
    """A main flow's line as publish writes it, with the gate's decision."""
    return make_entry(kind="main", run=run, dataset="mnist",
                      parameters={"seed": 1, "lr": 0.01, "epochs": None}, data="0123456789abcdef",
                      code="f" * 64, versions={"numpy": "2.4.6"},
                      metrics={"test_accuracy": accuracy, "train_accuracy": 0.93}, cached=False,
                      model_dir=Path("/a/mnist/models") / run, preset="original",
                      promotion={**DECISION, "candidate_accuracy": accuracy, **decision})


def encoded(entry: Any) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":")).encode()


def _without(entry: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k != key}


# Each kind of damage, made from a good line (a torn line is last, without its newline).
DAMAGE = {
    "null number": lambda e: encoded({**e, "promotion": {**e["promotion"],
                                                          "candidate_accuracy": None}}),
    "string for a number": lambda e: encoded({**e, "metrics": {"test_accuracy": "0.9"}}),
    "missing key": lambda e: encoded(_without(e, "kind")),
    "not an object": lambda e: b"[1, 2]",
    "binary garbage": lambda e: b"\xff\xfe\x00\x9c garbage \x01",
    "torn": lambda e: encoded(e)[:50],
}
# The reason the reader gives for each, as it appears in its warning.
WHY = {
    "null number": "promotion.candidate_accuracy should be a valid number, found null",
    "string for a number": 'metrics.test_accuracy should be a valid number, found "0.9"',
    "missing key": "kind is missing",
    "not an object": "the line should be an object, found [1, 2]",
    "binary garbage": "not JSON (a torn or damaged line)",
    "torn": "not JSON (a torn or damaged line)",
}


def write_ledger(path: Path, lines: list[bytes], *, torn_tail: bytes = b"") -> Path:
    """``lines``, each ended by a newline, then ``torn_tail`` (a last line a crash cut short)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"".join(line + b"\n" for line in lines) + torn_tail)
    return path
