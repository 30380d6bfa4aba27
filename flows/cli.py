"""``mnist-flow``: one command with subcommands, shared options defined once, one way to end.

    mnist-flow                          # run: the original project, exactly
    mnist-flow --preset fast            # run is the default subcommand
    mnist-flow explain --lr 0.05        # what would rerun, and why; runs nothing
    mnist-flow serve --cron "0 3 * * 0" # scheduled retraining
    mnist-flow sweep --grid lr=0.001,0.002 --epochs 1
    mnist-flow predict --weights artifacts/latest digit.png
    mnist-flow history
    mnist-flow promote MODEL_ID --reason "hotfix"   # or: rollback
    mnist-flow app                      # the production model over HTTP

Every subcommand ends through :func:`exit_status`: 0 on success; one ``error:`` line on stderr
and 2 for anything the user can fix, a mistyped option included (:class:`Parser`); one line
saying what was kept and 130 on Ctrl-C or SIGTERM. This module imports neither Prefect nor
pandas, and neither does building the parser: :func:`main` sets the environment first, then
each subcommand imports what it needs.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import NoReturn

from flows.app_options import app_options
from flows.options import (
    SWEEP_OWNS,
    add_artifacts_option,
    add_data_options,
    add_dataset_option,
    add_field_options,
    add_run_options,
    add_training_options,
)
from flows.promotion_commands import production_options, promote_options, rollback_options
from flows.release_options import add_release_options
from tasks.config import ServeOptions, SweepOptions
from tasks.core.errors import MnistFlowError

PROG = "mnist-flow"
# Set by the entry point, never at import: offline, Prefect's telemetry call fails noisily, and
# Arrow's default allocator (mimalloc) spends ~0.6 s warming up for a run's one large Parquet
# write (bench/bench_flow.py). A user's own setting wins.
ENVIRONMENT = {"DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
               "ARROW_DEFAULT_MEMORY_POOL": "system"}


@dataclass(frozen=True)
class Command:
    """A subcommand: where its work is (``module:function(args)``), what Ctrl-C keeps, and
    whether it runs flows (then a Prefect API is found, or Prefect's temporary one started)."""

    work: str
    help: str
    interrupted: str
    runs_flows: bool = False


KEPT = "finished stages are kept, rerun to resume"
COMMANDS = {
    "run": Command("flows.mnist_flow:run_command", "run the pipeline: download, preprocess, "
                   "intake, validate, train, evaluate, export, promote, publish (the default "
                   "subcommand)",
                   KEPT, runs_flows=True),
    "explain": Command("flows.mnist_flow:explain_command", "say for each stage whether a run "
                       "would run it or take it from cache, and why; run nothing",
                       "nothing was written"),
    "serve": Command("flows.serve:serve_command", "serve the flow with a cron schedule "
                     "(scheduled retraining) until stopped",
                     "the deployment and its schedule stay registered; runs due while stopped "
                     "wait for the next serve", runs_flows=True),
    "sweep": Command("flows.sweep_flow:sweep_command", "train a grid or random draws of "
                     "settings, rank them on validation, crown a champion",
                     "finished points are kept, rerun to resume", runs_flows=True),
    "predict": Command("flows.predict:predict_command", "classify digits with exported weights",
                       "nothing was written"),
    "history": Command("flows.history:history_command", "print the last trainings and their "
                       "accuracy side by side", "nothing was written"),
    "production": Command("flows.production:production_command", "show what is in production "
                          "(model, since when, why) and past decisions, or repair it",
                          "production was left as it was"),
    "promote": Command("flows.promotion_commands:promote_command", "put a model in production "
                       "by hand, with a reason (logged)", "production was left as it was"),
    "rollback": Command("flows.promotion_commands:rollback_command", "put back the model "
                        "production replaced (logged)", "production was left as it was"),
    "app": Command("flows.app:app_command", "serve the production model over HTTP with a "
                   "page to draw digits on; follows the gate without a restart",
                   "nothing was written"),
    "release": Command("flows.release:release_command", "list the quarantine, or move a "
                       "quarantined file back into the intake folder so the next run trains on "
                       "it", "files released so far stay released, the others stay in "
                       "quarantine"),
}


# ---------------------------------------------------------------- the parser
class Parser(argparse.ArgumentParser):
    """argparse, ending like every other error: one ``error:`` line, exit 2 (not the usage).

    Subcommand parsers are made by their parent's class, so this covers every subcommand.
    """

    def error(self, message: str) -> NoReturn:
        message = message.removeprefix("argument ")  # "argument --lr: invalid float value"
        self.exit(2, f"error: {message}; see `{self.prog} --help`\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=PROG, description="A two-layer numpy network on MNIST as a cached Prefect "
        "pipeline. Without a subcommand, `run` is meant: `mnist-flow --preset fast`.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in COMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        SUBCOMMAND_OPTIONS[name](sub)
    return parser


def _run_options(parser: argparse.ArgumentParser, *, explain_flag: bool = True) -> None:
    add_run_options(parser)
    if explain_flag:
        parser.add_argument("--explain", action="store_true",
                            help="the same as `mnist-flow explain`: run nothing")


def _serve_options(parser: argparse.ArgumentParser) -> None:
    add_field_options(parser, ServeOptions, defaults=True)
    _run_options(parser, explain_flag=False)


def _sweep_options(parser: argparse.ArgumentParser) -> None:
    space = parser.add_argument_group("search space (settings are training settings)")
    space.add_argument("--grid", "--space", dest="space", nargs="+", metavar="NAME=VALUES",
                       required=True, help="NAME=V1,V2,... values; with --random also "
                       "NAME=LOW..HIGH or NAME=log:LOW..HIGH ranges")
    space.add_argument("--random", type=int, metavar="N",
                       help="draw N random points instead of the full grid")
    space.add_argument("--draw-seed", type=int, default=0, help="seed of the random draws")
    parser.add_argument("--set", nargs="+", default=[], metavar="NAME=VALUE",
                        help="fixed settings by name, e.g. --set epochs=2 (the same as "
                             "--epochs 2)")
    sweep = parser.add_argument_group("the sweep")
    add_field_options(sweep, SweepOptions, defaults=True)
    sweep.add_argument("--dask", dest="engine", action="store_const", const="dask",
                       help="the same as --engine dask")
    add_training_options(parser, preset_default="fast", exclude=SWEEP_OWNS)
    add_data_options(parser)


def _predict_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", type=Path, default=None,
                        help="folder holding W_1.csv, b_1.csv, W_2.csv, b_2.csv (default: the "
                             "production model, ARTIFACTS/DATASET/production)")
    add_dataset_option(parser, "whose production model to use")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder holding test.parquet (or the file itself): report accuracy")
    parser.add_argument("images", type=Path, nargs="*",
                        help="pictures of digits (PNG/JPEG, any size; white or dark paper); "
                             "a picture without a digit prints 'no digit found'; a folder is "
                             "refused (exit 2): pass the pictures in it, e.g. DIR/*.png")


def _history_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-n", "--last", type=int, default=10,
                        help="how many runs to show (default: 10)")
    parser.add_argument("--kind", choices=("main", "sweep"),
                        help="only runs of the main flow, or only sweep points")
    parser.add_argument("--dataset", help="only runs on this dataset")
    add_artifacts_option(parser)


SUBCOMMAND_OPTIONS: dict[str, Callable[[argparse.ArgumentParser], None]] = {
    "run": _run_options, "explain": lambda p: _run_options(p, explain_flag=False),
    "serve": _serve_options, "sweep": _sweep_options, "predict": _predict_options,
    "history": _history_options, "production": production_options,
    "promote": promote_options, "rollback": rollback_options, "app": app_options,
    "release": add_release_options,
}


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The parser of subcommand ``name`` (its options, for help texts and tests)."""
    parser = Parser(prog=f"{PROG} {name}")
    SUBCOMMAND_OPTIONS[name](parser)
    return parser


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; without a subcommand first, ``run`` is meant."""
    argv = list(argv)
    parser = build_parser()
    if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
        # `run` takes no positional argument: a first word is a mistyped subcommand
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        guess = f"did you mean {close[0]}? " if close else ""
        parser.error(f"unknown command {argv[0]!r} ({guess}choose from {', '.join(COMMANDS)})")
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        argv.insert(0, "run")
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # told by the subcommand, whose help lists its options
        Parser(prog=f"{PROG} {args.command}").error(
            f"unrecognized arguments: {' '.join(unknown)}")
    return args


# ---------------------------------------------------------------- one way to end
def main(argv: Sequence[str] | None = None) -> int:
    """The ``mnist-flow`` console script: parse, run the subcommand, return its exit status."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    command = COMMANDS[args.command]
    module, function = command.work.split(":")
    return exit_status(lambda: getattr(importlib.import_module(module), function)(args),
                       command)


def exit_status(work: Callable[[], None], command: Command) -> int:
    """Run ``work``: 0 when it finishes; one line on stderr and 2 for a user's error (no
    traceback, in our output or Prefect's logs); 130 on Ctrl-C, saying what was kept.

    The one exit path of every subcommand: process-wide handling (signals, checking the
    Prefect API, stopping a temporary server) belongs in :func:`session`, nowhere else.
    """
    try:
        with _sigterm_as_ctrl_c(), session(command):
            work()
        return 0
    except MnistFlowError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        # one write, not print's two: Prefect's threads may still be writing to stderr
        sys.stderr.write(f"interrupted; {command.interrupted}\n")
        return 130
    except BrokenPipeError:  # the reader stopped reading (`| head`): it had what it wanted
        # the rest of the output is dropped, also what Python would flush at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    """SIGTERM (``kill``, ``docker stop``, systemd) raises KeyboardInterrupt, as Ctrl-C does, so
    every subcommand ends with its ``interrupted;`` line and 130, not a silent 143. A command
    that runs flows adds its own guard inside (:func:`flows.lifecycle.guarded_run`)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def session(command: Command) -> Iterator[None]:
    """What a subcommand runs inside. One that runs flows reports to the Prefect server it
    finds (see :func:`flows.prefect_api.local_server_settings`) and keeps our errors' tracebacks
    out of Prefect's logs; the others need no Prefect at all."""
    if not command.runs_flows:
        yield
        return
    from flows.lifecycle import guarded_run
    from flows.prefect_api import local_server_settings, quiet_user_error_tracebacks

    quiet_user_error_tracebacks()
    # The API is checked once the server to use is known; SIGTERM then acts as Ctrl-C, and a
    # stop is bounded and leaves no child process (Prefect's temporary server) behind.
    with local_server_settings(), guarded_run(interrupted=command.interrupted):
        yield
