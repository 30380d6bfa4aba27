"""Production moves through the gate while clients keep asking a real ``mnist-flow app``:
every answer names the old or the new model, none fails, and every request sent after the
move answers with the new one. No restart."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.serving.conftest import app_process, one_on_paper, png_bytes, promote

CLIENTS = 4


def test_requests_follow_a_promotion_without_a_failure(tmp_path: Path) -> None:
    promote(tmp_path, "model-old", seed=1)
    picture = png_bytes(one_on_paper())
    moved_at: list[float] = []
    answers: list[tuple[float, int, str | None]] = []  # (sent at, status, model)
    stop = threading.Event()
    lock = threading.Lock()

    def ask(url: str) -> None:
        with httpx.Client(timeout=60) as client:
            while not stop.is_set():
                sent = time.monotonic()
                try:
                    response = client.post(f"{url}/predict", content=picture)
                    outcome = (sent, response.status_code, response.json().get("model"))
                except httpx.HTTPError as error:
                    outcome = (sent, -1, repr(error))
                with lock:
                    answers.append(outcome)

    def after_move() -> int:
        with lock:
            return sum(1 for sent, _, _ in answers if moved_at and sent > moved_at[0])

    with app_process(tmp_path) as url:
        clients = [threading.Thread(target=ask, args=(url,)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        _wait(lambda: len(answers) >= 50, "answers from the old model")
        promote(tmp_path, "model-new", seed=2)
        moved_at.append(time.monotonic())
        _wait(lambda: after_move() >= 50, "answers after the move")
        stop.set()
        for client in clients:
            client.join(timeout=120)
    failures = [answer for answer in answers if answer[1] != 200]
    assert not failures, failures[:5]
    assert {model for _, _, model in answers} == {"model-old", "model-new"}
    late = [model for sent, _, model in answers if sent > moved_at[0]]
    assert set(late) == {"model-new"}, late


def _wait(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 300  # a hang guard, not a timing measurement
    while not condition():
        assert time.monotonic() < deadline, f"never saw {what}"
        time.sleep(0.01)
