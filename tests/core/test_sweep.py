"""Search spaces, ranking and the champion rule."""

from __future__ import annotations

import math

import pytest

from tasks.core.errors import ConfigError
from tasks.core.sweep import (
    Dimension,
    SearchSpace,
    leaderboard_columns,
    parse_dimension,
    parse_value,
    rank_points,
    should_promote,
    split_mismatch,
    validation_split,
)


def space(*specs: str, **options: object) -> SearchSpace:
    return SearchSpace(dimensions=tuple(parse_dimension(s) for s in specs), **options)


def test_a_grid_is_the_product_in_a_fixed_order() -> None:
    assert space("lr=0.001,0.002", "hidden=20,32").points() == [
        {"lr": 0.001, "hidden": 20}, {"lr": 0.001, "hidden": 32},
        {"lr": 0.002, "hidden": 20}, {"lr": 0.002, "hidden": 32}]


def test_growing_a_grid_keeps_the_earlier_points() -> None:
    small = space("seed=1,2", "hidden=16").points()
    grown = space("seed=1,2,3", "hidden=16").points()
    assert grown[:2] == small and len(grown) == 3


def test_duplicate_values_give_one_point() -> None:
    assert space("hidden=16,16,20").points() == [{"hidden": 16}, {"hidden": 20}]


def test_random_draws_are_seeded_and_inside_their_ranges() -> None:
    specs = ("lr=log:0.0005..0.02", "hidden=16..64", "optimizer=adam,momentum")
    first = space(*specs, mode="random", draws=20, seed=7).points()
    assert first == space(*specs, mode="random", draws=20, seed=7).points()
    assert first != space(*specs, mode="random", draws=20, seed=8).points()
    for point in first:
        assert 0.0005 <= point["lr"] <= 0.02
        assert isinstance(point["hidden"], int) and 16 <= point["hidden"] <= 64
        assert point["optimizer"] in ("adam", "momentum")


def test_log_draws_spread_over_decades() -> None:
    points = space("lr=log:0.0001..0.1", mode="random", draws=200, seed=0).points()
    below = sum(p["lr"] < 0.001 for p in points)
    assert 30 < below < 110  # a third of the log range; uniform draws would give ~0


@pytest.mark.parametrize(("text", "value"), [("20", 20), ("0.01", 0.01), ("1e-3", 0.001),
                                             ("true", True), ("adam", "adam")])
def test_values_are_parsed_to_their_types(text: str, value: object) -> None:
    assert parse_value(text) == value and type(parse_value(text)) is type(value)


@pytest.mark.parametrize(("spec", "words"), [
    ("lr", "expected NAME=V1,V2"),
    ("speed=1,2", "cannot sweep 'speed'"),
    ("validation_size=100", "cannot sweep 'validation_size'"),
    ("lr=0.02..0.01", "is empty"),
    ("lr=log:0..0.01", "needs low > 0"),
    ("lr=a..b", "two numbers"),
])
def test_bad_dimensions_are_config_errors_naming_the_spec(spec: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        parse_dimension(spec)


def test_a_grid_rejects_ranges_and_oversized_products() -> None:
    with pytest.raises(ValueError, match="ranges are for random"):
        space("lr=0.001..0.01")
    many = tuple(Dimension(name=n, values=tuple(range(1, 12))) for n in ("hidden", "seed", "steps"))
    with pytest.raises(ValueError, match="more than"):
        SearchSpace(dimensions=many)


def test_random_mode_needs_a_number_of_draws() -> None:
    with pytest.raises(ValueError, match="needs draws"):
        space("hidden=16,32", mode="random")


def test_ranking_prefers_accuracy_then_lower_loss_then_order() -> None:
    rows = [{"point": "a", "validation_accuracy": 0.90, "validation_loss": 0.3},
            {"point": "b", "validation_accuracy": 0.95, "validation_loss": 0.2},
            {"point": "c", "validation_accuracy": 0.95, "validation_loss": 0.1},
            {"point": "d", "validation_accuracy": 0.90, "validation_loss": 0.3}]
    ranked = rank_points(rows)
    assert [r["point"] for r in ranked] == ["c", "b", "a", "d"]
    assert [r["rank"] for r in ranked] == [1, 2, 3, 4]


@pytest.mark.parametrize(("champion", "candidate", "moves"), [
    (None, 0.5, True), (0.95, 0.96, True), (0.95, 0.95, False), (0.95, 0.90, False)])
def test_the_champion_moves_only_when_beaten_on_validation(
        champion: float | None, candidate: float, moves: bool) -> None:
    current = None if champion is None else {"validation_accuracy": champion}
    # A higher test accuracy must not matter: the test set never chooses.
    assert should_promote(current, {"validation_accuracy": candidate,
                                    "test_accuracy": 1.0}) is moves


SPLIT = validation_split("a" * 64, 10_000)


@pytest.mark.parametrize(("champion_split", "reason"), [
    (validation_split("a" * 64, 5_000), "last 5000 training images, this sweep on the last 10000"),
    (validation_split("b" * 64, 10_000), "another version of the training data"),
    (None, "not recorded"),
])
def test_a_champion_scored_on_another_validation_split_is_not_compared(
        champion_split: dict | None, reason: str) -> None:
    champion = {"validation_accuracy": 0.90, "validation_split": champion_split}
    candidate = {"validation_accuracy": 0.99, "validation_split": SPLIT}
    assert should_promote(champion, candidate) is False
    assert reason in (split_mismatch(champion, candidate) or "")


def test_the_same_validation_split_compares_accuracies() -> None:
    champion = {"validation_accuracy": 0.90, "validation_split": dict(SPLIT)}
    assert split_mismatch(champion, {"validation_split": SPLIT}) is None
    assert should_promote(champion, {"validation_accuracy": 0.91, "validation_split": SPLIT})
    assert not should_promote(champion, {"validation_accuracy": 0.89, "validation_split": SPLIT})
    assert should_promote(None, {"validation_accuracy": 0.1, "validation_split": SPLIT})


def test_leaderboard_columns_put_swept_settings_and_scores_first() -> None:
    rows = [{"rank": 1, "lr": 0.1, "validation_accuracy": 0.9, "validation_loss": 0.3,
             "train_accuracy": 0.9, "status": "ran", "point": "x"}]
    assert leaderboard_columns(["lr"], rows) == [
        "rank", "lr", "validation_accuracy", "validation_loss", "train_accuracy", "point",
        "status"]
    assert math.isclose(rows[0]["lr"], 0.1)
