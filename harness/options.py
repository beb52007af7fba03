"""What a user can set for scoring a task, and which of those settings change the protocol."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.cache_key import digest
from harness.compute import FP32, default_compute, resolve_compute
from harness.distributed import SOLO, World
from harness.loader import resolve_decode
from tasks import DEFAULT_PROTOCOL, PROTOCOL_VERSION


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
    compute: str = FP32
    decode: str = "pil"
    protocol: str = DEFAULT_PROTOCOL

    def extraction(self) -> dict[str, str]:
        """How features are extracted, as `harness.plan.plan` keys them."""
        return {"compute": self.compute, "decode": self.decode, "device": self.device}

    world: World = SOLO
    """The ranks sharing this run (harness.distributed): collective extraction splits units over them."""

    def overrides(self) -> dict[str, Any]:
        """Protocol settings the user changed; they enter the result and its file name. A compute
        other than the device's default (harness.compute) is one: the leaderboard tells it apart."""
        out: dict[str, Any] = {}
        if self.epochs is not None:
            out["epochs"] = self.epochs
        if self.image_size is not None:
            out["image_size"] = self.image_size
        if self.grid != "table2":
            out["grid"] = self.grid
        if self.views is not None:
            out["views"] = self.views
        if self.compute != default_compute(self.device):
            out["compute"] = self.compute
        return out

    def protocol_tag(self) -> str:
        """'1' for a standard run, '1-virb' under the virb protocol (docs/PROTOCOL.md section 8); a
        changed setting gets its own file, never the standard slot."""
        overrides = self.overrides()
        base = PROTOCOL_VERSION if self.protocol == DEFAULT_PROTOCOL else f"{PROTOCOL_VERSION}-{self.protocol}"
        return base if not overrides else f"{base}-custom-{digest(overrides)[:8]}"


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
        name: getattr(args, name)
        for name in ("mode", "views", "cache_budget", "memory_budget", "protocol")
        if hasattr(args, name)
    }
    world = extra.get("world", SOLO)
    device = world.device(resolve_device(args.device))
    if hasattr(args, "compute"):
        dense.update(compute=resolve_compute(args.compute, device), decode=resolve_decode(args.decode, device))
    return ScoreOptions(
        data_root=args.data_root,
        cache_root=args.cache,
        results_dir=args.results,
        device=device,
        batch_size=args.batch_size,
        workers=args.workers,
        image_size=args.image_size,
        quiet=args.quiet,
        **dense,
        **extra,
    )
