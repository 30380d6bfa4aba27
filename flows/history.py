"""``mnist-flow history``: the last trainings of an artifacts folder, side by side.

One row per training in the run ledger (main flow or sweep point), oldest first: when, which
kind, which run, whether the weights came from cache, the settings that differ between the
rows shown, the accuracies, and short digests of the data and the training code. A damaged
line of the ledger is skipped with a warning; the others are shown.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Iterator

from tasks.core.errors import ConfigError
from tasks.core.ledger import __name__ as ledger_module
from tasks.core.ledger import ledger_path, read_entries

if __name__ == "__main__":  # the same as `mnist-flow history ...`
    from flows.cli import main

    sys.exit(main(["history", *sys.argv[1:]]))


def history_command(args: argparse.Namespace) -> None:
    """Print the history table of ``args.artifacts_dir``'s ledger."""
    from tasks.core.tables import history_table, ledger_frame

    if args.last < 1:
        raise ConfigError(f"--last must be at least 1 (got {args.last})")
    path = ledger_path(args.artifacts_dir)
    with _warnings_on_stderr():
        entries = [e for e in read_entries(path)
                   if (args.kind is None or e.get("kind") == args.kind)
                   and (args.dataset is None or e.get("dataset") == args.dataset)]
    if not entries:
        print(f"no runs recorded in {path} yet; run `mnist-flow` or `mnist-flow sweep` with "
              f"--artifacts-dir {args.artifacts_dir}")
        return
    shown = entries[-args.last:]
    print(history_table(ledger_frame(shown)))
    print(f"\n{len(shown)} of {len(entries)} runs in {path}")


@contextlib.contextmanager
def _warnings_on_stderr() -> Iterator[None]:
    """The ledger reader's warnings (a skipped line) as ``warning: ...`` lines on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("warning: %(message)s"))
    logger = logging.getLogger(ledger_module)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
