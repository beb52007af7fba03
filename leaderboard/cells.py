"""Display cells shared by the Markdown and HTML views: one place decides how missing values, incomplete
category means, seed spread and separability look ('—', a trailing '*', '±std', '≈' and '?')."""

from __future__ import annotations

from typing import Any

import pandas as pd

from leaderboard.table import Leaderboard
from leaderboard.uncertainty import MARKS, RULE

MISSING = "—"
LEGEND = (
    "Task columns: mean test score over seeds. Category columns: mean normalized score "
    "(docs/PROTOCOL.md section 6 item 4); "
    f"'*' = over an incomplete category, '{MISSING}' = not scored; {RULE}."
)


def display_columns(board: Leaderboard) -> list[str]:
    return [
        "rank",
        "name",
        "method",
        "pretrain_data",
        "pretrain_images",
        "pretrain_epochs",
        "overall",
        *board.categories,
        *board.tasks,
    ]


def cell(board: Leaderboard, row: pd.Series, column: str) -> tuple[str, Any]:
    """(text, sort value) of one cell; the sort value is a float or a string, None when missing."""
    value = row[column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING, None
    if column in board.categories:
        return f"{value:+.3f}" + ("" if row[f"{column}_complete"] else "*"), float(value)
    if column == "overall":
        return f"{value:+.3f}" + ("" if row["overall_complete"] else "*") + _mark(row, column), float(value)
    if column in board.tasks:
        std = row[f"{column}_std"]
        return f"{value:.4f}" + ("" if pd.isna(std) else f" ±{std:.4f}") + _mark(row, column), float(value)
    if column in ("rank", "pretrain_images", "pretrain_epochs") and isinstance(value, (int, float)):
        return f"{int(value):,}" if column == "pretrain_images" else str(int(value)), float(value)
    return str(value), str(value)


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
