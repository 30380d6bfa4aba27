"""The tables people read: the run history and the sweep leaderboard, built with pandas.

Kept out of :mod:`tasks.core.ledger` so that importing pandas (~0.26 s) stays off a plain
run's path: only ``mnist-flow history`` and sweeps import this module.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

# ledger column -> heading, in the order shown after the run's identity and settings
_SCORES = {"metrics.validation_accuracy": "val acc", "metrics.test_accuracy": "test acc",
           "metrics.train_accuracy": "train acc"}
_IDENTITY = {"time": "time", "kind": "kind", "run": "run", "cached": "cached"}
_DIGESTS = {"data_digest": "data", "code_digest": "code"}
_PARAMETER = "parameters."


def ledger_frame(entries: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per ledger entry, nested fields flattened: ``parameters.lr``, ``metrics.…``."""
    return pd.json_normalize(list(entries))


def varying_parameters(frame: pd.DataFrame) -> list[str]:
    """The settings whose value differs between the rows (seed first, the rest sorted)."""
    names = [c.removeprefix(_PARAMETER) for c in frame.columns if c.startswith(_PARAMETER)]
    # json.dumps: a list-valued setting is unhashable for nunique, and 1 and 1.0 stay apart
    varying = [n for n in names
               if frame[_PARAMETER + n].map(json.dumps, na_action=None).nunique() > 1]
    return sorted(varying, key=lambda n: (n != "seed", n))


def history_table(frame: pd.DataFrame) -> str:
    """The runs side by side: identity, the settings that differ, scores, short digests."""
    params = varying_parameters(frame)
    columns = {**_IDENTITY, **{_PARAMETER + n: n for n in params}, **_SCORES, **_DIGESTS}
    table = frame.reindex(columns=list(columns)).rename(columns=columns)
    table["cached"] = table["cached"].map({True: "yes"}).fillna("no")
    table["time"] = table["time"].map(lambda t: _cell(t)[:19].replace("T", " "))
    for digest in _DIGESTS.values():
        table[digest] = table[digest].map(lambda d: _cell(d)[:8])
    for column in ("kind", "run", *params, *_SCORES.values()):
        table[column] = table[column].map(_cell)
    return table.to_string(index=False)


def leaderboard_frame(board: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame(list(board), columns=list(columns))


def leaderboard_csv(board: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    """The ranked rows as CSV text, in ``columns`` order."""
    buffer = io.StringIO()
    leaderboard_frame(board, columns).to_csv(buffer, index=False, lineterminator="\n")
    return buffer.getvalue()


def leaderboard_text(board: Sequence[Mapping[str, Any]], *, limit: int = 10) -> str:
    """The first ``limit`` ranked rows as aligned text, scores to four decimals."""
    columns = [c for c in board[0] if c != "point"]
    frame = leaderboard_frame(board[:limit], columns)
    scored = {c: "{:.4f}".format for c in columns if c.endswith(("accuracy", "loss"))}
    return frame.to_string(index=False, formatters=scored)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if 0.001 <= abs(value) < 1 else f"{value:g}"
    return str(value)
