"""Whether a dense head should train from the feature cache or with the encoder in the loop.

For a dense head the encoder is a small share of the compute, while its five maps are 30 times
larger than the image: reading 4.6 MB per image beats recomputing on a CPU, while on a fast GPU
recomputing from decoded inputs can beat the disk. `estimate` turns this machine's measured rates
(harness.calibration) and a task's sizes into seconds per epoch of each mode and picks the cheaper
over the task's epochs (the cache pays one extraction pass first) within the disk budget.
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


@dataclass(frozen=True)
class Estimate:
    """One task's training under each mode, per epoch and in total over its epochs."""

    task: str
    blocks: tuple[str, ...]
    views: int
    rows: int
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


def estimate(
    task: TaskSpec,
    rows: int,
    views: int,
    size: tuple[int, int],
    epochs: int,
    calibration: Calibration | None,
    budget: int | None,
    memory: int = 0,
) -> Estimate:
    """Bytes and seconds of training `rows` samples (views included) for `epochs`; picks a mode.
    Maps of at most `memory` bytes are held in memory after one read, so the cache then costs only
    the head's compute per epoch."""
    images = rows * task.frames
    raw = map_bytes(task.blocks, size, images)
    stored = int(raw / COMPRESSION)
    held = raw <= memory
    over = budget is not None and stored > budget
    if calibration is None or task.head not in calibration.head_samples_per_s:
        missing = "not calibrated" if calibration is None else f"head {task.head} not calibrated"
        choice = "loop" if over else "cache"
        reason = "over the cache budget" if over else f"{missing} (run `ccbench calibrate`): cache by default"
        return Estimate(task.id, task.blocks, views, rows, raw, stored, None, None, None, None, choice, reason)
    scale = (size[0] * size[1]) / (REFERENCE[0] * REFERENCE[1])
    head = rows * scale / calibration.head_samples_per_s[task.head]
    encoder = images * scale / calibration.encoder_images_per_s
    cache_epoch = head if held else max(head, raw / 1e6 / calibration.read_mb_per_s)
    loop_epoch = encoder + head
    cache_total, loop_total = encoder + epochs * cache_epoch, epochs * loop_epoch
    if over:
        choice, reason = "loop", "over the cache budget"
    else:
        choice = "cache" if cache_total <= loop_total else "loop"
        reason = "faster by the estimate" + (", maps held in memory" if held and choice == "cache" else "")
    return Estimate(
        task.id, task.blocks, views, rows, raw, stored, cache_epoch, loop_epoch, cache_total, loop_total, choice, reason
    )
