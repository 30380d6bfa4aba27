"""Options a training would ignore are refused, in one line naming the option, why, and what
to use: on the command line, in the dashboard's form or a deployment's parameters, and in every
sweep point. Settings a preset carries are its own business. (Which training reads which
setting, checked against the training loops: tests/core/test_settings_that_apply.py.)"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import parse_args
from flows.options import config_from_args
from tasks.core.errors import ConfigError

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")


@pytest.mark.parametrize(("argv", "message"), [
    (["--preset", "fast", "--steps", "10"], "--steps does not apply to optimizer adam (preset "
                                            "fast), which trains for --epochs; use --epochs "
                                            "instead"),
    (["--momentum", "0.5"], "--momentum does not apply to optimizer sgd (preset original): "
                            "only optimizer momentum or adam reads it; leave --momentum out, "
                            "or choose --optimizer momentum or adam"),
    (["explain", "--preset", "full-batch", "--epochs", "2"],
     "--epochs does not apply to optimizer gd (preset full-batch), which trains for --steps"),
    (["serve", "--cron", "0 3 * * 0", "--preset", "fast", "--decay", "0.5"],
     "--decay does not apply to schedule cosine (preset fast): only schedule exponential "
     "reads it; leave --decay out, or choose --schedule exponential"),
    (["--optimizer", "momentum", "--epochs", "1", "--batch-size", "8", "--eps", "0.1"],
     "--eps does not apply to optimizer momentum: only optimizer adam reads it"),
])
def test_an_option_the_training_ignores_is_refused(argv: list[str], message: str,
                                                   tmp_path: Path) -> None:
    args = parse_args([*argv, "--artifacts-dir", str(tmp_path)])
    with pytest.raises(ConfigError) as caught:
        config_from_args(args)
    assert str(caught.value).startswith(f"invalid configuration: {message}")


@pytest.mark.parametrize("argv", [
    ["--preset", "full-batch"],  # gd with the preset's own batch_size: the preset's business
    ["--preset", "fast", "--optimizer", "momentum"],  # fast's beta2, eps: unread, not given
    ["--preset", "fast", "--optimizer", "sgd", "--steps", "100", "--batch-size", "1"],
    ["--preset", "fast", "--schedule", "exponential", "--decay", "0.5", "--momentum", "0.8"],
])
def test_options_the_training_reads_are_accepted(argv: list[str], tmp_path: Path) -> None:
    config_from_args(parse_args([*argv, "--artifacts-dir", str(tmp_path)]))


def test_ignored_options_end_in_one_line_before_any_work(tmp_path: Path) -> None:
    done = subprocess.run([str(CONSOLE_SCRIPT), "--preset", "fast", "--steps", "10",
                           "--artifacts-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "error: invalid configuration: --steps does not apply to optimizer adam (preset fast), "
        "which trains for --epochs; use --epochs instead"]
    assert list(tmp_path.iterdir()) == []  # nothing trained, no config.json saying steps 10


def test_the_form_a_deployment_and_a_sweep_refuse_them_too(tmp_path: Path) -> None:
    """The dashboard's form and a deployment's parameters are a FlowConfig document; the flow
    validates the merged training first. Sweep points merge the same way."""
    from flows import sweep_flow
    from flows.mnist_flow import mnist_flow
    from tasks.config import FlowConfig

    form = FlowConfig.model_validate({"preset": "fast", "train": {"steps": 10},
                                      "artifacts_dir": str(tmp_path)})
    words = ("invalid configuration: train.steps does not apply to optimizer adam (preset "
             "fast), which trains for train.epochs; use train.epochs instead")
    with pytest.raises(ConfigError, match=re.escape(words)):
        form.training()
    with pytest.raises(ConfigError, match=re.escape(words)):
        mnist_flow.fn(form)
    assert list(tmp_path.iterdir()) == []
    for argv, words in [
        (["--grid", "lr=0.001,0.002", "--steps", "10"],
         "sweep point {'lr': 0.001} on preset 'fast' is not a valid training: steps does not "
         "apply to optimizer adam (preset fast), which trains for epochs; use epochs instead"),
        (["--grid", "optimizer=adam,momentum", "--set", "beta2=0.99"],
         "sweep point {'optimizer': 'momentum'} on preset 'fast' is not a valid training: "
         "beta2 does not apply to optimizer momentum: only optimizer adam reads it"),
    ]:
        args = parse_args(["sweep", *argv, "--artifacts-dir", str(tmp_path)])
        with pytest.raises(ConfigError, match=re.escape(words)):
            sweep_flow.config_from_args(args)
