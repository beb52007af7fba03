"""What a user can set for scoring a task, and which of those settings change the protocol."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.cache_key import digest
from tasks import PROTOCOL_VERSION

MODES = ("auto", "cache", "loop")
"""How dense heads get features: chosen by the planner, from the feature cache, or from the
encoder run in the loop on decoded inputs (image-level heads always use the cache)."""


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
    mode: str = "auto"
    views: int | None = None
    cache_budget: int | None = None
    memory_budget: int | None = None

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
