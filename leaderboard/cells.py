"""Display cells shared by the Markdown and HTML views: one place decides how missing values and
incomplete category means look ('—' and a trailing '*')."""
from __future__ import annotations

from typing import Any

import pandas as pd

from leaderboard.table import Leaderboard

MISSING = "—"


def display_columns(board: Leaderboard) -> list[str]:
    return ["rank", "name", "method", "pretrain_data", "pretrain_images", "pretrain_epochs", "overall",
            *board.categories, *board.tasks]


def cell(board: Leaderboard, row: pd.Series, column: str) -> tuple[str, Any]:
    """(text, sort value) of one cell; the sort value is a float or a string, None when missing."""
    value = row[column]
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return MISSING, None
    if column in board.categories or column == "overall":
        key = "overall_complete" if column == "overall" else f"{column}_complete"
        return f"{value:+.3f}" + ("" if row[key] else "*"), float(value)
    if column in board.tasks:
        return f"{value:.4f}", float(value)
    if column in ("rank", "pretrain_images", "pretrain_epochs") and isinstance(value, (int, float)):
        return f"{int(value):,}" if column == "pretrain_images" else str(int(value)), float(value)
    return str(value), str(value)


def frame_text(frame: pd.DataFrame) -> list[list[str]]:
    """An analysis table as text rows (numbers to 3 decimals)."""
    return [[f"{v:.3f}" if isinstance(v, float) else str(v) for v in row] for row in frame.itertuples(index=False)]
