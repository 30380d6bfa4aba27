"""The shipped automation, loaded with the documented command, turns a rejected model into a
webhook call: a real Prefect server (its triggers and actions services), a real notification
block, and a receiver on 127.0.0.1 started here."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.integration.conftest import REPO_ROOT, PrefectServer, wait_for

pytestmark = pytest.mark.integration

AUTOMATION = REPO_ROOT / "automations" / "notify-on-rejection.yaml"
MAKE_BLOCK = """
import sys
from prefect.blocks.notifications import CustomWebhookNotificationBlock
block = CustomWebhookNotificationBlock(
    name="mnist-flow", url=sys.argv[1], json_data={"text": "{{subject}}\\n{{body}}"})
print(block.save("mnist-flow-alerts", overwrite=True))
"""


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


def _run(server: PrefectServer, *args: str) -> list[str]:
    done = subprocess.run([sys.executable, *args], env=server.env, cwd=REPO_ROOT, text=True,
                          capture_output=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.strip().splitlines()


def _stored_event(server: PrefectServer, event_id: str) -> list[dict]:
    """The event, once the server's persister has written it (it batches every few seconds)."""
    return wait_for(lambda: server.post("/events/filter", {
        "filter": {"id": {"id": [event_id]}}})["events"], f"event {event_id} to be stored",
                    server.process, timeout=120)


def test_a_rejected_model_sends_the_webhook_notification(sqlite_server: PrefectServer, receiver,
                                                         tmp_path: Path) -> None:
    url, received = receiver
    [block_id] = _run(sqlite_server, "-c", MAKE_BLOCK, url)
    automation = tmp_path / "notify.yaml"
    automation.write_text(AUTOMATION.read_text().replace("REPLACE_WITH_BLOCK_ID", block_id))
    created = sqlite_server.cli("automation", "create", "--from-file", str(automation))
    assert created.returncode == 0, created.stdout
    assert "mnist-flow-notify-on-rejection" in created.stdout

    script = REPO_ROOT / "tests" / "integration" / "emit_rejection.py"
    event_id, files_event_id = _run(sqlite_server, str(script), str(tmp_path / "artifacts"))

    wait_for(lambda: received, "the webhook notification of the rejected model",
             sqlite_server.process, timeout=180)
    text = received[0]["text"]
    assert text.startswith("mnist-flow: new mnist model rejected"), text
    assert "rejected: candidate bad000000002" in text
    assert "production 1.0000 (600d00000001)" in text
    [event] = _stored_event(sqlite_server, event_id)
    assert event["event"] == "mnist-flow.model.rejected"
    assert event["resource"]["prefect.resource.id"] == "mnist-flow.model.mnist.bad000000002"
    assert event["payload"]["production_accuracy"] == 1.0
    assert any(item["prefect.resource.role"] == "flow-run" for item in event["related"])
    [files] = _stored_event(sqlite_server, files_event_id)
    assert files["event"] == "mnist-flow.incoming.rejected-files"
    assert {item["path"] for item in files["payload"]["files"]} == {"eleven/x.png",
                                                                     "3/notes.txt"}
    assert len(received) == 1  # only the rejection is wired to the webhook
