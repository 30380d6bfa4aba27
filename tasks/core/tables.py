"""The sweep leaderboard as CSV and as text, built with pandas.

Kept out of every module a plain run imports, so that importing pandas (~0.3 s) stays off its
path: only sweeps import this module (the run history is :mod:`tasks.core.history_table`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd


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
