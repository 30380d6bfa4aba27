"""The run history as a text table, without pandas: ``mnist-flow history`` starts in a few
tenths of a second (``bench/bench_startup.py``), and importing pandas alone took ~0.4 s.

One row per ledger entry, nested fields flattened (``parameters.lr``, ``metrics.…``); the
columns are the run's identity, the settings that differ between the rows shown, the scores
and short digests, right-aligned like a spreadsheet.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

Row = dict[str, Any]

# ledger column -> heading, in the order shown after the run's identity and settings
_SCORES = {"metrics.validation_accuracy": "val acc", "metrics.test_accuracy": "test acc",
           "metrics.train_accuracy": "train acc"}
_IDENTITY = {"time": "time", "kind": "kind", "run": "run", "cached": "cached"}
_DIGESTS = {"data_digest": "data", "code_digest": "code"}
_PARAMETER = "parameters."


def ledger_frame(entries: Sequence[Mapping[str, Any]]) -> list[Row]:
    """One flat row per ledger entry: ``{"parameters.lr": 0.01, "metrics.…": …, …}``."""
    return [_flatten(entry) for entry in entries]


def _flatten(value: Mapping[str, Any], prefix: str = "") -> Row:
    flat: Row = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            flat.update(_flatten(item, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = item
    return flat


def varying_parameters(rows: Sequence[Row]) -> list[str]:
    """The settings whose value differs between the rows (seed first, the rest sorted)."""
    names = {c.removeprefix(_PARAMETER) for row in rows for c in row if c.startswith(_PARAMETER)}
    # json.dumps: a list-valued setting compares by value, and 1 and 1.0 stay apart
    varying = [n for n in names
               if len({json.dumps(row.get(_PARAMETER + n)) for row in rows}) > 1]
    return sorted(varying, key=lambda n: (n != "seed", n))


def history_table(rows: Sequence[Row]) -> str:
    """The runs side by side: identity, the settings that differ, scores, short digests."""
    params = varying_parameters(rows)
    columns = {**_IDENTITY, **{_PARAMETER + n: n for n in params}, **_SCORES, **_DIGESTS}
    cells = [[_format(column, row.get(column)) for column in columns] for row in rows]
    headings = list(columns.values())
    widths = [max(len(text) for text in [heading, *(line[i] for line in cells)])
              for i, heading in enumerate(headings)]
    return "\n".join(" ".join(text.rjust(width) for text, width in zip(line, widths, strict=True))
                     for line in [headings, *cells])


def _format(column: str, value: Any) -> str:
    if column == "cached":
        return "yes" if value is True else "no"
    if column == "time":
        return _cell(value)[:19].replace("T", " ")
    if column in _DIGESTS:
        return _cell(value)[:8]
    return _cell(value)


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if 0.001 <= abs(value) < 1 else f"{value:g}"
    return str(value)
