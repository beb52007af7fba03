"""The hyperparameter grids a task's heads are trained over, all in one pass (harness.train).

`table2` is the paper's Table 2 setting (the task's own optimiser and lr); `paper` adds the four
sets the paper grid-searched (Adam 1e-4, Adam 1e-3, SGD 1e-2, SGD 1e-3). A user grid is a JSON
file holding a list of {"optimizer": "adam"|"sgd", "lr": float}.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from harness.errors import CcbenchError
from tasks import TaskSpec
from tasks.spec import OPTIMIZERS

PAPER_EXTRA = (("adam", 1e-4), ("adam", 1e-3), ("sgd", 1e-2), ("sgd", 1e-3))
GRID_NAMES = ("table2", "paper")


@dataclass(frozen=True)
class GridPoint:
    """One optimiser setting (absolute learning rate: nothing is rescaled by batch size or devices)."""

    optimizer: str
    lr: float

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS or not (isinstance(self.lr, (int, float)) and self.lr > 0):
            raise ValueError(
                f"grid point {self.optimizer!r} lr={self.lr!r}: optimizer must be one of "
                f"{', '.join(OPTIMIZERS)} and lr a positive number"
            )

    @property
    def name(self) -> str:
        return f"{self.optimizer}-{self.lr:g}"


def resolve_grid(grid: str, task: TaskSpec) -> tuple[GridPoint, ...]:
    """The grid named `grid` (table2, paper) or read from the JSON file at that path."""
    table2 = GridPoint(task.optimizer, task.lr)
    if grid == "table2":
        return (table2,)
    if grid == "paper":
        extra = tuple(GridPoint(name, lr) for name, lr in PAPER_EXTRA)
        return (table2, *(point for point in extra if point != table2))
    return load_grid(Path(grid))


def load_grid(path: Path) -> tuple[GridPoint, ...]:
    """A user grid file; errors name the file and the expected form."""
    form = 'a JSON list like [{"optimizer": "adam", "lr": 0.0003}, {"optimizer": "sgd", "lr": 0.01}]'
    if not path.is_file():
        raise CcbenchError(f"{path}: no such grid file; --grid takes {' or '.join(GRID_NAMES)} or {form}")
    try:
        entries = json.loads(path.read_text())
        points = tuple(GridPoint(entry["optimizer"], entry["lr"]) for entry in entries)
    except (json.JSONDecodeError, TypeError, KeyError, ValueError) as error:
        raise CcbenchError(f"{path}: not a grid ({type(error).__name__}: {error}); expected {form}") from None
    if not points or len(set(points)) != len(points):
        raise CcbenchError(f"{path}: a grid needs at least one point and no duplicates; expected {form}")
    return points
