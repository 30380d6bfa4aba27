"""What a reviewer reads: the comparison page, and digits drawn as text."""

from __future__ import annotations

import numpy as np

from tasks.core.approval_report import ascii_digit, disagreements, render_approval
from tasks.core.promotion import PromotionRecord


def test_a_digit_is_14_lines_of_14_characters_dark_where_the_ink_is() -> None:
    pixels = np.zeros((28, 28))
    pixels[:, 12:16] = 1.0  # a "1"
    lines = ascii_digit(pixels.ravel()).splitlines()
    assert len(lines) == 14 and {len(line) for line in lines} == {14}
    assert {line[6:8] for line in lines} == {"@@"} and {line[:6] for line in lines} == {" " * 6}


def test_disagreements_put_the_deciding_images_first() -> None:
    labels = np.array([0, 1, 2, 3, 4])
    candidate = np.array([0, 9, 2, 8, 4])
    production = np.array([0, 1, 7, 9, 4])
    assert disagreements(labels, candidate, production).tolist() == [1, 2, 3]
    assert disagreements(labels, candidate, production, limit=1).tolist() == [1]


def test_the_page_shows_both_models_each_class_and_the_images() -> None:
    record = PromotionRecord(
        dataset="mnist", outcome="rejected", reason="class 7 recall -4.4 points", policy="ask",
        thresholds={"significance": 0.05}, candidate="new", candidate_dir="/a/new",
        candidate_accuracy=0.9712, production="old", production_accuracy=0.9556,
        candidate_scores={"test": 0.9712}, production_scores={"test": 0.9556},
        eval_sizes={"test": 10_000}, decided_at="2026-12-06T09:00:00+00:00",
        comparison={"n": 10_000, "gain_points": 1.56, "p_value": 1e-9, "candidate_only": 200,
                    "production_only": 44, "candidate_recall": {"7": 95.6},
                    "production_recall": {"7": 100.0}, "recall_drops": {"7": -4.4}})
    page = render_approval(record, [(np.zeros(784), 7, 1, 7)], 86_400)
    assert page.startswith("# Approve mnist model new for production?")
    assert "**rejected**: class 7 recall -4.4 points" in page and "within 24 h" in page
    assert "| accuracy | 0.9712 | 0.9556 |" in page
    assert "| 7 | 95.60 | 100.00 | -4.40 |" in page
    assert "200 right only by the candidate, 44 only by production" in page
    assert "label 7, candidate 1, production 7" in page
