"""The training config: validation of combinations and the named presets."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from tasks.core.errors import ConfigError
from tasks.core.train_config import PRESETS, TrainConfig, get_preset


def test_defaults_are_the_original() -> None:
    original = get_preset("original")
    assert original == TrainConfig()
    assert (original.hidden, original.lr, original.l2, original.steps) == (20, 0.01, 0.1, 5001)
    assert (original.decay, original.decay_every, original.seed) == (0.96, 50, 1)
    assert original.optimizer == "sgd" and original.dtype == "float64"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_a_valid_config(name: str) -> None:
    assert TrainConfig.model_validate(get_preset(name).model_dump()) == get_preset(name)


def test_unknown_preset_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"full-batch.*original"):
        get_preset("quick")


@pytest.mark.parametrize(("update", "field"), [
    ({"optimizer": "sgd", "steps": None}, "steps"),
    ({"optimizer": "gd", "steps": None}, "steps"),
    ({"optimizer": "adam", "epochs": None}, "epochs"),
    ({"optimizer": "sgd", "batch_size": 32}, "batch_size"),
    ({"lr": 0.0}, "lr"),
    ({"hidden": 0}, "hidden"),
    ({"decay": 1.5}, "decay"),
    ({"colour": "red"}, "colour"),
])
def test_inconsistent_settings_name_the_field(update: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        TrainConfig(**update)


def test_config_is_frozen() -> None:
    with pytest.raises(ValidationError):
        get_preset("fast").lr = 1.0  # type: ignore[misc]


def test_overrides_merge_onto_the_preset_in_one_place() -> None:
    from tasks.core.train_config import apply_overrides

    merged = apply_overrides("fast", {"lr": 0.005, "epochs": 2})
    assert (merged.optimizer, merged.lr, merged.epochs) == ("adam", 0.005, 2)
    with pytest.raises(ConfigError, match="unknown training preset 'nope'"):
        apply_overrides("nope", {})
    with pytest.raises(ValidationError, match="epochs is required"):
        apply_overrides("original", {"optimizer": "adam"})


def test_the_flow_and_a_sweep_word_one_problem_alike() -> None:
    """One merge and one formatter: the same bad setting reads the same from both."""
    from tasks.config import FlowConfig
    from tasks.core.sweep import Dimension, SearchSpace
    from tasks.sweep_config import SweepConfig

    with pytest.raises(ConfigError) as flow_error:
        FlowConfig(preset="original", train={"optimizer": "adam"}).training()
    space = SearchSpace(dimensions=(Dimension(name="optimizer", values=("adam",)),))
    with pytest.raises(ConfigError) as sweep_error:
        SweepConfig(base=FlowConfig(preset="original"), space=space).point_configs()
    problem = "epochs is required for optimizer 'adam'; set epochs"
    assert problem in str(flow_error.value) and problem in str(sweep_error.value)
    assert str(sweep_error.value).startswith("sweep point {'optimizer': 'adam'} on preset "
                                             "'original' is not a valid training: ")
