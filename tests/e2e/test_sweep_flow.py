"""The sweep flow on the real MNIST: engines agree, finished points are never retrained."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from flows.mnist_flow import mnist_flow
from flows.sweep_flow import run_sweep
from tasks.core.ledger import ledger_path, read_entries
from tasks.core.sweep import SearchSpace, parse_dimension
from tasks.sweep_config import SweepConfig

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("prefect_server")]


def sweep_config(artifacts: Path, mirror: Path, *specs: str, **options: Any) -> SweepConfig:
    """A tiny sweep: the fast preset for one epoch, 10,000 validation rows, real data."""
    space = SearchSpace(dimensions=tuple(parse_dimension(s) for s in specs))
    return SweepConfig.model_validate({
        "base": {"preset": "fast", "train": {"epochs": 1}, "artifacts_dir": artifacts,
                 "data": {"mirror": str(mirror)}},
        "space": space, **options})


def params_of(result: dict[str, Any], artifacts: Path) -> dict[str, dict[str, np.ndarray]]:
    points = artifacts.resolve() / "mnist" / "sweep" / "points"
    out = {}
    for row in result["leaderboard"]:
        with np.load(points / row["point"] / "params.npz") as archive:
            out[row["point"]] = {name: archive[name] for name in archive.files}
    return out


def test_thread_pool_and_local_dask_give_identical_results(tmp_path: Path,
                                                          mnist_mirror: Path) -> None:
    specs = ("lr=0.001,0.003", "hidden=16,24")
    threads = run_sweep(sweep_config(tmp_path, mnist_mirror, *specs))
    by_threads = params_of(threads, tmp_path)
    # Without their outputs the points' cache entries are void: Dask must train all four again
    # (and the data stages stay cached, which keeps this test short).
    shutil.rmtree(tmp_path / "mnist" / "sweep" / "points")
    dask = run_sweep(sweep_config(tmp_path, mnist_mirror, *specs, engine="dask", workers=2))
    assert threads["statuses"] == dask["statuses"] == ["ran"] * 4
    assert dask["engine"] == "local dask, 2 workers"
    strip = ("seconds", "status")
    assert ([{k: v for k, v in r.items() if k not in strip} for r in threads["leaderboard"]]
            == [{k: v for k, v in r.items() if k not in strip} for r in dask["leaderboard"]])
    by_dask = params_of(dask, tmp_path)
    assert by_threads.keys() == by_dask.keys() and len(by_dask) == 4
    for point, params in by_threads.items():
        for name, array in params.items():
            np.testing.assert_array_equal(array, by_dask[point][name])
    assert threads["best"]["test_accuracy"] == dask["best"]["test_accuracy"]
    board = (tmp_path / "mnist" / "sweep" / "leaderboard.csv").read_text().splitlines()
    assert board[0].startswith("rank,lr,hidden,validation_accuracy") and len(board) == 5
    assert (tmp_path / "mnist" / "sweep" / "validation_vs_params.png").stat().st_size > 0


def test_an_interrupted_or_grown_sweep_trains_only_the_missing_points(
        tmp_path: Path, mnist_mirror: Path) -> None:
    # A sweep stopped after two of its four points left exactly those two behind.
    half = run_sweep(sweep_config(tmp_path, mnist_mirror, "seed=1,2", "hidden=16"))
    assert half["statuses"] == ["ran", "ran"]
    whole = run_sweep(sweep_config(tmp_path, mnist_mirror, "seed=1,2,3,4", "hidden=16"))
    assert whole["statuses"] == ["cached", "cached", "ran", "ran"]
    again = run_sweep(sweep_config(tmp_path, mnist_mirror, "seed=1,2,3,4", "hidden=16"))
    assert again["statuses"] == ["cached"] * 4
    assert again["leaderboard"] == [{**r, "status": "cached"} for r in whole["leaderboard"]]
    lines = read_entries(ledger_path(tmp_path))
    trained = [e for e in lines if not e.cached]
    assert sorted(e.parameters["seed"] for e in trained) == [1, 2, 3, 4]  # each trained once


def test_champion_moves_only_when_beaten_on_validation(tmp_path: Path,
                                                       mnist_mirror: Path) -> None:
    good = run_sweep(sweep_config(tmp_path, mnist_mirror, "lr=0.002", "hidden=24"))
    link = tmp_path / "mnist" / "champion"
    assert good["champion_moved"] and link.is_symlink()
    first_target = link.resolve()
    assert {"W_1.csv", "b_1.csv", "W_2.csv", "b_2.csv", "champion.json"} <= {
        p.name for p in link.iterdir()}
    worse = run_sweep(sweep_config(tmp_path, mnist_mirror, "lr=0.0002", "hidden=24"))
    assert worse["best"]["validation_accuracy"] < good["best"]["validation_accuracy"]
    assert not worse["champion_moved"] and link.resolve() == first_target
    assert worse["champion"]["point"] == good["best"]["point"]


def test_a_champion_from_another_validation_split_is_kept_not_compared(
        tmp_path: Path, mnist_mirror: Path) -> None:
    first = run_sweep(sweep_config(tmp_path, mnist_mirror, "lr=0.0002", "hidden=16"))
    assert first["champion_moved"]
    assert first["champion"]["validation_split"]["validation_size"] == 10_000
    # Better settings, but scored on the last 20,000 images: not comparable with the first.
    other = run_sweep(sweep_config(tmp_path, mnist_mirror, "lr=0.002", "hidden=16",
                                   validation_size=20_000))
    assert other["best"]["validation_accuracy"] > first["best"]["validation_accuracy"]
    assert not other["champion_moved"]
    assert other["champion"]["point"] == first["best"]["point"]


def test_the_ledger_records_main_flow_and_sweep_runs(quick_config: Any,
                                                    mnist_mirror: Path) -> None:
    artifacts = quick_config.artifacts_dir
    mnist_flow(quick_config)
    mnist_flow(quick_config)
    run_sweep(sweep_config(artifacts, mnist_mirror, "seed=5,6"))
    entries = read_entries(ledger_path(artifacts))
    assert [(e.kind, e.cached) for e in entries] == [
        ("main", False), ("main", True), ("sweep", False), ("sweep", False)]
    main, sweep = entries[0], entries[2]
    assert main.parameters["steps"] == 400 and main.metrics["test_accuracy"] > 0.5
    assert sweep.metrics["validation_accuracy"] > 0.5 and "test_accuracy" not in sweep.metrics
    assert main.data_digest == sweep.data_digest and main.code_digest
    assert main.versions["numpy"] == np.__version__
