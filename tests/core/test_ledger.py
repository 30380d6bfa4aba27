"""The run ledger: one JSON line per training, appended, read back, shown side by side."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tasks.core.errors import DataError, OutputError
from tasks.core.history_table import history_table, ledger_frame, varying_parameters
from tasks.core.ledger import append_entry, data_digest, make_entry, read_entries
from tasks.core.tables import leaderboard_csv, leaderboard_text


def entry(seed: int, lr: float = 0.01, **metrics: float) -> dict:
    return make_entry(kind="sweep", run="r", dataset="mnist", parameters={"seed": seed, "lr": lr,
                      "hidden": 20}, data="d" * 16, code="c" * 64, versions={"numpy": "2"},
                      metrics=metrics or {"validation_accuracy": 0.9}, cached=False,
                      model_dir=Path("/m"))


def test_entries_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    for seed in range(3):
        append_entry(path, entry(seed))
    read = read_entries(path)
    assert [e.parameters["seed"] for e in read] == [0, 1, 2]
    assert read[0].parameters["lr"] == 0.01 and read[0].time.endswith("+00:00")
    assert read[0].metrics == {"validation_accuracy": 0.9} and read[0].promotion is None
    assert [e.parameters["seed"] for e in read_entries(path, last=2)] == [1, 2]


def test_a_missing_ledger_reads_as_empty(tmp_path: Path) -> None:
    assert read_entries(tmp_path / "none.jsonl") == []


def test_a_torn_last_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entry(path, entry(1))
    with open(path, "a") as stream:
        stream.write('{"kind": "sweep", "se')
    assert [e.parameters["seed"] for e in read_entries(path)] == [1]
    assert "skipped 1 line that is not a complete entry; line 2: not JSON" in caplog.text


def test_concurrent_appends_never_mix_lines(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    big = {"blob": "x" * 20_000}

    def write(seed: int) -> None:
        for _ in range(20):
            append_entry(path, {**entry(seed), **big})

    threads = [threading.Thread(target=write, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lines = path.read_text().splitlines()
    assert len(lines) == 80 and all(json.loads(line)["blob"] == big["blob"] for line in lines)


def test_an_unwritable_ledger_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(OutputError, match="run ledger"):
        append_entry(blocker / "ledger.jsonl", entry(1))


def test_the_data_digest_follows_the_recorded_sources() -> None:
    def split(source: str, **more: str) -> dict[str, str]:
        return {"mnist_flow.preprocessing": "v1", "mnist_flow.source_sha256.images": source,
                "mnist_flow.source_sha256.labels": "l", **more}

    one = data_digest({"train": split("a"), "test": split("a")})
    same = data_digest({"test": split("a"), "train": split("a", **{"mnist_flow.numpy": "9"})})
    other = data_digest({"train": split("b"), "test": split("a")})
    assert one == same != other and len(one) == 16


def test_history_shows_only_the_settings_that_differ() -> None:
    entries = [entry(1, test_accuracy=0.91), entry(2, lr=0.02, validation_accuracy=0.93)]
    frame = ledger_frame(entries)
    assert varying_parameters(frame) == ["seed", "lr"]
    table = history_table(frame).splitlines()
    assert len(table) == 3
    assert table[0].split()[:6] == ["time", "kind", "run", "cached", "seed", "lr"]
    assert "hidden" not in table[0]
    assert table[1].split()[5:11] == ["1", "0.0100", "-", "0.9100", "-", "dddddddd"]


def test_a_list_valued_setting_is_compared_by_value() -> None:
    entries = [{**entry(1), "parameters": {"sizes": [1, 2]}},
               {**entry(1), "parameters": {"sizes": [1, 2]}},
               {**entry(1), "parameters": {"sizes": [1, 3]}}]
    assert varying_parameters(ledger_frame(entries)) == ["sizes"]
    assert varying_parameters(ledger_frame(entries[:2])) == []


def test_a_ledger_that_cannot_be_read_is_a_data_error(tmp_path: Path) -> None:
    (tmp_path / "ledger.jsonl").mkdir()
    with pytest.raises(DataError, match="cannot read the run ledger"):
        read_entries(tmp_path / "ledger.jsonl")


BOARD = [{"rank": 1, "lr": 0.002, "validation_accuracy": 0.93301, "validation_loss": 0.25,
          "train_accuracy": 0.94, "seconds": 1.5, "status": "ran", "point": "abc"},
         {"rank": 2, "lr": 0.001, "validation_accuracy": 0.9234, "validation_loss": 0.3,
          "train_accuracy": 0.926, "seconds": 1.25, "status": "cached", "point": "def"}]


def test_the_leaderboard_csv_keeps_every_value() -> None:
    import csv
    import io

    columns = ["rank", "lr", "validation_accuracy", "point", "status"]
    rows = list(csv.DictReader(io.StringIO(leaderboard_csv(BOARD, columns))))
    assert list(rows[0]) == columns
    assert rows[0]["validation_accuracy"] == "0.93301" and rows[1]["point"] == "def"


def test_the_leaderboard_text_shows_scores_to_four_places() -> None:
    lines = leaderboard_text(BOARD, limit=1).splitlines()
    assert len(lines) == 2 and "point" not in lines[0]
    assert lines[1].split() == ["1", "0.002", "0.9330", "0.2500", "0.9400", "1.5", "ran"]
