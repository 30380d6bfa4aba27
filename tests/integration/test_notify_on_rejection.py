"""The shipped automation, loaded with the documented command, turns a rejected model into a
webhook call: a real Prefect server (its triggers and actions services), a real notification
block, a receiver on 127.0.0.1 started here, and two real runs of the flow on MNIST whose
second model the promote stage's gate rejects."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tasks.core.ledger import RecordedDecision, ledger_path, read_entries
from tasks.events import FILES_REJECTED, MODEL_REJECTED
from tests.integration.conftest import FLOW_SCRIPT, QUICK, REPO_ROOT, PrefectServer, wait_for

pytestmark = pytest.mark.integration

AUTOMATION = REPO_ROOT / "automations" / "notify-on-rejection.yaml"
MAKE_BLOCK = """
import sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
block = CustomWebhookNotificationBlock(
    name="mnist-flow", url=sys.argv[1], json_data={"text": "{{subject}}\\n{{body}}"})
print(block.save("mnist-flow-alerts", overwrite=True))
"""
# A learning rate 10,000 times too small: 400 steps leave the network near chance (~0.1),
# far below the first run's model, so the default policy (if-better) rejects it.
BAD_SETTING = ("--lr", "0.000001")
FLOW_RUN = re.compile(r"^dashboard: \S+/runs/flow-run/([0-9a-f-]{36})$", re.MULTILINE)


@pytest.fixture()
def receiver() -> Iterator[tuple[str, list[dict]]]:
    """An HTTP server on 127.0.0.1 recording every POSTed JSON body; its URL and the list."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            received.append(json.loads(body or b"{}"))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


def _run(server: PrefectServer, *args: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run([sys.executable, *args], env=server.env, cwd=cwd, text=True,
                          capture_output=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _run_the_flow(server: PrefectServer, artifacts: Path, *options: str,
                  ) -> tuple[str, RecordedDecision]:
    """``python flows/mnist_flow.py`` (a short original-style training) on the real MNIST:
    its flow run's id and the gate's decision, as the run's ledger line keeps it."""
    out = _run(server, FLOW_SCRIPT, *QUICK, "--artifacts-dir", str(artifacts), *options,
               cwd=artifacts.parent)
    found = FLOW_RUN.search(out)
    assert found, out
    decision = read_entries(ledger_path(artifacts))[-1].promotion
    assert decision is not None and decision.decided, out
    return found.group(1), decision


def _stored_events(server: PrefectServer, event: str, flow_run_id: str) -> list[dict[str, Any]]:
    """The events named ``event`` emitted within the flow run, once the server's persister has
    written them (it batches every few seconds)."""
    related = f"prefect.flow-run.{flow_run_id}"
    return wait_for(lambda: server.post("/events/filter", {"filter": {
        "event": {"name": [event]}, "related": {"id": [related]}}})["events"],
                    f"{event} of flow run {flow_run_id} to be stored", server.process,
                    timeout=120)


def test_a_rejected_model_sends_the_webhook_notification(sqlite_server: PrefectServer, receiver,
                                                         tmp_path: Path) -> None:
    url, received = receiver
    [block_id] = _run(sqlite_server, "-c", MAKE_BLOCK, url).strip().splitlines()
    automation = tmp_path / "notify.yaml"
    automation.write_text(AUTOMATION.read_text().replace("REPLACE_WITH_BLOCK_ID", block_id))
    created = sqlite_server.cli("automation", "create", "--from-file", str(automation))
    assert created.returncode == 0, created.stdout
    assert "mnist-flow-notify-on-rejection" in created.stdout

    artifacts = tmp_path / "artifacts"
    _, first = _run_the_flow(sqlite_server, artifacts)
    assert first.outcome == "promoted", first
    incoming = tmp_path / "incoming"  # nothing the intake can learn from
    for folder, name in (("eleven", "x.png"), ("3", "notes.txt")):
        (incoming / folder).mkdir(parents=True)
        (incoming / folder / name).write_text("not a digit")
    flow_run_id, second = _run_the_flow(sqlite_server, artifacts, *BAD_SETTING,
                                        "--incoming", str(incoming))
    assert second.outcome == "rejected", second
    assert (second.production, second.production_accuracy) == (
        first.candidate, first.candidate_accuracy)
    assert second.candidate_accuracy < first.candidate_accuracy

    wait_for(lambda: received, "the webhook notification of the rejected model",
             sqlite_server.process, timeout=180)
    text = received[0]["text"]
    assert text.startswith("mnist-flow: new mnist model rejected"), text
    assert text.count("rejected: gain -") == 1, text
    assert (f"(candidate {second.candidate} {second.candidate_accuracy:.4f} vs production "
            f"{first.candidate_accuracy:.4f} ({first.candidate})") in text
    [event] = _stored_events(sqlite_server, MODEL_REJECTED, flow_run_id)
    assert event["resource"]["prefect.resource.id"] == f"mnist-flow.model.mnist.{second.candidate}"
    assert event["payload"]["production_accuracy"] == first.candidate_accuracy
    [files] = _stored_events(sqlite_server, FILES_REJECTED, flow_run_id)
    assert {item["path"] for item in files["payload"]["files"]} == {"eleven/x.png",
                                                                     "3/notes.txt"}
    assert len(received) == 1  # only the rejection is wired to the webhook
