"""The promotion gate on real MNIST: a good and a bad model, the pointer and its record."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from tasks.core.errors import ConfigError
from tasks.core.export import load_weights_csv, write_weights_csv
from tasks.core.gate_rules import Thresholds
from tasks.core.network import init_params, predict
from tasks.core.production import ProductionDamagedError, read_production, repair_production
from tasks.core.promotion import check_policy, decide, gate
from tasks.core.promotion_log import read_decisions
from tasks.engine.pointer import pointer_lock

NOW = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory, fast_params) -> dict[str, Path]:
    """Model folders of exported CSVs: ``good`` (the fast preset), ``bad`` (untrained)."""
    root = tmp_path_factory.mktemp("models")
    bad = init_params(20, np.random.default_rng(0), dtype=np.float32)
    folders = {"good": root / "900d00000001", "bad": root / "bad000000002"}
    write_weights_csv(fast_params, folders["good"])
    write_weights_csv(bad, folders["bad"])
    return folders


@pytest.fixture(scope="module")
def sets(mnist_arrays) -> dict:
    _, _, X_test, y_test = mnist_arrays
    return {"test": (X_test, y_test), "holdout": (X_test[:37], y_test[:37])}


def _gate(root: Path, model: Path, sets: dict, **options):
    return gate(root / "mnist", model, sets, dataset="mnist", now=NOW, **options)


def test_first_then_better_promoted_worse_rejected(tmp_path: Path, models, sets) -> None:
    first = _gate(tmp_path, models["bad"], sets)
    assert first.outcome == "promoted" and first.reason.startswith("first model")
    better = _gate(tmp_path, models["good"], sets)
    assert better.outcome == "promoted" and better.production == models["bad"].name
    assert better.candidate_accuracy > 0.9 > better.production_accuracy
    assert better.eval_sizes == {"test": 10_000, "holdout": 37}
    record_before = (tmp_path / "mnist" / "production.json").read_text()
    worse = _gate(tmp_path, models["bad"], sets)
    assert worse.outcome == "rejected" and not worse.promoted
    assert worse.candidate_accuracy == better.production_accuracy
    assert worse.production_accuracy == better.candidate_accuracy
    assert os.readlink(tmp_path / "mnist" / "production") == f"promoted/{models['good'].name}"
    assert (tmp_path / "mnist" / "production.json").read_text() == record_before
    assert worse.line().startswith("rejected: gain -")
    assert "(candidate bad000000002 " in worse.line()
    assert worse.comparison is not None and worse.comparison["production_only"] > 8000
    assert [d["outcome"] for d in read_decisions(tmp_path / "mnist")] == [
        "promoted", "promoted", "rejected"]
    again = _gate(tmp_path, models["good"], sets)
    assert again.outcome == "unchanged"


def test_production_loads_with_loadtxt_and_matches_its_record(tmp_path: Path, models, sets,
                                                              mnist_arrays) -> None:
    _gate(tmp_path, models["good"], sets)
    moved = tmp_path / "elsewhere"
    shutil.move(tmp_path / "mnist", moved)  # the whole artifacts folder moves: still valid
    info = json.loads((moved / "production.json").read_text())
    W_1 = np.loadtxt(moved / "production" / "W_1.csv", delimiter=",")
    assert W_1.shape == (20, 784)
    _, _, X_test, y_test = mnist_arrays
    params = load_weights_csv(moved / "production")
    assert float((predict(params, X_test) == y_test).mean()) == info["test_accuracy"]
    assert info["model"] == models["good"].name and info["promoted_at"] == NOW.isoformat()
    assert read_production(moved).path == f"promoted/{models['good'].name}"


def test_production_outlives_the_model_folder(tmp_path: Path, models, sets) -> None:
    model = shutil.copytree(models["good"], tmp_path / "models" / models["good"].name)
    _gate(tmp_path, model, sets)
    shutil.rmtree(model)  # e.g. the cache pruned it
    assert np.loadtxt(tmp_path / "mnist" / "production" / "W_1.csv", delimiter=",").shape == (
        20, 784)


@pytest.mark.parametrize(("policy", "outcome"), [("always", "promoted"), ("never", "rejected")])
def test_always_and_never(tmp_path: Path, models, sets, policy: str, outcome: str) -> None:
    _gate(tmp_path, models["good"], sets)
    assert _gate(tmp_path, models["bad"], sets, policy=policy).outcome == outcome


def test_never_does_not_promote_even_a_first_model(tmp_path: Path, models, sets) -> None:
    assert _gate(tmp_path, models["good"], sets, policy="never").outcome == "rejected"
    assert read_production(tmp_path / "mnist") is None


def _state(dataset_dir: Path) -> tuple[str | None, bytes | None]:
    link, record = dataset_dir / "production", dataset_dir / "production.json"
    return (os.readlink(link) if link.is_symlink() else None,
            record.read_bytes() if record.exists() else None)


@pytest.mark.parametrize("damage", ["record cut in half", "record missing", "record says null",
                                    "model folder deleted", "link deleted", "weights deleted"])
def test_damaged_production_is_an_error_and_nothing_moves(tmp_path: Path, models, sets,
                                                          damage: str) -> None:
    dataset_dir = tmp_path / "mnist"
    _gate(tmp_path, models["good"], sets)
    record, promoted = dataset_dir / "production.json", dataset_dir / "promoted"
    if damage == "record cut in half":
        record.write_bytes(record.read_bytes()[: record.stat().st_size // 2])
    elif damage == "record missing":
        record.unlink()
    elif damage == "record says null":
        record.write_text(record.read_text().replace('"accuracy": ', '"accuracy": null, "x": '))
    elif damage == "model folder deleted":
        shutil.rmtree(promoted)
    elif damage == "link deleted":
        (dataset_dir / "production").unlink()
    else:
        (promoted / models["good"].name / "W_2.csv").unlink()
    before = _state(dataset_dir)
    with pytest.raises(ProductionDamagedError) as caught:
        _gate(tmp_path, models["bad"], sets, policy="always")
    message = str(caught.value)
    assert "mnist-flow production repair" in message and "nothing was promoted" in message
    assert "\n" not in message
    assert _state(dataset_dir) == before  # nothing moved, nothing rewritten


@pytest.mark.parametrize("damage", ["record cut in half", "record missing",
                                    "model folder deleted", "link deleted"])
def test_repair_rebuilds_production_from_what_is_left(tmp_path: Path, models, sets,
                                                      damage: str) -> None:
    dataset_dir = tmp_path / "mnist"
    model = shutil.copytree(models["good"], tmp_path / "models" / models["good"].name)
    _gate(tmp_path, model, sets)
    intact = _state(dataset_dir)
    record = dataset_dir / "production.json"
    if damage == "record cut in half":
        record.write_text(record.read_text()[:40])
    elif damage == "record missing":
        record.unlink()
    elif damage == "model folder deleted":
        shutil.rmtree(dataset_dir / "promoted")  # re-copied from the model's own folder
    else:
        (dataset_dir / "production").unlink()
    assert repair_production(dataset_dir) != ""
    assert _state(dataset_dir) == intact
    assert read_production(dataset_dir).model == model.name
    assert repair_production(dataset_dir).startswith("production is intact")
    assert _gate(tmp_path, models["bad"], sets).outcome == "rejected"


def test_repair_refuses_when_nothing_is_left(tmp_path: Path, models, sets) -> None:
    dataset_dir = tmp_path / "mnist"
    model = shutil.copytree(models["good"], tmp_path / "models" / models["good"].name)
    _gate(tmp_path, model, sets)
    shutil.rmtree(dataset_dir / "promoted")
    shutil.rmtree(model)
    with pytest.raises(ProductionDamagedError, match="is gone from"):
        repair_production(dataset_dir)


def _race(dataset_dir: str, model: str, sets: dict, rounds: int) -> None:
    for _ in range(rounds):
        gate(Path(dataset_dir), Path(model), sets, dataset="mnist", policy="always")


def test_racing_promotions_in_processes_never_disagree(tmp_path: Path, sets) -> None:
    """Six processes promote six models over and over; a reader under the lock always finds
    link and record agreeing, and so does the end state."""
    dataset_dir = tmp_path / "mnist"
    folders = []
    for index in range(6):
        params = init_params(20, np.random.default_rng(index), dtype=np.float32)
        folders.append(write_weights_csv(params, tmp_path / f"model{index:08d}")["W_1"].parent)
    small = {name: (X[:300], y[:300]) for name, (X, y) in sets.items()}
    context = multiprocessing.get_context("fork")
    racers = [context.Process(target=_race, args=(str(dataset_dir), str(folder), small, 15))
              for folder in folders]
    for racer in racers:
        racer.start()
    checks = 0
    while any(racer.is_alive() for racer in racers):
        with pointer_lock(dataset_dir / "production"):
            if (dataset_dir / "production").is_symlink():
                read_production(dataset_dir)  # raises on any disagreement
                checks += 1
    for racer in racers:
        racer.join()
        assert racer.exitcode == 0
    final = read_production(dataset_dir)
    inside = json.loads((dataset_dir / final.path / "production.json").read_text())
    assert inside == json.loads((dataset_dir / "production.json").read_text())
    assert os.readlink(dataset_dir / "production") == final.path
    assert checks > 0


def test_something_else_named_production_is_an_output_error(tmp_path: Path, models,
                                                             sets) -> None:
    (tmp_path / "mnist" / "production" / "mine").mkdir(parents=True)
    (tmp_path / "mnist" / "production.json").write_text("{}")
    with pytest.raises(ProductionDamagedError, match="production is a folder, not the link"):
        _gate(tmp_path, models["good"], sets)
    assert (tmp_path / "mnist" / "production" / "mine").is_dir()
    assert (tmp_path / "mnist" / "production.json").read_text() == "{}"  # nothing half-moved


@pytest.mark.parametrize(("policy", "outcome", "reason"), [
    ("if-better", "rejected", "gain -1.00 points: no better than production (p = 1)"),
    ("always", "promoted", "policy 'always' (gain -1.00 points)"),
    ("never", "rejected", "policy 'never': production is never moved automatically"),
    ("ask", "rejected", "gain -1.00 points: no better than production (p = 1)"),
])
def test_each_policy_on_a_worse_candidate(policy: str, outcome: str, reason: str) -> None:
    labels = np.arange(100) % 10
    worse = labels.copy()
    worse[:1] = 9  # one image wrong: class 0 recall -10 points, not part of this case
    outcome_, reason_, figures = decide(policy, labels, worse, labels,
                                        thresholds=Thresholds(max_class_drop=100))
    assert (outcome_, reason_) == (outcome, reason)
    assert figures is None or figures["production_only"] == 1


def test_a_first_model_is_promoted_unless_never() -> None:
    labels = np.arange(10)
    assert decide("if-better", labels, labels, None)[:2] == (
        "promoted", "first model: nothing was in production")
    assert decide("never", labels, labels, None)[0] == "rejected"


def test_bad_policy() -> None:
    with pytest.raises(ConfigError, match="unknown promotion policy 'sometimes'"):
        check_policy("sometimes")


def test_the_layout_names_production_as_the_gate_does(tmp_path: Path) -> None:
    from tasks.core.production import POINTER, POINTER_JSON
    from tasks.layout import Layout

    layout = Layout(tmp_path, "mnist")
    assert layout.production_link == tmp_path / "mnist" / POINTER
    assert layout.production_record == tmp_path / "mnist" / POINTER_JSON



def test_two_seeds_of_the_fast_preset_never_flip_production_in_20_alternating_runs(
        tmp_path: Path, mnist_arrays, fast_params, sets) -> None:
    """Two equally good models (seeds 1 and 2) on the real test split: whichever is in
    production stays; a plain comparison of accuracies would have moved it on every
    other run."""
    from tasks.core.train import train_network
    from tasks.core.train_config import get_preset

    seeds = {"5eed00000001": fast_params, "5eed00000002": train_network(
        *mnist_arrays, get_preset("fast").model_copy(update={"seed": 2})).params}
    for name, params in seeds.items():
        write_weights_csv(params, tmp_path / "models" / name)
    runs = [_gate(tmp_path, tmp_path / "models" / name, sets)
            for _ in range(10) for name in seeds]
    assert runs[0].outcome == "promoted"
    assert {run.outcome for run in runs[1:]} <= {"rejected", "unchanged"}, runs[1].line()
    assert os.readlink(tmp_path / "mnist" / "production") == "promoted/5eed00000001"
    gains = {round(run.comparison["gain_points"], 2) for run in runs[1:] if run.comparison}
    assert len(gains) == 1 and abs(next(iter(gains))) < 1.0  # seed 2 against seed 1, each time
