"""Display cells shared by the Markdown and HTML views: one place decides how scores read (percent for
fractions, errors in their unit: leaderboard.units), how missing values, incomplete category means, seed
spread and separability look ('—', a trailing '*', '±std', '≈' and '?'), what heads each column and how
dark each cell is (leaderboard.colours)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leaderboard.colours import shades
from leaderboard.table import Leaderboard
from leaderboard.uncertainty import MARKS, RULE
from leaderboard.units import Metric, header, metric_of, shown, shown_score, text

MISSING = "—"
LEGEND = (
    "Task columns: mean test score over seeds, in percent for fractions (top-1, mIoU, 1−Fl-all) and in the "
    "dataset's unit for depth errors; each header gives the metric and its direction (↑ higher is better, "
    "↓ lower is better). Category columns: mean normalized score (docs/PROTOCOL.md section 6 item 4). "
    "Shading: per column, darker = better normalized score; "
    f"'*' = over an incomplete category, '{MISSING}' = not scored; {RULE}."
)
META = {
    "rank": "rank by overall, ties share a rank",
    "name": "encoder",
    "method": "pre-training method",
    "pretrain_data": "pre-training data",
    "pretrain_images": "pre-training images",
    "pretrain_epochs": "pre-training epochs",
}
NORMALIZED = (
    "mean normalized score over the category's tasks: score minus the supervised encoder's, over the "
    "task's standard deviation across encoders (0 = the supervised encoder); higher is better"
)


def display_columns(board: Leaderboard) -> list[str]:
    return [*META, "overall", *board.categories, *board.tasks]


def task_metric(board: Leaderboard, task: str) -> Metric:
    return metric_of(board.metric.get(task))


def heading(board: Leaderboard, column: str) -> tuple[str, str]:
    """(the line under a column's name, its full title): a task's metric and direction, what a normalized
    mean is, or what a metadata column holds (no second line)."""
    if column in board.tasks:
        return header(task_metric(board, column), board.higher_is_better.get(column, True))
    if column in board.categories:
        return "↑ normalized", f"{column}: {NORMALIZED}"
    if column == "overall":
        return "↑ normalized", "mean of the category means (each category weighs the same); higher is better"
    return "", META.get(column, column)


def cell(board: Leaderboard, row: pd.Series, column: str) -> tuple[str, Any]:
    """(text, sort value) of one cell; the sort value is the number shown (a float) or a string, None
    when missing."""
    value = row[column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING, None
    if column in board.categories:
        return f"{value:+.3f}" + ("" if row[f"{column}_complete"] else "*"), float(value)
    if column == "overall":
        return f"{value:+.3f}" + ("" if row["overall_complete"] else "*") + _mark(row, column), float(value)
    if column in board.tasks:
        metric, std = task_metric(board, column), row[f"{column}_std"]
        number = shown_score(metric, float(value))
        spread = "" if pd.isna(std) else f" ±{text(metric, shown(metric, float(std)))}"
        return text(metric, number) + spread + _mark(row, column), number
    if column in ("rank", "pretrain_images", "pretrain_epochs") and isinstance(value, (int, float)):
        return f"{int(value):,}" if column == "pretrain_images" else str(int(value)), float(value)
    return str(value), str(value)


def cell_shades(board: Leaderboard) -> pd.DataFrame:
    """Rows of board.table x (tasks, categories, overall): each cell's place in [0, 1] on its column's
    colour scale, by normalized score (NaN: not scored, or a task the leaderboard does not normalize)."""
    normalized = board.normalized.values.reindex(index=board.table["fingerprint"], columns=board.tasks)
    normalized.index = board.table.index
    frame = pd.concat([normalized, board.table[[*board.categories, "overall"]].astype(float)], axis=1)
    return frame.apply(shades)


def _mark(row: pd.Series, column: str) -> str:
    """' ≈' or ' ?' after a cell not separable from (or not comparable with) the next lower one."""
    mark = MARKS.get(row[f"{column}_vs_next"], "")
    return f" {mark}" if mark else ""


def frame_text(frame: pd.DataFrame) -> list[list[str]]:
    """An analysis table as text rows (numbers to 3 decimals, missing values as in the leaderboard)."""
    return [
        [(MISSING if pd.isna(v) else f"{v:.3f}") if isinstance(v, float) else str(v) for v in row]
        for row in frame.itertuples(index=False)
    ]
