"""Command-line options generated from the config models: one source for every option.

An option's type, choices, bounds and help text are read from its pydantic field
(:class:`TrainConfig`, :class:`DataConfig`, :class:`FlowConfig`), so ``mnist-flow run --help``
and ``mnist-flow sweep --help`` say the same words for the same option, and a field added to a
model is one more option with no table to update. Nothing here imports Prefect.
"""

from __future__ import annotations

import argparse
import os
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import annotated_types
from pydantic import BaseModel, ValidationError

from tasks.config import DataConfig, FlowConfig, RetrainingConfig
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


def field_help(model: type[BaseModel], name: str, *, default: bool = False) -> str:
    """The field's description, its bounds, and (``default``) its default, argparse-escaped."""
    field = model.model_fields[name]
    bounds = [f"{sign} {getattr(m, type_.__name__.lower())}" for m in field.metadata
              for type_, sign in _BOUNDS if isinstance(m, type_)]
    text = (field.description or "").rstrip(".")
    text += f" ({', '.join(bounds)})" if bounds else ""
    if default and field.default is not None:
        text += f" (default: {field.default})"
    return text.replace("%", "%%")


def add_field_options(group: Any, model: type[BaseModel], names: Iterable[str], *,
                      defaults: bool = False) -> None:
    """One option per field of ``model`` in ``names``, unset (None) unless given."""
    for name in names:
        kind, choices = _value_type(model.model_fields[name].annotation)
        group.add_argument(flag(name), dest=name, type=kind, choices=choices or None,
                           metavar=None if choices else _METAVARS.get(kind),
                           help=field_help(model, name, default=defaults))


# ---------------------------------------------------------------- the shared option groups
SWEEP_OWNS = ("validation_size",)  # a sweep's own option: the points' held-out rows


def add_training_options(parser: argparse.ArgumentParser, *, preset_default: str,
                         exclude: tuple[str, ...] = ()) -> None:
    """``--preset`` and one option per TrainConfig field, each overriding the preset."""
    presets = "; ".join(f"{name}: {text}" for name, text in PRESET_DESCRIPTIONS.items())
    parser.add_argument("--preset", default=preset_default, choices=sorted(PRESETS),
                        help="training preset (default: %(default)s). "
                             + presets.replace("%", "%%"))
    group = parser.add_argument_group("training settings (each overrides the preset)")
    add_field_options(group, TrainConfig,
                      [n for n in TrainConfig.model_fields if n not in exclude])


def add_data_options(parser: argparse.ArgumentParser) -> None:
    """Which data, from where, and where every output goes: the same for every subcommand."""
    group = parser.add_argument_group("data and outputs")
    group.add_argument("--dataset", default="mnist", choices=sorted(DATASETS),
                       help=field_help(DataConfig, "dataset", default=True))
    add_field_options(group, DataConfig, ("mirror", "timeout", "retries"), defaults=True)
    add_artifacts_option(group)


def add_artifacts_option(group: Any) -> None:
    group.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"), metavar="DIR",
                       help=field_help(FlowConfig, "artifacts_dir", default=True))


def add_cache_options(parser: argparse.ArgumentParser) -> None:
    """``--force`` (its choices are the stage table's names) and ``--verify``."""
    from tasks.stages import stage_names  # the stage table imports the tasks, hence Prefect

    names = stage_names()
    parser.add_argument("--force", choices=names, metavar="STAGE",
                        help=f"{field_help(FlowConfig, 'force')} ({', '.join(names)})")
    add_field_options(parser, FlowConfig, ("verify",), defaults=True)


def add_retraining_options(parser: argparse.ArgumentParser) -> None:
    """``--incoming``, ``--promote``, ``--promote-tolerance``: new images and the gate."""
    group = parser.add_argument_group("retraining (docs/retraining.md)")
    group.add_argument("--incoming", type=Path, metavar="DIR",
                       help=field_help(RetrainingConfig, "incoming"))
    add_field_options(group, RetrainingConfig, ("promote",), defaults=True)
    group.add_argument("--promote-tolerance", dest="tolerance", type=float, metavar="X",
                       help=field_help(RetrainingConfig, "tolerance", default=True))


# ---------------------------------------------------------------- options → config
def flow_document(args: argparse.Namespace, fixed: dict[str, Any] | None = None,
                  ) -> dict[str, Any]:
    """The FlowConfig the options describe, as a document to validate; ``fixed`` training
    settings (a sweep's ``--set``) go under the options."""
    train = {**(fixed or {}), **{name: getattr(args, name) for name in TrainConfig.model_fields
                                 if getattr(args, name, None) is not None}}
    data = {name: getattr(args, name) for name in DataConfig.model_fields
            if getattr(args, name, None) is not None}
    retraining = {name: getattr(args, name) for name in RetrainingConfig.model_fields
                  if getattr(args, name, None) is not None}
    return {"preset": args.preset, "train": train, "data": data,
            "artifacts_dir": args.artifacts_dir, "retraining": retraining,
            **{name: getattr(args, name) for name in ("force", "verify")
               if getattr(args, name, None) is not None}}


def config_from_args(args: argparse.Namespace) -> FlowConfig:
    """The FlowConfig the options describe; ConfigError naming the option if invalid."""
    config = validate(FlowConfig, flow_document(args))
    config.training()  # the merged settings must be valid too, before any work starts
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
