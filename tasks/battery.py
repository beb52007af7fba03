"""The battery: every task spec of the protocol, in one place (PROTOCOL.md section 2)."""
from __future__ import annotations

import difflib

from tasks.errors import UnknownTask
from tasks.readers import Cifar100
from tasks.spec import TaskSpec

PROTOCOL_VERSION = "1"
"""Bumped whenever a change to training, selection or metrics would change any score."""

_SPECS = (
    TaskSpec(
        id="cifar100",
        paper_name="CIFAR-100 Cls.",
        category="semantic-image",
        data_folder="cifar-100-python",
        reader=Cifar100,
        splits={"train": "train", "test": "test"},
        blocks=("pool",),
        head="linear",
        loss="cross_entropy",
        metric="top1",
        num_classes=100,
        epochs=100,
    ),
)

TASKS: dict[str, TaskSpec] = {spec.id: spec for spec in _SPECS}
if len(TASKS) != len(_SPECS):
    raise RuntimeError("duplicate task id in the battery")


def get_task(task_id: str) -> TaskSpec:
    """The spec of `task_id`; an unknown id suggests the nearest names."""
    if task_id in TASKS:
        return TASKS[task_id]
    close = difflib.get_close_matches(task_id, TASKS, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else f" Known tasks: {', '.join(TASKS)}."
    raise UnknownTask(f"unknown task {task_id!r}.{hint}")
