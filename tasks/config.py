"""The flow's one parameter: a pydantic model with a section per stage.

It is what the command line builds, what a deployment stores and what the dashboard's
"Run with parameters" form edits. Training settings are a named preset plus optional
overrides, so `--lr 0.05` on the command line and `lr: 0.05` in the form mean the same thing.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic.fields import FieldInfo

if TYPE_CHECKING:
    from tasks.core.gate_rules import Thresholds

from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.pace import DEADLINE_FACTOR, MIN_RATE
from tasks.core.registry import DATASETS
from tasks.core.train_config import PRESETS, TrainConfig, apply_overrides
from tasks.core.validation_config import ValidationConfig

MIRROR_ENV = "MNIST_MIRROR"


def _optional(field: FieldInfo) -> tuple[Any, FieldInfo]:
    """``field`` as an unset-by-default override that keeps its bounds and description."""
    # ge/le/gt/lt apply when a value is set; a field without bounds has no metadata
    checked = Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
    return Optional[checked], Field(None, description=field.description)  # noqa: UP045


# Every TrainConfig field, optional and unset by default, with TrainConfig's bounds: a bad
# value is refused where it is given (`train.lr`), in the dashboard's form as on the command
# line. One source for the field list.
TrainOverrides = create_model(
    "TrainOverrides",
    __config__=ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False),
    **{name: _optional(field) for name, field in TrainConfig.model_fields.items()},
)


class DataConfig(BaseModel):
    """Where the dataset comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="data and outputs")

    dataset: str = Field("mnist", description="Dataset to train on.",
                         json_schema_extra={"enum": sorted(DATASETS)})
    mirror: str | None = Field(
        None, description=f"One mirror to use instead of the defaults: an http(s):// or file:// "
        f"URL, or a folder holding the four .gz files. Unset: the dataset's variable "
        f"(${MIRROR_ENV} for mnist), then the dataset's default mirrors.")
    timeout: float = Field(
        30.0, gt=0, le=600,
        description=f"Seconds a mirror may stay silent, and the window over which a download "
        f"must average {MIN_RATE:,} bytes/s; one file may take {DEADLINE_FACTOR} times this.")
    retries: int = Field(3, ge=0, le=10, description="Attempts per mirror on transient failures "
                         "(timeouts, stalls, HTTP 5xx) before moving to the next mirror.")

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


class RetrainingConfig(BaseModel):
    """New labelled images and the gate that decides what reaches production."""

    model_config = ConfigDict(extra="forbid", frozen=True,
                              title="retraining (docs/retraining.md)")

    incoming: Path | None = Field(
        None, description="Intake folder of new labelled images, <incoming>/<class>/<name>.png "
        "(ImageFolder layout). Unset: <artifacts_dir>/<dataset>/incoming. Missing or empty: "
        "no new data.", json_schema_extra={"metavar": "DIR"})
    promote: Literal["if-better", "always", "never", "ask"] = Field(
        "if-better", description="When a new model replaces production: if-better (a "
        "significant paired gain above the margin, no class's recall dropping past the "
        "limit), always, never, or ask (if-better's advice, then a person approves in the "
        "dashboard).")
    significance: float = Field(
        0.05, gt=0, le=1, description="Largest p-value of McNemar's one-sided exact test "
        "(candidate better, on the images the two models disagree on) that promotes.",
        json_schema_extra={"flag": "--promote-significance"})
    min_gain: float = Field(
        0.1, ge=0, le=100, description="Accuracy gain, in points, a candidate needs over "
        "production to be promoted under if-better.",
        json_schema_extra={"flag": "--promote-min-gain"})
    max_class_drop: float = Field(
        2.0, ge=0, le=100, description="Largest drop, in points, of any one class's recall "
        "that a promoted candidate may have.",
        json_schema_extra={"flag": "--promote-max-class-drop"})
    approval_timeout: float = Field(
        86400.0, gt=0, le=30 * 86400, description="Seconds the ask policy waits for a "
        "person's answer before rejecting the candidate.",
        json_schema_extra={"flag": "--approval-timeout"})

    def gate(self) -> RetrainingConfig:
        """The settings the promotion gate reads: all but the intake folder, so a new field
        here enters the gate's cache key by itself, and a moved intake folder does not."""
        return self.model_copy(update={"incoming": None})

    def thresholds(self) -> Thresholds:
        """The if-better rules' settings, for :func:`tasks.core.promotion.gate`."""
        from tasks.core.gate_rules import Thresholds  # numpy: not at import of the config

        return Thresholds(self.significance, self.min_gain, self.max_class_drop)


class FlowConfig(BaseModel):
    """Everything one run of the pipeline needs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = Field("original", description=f"Training preset: {', '.join(PRESETS)}.")
    train: TrainOverrides = Field(  # type: ignore[valid-type]
        default_factory=TrainOverrides, description="Overrides of single preset settings.")
    data: DataConfig = Field(default_factory=DataConfig)
    retraining: RetrainingConfig = Field(default_factory=RetrainingConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    artifacts_dir: Path = Field(Path("artifacts"), description="Root of every output.",
                                json_schema_extra={"metavar": "DIR"})
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

    def training(self, *, spell: Callable[[str], str] = "train.{}".format) -> TrainConfig:
        """The preset with the overrides applied, validated as one TrainConfig; an override
        the training would ignore is refused, named by ``spell`` (``--steps`` on the command
        line; ``train.steps``, the form's name, by default)."""
        try:
            return apply_overrides(self.preset, self.train.model_dump(exclude_none=True),
                                   spell=spell)
        except ValidationError as error:
            raise ConfigError("invalid configuration: "
                              + describe_validation_error(error, prefix="train.")) from None

    def forced_stages(self, names: Sequence[str]) -> tuple[str, ...]:
        """The stage named by ``force`` and every stage after it, in the run order ``names``
        (the pipeline's cached stages, :func:`tasks.pipeline.stage_names`)."""
        if self.force is None:
            return ()
        if self.force not in names:
            raise ConfigError(f"invalid configuration: force: unknown stage {self.force!r}; "
                              f"known: {', '.join(names)}")
        return tuple(names[list(names).index(self.force):])


class SweepOptions(BaseModel):
    """A sweep's own options (the rest of a sweep is a run's config and a search space)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    validation_size: int = Field(10_000, ge=1, description="Last N training rows held out to "
                                 "rank points on; the test set is never used to choose.")
    engine: Literal["threads", "dask"] = Field(
        "threads", description="Where points run: a thread pool, or a local Dask cluster on "
        "127.0.0.1 (needs `pip install 'mnist-flow[dask]'`).")
    dask_address: str | None = Field(
        None, description="An existing Dask scheduler (tcp://HOST:8786) to run points on; its "
        "workers must see the artifacts folder at the same path.")
    workers: int = Field(2, ge=1, le=256, description="Threads, or local Dask worker processes.")


class ServeOptions(BaseModel):
    """How ``mnist-flow serve`` schedules the flow."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: str = Field(description='When to retrain, as a cron expression, e.g. "0 3 * * 0".')
    timezone: str = Field("UTC", description="IANA time zone the cron expression is read in.")
    name: str = Field("scheduled-retraining", min_length=1, description="Deployment name; "
                      "trigger a run with `prefect deployment run 'mnist-flow/NAME'`.")

