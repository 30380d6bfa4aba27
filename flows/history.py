"""``mnist-flow history``: the last trainings of an artifacts folder, side by side.

One row per training in the run ledger (main flow or sweep point), oldest first: when, which
kind, which run, whether the weights came from cache, the settings that differ between the
rows shown, the accuracies, and short digests of the data and the training code. The ledger
is read from its end, only as far as the rows shown: a damaged line among those read is
skipped, with one ``warning:`` line on stderr for all of them, and the others are shown.
"""

from __future__ import annotations

import argparse
import sys

from tasks.core.errors import ConfigError
from tasks.core.ledger import LedgerEntry, ledger_path, read_entries

if __name__ == "__main__":  # the same as `mnist-flow history ...`
    from flows.cli import main

    sys.exit(main(["history", *sys.argv[1:]]))


def history_command(args: argparse.Namespace) -> None:
    """Print the history table of ``args.artifacts_dir``'s ledger."""
    from tasks.core.history_table import history_table, ledger_frame

    if args.last < 1:
        raise ConfigError(f"--last must be at least 1 (got {args.last})")
    path = ledger_path(args.artifacts_dir)

    def wanted(entry: LedgerEntry) -> bool:
        return ((args.kind is None or entry.kind == args.kind)
                and (args.dataset is None or entry.dataset == args.dataset))

    # One more than shown: whether there are older runs, without reading them all.
    entries = read_entries(path, last=args.last + 1, where=wanted, warn=_print_warning)
    if not entries:
        print(f"no runs recorded in {path} yet; run `mnist-flow` or `mnist-flow sweep` with "
              f"--artifacts-dir {args.artifacts_dir}")
        return
    shown = entries[-args.last:]
    print(history_table(ledger_frame([entry.model_dump(exclude={"promotion"})
                                      for entry in shown])))
    if len(shown) < len(entries):  # how many older ones there are is not read
        print(f"\nthe last {len(shown)} runs in {path}; --last N shows more")
    else:
        print(f"\n{len(shown)} of {len(entries)} runs in {path}")


def _print_warning(message: str) -> None:
    """The ledger reader's one warning, printed here rather than logged: a handler that some
    import put on the root logger (Prefect's does) would print it a second time."""
    print(f"warning: {message}", file=sys.stderr)
