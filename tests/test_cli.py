"""The command line: one console script, options generated from the config models, one way
to end; bad values refused in one line, before any work."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import COMMANDS, main, parse_args, subcommand_parser
from flows.options import SWEEP_OWNS, config_from_args, flag
from tasks.config import DataConfig
from tasks.core.errors import ConfigError
from tasks.core.train_config import TrainConfig
from tasks.pipeline import stage_names

REPO_ROOT = Path(__file__).resolve().parents[1]
FLOW_SCRIPT = REPO_ROOT / "flows" / "mnist_flow.py"
CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


def _subparser(name: str) -> argparse.ArgumentParser:
    return subcommand_parser(name)


def _helps(name: str) -> dict[str, str]:
    """``{--option: its help template}`` of subcommand ``name``."""
    return {flag: action.help or "" for action in _subparser(name)._actions
            for flag in action.option_strings}


def test_without_a_subcommand_run_is_meant() -> None:
    assert parse_args([]).command == "run"
    assert parse_args(["--preset", "fast"]).command == "run"
    assert parse_args(["history"]).command == "history"
    assert set(COMMANDS) == {"run", "explain", "serve", "sweep", "predict", "history",
                             "production", "promote", "rollback", "app", "release"}


def test_every_training_setting_is_an_option_with_its_model_words() -> None:
    helps = _helps("run")
    for name, field in TrainConfig.model_fields.items():
        flag = "--" + name.replace("_", "-")
        assert (field.description or "").rstrip(".").replace("%", "%%") in helps[flag], flag
    assert "≥ 1" in helps["--hidden"] and "≤ 4096" in helps["--hidden"]
    assert "> 0" in helps["--lr"]
    optimizer = next(a for a in _subparser("run")._actions if a.dest == "optimizer")
    assert tuple(optimizer.choices) == ("sgd", "gd", "momentum", "adam")
    force = next(a for a in _subparser("run")._actions if a.dest == "force")
    assert tuple(force.choices) == tuple(stage_names())
    verify = next(a for a in _subparser("run")._actions if a.dest == "verify")
    assert tuple(verify.choices) == ("stat", "full")


def test_run_sweep_and_serve_say_the_same_words_for_the_same_option() -> None:
    run, sweep, serve = _helps("run"), _helps("sweep"), _helps("serve")
    # --validation-size is two things: a run's held-out rows, and a sweep's ranking split
    shared = (set(run) & set(sweep)) - {"-h", "--help", *(flag(n) for n in SWEEP_OWNS)}
    assert {"--preset", "--dataset", "--mirror", "--artifacts-dir", "--timeout", "--retries",
            "--lr", "--epochs"} <= shared
    for option in shared:
        assert run[option] == sweep[option] == serve[option], option
    for name in ("mirror", "timeout", "retries"):
        assert DataConfig.model_fields[name].description.rstrip(".") in run["--" + name]


def test_run_and_serve_offer_the_retraining_options() -> None:
    for name in ("run", "serve"):
        assert {"--incoming", "--promote", "--promote-significance", "--promote-min-gain",
                "--promote-max-class-drop", "--approval-timeout"} <= set(_helps(name)), name


def test_overrides_apply_on_top_of_the_preset(tmp_path: Path) -> None:
    args = parse_args(["--preset", "fast", "--lr", "0.005", "--hidden", "32",
                       "--timeout", "5", "--artifacts-dir", str(tmp_path)])
    config = config_from_args(args)
    training = config.training()
    assert (training.optimizer, training.lr, training.hidden) == ("adam", 0.005, 32)
    assert config.data.timeout == 5.0 and config.data.retries == 3


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "-1"], "train.lr: Input should be greater than 0"),
    (["--hidden", "0"], "train.hidden: Input should be greater than or equal to 1"),
    (["--retries", "11"], "data.retries: Input should be less than or equal to 10"),
    (["--optimizer", "adam"], "epochs is required for optimizer 'adam'"),
    (["--promote-significance", "2"], r"retraining.significance: Input should be less than or "
                                      r"equal to 1 \(got 2.0\)"),
    (["--promote-max-class-drop", "-1"], r"retraining.max_class_drop: Input should be greater "
                                         r"than or equal to 0"),
])
def test_invalid_values_name_the_parameter(argv: list[str], message: str, tmp_path: Path) -> None:
    args = parse_args([*argv, "--artifacts-dir", str(tmp_path)])
    with pytest.raises(ConfigError, match=message):
        config_from_args(args)


def test_retraining_options_fill_the_config_and_serve_stores_the_intake_folder_absolute(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flows.serve import deployment_parameters

    defaults = config_from_args(parse_args(["--artifacts-dir", str(tmp_path)]))
    assert defaults.retraining.model_dump() == {
        "incoming": None, "promote": "if-better", "significance": 0.05, "min_gain": 0.1,
        "max_class_drop": 2.0, "approval_timeout": 86400.0}
    monkeypatch.chdir(tmp_path)
    args = parse_args(["--incoming", "new", "--promote", "always",
                                      "--promote-min-gain", "0.5", "--artifacts-dir", "art"])
    config = config_from_args(args)
    assert (config.retraining.incoming, config.retraining.promote,
            config.retraining.min_gain) == (Path("new"), "always", 0.5)
    stored = deployment_parameters(config)["config"]["retraining"]
    assert stored == {"incoming": str(tmp_path / "new"), "promote": "always",
                      "significance": 0.05, "min_gain": 0.5, "max_class_drop": 2.0,
                      "approval_timeout": 86400.0}


def test_an_unwritable_artifacts_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = parse_args(["--artifacts-dir", str(blocker / "artifacts")])
    with pytest.raises(ConfigError, match="cannot create the artifacts directory"):
        config_from_args(args)


def test_the_entry_point_sets_the_environment_it_needs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DO_NOT_TRACK", "ARROW_DEFAULT_MEMORY_POOL"):
        monkeypatch.delenv(name, raising=False)
    assert main(["history", "--artifacts-dir", str(tmp_path)]) == 0
    assert os.environ["DO_NOT_TRACK"] == "1"
    assert os.environ["ARROW_DEFAULT_MEMORY_POOL"] == "system"


def test_importing_changes_no_environment_and_loads_no_pandas() -> None:
    """Only the entry point sets variables; pandas (~0.26 s) stays off a plain run's path and
    Prefect off the command line's own module."""
    code = ("import os, sys; before = dict(os.environ); import flows.cli; "
            "assert 'prefect' not in sys.modules, 'cli imports prefect'; "
            "assert dict(os.environ) == before, 'flows.cli changed the environment'; "
            # threadpoolctl sets KMP_DUPLICATE_LIB_OK when imported: not ours to judge
            "import threadpoolctl, prefect; before = dict(os.environ); "
            "import flows.mnist_flow, tasks.engine.explain; "
            "assert 'pandas' not in sys.modules, 'a plain run imports pandas'; "
            "import flows.sweep_flow, flows.serve, flows.predict, flows.history, flows.app; "
            "assert dict(os.environ) == before, 'importing changed the environment'")
    env = {k: v for k, v in os.environ.items()
           if k not in ("DO_NOT_TRACK", "ARROW_DEFAULT_MEMORY_POOL")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", [[str(CONSOLE_SCRIPT)], [sys.executable, str(FLOW_SCRIPT)]])
def test_a_bad_value_prints_one_line_and_exits_2(command: list[str], tmp_path: Path) -> None:
    done = subprocess.run([*command, "--lr", "-1", "--artifacts-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid configuration: train.lr: Input should be greater than 0 (got -1.0)"]
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unknown_preset_is_refused_by_the_parser() -> None:
    done = subprocess.run([str(CONSOLE_SCRIPT), "--preset", "nope"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert "invalid choice: 'nope'" in done.stderr


@pytest.mark.parametrize(("argv", "line"), [
    (["--dataset", "nope"], "error: --dataset: invalid choice: 'nope' (choose from "
                            "'fashion-mnist', 'mnist'); see `mnist-flow run --help`"),
    (["--preset", "nope"], "error: --preset: invalid choice: 'nope' (choose from 'fast', "
                           "'full-batch', 'original'); see `mnist-flow run --help`"),
    (["sweep", "--grid", "lr=0.1", "--optimizer", "nope"],
     "error: --optimizer: invalid choice: 'nope' (choose from 'sgd', 'gd', 'momentum', "
     "'adam'); see `mnist-flow sweep --help`"),
    (["--force", "nope"], "error: --force: invalid choice: 'nope' (choose from "
                          + ", ".join(map(repr, stage_names()))
                          + "); see `mnist-flow run --help`"),
    (["histroy"], "error: unknown command 'histroy' (did you mean history? choose from "
                  + ", ".join(COMMANDS) + "); see `mnist-flow --help`"),
    (["serve"], "error: the following arguments are required: --cron; see `mnist-flow serve "
                "--help`"),
    (["--lr", "abc"], "error: --lr: invalid float value: 'abc'; see `mnist-flow run --help`"),
    (["history", "--bogus"], "error: unrecognized arguments: --bogus; see `mnist-flow history "
                             "--help`"),
])
def test_a_mistyped_command_line_is_one_error_line_not_the_usage(argv: list[str],
                                                                 line: str) -> None:
    done = subprocess.run([str(CONSOLE_SCRIPT), *argv], capture_output=True, text=True,
                          timeout=300)
    assert (done.returncode, done.stdout, done.stderr.splitlines()) == (2, "", [line])


def test_help_still_shows_the_usage_and_names_every_stage() -> None:
    top = subprocess.run([str(CONSOLE_SCRIPT), "--help"], capture_output=True, text=True,
                         timeout=300)
    assert top.returncode == 0 and top.stdout.startswith("usage: mnist-flow"), top.stderr
    assert all(name in top.stdout for name in COMMANDS)
    run = subprocess.run([str(CONSOLE_SCRIPT), "run", "--help"], capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert f"({', '.join(stage_names())})" in " ".join(run.stdout.split())
    from tasks.pipeline import MAIN

    described = COMMANDS["run"].help  # the run's own description names every stage in order
    assert f"the pipeline: {', '.join(stage.name for stage in MAIN)} (" in described


def test_building_the_parser_and_history_import_no_prefect(tmp_path: Path) -> None:
    """Prefect costs a second to import: `mnist-flow --help` and `history` must not pay it
    (bench/bench_startup.py measures the start); `--force`'s choices are read on use."""
    from tasks.core.ledger import append_entry, ledger_path, make_entry

    append_entry(ledger_path(tmp_path), make_entry(
        kind="main", run="r", dataset="mnist", parameters=TrainConfig().model_dump(),
        data="0" * 16, code="c" * 64, versions={}, metrics={"test_accuracy": 0.9}, cached=False,
        model_dir=tmp_path / "m"))
    code = ("import sys, contextlib, io\n"
            "from flows.cli import build_parser, main\n"
            "build_parser()\n"
            "with contextlib.redirect_stdout(io.StringIO()), "
            "contextlib.suppress(SystemExit):\n"
            "    main(['--help'])\n"
            f"assert main(['history', '--artifacts-dir', {str(tmp_path)!r}]) == 0\n"
            "assert 'prefect' not in sys.modules, 'prefect was imported'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "no runs recorded" not in done.stdout and "time" in done.stdout, done.stdout


def test_sigterm_ends_a_subcommand_like_ctrl_c() -> None:
    """Every subcommand, flows or not: one `interrupted;` line and 130, not a silent 143
    (tests/hostile/test_sigterm_in_every_subcommand.py sends it to real commands mid-work)."""
    code = ("import os, signal, sys\n"
            "from flows.cli import COMMANDS, exit_status\n"
            "def work():\n"
            "    os.kill(os.getpid(), signal.SIGTERM)\n"
            "    signal.pause()\n"
            "sys.exit(exit_status(work, COMMANDS['history']))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=300)
    assert (done.returncode, done.stderr) == (130, "interrupted; nothing was written\n")


@pytest.mark.parametrize("script", ["mnist_flow.py", "sweep_flow.py", "predict.py", "history.py"])
def test_the_old_scripts_are_the_same_commands(script: str) -> None:
    done = subprocess.run([sys.executable, str(REPO_ROOT / "flows" / script), "--help"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    expected = {"mnist_flow.py": "--preset", "sweep_flow.py": "--grid",
                "predict.py": "--weights", "history.py": "--last"}[script]
    assert expected in done.stdout


def test_sweep_on_dask_without_the_extra_says_how_to_install_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setitem(sys.modules, "prefect_dask", None)  # as if not installed
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api")  # never reached
    code = main(["sweep", "--grid", "lr=0.001", "--dask", "--artifacts-dir", str(tmp_path)])
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "error: sweeps on Dask need the optional Dask support; install it with: "
        "pip install 'mnist-flow[dask]'"]


def test_download_deadlines_are_options_of_runs_sweeps_and_deployments(tmp_path: Path) -> None:
    from flows import serve, sweep_flow

    argv = ["--timeout", "5", "--retries", "0", "--artifacts-dir", str(tmp_path)]
    config = config_from_args(parse_args(argv))
    assert (config.data.timeout, config.data.retries) == (5.0, 0)
    deployed = serve.deployment_parameters(config)["config"]["data"]
    assert (deployed["timeout"], deployed["retries"]) == (5.0, 0)
    sweep = sweep_flow.config_from_args(parse_args(["sweep", "--grid", "lr=0.001", *argv]))
    assert (sweep.base.data.timeout, sweep.base.data.retries) == (5.0, 0)
    with pytest.raises(ConfigError, match=r"timeout"):
        config_from_args(parse_args(["--timeout", "0", "--artifacts-dir", str(tmp_path)]))
