"""The options of ``mnist-flow app``, apart from the command so that ``flows.cli`` imports
them without the command (which imports ``flows.cli`` to run as a script). No Prefect, no
web stack: building the parser stays cheap."""

from __future__ import annotations

import argparse

from flows.options import add_dataset_option, add_field_options
from tasks.serving.options import AppOptions


def app_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``mnist-flow app``, from :class:`AppOptions` and the shared ones."""
    add_field_options(parser, AppOptions, defaults=True)
    add_dataset_option(parser, "whose production model to serve")
