"""Learning-rate schedules are pure functions of the step."""

from __future__ import annotations

import itertools

import pytest

from tasks.core.schedules import cosine_lr, exponential_lr, make_schedule


def test_exponential_is_the_original_staircase() -> None:
    schedule = make_schedule("exponential", lr=0.01, total_steps=5001, decay=0.96, every=50)
    assert schedule(0) == schedule(49) == 0.01
    assert schedule(50) == pytest.approx(0.0096)
    assert schedule(5000) == pytest.approx(0.01 * 0.96 ** 100)
    assert exponential_lr(120, lr=1.0, decay=0.5, every=50) == 0.25


def test_cosine_runs_from_lr_to_the_floor() -> None:
    assert cosine_lr(0, lr=0.1, total_steps=100) == pytest.approx(0.1)
    assert cosine_lr(50, lr=0.1, total_steps=100) == pytest.approx(0.05)
    assert cosine_lr(100, lr=0.1, total_steps=100, min_ratio=0.1) == pytest.approx(0.01)
    values = [cosine_lr(s, lr=0.1, total_steps=100) for s in range(101)]
    assert all(a >= b for a, b in itertools.pairwise(values))


def test_constant_and_unknown() -> None:
    assert make_schedule("constant", lr=0.3, total_steps=10)(9) == 0.3
    with pytest.raises(ValueError, match="unknown schedule"):
        make_schedule("linear", lr=0.3, total_steps=10)
