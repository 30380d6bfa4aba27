"""Files another user or process reads: outputs honour the umask, the ledger survives a torn line,
and what the program reads back (``latest``, the ledger) may be of the wrong kind.

One real run (``module`` fixture) under umask 027, on an artifacts folder whose ledger ends in a
line torn by a killed run, serves the first two tests.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from tasks.core.errors import OutputError
from tasks.core.ledger import append_entry
from tasks.engine.atomic import write_text_atomic
from tasks.engine.pointer import swap_pointer
from tests.hostile.conftest import run_flow

TORN = '{"time": "2026-01-01T00:00:00+00:00", "kind": "main", "run": "kil'


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory, mnist_mirror: Path,
                 prefect_api_url: str) -> dict[str, Any]:
    artifacts = tmp_path_factory.mktemp("shared") / "artifacts"
    artifacts.mkdir()
    (artifacts / "ledger.jsonl").write_text(TORN)  # a run killed mid-append
    (artifacts / "ledger.jsonl").chmod(0o640)  # as that run, under the same umask, made it
    process = run_flow("--steps", "20", "--mirror", str(mnist_mirror), "--artifacts-dir",
                       str(artifacts), env={"PREFECT_API_URL": prefect_api_url},
                       preexec_fn=lambda: os.umask(0o027))
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output
    return {"artifacts": artifacts}


def test_outputs_get_the_mode_open_would_give(finished_run: dict[str, Any]) -> None:
    artifacts = finished_run["artifacts"]
    files = [p for p in artifacts.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) > 20
    modes = {str(p.relative_to(artifacts)): oct(stat.S_IMODE(p.stat().st_mode)) for p in files}
    wrong = {name: mode for name, mode in modes.items() if mode != oct(0o640)}
    assert wrong == {}, "umask 027 gives 0640 with a plain open()"
    for name in ("W_1.csv", "report.md", "params.npz"):
        assert stat.S_IMODE((artifacts / "latest" / name).stat().st_mode) == 0o640


def test_an_append_after_a_torn_line_is_kept(finished_run: dict[str, Any]) -> None:
    lines = (finished_run["artifacts"] / "ledger.jsonl").read_text().splitlines()
    assert lines[0] == TORN, "the fragment stays on a line of its own"
    assert len(lines) == 2
    entry = json.loads(lines[1])
    assert entry["kind"] == "main" and entry["metrics"]["test_accuracy"] > 0


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
def test_atomic_write_follows_the_umask(tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "out.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o666 & ~mask
    assert (tmp_path / "out.txt").stat().st_mode == (tmp_path / "plain.txt").stat().st_mode


def test_repeated_appends_after_a_torn_line(tmp_path: Path) -> None:
    ledger = tmp_path / "ledger.jsonl"
    ledger.write_bytes(b'{"cut sh')
    append_entry(ledger, {"n": 1})
    append_entry(ledger, {"n": 2})
    assert ledger.read_text().splitlines() == ['{"cut sh', '{"n":1}', '{"n":2}']


def test_a_ledger_that_is_a_fifo_is_refused_not_waited_on(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "ledger.jsonl")
    with pytest.raises(OutputError, match="not a regular file"):
        append_entry(tmp_path / "ledger.jsonl", {"n": 1})


def test_latest_replaced_by_a_folder_is_one_clear_error(tmp_path: Path) -> None:
    model = tmp_path / "mnist" / "models" / "abc"
    model.mkdir(parents=True)
    (tmp_path / "latest").mkdir()
    (tmp_path / "latest" / "mine.txt").write_text("a user's file")
    with pytest.raises(OutputError, match="latest") as caught:
        swap_pointer(tmp_path / "latest", model)
    assert "symbolic link" in str(caught.value)
    assert (tmp_path / "latest" / "mine.txt").read_text() == "a user's file"
    assert not list(tmp_path.glob(".latest.*.tmp")), "no staging link left behind"


def test_a_sweep_point_killed_after_training_is_recorded_once(
        tmp_path: Path, mnist_mirror: Path, prefect_api_url: str) -> None:
    from tasks.core.ledger import ledger_path, read_entries
    from tests.e2e.test_sweep_flow import run_sweep, sweep_config

    config = sweep_config(tmp_path, mnist_mirror, "seed=7", "hidden=16")
    assert run_sweep(config)["statuses"] == ["ran"]
    # Killed after its ledger line, before its cache record was written: no record.
    records = tmp_path / "mnist" / ".cache" / "records"
    points = [r for r in records.iterdir() if '\\"point\\"' in r.read_text()]
    assert len(points) == 1, [r.name for r in records.iterdir()]
    points[0].unlink()
    assert run_sweep(config)["statuses"] == ["ran"]  # trained again ...
    sweeps = [e for e in read_entries(ledger_path(tmp_path)) if e.kind == "sweep"]
    assert len(sweeps) == 1, sweeps  # ... and counted once


@pytest.mark.parametrize("damage", ["garbage", "fifo", "folder"])
def test_a_damaged_prefect_database_is_one_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, damage: str) -> None:
    """The temporary server used to spend ~40 s and 280 lines of tracebacks on it."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_HOME,
        PREFECT_SERVER_DATABASE_CONNECTION_URL,
        temporary_settings,
    )

    import flows.prefect_api
    from tasks.core.errors import ConfigError

    database = tmp_path / "prefect.db"
    if damage == "garbage":
        database.write_bytes(os.urandom(4096))
    elif damage == "fifo":
        os.mkfifo(database)
    else:
        database.mkdir()
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.setattr(flows.prefect_api, "LOCAL_SERVER", "http://127.0.0.1:9/api")  # no server
    with temporary_settings(updates={PREFECT_HOME: tmp_path},
                            # the session's test harness points both elsewhere
                            restore_defaults={PREFECT_API_URL,
                                              PREFECT_SERVER_DATABASE_CONNECTION_URL}):
        with pytest.raises(ConfigError, match=r"Prefect's database .*prefect\.db is not a SQLite"):
            flows.prefect_api.local_server_settings()
        database.unlink() if damage != "folder" else database.rmdir()
        flows.prefect_api.local_server_settings()  # moved away: Prefect makes a new one
