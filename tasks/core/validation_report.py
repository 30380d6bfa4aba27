"""What a validation says, for people: a JSON report, a line, markdown tables and thumbnails.

    <dataset>/validate/report.json           the last validation: counts, drift, refused files
    <dataset>/validate/quarantined.png       thumbnails of the files it quarantined
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from tasks.core.quarantine import QuarantinedFile
from tasks.core.validation import Verdict
from tasks.engine.atomic import write_bytes_atomic, write_text_atomic

THUMBNAIL_COLUMNS = 20
MAX_TABLE_ROWS = 200  # a dashboard table of 3,000 rows helps nobody; the JSON has them all


def counts(verdict: Verdict) -> dict[str, int]:
    """Refused files by check (``label``, ``leakage``, ``duplicate``), and ``kept``."""
    by_check = Counter(item.check for item in verdict.refused)
    return {"kept": int(verdict.kept.sum()), "label": by_check["label"],
            "leakage": by_check["leakage"], "duplicate": by_check["duplicate"]}


def summary_line(verdict: Verdict) -> str:
    """One line for the log: what was kept and refused, and the drift."""
    tally = counts(verdict)
    classes = (f"; classes refused whole: {', '.join(map(str, verdict.classes))}"
               if verdict.classes else "")
    return (f"validate: {tally['kept']} kept, {len(verdict.refused)} quarantined ("
            f"{tally['label']} label, {tally['leakage']} leakage, {tally['duplicate']} "
            f"duplicate){classes}; {verdict.drift.line()}; labels judged by {verdict.model}")


def report_dict(verdict: Verdict, dataset: str) -> dict[str, Any]:
    """The JSON report of one validation."""
    return {"dataset": dataset, "counts": counts(verdict), "classes_refused": verdict.classes,
            "model": verdict.model, "drift": asdict(verdict.drift) | {
                "drifted": verdict.drift.drifted},
            "refused": [asdict(item) for item in verdict.refused]}


def write_report(path: Path, verdict: Verdict, dataset: str) -> Path:
    """Write :func:`report_dict` to ``path`` atomically."""
    write_text_atomic(Path(path), json.dumps(report_dict(verdict, dataset), indent=1))
    return Path(path)


def validation_markdown(verdict: Verdict) -> str:
    """The dashboard's ``<dataset>-validation`` artifact: counts, drift and the refused."""
    tally = counts(verdict)
    lines = ["# Validation of new images", "", summary_line(verdict), "",
             "| kept | label | leakage | duplicate | drift score | threshold |",
             "|---:|---:|---:|---:|---:|---:|",
             f"| {tally['kept']} | {tally['label']} | {tally['leakage']} | "
             f"{tally['duplicate']} | {verdict.drift.score:.2f} | "
             f"{verdict.drift.threshold:g} |"]
    return "\n".join([*lines, "", *quarantine_markdown(verdict.refused).splitlines()[1:]])


def quarantine_markdown(table: list[QuarantinedFile]) -> str:
    """The dashboard's ``<dataset>-quarantine`` artifact: the files in quarantine."""
    lines = [f"# Quarantine: {len(table)} files", "",
             "Release one with `mnist-flow release FILE`; the next run trains on it.", "",
             "| file | label | check | reason |", "|---|---:|---|---|"]
    lines += [f"| {item.path} | {item.label} | {item.check} | {item.reason} |"
              for item in table[:MAX_TABLE_ROWS]]
    if len(table) > MAX_TABLE_ROWS:
        lines.append(f"| ... {len(table) - MAX_TABLE_ROWS} more in quarantine.json | | | |")
    return "\n".join(lines)


def write_thumbnails(path: Path, rows: NDArray[np.float32]) -> Path | None:
    """Tile standardized rows ``(n, 784)`` as 28x28 thumbnails, ``THUMBNAIL_COLUMNS`` a row,
    into a PNG at ``path``; None (and nothing written) when there are none."""
    from PIL import Image

    if not len(rows):
        return None
    low, high = rows.min(axis=1, keepdims=True), rows.max(axis=1, keepdims=True)
    tiles = ((rows - low) / np.maximum(high - low, 1e-6) * 255).astype(np.uint8)
    grid_rows = -(-len(rows) // THUMBNAIL_COLUMNS)
    sheet = np.full((grid_rows * 30, THUMBNAIL_COLUMNS * 30), 64, np.uint8)
    for index, tile in enumerate(tiles.reshape(-1, 28, 28)):
        top, left = (index // THUMBNAIL_COLUMNS) * 30 + 1, (index % THUMBNAIL_COLUMNS) * 30 + 1
        sheet[top:top + 28, left:left + 28] = tile
    buffer = io.BytesIO()
    Image.fromarray(sheet, mode="L").save(buffer, format="PNG")
    write_bytes_atomic(Path(path), buffer.getvalue())
    return Path(path)
