"""Command-line options generated from the config models: one source for every option.

An option's flag, type, choices, bounds, help text and default are read from its pydantic field
(:class:`TrainConfig`, the sections of :class:`FlowConfig`, :class:`SweepOptions`,
:class:`ServeOptions`), so ``mnist-flow run --help`` and ``mnist-flow sweep --help`` say the
same words for the same option, and a field added to a model is one more option, one more
entry of the flow's parameter schema and (through the stage that reads its section) one more
input of a cache key, with no table to update. A field's ``json_schema_extra`` may name its
``flag`` (``--promote-min-gain``), ``metavar`` or ``enum`` (the choices). Options are unset
(None) unless given, so every default is the model's. Nothing here imports Prefect.
"""

from __future__ import annotations

import argparse
import functools
import os
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import annotated_types
from pydantic import BaseModel, ValidationError

from tasks.config import DataConfig, FlowConfig
from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.registry import DATASETS
from tasks.core.train_config import PRESET_DESCRIPTIONS, PRESETS, TrainConfig

_METAVARS = {int: "N", float: "X"}
M = TypeVar("M", bound=BaseModel)
_BOUNDS = ((annotated_types.Ge, "≥"), (annotated_types.Gt, ">"), (annotated_types.Le, "≤"),
           (annotated_types.Lt, "<"))


def flag(name: str) -> str:
    """``batch_size`` → ``--batch-size``."""
    return "--" + name.replace("_", "-")


def _value_type(annotation: Any) -> tuple[type, tuple[str, ...]]:
    """The type argparse converts to, and the choices of a ``Literal``; ``X | None`` is X."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) is typing.Literal:
        return str, tuple(args)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return _value_type(args[0])
    return annotation, ()


def _extra(model: type[BaseModel], name: str) -> dict[str, Any]:
    extra = model.model_fields[name].json_schema_extra
    return extra if isinstance(extra, dict) else {}


def field_flag(model: type[BaseModel], name: str) -> str:
    """The option of field ``name``: its ``flag`` extra, else ``--name-with-dashes``."""
    return str(_extra(model, name).get("flag", flag(name)))


def field_help(model: type[BaseModel], name: str, *, default: bool = False) -> str:
    """The field's description, its bounds, and (``default``) its default, argparse-escaped."""
    field = model.model_fields[name]
    bounds = [f"{sign} {getattr(m, type_.__name__.lower())}" for m in field.metadata
              for type_, sign in _BOUNDS if isinstance(m, type_)]
    text = (field.description or "").rstrip(".")
    text += f" ({', '.join(bounds)})" if bounds else ""
    if default and field.default is not None and not field.is_required():
        text += f" (default: {field.default})"
    return text.replace("%", "%%")


def add_field_options(group: Any, model: type[BaseModel], names: Iterable[str] | None = None,
                      *, defaults: bool = False, exclude: Iterable[str] = (),
                      preset: bool = False) -> None:
    """One option per field of ``model`` (those in ``names``, all by default, less
    ``exclude``), unset (None) unless given, or (``preset``) set to the field's default; a
    field without a default is a required option. ``defaults``: the help names the default."""
    for name in names if names is not None else model.model_fields:
        if name in exclude:
            continue
        field, extra = model.model_fields[name], _extra(model, name)
        kind, choices = _value_type(field.annotation)
        choices = choices or tuple(extra.get("enum", ()))
        options: dict[str, Any] = {"dest": name, "help": field_help(model, name, default=defaults)}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            options.update(type=kind, choices=choices or None,
                           metavar=None if choices else extra.get("metavar", _METAVARS.get(kind)))
        if field.is_required():
            options["required"] = True
        elif preset:
            options["default"] = field.default
        group.add_argument(field_flag(model, name), **options)


# ---------------------------------------------------------------- the shared option groups
SWEEP_OWNS = ("validation_size",)  # a sweep's own option: the points' held-out rows


def _sections(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """The fields of ``model`` that are sections (models of their own), by name."""
    return {name: field.annotation for name, field in model.model_fields.items()
            if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel)}


def add_training_options(parser: argparse.ArgumentParser, *, preset_default: str,
                         exclude: tuple[str, ...] = ()) -> None:
    """``--preset`` and one option per TrainConfig field, each overriding the preset."""
    presets = "; ".join(f"{name}: {text}" for name, text in PRESET_DESCRIPTIONS.items())
    parser.add_argument("--preset", default=preset_default, choices=sorted(PRESETS),
                        help="training preset (default: %(default)s). "
                             + presets.replace("%", "%%"))
    group = parser.add_argument_group("training settings (each overrides the preset)")
    add_field_options(group, TrainConfig, exclude=exclude)


def add_section_options(parser: argparse.ArgumentParser, section: str) -> Any:
    """One option per field of the FlowConfig section ``section`` (``data``, ``retraining``),
    in a group titled by the section model; returns the group."""
    model = _sections(FlowConfig)[section]
    group = parser.add_argument_group(model.model_config.get("title") or section)
    add_field_options(group, model, defaults=True)
    return group


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Which data, from where, and where every output goes: the same for every subcommand."""
    add_artifacts_option(add_section_options(parser, "data"))


def add_dataset_option(group: Any, whose: str) -> None:
    """``--dataset`` (a registered dataset, mnist by default) and ``--artifacts-dir``: where a
    subcommand finds ``whose`` (e.g. "whose production model to serve")."""
    group.add_argument("--dataset", default=DataConfig.model_fields["dataset"].default,
                       choices=sorted(DATASETS), help=f"{whose} (default: mnist)")
    add_artifacts_option(group)


def add_artifacts_option(group: Any) -> None:
    """``--artifacts-dir``, always set (to FlowConfig's default unless given): every
    subcommand reads or writes there."""
    add_field_options(group, FlowConfig, ("artifacts_dir",), defaults=True, preset=True)


class StageNames(Sequence[str]):
    """The pipeline's cached stages (:func:`tasks.pipeline.stage_names`), looked up on first
    use: the stage modules import Prefect (~1 s), which building the parser must not cost
    (``mnist-flow --help``, ``mnist-flow history``). argparse reads a choices container only to
    check a given value, to list the choices in an error, and to expand ``%(choices)s`` in a
    help text that is being shown."""

    @functools.cached_property
    def _names(self) -> tuple[str, ...]:
        from tasks.pipeline import stage_names

        return tuple(stage_names())

    @typing.overload
    def __getitem__(self, index: int) -> str: ...
    @typing.overload
    def __getitem__(self, index: slice) -> Sequence[str]: ...
    def __getitem__(self, index: int | slice) -> str | Sequence[str]:
        return self._names[index]

    def __len__(self) -> int:
        return len(self._names)


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    """``--force`` (its choices are the pipeline's cached stages) and ``--verify``."""
    parser.add_argument("--force", choices=StageNames(), metavar="STAGE",
                        help=f"{field_help(FlowConfig, 'force')} (%(choices)s)")
    add_field_options(parser, FlowConfig, ("verify",), defaults=True)


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Everything a run of the flow takes: training, every FlowConfig section, the cache."""
    add_training_options(parser, preset_default="original")
    add_data_options(parser)
    add_cache_options(parser)
    for section in _sections(FlowConfig):
        if section not in ("train", "data"):
            add_section_options(parser, section)


# ---------------------------------------------------------------- options → config
def given(args: argparse.Namespace, model: type[BaseModel]) -> dict[str, Any]:
    """The fields of ``model`` that the options set (not None)."""
    return {name: getattr(args, name) for name in model.model_fields
            if getattr(args, name, None) is not None}


def flow_document(args: argparse.Namespace, fixed: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    """The FlowConfig the options describe, as a document to validate; ``fixed`` training
    settings (a sweep's ``--set``) go under the options."""
    sections = _sections(FlowConfig)
    document: dict[str, Any] = {name: given(args, model) for name, model in sections.items()
                                if name != "train"}
    document["train"] = {**(fixed or {}), **given(args, TrainConfig)}
    scalars = {name for name in FlowConfig.model_fields if name not in sections}
    document.update({name: value for name, value in vars(args).items()
                     if name in scalars and value is not None})
    return document


def config_from_args(args: argparse.Namespace) -> FlowConfig:
    """The FlowConfig the options describe; ConfigError naming the option if invalid."""
    config = validate(FlowConfig, flow_document(args))
    # the merged settings must be valid too, before any work starts; named as options
    config.training(spell=functools.partial(field_flag, TrainConfig))
    check_artifacts_dir(config.artifacts_dir)
    return config


def validate(model: type[M], document: dict[str, Any]) -> M:
    """``model`` from ``document``; ConfigError with every problem named on one line."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ConfigError("invalid configuration: " + describe_validation_error(error)) from None


def check_artifacts_dir(path: Path) -> None:
    """The artifacts directory exists (or can be made) and is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot create the artifacts directory {path}: {reason}; "
                          f"choose another with --artifacts-dir") from None
    if not path.is_dir() or not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(f"the artifacts directory {path} is not a writable folder; fix its "
                          f"permissions or choose another with --artifacts-dir")
