"""Training losses by the name a task spec gives, each over the pixels its metric scores."""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch.nn import functional

from harness.metrics import depth_valid
from tasks.readers import IGNORE


def _mean_or_zero(values: torch.Tensor, outputs: torch.Tensor) -> torch.Tensor:
    """Mean of `values`, or a zero still attached to `outputs` when no pixel counts (a crop that
    holds only padding or ignored classes), so one empty batch never turns the weights to NaN."""
    return values.mean() if values.numel() else outputs.sum() * 0.0


def pixel_cross_entropy(
    outputs: torch.Tensor, targets: torch.Tensor, class_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Per-pixel cross-entropy over (B, C, H, W) logits, IGNORE pixels left out. With
    `class_weights`, the weighted mean PyTorch's weighted CE takes: sum of w[y] * loss over the sum
    of w[y] (the original's EgoHands weights)."""
    losses = functional.cross_entropy(outputs.float(), targets.long(), ignore_index=IGNORE, reduction="none")
    kept = targets != IGNORE
    if class_weights is None:
        return _mean_or_zero(losses[kept], outputs)
    weights = class_weights.to(outputs.device)[targets[kept].long()]
    return (losses[kept] * weights).sum() / weights.sum() if weights.numel() else outputs.sum() * 0.0


def positive_bce(outputs: torch.Tensor, targets: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
    """BCE with logits of a one-output head, (B, 1, H, W), against "label is one of `positive`"
    over every pixel (the original's binary segmentation loss; Pets' border is a positive label)."""
    truth = torch.isin(targets, positive.to(targets.device)).float()
    return functional.binary_cross_entropy_with_logits(outputs.float().squeeze(1), truth)


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


def build_loss(
    name: str, class_weights: tuple[float, ...] | None = None, positive: tuple[int, ...] = ()
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss a task spec names, with its class weights or positive labels bound."""
    if name == "bce":
        if not positive:
            raise ValueError("the bce loss needs the positive labels")
        return functools.partial(positive_bce, positive=torch.tensor(positive))
    if name not in LOSSES:
        raise ValueError(f"unknown loss {name!r}; valid: bce, {', '.join(LOSSES)}")
    if class_weights is not None:
        if name != "pixel_cross_entropy":
            raise ValueError(f"class weights are for pixel_cross_entropy, not {name}")
        return functools.partial(pixel_cross_entropy, class_weights=torch.tensor(class_weights))
    return LOSSES[name]
