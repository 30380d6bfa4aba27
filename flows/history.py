"""``python flows/mnist_flow.py history``: the last runs of an artifacts folder, side by side.

One row per training in the run ledger (main flow or sweep point), oldest first: when, which
kind, which run, whether the weights came from cache, the settings that differ between the
rows shown, the accuracies, and short digests of the data and the training code.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from tasks.core.ledger import format_table, history_rows, ledger_path, read_entries


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python flows/mnist_flow.py history",
        description="Print the last trainings recorded in the run ledger and their accuracy "
                    "side by side (only the settings that differ between them are shown).")
    parser.add_argument("-n", "--last", type=int, default=10,
                        help="how many runs to show (default: 10)")
    parser.add_argument("--kind", choices=("main", "sweep"),
                        help="only runs of the main flow, or only sweep points")
    parser.add_argument("--dataset", help="only runs on this dataset")
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"),
                        help="the artifacts folder whose ledger to read (default: ./artifacts)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Print the history table; return the exit status (2 on a bad option)."""
    args = build_parser().parse_args(argv)
    if args.last < 1:
        print(f"error: --last must be at least 1 (got {args.last})", file=sys.stderr)
        return 2
    path = ledger_path(args.artifacts_dir)
    entries = [e for e in read_entries(path)
               if (args.kind is None or e.get("kind") == args.kind)
               and (args.dataset is None or e.get("dataset") == args.dataset)]
    if not entries:
        print(f"no runs recorded in {path} yet; run `python flows/mnist_flow.py` or "
              f"`python flows/sweep_flow.py` with --artifacts-dir {args.artifacts_dir}")
        return 0
    shown = entries[-args.last:]
    header, rows = history_rows(shown)
    print(format_table(header, rows))
    print(f"\n{len(shown)} of {len(entries)} runs in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
