"""The gate's rules on constructed predictions: the paired test, the margin, each class."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tasks.core.gate_rules import Thresholds, binomial_upper_tail, compare, judge

N = 10_000
RULES = Thresholds(significance=0.05, min_gain=0.1, max_class_drop=2.0)


@pytest.fixture(scope="module")
def labels() -> np.ndarray:
    """10,000 labels, 1,000 of each class, shuffled."""
    return np.random.default_rng(0).permutation(np.repeat(np.arange(10), N // 10))


def wrong_on(labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Predictions right everywhere except ``rows`` (answered with the next class)."""
    predicted = labels.copy()
    predicted[rows] = (labels[rows] + 1) % 10
    return predicted


@pytest.mark.parametrize(("successes", "trials"), [(0, 0), (0, 5), (3, 5), (5, 5), (7, 20),
                                                   (13, 20), (40, 60)])
def test_the_tail_matches_the_sum_of_binomial_terms(successes: int, trials: int) -> None:
    exact = sum(math.comb(trials, k) for k in range(successes, trials + 1)) / 2 ** trials
    assert binomial_upper_tail(successes, trials) == pytest.approx(exact, rel=1e-9)


def test_the_tail_neither_overflows_nor_vanishes_at_tens_of_thousands() -> None:
    assert binomial_upper_tail(20_000, 40_000) == pytest.approx(0.5, abs=0.01)
    assert 1e-30 < binomial_upper_tail(21_000, 40_000) < 1e-20  # 10 sigma
    assert binomial_upper_tail(41, 40) == 0.0


def test_two_equally_good_models_never_flip_production_in_20_alternating_runs(labels) -> None:
    """Two seeds' worth of models: 500 errors each, on different images."""
    rng = np.random.default_rng(1)
    models = {"seed-1": wrong_on(labels, rng.choice(N, 500, replace=False)),
              "seed-2": wrong_on(labels, rng.choice(N, 500, replace=False))}
    production, reasons = "seed-1", set()
    for run in range(20):
        candidate = "seed-2" if run % 2 == 0 else "seed-1"
        if candidate == production:
            continue
        verdict = judge(compare(labels, models[candidate], models[production]), RULES)
        reasons.add(verdict.reason)
        production = candidate if verdict.promote else production
    assert production == "seed-1"
    assert reasons and all(reason.startswith("gain +0.00 points: no better than production "
                                             "(p = 0.51)") for reason in reasons), reasons


def test_a_clearly_better_model_is_promoted(labels) -> None:
    rng = np.random.default_rng(2)
    old_errors = rng.choice(N, 500, replace=False)
    fixed, new_errors = old_errors[:169], rng.choice(np.setdiff1d(np.arange(N), old_errors),
                                                     126, replace=False)
    candidate = wrong_on(labels, np.concatenate([old_errors[169:], new_errors]))
    verdict = judge(compare(labels, candidate, wrong_on(labels, old_errors)), RULES)
    assert verdict.promote, verdict.reason
    assert verdict.comparison.candidate_only == len(fixed)
    assert verdict.comparison.production_only == 126
    assert verdict.reason.startswith("gain +0.43 points is significant (p = 0.0")
    assert verdict.reason.endswith("; 169 vs 126 discordant)")


def test_a_gain_overall_with_one_class_3_points_worse_is_rejected_naming_it(labels) -> None:
    rng = np.random.default_rng(3)
    old_errors = rng.choice(np.flatnonzero(labels != 7), 400, replace=False)
    sevens = rng.choice(np.flatnonzero(labels == 7), 44, replace=False)  # 4.4 % of the 7s
    candidate = wrong_on(labels, np.concatenate([old_errors[:200], sevens]))  # 200 fixed
    candidate[sevens] = 1  # every one of them read as 1
    verdict = judge(compare(labels, candidate, wrong_on(labels, old_errors)), RULES)
    assert not verdict.promote
    assert verdict.comparison.gain == pytest.approx(1.56)
    assert verdict.reason == "class 7 recall -4.4 points"
    assert verdict.comparison.recall_drops == {7: pytest.approx(-4.4)}


def test_a_drop_of_exactly_the_limit_is_allowed(labels) -> None:
    sevens = np.flatnonzero(labels == 7)[:20]  # 2.0 points of the 7s
    others = np.flatnonzero(labels != 7)[:300]
    verdict = judge(compare(labels, wrong_on(labels, sevens), wrong_on(labels, others)), RULES)
    assert verdict.promote and verdict.comparison.recall_drops == {}


def test_a_small_gain_is_not_significant(labels) -> None:
    old = np.arange(0, 300)
    candidate = wrong_on(labels, np.concatenate([old[15:], np.arange(5_000, 5_012)]))
    verdict = judge(compare(labels, candidate, wrong_on(labels, old)), RULES)
    assert not verdict.promote
    assert verdict.reason == "gain +0.03 points is not significant (p = 0.35 >= 0.05)"


def test_a_significant_gain_below_the_margin_is_rejected(labels) -> None:
    big = np.tile(labels, 10)  # 100,000 images: 0.05 points is significant
    old = np.arange(0, 3_000)
    candidate = wrong_on(big, np.concatenate([old[70:], np.arange(50_000, 50_020)]))
    verdict = judge(compare(big, candidate, wrong_on(big, old)), RULES)
    assert not verdict.promote
    assert verdict.comparison.p_value < 0.05
    assert verdict.reason.startswith("gain +0.05 points is below the margin of 0.1 points")


def test_every_failed_rule_is_named(labels) -> None:
    sevens = np.flatnonzero(labels == 7)[:30]
    verdict = judge(compare(labels, wrong_on(labels, sevens), labels), RULES)
    assert verdict.reason == ("gain -0.30 points: no better than production (p = 1); "
                              "class 7 recall -3.0 points")


def test_a_class_missing_from_the_images_is_not_judged() -> None:
    labels = np.array([0, 0, 1, 1])
    comparison = compare(labels, np.array([0, 0, 1, 0]), np.array([0, 1, 1, 1]))
    assert set(comparison.candidate_recall) == {0, 1}
    assert comparison.recall_drops == {1: -50.0}
