"""The sweep's plot: validation accuracy against each swept setting, one panel per setting.

A bare :class:`matplotlib.figure.Figure` (no pyplot: no global backend or figure registry),
written atomically as a PNG without matplotlib's version stamp, like :mod:`tasks.core.plots`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from tasks.core.errors import ConfigError
from tasks.engine.atomic import atomic_path

logger = logging.getLogger(__name__)

DPI = 100
_PNG_METADATA: dict[str, str | None] = {"Software": None}


def _numeric(values: Sequence[Any]) -> bool:
    return all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)


def _draw_panel(ax: Axes, name: str, rows: Sequence[Mapping[str, Any]]) -> None:
    """Accuracy (percent) against ``name``; categories evenly spaced, wide ranges on a log axis."""
    values = [row[name] for row in rows]
    accuracy = [100.0 * float(row["validation_accuracy"]) for row in rows]
    if _numeric(values):
        xs = [float(v) for v in values]
        positive = min(xs) > 0
        if positive and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
    else:
        labels = sorted({str(v) for v in values})
        xs = [float(labels.index(str(v))) for v in values]
        ax.set_xticks(range(len(labels)), labels)
    ax.scatter(xs, accuracy, s=28, alpha=0.8, color="tab:blue")
    best = max(range(len(rows)), key=lambda i: accuracy[i])
    ax.scatter([xs[best]], [accuracy[best]], s=90, facecolors="none", edgecolors="tab:red",
               label=f"best {accuracy[best]:.2f} %")
    ax.set(xlabel=name, ylabel="validation accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)


def plot_validation_vs_params(rows: Sequence[Mapping[str, Any]], swept: Sequence[str],
                              path: Path, *, title: str = "Sweep") -> Path:
    """One panel per swept setting: each point's validation accuracy against its value.

    ``rows`` are leaderboard rows (each with the swept settings and ``validation_accuracy``).
    """
    if not rows or not swept:
        raise ConfigError(f"{path}: a sweep plot needs at least one point and one swept "
                          f"setting; found {len(rows)} points and {len(swept)} settings")
    fig = Figure(figsize=(4.2 * len(swept), 3.6), layout="constrained")
    axes = fig.subplots(1, len(swept), squeeze=False)[0]
    for ax, name in zip(axes, swept, strict=True):
        _draw_panel(ax, name, rows)
    fig.suptitle(f"{title}: validation accuracy of {len(rows)} points "
                 f"(held out from the training set)")
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI, metadata=_PNG_METADATA)
    fig.clear()
    logger.info("wrote %s", path)
    return path
