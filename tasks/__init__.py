"""End tasks: dataset readers for the official on-disk formats and the battery of task specs."""

from tasks.battery import PROTOCOL_VERSION, TASKS, get_task
from tasks.errors import DataCorrupt, DataError, DataNotFound, UnknownTask
from tasks.spec import TaskSpec

__all__ = [
    "PROTOCOL_VERSION",
    "TASKS",
    "get_task",
    "DataError",
    "DataNotFound",
    "DataCorrupt",
    "UnknownTask",
    "TaskSpec",
]
