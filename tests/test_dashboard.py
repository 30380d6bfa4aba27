"""Dashboard calls are best-effort: one that fails or hangs costs one warning and its deadline,
never the stage; the training progress bar stops after its first failed update; nothing is
tried while the server is known to be lost. (A real lost server: tests/hostile/
test_server_loss.py.)"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import pytest

from tasks import dashboard
from tasks.core.history import TrainProgress
from tasks.stages import train


@pytest.fixture(autouse=True)
def _server_answers() -> Iterator[None]:
    dashboard.mark_server_lost(False)
    yield
    dashboard.mark_server_lost(False)


def _refused(*args: object, **kwargs: object) -> object:
    raise ConnectionRefusedError("[Errno 111] Connection refused")


def test_a_call_that_works_returns_its_value() -> None:
    assert dashboard.post("a table", lambda key: f"id-{key}", "k") == "id-k"


def test_a_failing_call_is_one_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="tasks.dashboard"):
        assert dashboard.post("the metrics table", _refused) is None
    [record] = caplog.records
    assert "the metrics table" in record.message and "Connection refused" in record.message


def test_a_hanging_call_costs_its_deadline_only(caplog: pytest.LogCaptureFixture) -> None:
    release = threading.Event()
    with caplog.at_level(logging.WARNING, logger="tasks.dashboard"):
        assert dashboard.post("the run report", release.wait, deadline=0.2) is None
    release.set()
    assert "no answer within 0.2 s" in caplog.text


def test_nothing_is_tried_while_the_server_is_lost() -> None:
    calls = []
    dashboard.mark_server_lost(True)
    assert dashboard.post("an event", calls.append, 1) is None
    dashboard.mark_server_lost(False)
    dashboard.post("an event", calls.append, 2)
    assert calls == [2]


def _point(step: int, total: int) -> TrainProgress:
    return TrainProgress(step=step, total_steps=total, loss=1.0, train_accuracy=0.5,
                         test_accuracy=0.5)


def test_progress_bar_stops_after_its_first_failed_update(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    updates: list[float] = []

    def update(artifact_id: str, progress: float) -> str:
        updates.append(progress)
        raise ConnectionRefusedError("[Errno 111] Connection refused")

    monkeypatch.setattr(train, "create_progress_artifact", lambda **kwargs: "bar-id")
    monkeypatch.setattr(train, "update_progress_artifact", update)
    monkeypatch.setattr(train, "PROGRESS_UPDATE_SECONDS", 0.0)  # every point would update
    report = train._progress_reporter(logging.getLogger("test-train"))
    with caplog.at_level(logging.WARNING, logger="tasks.dashboard"):
        for step in range(10):  # training goes on: no exception reaches it
            report(_point(step, 10))
    assert updates == [10.0]
    assert caplog.text.count("did not take") == 1


def test_progress_bar_that_cannot_start_is_never_updated(monkeypatch: pytest.MonkeyPatch) -> None:
    updates: list[float] = []
    monkeypatch.setattr(train, "create_progress_artifact", _refused)
    monkeypatch.setattr(train, "update_progress_artifact",
                        lambda artifact_id, progress: updates.append(progress))
    report = train._progress_reporter(logging.getLogger("test-train"))
    for step in range(3):
        report(_point(step, 3))
    assert updates == []
