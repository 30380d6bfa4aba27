"""The options of ``mnist-flow app``, apart from the command so that ``flows.cli`` imports
them without the command (which imports ``flows.cli`` to run as a script). No Prefect, no
web stack: building the parser stays cheap."""

from __future__ import annotations

import argparse

from flows.options import add_artifacts_option, add_field_options
from tasks.config import DataConfig
from tasks.core.registry import DATASETS
from tasks.serving.options import AppOptions


def app_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnist-flow app``, from :class:`AppOptions` and the shared ones."""
    add_field_options(parser, AppOptions, defaults=True)
    parser.add_argument("--dataset", default=DataConfig.model_fields["dataset"].default,
                        choices=sorted(DATASETS), help="whose production model to serve "
                        "(default: mnist)")
    add_artifacts_option(parser)
