"""The dashboard in a real headless Chromium, and a Prefect server on PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    METRICS_KEY,
    PrefectServer,
    postgres,
    prefect_server,
    serving,
)
from tests.integration.test_serve import STAGES, settled_stage_states

pytestmark = pytest.mark.integration



def chromium(url: str, profile: Path, *action: str) -> str:
    """Render ``url`` headless (API calls included) and return stdout: the DOM with
    ``--dump-dom``."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}",
         "--virtual-time-budget=15000", "--window-size=1280,900", *action, url],
        capture_output=True, text=True, timeout=90, check=False, start_new_session=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_flow_run_and_artifact_pages_render(sqlite_server: PrefectServer,
                                            served_runs: dict[str, Any],
                                            tmp_path: Path) -> None:
    run = served_runs["first"]
    page = f"{sqlite_server.url}/runs/flow-run/{run['id']}"
    dom = chromium(page, tmp_path / "profile", "--dump-dom")
    assert run["name"] in dom
    artifacts = chromium(f"{sqlite_server.url}/artifacts/key/{METRICS_KEY}",
                         tmp_path / "profile", "--dump-dom")
    assert METRICS_KEY in artifacts
    shot = tmp_path / "dashboard.png"
    chromium(page, tmp_path / "profile", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Not copied to docs/: a served run's logs show this machine's absolute paths (the
    # README's screenshot is taken from a plain run with a relative mirror, docs/operations.md)


def test_server_on_postgresql_runs_a_deployment(tmp_path_factory: pytest.TempPathFactory,
                                                mnist_mirror: Path,
                                                shared_artifacts: Path) -> None:
    root = tmp_path_factory.mktemp("postgres")
    with postgres(root) as url, prefect_server(
            root, mnist_mirror, PREFECT_SERVER_DATABASE_CONNECTION_URL=url) as server, \
            serving(server, "it-postgres", shared_artifacts, root / "serve.log"):
        deployment = server.deployment("it-postgres")
        assert deployment["schedules"][0]["schedule"]["cron"] == "0 3 * * 0"
        run = server.run_deployment("it-postgres")
        assert run["state"]["type"] == "COMPLETED", run["output"]
        # Cached when the SQLite tests ran first (same artifacts), Completed when alone
        states = settled_stage_states(server, run["id"], "Cached")
        assert set(STAGES) <= set(states), states
        assert all(state in {"Cached", "Completed"} for state in states.values()), states
        assert server.metrics_artifacts(run["id"])
        port = url.rsplit(":", 1)[1].split("/")[0]
        stored = subprocess.run(
            ["psql", "-h", "127.0.0.1", "-p", port, "-U", "prefect", "-d", "postgres", "-tAc",
             f"select state_type from flow_run where id = '{run['id']}'"],
            capture_output=True, text=True, check=True).stdout.strip()
        assert stored == "COMPLETED"
        assert not (root / "prefect-home" / "prefect.db").exists()
