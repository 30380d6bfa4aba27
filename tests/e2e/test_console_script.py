"""``mnist-flow`` as a user types it: every subcommand run as a subprocess from a fresh folder,
against one Prefect test server, on the real MNIST mirror (``$MNIST_MIRROR``).

The two trainings every other test here looks at (the plain command, then ``--preset fast``)
are made once, by the module fixture :func:`trained`, not by whichever test happens to run
first: each test passes alone and in any order. Tests that add to the folder (a cached run,
a sweep) add nothing the others read.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from tasks.core.ledger import ledger_path
from tasks.pipeline import stage_names

pytestmark = [pytest.mark.e2e]

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
STAGE_LINE = re.compile(r"^  (\w+) +(ran|cached) +[\d.]+ s$", re.MULTILINE)
TEST_ACCURACY = re.compile(r"test accuracy (\d\.\d+)")


@dataclass(frozen=True)
class User:
    """A folder a user works in (outputs go to its ./artifacts) and their environment, whose
    runs report to the session's Prefect server."""

    folder: Path
    env: dict[str, str]


@dataclass(frozen=True)
class Trained:
    """The folder after ``mnist-flow`` then ``mnist-flow --preset fast``: what each printed,
    and the ledger as those two runs left it."""

    user: User
    plain: str
    fast: str
    ledger: bytes


def mnist_flow(user: User, *args: str) -> str:
    """Run ``mnist-flow ARGS``; its standard output, after checking it exited 0."""
    done = subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=user.folder, env=user.env,
                          text=True, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def new_user(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path) -> User:
    env = {**os.environ, "MNIST_MIRROR": str(mnist_mirror), "PYTHONUNBUFFERED": "1",
           "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    return User(tmp_path_factory.mktemp("user"), env)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path,
            prefect_server: None) -> Trained:
    """A fresh folder in which the original project ran, then the ``fast`` preset."""
    user = new_user(tmp_path_factory, mnist_mirror)
    plain = mnist_flow(user)  # the original project, exactly
    fast = mnist_flow(user, "--preset", "fast")
    return Trained(user, plain, fast, ledger_path(user.folder / "artifacts").read_bytes())


def test_the_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file() and os.access(CONSOLE_SCRIPT, os.X_OK)


def test_run_is_the_default_and_ends_with_the_dashboard_url(trained: Trained) -> None:
    out = trained.plain
    assert "test accuracy 0.8775" in out
    assert dict(STAGE_LINE.findall(out)) == dict.fromkeys(stage_names(), "ran")
    last = out.strip().splitlines()[-1]
    api = trained.user.env["PREFECT_API_URL"].removesuffix("/api")
    assert re.fullmatch(rf"dashboard: {re.escape(api)}/runs/flow-run/[0-9a-f-]{{36}}", last)


def test_fast_preset_reuses_the_data_stages(trained: Trained) -> None:
    stages = dict(STAGE_LINE.findall(trained.fast))
    assert stages["download"] == stages["preprocess"] == "cached"
    assert stages["train"] == "ran"
    assert float(TEST_ACCURACY.search(trained.fast).group(1)) > 0.95


def test_explain_names_the_changed_setting(trained: Trained) -> None:
    out = mnist_flow(trained.user, "explain", "--lr", "0.05")
    verdicts = {line.split()[0]: line for line in out.strip().splitlines()}
    assert "cached" in verdicts["download"] and "cached" in verdicts["preprocess"]
    assert "would run" in verdicts["train"] and "lr" in verdicts["train"]


def test_history_shows_both_runs(trained: Trained, tmp_path: Path) -> None:
    """On the ledger the two runs wrote, copied: other tests here add runs to the folder."""
    artifacts = tmp_path / "artifacts"
    ledger_path(artifacts).parent.mkdir(parents=True, exist_ok=True)
    ledger_path(artifacts).write_bytes(trained.ledger)
    out = mnist_flow(trained.user, "history", "--artifacts-dir", str(artifacts))
    assert f"2 of 2 runs in {ledger_path(artifacts)}" in out
    rows = out.splitlines()[1:3]
    assert "0.8775" in rows[0], out
    fast_accuracy = float(TEST_ACCURACY.search(trained.fast).group(1))
    assert f"{fast_accuracy:.4f}" in rows[1], out


def test_a_run_served_from_cache_loads_no_numpy_pyarrow_or_plotting(trained: Trained) -> None:
    """Every stage cached: the run reads records, not arrays, so it imports none of the
    compute libraries (~0.2 s; ``bench/profile_run.py`` has the seconds)."""
    heavy = ("numpy", "pyarrow", "matplotlib", "PIL", "pandas")
    script = ("import sys\nfrom flows.cli import main\n"
              "status = main(['--preset', 'fast'])\n"
              f"print('loaded:', sorted(m for m in {heavy!r} if m in sys.modules))\n"
              "sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", script], cwd=trained.user.folder,
                          env=trained.user.env, text=True, capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert dict(STAGE_LINE.findall(done.stdout)) == dict.fromkeys(stage_names(), "cached")
    assert "loaded: []" in done.stdout


def test_predict_with_the_latest_weights(trained: Trained) -> None:
    """``latest`` is the fast model (0.9x); the plain command's model scores 0.8775."""
    parquet = trained.user.folder / "artifacts" / "mnist" / "parquet"
    out = mnist_flow(trained.user, "predict", "--weights", "artifacts/latest", "--data-dir",
                     str(parquet))
    assert re.search(r"test accuracy: 0\.9\d+ on 10000 images", out)


def test_sweep_ranks_its_points(trained: Trained) -> None:
    out = mnist_flow(trained.user, "sweep", "--grid", "lr=0.001,0.002", "--epochs", "1",
                     "--workers", "1")
    assert "2 points trained, 0 from cache (thread pool, 1 threads)" in out
    assert out.strip().splitlines()[-1].startswith("dashboard: ")
    assert (trained.user.folder / "artifacts" / "mnist" / "sweep" / "leaderboard.csv").is_file()
