"""What a user can set for scoring a task, and which of those settings change the protocol."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.cache_key import digest
from harness.distributed import SOLO, World
from tasks import PROTOCOL_VERSION


@dataclass(frozen=True)
class ScoreOptions:
    data_root: Path
    cache_root: Path
    results_dir: Path
    device: str = "cpu"
    batch_size: int = 64
    workers: int = 0
    epochs: int | None = None
    image_size: int | None = None
    grid: str = "table2"
    seeds: tuple[int, ...] = (0,)
    force: bool = False
    quiet: bool = False
    save_heads: bool = False
    mode: str = "auto"
    views: int | None = None
    cache_budget: int | None = None
    memory_budget: int | None = None
    world: World = SOLO
    """The ranks sharing this run (harness.distributed): collective extraction splits units over them."""

    def overrides(self) -> dict[str, Any]:
        """Protocol settings the user changed; they enter the result and its file name."""
        out: dict[str, Any] = {}
        if self.epochs is not None:
            out["epochs"] = self.epochs
        if self.image_size is not None:
            out["image_size"] = self.image_size
        if self.grid != "table2":
            out["grid"] = self.grid
        if self.views is not None:
            out["views"] = self.views
        return out

    def protocol_tag(self) -> str:
        """'1' for a standard run; a changed setting gets its own file, never the standard slot."""
        overrides = self.overrides()
        return PROTOCOL_VERSION if not overrides else f"{PROTOCOL_VERSION}-custom-{digest(overrides)[:8]}"


def resolve_device(name: str) -> str:
    """`auto` is cuda when a GPU is visible, else cpu; any other name (cpu, cuda:1, mps) as given."""
    if name != "auto":
        return name
    return "cuda" if torch.cuda.is_available() else "cpu"


def options_from(args: argparse.Namespace, **extra: Any) -> ScoreOptions:
    """ScoreOptions from a parsed command line; `extra` carries what only some subcommands have."""
    if args.data_root is None:
        raise SystemExit("ccbench: error: no data root; pass --data-root or set CCBENCH_DATA")
    dense = {
        name: getattr(args, name) for name in ("mode", "views", "cache_budget", "memory_budget") if hasattr(args, name)
    }
    world = extra.get("world", SOLO)
    return ScoreOptions(
        data_root=args.data_root,
        cache_root=args.cache,
        results_dir=args.results,
        device=world.device(resolve_device(args.device)),
        batch_size=args.batch_size,
        workers=args.workers,
        image_size=args.image_size,
        quiet=args.quiet,
        **dense,
        **extra,
    )
