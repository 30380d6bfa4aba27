"""The pipelines: stages in run order, and nothing else.

Everything about a stage is declared in its module (``tasks/stages/``); this file only says
which stages run and in what order. The flow runs ``MAIN``, the sweep runs ``DATA`` before its
points, and ``--force``, ``explain``, the tests and the dashboard's task graph all derive from
these tuples.
"""

from __future__ import annotations

from tasks.engine import stage as _stage
from tasks.engine.stage import Stage
from tasks.stages.download import download
from tasks.stages.evaluate import evaluate
from tasks.stages.export import export
from tasks.stages.intake import intake
from tasks.stages.preprocess import preprocess
from tasks.stages.promote import promote
from tasks.stages.publish import publish
from tasks.stages.train import train
from tasks.stages.validate import validate

MAIN: tuple[Stage, ...] = (download, preprocess, intake, validate, train, evaluate, export,
                           promote, publish)
DATA: tuple[Stage, ...] = MAIN[:2]


def stage_names() -> tuple[str, ...]:
    """The cached stages of ``MAIN`` in run order: the choices of ``--force``."""
    return _stage.stage_names(MAIN)


def find_stage(name: str) -> Stage:
    """The stage of ``MAIN`` called ``name``."""
    return _stage.find_stage(MAIN, name)
