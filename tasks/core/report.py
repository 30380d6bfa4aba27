"""The run report: a markdown page with the plots embedded inline first, then the tables.

Plots are embedded as ``data:`` URIs because the Prefect UI does not load ``file://`` images.
The renderer is tolerant: it shows whatever sections and columns the inputs hold, so the
evaluation code can add a metric without touching this module.
"""

from __future__ import annotations

import base64
import numbers
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tasks.core.errors import DataError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Nested values a split holds that are not one number: drawn as plots or their own tables.
_NESTED_KEYS = ("confusion", "per_class")
_PER_CLASS_COLUMNS = ("class", "precision", "recall", "f1", "support")
_STAGE_COLUMNS = ("name", "status", "seconds")


def png_data_uri(path: Path) -> str:
    """Return ``"data:image/png;base64,..."`` holding the bytes of the PNG file at ``path``."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise DataError(
            f"{path}: expected a PNG plot to embed in the report, could not read it ({error}); "
            "rerun the export stage (--force export) to redraw the plots"
        ) from error
    if not data.startswith(PNG_SIGNATURE):
        raise DataError(
            f"{path}: expected a PNG file (signature {PNG_SIGNATURE!r}), found first bytes "
            f"{data[:8]!r}; rerun the export stage (--force export) to redraw the plots"
        )
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def _plain(value: object) -> object:
    """``value`` with numpy scalars turned into Python ones, so rows serialize as JSON."""
    # No numpy loaded, no numpy scalar: a run served from cache renders without importing it.
    numpy = sys.modules.get("numpy")
    return value.item() if numpy is not None and isinstance(value, numpy.generic) else value


def metrics_table_rows(metrics: Mapping[str, object]) -> list[dict[str, object]]:
    """Flatten ``metrics`` into one row per split for a Prefect table artifact.

    Each entry of ``metrics`` whose value is a mapping is a split (``"test"``, ``"train"``...);
    its row is ``{"split": name}`` plus every scalar (number, string, bool, None) it holds, in
    its own order. Nested values (confusion matrix, per-class list) and top-level scalars are
    left out. Example: ``[{"split": "test", "accuracy": 0.8775, "loss": 0.41}, ...]``.
    """
    rows: list[dict[str, object]] = []
    for split, values in metrics.items():
        if not isinstance(values, Mapping):
            continue
        row: dict[str, object] = {"split": str(split)}
        for key, value in values.items():
            value = _plain(value)
            if value is None or isinstance(value, str | bool | numbers.Number):
                row[str(key)] = value
        rows.append(row)
    return rows


def _format(key: str, value: object) -> str:
    """One table cell: accuracies as percent, seconds to 0.01, other floats to 4 decimals."""
    value = _plain(value)
    if value is None:
        text = "—"
    elif isinstance(value, bool | numbers.Integral) or not isinstance(value, numbers.Real):
        text = str(value)
    elif key.endswith("accuracy") and 0.0 <= value <= 1.0:
        text = f"{100.0 * value:.2f} %"
    elif key.endswith("seconds"):
        text = f"{value:.2f}"
    elif abs(value) >= 1000:
        text = f"{value:,.0f}"
    elif value == 0 or abs(value) >= 1e-3:
        # Fixed decimals keep a column of precisions aligned and comparable.
        text = f"{value:.4f}"
    else:
        text = f"{value:.3g}"
    return text.replace("|", "\\|").replace("\n", " ")


def _columns(rows: Iterable[Mapping[str, object]], preferred: Sequence[str]) -> list[str]:
    """Preferred columns that some row has, then other keys in order of first appearance."""
    seen: list[str] = []
    for row in rows:
        seen.extend(str(key) for key in row if str(key) not in seen)
    return [key for key in preferred if key in seen] + [key for key in seen if key not in preferred]


def _table(rows: Sequence[Mapping[str, object]], columns: Sequence[str]) -> str:
    """A markdown table of ``rows`` with ``columns``; a missing cell is shown as a dash."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_format(key, row.get(key)) for key in columns) + " |")
    return "\n".join(lines)


def _summary_table(summary: Mapping[str, object]) -> str:
    """A two-column table, each value formatted by its own key (so accuracy reads as %)."""
    lines = ["| quantity | value |", "|---|---|"]
    lines += [f"| {_format('', key)} | {_format(str(key), value)} |"
              for key, value in summary.items()]
    return "\n".join(lines)


def _per_class_sections(metrics: Mapping[str, object]) -> list[str]:
    """One per-class precision/recall/F1 table for each split that carries ``per_class``."""
    sections = []
    for split, values in metrics.items():
        per_class = values.get("per_class") if isinstance(values, Mapping) else None
        if not per_class:
            continue
        rows = [row for row in per_class if isinstance(row, Mapping)]
        table = _table(rows, _columns(rows, _PER_CLASS_COLUMNS))
        sections.append(f"## Per-class precision, recall and F1 ({split})\n\n{table}")
    return sections


def _plot_sections(plots: Mapping[str, Path]) -> str:
    """Each plot under its own heading, embedded as a data URI."""
    parts = ["## Plots"]
    for name, path in plots.items():
        alt = str(name).replace("[", "(").replace("]", ")")
        parts.append(f"### {name}\n\n![{alt}]({png_data_uri(path)})")
    return "\n\n".join(parts)


def render_report(*, title: str, summary: Mapping[str, object], metrics: Mapping[str, object],
                  plots: Mapping[str, Path], stages: Sequence[Mapping[str, object]] | None = None,
                  note: str | None = None) -> str:
    """Render the run report as markdown.

    Sections, in order, pictures first (a reader sees the curves and the confusion matrix
    without scrolling): the title; ``note`` as a quote; every plot in ``plots`` (name -> PNG
    path, in its order) embedded as a data URI; a summary table of ``summary``'s items
    (preset, accuracy, loss, seconds...); a metrics table with one row per split
    (:func:`metrics_table_rows`); a stages table (name, status, seconds) when ``stages`` is
    given; last, a per-class table for each split with ``per_class`` rows (class, precision,
    recall, f1, support). Sections with nothing to show are left out.
    """
    parts = [f"# {title}"]
    if note:
        parts.append("\n".join(f"> {line}" for line in note.splitlines()))
    if plots:
        parts.append(_plot_sections(plots))
    if summary:
        parts.append("## Summary\n\n" + _summary_table(summary))
    metric_rows = metrics_table_rows(metrics)
    if metric_rows:
        parts.append("## Metrics\n\n" + _table(metric_rows, _columns(metric_rows, ["split"])))
    if stages:
        parts.append("## Stages\n\n" + _table(stages, _columns(stages, _STAGE_COLUMNS)))
    parts.extend(_per_class_sections(metrics))
    return "\n\n".join(parts) + "\n"
