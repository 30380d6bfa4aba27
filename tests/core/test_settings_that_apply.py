"""Which settings each training reads, as the fields declare it, checked against the training
loops themselves: a setting declared unread changes no bit of the trained weights, a setting
declared read changes them. Overrides a training ignores are refused; presets may carry them."""

from __future__ import annotations

import typing
from typing import Any

import numpy as np
import pytest
from pydantic import ValidationError

from tasks.core.train import train_network
from tasks.core.train_config import (
    PRESETS,
    TrainConfig,
    apply_overrides,
    read_only_by_rule,
    reads,
)

RULED = [name for name in TrainConfig.model_fields if read_only_by_rule(name) is not None]
# A second valid value of each ruled setting, one that changes a 4-update training when read
# (the base below decays every update, so decay and decay_every act from the second update).
OTHER_VALUE = {"weight_decay": 0.5, "decay": 0.5, "decay_every": 2, "min_lr_ratio": 0.9,
               "steps": 5, "epochs": 2, "batch_size": 3, "momentum": 0.3, "beta2": 0.5,
               "eps": 0.5}


def _choices(selector: str) -> tuple[str, ...]:
    return typing.get_args(TrainConfig.model_fields[selector].annotation)


def _config(selector: str, value: str, **update: Any) -> TrainConfig:
    """A tiny training with ``selector`` = ``value``: 4 updates, decaying every update."""
    settings: dict[str, Any] = {"hidden": 3, "lr": 0.5, "l2": 0.01, "steps": 4, "epochs": 1,
                                "decay_every": 1, "eval_every": 100,
                                "history_train_samples": None, "seed": 3, selector: value}
    # sgd takes one sample an update; the others 16 samples in batches of 4, 4 updates an epoch
    settings["batch_size"] = 1 if settings.get("optimizer", "sgd") == "sgd" else 4
    return TrainConfig(**{**settings, **update})


def _weights(config: TrainConfig) -> np.ndarray:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((16, 784)).astype(np.float32)
    y = rng.integers(0, 10, 16).astype(np.uint8)
    params = train_network(X, y, X[:4], y[:4], config).params
    return np.concatenate([array.ravel() for array in params.values()])


def test_every_rule_names_a_choice_field_and_its_own_values() -> None:
    assert set(RULED) == set(OTHER_VALUE)
    for name in RULED:
        rule = read_only_by_rule(name)
        assert rule is not None and rule.values, name
        assert set(rule.values) <= set(_choices(rule.selector)), name
        if rule.instead:  # what the others read in its place is read by all of them
            other = read_only_by_rule(rule.instead)
            assert other is not None and other.selector == rule.selector
            assert set(other.values) | set(rule.values) == set(_choices(rule.selector))


@pytest.mark.parametrize("name", RULED)
def test_a_setting_changes_the_weights_exactly_when_it_is_declared_read(name: str) -> None:
    rule = read_only_by_rule(name)
    assert rule is not None
    for value in _choices(rule.selector):
        base = _config(rule.selector, value)
        if name == "batch_size" and base.optimizer == "sgd":
            continue  # read, and held to 1: there is no second value to try
        changed = base.model_copy(update={name: OTHER_VALUE[name]})
        same = np.array_equal(_weights(base), _weights(changed))
        assert same != reads(base, name), (
            f"{name} with {rule.selector} {value}: declared "
            f"{'read' if reads(base, name) else 'unread'}, but the weights "
            f"{'did not change' if same else 'changed'}")


@pytest.mark.parametrize(("preset", "overrides", "words"), [
    ("fast", {"steps": 10}, "steps does not apply to optimizer adam (preset fast), which "
                            "trains for epochs; use epochs instead"),
    ("original", {"epochs": 2}, "epochs does not apply to optimizer sgd (preset original), "
                                "which trains for steps; use steps instead"),
    ("original", {"momentum": 0.5}, "momentum does not apply to optimizer sgd (preset "
                                    "original): only optimizer momentum or adam reads it; leave "
                                    "momentum out, or choose optimizer momentum or adam"),
    ("fast", {"optimizer": "momentum", "beta2": 0.9}, "beta2 does not apply to optimizer "
                                                      "momentum: only optimizer adam reads it"),
    ("full-batch", {"batch_size": 64}, "batch_size does not apply to optimizer gd (preset "
                                       "full-batch): only optimizer sgd, momentum or adam"),
    ("fast", {"decay": 0.5}, "decay does not apply to schedule cosine (preset fast): only "
                             "schedule exponential reads it"),
    ("original", {"min_lr_ratio": 0.1}, "min_lr_ratio does not apply to schedule exponential"),
])
def test_an_override_the_training_ignores_is_refused(preset: str, overrides: dict[str, Any],
                                                     words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        apply_overrides(preset, overrides)
    assert words in str(caught.value)


@pytest.mark.parametrize(("preset", "overrides"), [
    *((name, {}) for name in PRESETS),                # a preset carries what it likes
    ("fast", {"optimizer": "momentum"}),              # fast's beta2 and eps: set by the preset
    ("fast", {"optimizer": "sgd", "steps": 100, "batch_size": 1}),
    ("fast", {"schedule": "exponential", "decay": 0.5, "epochs": 2, "momentum": 0.8}),
    ("original", {"optimizer": "adam", "epochs": 1, "batch_size": 32, "beta2": 0.99}),
])
def test_settings_the_training_reads_and_the_presets_own_are_accepted(
        preset: str, overrides: dict[str, Any]) -> None:
    merged = apply_overrides(preset, overrides)
    assert all(getattr(merged, name) == value for name, value in overrides.items())


def test_without_overrides_nothing_is_refused() -> None:
    """Stored configs (a model's config.json, a ledger line) validate as they are."""
    stored = PRESETS["fast"].model_copy(update={"optimizer": "sgd", "batch_size": 1,
                                                "steps": 10}).model_dump()
    assert TrainConfig.model_validate(stored).epochs == 10  # unread, and kept as recorded
