"""End-to-end fixtures: one Prefect test server per session, fresh artifacts per test."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness

from tasks.config import FlowConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
FLOW_SCRIPT = REPO_ROOT / "flows" / "mnist_flow.py"

# A short original-style run: real data, real stages, seconds of training.
QUICK_TRAIN = {"steps": 400}


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def quick_config(tmp_path: Path, mnist_mirror: Path) -> FlowConfig:
    return FlowConfig.model_validate({
        "preset": "original", "train": QUICK_TRAIN,
        "data": {"mirror": str(mnist_mirror)}, "artifacts_dir": tmp_path / "artifacts",
    })


def with_changes(config: FlowConfig, **changes: object) -> FlowConfig:
    """``config`` with top-level fields replaced, validated like user input."""
    return FlowConfig.model_validate({**config.model_dump(), **changes})


def with_train(config: FlowConfig, **changes: object) -> FlowConfig:
    """``config`` with training overrides on top of the quick ones."""
    return with_changes(config, train={**QUICK_TRAIN, **changes})


def statuses(result: dict[str, Any]) -> dict[str, str]:
    """``{stage: "ran" | "cached"}`` from a flow result."""
    return {stage["name"]: stage["status"] for stage in result["stages"]}


def cli(*args: str, env: dict[str, str] | None = None,
        **popen: Any) -> subprocess.Popen[str]:
    """Start ``python flows/mnist_flow.py ARGS`` as a user would, output captured."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, str(FLOW_SCRIPT), *args], env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, **popen)
