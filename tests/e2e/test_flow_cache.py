"""The real flow on the real MNIST: reruns skip what is done, and only that."""

from __future__ import annotations

import hashlib
import signal
import time
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

import tasks.engine.cache_key
from flows.mnist_flow import mnist_flow
from tasks.config import FlowConfig
from tasks.pipeline import stage_names
from tests.e2e.conftest import QUICK_TRAIN, cli, statuses, with_changes, with_train

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]

ALL_CACHED = dict.fromkeys(stage_names(), "cached")


def tree_digests(root: Path) -> dict[str, str]:
    """sha256 of every output file under ``root`` (cache bookkeeping and the ledger, which
    grows by one line per run by design, left out)."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file() and ".cache" not in p.parts and p.name != "ledger.jsonl"}


def test_second_identical_run_is_all_cached_and_byte_identical(quick_config: FlowConfig) -> None:
    first = mnist_flow(quick_config)
    assert set(statuses(first).values()) == {"ran"}
    before = tree_digests(quick_config.artifacts_dir)
    second = mnist_flow(quick_config)
    assert statuses(second) == ALL_CACHED
    assert tree_digests(quick_config.artifacts_dir) == before
    assert second["test_accuracy"] == first["test_accuracy"]
    assert "Nothing changed since run" in second["note"]
    latest = quick_config.artifacts_dir / "latest"
    assert {"W_1.csv", "W_2.csv", "b_1.csv", "b_2.csv", "acc_and_loss_rate.png"} <= {
        p.name for p in latest.iterdir()}


def test_changing_a_training_parameter_reruns_only_the_model_stages(
        quick_config: FlowConfig) -> None:
    mnist_flow(quick_config)
    changed = mnist_flow(with_train(quick_config, lr=0.02))
    assert statuses(changed) == {"download": "cached", "preprocess": "cached",
                                 "intake": "cached", "validate": "cached", "train": "ran",
                                 "evaluate": "ran",
                                 "export": "ran", "promote": "ran"}
    back = mnist_flow(quick_config)  # the earlier model is still there, and still valid
    assert statuses(back) == ALL_CACHED


@pytest.mark.parametrize("damage", ["delete", "corrupt"])
def test_a_damaged_output_reruns_the_stage_that_made_it(quick_config: FlowConfig,
                                                        damage: str) -> None:
    mnist_flow(quick_config)
    victim = quick_config.artifacts_dir / "mnist" / "parquet" / "train.parquet"
    if damage == "delete":
        victim.unlink()
    else:
        with open(victim, "r+b") as stream:
            stream.seek(1000)
            stream.write(b"\xff" * 16)
    rerun = mnist_flow(quick_config)
    assert statuses(rerun)["download"] == "cached"
    assert statuses(rerun)["preprocess"] == "ran"
    # The rebuilt file has the same bytes, so what depends on it is still valid.
    assert statuses(rerun)["train"] == "cached"


def test_a_deleted_weight_file_reruns_export(quick_config: FlowConfig) -> None:
    first = mnist_flow(quick_config)
    (Path(first["model_dir"]) / "W_1.csv").unlink()
    rerun = mnist_flow(quick_config)
    assert statuses(rerun) == {**ALL_CACHED, "export": "ran"}
    assert (Path(first["model_dir"]) / "W_1.csv").is_file()


def test_editing_the_code_a_stage_runs_reruns_that_stage(
        quick_config: FlowConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    mnist_flow(quick_config)
    real_source = tasks.engine.cache_key._module_source

    def edited(name: str) -> str:
        text = real_source(name)
        return text + "\nAN_EDIT = 1\n" if name == "tasks.core.optimizers" else text

    monkeypatch.setattr(tasks.engine.cache_key, "_module_source", edited)
    tasks.engine.cache_key.clear_code_cache()
    try:
        rerun = mnist_flow(quick_config)
    finally:
        tasks.engine.cache_key.clear_code_cache()
    assert statuses(rerun)["preprocess"] == "cached"
    assert statuses(rerun)["train"] == "ran"


def test_force_reruns_the_stage_and_everything_after_it(quick_config: FlowConfig) -> None:
    mnist_flow(quick_config)
    forced = mnist_flow(with_changes(quick_config, force="evaluate"))
    assert statuses(forced) == {**ALL_CACHED, "evaluate": "ran", "export": "ran",
                                "promote": "ran"}


def _cli_args(config: FlowConfig) -> list[str]:
    return ["--steps", str(QUICK_TRAIN["steps"]), "--mirror", str(config.data.mirror),
            "--artifacts-dir", str(config.artifacts_dir)]


def test_sigkill_during_training_then_rerun_completes(quick_config: FlowConfig) -> None:
    env = {"PREFECT_API_URL": PREFECT_API_URL.value()}
    args = [*_cli_args(quick_config), "--steps", "200000"]  # long enough to be killed mid-way
    process = cli(*args, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + 120
    for line in process.stdout:
        if "training: {" in line:
            time.sleep(1.0)  # into the loop, past loading the data
            break
        assert time.monotonic() < deadline, "training never started"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    rerun = cli(*_cli_args(quick_config), env=env)
    output, _ = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, output
    assert "download   cached" in output and "preprocess cached" in output
    assert "train      ran" in output
    leftovers = [p for p in quick_config.artifacts_dir.rglob("*.tmp")]
    assert leftovers == []


def test_two_simultaneous_runs_both_succeed(quick_config: FlowConfig) -> None:
    env = {"PREFECT_API_URL": PREFECT_API_URL.value()}
    runs = [cli(*_cli_args(quick_config), env=env) for _ in range(2)]
    outputs = [run.communicate(timeout=300)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    accuracies = {line for out in outputs for line in out.splitlines()
                  if line.startswith("test accuracy")}
    assert len(accuracies) == 1, accuracies
    third = mnist_flow(quick_config)
    assert statuses(third) == ALL_CACHED
