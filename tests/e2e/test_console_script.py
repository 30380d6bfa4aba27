"""``mnist-flow`` as a user types it: every subcommand run as a subprocess from a fresh folder,
against one Prefect test server, on the real MNIST mirror (``$MNIST_MIRROR``)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from tasks.pipeline import stage_names

CONSOLE_SCRIPT = Path(sys.executable).with_name("mnist-flow")
STAGE_LINE = re.compile(r"^  (\w+) +(ran|cached) +[\d.]+ s$", re.MULTILINE)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path,
            prefect_server: None) -> tuple[Path, dict[str, str]]:
    """An empty folder (outputs go to its ./artifacts) and the environment of a user whose
    runs report to a server."""
    env = {**os.environ, "MNIST_MIRROR": str(mnist_mirror), "PYTHONUNBUFFERED": "1",
           "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    return tmp_path_factory.mktemp("user"), env


def mnist_flow(workdir: tuple[Path, dict[str, str]], *args: str) -> str:
    """Run ``mnist-flow ARGS``; its standard output, after checking it exited 0."""
    folder, env = workdir
    done = subprocess.run([str(CONSOLE_SCRIPT), *args], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


def test_the_console_script_is_installed() -> None:
    assert CONSOLE_SCRIPT.is_file() and os.access(CONSOLE_SCRIPT, os.X_OK)


def test_run_is_the_default_and_ends_with_the_dashboard_url(workdir) -> None:
    out = mnist_flow(workdir)  # the original project, exactly
    assert "test accuracy 0.8775" in out
    assert dict(STAGE_LINE.findall(out)) == dict.fromkeys(stage_names(), "ran")
    last = out.strip().splitlines()[-1]
    api = workdir[1]["PREFECT_API_URL"].removesuffix("/api")
    assert re.fullmatch(rf"dashboard: {re.escape(api)}/runs/flow-run/[0-9a-f-]{{36}}", last)


def test_fast_preset_reuses_the_data_stages(workdir) -> None:
    out = mnist_flow(workdir, "--preset", "fast")
    stages = dict(STAGE_LINE.findall(out))
    assert stages["download"] == stages["preprocess"] == "cached"
    assert stages["train"] == "ran"
    assert float(re.search(r"test accuracy (\S+)", out).group(1)) > 0.95


def test_explain_names_the_changed_setting(workdir) -> None:
    out = mnist_flow(workdir, "explain", "--lr", "0.05")
    verdicts = {line.split()[0]: line for line in out.strip().splitlines()}
    assert "cached" in verdicts["download"] and "cached" in verdicts["preprocess"]
    assert "would run" in verdicts["train"] and "lr" in verdicts["train"]


def test_history_shows_both_runs(workdir) -> None:
    out = mnist_flow(workdir, "history")
    assert "2 of 2 runs" in out
    assert "0.8775" in out


def test_a_run_served_from_cache_loads_no_numpy_pyarrow_or_plotting(workdir) -> None:
    """Every stage cached: the run reads records, not arrays, so it imports none of the
    compute libraries (~0.2 s; ``bench/profile_run.py`` has the seconds)."""
    folder, env = workdir
    heavy = ("numpy", "pyarrow", "matplotlib", "PIL", "pandas")
    script = ("import sys\nfrom flows.cli import main\n"
              "status = main(['--preset', 'fast'])\n"
              f"print('loaded:', sorted(m for m in {heavy!r} if m in sys.modules))\n"
              "sys.exit(status)")
    done = subprocess.run([sys.executable, "-c", script], cwd=folder, env=env, text=True,
                          capture_output=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert dict(STAGE_LINE.findall(done.stdout)) == dict.fromkeys(stage_names(), "cached")
    assert "loaded: []" in done.stdout


def test_predict_with_the_latest_weights(workdir) -> None:
    folder, _ = workdir
    parquet = folder / "artifacts" / "mnist" / "parquet"
    out = mnist_flow(workdir, "predict", "--weights", "artifacts/latest", "--data-dir",
                     str(parquet))
    assert re.search(r"test accuracy: 0\.9\d+ on 10000 images", out)


def test_sweep_ranks_its_points(workdir) -> None:
    out = mnist_flow(workdir, "sweep", "--grid", "lr=0.001,0.002", "--epochs", "1",
                     "--workers", "1")
    assert "2 points trained, 0 from cache (thread pool, 1 threads)" in out
    assert out.strip().splitlines()[-1].startswith("dashboard: ")
    assert (workdir[0] / "artifacts" / "mnist" / "sweep" / "leaderboard.csv").is_file()
