"""What a result was computed with and what it cost beyond seconds: library versions, the device, the
code's git commit, the command line, peak memory, and bytes read and written per stage (the result's
optional `environment` key), so a number can be traced to the run that made it."""

from __future__ import annotations

import platform
import shlex
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import zarr

CODE = Path(__file__).resolve().parent.parent
"""The folder holding the harness package: a git checkout when run from source."""


def git_commit(folder: Path = CODE) -> str | None:
    """The commit the code was checked out at, '+dirty' when edited since; None for an installed
    package (no git checkout around it) or without git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(folder), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        edited = subprocess.run(
            ["git", "-C", str(folder), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}+dirty" if edited else commit


def io_counters() -> tuple[int, int]:
    """Bytes this process has read and written through system calls so far (Linux /proc/self/io:
    rchar, wchar, page-cache hits included); (0, 0) where the system has no such counters."""
    try:
        fields = dict(line.split(": ") for line in Path("/proc/self/io").read_text().splitlines())
    except (OSError, ValueError):
        return 0, 0
    return int(fields.get("rchar", 0)), int(fields.get("wchar", 0))


def device_name(device: str) -> str:
    """The accelerator's product name, or the host's processor for a CPU run."""
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine() or "cpu"


@dataclass
class Meter:
    """Bytes read and written by each named stage of a scoring run (`stage` around it)."""

    io: dict[str, dict[str, int]] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Count the block's bytes into `name` (added to what the stage counted before)."""
        read, written = io_counters()
        try:
            yield
        finally:
            now_read, now_written = io_counters()
            total = self.io.setdefault(name, {"read_bytes": 0, "written_bytes": 0})
            total["read_bytes"] += now_read - read
            total["written_bytes"] += now_written - written


def peak_rss() -> int | None:
    """The process's peak resident memory in bytes (Linux /proc/self/status VmHWM, the kernel's max
    RSS); None where the system has no such file (the `resource` module is POSIX-only)."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return None


def peak_memory(device: str) -> dict[str, int | None]:
    """The process's peak resident memory and, on a GPU, the most memory torch has allocated on it."""
    cuda = None
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        cuda = int(torch.cuda.max_memory_allocated(torch.device(device)))
    return {"rss_bytes": peak_rss(), "cuda_bytes": cuda}


def environment(device: str, meter: Meter) -> dict[str, Any]:
    """The result's `environment` record (schema in leaderboard/result.schema.json)."""
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "zarr": zarr.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_name": device_name(device),
        "git_commit": git_commit(),
        "command": shlex.join(sys.argv),
        "peak_memory": peak_memory(device),
        "io": meter.io,
    }
