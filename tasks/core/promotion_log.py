"""The promotions log: every decision about production, one JSON line each, never edited.

    <dataset>/promotions.jsonl

A gate's promotion or refusal, a person's approval or refusal under ``ask``, a forced
promotion (``mnist-flow promote``) and a rollback (``mnist-flow rollback``) each append one
line, inside the same turn of the pointer's lock that moves production, so the log and the
link never tell two stories (:mod:`tasks.core.promotion_commit`). It sits beside the link, not
in the run ledger: the ledger holds one line per *training*, and its readers expect one; a
decision made without a training (a rollback) belongs with production. Appends are one
``write`` on an ``O_APPEND`` descriptor (:func:`tasks.core.ledger.append_entry`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tasks.core.errors import DataError
from tasks.core.ledger import append_entry

logger = logging.getLogger(__name__)

LOG_NAME = "promotions.jsonl"
ACTIONS = ("gate", "approval", "force", "rollback")


def log_path(dataset_dir: Path) -> Path:
    return Path(dataset_dir) / LOG_NAME


def append_decision(dataset_dir: Path, action: str, fields: Mapping[str, Any]) -> None:
    """Append one decision: ``action`` (one of ACTIONS) and its fields (``outcome``,
    ``candidate``, ``production``, ``reason``, ``decided_at`` at least)."""
    assert action in ACTIONS, action
    missing = {"outcome", "candidate", "production", "reason", "decided_at"} - set(fields)
    assert not missing, f"a decision without {missing}"
    append_entry(log_path(dataset_dir), {"action": action, **fields})


def read_decisions(dataset_dir: Path, *, last: int | None = None,
                   warn: Callable[[str], None] = logger.warning) -> list[dict[str, Any]]:
    """The log's decisions, oldest first (the ``last`` N if given); a damaged line is skipped
    with one warning naming it. Promotions are rare: the file is read whole."""
    path = log_path(dataset_dir)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return []
    except OSError as error:
        raise DataError(f"cannot read the promotions log {path}: {error.strerror}") from None
    decisions = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            entry = None
        if not isinstance(entry, dict) or not {"action", "outcome", "candidate"} <= set(entry):
            warn(f"{path}:{number}: skipped a damaged line")
            continue
        decisions.append(entry)
    return decisions[-last:] if last else decisions
