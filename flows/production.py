"""``mnist-flow production``: what is in production, and a repair for when it is damaged.

    mnist-flow production                 # model, since when, why, its accuracy
    mnist-flow production repair          # rebuild a damaged production from what is left

No Prefect and no numpy: it reads the link and the record (:mod:`tasks.core.production`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.core.production import POINTER, read_production, repair_production
from tasks.layout import Layout


def production_command(args: argparse.Namespace) -> None:
    """Print production's state, or repair it; ProductionDamagedError if it is damaged."""
    dataset_dir = Layout(Path(args.artifacts_dir).resolve(), args.dataset).dataset_dir
    if args.action == "repair":
        print(repair_production(dataset_dir))
        return
    print("\n".join(describe_production(dataset_dir)))


def describe_production(dataset_dir: Path) -> list[str]:
    """The lines ``mnist-flow production`` prints for ``dataset_dir``."""
    record = read_production(dataset_dir)
    if record is None:
        return [f"nothing is in production for {dataset_dir.name} yet; the next run's model "
                f"is promoted as the first"]
    test = "" if record.test_accuracy is None else f" (test split {record.test_accuracy:.4f})"
    before = ("nothing" if record.previous is None else
              f"{record.previous}" + ("" if record.previous_accuracy is None
                                      else f" ({record.previous_accuracy:.4f})"))
    return [f"production of {dataset_dir.name}: {dataset_dir / POINTER} -> {record.path}",
            f"  model      {record.model}",
            f"  since      {record.promoted_at}",
            f"  accuracy   {record.accuracy:.4f}{test}",
            f"  why        {record.reason} (policy {record.policy})",
            f"  replaced   {before}"]
