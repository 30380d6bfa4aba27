"""`python flows/mnist_flow.py serve --cron ...` against a real Prefect server (SQLite)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import (
    CRON,
    METRICS_KEY,
    PrefectServer,
    serving,
    wait_for,
)

pytestmark = pytest.mark.integration

STAGES = {"download", "preprocess", "intake", "validate", "train", "evaluate", "export",
          "promote"}


def stage_states(server: PrefectServer, flow_run_id: str) -> dict[str, str]:
    """``{task name without its suffix: state name}`` of one flow run."""
    return {run["name"].rsplit("-", 1)[0]: run["state"]["name"]
            for run in server.task_runs(flow_run_id)}


def settled_stage_states(server: PrefectServer, flow_run_id: str,
                         expected: str) -> dict[str, str]:
    """The stage states once every stage shows ``expected``, or as they are after 20 s:
    the server records task states from events, a moment after the flow run finishes."""
    def settled() -> dict[str, str] | None:
        states = stage_states(server, flow_run_id)
        return states if all(states.get(stage) == expected for stage in STAGES) else None

    try:
        return wait_for(settled, f"stages {expected}", timeout=20)
    except pytest.fail.Exception:
        return stage_states(server, flow_run_id)


def test_serve_registers_cron_schedule_and_parameters(served_runs: dict[str, Any],
                                                       shared_artifacts: Path) -> None:
    deployment = served_runs["deployment"]
    [schedule] = deployment["schedules"]
    assert schedule["schedule"]["cron"] == CRON
    assert schedule["schedule"]["timezone"] == "UTC"
    assert schedule["active"] and not deployment["paused"]
    config = deployment["parameters"]["config"]
    assert config["preset"] == "original" and config["train"]["steps"] == 400
    assert config["artifacts_dir"] == str(shared_artifacts)


def test_served_run_completes_with_stages_and_metrics(sqlite_server: PrefectServer,
                                                      served_runs: dict[str, Any]) -> None:
    run = served_runs["first"]
    assert run["exit_code"] == 0, run["output"]
    assert run["state"]["type"] == "COMPLETED"
    states = settled_stage_states(sqlite_server, run["id"], "Completed")
    assert STAGES | {"publish"} <= set(states)
    assert {states.get(stage) for stage in STAGES} == {"Completed"}, states
    [artifact] = sqlite_server.metrics_artifacts(run["id"])
    assert artifact["type"] == "table"
    assert "test" in str(artifact["data"]) and "accuracy" in str(artifact["data"])


def test_second_trigger_comes_from_cache(sqlite_server: PrefectServer,
                                         served_runs: dict[str, Any]) -> None:
    run = served_runs["second"]
    assert run["state"]["type"] == "COMPLETED", run["output"]
    states = settled_stage_states(sqlite_server, run["id"], "Cached")
    assert {states.get(stage) for stage in STAGES} == {"Cached"}, states
    assert states["publish"] == "Completed"
    # the same key, so the dashboard lists every run's metrics under one artifact
    assert sqlite_server.metrics_artifacts(run["id"])[0]["key"] == METRICS_KEY


def test_serving_again_keeps_pauses_and_does_not_duplicate_runs(
        sqlite_server: PrefectServer, tmp_path: Path) -> None:
    """Prefect's own redeploy resumes a paused deployment (#14973); ours must not."""
    name = "it-pause"
    with serving(sqlite_server, name, tmp_path / "artifacts", tmp_path / "serve1.log"):
        deployment = sqlite_server.deployment(name)
        wait_for(lambda: sqlite_server.scheduled_runs(deployment["id"]), "scheduled runs")
        [schedule] = deployment["schedules"]
        sqlite_server.post(f"/deployments/{deployment['id']}/pause_deployment")
        sqlite_server.patch(f"/deployments/{deployment['id']}/schedules/{schedule['id']}",
                            {"active": False})
    with serving(sqlite_server, name, tmp_path / "artifacts", tmp_path / "serve2.log") as again:
        redeployed = sqlite_server.deployment(name)
        assert redeployed["paused"], again.output()
        assert [s["active"] for s in redeployed["schedules"]] == [False]
        assert "stays paused" in again.output()
        sqlite_server.post(f"/deployments/{deployment['id']}/resume_deployment")
        sqlite_server.patch(f"/deployments/{deployment['id']}/schedules/"
                            f"{redeployed['schedules'][0]['id']}", {"active": True})
    with serving(sqlite_server, name, tmp_path / "artifacts", tmp_path / "serve3.log"):
        runs = wait_for(lambda: sqlite_server.scheduled_runs(deployment["id"]),
                        "scheduled runs after resuming")
        times = [run["next_scheduled_start_time"] for run in runs]
        assert len(times) == len(set(times)), f"duplicate scheduled runs: {sorted(times)}"
        assert not sqlite_server.deployment(name)["paused"]
