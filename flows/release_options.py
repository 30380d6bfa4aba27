"""Options of ``mnist-flow release`` (Prefect-free, so ``--help`` stays instant)."""

from __future__ import annotations

import argparse

from flows.options import add_dataset_option


def add_release_options(parser: argparse.ArgumentParser) -> None:
    """``FILE...``, ``--list``, ``--incoming``, ``--dataset``, ``--artifacts-dir``."""
    parser.add_argument("files", nargs="*", metavar="FILE",
                        help="quarantined files to move back into the intake folder, as a path "
                             "into <artifacts>/<dataset>/quarantine/files/ or as <class>/<name>")
    parser.add_argument("--list", action="store_true",
                        help="print every file in quarantine and why, release nothing")
    parser.add_argument("--incoming", metavar="DIR",
                        help="intake folder to move the files into (default: the one each "
                             "came from)")
    add_dataset_option(parser, "whose quarantine")
