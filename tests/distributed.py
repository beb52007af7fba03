"""Launching ccbench under torchrun for tests: N CPU ranks over gloo, as `torchrun --standalone`
starts them, or one plain process for the serial reference; and the bytes of a cache's stores, to
compare runs chunk for chunk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ATTRS_THAT_DIFFER = ("created",)
"""Store attributes that name when a store was made, not what it holds."""


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This interpreter's environment with the repository importable, one thread per process (as
    torchrun gives each rank) and no torchrun variables leaking in from outside."""
    base = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR")}
    return {**base, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", **(extra or {})}


def ranks(n: int, args: list[str], module: str = "harness.cli", extra: dict[str, str] | None = None):
    """`torchrun --standalone --nproc_per_node n -m module ARGS`, waited for."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}", "-m", module]
    return subprocess.run([*command, *args], cwd=REPO, env=environment(extra), capture_output=True, text=True)


def serial(args: list[str]) -> subprocess.CompletedProcess:
    """The same command in one plain process, the reference a distributed run must equal."""
    return subprocess.run(
        [sys.executable, "-m", "harness.cli", *args], cwd=REPO, env=environment(), capture_output=True, text=True
    )


def store_bytes(cache: Path) -> dict[str, bytes]:
    """Every file of every feature store under `cache`, by path below it, with the group's
    timestamps left out of its metadata."""
    out = {}
    for path in sorted((cache / "features").rglob("*")):
        if not path.is_file() or path.name.endswith(".lock"):
            continue
        data = path.read_bytes()
        if path.name == "zarr.json" and path.parent.name.endswith(".zarr"):
            meta = json.loads(data)
            for key in ATTRS_THAT_DIFFER:
                meta["attributes"].pop(key, None)
            data = json.dumps(meta, sort_keys=True).encode()
        out[str(path.relative_to(cache))] = data
    return out
