"""The config models at every boundary: a valid config, or an error naming the field or key.

The pydantic models raise ``ValidationError`` (Prefect's parameter form shows it per field);
every entry point turns it into a :class:`ConfigError` whose message names the field.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import annotated_types
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from flows.cli import parse_args
from flows.options import config_from_args
from tasks.config import DataConfig, FlowConfig
from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.train_config import TrainConfig

FUZZ = settings(max_examples=150, deadline=None)


def _bounds(model: type, name: str) -> dict[str, float]:
    found = {}
    for item in model.model_fields[name].metadata:
        for kind in ("ge", "gt", "le", "lt"):
            if isinstance(item, getattr(annotated_types, kind.capitalize())):
                found[kind] = getattr(item, kind)
    return found


def _numeric_fields(model: type) -> list[tuple[str, str, float]]:
    """(field, bound kind, bound) for every bounded numeric field of ``model``."""
    return [(name, kind, value) for name in model.model_fields
            for kind, value in _bounds(model, name).items()]


def _is_int(model: type, name: str) -> bool:
    return "int" in str(model.model_fields[name].annotation)


def _inside_and_outside(model: type, name: str, kind: str, bound: float) -> tuple[Any, Any]:
    step = 1 if _is_int(model, name) else max(abs(bound) * 1e-9, 1e-12)
    inside = {"ge": bound, "le": bound, "gt": bound + step, "lt": bound - step}[kind]
    outside = {"ge": bound - step, "le": bound + step, "gt": bound, "lt": bound}[kind]
    return inside, outside


def _errors_name(error: ValidationError, name: str) -> bool:
    return any(name in [str(part) for part in problem["loc"]] for problem in error.errors())


def _train_base(name: str) -> dict[str, Any]:
    """Other fields such that ``name`` is usable: batch_size and epochs need a minibatch
    optimizer (``name`` itself is left out, the caller sets it)."""
    base = {"optimizer": "adam", "epochs": 1, "steps": None} if name in (
        "batch_size", "epochs") else {}
    base.pop(name, None)
    return base


@pytest.mark.parametrize(("name", "kind", "bound"), _numeric_fields(TrainConfig))
def test_every_train_field_boundary(name: str, kind: str, bound: float) -> None:
    inside, outside = _inside_and_outside(TrainConfig, name, kind, bound)
    base = _train_base(name)
    assert getattr(TrainConfig(**base, **{name: inside}), name) == inside
    with pytest.raises(ValidationError) as caught:
        TrainConfig(**base, **{name: outside})
    assert _errors_name(caught.value, name)
    # the same value through the flow's overrides is refused where it is given (the
    # overrides keep TrainConfig's bounds), naming train.<field>, not later in training()
    with pytest.raises(ValidationError) as caught:
        FlowConfig.model_validate({"train": {**base, name: outside}})
    assert f"train.{name}:" in describe_validation_error(caught.value)


@pytest.mark.parametrize(("name", "kind", "bound"), _numeric_fields(DataConfig))
def test_every_data_field_boundary(name: str, kind: str, bound: float) -> None:
    inside, outside = _inside_and_outside(DataConfig, name, kind, bound)
    assert getattr(DataConfig(**{name: inside}), name) == inside
    with pytest.raises(ValidationError) as caught:
        FlowConfig.model_validate({"data": {name: outside}})
    assert _errors_name(caught.value, name)
    assert f"data.{name}" in describe_validation_error(caught.value)


FLOAT_FIELDS = [name for name, field in TrainConfig.model_fields.items()
                if "float" in str(field.annotation)]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_non_finite_floats_are_refused(name: str, value: float) -> None:
    with pytest.raises(ValidationError) as caught:
        TrainConfig(**{name: value})
    assert _errors_name(caught.value, name)


def test_a_seed_numpy_cannot_take_is_refused() -> None:
    """RandomState seeds stop at 2**32 - 1: a bigger one must fail here, not mid-training."""
    assert TrainConfig(seed=2**32 - 1).seed == 2**32 - 1
    with pytest.raises(ValidationError, match="seed"):
        TrainConfig(seed=2**32)


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                   st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6),
                   st.lists(st.integers(), max_size=2))


@FUZZ
@given(name=st.sampled_from(sorted(TrainConfig.model_fields)), value=VALUES)
def test_any_value_for_any_train_field(name: str, value: Any) -> None:
    try:
        config = TrainConfig(**_train_base(name), **{name: value})
    except ValidationError as error:
        assert _errors_name(error, name) or error.errors()[0]["loc"] == ()
        return
    for number in config.model_dump().values():  # what validates is usable as it is
        if isinstance(number, float):
            assert math.isfinite(number)


KEY = st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1,
              max_size=12)


@FUZZ
@given(section=st.sampled_from(["", "train", "data"]), key=KEY)
def test_unknown_keys_are_rejected_with_the_key_named(section: str, key: str) -> None:
    model = {"": FlowConfig, "train": TrainConfig, "data": DataConfig}[section]
    if key in model.model_fields:
        return
    document: dict[str, Any] = {key: 1} if not section else {section: {key: 1}}
    with pytest.raises(ValidationError) as caught:
        FlowConfig.model_validate(document)
    message = describe_validation_error(caught.value)
    assert key in message and "Extra inputs are not permitted" in message
    if section == "train":
        with pytest.raises(ValidationError, match="Extra inputs"):
            TrainConfig(**{key: 1})


@pytest.mark.parametrize(("argv", "words"), [
    (["--lr", "0"], "train.lr"),
    (["--lr", "nan"], "train.lr"),
    (["--lr", "inf"], "train.lr"),
    (["--hidden", "0"], "train.hidden"),
    (["--hidden", "4097"], "train.hidden"),
    (["--seed", str(2**32)], "train.seed"),
    (["--decay", "1.5"], "train.decay"),
    (["--optimizer", "adam"], "epochs is required"),
    (["--batch-size", "8"], "batch_size must be 1"),
])
def test_command_line_values_become_config_errors(tmp_path: Path, argv: list[str],
                                                  words: str) -> None:
    args = parse_args([*argv, "--artifacts-dir", str(tmp_path)])
    with pytest.raises(ConfigError, match=words.replace(".", r"\.")):
        config_from_args(args)


def test_an_artifacts_dir_with_a_nul_byte_is_a_config_error() -> None:
    """Possible from the dashboard's parameter form, not from a shell."""
    args = parse_args([])
    args.artifacts_dir = Path("bad\0name")
    with pytest.raises(ConfigError, match="cannot create the artifacts directory"):
        config_from_args(args)
