"""Hyperparameter grids: the named ones and user files, with errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import CcbenchError
from harness.grid import GridPoint, resolve_grid
from tasks import get_task


def test_named_grids() -> None:
    task = get_task("cifar100")
    assert resolve_grid("table2", task) == (GridPoint("adam", 3e-4),)
    paper = resolve_grid("paper", task)
    assert [p.name for p in paper] == ["adam-0.0003", "adam-0.0001", "adam-0.001", "sgd-0.01", "sgd-0.001"]


def test_user_grid_file(tmp_path: Path) -> None:
    path = tmp_path / "grid.json"
    path.write_text(json.dumps([{"optimizer": "sgd", "lr": 0.1}, {"optimizer": "adam", "lr": 1e-5}]))
    assert resolve_grid(str(path), get_task("cifar100")) == (GridPoint("sgd", 0.1), GridPoint("adam", 1e-5))


@pytest.mark.parametrize(
    "content, message",
    [
        ('[{"optimizer": "rmsprop", "lr": 0.1}]', "optimizer must be one of adam, sgd"),
        ('[{"optimizer": "adam"}]', "KeyError"),
        ('[{"optimizer": "adam", "lr": -1}]', "lr a positive number"),
        ("[]", "at least one point"),
        ("{not json", "JSONDecodeError"),
    ],
)
def test_bad_grid_files_name_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "grid.json"
    path.write_text(content)
    with pytest.raises(CcbenchError, match=message) as error:
        resolve_grid(str(path), get_task("cifar100"))
    assert str(path) in str(error.value)


def test_missing_grid_file_lists_the_names(tmp_path: Path) -> None:
    with pytest.raises(CcbenchError, match="table2 or paper"):
        resolve_grid(str(tmp_path / "nope.json"), get_task("cifar100"))
