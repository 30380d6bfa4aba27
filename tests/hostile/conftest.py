"""Fixtures of the hostile suite: every test here is marked ``hostile``; helpers for faults.

Faults that need root (a tiny tmpfs, a read-only mount, ``chattr +i``) are skipped with the
reason when the kernel refuses them; patched writes raising ``ENOSPC`` run everywhere.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from prefect.testing.utilities import prefect_test_harness

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
RUN_FLOW = HERE / "run_flow.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.hostile)


@pytest.fixture(scope="session")
def prefect_api_url() -> Iterator[str]:
    """A Prefect test server for subprocess runs (the flow's own ephemeral server costs ~8 s)."""
    from prefect.settings import PREFECT_API_URL

    with prefect_test_harness(server_startup_timeout=120):
        yield str(PREFECT_API_URL.value())


def run_flow(*args: str, env: dict[str, str] | None = None,
             **popen: Any) -> subprocess.Popen[str]:
    """Start ``tests/hostile/run_flow.py ARGS`` (the real CLI, optionally with a fault)."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    return subprocess.Popen([sys.executable, str(RUN_FLOW), *args], env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=REPO_ROOT,
                            **popen)


def _run(*command: str) -> bool:
    return subprocess.run(command, capture_output=True).returncode == 0


@contextlib.contextmanager
def tmpfs(path: Path, *options: str) -> Iterator[Path]:
    """Mount a tmpfs at ``path`` (``size=1m``, ``ro`` ...); skip the test if not allowed."""
    path.mkdir(parents=True, exist_ok=True)
    if not _run("mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN)")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """``chattr +i path``: not even root may create files in it; skip if not supported.

    As root, permission bits do not stop writes, so an immutable folder stands in for one
    the user may not write to.
    """
    if not _run("chattr", "+i", str(path)):
        pytest.skip("chattr +i is not available here (needs root and ext4/xfs/btrfs)")
    try:
        yield path
    finally:
        _run("chattr", "-i", str(path))
