"""The ``ask`` policy against a real Prefect server: the run pauses on its promote stage with
the approval form, a person's answer (given here through Prefect's API, as the dashboard's
Resume form does) decides, and no answer before the deadline rejects the candidate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tasks.core.promotion_log import read_decisions
from tasks.events import MODEL_AWAITING_APPROVAL
from tests.integration.conftest import FLOW_SCRIPT, QUICK, PrefectServer, wait_for

pytestmark = pytest.mark.integration


def _start_run(server: PrefectServer, artifacts: Path, log: Path,
               *options: str) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, FLOW_SCRIPT, *QUICK, "--artifacts-dir",
                                 str(artifacts), "--promote", "ask", *options],
                                env=server.env, cwd=artifacts.parent, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def _paused_run(server: PrefectServer, since: set[str]) -> dict[str, Any] | None:
    runs = server.post("/flow_runs/filter", {"flow_runs": {
        "state": {"type": {"any_": ["PAUSED"]}}}})
    fresh = [run for run in runs if run["id"] not in since]
    return fresh[0] if fresh else None


def _finish(process: subprocess.Popen[bytes], log: Path) -> str:
    try:  # a hang guard: training and the pause's polling, on a busy machine
        process.wait(timeout=600)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail(f"the run did not end:\n{log.read_text()[-3000:]}")
    out = log.read_text(errors="replace")
    assert process.returncode == 0, out[-3000:]
    return out


def _production(artifacts: Path) -> str:
    return os.readlink(artifacts / "mnist" / "production")


def test_ask_approved_then_ask_timed_out(sqlite_server: PrefectServer, tmp_path: Path) -> None:
    artifacts = tmp_path / "artifacts"
    artifacts.mkdir()
    seen = {run["id"] for run in sqlite_server.post("/flow_runs/filter", {})}

    # 1. approved: the run pauses, the form is answered through the API, production moves
    log = tmp_path / "approved.log"
    process = _start_run(sqlite_server, artifacts, log)
    run = wait_for(lambda: _paused_run(sqlite_server, seen), "the run to pause for approval",
                   timeout=600)
    artifact = sqlite_server.post("/artifacts/filter", {"artifacts": {
        "key": {"any_": ["mnist-approval"]}, "flow_run_id": {"any_": [run["id"]]}}})
    assert artifact and "# Approve mnist model " in artifact[0]["data"]
    events = wait_for(lambda: sqlite_server.post("/events/filter", {"filter": {
        "event": {"name": [MODEL_AWAITING_APPROVAL]},
        "related": {"id": [f"prefect.flow-run.{run['id']}"]}}})["events"],
        "the awaiting-approval event", sqlite_server.process, timeout=120)
    candidate = events[0]["payload"]["candidate"]
    sqlite_server.post(f"/flow_runs/{run['id']}/resume", {"run_input": {
        "approve": True, "reviewer": "ana", "note": "checked the 7s"}})
    out = _finish(process, log)
    assert "promoted: approved by ana: checked the 7s" in out
    assert _production(artifacts) == f"promoted/{candidate}"
    state = sqlite_server.get(f"/flow_runs/{run['id']}")["state"]["type"]
    assert state == "COMPLETED"
    seen.add(run["id"])

    # 2. timed out: another seed, nobody answers, the candidate is rejected
    log = tmp_path / "timed-out.log"
    process = _start_run(sqlite_server, artifacts, log, "--seed", "7",
                         "--approval-timeout", "20")
    run = wait_for(lambda: _paused_run(sqlite_server, seen), "the second run to pause",
                   timeout=600)
    out = _finish(process, log)
    assert "rejected: no answer before the deadline" in out
    assert _production(artifacts) == f"promoted/{candidate}"
    assert sqlite_server.get(f"/flow_runs/{run['id']}")["state"]["type"] == "COMPLETED"
    decisions = read_decisions(artifacts / "mnist")
    assert [(d["action"], d["outcome"], d["reason"]) for d in decisions] == [
        ("approval", "promoted", "approved by ana: checked the 7s"),
        ("approval", "rejected", "no answer before the deadline")]
    record = json.loads((artifacts / "mnist" / "production.json").read_text())
    assert record["model"] == candidate and record["policy"] == "ask"
