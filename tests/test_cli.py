"""The command line: every option documented, bad values refused in one line, before any work."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import build_parser, config_from_args
from tasks.core.errors import ConfigError

FLOW_SCRIPT = Path(__file__).resolve().parents[1] / "flows" / "mnist_flow.py"


def test_help_documents_every_option() -> None:
    text = build_parser().format_help()
    for option in ("--preset", "--hidden", "--lr", "--l2", "--decay", "--decay-every", "--steps",
                   "--epochs", "--batch-size", "--optimizer", "--seed", "--mirror",
                   "--artifacts-dir", "--force", "--explain", "MNIST_MIRROR"):
        assert option in text


def test_overrides_apply_on_top_of_the_preset(tmp_path: Path) -> None:
    args = build_parser().parse_args(["--preset", "fast", "--lr", "0.005", "--hidden", "32",
                                      "--artifacts-dir", str(tmp_path)])
    training = config_from_args(args).training()
    assert (training.optimizer, training.lr, training.hidden) == ("adam", 0.005, 32)


@pytest.mark.parametrize(("argv", "message"), [
    (["--lr", "-1"], "train.lr: Input should be greater than 0"),
    (["--hidden", "0"], "train.hidden: Input should be greater than or equal to 1"),
    (["--optimizer", "adam"], "epochs is required for optimizer 'adam'"),
])
def test_invalid_values_name_the_parameter(argv: list[str], message: str, tmp_path: Path) -> None:
    args = build_parser().parse_args([*argv, "--artifacts-dir", str(tmp_path)])
    with pytest.raises(ConfigError, match=message):
        config_from_args(args)


def test_an_unwritable_artifacts_dir_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    args = build_parser().parse_args(["--artifacts-dir", str(blocker / "artifacts")])
    with pytest.raises(ConfigError, match="cannot create the artifacts directory"):
        config_from_args(args)


def test_the_entry_point_prints_one_line_and_exits_2(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, str(FLOW_SCRIPT), "--lr", "-1", "--artifacts-dir",
                           str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: invalid configuration: train.lr: Input should be greater than 0 (got -1.0)"]
    assert "Traceback" not in done.stdout + done.stderr


def test_an_unknown_preset_is_refused_by_the_parser() -> None:
    done = subprocess.run([sys.executable, str(FLOW_SCRIPT), "--preset", "nope"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert "invalid choice: 'nope'" in done.stderr


def test_download_deadlines_are_options_of_runs_sweeps_and_deployments(tmp_path: Path) -> None:
    from flows import serve, sweep_flow

    argv = ["--timeout", "5", "--retries", "0", "--artifacts-dir", str(tmp_path)]
    config = config_from_args(build_parser().parse_args(argv))
    assert (config.data.timeout, config.data.retries) == (5.0, 0)
    deployed = serve.deployment_parameters(config)["config"]["data"]
    assert (deployed["timeout"], deployed["retries"]) == (5.0, 0)
    sweep = sweep_flow.config_from_args(sweep_flow.build_parser().parse_args(
        ["--grid", "lr=0.001", *argv]))
    assert (sweep.base.data.timeout, sweep.base.data.retries) == (5.0, 0)
    with pytest.raises(ConfigError, match=r"data\.timeout"):
        config_from_args(build_parser().parse_args(["--timeout", "0", "--artifacts-dir",
                                                    str(tmp_path)]))
