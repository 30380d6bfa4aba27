"""Where a run's seconds go: a cold run and an all-cached run of the default flow, split up.

    python bench/profile_run.py [--mirror DIR] [--mode ephemeral|server]

Each run is one fresh ``python -X importtime flows/mnist_flow.py``-like process (the real CLI,
``flows.cli.main``), with timing shims wrapped around the pure functions each stage calls and
around Prefect's transaction (lock, record read, record write). The shims keep the wrapped
functions' names and modules, so the cache keys are the ones a plain run computes. Rows:

* interpreter and imports, with ``-X importtime``'s cumulative time of each heavy package
  (0 when the run never imported it);
* the flow's own start and finish (Prefect's temporary server in ephemeral mode, the flow run);
* per stage: its wall time, of which the stage's compute, hashing, plotting, report and
  artifacts, our cache key, Prefect's transaction, and the rest (state proposals, task run
  creation, logging): Prefect's per-task overhead.

Timings shift with the machine's load; compare columns of one run, not runs of two days.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import importlib.abc
import importlib.machinery
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
HEAVY_IMPORTS = ("prefect", "pyarrow", "pandas", "matplotlib", "PIL", "numpy", "pydantic")
# (module, attribute, category): what each stage does besides Prefect's bookkeeping.
# Tasks import their compute modules when they run, so most shims sit in tasks.core, put in
# place as each module is first imported (a cached run must still import none of them). The
# task-module entries are where older checkouts (--baseline) bound the same functions.
SHIMS = (
    ("tasks.stages.download", "fetch_dataset", "compute"),
    ("tasks.core.datasets", "preprocess_splits", "compute"),
    ("tasks.core.datasets", "load_split", "read splits"),
    ("tasks.core.intake", "run_intake", "compute"),
    ("tasks.core.train", "train_network", "compute"),
    ("tasks.core.checkpoint", "save_params", "compute"),
    ("tasks.core.checkpoint", "load_params", "compute"),
    ("tasks.core.metrics", "evaluate", "compute"),
    ("tasks.core.export", "write_history_csv", "compute"),
    ("tasks.core.export", "write_weights_csv", "compute"),
    ("tasks.core.export", "read_history_csv", "compute"),
    ("tasks.core.network", "predict", "compute"),
    ("tasks.core.promotion", "gate", "compute"),
    ("tasks.core.plots", "write_all_plots", "plotting"),
    ("tasks.data", "fetch_dataset", "compute"),
    ("tasks.data", "preprocess_dataset", "compute"),
    ("tasks.data", "preprocess_splits", "compute"),
    ("tasks.data", "load_split", "read splits"),
    ("tasks.splits", "load_split", "read splits"),
    ("tasks.model", "train_network", "compute"),
    ("tasks.model", "save_params", "compute"),
    ("tasks.model", "write_history_csv", "compute"),
    ("tasks.model", "load_params", "compute"),
    ("tasks.model", "evaluate_params", "compute"),
    ("tasks.report", "load_params", "compute"),
    ("tasks.report", "write_weights_csv", "compute"),
    ("tasks.report", "predict", "compute"),
    ("tasks.report", "read_history_csv", "compute"),
    ("tasks.report", "write_all_plots", "plotting"),
    ("tasks.report", "render_report", "report and artifacts"),
    ("tasks.report", "record_main_run", "report and artifacts"),
    ("tasks.report", "create_markdown_artifact", "report and artifacts"),
    ("tasks.report", "create_table_artifact", "report and artifacts"),
    ("tasks.model", "create_progress_artifact", "report and artifacts"),
    ("tasks.model", "update_progress_artifact", "report and artifacts"),
    ("tasks.engine.manifest", "sha256_file", "hashing"),
    ("tasks.engine.runner", "judge", "cache key (ours)"),  # the verdict before the task starts
    ("tasks.engine.cache.StageCachePolicy", "compute_key", "cache key (ours)"),
    ("tasks.stages.publish", "render_report", "report and artifacts"),
    ("tasks.stages.publish", "record_main_run", "report and artifacts"),
    ("tasks.stages.publish", "create_markdown_artifact", "report and artifacts"),
    ("tasks.stages.publish", "create_table_artifact", "report and artifacts"),
    ("tasks.stages.export", "render_report", "report and artifacts"),
    ("tasks.stages.train", "create_progress_artifact", "report and artifacts"),
    ("tasks.stages.train", "update_progress_artifact", "report and artifacts"),
    # where older checkouts (--baseline) bound them:
    ("tasks.cache", "sha256_file", "hashing"),
    ("tasks.manifest", "sha256_file", "hashing"),
    ("tasks.runner", "judge", "cache key (ours)"),
    ("tasks.cache.StageCachePolicy", "compute_key", "cache key (ours)"),
    ("prefect.transactions.Transaction", "begin", "transaction (lock, record)"),
    ("prefect.transactions.Transaction", "commit", "transaction (lock, record)"),
    ("prefect.transactions.Transaction", "read", "transaction (lock, record)"),
)
CATEGORIES = ("compute", "read splits", "hashing", "plotting", "report and artifacts",
              "cache key (ours)", "transaction (lock, record)")


# ---------------------------------------------------------------- the child: one timed run
class _Clock:
    """Exclusive seconds per (stage, category): a shim called inside another one (a progress
    artifact posted from inside training) counts for its own category only."""

    def __init__(self) -> None:
        self.seconds: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.stage_wall: dict[str, float] = {}
        self.stage = "flow"
        self._stack: list[list[Any]] = []  # [category, seconds spent in nested shims]

    def wrap(self, fn: Callable[..., Any], category: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def timed(*args: Any, **kwargs: Any) -> Any:
            if self._stack and self._stack[-1][0] == category:
                return fn(*args, **kwargs)  # recursion within one category: counted once
            self._stack.append([category, 0.0])
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - started
                nested = self._stack.pop()[1]
                self.seconds[self.stage][category] += elapsed - nested
                if self._stack:
                    self._stack[-1][1] += elapsed
        return timed

    @contextmanager
    def in_stage(self, name: str) -> Iterator[None]:
        self.stage, started = name, time.perf_counter()
        try:
            yield
        finally:
            self.stage_wall[name] = time.perf_counter() - started
            self.stage = "flow"


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Shims a module's functions as soon as it is first imported, and never imports it."""

    def __init__(self, pending: dict[str, list[tuple[str, str]]],
                 patch: Callable[[Any, str, str], None]) -> None:
        self.pending, self.patch = pending, patch

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        shims = self.pending.pop(name, None)
        if shims is None:
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        execute = spec.loader.exec_module

        def exec_module(module: Any) -> None:
            execute(module)
            for attribute, category in shims:
                self.patch(module, attribute, category)
        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _install(clock: _Clock) -> None:
    import flows.mnist_flow
    import tasks.engine.runner

    def patch(target: Any, attribute: str, category: str) -> None:
        if hasattr(target, attribute):  # an older checkout (--baseline) may not have it
            setattr(target, attribute, clock.wrap(getattr(target, attribute), category))

    later: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for owner, attribute, category in SHIMS:
        module_name, _, last = owner.rpartition(".")
        if last[:1].isupper():  # a class: patch the method for every instance
            patch(getattr(importlib.import_module(module_name), last), attribute, category)
        elif owner in sys.modules:
            patch(sys.modules[owner], attribute, category)
        else:
            later[owner].append((attribute, category))
    sys.meta_path.insert(0, _PatchOnImport(later, patch))
    run = tasks.engine.runner.StageRunner.run

    def run_in_stage(self: Any, stage: Any, **inputs: Any) -> Any:
        with clock.in_stage(stage.name):
            return run(self, stage, **inputs)
    tasks.engine.runner.StageRunner.run = run_in_stage  # type: ignore[method-assign]
    publish = flows.mnist_flow.publish

    def publish_in_stage(*args: Any, **kwargs: Any) -> Any:
        with clock.in_stage("publish"):
            return publish(*args, **kwargs)
    flows.mnist_flow.publish = publish_in_stage  # type: ignore[assignment]


def child(argv: list[str], report: Path, repo: Path) -> int:
    """Run ``repo``'s CLI on ``argv`` with shims; write the timings to ``report`` as JSON."""
    sys.path.insert(0, str(repo))
    from flows import cli

    for name, value in getattr(cli, "ENVIRONMENT", {}).items():  # as the console script does
        os.environ.setdefault(name, value)
    from flows.mnist_flow import mnist_flow

    clock = _Clock()
    _install(clock)
    flow_started = time.time()
    if len(inspect.signature(cli.main).parameters) == 1:  # main(argv), since issue 15
        status = cli.main(argv)
    else:  # an older checkout (--baseline): main(flow, argv)
        status = cli.main(mnist_flow, argv)
    report.write_text(json.dumps({
        "flow_started": flow_started, "flow_done": time.time(),
        "stage_wall": clock.stage_wall, "seconds": clock.seconds,
        "modules": sorted(name for name in sys.modules if "." not in name)}))
    return status


# ---------------------------------------------------------------- the parent: two runs, one table
_IMPORTTIME = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|\s*(\S+)")


def import_seconds(stderr: str) -> dict[str, float]:
    """Seconds the first import of each package took (its cumulative ``-X importtime``:
    itself and whatever it pulled in that was not loaded yet)."""
    found: dict[str, float] = {}
    for _self_us, cumulative_us, name in _IMPORTTIME.findall(stderr):
        found.setdefault(name, int(cumulative_us) / 1e6)
    return found


def run_once(repo: Path, args: list[str], env: dict[str, str], report: Path) -> dict[str, Any]:
    """One profiled process of ``repo``'s flow: its timings, wall and CPU seconds."""
    started, cpu = time.time(), os.times()
    done = subprocess.run([sys.executable, "-X", "importtime", __file__, "--child", str(report),
                           "--repo", str(repo), "--", *args], env=env, capture_output=True,
                          text=True, cwd=repo)
    ended, cpu_after = time.time(), os.times()
    name = report.stem
    if done.returncode != 0:
        sys.exit(f"profiled run failed ({name}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    timings = json.loads(report.read_text())
    timings.update(wall=ended - started, process_start=started, process_end=ended,
                   imports=import_seconds(done.stderr),
                   cpu=(cpu_after.children_user - cpu.children_user)
                   + (cpu_after.children_system - cpu.children_system))
    return timings


def table_rows(run: dict[str, Any]) -> list[tuple[str, str, float]]:
    """``(key, row name, seconds)`` of one run, in the table's order."""
    rows = [("total", "total wall time (process start to exit)", run["wall"]),
            ("cpu", "total CPU time (user + system, all threads)", run["cpu"])]
    startup = run["flow_started"] - run["process_start"]
    rows.append(("startup", "interpreter start and imports", startup))
    for name in HEAVY_IMPORTS:
        rows.append((f"import/{name}", f"  import {name}", run["imports"].get(name, 0.0)))
    staged = sum(run["stage_wall"].values())
    flow = run["flow_done"] - run["flow_started"]
    rows.append(("flow", "flow start/finish (server, flow run, summary)", flow - staged))
    for stage in run["stage_wall"]:  # in the order they ran
        wall = run["stage_wall"].get(stage, 0.0)
        parts = run["seconds"].get(stage, {})
        rows.append((stage, stage, wall))
        rows.extend((f"{stage}/{category}", f"  {category}", parts.get(category, 0.0))
                    for category in CATEGORIES)
        rows.append((f"{stage}/rest", "  Prefect task overhead (the rest)",
                     wall - sum(parts.values())))
    rows.append(("exit", "process exit (server stop, interpreter exit)",
                 run["process_end"] - run["flow_done"]))
    return rows


def print_table(runs: dict[str, dict[str, Any]]) -> None:
    """One markdown table: a row per part, a column per run (the first run's rows)."""
    first = next(iter(runs.values()))
    seconds = {name: {key: value for key, _, value in table_rows(run)}
               for name, run in runs.items()}
    names = [name for _, name, _ in table_rows(first)]
    width = max(len(name) for name in names)
    print(f"| {'part':<{width}} | " + " | ".join(f"{n} s" for n in runs) + " |")
    print(f"|{'-' * (width + 2)}|" + "|".join("-" * (len(n) + 3) + ":" for n in runs) + "|")
    for key, name, _ in table_rows(first):
        if "/" in key and not key.startswith("import/") and all(
                abs(seconds[n].get(key, 0.0)) < 0.005 for n in runs):
            continue  # a part this stage does not have in any run
        cells = [f"{seconds[n].get(key, 0.0):{len(n) + 2}.2f}" for n in runs]
        print(f"| {name:<{width}} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirror", default=os.environ.get("MNIST_MIRROR",
                                                           str(REPO.parent / "shared" / "mnist")))
    parser.add_argument("--mode", choices=("ephemeral", "server"), default="ephemeral")
    parser.add_argument("--baseline", type=Path, help="another checkout (say, `git archive "
                        "main`) profiled in the same run, in columns beside this one")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repo", type=Path, default=REPO, help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.child:
        sys.exit(child([a for a in rest if a != "--"], args.child, args.repo))
    sys.path.insert(0, str(REPO / "bench"))
    from bench_flow import empty_flow, floor_tasks, prefect_server, timed, write_bytecode

    checkouts = {"": REPO, **({"baseline ": args.baseline.resolve()} if args.baseline else {})}
    for repo in checkouts.values():
        write_bytecode(repo)
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as scratch_dir:
        scratch = Path(scratch_dir)
        env = {**os.environ, "PREFECT_HOME": str(scratch / "home"), "DO_NOT_TRACK": "1",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               # a loaded machine starts the temporary server in more than the default 20 s
               "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}
        env.pop("PREFECT_API_URL", None)
        (scratch / "empty.py").write_text(empty_flow())
        timed([sys.executable, str(scratch / "empty.py")], env)  # creates the database
        with (prefect_server(env) if args.mode == "server" else contextmanager(
                lambda: iter([""]))()) as url:
            if url:
                env["PREFECT_API_URL"] = url
            floor = timed([sys.executable, str(scratch / "empty.py")], env)
            for label, repo in checkouts.items():
                flow_args = ["--mirror", args.mirror, "--artifacts-dir",
                             str(scratch / f"artifacts-{len(runs)}")]
                for kind in ("cold", "cached"):
                    runs[f"{label}{kind}"] = run_once(repo, flow_args, env,
                                                      scratch / f"{label.strip()}{kind}.json")
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, {args.mode} mode; "
          f"empty {floor_tasks()}-task flow {floor:.2f} s\n")
    print_table(runs)
    print()
    for name, run in runs.items():
        libraries = ("numpy", "pyarrow", "pandas", "matplotlib", "PIL")
        loaded = [m for m in libraries if m in run["modules"]]
        print(f"{name} run imported: {', '.join(loaded) or 'none'} (of {', '.join(libraries)})")


if __name__ == "__main__":
    main()
