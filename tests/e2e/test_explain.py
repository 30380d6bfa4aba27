"""``--explain`` says what would run and why, and runs nothing."""

from __future__ import annotations

import pytest

from flows.mnist_flow import explain_run as explain
from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tests.e2e.conftest import with_train

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def verdicts(config: FlowConfig) -> dict[str, tuple[bool, str]]:
    return {v.stage: (v.runs, v.reason) for v in explain(config)}


def test_explain_before_any_run_says_everything_runs(quick_config: FlowConfig) -> None:
    answer = verdicts(quick_config)
    assert all(runs for runs, _ in answer.values())
    assert "never ran" in answer["download"][1]
    assert not (quick_config.artifacts_dir / "latest").exists()


def test_explain_names_the_changed_parameter_and_the_missing_output(
        quick_config: FlowConfig) -> None:
    mnist_flow(quick_config)
    assert not any(runs for runs, _ in verdicts(quick_config).values())

    changed = with_train(quick_config, lr=0.05)
    answer = verdicts(changed)
    assert answer["preprocess"][0] is False
    assert answer["train"] == (True, "parameter `config.lr` changed 0.01 → 0.05")

    (quick_config.artifacts_dir / "mnist" / "parquet" / "test.parquet").unlink()
    answer = verdicts(quick_config)
    assert answer["download"][0] is False
    assert answer["preprocess"] == (True, "output `test.parquet` missing")
