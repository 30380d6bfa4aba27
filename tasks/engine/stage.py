"""What a stage is: one declaration of its name, inputs, parameters, outputs and task.

Each stage module of a pipeline declares one :class:`Stage`; a pipeline is a tuple of them in
run order. The engine reads nothing else: the runner, ``explain`` and ``--force`` all derive
from the declarations they are given.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from prefect import Task

from tasks.engine.manifest import Manifest

Status = Literal["ran", "cached", "failed"]


class DeclarationError(Exception):
    """A stage's task does not match its declaration (a programming error: it keeps its
    traceback)."""


def _no_parameters(config: Any, layout: Any) -> dict[str, Any]:
    del config, layout
    return {}


@dataclass(frozen=True)
class Stage:
    """One stage of a pipeline, declared once.

    ``upstream`` maps a task argument to the stage whose manifest it receives.
    ``parameters(config, layout)`` builds the task's other arguments from the run's config;
    every one is part of the cache key except those named in ``unkeyed``. ``outputs`` names
    exactly the files the task records (the runner checks it). ``expected(layout)`` gives the
    manifest a stage is known to produce before it runs (``explain`` uses it), if any.

    ``still_stands(manifest, inputs)``, if given, is asked about a cached result before it is
    served: None keeps it, a reason reruns the stage (a fact outside the key changed, such as
    the production model a gate decided against). It is not part of the key, so an unchanged
    rerun stays all-cached.

    A stage with ``cached=False`` runs every time, after the stages before it, and receives
    their :class:`StageOutcome` records as ``outcomes``; its task's return value is passed on
    as it is (it records no manifest).
    """

    name: str
    task: Task[..., Any]
    upstream: Mapping[str, str] = field(default_factory=dict)
    parameters: Callable[[Any, Any], dict[str, Any]] = _no_parameters
    unkeyed: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    expected: Callable[[Any], Manifest] | None = None
    cached: bool = True
    still_stands: Callable[[Manifest, Mapping[str, Any]], str | None] | None = None

    def check_outputs(self, manifest: Manifest) -> Manifest:
        """``manifest`` if it names exactly the declared outputs; :class:`DeclarationError`
        otherwise (a task and its declaration that disagree are a bug, not a user's error)."""
        if set(manifest.outputs) != set(self.outputs):
            raise DeclarationError(f"stage {self.name!r} declares the outputs "
                                   f"{', '.join(self.outputs) or 'none'} but its task recorded "
                                   f"{', '.join(manifest.outputs) or 'none'}")
        return manifest


@dataclass(frozen=True)
class StageOutcome:
    """What happened to one stage in one run, and why it ran (empty when it came from cache)."""

    name: str
    status: Status
    seconds: float
    reason: str = ""

    @property
    def ran(self) -> bool:
        return self.status == "ran"

    @property
    def cached(self) -> bool:
        return self.status == "cached"


def stage_names(pipeline: tuple[Stage, ...]) -> tuple[str, ...]:
    """The cached stages of ``pipeline`` in run order: what ``--force`` and ``explain`` name."""
    return tuple(stage.name for stage in pipeline if stage.cached)


def find_stage(pipeline: tuple[Stage, ...], name: str) -> Stage:
    """The stage of ``pipeline`` called ``name``."""
    return next(stage for stage in pipeline if stage.name == name)
