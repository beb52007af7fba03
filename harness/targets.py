"""What heads learn to predict, fetched by row like features: class labels, or per-pixel targets
decoded once into the cache at the resolution a head trains at."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from harness.arrays import cached_array, take_rows
from harness.cache_key import digest
from harness.metrics import depth_valid
from leaderboard.locations import location
from tasks.readers import DenseReader, FrameReader
from tasks.views import resize_target

TARGET_DTYPES = {"classes": np.uint8, "depth": np.float16, "flow": np.float32}
"""Storage per target kind: class ids (<= 255 with IGNORE) in a byte; depth in float16 (NaN kept,
about 1 mm at 2 m, 6 cm at 100 m: training targets only, as the metric reads the full-resolution
maps); flow in float32, since (u, v) reach hundreds of pixels."""
TARGETS_FORMAT = 1


class Targets(Protocol):
    def batch(self, rows: torch.Tensor) -> torch.Tensor: ...


class LabelTargets:
    """One class per sample."""

    def __init__(self, labels: torch.Tensor) -> None:
        self.labels = labels

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        return self.labels[rows]


def channels_first(target: np.ndarray, kind: str) -> np.ndarray:
    """Flow (H, W, 3) -> (3, H, W), the layout of network outputs; class and depth maps unchanged."""
    return np.ascontiguousarray(target.transpose(2, 0, 1)) if kind == "flow" else target


def target_tensor(target: np.ndarray, kind: str) -> torch.Tensor:
    """A decoded full-resolution target as the tensor its metric takes (classes as int64)."""
    array = channels_first(target, kind)
    return torch.from_numpy(array.astype(np.int64) if kind == "classes" else array.astype(np.float32))


def sample_count(reader: DenseReader) -> int:
    return len(reader.samples()) if isinstance(reader, FrameReader) else len(reader)


class DenseTargets:
    """A split's per-pixel targets at training resolution, memory-mapped from the cache."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        values = take_rows(self.array, rows)
        return values.float() if values.dtype == torch.float16 else values


class FullResolutionTargets:
    """Targets decoded from a reader at their own resolution: the dataset's for scoring (the test
    loop feeds one sample at a time, as rows of one batch must share a size), a crop's for crops
    drawn in the loop."""

    def __init__(self, reader: DenseReader) -> None:
        self.reader = reader

    def batch(self, rows: torch.Tensor) -> torch.Tensor:
        return torch.stack([target_tensor(self.reader.target(int(row)), self.reader.TARGET) for row in rows])


def as_targets(targets: Targets | torch.Tensor) -> Targets:
    """Plain label tensors are accepted wherever targets are, as one class per sample."""
    return LabelTargets(targets) if isinstance(targets, torch.Tensor) else targets


def dense_targets(
    cache_root: Path,
    task_id: str,
    task_version: int,
    reader: DenseReader,
    size: tuple[int, int],
    advance: Callable[[int], None] | None = None,
    protocol: str = "ccbench",
) -> DenseTargets:
    """The split's targets at `size`, decoded and resized once; later runs map the file. A protocol
    other than ccbench keys its own file (its targets may be normalised differently)."""
    key = digest(
        {
            "format": TARGETS_FORMAT,
            "task": task_id,
            "task_version": task_version,
            "manifest": reader.manifest_digest,
            "size": list(size),
            **({"protocol": protocol} if protocol != "ccbench" else {}),
        }
    )
    kind = reader.TARGET
    shape = (3, *size) if kind == "flow" else tuple(size)
    array = cached_array(
        location(cache_root) / "targets" / key[:2] / f"{key}.npy",
        TARGET_DTYPES[kind],
        (sample_count(reader), *shape),
        lambda index: channels_first(resize_target(reader.target(index), kind, size), kind),
        advance,
    )
    return DenseTargets(array)


def target_statistics(targets: DenseTargets, kind: str, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of the valid training targets (depth: one channel;
    flow: u and v over valid pixels), accumulated in float64 a chunk of rows at a time. A spread
    under 1e-6 (every target alike) counts as 1, so scaling never divides by zero."""
    channels = 2 if kind == "flow" else 1
    total, square, count = torch.zeros(channels, dtype=torch.float64), torch.zeros(channels, dtype=torch.float64), 0
    for start in range(0, len(targets.array), chunk):
        values = torch.from_numpy(np.asarray(targets.array[start : start + chunk], dtype=np.float64))
        if kind == "flow":
            valid = values[:, 2] != 0
            picked = values[:, :2].permute(1, 0, 2, 3)[:, valid]
        else:
            picked = values[depth_valid(values)][None]
        total += picked.sum(dim=1)
        square += picked.square().sum(dim=1)
        count += picked.shape[1]
    mean = total / max(count, 1)
    std = (square / max(count, 1) - mean.square()).clamp(min=0).sqrt()
    return mean.float(), torch.where(std < 1e-6, torch.ones_like(std), std).float()
