"""prefect.yaml + `prefect deploy --all` + a process worker, against a real Prefect server."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tests.integration.conftest import PREFECT, PrefectServer, start, stop
from tests.integration.test_serve import STAGES, settled_stage_states

pytestmark = pytest.mark.integration

POOL, NAME = "mnist-pool", "weekly-retraining"


def deploy(server: PrefectServer) -> None:
    done = server.cli("deploy", "--all")
    assert done.returncode == 0, done.stdout


def test_deploy_and_worker_run_end_to_end(sqlite_server: PrefectServer, tmp_path: Path,
                                          mnist_mirror: Path) -> None:
    created = sqlite_server.cli("work-pool", "create", POOL, "--type", "process")
    assert created.returncode == 0 or "already exists" in created.stdout, created.stdout
    deploy(sqlite_server)
    deployment = sqlite_server.deployment(NAME)
    [schedule] = deployment["schedules"]
    assert (schedule["schedule"]["cron"], schedule["schedule"]["timezone"]) == \
        ("0 3 * * 0", "UTC")
    assert deployment["work_pool_name"] == POOL
    assert deployment["parameters"] == {"config": {
        "preset": "original", "retraining": {"incoming": "artifacts/mnist/incoming"}}}
    assert deployment["pull_steps"][0]["prefect.deployments.steps.set_working_directory"] == \
        {"directory": str(Path(__file__).resolve().parents[2])}

    config = {"preset": "original", "train": {"steps": 400},
              "data": {"mirror": str(mnist_mirror)}, "artifacts_dir": str(tmp_path / "art")}
    params = ("--params", json.dumps({"config": config}))
    worker = start([PREFECT, "worker", "start", "--pool", POOL, "--type", "process"],
                   env=sqlite_server.env, log=tmp_path / "worker.log")
    try:
        first = sqlite_server.run_deployment(NAME, *params)
        second = sqlite_server.run_deployment(NAME, *params)
    finally:
        stop(worker)
    sqlite_server.timings.update(worker_run_seconds=first["wall_seconds"],
                                 worker_cached_run_seconds=second["wall_seconds"])
    assert first["state"]["type"] == "COMPLETED", first["output"] + worker.output()[-3000:]
    states = settled_stage_states(sqlite_server, first["id"], "Completed")
    assert {states.get(stage) for stage in STAGES} == {"Completed"}, states
    assert sqlite_server.metrics_artifacts(first["id"])
    assert second["state"]["type"] == "COMPLETED", second["output"]
    states = settled_stage_states(sqlite_server, second["id"], "Cached")
    assert {states.get(stage) for stage in STAGES} == {"Cached"}, states


def test_redeploy_keeps_a_paused_schedule_off(sqlite_server: PrefectServer) -> None:
    sqlite_server.cli("work-pool", "create", POOL, "--type", "process")
    deploy(sqlite_server)
    deployment = sqlite_server.deployment(NAME)
    sqlite_server.patch(f"/deployments/{deployment['id']}/schedules/"
                        f"{deployment['schedules'][0]['id']}", {"active": False})
    deploy(sqlite_server)
    assert [s["active"] for s in sqlite_server.deployment(NAME)["schedules"]] == [False]
    # A paused deployment: Prefect's deploy always sends paused=false; the schedule stays off.
    sqlite_server.patch(f"/deployments/{deployment['id']}/schedules/"
                        f"{sqlite_server.deployment(NAME)['schedules'][0]['id']}",
                        {"active": True})
    sqlite_server.post(f"/deployments/{deployment['id']}/pause_deployment")
    deploy(sqlite_server)
    after = sqlite_server.deployment(NAME)
    assert [s["active"] for s in after["schedules"]] == [False]
    time.sleep(2)  # two loops of the scheduler service, which would create runs if it could
    assert not sqlite_server.scheduled_runs(deployment["id"])
