"""The drawing page in a real headless Chromium, driven over the DevTools protocol: a 7
drawn with pointer events is read as "7" on the page, with its bars and the model's id."""

from __future__ import annotations

import base64
import itertools
import json
import math
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.serving.conftest import app_process, promote

pytestmark = pytest.mark.integration
# The 7: a bar across the top, then a stroke down to the lower left (fractions of the canvas).
SEVEN = ((0.22, 0.2), (0.78, 0.2), (0.45, 0.88))


class DevTools:
    """One page of a headless Chromium, spoken to over its DevTools WebSocket."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket, self.next_id = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.socket.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:  # events arrive between the answers: skipped
            message = json.loads(self.socket.recv(timeout=120))
            if message.get("id") == self.next_id:
                assert "error" not in message, message
                return message["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str) -> Any:
        deadline = time.monotonic() + 120  # a hang guard, not a timing measurement
        while not (value := self.evaluate(expression)):
            assert time.monotonic() < deadline, f"the page never showed {what}"
            time.sleep(0.05)
        return value

    def stroke(self, points: list[tuple[float, float]]) -> None:
        """Press at the first point, move through the others, release: pointer events."""
        mouse = {"button": "left", "clickCount": 1}
        self.call("Input.dispatchMouseEvent", type="mousePressed", x=points[0][0],
                  y=points[0][1], buttons=1, **mouse)
        for x, y in points[1:]:
            self.call("Input.dispatchMouseEvent", type="mouseMoved", x=x, y=y, buttons=1,
                      button="left")
        self.call("Input.dispatchMouseEvent", type="mouseReleased", x=points[-1][0],
                  y=points[-1][1], buttons=0, **mouse)


@pytest.fixture
def page(tmp_path: Path, fast_params: dict, mnist_arrays: tuple) -> Iterator[DevTools]:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run does)")
    test_split = {"test": (mnist_arrays[2], mnist_arrays[3])}
    promote(tmp_path, "fast-model", fast_params, sets=test_split)
    with app_process(tmp_path) as url:
        process = subprocess.Popen(
            [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--window-size=760,520", url], stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        try:
            yield DevTools(connect(_page_socket(process), max_size=None))
        finally:
            process.terminate()
            process.wait(timeout=60)


def _page_socket(process: subprocess.Popen[str]) -> str:
    """The WebSocket of the page Chromium opened, from the port it prints on stderr."""
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("DevTools listening on ws://"):
            port = line.split("ws://127.0.0.1:", 1)[1].split("/", 1)[0]
            break
    else:
        pytest.fail("chromium did not open its DevTools port")
    deadline = time.monotonic() + 120
    while True:
        pages = [t for t in httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=60).json()
                 if t["type"] == "page"]
        if pages:
            return str(pages[0]["webSocketDebuggerUrl"])
        assert time.monotonic() < deadline, "chromium opened no page"
        time.sleep(0.05)


def _along(points: tuple[tuple[float, float], ...], box: dict[str, float],
           step: float = 6.0) -> list[tuple[float, float]]:
    """The polyline through ``points`` (canvas fractions) in page pixels, every ``step``."""
    corners = [(box["left"] + x * box["width"], box["top"] + y * box["height"])
               for x, y in points]
    path = [corners[0]]
    for (x0, y0), (x1, y1) in itertools.pairwise(corners):
        count = max(1, math.ceil(math.dist((x0, y0), (x1, y1)) / step))
        path += [(x0 + (x1 - x0) * i / count, y0 + (y1 - y0) * i / count)
                 for i in range(1, count + 1)]
    return path


def test_a_seven_drawn_on_the_page_is_read_as_7(page: DevTools, tmp_path: Path) -> None:
    model = page.wait_for("document.getElementById('model-id').textContent.trim() !== '…' "
                          "&& document.getElementById('model-id').textContent", "the model")
    assert model == "fast-model"
    # the whole page in the screenshot: headless windows are shorter than --window-size
    page.call("Emulation.setDeviceMetricsOverride", width=720, height=600, deviceScaleFactor=1,
              mobile=False)
    assert page.evaluate("document.getElementById('digit').textContent") == "?"
    box = page.evaluate("JSON.stringify(document.getElementById('pad')"
                        ".getBoundingClientRect())")
    page.stroke(_along(SEVEN, json.loads(box)))
    page.wait_for("document.getElementById('digit').textContent === '7'", '"7"')
    assert page.evaluate("document.querySelectorAll('#bars li').length") == 10
    assert page.evaluate("document.querySelector('#bars li.top .name').textContent") == "7"
    accuracy = float(page.evaluate("document.getElementById('model-accuracy').textContent"))
    assert accuracy > 0.9  # the fast preset's test accuracy, as the gate scored it
    shot = base64.b64decode(page.call("Page.captureScreenshot", format="png")["data"])
    assert shot[:8] == b"\x89PNG\r\n\x1a\n"
    (tmp_path / "app.png").write_bytes(shot)  # docs/app.png is one of these
