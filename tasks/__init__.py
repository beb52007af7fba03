"""End tasks: dataset readers for the official on-disk formats and the battery of task specs."""

from tasks.battery import DEFAULT_PROTOCOL, PROTOCOL_VERSION, TASKS, battery, get_task
from tasks.errors import DataCorrupt, DataError, DataNotFound, UnknownTask
from tasks.spec import PROTOCOLS, TaskSpec

__all__ = [
    "DEFAULT_PROTOCOL",
    "PROTOCOL_VERSION",
    "TASKS",
    "battery",
    "get_task",
    "DataError",
    "DataNotFound",
    "DataCorrupt",
    "UnknownTask",
    "PROTOCOLS",
    "TaskSpec",
]
