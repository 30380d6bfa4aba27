"""Learning-rate schedules: small pure functions of the update index (0-based)."""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

Schedule = Callable[[int], float]


def exponential_lr(step: int, *, lr: float, decay: float, every: int) -> float:
    """``lr · decay^(step // every)``: the original's staircase (0.96 every 50 steps)."""
    return lr * decay ** (step // every)


def constant_lr(step: int, *, lr: float) -> float:
    """``lr`` at every step."""
    return lr


def cosine_lr(step: int, *, lr: float, total_steps: int, min_ratio: float = 0.0) -> float:
    """Half a cosine from ``lr`` at step 0 down to ``lr · min_ratio`` at ``total_steps``."""
    progress = min(step / max(total_steps, 1), 1.0)
    floor = lr * min_ratio
    return floor + 0.5 * (lr - floor) * (1.0 + math.cos(math.pi * progress))


def make_schedule(kind: str, *, lr: float, total_steps: int, decay: float = 0.96,
                  every: int = 50, min_ratio: float = 0.0) -> Schedule:
    """The schedule ``kind`` (``exponential``, ``constant`` or ``cosine``) as ``step -> lr``."""
    if kind == "exponential":
        return partial(exponential_lr, lr=lr, decay=decay, every=every)
    if kind == "constant":
        return partial(constant_lr, lr=lr)
    if kind == "cosine":
        return partial(cosine_lr, lr=lr, total_steps=total_steps, min_ratio=min_ratio)
    raise ValueError(f"unknown schedule {kind!r}")
