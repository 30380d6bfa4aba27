"""How fast the command line answers, against a bare Python start measured in the same run.

    python bench/bench_startup.py [--repeat N] [--rows N]

Each measurement is one process, timed from start to exit, as a user waits for it; each
figure is the best of ``--repeat`` runs, the commands interleaved so that a slow moment of
the machine hits them all. The baseline is ``python -c pass`` with the same interpreter.
``history`` reads an artifacts folder whose run ledger has ``--rows`` lines shaped like real
ones (:func:`tasks.core.ledger.make_entry`), generated in a temporary folder.

Targets (issue 21): ``mnist-flow --help`` and ``mnist-flow history`` within 0.3 s of the
baseline (the parser imports no Prefect), and ``history`` over 20,000 ledger lines under 1 s.
``mnist-flow run --help`` lists the stages, so it imports the pipeline (and Prefect): shown
for comparison, no target.
"""

from __future__ import annotations

import argparse
import compileall
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
STARTUP_TARGET = 0.3  # seconds over the bare interpreter
HISTORY_TARGET = 1.0  # seconds for history over 20,000 lines


def write_ledger(artifacts: Path, rows: int) -> None:
    """``rows`` ledger lines as runs and sweeps append them: every setting, varied lr and
    seed, three accuracies, library versions, digests."""
    from tasks.core.ledger import append_entry, ledger_path, make_entry
    from tasks.core.train_config import PRESETS

    versions = {"numpy": "2.4.6", "pyarrow": "22.0.0", "prefect": "3.6.5", "pillow": "12.0.0"}
    for i in range(rows):
        preset = ("original", "fast", "full-batch")[i % 3]
        settings = PRESETS[preset].model_copy(update={"lr": round(0.001 + i * 1e-7, 7),
                                                      "seed": i % 5}).model_dump()
        append_entry(ledger_path(artifacts), make_entry(
            kind="sweep" if i % 4 else "main", run=f"bench-run-{i}", dataset="mnist",
            parameters=settings, data="0123456789abcdef", code=f"{i % 7:x}" * 64,
            versions=versions, metrics={"test_accuracy": 0.9 + (i % 50) / 1000,
                                        "train_accuracy": 0.91, "validation_accuracy": 0.9},
            cached=i % 2 == 0, model_dir=artifacts / "mnist" / "models" / f"{i:012x}",
            preset=preset))


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"benchmark command failed: {' '.join(argv)}\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per command (best taken)")
    parser.add_argument("--rows", type=int, default=20_000, help="ledger lines for history")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    for package in ("tasks", "flows"):  # a user's second start finds the bytecode
        compileall.compile_dir(REPO / package, quiet=1)
    cli = str(Path(sys.executable).with_name("mnist-flow"))
    with tempfile.TemporaryDirectory() as scratch:
        empty, full = Path(scratch) / "empty", Path(scratch) / "full"
        started = time.perf_counter()
        write_ledger(full, args.rows)
        print(f"wrote a {args.rows:,}-line ledger "
              f"({(full / 'ledger.jsonl').stat().st_size / 1e6:.1f} MB) "
              f"in {time.perf_counter() - started:.1f} s")
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "mnist-flow --help": [cli, "--help"],
            "mnist-flow history (no ledger)": [cli, "history", "--artifacts-dir", str(empty)],
            f"mnist-flow history ({args.rows:,} lines)": [cli, "history", "--artifacts-dir",
                                                         str(full)],
            "mnist-flow run --help": [cli, "run", "--help"],
        }
        for argv in commands.values():  # warm the disk cache: every run measured is a rerun
            timed(argv)
        seconds: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, argv in commands.items():
                seconds[name].append(timed(argv))
    best = {name: min(runs) for name, runs in seconds.items()}
    bare = best["python -c pass"]
    print(f"\n{'command':<36} {'best s':>7} {'- bare s':>9} {'x bare':>7}")
    for name, value in best.items():
        print(f"{name:<36} {value:7.3f} {value - bare:+9.3f} {value / bare:7.1f}")
    print(f"\nbest of {args.repeat}; {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    history = best[f"mnist-flow history ({args.rows:,} lines)"]
    verdicts = {
        f"--help within bare + {STARTUP_TARGET} s":
            best["mnist-flow --help"] - bare <= STARTUP_TARGET,
        f"history (no ledger) within bare + {STARTUP_TARGET} s":
            best["mnist-flow history (no ledger)"] - bare <= STARTUP_TARGET,
        f"history ({args.rows:,} lines) under {HISTORY_TARGET} s": history < HISTORY_TARGET,
    }
    for target, met in verdicts.items():
        print(f"target {target}: {'met' if met else 'MISSED'}")


if __name__ == "__main__":
    main()
