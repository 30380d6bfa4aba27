"""finish-sweep: after every point, rank, plot, score the best on test once, crown a champion.

Not a cached stage: it runs once per sweep, like ``publish`` after the main pipeline.

    <artifacts>/<dataset>/sweep/leaderboard.csv, validation_vs_params.png   (the last sweep)
    <artifacts>/<dataset>/sweep/champions/<id>/   W_*.csv, b_*.csv, champion.json
    <artifacts>/<dataset>/champion -> sweep/champions/<id>   moves only when beaten on validation
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from prefect import get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.core.sweep import (
    leaderboard_columns,
    rank_points,
    should_promote,
    split_mismatch,
    validation_split,
)
from tasks.core.tables import leaderboard_csv
from tasks.dashboard import post
from tasks.engine.atomic import write_text_atomic
from tasks.engine.manifest import Manifest
from tasks.engine.pointer import pointer_lock, swap_pointer
from tasks.layout import Layout
from tasks.ledger import record_training


def leaderboard_row(point: Manifest, status: str, swept: Sequence[str]) -> dict[str, Any]:
    """A point's leaderboard row: its swept values, validation scores, status, seconds, id."""
    settings = json.loads(point.path("config").read_text(encoding="utf-8"))
    info = point.info
    return {**{name: settings[name] for name in swept},
            "validation_accuracy": info["validation_accuracy"],
            "validation_loss": round(info["validation_loss"], 6),
            "train_accuracy": info["train_accuracy"],
            "seconds": round(point.provenance.seconds or 0.0, 2),
            "status": status, "point": info["point"]}




def write_leaderboard(board: Sequence[Mapping[str, Any]], swept: Sequence[str],
                      path: Path) -> Path:
    """The ranked rows as CSV, atomically."""
    write_text_atomic(path, leaderboard_csv(board, leaderboard_columns(swept, board)))
    return path


def read_champion(link: Path) -> dict[str, Any] | None:
    """The current champion's record (``champion.json`` behind the link), or None."""
    try:
        return json.loads((link / "champion.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def promote_champion(link: Path, champions_dir: Path, candidate: Mapping[str, Any],
                     params_path: Path) -> tuple[bool, dict[str, Any]]:
    """Export ``candidate``'s weights into ``champions_dir/<point>`` and move ``link`` to them,
    if it beats the champion on validation. Returns (moved, the champion's record after the
    decision)."""
    from tasks.core.checkpoint import load_params
    from tasks.core.export import write_weights_csv

    with pointer_lock(link):  # two sweeps finishing together compare against the same champion
        current = read_champion(link)
        if not should_promote(current, candidate):
            assert current is not None
            return False, current
        out = champions_dir / str(candidate["point"])
        write_weights_csv(load_params(params_path), out)
        write_text_atomic(out / "champion.json", json.dumps(dict(candidate), indent=1))
        swap_pointer(link, out, locked=True)
    return True, dict(candidate)


def score_on_test(data: Manifest, params_path: Path) -> float:
    """Accuracy of saved parameters on the test split: called once per sweep, for its best."""
    from tasks.core.checkpoint import load_params
    from tasks.core.datasets import load_split
    from tasks.core.metrics import evaluate as evaluate_params

    X_test, y_test = load_split(data.path("test"))
    return evaluate_params(load_params(params_path), X_test, y_test).accuracy


@task(name="finish-sweep", cache_policy=NO_CACHE)
def finish_sweep(artifacts_dir: Path, data: Manifest, swept: Sequence[str],
                 points: Sequence[Manifest], statuses: Sequence[str]) -> dict[str, Any]:
    """Rank the points, write the leaderboard and plot, score the best on test, crown it if it
    beats the champion on validation, log cached points in the ledger, post the table."""
    dataset, logger = data.dataset, get_run_logger()
    layout = Layout(Path(artifacts_dir).resolve(), dataset)
    folder = layout.sweep_dir
    board = rank_points([leaderboard_row(p, s, swept) for p, s in zip(points, statuses,
                                                                       strict=True)])
    by_id = {p.info["point"]: p for p in points}
    write_leaderboard(board, swept, folder / "leaderboard.csv")
    from tasks.core.sweep_plots import plot_validation_vs_params

    plot_validation_vs_params(board, swept, folder / "validation_vs_params.png",
                              title=f"{dataset} sweep")
    best_params = by_id[board[0]["point"]].path("params")
    settings = json.loads(by_id[board[0]["point"]].path("config").read_text(encoding="utf-8"))
    best = {**board[0], "test_accuracy": score_on_test(data, best_params), "settings": settings,
            "validation_split": validation_split(data.sha256("train"),
                                                 settings["validation_size"])}
    link = layout.champion_link
    mismatch = split_mismatch(read_champion(link), best)
    moved, champion = promote_champion(link, layout.champions_dir, best, best_params)
    if mismatch:
        logger.warning("champion kept without comparing: %s, and accuracies on different "
                       "validation splits do not compare; remove %s to crown this sweep's best",
                       mismatch, link)
    _ledger_cached_points(artifacts_dir, data, points, statuses)
    post("the sweep leaderboard", create_table_artifact, key=f"{dataset}-sweep-leaderboard",
         table=list(board), description=f"{dataset} sweep: {len(board)} points ranked on "
                                        f"validation accuracy; best scored on test once")
    logger.info("best point %s: validation %.4f, test %.4f; champion %s", best["point"],
                best["validation_accuracy"], best["test_accuracy"],
                "moved to it" if moved else f"stays {champion['point']}")
    return {"leaderboard": board, "best": best, "champion": champion, "champion_moved": moved,
            "leaderboard_csv": str(folder / "leaderboard.csv"),
            "plot": str(folder / "validation_vs_params.png"),
            "champion_dir": str(link)}


def _ledger_cached_points(artifacts_dir: Path, data: Manifest, points: Sequence[Manifest],
                          statuses: Sequence[str]) -> None:
    # Points that trained wrote their own line; a point served from cache is logged here.
    for point, status in zip(points, statuses, strict=True):
        if status == "cached":
            config_path = point.path("config")
            info = point.info
            record_training(artifacts_dir, kind="sweep", data=data,
                            parameters=json.loads(config_path.read_text(encoding="utf-8")),
                            cached=True, model_dir=config_path.parent,
                            metrics={k: info[k] for k in ("validation_accuracy",
                                                          "validation_loss", "train_accuracy")},
                            point=info["point"])
