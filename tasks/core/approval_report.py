"""What a reviewer sees before approving a candidate: a markdown comparison with production.

Accuracies per evaluation set, each class's recall for both models, the paired test's figures,
the verdict of the if-better rules, and a few of the images the two models disagree on drawn
as text (14x14, two pixels a character), so the page needs no image host and reads the same
in the dashboard, in a terminal and in a notification.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from tasks.core.promotion import PromotionRecord

SHADES = " .:-=+*#%@"  # light to dark ink


def ascii_digit(pixels: NDArray[np.floating]) -> str:
    """One ``(784,)`` image in [0, 1] as 14 lines of 14 characters (2x2 pixels averaged)."""
    image = np.asarray(pixels, np.float64).reshape(14, 2, 14, 2).mean(axis=(1, 3))
    levels = np.clip((image * len(SHADES)).astype(int), 0, len(SHADES) - 1)
    return "\n".join("".join(SHADES[level] for level in row) for row in levels)


def disagreements(labels: NDArray[np.intp], candidate: NDArray[np.intp],
                  production: NDArray[np.intp], limit: int = 4) -> NDArray[np.intp]:
    """Indices of up to ``limit`` rows where the ``(n,)`` predictions differ, those where
    exactly one model is right first (the cases that decide the paired test)."""
    differ = candidate != production
    one_right = differ & ((candidate == labels) | (production == labels))
    order = np.concatenate([np.flatnonzero(one_right), np.flatnonzero(differ & ~one_right)])
    return order[:limit]


def render_approval(record: PromotionRecord, images: Sequence[tuple[NDArray[np.floating],
                    int, int, int]], timeout_seconds: float) -> str:
    """The markdown artifact for ``record`` (a decision under ``ask``); ``images`` are
    ``(pixels (784,), label, candidate's answer, production's answer)``."""
    c = record.comparison or {}
    lines = [f"# Approve {record.dataset} model {record.candidate} for production?", "",
             f"The if-better rules advise: **{record.outcome}**: {record.reason}.", "",
             f"Answer within {timeout_seconds / 3600:g} h (Resume, in this run's page); "
             f"no answer rejects the candidate.", "",
             "| | candidate | production |", "|---|---|---|",
             f"| model | {record.candidate} | {record.production or 'none'} |",
             f"| accuracy | {record.candidate_accuracy:.4f} | "
             f"{_fmt(record.production_accuracy)} |"]
    for name, value in record.candidate_scores.items():
        before = (record.production_scores or {}).get(name)
        lines.append(f"| {name} ({record.eval_sizes[name]} images) | {value:.4f} | "
                     f"{_fmt(before)} |")
    if c:
        lines += ["", f"Paired test (McNemar, one-sided exact) on {c['n']} images: "
                      f"{c['candidate_only']} right only by the candidate, "
                      f"{c['production_only']} only by production; p = {c['p_value']:.3g}; "
                      f"gain {c['gain_points']:+.2f} points.", "",
                  "| class | candidate recall % | production recall % | change |",
                  "|---|---|---|---|"]
        for label, recall in c["candidate_recall"].items():
            before = c["production_recall"][label]
            lines.append(f"| {label} | {recall:.2f} | {before:.2f} | {recall - before:+.2f} |")
    if images:
        lines += ["", "Images they disagree on (label / candidate / production):", ""]
        for pixels, label, said, prod_said in images:
            lines += [f"label {label}, candidate {said}, production {prod_said}", "```",
                      ascii_digit(pixels), "```"]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "none" if value is None else f"{value:.4f}"
