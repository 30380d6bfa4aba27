"""Reading the run ledger: one typed record per line, whatever else the file holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tasks.core import ledger
from tasks.core.errors import DataError
from tasks.core.ledger import append_entry, parse_entry, read_entries
from tests.ledger_lines import DAMAGE, WHY, encoded, main_line, write_ledger


def read(path: Path, **options: object) -> tuple[list[str], list[str]]:
    """The runs read and the warnings given."""
    warnings: list[str] = []
    entries = read_entries(path, warn=warnings.append, **options)  # type: ignore[arg-type]
    return [entry.run for entry in entries], warnings


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_each_kind_of_damage_is_skipped_with_one_warning(tmp_path: Path, damage: str) -> None:
    bad = DAMAGE[damage](main_line("bad"))
    good = [encoded(main_line("r1")), encoded(main_line("r2"))]
    if damage == "torn":
        path = write_ledger(tmp_path / "ledger.jsonl", good, torn_tail=bad)
        number = 3
    else:
        path = write_ledger(tmp_path / "ledger.jsonl", [good[0], bad, good[1]])
        number = 2
    runs, warnings = read(path)
    assert runs == ["r1", "r2"]
    assert warnings == [f"{path}: skipped 1 line that is not a complete entry; line {number}: "
                        f"{WHY[damage]}"]


def test_many_damaged_lines_give_one_warning_naming_the_first(tmp_path: Path) -> None:
    lines = [encoded(main_line("r1")), b"", b"  ", DAMAGE["missing key"](main_line("x"))]
    lines += [DAMAGE[d](main_line("x")) for d in sorted(DAMAGE) if d != "torn"]
    lines.append(encoded(main_line("r2")))
    path = write_ledger(tmp_path / "ledger.jsonl", lines, torn_tail=b'{"kind": "ma')
    runs, warnings = read(path)
    assert runs == ["r1", "r2"]
    assert warnings == [f"{path}: skipped 7 lines that are not complete entries; the first, "
                        f"line 4: kind is missing"]  # blank lines are not damage


def test_the_typed_record_holds_what_the_readers_use() -> None:
    entry = parse_entry(encoded(main_line("r1", production=None, production_accuracy=None)))
    assert entry.kind == "main" and entry.metrics["test_accuracy"] == 0.91
    assert entry.parameters == {"seed": 1, "lr": 0.01, "epochs": None}
    assert entry.promotion is not None and entry.promotion.production_accuracy is None
    assert entry.promotion.candidate_accuracy == 0.91 and entry.promotion.decided
    assert parse_entry(encoded(main_line("r1")).decode()).run == "r1"  # a str line too
    with pytest.raises(ValueError, match="cached should be a valid boolean, found 1"):
        parse_entry(encoded({**main_line("r1"), "cached": 1}))


def test_what_json_writes_reads_back(tmp_path: Path) -> None:
    """A diverged training's NaN loss, and a model folder whose name is not UTF-8 (a lone
    surrogate in the line, which the fast JSON parser refuses)."""
    path = tmp_path / "ledger.jsonl"
    odd = os.fsdecode(b"/a/models/\xff")
    append_entry(path, {**main_line("r1"), "metrics": {"validation_loss": float("nan")},
                        "model_dir": odd})
    append_entry(path, {**main_line("r2"), "metrics": {"test_accuracy": 1}})  # an int is a number
    entries = read_entries(path)
    assert [e.model_dir for e in entries] == [odd, "/a/mnist/models/r2"]
    assert entries[0].metrics["validation_loss"] != entries[0].metrics["validation_loss"]


def test_older_lines_without_the_optional_fields_still_read(tmp_path: Path) -> None:
    """Lines of a sweep (no promotion, no preset) or edited down to what the readers use."""
    line = main_line("r1")
    minimal = {k: v for k, v in line.items() if k not in ("versions", "promotion", "seed")}
    decision = {k: v for k, v in line["promotion"].items()
                if k not in ("thresholds", "eval_sizes", "decided_at")}
    path = write_ledger(tmp_path / "ledger.jsonl",
                        [encoded(minimal), encoded({**minimal, "promotion": decision})])
    entries = read_entries(path)
    assert [e.promotion is None for e in entries] == [True, False]
    assert entries[1].promotion is not None and entries[1].promotion.thresholds is None


@pytest.mark.parametrize("block", [7, 100, 1 << 20])
def test_reading_from_the_end_finds_every_line_across_blocks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, block: int) -> None:
    monkeypatch.setattr(ledger, "_BLOCK", block)
    lines = [encoded(main_line(f"r{i}")) for i in range(30)]
    lines[4] = b"\xff damaged"
    path = write_ledger(tmp_path / "ledger.jsonl", lines)
    runs, warnings = read(path)
    assert runs == [f"r{i}" for i in range(30) if i != 4]
    assert warnings == [f"{path}: skipped 1 line that is not a complete entry; line 5: "
                        f"not JSON (a torn or damaged line)"]


def test_last_reads_only_the_lines_it_needs(tmp_path: Path) -> None:
    """Damage older than the last entries asked for is not read, so not reported."""
    lines = [b"damaged", *(encoded(main_line(f"r{i}")) for i in range(5))]
    path = write_ledger(tmp_path / "ledger.jsonl", lines, torn_tail=b'{"ki')
    assert read(path, last=2) == (["r3", "r4"], [
        f"{path}: skipped 1 line that is not a complete entry; line 7: not JSON (a torn or "
        f"damaged line)"])
    runs, warnings = read(path, last=10)
    assert runs == [f"r{i}" for i in range(5)] and "skipped 2 lines" in warnings[0]
    assert "line 1:" in warnings[0]


def test_where_chooses_the_entries_last_counts(tmp_path: Path) -> None:
    lines = [encoded({**main_line(f"r{i}"), "kind": "sweep" if i % 2 else "main"})
             for i in range(7)]
    path = write_ledger(tmp_path / "ledger.jsonl", lines)
    runs, _ = read(path, last=2, where=lambda e: e.kind == "sweep")
    assert runs == ["r3", "r5"]
    with pytest.raises(ValueError, match="last must be at least 1"):
        read_entries(path, last=0)


def test_the_warning_is_logged_once_by_default(tmp_path: Path,
                                               caplog: pytest.LogCaptureFixture) -> None:
    path = write_ledger(tmp_path / "ledger.jsonl", [b"x", b"y", encoded(main_line("r1"))])
    assert [e.run for e in read_entries(path)] == ["r1"]
    assert [r.getMessage() for r in caplog.records] == [
        f"{path}: skipped 2 lines that are not complete entries; the first, line 1: not JSON "
        f"(a torn or damaged line)"]


def test_a_fifo_is_one_error_not_a_hang(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    os.mkfifo(path)
    with pytest.raises(DataError, match="it is not a regular file; move it away"):
        read_entries(path)

