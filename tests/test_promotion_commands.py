"""``mnist-flow promote``, ``rollback`` and ``production``'s history, as a user types them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flows.cli import main
from tasks.core.promotion_log import log_path, read_decisions


def _model(artifacts: Path, model: str, accuracy: float = 0.9) -> Path:
    folder = artifacts / "mnist" / "models" / model
    folder.mkdir(parents=True)
    for name in ("W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv"):
        (folder / name).write_text("0\n")
    (folder / "metrics.json").write_text(json.dumps({"test": {"accuracy": accuracy}}))
    return folder


def _target(artifacts: Path) -> str:
    return os.readlink(artifacts / "mnist" / "production")


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        status = main(list(argv))
    except SystemExit as stop:  # argparse's own refusals end the process
        status = int(stop.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def test_promote_then_rollback_walks_back_and_every_move_is_logged(tmp_path: Path,
                                                                   capsys) -> None:
    art = ["--artifacts-dir", str(tmp_path)]
    for model, accuracy in (("aaa", 0.91), ("bbb", 0.92), ("ccc", 0.93)):
        _model(tmp_path, model, accuracy)
        status, out, _ = _run(capsys, "promote", model, "--reason", f"try {model}", *art)
        assert status == 0 and out.startswith(f"promoted: {model} is in production (forced)")
    assert _target(tmp_path) == "promoted/ccc"
    status, out, _ = _run(capsys, "rollback", "--reason", "complaints about 4s", *art)
    assert status == 0 and _target(tmp_path) == "promoted/bbb"
    assert "rolled back from ccc by " in out and "complaints about 4s" in out
    assert _run(capsys, "rollback", *art)[0] == 0 and _target(tmp_path) == "promoted/aaa"
    status, _, err = _run(capsys, "rollback", *art)
    assert status == 2 and err.strip() == (f"error: there is no earlier model to roll back to "
                                           f"in {tmp_path / 'mnist'}: aaa was the first model "
                                           f"promoted")
    assert _target(tmp_path) == "promoted/aaa"
    decisions = read_decisions(tmp_path / "mnist")
    assert [(d["action"], d["candidate"], d["production"]) for d in decisions] == [
        ("force", "aaa", None), ("force", "bbb", "aaa"), ("force", "ccc", "bbb"),
        ("rollback", "bbb", "ccc"), ("rollback", "aaa", "bbb")]
    status, out, _ = _run(capsys, "production", "--last", "2", *art)
    assert status == 0 and "model      aaa" in out and "policy rollback" in out
    history = out.split("last 2 decisions, newest first:\n")[1].splitlines()
    assert "aaa  (rollback) rolled back from bbb" in history[0]
    assert "bbb  (rollback) rolled back from ccc" in history[1] and len(history) == 2


@pytest.mark.parametrize(("argv", "message"), [
    (["promote", "nope", "--reason", "x"], "error: no model nope in "),
    (["promote", "../x", "--reason", "x"], "error: '../x' is not a model id"),
    (["promote", "aaa", "--reason", "  "], "error: --reason is empty"),
    (["promote", "aaa"], "error: the following arguments are required: --reason"),
    (["rollback"], "error: there is no earlier model to roll back to"),
])
def test_bad_requests_are_one_error_line(tmp_path: Path, capsys, argv: list[str],
                                         message: str) -> None:
    _model(tmp_path, "aaa")
    status, _, err = _run(capsys, *argv, "--artifacts-dir", str(tmp_path))
    assert status == 2 and err.startswith(message) and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "mnist" / "production").exists()


def test_promoting_production_again_is_refused(tmp_path: Path, capsys) -> None:
    _model(tmp_path, "aaa")
    art = ["--artifacts-dir", str(tmp_path)]
    assert _run(capsys, "promote", "aaa", "--reason", "first", *art)[0] == 0
    status, _, err = _run(capsys, "promote", "aaa", "--reason", "again", *art)
    assert status == 2 and "aaa already is in production" in err
    assert len(read_decisions(tmp_path / "mnist")) == 1


def test_a_log_that_cannot_be_written_moves_nothing(tmp_path: Path, capsys) -> None:
    """The transaction: the pointer moved, the log line failed, so the pointer goes back."""
    _model(tmp_path, "aaa")
    _model(tmp_path, "bbb")
    art = ["--artifacts-dir", str(tmp_path)]
    assert _run(capsys, "promote", "aaa", "--reason", "first", *art)[0] == 0
    record = (tmp_path / "mnist" / "production.json").read_bytes()
    log_path(tmp_path / "mnist").unlink()
    log_path(tmp_path / "mnist").mkdir()  # appending to it fails
    status, _, err = _run(capsys, "promote", "bbb", "--reason", "second", *art)
    assert status == 2 and "promotions.jsonl" in err
    assert _target(tmp_path) == "promoted/aaa"
    assert (tmp_path / "mnist" / "production.json").read_bytes() == record


def test_history_lists_refusals_too(tmp_path: Path, capsys) -> None:
    from tasks.core.promotion_log import append_decision

    append_decision(tmp_path / "mnist", "gate", {
        "outcome": "rejected", "candidate": "ddd", "production": None,
        "reason": "class 7 recall -4.4 points", "decided_at": "2026-12-06T03:00:00+00:00"})
    (tmp_path / "mnist" / "promotions.jsonl").open("a").write("{torn\n")
    status, out, _ = _run(capsys, "production", "--artifacts-dir", str(tmp_path))
    assert status == 0 and "nothing is in production" in out
    assert "rejected ddd  (gate) class 7 recall -4.4 points" in out
