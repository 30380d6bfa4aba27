"""The ledger's Prefect-side readers survive any line: the promotions table publish posts after
promote has moved production, and a sweep point's check for a line already written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tasks.core.ledger import ledger_path, parse_entry, read_entries
from tasks.engine.manifest import Manifest
from tasks.ledger import record_training
from tasks.stages import publish
from tests.ledger_lines import DAMAGE, encoded, main_line, write_ledger


@pytest.fixture
def posted(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The table artifacts posted, instead of posting them to a Prefect API."""
    tables: list[dict[str, Any]] = []
    monkeypatch.setattr(publish, "create_table_artifact",
                        lambda **artifact: tables.append(artifact))
    return tables


def test_the_promotions_table_skips_every_kind_of_damage(
        tmp_path: Path, posted: list[dict[str, Any]]) -> None:
    """The line that crashed publish (a null candidate accuracy) among the others."""
    lines = [encoded(main_line("old", 0.9, production=None, production_accuracy=None))]
    lines += [DAMAGE[damage](main_line("bad")) for damage in sorted(DAMAGE) if damage != "torn"]
    lines.append(encoded(main_line("cached", decided=False)))
    lines.append(encoded({**main_line("fashion"), "dataset": "fashion_mnist"}))
    path = write_ledger(ledger_path(tmp_path), lines, torn_tail=DAMAGE["torn"](main_line("b")))
    new = parse_entry(encoded(main_line("new", 0.93, production="old")))
    rows = publish.post_promotions("mnist", [*read_entries(path), new])
    assert [row["run"] for row in rows] == ["new", "old"]  # newest first; decided, mnist only
    assert rows[0] == {"time": new.time, "run": "new", "outcome": "promoted",
                       "candidate": "c0ffee", "candidate accuracy": 0.93, "production": "old",
                       "production accuracy": 0.9, "policy": "if-better",
                       "reason": "accuracy +0.0100 vs production"}
    assert rows[1]["production"] == "none" and rows[1]["production accuracy"] == ""
    assert posted == [{"key": "mnist-promotions", "table": rows,
                       "description": "mnist: the promotion gate's last decisions"}]


def test_a_number_json_cannot_carry_is_shown_blank(posted: list[dict[str, Any]]) -> None:
    entry = parse_entry(encoded(main_line("r1", float("nan"), production_accuracy=float("inf"))))
    row = publish.post_promotions("mnist", [entry])[0]
    assert row["candidate accuracy"] == "" and row["production accuracy"] == ""


def test_no_decision_posts_no_table(posted: list[dict[str, Any]]) -> None:
    assert publish.post_promotions("mnist", [parse_entry(encoded(main_line("r1",
                                                                           decided=False)))]) == []
    assert posted == []


def preprocess_manifest() -> Manifest:
    return Manifest(stage="preprocess", dataset="mnist", outputs={},
                    info={"split_metadata": {"train": {}, "test": {}}})


def test_a_sweep_point_is_recorded_once_beside_damaged_lines(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    lines = [DAMAGE[damage](main_line("bad")) for damage in sorted(DAMAGE) if damage != "torn"]
    path = write_ledger(ledger_path(tmp_path), lines, torn_tail=DAMAGE["torn"](main_line("b")))

    def record(seed: int) -> Any:
        return record_training(tmp_path, kind="sweep", data=preprocess_manifest(),
                               parameters={"seed": seed}, cached=False, once=True,
                               metrics={"validation_accuracy": 0.5, "validation_loss": 0.1},
                               model_dir=tmp_path / "points" / str(seed), point=str(seed))

    first = record(1)
    assert first.kind == "sweep" and first.metrics["validation_accuracy"] == 0.5
    record(1)  # the same training again: not counted twice
    record(2)
    assert [e.parameters["seed"] for e in read_entries(path)] == [1, 2]
    # One warning per read that reached the damage: the first and third records read the
    # whole ledger (no such line yet), the second stopped at the line of the first; + ours.
    warnings = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(warnings) == 3 and all(f"skipped {len(DAMAGE)} lines" in w for w in warnings)


def test_a_line_its_readers_would_skip_is_never_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"metrics\.validation_accuracy should be a valid number"):
        record_training(tmp_path, kind="sweep", data=preprocess_manifest(), parameters={},
                        metrics={"validation_accuracy": None}, cached=False,
                        model_dir=tmp_path / "p")
    assert not ledger_path(tmp_path).exists()
