"""The run ledger: one JSON line per training, appended, read back, shown side by side."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from tasks.core.datasets import write_split
from tasks.core.errors import OutputError
from tasks.core.ledger import (
    append_entry,
    data_digest,
    format_table,
    history_rows,
    make_entry,
    read_entries,
    varying_parameters,
)


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
    assert [e["seed"] for e in read] == [0, 1, 2]
    assert read[0]["parameters"]["lr"] == 0.01 and read[0]["time"].endswith("+00:00")
    assert [e["seed"] for e in read_entries(path, last=2)] == [1, 2]


def test_a_missing_ledger_reads_as_empty(tmp_path: Path) -> None:
    assert read_entries(tmp_path / "none.jsonl") == []


def test_a_torn_last_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "ledger.jsonl"
    append_entry(path, entry(1))
    with open(path, "a") as stream:
        stream.write('{"kind": "sweep", "se')
    assert [e["seed"] for e in read_entries(path)] == [1]
    assert "line 2 is not a complete entry" in caplog.text


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


def test_the_data_digest_follows_the_recorded_sources(tmp_path: Path) -> None:
    X, y = np.zeros((2, 784), np.float32), np.zeros(2, np.uint8)

    def split(name: str, source: str) -> Path:
        path = tmp_path / source / f"{name}.parquet"
        write_split(path, X, y, {"mnist_flow.preprocessing": "v1",
                                 "mnist_flow.source_sha256.images": source,
                                 "mnist_flow.source_sha256.labels": "l"})
        return path

    one = data_digest({"train": split("train", "a"), "test": split("test", "a")})
    same = data_digest({"train": split("train", "a"), "test": split("test", "a")})
    other = data_digest({"train": split("train", "b"), "test": split("test", "a")})
    assert one == same != other and len(one) == 16


def test_history_shows_only_the_settings_that_differ() -> None:
    entries = [entry(1, test_accuracy=0.91), entry(2, lr=0.02, validation_accuracy=0.93)]
    assert varying_parameters(entries) == ["seed", "lr"]
    header, rows = history_rows(entries)
    assert "hidden" not in header and header[4:6] == ["seed", "lr"]
    assert rows[0][4:9] == ["1", "0.0100", "-", "0.9100", "-"]
    table = format_table(header, rows).splitlines()
    assert len(table) == 4 and table[1].startswith("----")
