"""Whether a dense head should train from the feature cache or with the encoder in the loop.

For a dense head the encoder is a small share of the compute, while its five maps are 30 times
larger than the image: reading 4.6 MB per image beats recomputing on a CPU, while on a fast GPU
recomputing from decoded inputs can beat the disk. `estimate` turns this machine's measured rates
(harness.calibration) and a task's sizes into seconds per epoch of each mode and picks the cheaper
over the task's epochs (the cache pays one extraction pass per view first) within the disk budget.

Crop tasks stand in for the original's fresh crop every epoch with K cached views, one trained on
per image per epoch (harness.view_schedule): `cached_views` picks the largest K up to VIEW_CAP (and
the epochs) whose maps fit the disk budget; when not even two fit, the loop draws a fresh crop
every epoch, unless the estimate makes it LOOP_SLOWDOWN times slower than training on one crop.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch

from encoders import block_shape
from harness.calibration import REFERENCE, Calibration
from tasks.spec import TaskSpec

COMPRESSION = 1.69
"""Raw / stored bytes of all five maps, measured by bench/extract.py (Blosc zstd-1 + shuffle)."""
VIEW_CAP = 8
"""Most crop views cached per image without a budget: each 513 view of Cityscapes or EgoHands
stores about 17-21 GB of maps, so 8 views (137 and 166 GB; KITTI 42 GB) already give each image 8
distinct crops over training while disk and extraction grow linearly (docs/PROTOCOL.md §4)."""
LOOP_SLOWDOWN = 3.0
"""How much longer than training on one cached crop the loop may take to be chosen for its fresh
crops when the budget holds fewer than two views."""


@dataclass(frozen=True)
class Estimate:
    """One task's training under each mode, per epoch and in total over its epochs."""

    task: str
    blocks: tuple[str, ...]
    views: int
    rows: int
    """Samples cached: training samples x views."""
    raw_bytes: int
    stored_bytes: int
    cache_epoch_s: float | None
    loop_epoch_s: float | None
    cache_total_s: float | None
    loop_total_s: float | None
    choice: str
    reason: str


def memory_budget(device: str) -> int:
    """Bytes of cached maps a split may hold in memory instead of streaming them: half the free
    memory of a GPU, a quarter of the host's available memory otherwise (the rest is for the head,
    its optimiser and the other split)."""
    if torch.device(device).type == "cuda":
        return int(0.5 * torch.cuda.mem_get_info(torch.device(device))[0])
    return int(0.25 * os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))


def map_bytes(blocks: tuple[str, ...], size: tuple[int, int], images: int) -> int:
    """Raw float16 bytes of `blocks` for `images` inputs of `size`."""
    return images * sum(2 * int(np.prod(block_shape(block, size))) for block in blocks)


def stored_bytes(task: TaskSpec, size: tuple[int, int], samples: int) -> int:
    """Disk the cached maps of `samples` training samples (every frame) take, compressed."""
    return int(map_bytes(task.blocks, size, samples * task.frames) / COMPRESSION)


def cached_views(task: TaskSpec, samples: int, size: tuple[int, int], epochs: int, budget: int | None) -> int:
    """K crop views per image: the most up to VIEW_CAP and the epochs whose maps fit `budget`
    (every K when there is none), at least 1."""
    cap = min(VIEW_CAP, epochs)
    if budget is None:
        return cap
    return max(1, min(cap, budget // max(stored_bytes(task, size, samples), 1)))


def estimate(
    task: TaskSpec,
    samples: int,
    views: int,
    size: tuple[int, int],
    epochs: int,
    calibration: Calibration | None,
    budget: int | None,
    memory: int = 0,
    augment: bool = False,
) -> Estimate:
    """Bytes and seconds of training on `samples` samples, one of their `views` per epoch, for
    `epochs`; picks a mode. The cache encodes every view once; maps of at most `memory` bytes are
    held in memory after one read, so the cache then costs only the head's compute per epoch.
    `augment`: the views stand in for fresh crops (a crop task with the planner's K), so with fewer
    than two the loop is chosen unless LOOP_SLOWDOWN times slower."""
    images = samples * task.frames
    raw = map_bytes(task.blocks, size, images * views)
    stored = int(raw / COMPRESSION)
    held = raw <= memory
    over = budget is not None and stored > budget
    fresh = augment and views < 2
    rows = samples * views
    if calibration is None or task.head not in calibration.head_samples_per_s:
        missing = "not calibrated" if calibration is None else f"head {task.head} not calibrated"
        choice = "loop" if over or fresh else "cache"
        reason = (
            "over the cache budget"
            if over
            else "under two crop views fit the cache budget: fresh crops in the loop"
            if fresh
            else f"{missing} (run `ccbench calibrate`): cache by default"
        )
        return Estimate(task.id, task.blocks, views, rows, raw, stored, None, None, None, None, choice, reason)
    scale = (size[0] * size[1]) / (REFERENCE[0] * REFERENCE[1])
    head = samples * scale / calibration.head_samples_per_s[task.head]
    encoder = images * scale / calibration.encoder_images_per_s
    cache_epoch = head if held else max(head, raw / views / 1e6 / calibration.read_mb_per_s)
    loop_epoch = encoder + head
    cache_total, loop_total = views * encoder + epochs * cache_epoch, epochs * loop_epoch
    if over:
        choice, reason = "loop", "over the cache budget"
    elif fresh and loop_total <= LOOP_SLOWDOWN * cache_total:
        choice, reason = "loop", "under two crop views fit the cache budget: fresh crops in the loop"
    elif fresh:
        choice, reason = (
            "cache",
            f"under two crop views fit the cache budget; the loop is over {LOOP_SLOWDOWN:g}x slower",
        )
    else:
        choice = "cache" if cache_total <= loop_total else "loop"
        reason = "faster by the estimate" + (", maps held in memory" if held and choice == "cache" else "")
    return Estimate(
        task.id, task.blocks, views, rows, raw, stored, cache_epoch, loop_epoch, cache_total, loop_total, choice, reason
    )
