"""Training losses by the name a task spec gives, each over the pixels its metric scores."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch.nn import functional

from harness.metrics import depth_valid
from tasks.readers import IGNORE


def _mean_or_zero(values: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Mean of `values`, or a zero still attached to `outputs` when no pixel counts (a crop that
    holds only padding or ignored classes), so one empty batch never turns the weights to NaN."""
    return values.mean() if values.numel() else outputs.sum() * 0.0


def pixel_cross_entropy(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Per-pixel cross-entropy over (B, C, H, W) logits, IGNORE pixels left out."""
    losses = functional.cross_entropy(outputs.float(), targets.long(), ignore_index=IGNORE, reduction="none")
    return _mean_or_zero(losses[targets != IGNORE], outputs)


def depth_l1(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean absolute depth error over valid pixels (NaN or inf depth is missing, never trained on)."""
    valid = depth_valid(targets)
    return _mean_or_zero((outputs.float().squeeze(1) - targets)[valid].abs(), outputs)


def end_point_error(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean end-point error (the L1-like flow loss) over pixels with valid flow; targets (B, 3, H, W)
    hold u, v and valid."""
    valid = targets[:, 2] != 0
    return _mean_or_zero((outputs.float() - targets[:, :2]).norm(dim=1)[valid], outputs)


LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": functional.cross_entropy,
    "pixel_cross_entropy": pixel_cross_entropy,
    "l1": depth_l1,
    "epe": end_point_error,
}
