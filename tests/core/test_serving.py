"""The holder of the served model: it follows production, keeps a request's model, says
"damaged" for a damaged production and recovers after the repair, and waits out a swap."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from tasks.core.production import (
    POINTER,
    POINTER_JSON,
    ProductionDamagedError,
    read_production,
    repair_production,
)
from tasks.core.serving import NoProductionError, ProductionHolder, production_identity
from tasks.engine.pointer import pointer_lock
from tests.serving.conftest import promote


def test_before_the_first_promotion_there_is_nothing_to_serve(tmp_path: Path) -> None:
    holder = ProductionHolder(tmp_path / "mnist")
    with pytest.raises(NoProductionError, match="nothing is in production"):
        holder.current()
    promote(tmp_path, "model-a", seed=1)
    assert holder.current().record.model == "model-a"


def test_it_follows_production_and_a_request_keeps_its_model(tmp_path: Path) -> None:
    promote(tmp_path, "model-a", seed=1)
    holder = ProductionHolder(tmp_path / "mnist")
    first = holder.current()
    assert holder.current() is first  # unchanged production: no reload
    promote(tmp_path, "model-b", seed=2)
    second = holder.current()
    assert second.record.model == "model-b" and second.record.previous == "model-a"
    # the first request's model is still whole: its weights were not swapped under it
    assert first.record.model == "model-a"
    assert not (first.params["W_1"] == second.params["W_1"]).all()


def test_a_damaged_production_raises_and_recovers_after_repair(tmp_path: Path) -> None:
    promote(tmp_path, "model-a", seed=1)
    holder = ProductionHolder(tmp_path / "mnist")
    holder.current()
    record = tmp_path / "mnist" / POINTER_JSON
    record.unlink()
    with pytest.raises(ProductionDamagedError, match="is missing"):
        holder.current()
    repair_production(tmp_path / "mnist")
    assert holder.current().record.model == "model-a"


def test_weights_that_cannot_be_read_are_damage_not_a_crash(tmp_path: Path) -> None:
    promote(tmp_path, "model-a", seed=1)
    holder = ProductionHolder(tmp_path / "mnist")
    (tmp_path / "mnist" / POINTER / "W_2.csv").write_text("1,2,oops\n", encoding="utf-8")
    with pytest.raises(ProductionDamagedError, match="model-a cannot be read"):
        holder.current()


def test_a_reader_in_the_middle_of_a_swap_waits_for_it(tmp_path: Path) -> None:
    """The gate writes the record, then the link: in between production reads as damaged.
    The holder waits for the swap's lock instead of answering "damaged"."""
    promote(tmp_path, "model-a", seed=1)
    dataset_dir = tmp_path / "mnist"
    holder = ProductionHolder(dataset_dir)
    holder.current()
    new = json.loads((dataset_dir / POINTER_JSON).read_text(encoding="utf-8"))
    new["path"] = "promoted/model-b"
    in_the_window, release = threading.Event(), threading.Event()

    def swap_halfway() -> None:
        with pointer_lock(dataset_dir / POINTER):
            (dataset_dir / POINTER_JSON).write_text(json.dumps(new), encoding="utf-8")
            in_the_window.set()
            release.wait(timeout=120)
            promote_copy = dataset_dir / "promoted" / "model-b"
            promote_copy.symlink_to("model-a", target_is_directory=True)
            (dataset_dir / POINTER).unlink()
            (dataset_dir / POINTER).symlink_to("promoted/model-b", target_is_directory=True)

    writer = threading.Thread(target=swap_halfway)
    writer.start()
    assert in_the_window.wait(timeout=120)
    with pytest.raises(ProductionDamagedError):
        read_production(dataset_dir)  # what a reader without the wait would answer
    threading.Timer(0.2, release.set).start()
    assert holder.current().record.path == "promoted/model-b"
    writer.join()


def test_the_identity_changes_with_each_file_it_covers(tmp_path: Path) -> None:
    promote(tmp_path, "model-a", seed=1)
    dataset_dir = tmp_path / "mnist"
    before = production_identity(dataset_dir)
    assert before is not None and before[0] == "promoted/model-a"
    (dataset_dir / POINTER / "b_2.csv").write_text("0\n" * 10, encoding="utf-8")
    assert production_identity(dataset_dir) != before
    (dataset_dir / POINTER / "b_2.csv").unlink()
    assert production_identity(dataset_dir) is None
