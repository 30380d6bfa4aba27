"""The flow's one parameter: a pydantic model with a section per stage.

It is what the command line builds, what a deployment stores and what the dashboard's
"Run with parameters" form edits. Training settings are a named preset plus optional
overrides, so `--lr 0.05` on the command line and `lr: 0.05` in the form mean the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from tasks.core.errors import ConfigError
from tasks.core.registry import DATASETS
from tasks.core.train_config import PRESETS, TrainConfig

MIRROR_ENV = "MNIST_MIRROR"

# Every TrainConfig field, optional and unset by default: one source for the field list.
TrainOverrides = create_model(
    "TrainOverrides",
    __config__=ConfigDict(extra="forbid", frozen=True),
    **{
        name: (Optional[field.annotation], Field(None, description=field.description))  # noqa: UP045
        for name, field in TrainConfig.model_fields.items()
    },
)


class DataConfig(BaseModel):
    """Where the dataset comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str = Field("mnist", description="Dataset to train on.")
    mirror: str | None = Field(
        None, description=f"One mirror to use instead of the defaults: an http(s):// or file:// "
        f"URL, or a folder holding the four .gz files. Unset: the dataset's variable "
        f"(${MIRROR_ENV} for mnist), then the dataset's default mirrors.")
    timeout: float = Field(30.0, gt=0, le=600,
                           description="Seconds before a stalled request fails.")
    retries: int = Field(3, ge=0, le=10, description="Retries per mirror on transient failures.")

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, name: str) -> str:
        if name not in DATASETS:
            raise ValueError(f"unknown dataset {name!r}; known: {', '.join(sorted(DATASETS))}")
        return name

    def resolved_mirror(self) -> str | None:
        """The user's mirror: this field, else the dataset's own variable (``$MNIST_MIRROR``
        for mnist, ``$FASHION_MNIST_MIRROR`` for fashion-mnist), else None (the defaults).

        A variable never applies to another dataset: an MNIST folder would fail the Fashion
        digests and, being the user's mirror, would replace the packaged copy.
        """
        env = DATASETS[self.dataset].mirror_env
        return self.mirror or (os.environ.get(env) if env else None) or None


class FlowConfig(BaseModel):
    """Everything one run of the pipeline needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = Field("original", description=f"Training preset: {', '.join(PRESETS)}.")
    train: TrainOverrides = Field(  # type: ignore[valid-type]
        default_factory=TrainOverrides, description="Overrides of single preset settings.")
    data: DataConfig = Field(default_factory=DataConfig)
    artifacts_dir: Path = Field(Path("artifacts"), description="Root of every output.")
    force: str | None = Field(
        None, description="Rerun this stage and every stage after it, ignoring the cache.")
    verify: Literal["stat", "full"] = Field(
        "stat", description="How a cached stage's outputs are checked: stat re-hashes only "
        "files whose size, mtime or inode changed; full re-hashes every file.")

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str) -> str:
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; known: {', '.join(PRESETS)}")
        return name

    def training(self) -> TrainConfig:
        """The preset with the overrides applied, validated as one TrainConfig."""
        overrides = self.train.model_dump(exclude_none=True)
        merged = {**PRESETS[self.preset].model_dump(), **overrides}
        try:
            return TrainConfig.model_validate(merged)
        except ValidationError as error:
            raise ConfigError(describe_validation_error(error, prefix="train.")) from None

    def forced_stages(self, names: Sequence[str]) -> tuple[str, ...]:
        """The stage named by ``force`` and every stage after it, in the run order ``names``
        (the stage table's, which imports this module)."""
        if self.force is None:
            return ()
        if self.force not in names:
            raise ConfigError(f"invalid configuration: force: unknown stage {self.force!r}; "
                              f"known: {', '.join(names)}")
        return tuple(names[list(names).index(self.force):])


def describe_validation_error(error: ValidationError, *, prefix: str = "") -> str:
    """One line per problem, each naming the field: ``train.lr: must be > 0 (got -1)``."""
    lines = []
    for problem in error.errors():
        where = prefix + ".".join(str(part) for part in problem["loc"]) if problem["loc"] else ""
        found = f" (got {problem['input']!r})" if problem["type"] != "missing" else ""
        message = problem["msg"].removeprefix("Value error, ")
        lines.append(f"{where}: {message}{found}" if where else message)
    return "invalid configuration: " + "; ".join(lines)
