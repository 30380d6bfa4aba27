"""``mnist-flow production``: what is in production, and a repair for when it is damaged.

    mnist-flow production                 # model, since when, why, its accuracy, and the
                                          # last decisions (promotions and refusals)
    mnist-flow production repair          # rebuild a damaged production from what is left

No Prefect and no numpy: it reads the link, the record (:mod:`tasks.core.production`) and the
promotions log (:mod:`tasks.core.promotion_log`).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tasks.core.production import POINTER, read_production, repair_production
from tasks.core.promotion_log import read_decisions
from tasks.layout import Layout


def production_command(args: argparse.Namespace) -> None:
    """Print production's state, or repair it; ProductionDamagedError if it is damaged."""
    dataset_dir = Layout(Path(args.artifacts_dir).resolve(), args.dataset).dataset_dir
    if args.action == "repair":
        print(repair_production(dataset_dir))
        return
    lines = describe_production(dataset_dir)
    if args.last > 0:
        lines += describe_decisions(dataset_dir, args.last)
    print("\n".join(lines))


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


def describe_decisions(dataset_dir: Path, last: int) -> list[str]:
    """The last ``last`` decisions of the promotions log, newest first, one line each."""
    decisions = read_decisions(dataset_dir, last=last)
    if not decisions:
        return ["no decision logged yet"]
    lines = [f"last {len(decisions)} decisions, newest first:"]
    for entry in reversed(decisions):
        by = {"gate": "gate", "approval": "approval", "force": "by hand",
              "rollback": "rollback"}.get(str(entry.get("action")), str(entry.get("action")))
        lines.append(f"  {entry.get('decided_at', '?')!s:<25} {entry['outcome']:<8} "
                     f"{entry['candidate']}  ({by}) {entry.get('reason', '')}")
    return lines
