"""The command line of ``python flows/mnist_flow.py``: options → FlowConfig → flow → summary.

Every error a user can cause ends here as one line on stderr and exit status 2, without a
traceback; a run interrupted by Ctrl-C or SIGTERM exits 130 (see flows/lifecycle.py).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import sys
import tempfile
import typing
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
from pydantic import ValidationError

from flows.lifecycle import guarded_run
from tasks.config import DataConfig, FlowConfig, describe_validation_error
from tasks.core.errors import ConfigError, MnistFlowError
from tasks.core.fetch import DEADLINE_FACTOR, MIN_RATE
from tasks.core.registry import DATASETS
from tasks.core.train_config import PRESET_DESCRIPTIONS, PRESETS, TrainConfig
from tasks.stages import stage_names

LOCAL_SERVER = "http://127.0.0.1:4200/api"
INTERRUPTED = "finished stages are kept, rerun to resume"

# `python flows/mnist_flow.py NAME ...` hands the rest of the command line to NAME's main().
SUBCOMMANDS = {
    "serve": ("flows.serve", "serve the flow with a cron schedule (scheduled retraining)"),
    "history": ("flows.history", "print the last runs and their accuracy side by side"),
}

# option -> TrainConfig field, for the hyperparameters a user may override one by one.
TRAIN_OPTIONS: dict[str, tuple[type, str]] = {
    "hidden": (int, "hidden ReLU units (original: 20)"),
    "lr": (float, "initial learning rate"),
    "l2": (float, "L2 penalty λ"),
    "decay": (float, "exponential schedule: multiply lr by this every --decay-every updates"),
    "decay_every": (int, "exponential schedule: updates between decays"),
    "schedule": (str, "learning-rate schedule"),
    "steps": (int, "updates to run (optimizers sgd and gd)"),
    "epochs": (int, "passes over the data (optimizers momentum and adam)"),
    "batch_size": (int, "samples per update (momentum and adam)"),
    "optimizer": (str, "sgd (single sample, the original), gd (full batch), momentum or adam "
                       "(minibatch)"),
    "seed": (int, "random seed; a new seed retrains even when nothing else changed"),
}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  {name:<9} {text}" for name, (_, text) in SUBCOMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="python flows/mnist_flow.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"subcommands (each with its own --help):\n{commands}",
        description="Download MNIST, preprocess it to Parquet, train the 784-20-10 numpy "
                    "network, evaluate it and export CSV weights and plots. Stages whose "
                    "inputs, parameters and code did not change come from cache.")
    add_config_options(parser)
    parser.add_argument("--explain", action="store_true",
                        help="say for each stage whether it would run or come from cache, and "
                             "why; run nothing")
    return parser


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """The options :func:`config_from_args` reads (shared with ``serve``)."""
    presets = "; ".join(f"{name}: {text}" for name, text in PRESET_DESCRIPTIONS.items())
    presets = presets.replace("%", "%%")  # argparse formats help with %
    parser.add_argument("--preset", default="original", choices=sorted(PRESETS),
                        help=f"training preset (default: original). {presets}")
    group = parser.add_argument_group("hyperparameters (each overrides the preset)")
    for name, (kind, text) in TRAIN_OPTIONS.items():
        annotation = TrainConfig.model_fields[name].annotation
        choices = typing.get_args(annotation) if kind is str else None
        group.add_argument("--" + name.replace("_", "-"), dest=name, type=kind, help=text,
                           choices=choices or None)
    parser.add_argument("--dataset", default="mnist", choices=sorted(DATASETS),
                        help="dataset (default: mnist)")
    variables = ", ".join(f"${spec.mirror_env} for {name}" for name, spec in DATASETS.items()
                          if spec.mirror_env)
    parser.add_argument("--mirror", help=f"one mirror instead of the public ones: an http(s):// "
                        f"or file:// URL or a folder holding the four .gz files "
                        f"(default: the dataset's own variable if set: {variables})")
    add_download_options(parser)
    parser.add_argument("--artifacts-dir", type=Path, default=Path("artifacts"),
                        help="where every output goes (default: ./artifacts)")
    parser.add_argument("--force", choices=stage_names(), metavar="STAGE",
                        help=f"rerun STAGE and every stage after it ({', '.join(stage_names())})")
    parser.add_argument("--verify", choices=("stat", "full"), default="stat",
                        help="how cached outputs are checked: stat (default) re-hashes only files "
                             "whose size, mtime or inode changed; full re-hashes every file")


def add_download_options(parser: argparse.ArgumentParser) -> None:
    """``--timeout`` and ``--retries``: how long a mirror may stall, how often it is retried."""
    fields = DataConfig.model_fields
    parser.add_argument("--timeout", type=float, default=fields["timeout"].default,
                        help=f"seconds a mirror may stay silent, and the window over which a "
                             f"download must average {MIN_RATE} bytes/s; one file may take "
                             f"{DEADLINE_FACTOR} times this (default: %(default)s)")
    parser.add_argument("--retries", type=int, default=fields["retries"].default,
                        help="attempts per mirror on transient failures (timeouts, stalls, "
                             "HTTP 5xx) before moving to the next mirror (default: %(default)s)")


def download_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The ``data`` section the download options describe."""
    return {"dataset": args.dataset, "mirror": args.mirror, "timeout": args.timeout,
            "retries": args.retries}


def config_from_args(args: argparse.Namespace) -> FlowConfig:
    """The FlowConfig the options describe; ConfigError naming the option if invalid."""
    overrides = {name: getattr(args, name) for name in TRAIN_OPTIONS
                 if getattr(args, name) is not None}
    try:
        config = FlowConfig.model_validate({
            "preset": args.preset, "train": overrides, "force": args.force,
            "verify": args.verify,
            "data": download_settings(args), "artifacts_dir": args.artifacts_dir,
        })
    except ValidationError as error:
        raise ConfigError(describe_validation_error(error)) from None
    config.training()  # the merged settings must be valid too, before any work starts
    check_artifacts_dir(config.artifacts_dir)
    return config


def check_artifacts_dir(path: Path) -> None:
    """The artifacts directory exists (or can be made) and is writable."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (OSError, ValueError) as error:  # ValueError: a NUL byte in the path
        reason = getattr(error, "strerror", None) or str(error)
        raise ConfigError(f"cannot create the artifacts directory {path}: {reason}; "
                          f"choose another with --artifacts-dir") from None
    if not path.is_dir() or not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise ConfigError(f"the artifacts directory {path} is not a writable folder; fix its "
                          f"permissions or choose another with --artifacts-dir")


def local_server_settings() -> contextlib.AbstractContextManager[Any]:
    """Point Prefect at a local server when one answers: ~3 s per run instead of ~11 s.

    A user's own ``PREFECT_API_URL`` (environment or Prefect profile) wins; with none and no
    server, Prefect starts its temporary (ephemeral) one as usual.
    """
    if get_current_settings().api.url:
        return contextlib.nullcontext()
    try:
        with urllib.request.urlopen(LOCAL_SERVER + "/health", timeout=0.3) as response:
            if response.status == 200:
                return temporary_settings(updates={PREFECT_API_URL: LOCAL_SERVER})
    except OSError:
        pass
    check_prefect_home()
    return contextlib.nullcontext()


def check_prefect_home() -> None:
    """Prefect's temporary server keeps its SQLite database in PREFECT_HOME: it must be writable,
    and the database, if present, must be a SQLite file.

    Without these checks an unwritable home costs ~25 s of server tracebacks before a timeout,
    and a damaged database ~40 s and some 280 lines of them.
    """
    settings = get_current_settings()
    url = settings.server.database.connection_url
    if url is not None and not url.get_secret_value().startswith("sqlite"):
        return
    home = Path(settings.home)
    try:
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as error:
        raise ConfigError(
            f"the Prefect home {home} is not a writable folder ({error.strerror}); Prefect's "
            f"temporary server keeps its database there. Set PREFECT_HOME to a writable folder, "
            f"or PREFECT_API_URL to a running Prefect server") from None
    if url is not None:
        check_sqlite_file(Path(url.get_secret_value().partition(":///")[2]))


_SQLITE_HEADER = b"SQLite format 3\x00"


def check_sqlite_file(path: Path) -> None:
    """``path`` is absent, empty, or a SQLite database (read without blocking on a FIFO)."""
    try:
        if not path.exists() or (path.is_file() and path.stat().st_size == 0):
            return
        header = b""
        if path.is_file():
            with open(path, "rb") as database:
                header = database.read(len(_SQLITE_HEADER))
    except OSError as error:
        header, reason = b"", error.strerror
    else:
        reason = "not a SQLite database"
    if header != _SQLITE_HEADER:
        raise ConfigError(
            f"Prefect's database {path} is {reason} (damaged, or replaced by another kind of "
            f"file); move it away and Prefect creates a new one (the dashboard's run history "
            f"is lost, the artifacts are not), or set PREFECT_API_URL to a running server")


class _NoTracebackForUserErrors(logging.Filter):
    """Prefect logs a task's exception with its traceback; ours carry a complete message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], MnistFlowError):
            record.exc_info, record.exc_text = None, None
        return True


_NO_TRACEBACK_FOR_USER_ERRORS = _NoTracebackForUserErrors()


def print_summary(result: dict[str, Any]) -> None:
    print(f"\ntest accuracy {result['test_accuracy']:.4f}   "
          f"train accuracy {result['train_accuracy']:.4f}")
    print(f"weights and plots: {result['model_dir']}  (also {result['latest']})")
    for stage in result["stages"]:
        print(f"  {stage['name']:<10} {stage['status']:<7} {stage['seconds']:7.2f} s")
    if result.get("note"):
        print(result["note"])


def main(flow: Callable[[FlowConfig], dict[str, Any]], argv: Sequence[str] | None = None) -> int:
    """Parse options, run ``flow`` (or explain it), print a summary; return the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        return importlib.import_module(SUBCOMMANDS[argv[0]][0]).main(argv[1:])
    args = build_parser().parse_args(argv)

    def work() -> None:
        config = config_from_args(args)
        if args.explain:
            from tasks.explain import explain, verification_line

            print(verification_line(config))
            for verdict in explain(config):
                print(verdict)
            return
        with local_server_settings(), guarded_run(interrupted=INTERRUPTED):
            result = flow(config)
        print_summary(result)

    return exit_status(work, interrupted=INTERRUPTED)


def exit_status(work: Callable[[], None], *, interrupted: str) -> int:
    """Run ``work``: 0 when it finishes; one line on stderr and 2 for a user's error (no
    traceback, in our output or Prefect's logs); 130 on Ctrl-C, saying what was kept."""
    for name in ("prefect.task_runs", "prefect.flow_runs"):
        logging.getLogger(name).addFilter(_NO_TRACEBACK_FOR_USER_ERRORS)  # added once
    try:
        work()
        return 0
    except MnistFlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"interrupted; {interrupted}", file=sys.stderr)
        return 130
