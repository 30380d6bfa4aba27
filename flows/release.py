"""``mnist-flow release``: bring a quarantined file back; the next run trains on it.

    mnist-flow release --list                       # what is in quarantine, and why
    mnist-flow release 3/bad-0042.png               # move it back to the intake folder

The validate stage moved the file aside (docs/validation.md); a person who looked at it and
trusts it releases it: it returns to ``<incoming>/<class>/<name>`` and no check refuses it
again. No Prefect and no numpy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.core.errors import ConfigError
from tasks.core.quarantine import describe_table, read_table, release
from tasks.layout import Layout


def release_command(args: argparse.Namespace) -> None:
    """List the quarantine, or release ``args.files``; ReleaseError names a file not held."""
    quarantine_dir = Layout(Path(args.artifacts_dir).resolve(), args.dataset).quarantine_dir
    if args.list:
        table = read_table(quarantine_dir)
        for line in describe_table(table):
            print(line)
        print(f"{len(table)} files in {quarantine_dir}")
        return
    if not args.files:
        raise ConfigError("release: name the files to release (see `mnist-flow release "
                          "--list`)")
    incoming = Path(args.incoming).resolve() if args.incoming else None
    for line in release(quarantine_dir, [Path(file) for file in args.files], incoming):
        print(line, flush=True)
