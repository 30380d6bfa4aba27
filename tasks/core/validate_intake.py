"""The validate stage's work, without Prefect: read the intake's rows, judge them, move the
refused files to quarantine, write the rows that may train.

    <dataset>/validate/<rows digest>/incoming.parquet, holdout.parquet   the kept rows
    <dataset>/validate/accepted.json      sha256 of every file validation ever kept
    <dataset>/validate/report.json        the last validation (counts, drift, refused files)
    <dataset>/validate/quarantined.png    thumbnails of the files it quarantined
    <dataset>/validate/reference/<sha>.npy  the test split centred like the intake (a cache)

The kept rows' folder is named after the kept files' sha256s, and their Parquet metadata name
no intake digest: once the refused files have left the intake folder, the next run's intake
yields the same kept rows, byte for byte, and the training after it comes from cache.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from tasks.core.datasets import load_split, write_split
from tasks.core.intake import read_manifest
from tasks.core.label_check import Scorer
from tasks.core.quarantine import QuarantinedFile, quarantine_files, released_digests
from tasks.core.validation import NewImage, Reference, Verdict, judge_batch
from tasks.core.validation_config import ValidationConfig
from tasks.engine.atomic import sha256_bytes, write_bytes_atomic, write_text_atomic

ACCEPTED = "accepted.json"
REPORT = "report.json"
THUMBNAILS = "quarantined.png"
# Base training rows the thresholds and the drift compare with (a sample: the split is
# shuffled, and 10,000 rows give per-class means to a few thousandths).
BASE_ROWS = 10_000


@dataclass(frozen=True)
class IntakeRows:
    """Paths of what intake wrote: its ``manifest.json``, ``incoming.parquet`` (training rows)
    and ``holdout.parquet`` (held-out rows)."""

    manifest: Path
    incoming: Path
    holdout: Path


@dataclass(frozen=True)
class ValidationOutcome:
    """The verdict, the files moved to quarantine and the kept rows' two Parquet files."""

    verdict: Verdict
    moved: list[QuarantinedFile]
    incoming: Path
    holdout: Path


def read_new_images(rows: IntakeRows) -> tuple[list[NewImage], NDArray[np.float32]]:
    """The accepted intake files (training ones first, then held-out ones, as intake ordered
    them) and their rows ``(n, 784) float32``, in the same order."""
    files = [item for item in read_manifest(rows.manifest).accepted]
    training = [item for item in files if not item.holdout]
    held = [item for item in files if item.holdout]
    X_train, _ = load_split(rows.incoming)
    X_held, _ = load_split(rows.holdout)
    images = [NewImage(item.path, item.sha256 or "", int(item.label or 0), item.holdout)
              for item in training + held]
    assert len(images) == len(X_train) + len(X_held), "intake's manifest and rows disagree"
    return images, np.concatenate([X_train, X_held])


def centred_test(cache_dir: Path, test_sha256: str, X_test: NDArray[np.float32],
                 ) -> NDArray[np.float32]:
    """The test rows centred like the intake's (1.3 s for 10,000), cached per test split."""
    from tasks.core.near_duplicates import recentred_rows

    path = Path(cache_dir) / f"{test_sha256[:16]}.npy"
    if path.exists():
        try:
            return np.load(path)
        except (OSError, ValueError):  # a damaged cache is rebuilt
            pass
    centred = recentred_rows(X_test)
    buffer = _npy_bytes(centred)
    write_bytes_atomic(path, buffer)
    return centred


def validate_intake(rows: IntakeRows, incoming_dir: Path, out_dir: Path, quarantine_dir: Path,
                    reference: Callable[[], Reference], scorer: Callable[[], Scorer],
                    settings: ValidationConfig) -> ValidationOutcome:
    """Judge the intake's rows, quarantine the refused files, and write the kept rows.
    ``reference()`` and ``scorer()`` (the model) are called only when there are rows: an
    empty intake costs no centring of the test split and no model."""
    from tasks.core.drift import DriftReport

    images, X = read_new_images(rows)
    out_dir = Path(out_dir)
    if images:
        accepted_before = _read_digests(out_dir / ACCEPTED)
        verdict = judge_batch(images, X, reference(), scorer(), settings,
                              released=released_digests(quarantine_dir),
                              accepted_before=accepted_before)
    else:
        verdict = Verdict(np.zeros(0, bool), [], DriftReport(0.0, settings.drift_threshold,
                                                             0.0, 0.0), [], "none needed")
    when = datetime.now(UTC).isoformat(timespec="seconds")
    moved = quarantine_files(incoming_dir, quarantine_dir, verdict.refused, when)
    kept = [image for image, keep in zip(images, verdict.kept, strict=True) if keep]
    if kept:
        _write_digests(out_dir / ACCEPTED, _read_digests(out_dir / ACCEPTED)
                       | {image.sha256 for image in kept})
    incoming, holdout = _write_kept(out_dir, images, X, verdict.kept)
    return ValidationOutcome(verdict, moved, incoming, holdout)


def _write_kept(out_dir: Path, images: list[NewImage], X: NDArray[np.float32],
                kept: NDArray[np.bool_]) -> tuple[Path, Path]:
    held = np.array([image.holdout for image in images], bool)
    labels = np.array([image.label for image in images], np.uint8)
    names = sorted(image.sha256 for image, keep in zip(images, kept, strict=True) if keep)
    folder = out_dir / sha256_bytes("\n".join(names).encode())[:12]
    metadata = {"mnist_flow.split": "incoming", "mnist_flow.preprocessing": "as intake's; "
                "rows validate kept (docs/validation.md)"}
    paths = folder / "incoming.parquet", folder / "holdout.parquet"
    for path, rows, split in ((paths[0], kept & ~held, "incoming"),
                              (paths[1], kept & held, "holdout")):
        write_split(path, np.ascontiguousarray(X[rows], np.float32), labels[rows],
                    {**metadata, "mnist_flow.split": split})
    return paths


def _read_digests(path: Path) -> set[str]:
    try:
        return set(json.loads(path.read_text("utf-8"))) if path.exists() else set()
    except (OSError, ValueError):  # a damaged list only means labels are judged again
        return set()


def _write_digests(path: Path, digests: set[str]) -> None:
    write_text_atomic(path, json.dumps(sorted(digests), indent=0))


def _npy_bytes(array: NDArray[np.float32]) -> bytes:
    import io

    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()
