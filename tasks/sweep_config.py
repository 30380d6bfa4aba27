"""A sweep's one parameter: the base run, the search space, and the sweep's own options."""

from __future__ import annotations

from pydantic import Field, ValidationError

from tasks.config import FlowConfig, SweepOptions
from tasks.core.errors import ConfigError, describe_validation_error
from tasks.core.sweep import SearchSpace
from tasks.core.train_config import TrainConfig, apply_overrides


class SweepConfig(SweepOptions):
    """Everything one sweep needs: the base run, the search space, the split, the engine."""

    base: FlowConfig = Field(default_factory=lambda: FlowConfig(preset="fast"),
                             description="Preset, fixed overrides, data and artifacts folder.")
    space: SearchSpace

    def point_configs(self) -> list[TrainConfig]:
        """The base settings with each point's values, validated; ConfigError names the point."""
        fixed = {**self.base.train.model_dump(exclude_none=True),
                 "validation_size": self.validation_size}
        configs = []
        for point in self.space.points():
            try:
                configs.append(apply_overrides(self.base.preset, {**fixed, **point}))
            except ValidationError as error:
                raise ConfigError(f"sweep point {point} on preset {self.base.preset!r} is "
                                  f"not a valid training: "
                                  f"{describe_validation_error(error)}") from None
        return configs
