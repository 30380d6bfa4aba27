"""Hyperparameter sweeps, the pure part: search spaces, the leaderboard, the champion rule.

A search space is a few *dimensions*, each a training setting (a :class:`TrainConfig` field)
with either a list of values or a numeric range. ``grid`` mode takes the product of the value
lists; ``random`` mode draws N points from a seeded ``numpy.random.Generator`` (ranges drawn
uniformly, or log-uniformly for ``log:`` ranges), so the same seed always gives the same points.

Points are ranked on the accuracy of a validation split held out from the *training* set;
the test set never takes part in a choice. A champion is replaced only by a point that beats
its validation accuracy (a tie keeps the champion: moving costs a re-export and gains nothing).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.train_config import TrainConfig

Value = bool | int | float | str
MAX_POINTS = 1000
# Swept by the sweep itself, never by a dimension: the split every point is judged on.
RESERVED = ("validation_size",)
_RANDOM_DIGITS = 4  # random draws are rounded: readable in tables, same value in every key


class Dimension(BaseModel):
    """One swept setting: ``values`` to choose from, or a range ``low..high``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="A TrainConfig field, e.g. lr, hidden, l2, optimizer, seed.")
    values: tuple[Value, ...] | None = Field(None, min_length=1, description="Choices.")
    low: float | None = Field(None, description="Range start (random mode only).")
    high: float | None = Field(None, description="Range end (random mode only).")
    log: bool = Field(False, description="Draw log-uniformly between low and high.")

    @model_validator(mode="after")
    def _check(self) -> Dimension:
        if self.name not in TrainConfig.model_fields or self.name in RESERVED:
            known = ", ".join(n for n in TrainConfig.model_fields if n not in RESERVED)
            raise ValueError(f"cannot sweep {self.name!r}; sweepable settings: {known}")
        if (self.values is None) == (self.low is None or self.high is None):
            raise ValueError(f"{self.name}: give either values or a range low..high")
        if self.low is not None and self.high is not None:
            if self.low > self.high:
                raise ValueError(f"{self.name}: range {self.low}..{self.high} is empty")
            if self.log and self.low <= 0:
                raise ValueError(f"{self.name}: a log range needs low > 0 (got {self.low})")
        return self

    @property
    def integer(self) -> bool:
        """Whether drawn values must be whole numbers (the field is an int)."""
        return "int" in str(TrainConfig.model_fields[self.name].annotation)

    def draw(self, rng: np.random.Generator) -> Value:
        """One value: a uniform choice among ``values``, else a point of the range."""
        if self.values is not None:
            return self.values[int(rng.integers(len(self.values)))]
        assert self.low is not None and self.high is not None
        if self.log:
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            value = rng.uniform(self.low, self.high)
        if self.integer:
            return round(value)
        return float(f"{value:.{_RANDOM_DIGITS}g}")


class SearchSpace(BaseModel):
    """The points of a sweep: the grid of all value combinations, or ``draws`` random ones."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    mode: Literal["grid", "random"] = "grid"
    draws: int | None = Field(None, ge=1, le=MAX_POINTS, description="Random mode: points.")
    seed: int = Field(0, ge=0, description="Random mode: seed of the draws.")

    @model_validator(mode="after")
    def _check(self) -> SearchSpace:
        names = [d.name for d in self.dimensions]
        if len(set(names)) != len(names):
            raise ValueError(f"a setting is swept twice: {', '.join(names)}")
        if self.mode == "random" and self.draws is None:
            raise ValueError("random mode needs draws (the number of points)")
        if self.mode == "grid":
            ranged = [d.name for d in self.dimensions if d.values is None]
            if ranged:
                raise ValueError(f"a grid needs value lists; {', '.join(ranged)} is a range "
                                 f"(ranges are for random draws)")
            size = math.prod(len(d.values or ()) for d in self.dimensions)
            if size > MAX_POINTS:
                raise ValueError(f"the grid has {size} points, more than {MAX_POINTS}; "
                                 f"use random draws")
        return self

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.dimensions]

    def points(self) -> list[dict[str, Value]]:
        """Every point as ``{setting: value}``, in a fixed order, duplicates dropped."""
        if self.mode == "grid":
            lists = [d.values or () for d in self.dimensions]
            raw = [dict(zip(self.names, combo, strict=True)) for combo in itertools.product(*lists)]
        else:
            rng = np.random.default_rng(self.seed)
            assert self.draws is not None
            raw = [{d.name: d.draw(rng) for d in self.dimensions} for _ in range(self.draws)]
        unique: dict[tuple[tuple[str, Value], ...], dict[str, Value]] = {}
        for point in raw:
            unique.setdefault(tuple(point.items()), point)
        return list(unique.values())


def parse_value(text: str) -> Value:
    """``"20"`` → 20, ``"0.01"`` → 0.01, ``"true"`` → True, anything else stays a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def parse_dimension(spec: str) -> Dimension:
    """``lr=0.001,0.002`` (values), ``lr=0.0005..0.01`` or ``lr=log:0.0005..0.01`` (range)."""
    name, sep, body = spec.partition("=")
    if not sep or not name.strip() or not body.strip():
        raise ConfigError(f"sweep dimension {spec!r}: expected NAME=V1,V2,... or NAME=LOW..HIGH "
                          f"(e.g. lr=0.001,0.002 or lr=log:0.0005..0.01)")
    name, body = name.strip(), body.strip()
    log = body.startswith("log:")
    body = body.removeprefix("log:")
    try:
        if ".." in body:
            low, high = (float(part) for part in body.split("..", 1))
            return Dimension(name=name, low=low, high=high, log=log)
        return Dimension(name=name, values=tuple(parse_value(v) for v in body.split(",")))
    except ValidationError as error:
        raise ConfigError(f"sweep dimension {spec!r}: "
                          f"{describe_validation_error(error)}") from None
    except ValueError:
        raise ConfigError(f"sweep dimension {spec!r}: a range needs two numbers, "
                          f"LOW..HIGH") from None


# ---------------------------------------------------------------- leaderboard and champion
def rank_points(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows sorted best first, each with a ``rank`` (1 = best).

    Each row needs ``validation_accuracy`` and ``validation_loss``. Higher accuracy wins; equal
    accuracies go to the lower validation loss, then to the earlier point (a stable order).
    """
    order = sorted(range(len(rows)), key=lambda i: (-float(rows[i]["validation_accuracy"]),
                                                     float(rows[i]["validation_loss"]), i))
    return [{"rank": rank, **rows[i]} for rank, i in enumerate(order, start=1)]


def validation_split(train_sha256: str, validation_size: int) -> dict[str, Any]:
    """What a validation accuracy was measured on: the last ``validation_size`` rows of the
    training split whose file has ``train_sha256``."""
    return {"train_sha256": train_sha256, "validation_size": int(validation_size)}


def split_mismatch(champion: Mapping[str, Any] | None,
                   candidate: Mapping[str, Any]) -> str | None:
    """Why the two validation accuracies do not compare (None when they do, or no champion).

    Both records carry ``validation_split`` (:func:`validation_split`); a champion crowned
    before splits were recorded has none and compares with nothing.
    """
    if champion is None:
        return None
    theirs, ours = champion.get("validation_split"), candidate.get("validation_split")
    if theirs == ours:
        return None
    if not theirs:
        return "the champion's validation split was not recorded"
    if theirs["train_sha256"] != ours["train_sha256"]:
        return "the champion was scored on another version of the training data"
    return (f"the champion was scored on the last {theirs['validation_size']} training images, "
            f"this sweep on the last {ours['validation_size']}")


def should_promote(champion: Mapping[str, Any] | None, candidate: Mapping[str, Any]) -> bool:
    """Whether ``candidate`` replaces ``champion``: only by beating its validation accuracy
    measured on the same validation split (:func:`split_mismatch`).

    Both carry ``validation_accuracy`` and ``validation_split``; no champion yet means the
    candidate takes the place. Accuracies on different splits do not compare, so the
    champion stays: the sweep says why, and removing the champion link lets the next win.
    """
    if champion is None:
        return True
    if split_mismatch(champion, candidate) is not None:
        return False
    return float(candidate["validation_accuracy"]) > float(champion["validation_accuracy"])


def leaderboard_columns(swept: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Column order of the leaderboard: rank, the swept settings, the scores, then the rest."""
    first = ["rank", *swept, "validation_accuracy", "validation_loss", "train_accuracy"]
    rest = sorted({key for row in rows for key in row} - set(first))
    return [c for c in first if any(c in row for row in rows)] + rest
